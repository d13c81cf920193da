"""Every form of kapflow writes its plain widgets in Python (kapflow.lib.rendering, the project's
FORM_RENDERER), to save the widget templates' cost. The HTML must be Django's own, character for
character: each widget kind is rendered both ways with generated names, values, attributes and
choices, and kapflow's forms (blank, filled in and with errors) are rendered both ways, and
compared."""

import datetime
import importlib
import inspect
import pkgutil
import zoneinfo
from pathlib import Path

import django
import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.forms.widgets import ChoiceWidget
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st

import kapflow
from kapflow.accounts.models import User
from kapflow.audit.forms import AuditFilterForm
from kapflow.clients.models import Client
from kapflow.dosing import forms as dosing_forms
from kapflow.dosing import selectors
from kapflow.lib import forms as lib_forms
from kapflow.lib.rendering import _INPUT_OPTIONS, _OPTION, _WIDGETS, _WRITERS, PlainWidgets
from kapflow.practice.forms import PracticeForm
from kapflow.practice.models import Practice
from kapflow.visits import forms as visits_forms
from tests.fuzzing import examples

PLAIN = PlainWidgets()
DJANGOS = DjangoTemplates()


def both_ways(make_form) -> tuple[list[str], list[str]]:
    """Every field's widget, as the page renders it (with and without aria-describedby), and the
    fields as the templates include them, with the plain renderer and with Django's templates."""
    written = []
    for renderer in (PLAIN, DJANGOS):
        form = make_form(renderer)
        if form.is_bound:
            form.is_valid()
        html = [
            str(form[name].as_widget(attrs={"aria-describedby": f"id_{name}_helptext id_{name}_error"}))
            + str(form[name].as_widget())
            for name in form.fields
        ]
        html.append(render_to_string("includes/_fields.html", {"form": form}))
        written.append(html)
    return written[0], written[1]


def test_the_project_renders_forms_with_one_plain_renderer():
    renderer = get_default_renderer()
    assert isinstance(renderer, PlainWidgets)
    # One instance for the process: forms share it, and its template engine is built once.
    assert get_default_renderer() is renderer
    assert forms.Form().renderer is renderer
    assert PracticeForm().renderer is renderer


def test_the_templates_it_writes_are_djangos_own():
    """A template of ours (or of an installed app) named like one of Django's widget templates
    would be what Django renders; the plain renderer would not follow it."""
    djangos = Path(django.__file__).parent / "forms" / "templates"
    engine = get_default_renderer().engine
    written = {*_WRITERS, _OPTION, *_INPUT_OPTIONS}
    written |= {f"{_WIDGETS}{name}.html" for name in ("input", "attrs", "multiple_input", "input_option")}
    for name in written:
        origin = Path(engine.get_template(name).template.origin.name)
        assert origin == djangos / name, name


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


def test_the_runbooks_forms_are_written_as_djangos_templates_write_them(db, avery, tess, priya):
    practice = Practice.load()
    made = [
        lambda r: dosing_forms.ChecklistForm(
            substances=selectors.avoid_substances(practice), open_alert=None, renderer=r
        ),
        lambda r: dosing_forms.ChecklistForm(
            {"last_food": "25:00", "substances": ["<nope>"], "pregnancy": "x"},
            substances=selectors.avoid_substances(practice),
            open_alert=None,
            renderer=r,
        ),
        lambda r: dosing_forms.VitalsForm(
            initial={"phase": "pre_dose"}, prefix="pre", spo2_required_for="intramuscular", renderer=r
        ),
        lambda r: dosing_forms.VitalsForm(
            {"systolic": "1<2", "phase": "in_session"}, spo2_required_for="", renderer=r
        ),
        lambda r: dosing_forms.SafetyPlanForm(renderer=r),
        lambda r: dosing_forms.SafetyPlanForm({"address": '1 "Elm" St & <Co>'}, renderer=r),
        lambda r: dosing_forms.ChaperoneForm(
            initial={"chaperone_present": True, "client_ok": True}, renderer=r
        ),
        lambda r: dosing_forms.PrescriberOnSiteForm(initial={"prescriber": priya}, renderer=r),
    ]
    for name in (
        "RatingForm",
        "AdverseEventForm",
        "NoteForm",
        "DischargeForm",
        "AddendumForm",
        "IntegrationAckForm",
    ):
        form_class = getattr(dosing_forms, name)
        made.append(lambda r, form_class=form_class: form_class(renderer=r))
        made.append(
            lambda r, form_class=form_class: form_class({"text": "<b>&amp;</b> ü", "at": "9:99"}, renderer=r)
        )
    # The same entry key both ways (a SentOnce form makes a new one each time it is built).
    key = "0f0e0d0c-0b0a-4098-8765-43210fedcba9"
    for make in made:
        plain, templated = both_ways(lambda r, make=make: _with_key(make(r), key))
        assert plain == templated


