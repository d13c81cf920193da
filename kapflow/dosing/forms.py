import datetime

from django import forms
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.dosing.models import AdverseEvent, Rating, VitalsReading
from kapflow.medical.models import MedicationOrder
from kapflow.visits.forms import ClinicianChoice, TimeInput


class EntryForm(forms.Form):
    """Every runbook entry has a time: today at the time given, or now when left empty."""

    at = forms.TimeField(label="Time", required=False, widget=TimeInput(), help_text="Empty: now.")

    def moment(self) -> datetime.datetime:
        at = self.cleaned_data.get("at")
        if at is None:
            return timezone.now()
        return timezone.make_aware(datetime.datetime.combine(timezone.localdate(), at))


class VitalsForm(EntryForm):
    phase = forms.ChoiceField(choices=VitalsReading.Phase.choices, widget=forms.HiddenInput)
    systolic = forms.IntegerField(label="Systolic (mmHg)", min_value=50, max_value=300)
    diastolic = forms.IntegerField(label="Diastolic (mmHg)", min_value=20, max_value=200)
    heart_rate = forms.IntegerField(label="Heart rate (bpm)", min_value=20, max_value=250)
    spo2 = forms.IntegerField(label="SpO2 (%)", min_value=50, max_value=100, required=False)

    def clean(self):
        data = super().clean()
        if data.get("systolic") and data.get("diastolic") and data["systolic"] <= data["diastolic"]:
            raise forms.ValidationError("Systolic is above diastolic: check the numbers.")
        return data


class DoseForm(EntryForm):
    order = forms.ModelChoiceField(queryset=MedicationOrder.objects.none(), label="Against the order")
    route = forms.ChoiceField(choices=MedicationOrder.Route.choices)
    dose_mg = forms.DecimalField(label="Dose (mg)", min_value=0.01, max_digits=7, decimal_places=2)
    lot_number = forms.CharField(label="Lot number", max_length=40)
    given_by = ClinicianChoice(queryset=User.objects.clinicians(), label="Given by")

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["order"].queryset = MedicationOrder.objects.filter(client=client)


class RatingForm(EntryForm):
    sedation = forms.TypedChoiceField(
        label="Sedation (UMSS 0–4)", choices=Rating.Sedation.choices, coerce=int
    )
    dissociation = forms.TypedChoiceField(
        label="Dissociation (0–4)", choices=Rating.Dissociation.choices, coerce=int
    )


class AdverseEventForm(EntryForm):
    kind = forms.ChoiceField(label="Adverse effect", choices=AdverseEvent.Kind.choices)
    severity = forms.ChoiceField(choices=AdverseEvent.Severity.choices)
    action_taken = forms.CharField(label="Action taken", widget=forms.Textarea(attrs={"rows": 2}))


class NoteForm(EntryForm):
    text = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}))


class DischargeForm(forms.Form):
    alert_and_oriented = forms.BooleanField(label="Alert and oriented", required=False)
    steady_on_feet = forms.BooleanField(label="Steady on feet", required=False)
    escort_present = forms.BooleanField(label="Escort or transport present", required=False)
    override_reason = forms.CharField(
        label="Prescriber: discharge with criteria unmet, because",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AddendumForm(forms.Form):
    text = forms.CharField(label="Addendum", widget=forms.Textarea(attrs={"rows": 3}))
