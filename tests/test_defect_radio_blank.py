"""Issue 13, item 8: a model field with choices shown as radio buttons offered a button labelled
"---------" (Django's blank choice). No radio group shows one; whether an answer is needed is
unchanged: a required group still refuses no answer, an optional one still accepts it."""

import pathlib
import re

import pytest
from django import forms
from django.urls import reverse

from kapflow.pathway.forms import ConsultationForm
from kapflow.pathway.models import Consultation

pytestmark = pytest.mark.django_db
BLANK = "---------"


def test_the_consultation_page_shows_no_blank_decision(avery, tess, login):
    page = login(tess).get(reverse("pathway:consultation_new", args=[avery.pk])).content.decode()
    assert 'name="decision"' in page
    assert BLANK not in page
    assert page.count('name="decision"') == len(Consultation.Decision.choices)


def test_the_decision_is_still_required():
    form = ConsultationForm(data={"held_on": "2026-03-02", "why_kap": "x"})
    assert not form.is_valid()
    assert "decision" in form.errors
    radios = list(form["decision"])
    assert [radio.data["value"] for radio in radios] == Consultation.Decision.values


def test_an_optional_radio_group_shows_no_blank_and_still_accepts_no_answer():
    from kapflow.lib.forms import RadioSelect

    class Optional(forms.Form):
        colour = forms.ChoiceField(choices=[("", BLANK), ("red", "Red")], required=False, widget=RadioSelect)

    form = Optional(data={})
    assert form.is_valid() and form.cleaned_data["colour"] == ""
    assert BLANK not in str(form["colour"])
    assert 'value="red"' in str(form["colour"])


def test_the_ids_of_the_buttons_follow_each_other_from_zero():
    html = str(ConsultationForm()["decision"])
    assert re.findall(r'id="id_decision_(\d+)"', html) == [
        str(n) for n in range(len(Consultation.Decision.choices))
    ]


def test_no_form_uses_djangos_radio_buttons_directly():
    """Every radio group goes through kapflow.lib.forms.RadioSelect, which leaves out the blank."""
    root = pathlib.Path(__file__).resolve().parent.parent / "kapflow"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.parent.name != "lib" and "forms.RadioSelect" in path.read_text()
    ]
    assert offenders == []


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_no_form_class_declares_djangos_radio_buttons():
    """The same, read from the forms themselves: every field declared on a kapflow form (and a
    model form's Meta.widgets) whose widget is a radio group uses kapflow's, however imported."""
    import importlib

    from django import forms as django_forms

    from kapflow.lib.forms import RadioSelect

    root = pathlib.Path(__file__).resolve().parent.parent / "kapflow"
    for path in root.rglob("forms.py"):
        importlib.import_module(".".join(path.relative_to(root.parent).with_suffix("").parts))
    offenders = [
        f"{form.__module__}.{form.__qualname__}.{name}"
        for form in set(_subclasses(django_forms.BaseForm))
        if form.__module__.startswith("kapflow.")
        for name, field in form.base_fields.items()
        # A group of checkboxes is a RadioSelect to Django too; it has no blank choice.
        if isinstance(field.widget, django_forms.RadioSelect)
        and not isinstance(field.widget, (RadioSelect, django_forms.CheckboxSelectMultiple))
    ]
    assert offenders == []