def _with_key(form, key):
    if "entry_key" in form.initial:
        form.initial["entry_key"] = key
    return form


def _kapflow_form_classes():
    """Every Form and ModelForm class defined in a forms module of kapflow."""
    found = {}
    for module_info in pkgutil.walk_packages(kapflow.__path__, "kapflow."):
        if module_info.name.rsplit(".", 1)[-1] != "forms":
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, forms.BaseForm)
                and value.__module__ == module.__name__
                and not getattr(getattr(value, "Meta", None), "abstract", False)
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_form_built_without_arguments_is_written_as_djangos_templates_write_it(db, avery, tess, priya):
    rendered = 0
    for name, form_class in sorted(_kapflow_form_classes().items()):
        try:
            form_class(renderer=PLAIN)
        except (TypeError, KeyError, ValueError):
            continue  # a form that needs its context (a client, a visit, a person)
        for data in (None, {}):
            plain, templated = both_ways(
                lambda r, form_class=form_class, data=data: _with_key(form_class(data, renderer=r), "k")
            )
            assert plain == templated, (name, data)
        rendered += 1
    assert rendered >= 10


def test_other_widgets_and_values_are_written_as_djangos_templates_write_them():
    class Odd(forms.Form):
        labels = [("a", mark_safe("<i>A</i>")), ("b", "B & C")]
        choice = forms.ChoiceField(choices=labels)
        radio = forms.ChoiceField(choices=labels, widget=forms.RadioSelect)
        many = forms.MultipleChoiceField(choices=[(1, 1), (2, "two")], initial=[2])
        flag = forms.NullBooleanField()
        rows = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "hidden": True, "off": False}))

    plain, templated = both_ways(lambda renderer: Odd(renderer=renderer))
    assert plain == templated


def test_what_only_the_templates_write_as_django_does_is_left_to_them():
    """A callable attribute (a template calls it) and an option whose label does not wrap its
    input: none of kapflow's widgets has them, and the plain renderer hands them to Django's
    templates. (An attribute named "items" is handed over too: Django's template fails on it.)"""

    class Unwrapped(forms.RadioSelect):
        def create_option(self, *args, **kwargs):
            return {**super().create_option(*args, **kwargs), "wrap_label": False}

    class Odd(forms.Form):
        called = forms.CharField(widget=forms.TextInput(attrs={"data-x": lambda: "called"}))
        unwrapped = forms.ChoiceField(choices=[("a", "A")], widget=Unwrapped)

    plain, templated = both_ways(lambda renderer: Odd(renderer=renderer))
    assert plain == templated


