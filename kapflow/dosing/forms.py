import datetime
import operator
from decimal import Decimal
from functools import reduce

from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.accounts.witness_forms import WitnessFields
from kapflow.clients.selectors import prescribers_for
from kapflow.controlled import ledger
from kapflow.controlled.models import Lot
from kapflow.dosing.models import (
    Administration,
    AdverseEvent,
    DayOfChecklist,
    PhaseMark,
    Rating,
    RemsReport,
    VitalsReading,
)
from kapflow.dosing.services.administration import STOCKED_ROUTES
from kapflow.lib.dates import latest_moment
from kapflow.lib.forms import DateInput, RadioSelect, SentOnce
from kapflow.medical import doses as doses_mod
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


def fitting_lots(orders, *, day: datetime.date):
    """The practice's lots a dose under one of `orders` may come from on `day`: its drug, a form
    whose routes include the order's, not expired, and holding something; each with `balance`
    (kapflow.controlled.ledger.with_balances). One query, the soonest to expire first."""
    fits = [
        Q(form=form) & Exists(orders.filter(drug=OuterRef("drug"), route__in=routes))
        for form, routes in Lot.ROUTES.items()
    ]
    return (
        ledger.with_balances(Lot.objects.filter(reduce(operator.or_, fits), expires_on__gte=day))
        .filter(balance__gt=0)
        .order_by("drug", "expires_on", "lot_number")
    )


class LotChoice(forms.ModelChoiceField):
    """A lot of the practice's stock, labelled with its strength, what it holds and its expiry.
    The lots offered are those that fit; a lot sent that no longer does (emptied or expired since
    the page was drawn) is still taken, so that the dose service says why it cannot be given
    from it, its balance named, rather than "not one of the choices"."""

    def label_from_instance(self, lot) -> str:
        drug = lot.get_drug_display().split(",")[0].split(" (")[0]  # "Ketamine", "Esketamine"
        held = ledger.quantity_text(lot.balance, lot)
        expires = f"{lot.expires_on:%Y-%m}"
        return f"{drug} {lot.strength_text}, lot {lot.lot_number}, {held} left, expires {expires}"

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return Lot.objects.get(pk=value)
        except (ValueError, TypeError, OverflowError, Lot.DoesNotExist):
            raise forms.ValidationError(
                "That lot is not in the practice's stock: choose one from the list.", code="invalid_choice"
            ) from None


class DoseForm(SentOnce, EntryForm):
    id_prefix = "dose"
    order = forms.ModelChoiceField(
        queryset=MedicationOrder.objects.none(), label="Against the order", empty_label="Choose the order"
    )
    route = forms.ChoiceField(choices=MedicationOrder.Route.choices)
    dose_mg = forms.DecimalField(label="Dose (mg)", min_value=0.01, max_digits=7, decimal_places=2)
    # Offered once the practice keeps its stock ledger (docs/runbook-ledger.md); removed before.
    lot = LotChoice(
        queryset=Lot.objects.none(),
        required=False,
        label="From the lot",
        empty_label="None: the client's own medicine (sublingual only)",
        help_text="Needed for an intramuscular, intravenous or intranasal dose. The practice's lots "
        "that fit the client's orders, with what each holds now.",
    )
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
        # Before the practice keeps a stock ledger, a dose carries its lot number in words.
        self.ledger_started = ledger.ledger_started()
        if not self.ledger_started:
            del self.fields["lot"]
            return
        self.fields["lot"].queryset = fitting_lots(
            self.fields["order"].queryset, day=session_day[0] if session_day else timezone.localdate()
        )
        typed = self.fields["lot_number"]
        typed.required = False
        typed.label = "Or the lot number on the client's own medicine"
        typed.help_text = "Sublingual, from the client's own pharmacy-filled medicine: as on its label."

    def clean(self):
        data = super().clean()
        if not self.ledger_started:
            return data
        lot, route, typed = data.get("lot"), data.get("route"), data.get("lot_number", "").strip()
        if lot is None and route in STOCKED_ROUTES:
            self.add_error(
                "lot",
                f"Choose the lot the dose came from: {doses_mod.ROUTE_NAMES[route].lower()} is given "
                "from the practice's stock, which the ledger counts.",
            )
        elif lot is None and not typed and "lot_number" not in self.errors and "lot" not in self.errors:
            self.add_error(
                "lot_number",
                "Choose the practice's lot above, or type the lot number on the label of the "
                "client's own medicine.",
            )
        elif lot is not None and typed and typed != lot.lot_number:
            self.add_error(
                "lot_number",
                f"The dose is from the practice's lot {lot.lot_number}: clear this lot number, or "
                "choose “the client's own medicine” above.",
            )
        return data

    def explain_refusal(self) -> None:
        """After the dose service refused the dose: when the lot chosen holds less than the dose
        takes, say so at the lot, where the clinician chooses another."""
        lot, dose_mg = self.cleaned_data.get("lot"), self.cleaned_data.get("dose_mg")
        if lot is None or dose_mg is None:
            return
        try:
            needed = ledger.dose_quantity(lot, dose_mg)
        except ledger.LedgerRefused:
            return
        held = ledger.balance(lot)
        if held < needed:
            self.add_error(
                "lot",
                f"Lot {lot.lot_number} holds {ledger.quantity_text(held, lot)}; this dose takes "
                f"{ledger.quantity_text(needed, lot)}. Nothing was recorded: choose another lot.",
            )


