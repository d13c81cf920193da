"""The forms of the diagnosis pages (docs/diagnoses.md). They check what a person can fix on
the form; kapflow.billing.diagnoses checks it all again when the diagnosis is written."""

from django import forms
from django.utils import timezone

from kapflow.billing import diagnoses
from kapflow.billing.services import BillingRefused
from kapflow.lib.forms import DateInput, RadioSelect


def _catalogue_choices():
    return [("", "Another code (type it below)")] + [
        (code, f"{code} · {words}")
        for code, words in sorted(diagnoses.CATALOGUE.items(), key=lambda item: item[0])
    ]


class DiagnosisForm(forms.Form):
    listed = forms.ChoiceField(
        label="Code",
        required=False,
        help_text="The billable codes a ketamine-assisted psychotherapy practice uses most, with their "
        "ICD-10-CM words.",
    )
    code = forms.CharField(
        label="Or another ICD-10-CM code",
        required=False,
        max_length=12,
        help_text="A billable code, for example F41.9. Capitals and the dot are added for you.",
    )
    description = forms.CharField(
        label="Its words",
        required=False,
        max_length=200,
        help_text="For a code you type: its words as ICD-10-CM gives them. A listed code uses its own.",
    )
    diagnosed_on = forms.DateField(label="Diagnosed on", widget=DateInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["listed"].choices = _catalogue_choices()
        self.fields["diagnosed_on"].initial = timezone.localdate()
        self.fields["diagnosed_on"].error_messages["required"] = "Give the date of the diagnosis."
        self.fields["diagnosed_on"].error_messages["invalid"] = "Give the date as a day, month and year."

    def clean(self):
        data = super().clean()
        listed, typed = data.get("listed") or "", (data.get("code") or "").strip()
        if listed and typed:
            try:
                same = diagnoses.normalise(typed) == listed
            except BillingRefused:
                same = False
            if not same:
                self.add_error("code", "Choose a code from the list or type one, not both.")
                return data
        if not listed and not typed:
            self.add_error("listed", "Choose a code from the list, or type another below.")
            return data
        field = "listed" if listed else "code"
        try:
            code = diagnoses.normalise(listed or typed)
            refusal = diagnoses.category_refusal(code)
            if refusal:
                raise BillingRefused(refusal)
        except BillingRefused as refused:
            self.add_error(field, refused.problems)
            return data
        try:
            data["icd_code"], data["words"] = diagnoses.code_checked(code, data.get("description", ""))
        except BillingRefused as refused:
            self.add_error("description", refused.problems)
        return data


END_CHOICES = [
    ("ended", "No longer current: it was right, and has ended (remission, resolved, a new diagnosis)"),
    ("in_error", "Entered in error: it was never right (wrong code, wrong client); it is never reported"),
]


class DiagnosisEndForm(forms.Form):
    outcome = forms.ChoiceField(label="How it ends", choices=END_CHOICES, widget=RadioSelect)
    ended_on = forms.DateField(
        label="No longer current from",
        required=False,
        widget=DateInput(),
        help_text="The first day it no longer applies. Not used for a diagnosis entered in error.",
    )
    reason = forms.CharField(
        label="Why",
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: full remission for six months; the code was meant for another client.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ended_on"].initial = timezone.localdate()
        self.fields["outcome"].error_messages["required"] = "Choose how the diagnosis ends."
        self.fields["reason"].error_messages["required"] = "Write why the diagnosis ends."
        self.fields["ended_on"].error_messages["invalid"] = "Give the date as a day, month and year."

    def clean(self):
        data = super().clean()
        if data.get("outcome") == "ended" and not data.get("ended_on") and "ended_on" not in self.errors:
            self.add_error("ended_on", "Give the day from which the diagnosis is no longer current.")
        return data