# Generated widgets: every kind the plain renderer writes, with values of every type a form may
# hand it.
_ZONES = ["UTC", "America/Los_Angeles", "Asia/Kathmandu", "Pacific/Chatham"]
_texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(['a "quoted" & <b>bold</b>', "it's", "&amp;", "Zoë ✓ 東京", " spaced ", "\n"]),
    st.text(alphabet="<>&\"' aé\n", max_size=8),
)
_datetimes = st.datetimes(
    min_value=datetime.datetime(1900, 1, 2), max_value=datetime.datetime(2999, 12, 30)
).flatmap(
    lambda moment: st.sampled_from(
        [moment, *(moment.replace(tzinfo=zoneinfo.ZoneInfo(zone)) for zone in _ZONES)]
    )
)
_values = st.one_of(
    st.none(),
    st.just(""),
    _texts,
    _texts.map(gettext_lazy),
    _texts.map(SafeString),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2999, 12, 31)),
    st.times(),
    _datetimes,
    st.tuples(st.integers(0, 9), _texts),
)
_attr_names = st.one_of(
    st.sampled_from(["class", "id", "required", "disabled", "placeholder", "data-x", "aria-describedby"]),
    st.text(alphabet="abz-_<&\"'", min_size=1, max_size=6),
)
_attrs = st.dictionaries(_attr_names, st.one_of(st.just(True), st.just(False), _values), max_size=4)
_options = st.lists(st.tuples(_values, _values), max_size=4)
_choices = st.lists(
    st.one_of(
        st.tuples(_values, _values),
        st.tuples(
            st.one_of(_texts, _texts.map(gettext_lazy), _texts.map(SafeString), st.integers()), _options
        ),
    ),
    max_size=4,
)

_KINDS = {
    "text": lambda choices: forms.TextInput(),
    "localized number": lambda choices: _localized(forms.NumberInput()),
    "number": lambda choices: forms.NumberInput(),
    "email": lambda choices: forms.EmailInput(),
    "url": lambda choices: forms.URLInput(),
    "search": lambda choices: forms.SearchInput(),
    "tel": lambda choices: forms.TelInput(),
    "password": lambda choices: forms.PasswordInput(),
    "password shown": lambda choices: forms.PasswordInput(render_value=True),
    "hidden": lambda choices: forms.HiddenInput(),
    "date": lambda choices: forms.DateInput(),
    "localized date": lambda choices: _localized(forms.DateInput()),
    "kapflow date": lambda choices: lib_forms.DateInput(),
    "datetime": lambda choices: forms.DateTimeInput(),
    "kapflow datetime": lambda choices: visits_forms.DateTimeInput(),
    "time": lambda choices: forms.TimeInput(),
    "kapflow time": lambda choices: visits_forms.TimeInput(),
    "checkbox": lambda choices: forms.CheckboxInput(),
    "textarea": lambda choices: forms.Textarea(),
    "select": lambda choices: forms.Select(choices=choices),
    "null boolean": lambda choices: forms.NullBooleanSelect(),
    "select multiple": lambda choices: forms.SelectMultiple(choices=choices),
    "radio": lambda choices: forms.RadioSelect(choices=choices),
    "kapflow radio": lambda choices: lib_forms.RadioSelect(choices=choices),
    "check box list": lambda choices: forms.CheckboxSelectMultiple(choices=choices),
}


def _localized(widget):
    widget.is_localized = True
    return widget


@pytest.mark.parametrize("kind", list(_KINDS))
@settings(max_examples=examples())
@given(
    name=_texts,
    value=st.one_of(_values, st.lists(_values, max_size=3)),
    attrs=_attrs,
    widget_attrs=_attrs,
    choices=_choices,
    zone=st.sampled_from(_ZONES),
    language=st.sampled_from(["en", "de", "fr", "hi"]),
)
def test_each_widget_is_written_as_djangos_template_writes_it(
    kind, name, value, attrs, widget_attrs, choices, zone, language
):
    widget = _KINDS[kind](choices)
    widget.attrs.update(widget_attrs)
    if isinstance(widget, ChoiceWidget) and not isinstance(widget, forms.NullBooleanSelect):
        # Which template it uses: Django's own, the ones the plain renderer writes.
        assert widget.template_name in _WRITERS
    with timezone.override(zoneinfo.ZoneInfo(zone)), translation.override(language):
        try:
            templated = widget.render(name, value, attrs=attrs, renderer=DJANGOS)
        except Exception as error:  # a value the widget itself refuses: refused both ways
            with pytest.raises(type(error)):
                widget.render(name, value, attrs=attrs, renderer=PLAIN)
            return
        plain = widget.render(name, value, attrs=attrs, renderer=PLAIN)
    assert plain == templated
    assert type(plain) is SafeString
