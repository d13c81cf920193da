import datetime

from django import forms
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.dosing import selectors
from kapflow.dosing.models import AdverseEvent, DayOfChecklist, PhaseMark, Rating, VitalsReading
from kapflow.lib.dates import latest_moment
from kapflow.lib.forms import RadioSelect, SentOnce
from kapflow.medical.models import MedicationOrder
from kapflow.visits.forms import ClinicianChoice, TimeInput


class EntryForm(forms.Form):
    """Every runbook entry has a time: today at the time given, or now when left empty. Each form
    on the page has its own ids (`id_prefix`), so that every label names its own field."""

    id_prefix = "entry"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)

    at = forms.TimeField(label="Time", required=False, widget=TimeInput(), help_text="Empty: now.")

    def moment(self) -> datetime.datetime:
        at = self.cleaned_data.get("at")
        now = timezone.now()
        return now if at is None else latest_moment(at, now)


class VitalsForm(SentOnce, EntryForm):
    id_prefix = "vitals"
    phase = forms.ChoiceField(choices=VitalsReading.Phase.choices, widget=forms.HiddenInput)
    systolic = forms.IntegerField(label="Systolic (mmHg)", min_value=50, max_value=300)
    diastolic = forms.IntegerField(label="Diastolic (mmHg)", min_value=20, max_value=200)
    heart_rate = forms.IntegerField(label="Heart rate (bpm)", min_value=20, max_value=250)
    spo2 = forms.IntegerField(label="SpO2 (%)", min_value=50, max_value=100, required=False)

    def __init__(self, *args, spo2_required_for: str = "", **kwargs):
        """`spo2_required_for`: the session's routes that need SpO2 with every reading, in words
        (the service refuses a reading without it; the form says so before it is sent)."""
        super().__init__(*args, **kwargs)
        if spo2_required_for:
            self.fields["spo2"].help_text = f"Required with every reading for {spo2_required_for}."

    def clean(self):
        data = super().clean()
        if data.get("systolic") and data.get("diastolic") and data["systolic"] <= data["diastolic"]:
            raise forms.ValidationError("Systolic is above diastolic: check the numbers.")
        return data


class DoseForm(SentOnce, EntryForm):
    id_prefix = "dose"
    order = forms.ModelChoiceField(
        queryset=MedicationOrder.objects.none(), label="Against the order", empty_label="Choose the order"
    )
    route = forms.ChoiceField(choices=MedicationOrder.Route.choices)
    dose_mg = forms.DecimalField(label="Dose (mg)", min_value=0.01, max_digits=7, decimal_places=2)
    lot_number = forms.CharField(label="Lot number", max_length=40)
    given_by = ClinicianChoice(queryset=User.objects.clinicians(), label="Given by")
    self_administered = forms.BooleanField(
        label="Self-administered by the client, observed by the clinician above",
        required=False,
        help_text="Sublingual only: the client takes the lozenge; the clinician named above watches.",
    )

    def __init__(self, *args, client, visit=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the orders in force: never a discontinued one, nor one outside its dates today or
        # on the session's own day (a session that runs past midnight may record a dose given
        # before it). The dose service checks the order again at the time the dose was given.
        session_day = [timezone.localdate(visit.starts_at)] if visit is not None else []
        self.fields["order"].queryset = MedicationOrder.objects.filter(client=client).active(
            timezone.localdate(), *session_day
        )


class PrescriberOnSiteForm(EntryForm):
    """Which prescriber is on site, from when (intranasal esketamine needs one: Spravato REMS)."""

    id_prefix = "onsite"
    prescriber = ClinicianChoice(queryset=User.objects.none(), label="Prescriber on site")

    def __init__(self, *args, client_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prescriber"].queryset = selectors.on_site_candidates(client_id)


class RatingForm(SentOnce, EntryForm):
    id_prefix = "rating"
    sedation = forms.TypedChoiceField(
        label="Sedation (UMSS 0–4)", choices=Rating.Sedation.choices, coerce=int
    )
    dissociation = forms.TypedChoiceField(
        label="Dissociation (0–4)", choices=Rating.Dissociation.choices, coerce=int
    )


class AdverseEventForm(SentOnce, EntryForm):
    id_prefix = "event"
    kind = forms.ChoiceField(label="Adverse effect", choices=AdverseEvent.Kind.choices)
    severity = forms.ChoiceField(choices=AdverseEvent.Severity.choices)
    action_taken = forms.CharField(label="Action taken", widget=forms.Textarea(attrs={"rows": 2}))


class NoteForm(SentOnce, EntryForm):
    id_prefix = "note"
    text = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}))


class DischargeForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "discharge_%s")
        super().__init__(*args, **kwargs)

    alert_and_oriented = forms.BooleanField(label="Alert and oriented", required=False)
    steady_on_feet = forms.BooleanField(label="Steady on feet", required=False)
    escort_present = forms.BooleanField(label="Escort or transport present", required=False)
    override_reason = forms.CharField(
        label="Prescriber: discharge with criteria unmet, because",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AddendumForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "addendum_%s")
        super().__init__(*args, **kwargs)

    text = forms.CharField(label="Addendum", widget=forms.Textarea(attrs={"rows": 3}))


class ChecklistForm(forms.Form):
    """The day-of checklist, asked at check-in. The substances are the practice's list."""

    transport_without_driving = forms.BooleanField(
        label="Ride home arranged: the client will not drive until tomorrow", required=False
    )
    transport_detail = forms.CharField(label="Who takes the client home", max_length=120, required=False)
    last_food = forms.TimeField(
        label="Last food at", widget=TimeInput(), help_text="A time later than now means yesterday."
    )
    last_liquid = forms.TimeField(
        label="Last liquid at", widget=TimeInput(), help_text="A time later than now means yesterday."
    )
    substances = forms.MultipleChoiceField(
        label="Taken in the last 24 hours",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick any the client took. None ticked: none taken.",
    )
    pregnancy = forms.ChoiceField(
        label="Pregnancy", choices=DayOfChecklist.Pregnancy.choices, widget=RadioSelect
    )
    new_medications = forms.CharField(
        label="New medications since clearance",
        max_length=300,
        required=False,
        help_text="Separate with commas. Empty: none. Any new medication waits for the prescriber's review.",
    )
    medications_reviewed = forms.BooleanField(
        label="Prescriber: I reviewed these new medications", required=False
    )
    suicidality_alert_reviewed = forms.BooleanField(
        label="The open suicidality alert (PHQ-9 item 9) was reviewed with the client today", required=False
    )

    def __init__(self, *args, substances: list[str], open_alert: bool, **kwargs):
        kwargs.setdefault("auto_id", "check_%s")
        super().__init__(*args, **kwargs)
        self.fields["substances"].choices = [(name, name[:1].upper() + name[1:]) for name in substances]
        if not open_alert:
            del self.fields["suicidality_alert_reviewed"]


class SafetyPlanForm(forms.Form):
    address = forms.CharField(label="Address during the session", max_length=250, required=False)
    chaperone_name = forms.CharField(label="Chaperone's name", max_length=120, required=False)
    chaperone_phone = forms.CharField(label="Chaperone's phone", max_length=40, required=False)
    chaperone_is_adult = forms.BooleanField(label="The chaperone is an adult (18 or over)", required=False)
    chaperone_present = forms.BooleanField(
        label="The chaperone is physically present with the client", required=False
    )
    emergency_contact = forms.CharField(
        label="Emergency contact (name and phone)", max_length=160, required=False
    )
    nearest_emergency_department = forms.CharField(
        label="Nearest emergency department", max_length=200, required=False
    )
    has_bp_cuff = forms.BooleanField(label="A blood-pressure cuff is at hand", required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "plan_%s")
        super().__init__(*args, **kwargs)


class PhaseForm(EntryForm):
    id_prefix = "phase"
    phase = forms.ChoiceField(choices=PhaseMark.Phase.choices, widget=forms.HiddenInput)


class ChaperoneForm(SentOnce, EntryForm):
    id_prefix = "chaperone"
    chaperone_present = forms.BooleanField(label="Chaperone present", required=False)
    client_ok = forms.BooleanField(label="Client OK", required=False)
    note = forms.CharField(max_length=300, required=False)


class IntegrationBookForm(forms.Form):
    starts_at = forms.DateTimeField()


class IntegrationAckForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "integration_ack_%s")
        super().__init__(*args, **kwargs)

    reason = forms.CharField(
        label="Go ahead without an integration booked, because",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For the record: why none is booked within the window, and what happens instead.",
    )


class ReviewForm(forms.Form):
    note = forms.CharField(label="Review note (optional)", max_length=1000, required=False)


class PhoneAcknowledgementForm(EntryForm):
    """A caution reading acknowledged by the client's outside prescriber on the telephone."""

    id_prefix = "phone"
    prescriber_name = forms.CharField(label="Prescriber called", max_length=150)
    read_back = forms.CharField(
        label="Read back and confirmed",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you read back to the prescriber (the reading, the dose) and they confirmed.",
        error_messages={"required": "Write what you read back and the prescriber confirmed."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["at"].label = "Time of the call"