class PrescriberOnSiteForm(EntryForm):
    """Which prescriber is on site, from when (intranasal esketamine needs one: Spravato REMS)."""

    id_prefix = "onsite"
    prescriber = ClinicianChoice(queryset=User.objects.none(), label="Prescriber on site")

    def __init__(self, *args, client_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prescriber"].queryset = prescribers_for(client_id)


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


def _yes_no(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=[(True, "Yes"), (False, "No")],
        coerce=lambda value: {"True": True, "False": False, True: True, False: False}.get(value),
        empty_value=None,
        widget=RadioSelect,
        required=False,
    )


class RemsAnswersForm(forms.Form):
    """The Spravato REMS answers the runbook cannot work out by itself (kapflow.dosing.rems). Each
    may be left for later: the section lists what is still missing, and the record is not signed
    until nothing is. What the runbook suggests is filled in until an answer is saved, and said
    under the question."""

    first_treatment = _yes_no("First Spravato treatment")
    concomitant = forms.MultipleChoiceField(
        label="Concomitant medicines the client takes",
        choices=RemsReport.Concomitant.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Sedating or blood-pressure-raising classes the REMS form asks about.",
    )
    no_concomitant = forms.BooleanField(label="None of these", required=False)
    sedation = _yes_no("Sedation")
    dissociation = _yes_no("Dissociation")
    respiratory_depression = _yes_no("Respiratory depression")
    other_adverse_events = forms.CharField(
        label="Other adverse events",
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Empty: none.",
    )
    vitals_ok_before_dosing = _yes_no("Vital signs acceptable before dosing")
    vitals_ok_before_discharge = _yes_no("Vital signs acceptable before discharge")
    ready_to_leave_minutes = forms.IntegerField(
        label="Could have left after (minutes from the first device), but for the 2-hour rule",
        min_value=0,
        max_value=1440,
        required=False,
    )

    def __init__(self, *args, report=None, suggested: dict | None = None, **kwargs):
        kwargs.setdefault("auto_id", "rems_%s")
        suggested = suggested or {}
        initial = kwargs.setdefault("initial", {})
        for name in self.base_fields:
            saved = getattr(report, name, None) if report is not None else None
            if name == "concomitant" and report is not None:
                initial.setdefault(name, report.concomitant)
            elif name == "no_concomitant" and report is not None:
                initial.setdefault(name, report.no_concomitant)
            elif saved not in (None, ""):
                initial.setdefault(name, saved)
            elif name in suggested and suggested[name] not in (None, ""):
                initial.setdefault(name, suggested[name])
        super().__init__(*args, **kwargs)
        why = {
            "first_treatment": "no earlier intranasal dose of the client is recorded in kapflow",
            "sedation": "a sedation rating above 0 or a sedation event after the first device",
            "dissociation": "a dissociation rating above 0 or a dissociation event after the first device",
            "respiratory_depression": "an SpO2 below the practice's alert level after the first device",
        }
        for name, reason in why.items():
            if name in suggested and (report is None or getattr(report, name) is None):
                if suggested[name]:
                    said = f"yes — {reason}"
                elif name == "first_treatment":
                    said = "no — an earlier intranasal dose of the client is recorded in kapflow"
                else:
                    said = "no — nothing recorded in the runbook suggests it"
                self.fields[name].help_text = f"Suggested from the runbook: {said}. Check it."

    def clean(self):
        data = super().clean()
        if data.get("concomitant") and data.get("no_concomitant"):
            raise forms.ValidationError("Tick the classes the client takes, or “none of these”, not both.")
        return data


class RemsSubmissionForm(forms.Form):
    submitted_on = forms.DateField(label="Submitted to the REMS on", widget=DateInput())
    reference = forms.CharField(label="Confirmation number", max_length=80)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "rems_submit_%s")
        super().__init__(*args, **kwargs)


