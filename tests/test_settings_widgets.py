"""The practice settings form and the audit page's filters write their widgets in Python
(kapflow.practice.rendering), to save the widget templates' cost on two long forms. The HTML must
be Django's own, character for character: each form is rendered both ways, blank, filled in and
with errors, and compared."""

from django import forms
from django.forms.renderers import get_default_renderer
from django.utils.safestring import mark_safe

from kapflow.accounts.models import User
from kapflow.audit.forms import AuditFilterForm
from kapflow.clients.models import Client
from kapflow.practice.forms import PracticeForm
from kapflow.practice.models import Practice
from kapflow.practice.rendering import PlainWidgets, plain_widgets


def both_ways(make_form) -> tuple[list[str], list[str]]:
    """Every field's widget, as the page renders it (with and without aria-describedby), with the
    plain renderer and with Django's templates."""
    written = []
    for renderer in (plain_widgets, get_default_renderer()):
        form = make_form(renderer)
        if form.is_bound:
            form.is_valid()
        written.append(
            [
                str(form[name].as_widget(attrs={"aria-describedby": f"id_{name}_helptext id_{name}_error"}))
                + str(form[name].as_widget())
                for name in form.fields
            ]
        )
    return written[0], written[1]


def test_the_forms_use_the_plain_renderer():
    assert isinstance(PracticeForm.default_renderer, PlainWidgets)
    assert isinstance(AuditFilterForm.default_renderer, PlainWidgets)


def test_the_settings_form_is_written_as_djangos_templates_write_it(db, priya):
    practice = Practice.load()
    practice.crisis_resources = 'Call 988 <b>now</b> & "then"\n\nor 911'
    practice.save()
    blank = both_ways(lambda renderer: PracticeForm(instance=practice, renderer=renderer))
    assert blank[0] == blank[1]
    data = dict.fromkeys(PracticeForm.base_fields, "")
    data |= {"name": "<Kap & Co>", "bp_hold_systolic": "12x", "virtual_sublingual_allowed": "on"}
    data |= {"on_call_prescriber": str(priya.pk)}
    refused = both_ways(lambda renderer: PracticeForm(data, instance=practice, renderer=renderer))
    assert refused[0] == refused[1]
    assert any("selected" in html for html in refused[0])


def test_the_audit_filters_are_written_as_djangos_templates_write_it(db, tess, ada, avery):
    actions = ["kapflow.clients.chart.viewed", "kapflow.dosing.runbook.viewed", "kapflow.legacy.<odd>"]

    def make(data):
        return lambda renderer: AuditFilterForm(
            data,
            clients=Client.objects.all(),
            staff=User.objects.staff().order_by("full_name", "pk"),
            actions=actions,
            renderer=renderer,
        )

    for data in (
        None,
        {"client": "K-1<", "actor": str(tess.pk), "action": "kapflow.dosing.runbook.viewed"},
        {"date_from": "2026-02-30", "date_to": "2026-01-01", "actor": "999999", "action": "nope"},
    ):
        plain, templated = both_ways(make(data))
        assert plain == templated, data


def test_other_widgets_and_values_are_written_as_djangos_templates_write_them():
    class Odd(forms.Form):
        default_renderer = plain_widgets
        labels = [("a", mark_safe("<i>A</i>")), ("b", "B & C")]
        choice = forms.ChoiceField(choices=labels)
        radio = forms.ChoiceField(choices=labels, widget=forms.RadioSelect)
        many = forms.MultipleChoiceField(choices=[(1, 1), (2, "two")], initial=[2])
        flag = forms.NullBooleanField()
        rows = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "hidden": True, "off": False}))

    plain, templated = both_ways(lambda renderer: Odd(renderer=renderer))
    assert plain == templated
