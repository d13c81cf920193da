"""The list of things to fix at the top of a form that came back counts each problem, as many as
it lists: a refusal may add several to the form as a whole, and one field may have two."""

from django import forms
from django.template.loader import render_to_string


class Booking(forms.Form):
    name = forms.CharField()
    when = forms.DateField()


def shown(form) -> str:
    form.is_valid()
    return render_to_string("includes/_form_errors.html", {"form": form})


def test_two_problems_of_the_form_as_a_whole_are_two_things_to_fix():
    form = Booking({"name": "Avery", "when": "2026-05-04"})
    form.is_valid()
    form.add_error(None, "The clinician is booked then.")
    form.add_error(None, "The room is booked then.")
    html = render_to_string("includes/_form_errors.html", {"form": form})
    assert "2 things to fix" in html
    assert html.count("<li>") == 2


def test_one_missing_field_is_one_thing_to_fix():
    html = shown(Booking({"when": "2026-05-04"}))
    assert "One thing to fix" in html
    assert html.count("<li>") == 1