class DoseChoice(forms.ModelChoiceField):
    def label_from_instance(self, dose) -> str:
        kind = "Booster" if dose.is_booster else "Dose"
        mg = doses_mod.number(dose.dose_mg)
        return f"{kind} at {timezone.localtime(dose.given_at):%H:%M}: {mg} mg from lot {dose.lot.lot_number}"


class WasteForm(EntryForm, WitnessFields):
    """What is left of a dose from one of the practice's lots, wasted, and the witness who types
    their own sign-in on this screen (kapflow.accounts.witness). Only the session's doses from a
    lot are offered (and accepted)."""

    id_prefix = "waste"
    field_order = ["administration", "quantity", "reason", "at", "witness_email", "witness_password"]
    administration = DoseChoice(
        queryset=Administration.objects.none(), label="Left of the dose", empty_label=None
    )
    quantity = forms.DecimalField(
        label="Quantity wasted",
        min_value=Decimal("0.0001"),
        max_digits=12,
        decimal_places=4,
        help_text="In the lot's unit: mL from a vial, whole devices from a nasal spray.",
    )
    reason = forms.CharField(
        label="What was wasted, and why",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="E.g. “Drew 1 mL, gave 0.8 mL; 0.2 mL left in the syringe, wasted in the sink.”",
    )

    def __init__(self, *args, visit, wasted=(), **kwargs):
        """`wasted`: the doses whose waste is recorded already, not offered (but still taken, so
        that a waste sent twice is saved once and a second one is refused in words)."""
        super().__init__(*args, **kwargs)
        self.fields["at"].help_text = "When it was wasted. Empty: now."
        dose = self.fields["administration"]
        dose.queryset = (
            Administration.objects.filter(runbook__visit_id=visit.pk, lot__isnull=False)
            .select_related("lot")
            .order_by("-given_at", "-pk")
        )
        if wasted:
            dose.widget.choices = [(value, label) for value, label in dose.choices if value not in wasted]


class SupplyCountForm(SentOnce, EntryForm):
    """The client's own medicine counted with them (kapflow.dosing.services.supply): the units
    they brought and those taken in this session, at one of the strengths they were filled."""

    id_prefix = "supply"
    strength_mg = forms.ChoiceField(label="Strength")
    brought = forms.DecimalField(
        label="Units the client brought", min_value=0, max_digits=8, decimal_places=2
    )
    taken = forms.DecimalField(
        label="Units taken in this session",
        min_value=0,
        max_digits=8,
        decimal_places=2,
        help_text="0 when counting before the dose; count again after it (the latest count stands).",
    )

    def __init__(self, *args, strengths=(), **kwargs):
        """`strengths`: the mg of each strength the client was filled (Decimals)."""
        super().__init__(*args, **kwargs)
        self.fields["strength_mg"].choices = [(str(mg), f"{mg.normalize():f} mg") for mg in strengths]
        self.fields["at"].label = "Time of the count"

    def clean(self):
        data = super().clean()
        brought, taken = data.get("brought"), data.get("taken")
        if brought is not None and taken is not None and taken > brought:
            self.add_error("taken", "More than the client brought: they take from what they brought.")
        return data
