import datetime

from django import forms
from django.utils import timezone

from kapflow.lib.forms import DateInput, RadioSelect
from kapflow.lib.identifiers import npi_problem
from kapflow.medical import doses, outside, routes, screening
from kapflow.medical.gates import day
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.medical.services import (
    CLEARANCE_TRANSCRIBED,
    ORDER_TRANSCRIBED,
    add_months,
    clearance_latest_end,
)

YES_NO = [(True, "Yes"), (False, "No")]


def _to_bool(value):
    return {"True": True, "False": False, True: True, False: False}.get(value)


class ScreeningForm(forms.Form):
    """Each finding of the screening as a yes/no question. Findings are not required one by one:
    a missing answer is reported once, naming every unanswered question."""

    notes = forms.CharField(
        label="Notes for the prescriber",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Anything the answers do not say: dates, severity, who treats the condition.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for finding in screening.FINDINGS:
            self.fields[f"finding_{finding.key}"] = forms.TypedChoiceField(
                label=finding.text,
                choices=YES_NO,
                coerce=_to_bool,
                empty_value=None,
                widget=RadioSelect,
                required=False,
            )

    def finding_fields(self):
        return [
            (n, finding, self[f"finding_{finding.key}"]) for n, finding in enumerate(screening.FINDINGS, 1)
        ]

    def clean(self):
        cleaned = super().clean()
        missing = [
            str(n)
            for n, finding in enumerate(screening.FINDINGS, 1)
            if cleaned.get(f"finding_{finding.key}") is None
        ]
        if missing:
            numbers = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
            raise forms.ValidationError(
                f"Answer every question, yes or no, before saving: question{'s' if len(missing) > 1 else ''} "
                f"{numbers} {'are' if len(missing) > 1 else 'is'} not answered yet."
            )
        self.answers = {finding.key: cleaned[f"finding_{finding.key}"] for finding in screening.FINDINGS}
        return cleaned


class MedicationForm(forms.Form):
    name = forms.CharField(label="Medication", max_length=120, required=False)
    kind = forms.ChoiceField(
        label="Class",
        choices=[("", "Choose a class…")] + [(c.key, c.label) for c in screening.MEDICATION_CLASSES],
        required=False,
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("name", "").strip() and not cleaned.get("kind"):
            self.add_error("kind", "Choose its class, or “Other (no listed interaction)”.")
        if cleaned.get("kind") and not cleaned.get("name", "").strip():
            self.add_error("name", "Write the medication's name, or clear its class.")
        return cleaned


MedicationFormSet = forms.formset_factory(MedicationForm, extra=8, max_num=20, absolute_max=20)


def medications_from(formset) -> list[dict]:
    return [
        {"name": form.cleaned_data["name"].strip(), "class": form.cleaned_data["kind"]}
        for form in formset.forms
        if form.cleaned_data.get("name", "").strip()
    ]


class ClearanceForm(forms.Form):
    """The prescriber's review of one screening: a written resolution for each exclusion flag, an
    acknowledgement for each review flag, the evaluation and the decision."""

    # Nobody types this: a missing or mangled one is a page that did not arrive whole.
    screening_id = forms.IntegerField(
        widget=forms.HiddenInput,
        error_messages=dict.fromkeys(
            ["required", "invalid"],
            "The page did not say which screening you reviewed, so nothing was recorded. "
            "Open the clearance form again and review the latest screening.",
        ),
    )
    decision = forms.ChoiceField(choices=Clearance.Decision.choices, widget=RadioSelect)
    conditions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Needed for “cleared with conditions”: what must hold for each session.",
    )
    systolic = forms.IntegerField(label="Systolic (mmHg)", required=False, min_value=50, max_value=300)
    diastolic = forms.IntegerField(label="Diastolic (mmHg)", required=False, min_value=20, max_value=200)
    heart_rate = forms.IntegerField(label="Heart rate (bpm)", required=False, min_value=20, max_value=250)
    weight_kg = forms.DecimalField(
        label="Weight (kg)", required=False, min_value=2, max_value=400, max_digits=5, decimal_places=1
    )
    findings = forms.CharField(
        label="Evaluation findings",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="History, examination, and the reasons for the decision.",
        error_messages={"required": "Write the evaluation findings and the reasons for the decision."},
    )
    valid_until = forms.DateField(label="Valid until", required=False, widget=DateInput())

    def __init__(self, *args, screening: Screening, practice, **kwargs):
        super().__init__(*args, **kwargs)
        self.screening = screening
        self.practice = practice
        self.today = timezone.localdate()
        self.latest_end = clearance_latest_end(practice, self.today)
        self.fields["screening_id"].initial = screening.pk
        self.fields["valid_until"].initial = self.latest_end
        self.fields["valid_until"].help_text = (
            f"Default {practice.clearance_valid_months} months (a practice setting): {day(self.latest_end)}. "
            "You may choose an earlier date. Not used when not cleared or deferred."
        )
        for flag in screening.exclusion_flags:
            self.fields[f"resolve_{flag.key}"] = forms.CharField(
                label=f"Resolution: {flag.label}",
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                help_text="Exclusion flag. How it is resolved, in your words (needed to clear).",
            )
        for flag in screening.review_flags:
            self.fields[f"ack_{flag.key}"] = forms.BooleanField(
                label=f"Reviewed: {flag.label}", required=False, help_text=flag.reason
            )

    def exclusion_fields(self):
        return [(flag, self[f"resolve_{flag.key}"]) for flag in self.screening.exclusion_flags]

    def review_fields(self):
        return [(flag, self[f"ack_{flag.key}"]) for flag in self.screening.review_flags]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("screening_id") not in (None, self.screening.pk):
            raise forms.ValidationError(
                "A newer screening was entered while you were reviewing. "
                "Its flags are shown below: review them."
            )
        decision = cleaned.get("decision")
        if decision in Clearance.GRANTING:
            for flag in self.screening.exclusion_flags:
                if not cleaned.get(f"resolve_{flag.key}", "").strip():
                    self.add_error(
                        f"resolve_{flag.key}", "Write how this exclusion is resolved before clearing."
                    )
            for flag in self.screening.review_flags:
                if not cleaned.get(f"ack_{flag.key}"):
                    self.add_error(f"ack_{flag.key}", "Tick to acknowledge this flag before clearing.")
            for name in ("systolic", "diastolic", "heart_rate", "weight_kg"):
                if cleaned.get(name) is None and name not in self.errors:
                    self.add_error(name, "Needed to clear.")
            until = cleaned.get("valid_until")
            if until is None and "valid_until" not in self.errors:
                self.add_error("valid_until", "Give the date the clearance is valid until.")
            elif until is not None and not self.today <= until <= self.latest_end:
                self.add_error(
                    "valid_until",
                    f"Choose a date from today to {day(self.latest_end)} "
                    f"({self.practice.clearance_valid_months} months, a practice setting).",
                )
            if decision == Clearance.Decision.CONDITIONS and not cleaned.get("conditions", "").strip():
                self.add_error("conditions", "Write the conditions of the clearance.")
        return cleaned

    @property
    def resolutions(self) -> dict[str, str]:
        return {
            flag.key: self.cleaned_data.get(f"resolve_{flag.key}", "")
            for flag in self.screening.exclusion_flags
        }

    @property
    def acknowledged(self) -> list[str]:
        return [flag.key for flag in self.screening.review_flags if self.cleaned_data.get(f"ack_{flag.key}")]


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, label: str, help_text: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = label
        self.fields["reason"].help_text = help_text
        self.fields["reason"].error_messages["required"] = f"Write the {label.lower()}."


class OrderForm(forms.ModelForm):
    # A transcription of an outside prescription (OrderTranscriptionForm): the outside prescriber
    # chose the dose, and the order may have started before it is filed.
    transcribed = False
    confirm_dose = forms.BooleanField(label="I confirm this dose, outside the typical range", required=False)
    # Only for a client under 18 (removed otherwise): docs/clinical.md, route × setting × person.
    minor_signoff = forms.BooleanField(
        label="I sign off this order for a client under 18",
        required=False,
        help_text="Sublingual only, with the guardian's consent and the client's own assent.",
    )

    class Meta:
        model = MedicationOrder
        fields = [
            "drug",
            "route",
            "unit",
            "dose_min",
            "dose_max",
            "weight_kg",
            "boosters_allowed",
            "booster_max_mg",
            "sessions_authorised",
            "starts_on",
            "ends_on",
            "instructions",
        ]
        widgets = {
            "starts_on": DateInput(),
            "ends_on": DateInput(),
            "instructions": forms.Textarea(attrs={"rows": 4}),
            "route": RadioSelect,
            "unit": RadioSelect,
        }
        help_texts = {
            "dose_min": "For a single dose, the same number in both.",
            "weight_kg": "Needed for intramuscular and intravenous orders and for any mg/kg dose.",
            "boosters_allowed": "0 for none.",
            "booster_max_mg": "Needed when boosters are allowed.",
            "instructions": "For the clinician giving the dose: timing, holding parameters, what to do if.",
        }

    def __init__(self, *args, practice, ends_on: datetime.date | None = None, minor: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.practice = practice
        self.minor = minor
        if not minor:
            del self.fields["minor_signoff"]
        today = timezone.localdate()
        self.fields["starts_on"].initial = today
        self.fields["ends_on"].initial = ends_on
        self.fields["drug"].initial = MedicationOrder.Drug.KETAMINE
        self.typical = {route: doses.typical_range(practice, route) for route in MedicationOrder.Route.values}
        self.outside = ""

    def clean(self):
        cleaned = super().clean()
        route, drug, unit = cleaned.get("route"), cleaned.get("drug"), cleaned.get("unit")
        if route and drug:
            if route == MedicationOrder.Route.INTRANASAL and drug != MedicationOrder.Drug.ESKETAMINE:
                self.add_error("drug", "The intranasal route is esketamine (Spravato).")
            if route != MedicationOrder.Route.INTRANASAL and drug == MedicationOrder.Drug.ESKETAMINE:
                self.add_error(
                    "drug", "Esketamine is given intranasally here; choose ketamine for this route."
                )
        if route and self.minor:
            self._minor_route(route, cleaned)
        if route and unit == MedicationOrder.Unit.MG_PER_KG and route not in doses.WEIGHT_BASED:
            self.add_error("unit", "Sublingual and intranasal doses are written in mg.")
        needs_weight = unit == MedicationOrder.Unit.MG_PER_KG or route in doses.WEIGHT_BASED
        if needs_weight and cleaned.get("weight_kg") is None and "weight_kg" not in self.errors:
            self.add_error("weight_kg", "Give the weight this order is written for.")
        low, high = cleaned.get("dose_min"), cleaned.get("dose_max")
        if low is not None and high is not None and low > high:
            self.add_error("dose_max", "The highest dose is below the lowest. Check the numbers.")
        if cleaned.get("boosters_allowed") and cleaned.get("booster_max_mg") is None:
            self.add_error("booster_max_mg", "Give the highest booster dose, or allow 0 boosters.")
        starts, ends = cleaned.get("starts_on"), cleaned.get("ends_on")
        if self.transcribed:
            # An outside prescription may start before the day it is filed; its own checks follow.
            if starts and ends and ends < starts:
                self.add_error("ends_on", "The order ends before it starts. Check the dates.")
            return cleaned
        if starts and starts < timezone.localdate():
            self.add_error("starts_on", "An order starts today or later.")
        if starts and ends and ends < starts:
            self.add_error("ends_on", "The order ends before it starts. Check the dates.")
        if not self.errors and route and unit and low is not None and high is not None:
            self.outside = doses.outside_typical(
                practice=self.practice,
                route=route,
                unit=unit,
                dose_min=low,
                dose_max=high,
                weight_kg=cleaned.get("weight_kg"),
            )
            if self.outside and not cleaned.get("confirm_dose"):
                self.add_error(
                    "confirm_dose",
                    f"{self.outside} Check the dose. If it is what you mean, tick to confirm and save again.",
                )
        return cleaned

    def _minor_route(self, route: str, cleaned: dict) -> None:
        """A client under 18: the routes the rules would refuse on the day are refused here, where
        the prescriber can still change them (kapflow.medical.routes says the same at the dose)."""
        if route == MedicationOrder.Route.SUBLINGUAL:
            if not cleaned.get("minor_signoff"):
                self.add_error(
                    "minor_signoff",
                    "The client is under 18: tick to sign this order off, or the dose will be refused.",
                )
            return
        # The place does not matter here: only the rules about the person are asked.
        problems = routes.route_problems(
            route,
            place=routes.Place(virtual=False, rems_certified=True),
            minor=True,
            minor_signoff=False,
            practice=self.practice,
        )
        for problem in problems:
            self.add_error("route", problem.reason)


def _confirm_field(label: str) -> forms.BooleanField:
    # "Prescriber's name" reads "prescriber's name" after the colon; "NPI" stays "NPI".
    said = label if label[1:2].isupper() else f"{label[:1].lower()}{label[1:]}"
    return forms.BooleanField(
        label=f"Matches the document: {said}",
        required=True,
        error_messages={"required": f"Check “{label}” against the document and tick to confirm it."},
    )


class TranscriptionMixin:
    """One confirmation box per transcribed field, all required, shown beside the field."""

    transcribed_fields: tuple[str, ...] = ()

    def add_confirmations(self) -> None:
        for name in self.transcribed_fields:
            self.fields[f"confirm_{name}"] = _confirm_field(str(self.fields[name].label))

    def transcribed_pairs(self):
        return [(self[name], self[f"confirm_{name}"]) for name in self.transcribed_fields]

    @property
    def confirmed(self) -> list[str]:
        return [name for name in self.transcribed_fields if self.cleaned_data.get(f"confirm_{name}")]

    def check_npi(self, cleaned: dict) -> None:
        npi = (cleaned.get("outside_npi") or "").strip()
        if npi and (problem := npi_problem(npi)):
            self.add_error("outside_npi", problem)
        cleaned["outside_npi"] = npi


class ClearanceTranscriptionForm(TranscriptionMixin, forms.Form):
    """An outside prescriber's clearance letter, transcribed by a clinician of the care team."""

    transcribed_fields = CLEARANCE_TRANSCRIBED

    provider = forms.ModelChoiceField(
        label="Outside prescriber",
        queryset=None,
        empty_label="Choose the prescriber…",
        help_text="One of the client's outside providers: psychiatrist, primary care or other.",
    )
    document = forms.ModelChoiceField(
        label="Clearance letter filed on the chart", queryset=None, empty_label="Choose the letter…"
    )
    outside_name = forms.CharField(label="Prescriber's name", max_length=150)
    outside_credentials = forms.CharField(
        label="Credentials", max_length=60, help_text="For example MD, DO, PMHNP."
    )
    outside_npi = forms.CharField(
        label="NPI", max_length=10, help_text="The 10-digit National Provider Identifier."
    )
    letter_dated = forms.DateField(label="Date of the letter", widget=DateInput())
    valid_until = forms.DateField(
        label="Valid until", required=False, widget=DateInput(), help_text="As the letter states."
    )
    decision = forms.ChoiceField(
        label="Decision",
        choices=[
            (Clearance.Decision.CLEARED, "Cleared"),
            (Clearance.Decision.CONDITIONS, "Cleared with conditions"),
            (Clearance.Decision.NOT_CLEARED, "Not cleared"),
        ],
        widget=RadioSelect,
    )
    conditions = forms.CharField(
        label="Conditions",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="As the letter words them; needed for “cleared with conditions”. Empty if none.",
    )
    findings = forms.CharField(
        label="What the letter says of the evaluation",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Write what the letter says of the evaluation and the reasons."},
    )

    def __init__(self, *args, screening: Screening, practice, providers, documents, **kwargs):
        super().__init__(*args, **kwargs)
        self.screening = screening
        self.practice = practice
        self.fields["provider"].queryset = providers
        self.fields["document"].queryset = documents
        self.fields["document"].label_from_instance = _document_label
        self.add_confirmations()
        for flag in screening.exclusion_flags:
            self.fields[f"resolve_{flag.key}"] = forms.CharField(
                label=f"What the letter says of: {flag.label}",
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                help_text="Exclusion flag: needed to file a clearance.",
            )
        for flag in screening.review_flags:
            self.fields[f"ack_{flag.key}"] = forms.BooleanField(
                label=f"The letter addresses: {flag.label}", required=False, help_text=flag.reason
            )

    def flag_fields(self):
        return [self[f"resolve_{flag.key}"] for flag in self.screening.exclusion_flags] + [
            self[f"ack_{flag.key}"] for flag in self.screening.review_flags
        ]

    def clean(self):
        cleaned = super().clean()
        self.check_npi(cleaned)
        dated, until, decision = (
            cleaned.get("letter_dated"),
            cleaned.get("valid_until"),
            cleaned.get("decision"),
        )
        if dated and dated > timezone.localdate():
            self.add_error("letter_dated", "The letter's date is in the future.")
            dated = None
        if decision in Clearance.GRANTING and dated:
            latest_end = clearance_latest_end(self.practice, dated)
            if until is None and "valid_until" not in self.errors:
                self.add_error("valid_until", "Give the date the letter says the clearance is valid until.")
            elif until is not None and not dated <= until <= latest_end:
                self.add_error(
                    "valid_until",
                    f"From the letter's date to {day(latest_end)} at most "
                    f"({self.practice.clearance_valid_months} months, a practice setting).",
                )
            for flag in self.screening.exclusion_flags:
                if not cleaned.get(f"resolve_{flag.key}", "").strip():
                    self.add_error(f"resolve_{flag.key}", "Write what the letter says of this exclusion.")
            for flag in self.screening.review_flags:
                if not cleaned.get(f"ack_{flag.key}"):
                    self.add_error(f"ack_{flag.key}", "Tick when the letter addresses this flag.")
        if decision == Clearance.Decision.CONDITIONS and not cleaned.get("conditions", "").strip():
            self.add_error("conditions", "Write the conditions the letter states.")
        return cleaned

    @property
    def resolutions(self) -> dict[str, str]:
        return {
            flag.key: self.cleaned_data.get(f"resolve_{flag.key}", "")
            for flag in self.screening.exclusion_flags
        }

    @property
    def acknowledged(self) -> list[str]:
        return [flag.key for flag in self.screening.review_flags if self.cleaned_data.get(f"ack_{flag.key}")]


def _document_label(document) -> str:
    dated = f", dated {day(document.dated)}" if document.dated else ""
    return f"{document.title}{dated} (filed {day(document.uploaded_at)})"


class OrderTranscriptionForm(TranscriptionMixin, OrderForm):
    """An outside prescriber's prescription, transcribed into an order the dose rules read."""

    transcribed = True
    transcribed_fields = ORDER_TRANSCRIBED

    provider = ClearanceTranscriptionForm.base_fields["provider"]
    document = forms.ModelChoiceField(
        label="Prescription filed on the chart", queryset=None, empty_label="Choose the prescription…"
    )

    class Meta(OrderForm.Meta):
        # Every field the person filing confirms against the prescription, in its order.
        fields = list(ORDER_TRANSCRIBED)
        widgets = {
            **OrderForm.Meta.widgets,
            "prescribed_on": DateInput(),
            "fill_date": DateInput(),
            "directions": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            **OrderForm.Meta.help_texts,
            "strength_form": "As written: for example “ketamine HCl 100 mg sublingual troche”.",
            "strength_mg": "The ketamine in each troche, tablet or mL, in mg.",
            "quantity": "How many units are dispensed.",
            "sessions_prescribed": "The number of sessions the prescription is for.",
            "sessions_authorised": "No more than the sessions on the prescription.",
            "dose_min": "The dose the directions give; for a single dose, the same number in both.",
            "fill_date": "Empty if not filled yet.",
        }

    def __init__(self, *args, providers, documents, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("confirm_dose", "minor_signoff"):
            self.fields.pop(name, None)
        for name in (
            "outside_name",
            "outside_npi",
            "prescribed_on",
            "strength_form",
            "strength_mg",
            "quantity",
            "directions",
            "sessions_prescribed",
            "pharmacy",
        ):
            self.fields[name].required = True
        self.fields["provider"].queryset = providers
        self.fields["document"].queryset = documents
        self.fields["document"].label_from_instance = _document_label
        self.fields["starts_on"].initial = None
        self.add_confirmations()
        self.order_fields(["provider", "document"])

    def _minor_route(self, route: str, cleaned: dict) -> None:
        # The outside prescriber's sign-off for a client under 18 is not transcribed: the dose
        # rules (kapflow.medical.routes) refuse such an order on the day, and say so there.
        return

    def clean(self):
        cleaned = super().clean()
        self.check_npi(cleaned)
        needed = (
            "prescribed_on",
            "strength_mg",
            "quantity",
            "sessions_prescribed",
            "dose_max",
            "sessions_authorised",
            "starts_on",
            "ends_on",
            "unit",
            "dose_min",
        )
        written = cleaned.get("prescribed_on")
        if written and written > timezone.localdate():
            self.add_error("prescribed_on", "The prescription's date is in the future.")
        if self.errors or any(cleaned.get(name) is None for name in needed):
            return cleaned
        try:
            _low, high = doses.range_mg(
                unit=cleaned["unit"],
                dose_min=cleaned["dose_min"],
                dose_max=cleaned["dose_max"],
                weight_kg=cleaned.get("weight_kg"),
            )
        except ValueError:
            return cleaned
        boosters = cleaned.get("boosters_allowed") or 0
        wider = outside.wider_than_prescription(
            outside.Transcribed(
                highest_dose_mg=high,
                boosters=boosters,
                booster_max_mg=cleaned.get("booster_max_mg") if boosters else None,
                sessions_authorised=cleaned["sessions_authorised"],
                starts_on=cleaned["starts_on"],
                ends_on=cleaned["ends_on"],
            ),
            outside.Prescription(
                written_on=cleaned["prescribed_on"],
                strength_mg=cleaned["strength_mg"],
                quantity=cleaned["quantity"],
                sessions=cleaned["sessions_prescribed"],
                fill_date=cleaned.get("fill_date"),
            ),
            latest_end=add_months(cleaned["prescribed_on"], outside.SCHEDULE_III_MONTHS),
        )
        for name, problem in wider.items():
            self.add_error(name, f"Wider than the prescription: {problem}")
        return cleaned
