import uuid

from django import forms

from kapflow.lib.identifiers import npi_problem, taxonomy_problem


class DateInput(forms.DateInput):
    """The browser's own date picker, with the value in the format it expects."""

    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class SentOnce(forms.Form):
    """A form whose entry is saved once however often it is sent (a connection that dropped
    after the save, a double click): it carries its own key, new for each blank form and kept
    through a form that comes back with errors. The service saving the entry looks the key up
    first and a unique constraint on it settles a race."""

    entry_key = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("entry_key", uuid.uuid4())
        super().__init__(*args, **kwargs)


class RadioSelect(forms.RadioSelect):
    """Radio buttons without Django's blank choice. A model field with choices and no default
    gets a "---------" choice in its form field, meant for a drop-down; as a radio button it reads
    as an answer. A radio group says "no answer" by having no button ticked, so the blank is left
    out whatever the field: a required field still refuses no answer, an optional one still
    accepts it (the field's validation is untouched; only what is drawn changes). Every radio
    group in kapflow uses this one (tests/test_defect_radio_blank.py)."""

    @property
    def choices(self):
        return [choice for choice in self._choices if choice[0] not in ("", None)]

    @choices.setter
    def choices(self, value) -> None:
        self._choices = value


def cleaned_npi(text: str) -> str:
    """An NPI as typed, without its spaces, or ValidationError saying what is wrong with it (its
    length or its check digit). Empty stays empty: the field is optional where it is used."""
    npi = "".join(text.split())
    if npi and (problem := npi_problem(npi)):
        raise forms.ValidationError(problem)
    return npi


def cleaned_taxonomy(text: str) -> str:
    """A provider taxonomy code as typed, in capitals, or ValidationError saying what is wrong."""
    code = text.strip().upper()
    if code and (problem := taxonomy_problem(code)):
        raise forms.ValidationError(problem)
    return code
