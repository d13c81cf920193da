"""A form's fields are written in Python (kapflow.lib.field_rows, `{% field_rows form %}` in
includes/_fields.html) to save an include of includes/_field.html per field. The rows must be
the template's, character for character: every field of kapflow's forms (blank, filled in and
with errors), and a form of every kind of field with awkward words, is written both ways, with
each combination of the flags the template reads, and compared."""

import itertools

import pytest
from django import forms
from django.template import engines
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from kapflow.accounts.models import User
from kapflow.audit.forms import AuditFilterForm
from kapflow.clients.models import Client
from kapflow.dosing import forms as dosing_forms
from kapflow.dosing import selectors
from kapflow.practice.forms import PracticeForm
from kapflow.practice.models import Practice
from tests.test_widget_rendering import _kapflow_form_classes, _with_key

# includes/_fields.html as it was: an include of includes/_field.html for each field.
INCLUDED = engines["django"].from_string(
    "{% if form.is_bound %}<span data-form-bound hidden></span>{% endif %}"
    '{% include "includes/_form_errors.html" %}\n'
    '{% for field in form %}{% include "includes/_field.html" %}{% endfor %}\n'
)
# Every way a page sets the flags: not at all, and each of them set, alone and together.
FLAG_SETS = [
    dict(zip(("search", "nooptional", "nohelp"), values, strict=True))
    for values in itertools.product((None, True), repeat=3)
]


def assert_written_as_included(form) -> None:
    if form.is_bound:
        form.is_valid()
    for flags in FLAG_SETS:
        context = {"form": form, **{name: value for name, value in flags.items() if value}}
        assert render_to_string("includes/_fields.html", context) == INCLUDED.render(context), flags


class EveryKind(forms.Form):
    """A field of each kind the template tells apart, with words to escape."""

    hidden = forms.CharField(widget=forms.HiddenInput, required=False)
    dose = forms.DecimalField(label='Dose <mg> & "amount"', help_text="Between <b>100</b> & 300.")
    note = forms.CharField(
        label="Note", widget=forms.Textarea, required=False, help_text=mark_safe("<em>Kept</em>.")
    )
    seen = forms.BooleanField(label="Seen <now>", help_text="Tick & go.", required=False)
    agreed = forms.BooleanField(label="Agreed")
    route = forms.ChoiceField(
        label="Route", choices=[("a", "A & b"), ("<c>", "C")], widget=forms.RadioSelect, help_text="One."
    )
    extras = forms.MultipleChoiceField(
        choices=[("x", "X"), ("y", "Y")], widget=forms.CheckboxSelectMultiple, required=False
    )
    when = forms.DateField(required=False, label="When")

    def clean(self):
        raise forms.ValidationError("The whole form <refused> & why.")


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {
            "dose": "1<2",
            "seen": "on",
            "route": "<c>",
            "extras": ["x", "z"],
            "when": "2026-02-30",
            "hidden": "<h>",
        },
    ],
)
def test_every_kind_of_field_is_written_as_the_template_writes_it(data):
    assert_written_as_included(EveryKind(data))
    assert_written_as_included(EveryKind(data, prefix="pre", auto_id="field_%s"))
    assert_written_as_included(EveryKind(data, auto_id=False))


def test_every_form_built_without_arguments_is_written_as_the_template_writes_it(db):
    written = 0
    for name, form_class in sorted(_kapflow_form_classes().items()):
        try:
            form_class()
        except (TypeError, KeyError, ValueError):
            continue  # a form that needs its context (a client, a visit, a person)
        for data in (None, {}):
            assert_written_as_included(_with_key(form_class(data), "k")), (name, data)
        written += 1
    assert written >= 10


def test_the_settings_audit_and_runbook_forms_are_written_as_the_template_writes_them(db, tess, priya, avery):
    practice = Practice.load()
    data = dict.fromkeys(PracticeForm.base_fields, "")
    data |= {"name": "<Kap & Co>", "bp_hold_systolic": "12x", "virtual_sublingual_allowed": "on"}
    for form in (PracticeForm(instance=practice), PracticeForm(data, instance=practice)):
        assert_written_as_included(form)
    for data in (None, {"client": "K-1<", "actor": str(tess.pk), "date_from": "2026-02-30"}):
        assert_written_as_included(
            AuditFilterForm(
                data,
                clients=Client.objects.all(),
                staff=User.objects.staff().order_by("full_name", "pk"),
                actions=["kapflow.clients.chart.viewed", "kapflow.legacy.<odd>"],
            )
        )
    substances = selectors.avoid_substances(practice)
    for form in (
        dosing_forms.ChecklistForm(substances=substances, open_alert=None),
        dosing_forms.ChecklistForm(
            {"last_food": "25:00", "pregnancy": "x"}, substances=substances, open_alert=None
        ),
        dosing_forms.VitalsForm(
            initial={"phase": "pre_dose"}, prefix="pre", spo2_required_for="intramuscular"
        ),
        dosing_forms.VitalsForm({"systolic": "1<2", "phase": "in_session"}, spo2_required_for=""),
        dosing_forms.ChaperoneForm(initial={"chaperone_present": True, "client_ok": True}),
        dosing_forms.PrescriberOnSiteForm(initial={"prescriber": priya}),
        dosing_forms.AdverseEventForm({"text": "<b>&amp;</b> ü"}),
        dosing_forms.DischargeForm({"at": "9:99"}),
    ):
        assert_written_as_included(_with_key(form, "k"))


@pytest.mark.parametrize(
    "flag", ["", " search=True", " nooptional=True", " nohelp=True", " nooptional=1 nohelp=1"]
)
def test_some_fields_with_flags_are_written_as_a_loop_of_includes_writes_them(flag):
    """`{% field_rows form.some_fields nooptional=True %}`, as pages that lay out part of a form
    write it, against the loop of includes it replaced."""
    django = engines["django"]
    form = EveryKind({"dose": "x", "route": "<c>"})
    form.is_valid()
    some = [form["dose"], form["seen"], form["route"], form["note"], form["hidden"]]
    written = django.from_string("{% load kapflow %}{% field_rows some" + flag + " %}").render({"some": some})
    included = django.from_string(
        '{% for field in some %}{% include "includes/_field.html" with' + (flag or " x=1") + " %}{% endfor %}"
    ).render({"some": some})
    assert written == included


def test_a_flag_the_template_does_not_read_is_refused():
    with pytest.raises(TypeError, match="field_rows takes no nolabel"):
        engines["django"].from_string("{% load kapflow %}{% field_rows form nolabel=True %}").render(
            {"form": EveryKind()}
        )
