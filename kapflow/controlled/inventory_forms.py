"""The forms of the inventory, discrepancy and loss-report pages (docs/inventory.md). The rules
that need the database (the balance, who may) are the services'; these check what was typed."""

import datetime
from decimal import Decimal

from django import forms
from django.db.models import Q
from django.forms import formset_factory
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.controlled.ledger import quantity_text
from kapflow.controlled.models import Discrepancy, Inventory, LossReport, LossReportStep, Lot
from kapflow.lib.forms import DateInput, RadioSelect, SentOnce
from kapflow.medical.models import MedicationOrder

# The most rows an initial inventory's form takes at once (a practice stocks a few lots).
MAX_ROWS = 60
FIRST_ROWS = 3


def units(lot: Lot) -> str:
    """ "mL", "devices", "tablets": what a lot is counted in, as a heading says it."""
    return lot.unit if lot.unit == "mL" else lot.unit + "s"


def _quantity(label: str, *, required: bool = False, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=4,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )


def _containers(label: str = "Unopened containers") -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=0, max_value=100000)


def takers():
    """Who may be named as having taken an inventory: active staff of the practice who keep or
    give stock (clinicians and admins)."""
    return (
        User.objects.filter(is_active=True, outside_practice=False)
        .filter(Q(is_practice_admin=True) | Q(is_prescriber=True) | Q(is_therapist=True))
        .order_by("full_name", "pk")
    )


class InventoryHeadForm(SentOnce, forms.Form):
    """When the inventory was taken, at which end of the day, and by whom."""

    kind = forms.ChoiceField(
        label="Which inventory",
        choices=[
            (Inventory.Kind.BIENNIAL, Inventory.Kind.BIENNIAL.label),
            (Inventory.Kind.OTHER, Inventory.Kind.OTHER.label),
        ],
        widget=RadioSelect,
        initial=Inventory.Kind.BIENNIAL,
    )
    taken_on = forms.DateField(label="Date taken", widget=DateInput())
    time_of_day = forms.ChoiceField(label="Taken", choices=Inventory.TimeOfDay.choices, widget=RadioSelect)
    taken_by = forms.ModelChoiceField(label="Taken by", queryset=User.objects.none())
    note = forms.CharField(
        label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )

    def __init__(self, *args, initial_inventory: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["taken_by"].queryset = takers()
        if initial_inventory:
            del self.fields["kind"]
            self.fields["no_stock"] = forms.BooleanField(
                label="There is no stock on hand: the inventory is zero",
                required=False,
                help_text="Tick this only when every row is empty because nothing is held.",
            )


class OpeningRowForm(forms.Form):
    """One lot on hand at the initial inventory, as its label gives it. A row left empty is
    skipped."""

    drug = forms.ChoiceField(label="Drug", choices=[("", "—")] + list(MedicationOrder.Drug.choices))
    product = forms.CharField(label="Product, as on the label", max_length=150)
    form = forms.ChoiceField(label="Finished form", choices=[("", "—")] + list(Lot.Form.choices))
    strength_mg = forms.DecimalField(
        label="Strength (mg per mL, device or tablet)",
        min_value=Decimal("0.01"),
        max_digits=8,
        decimal_places=2,
    )
    container_quantity = forms.DecimalField(
        label="Each container holds (mL, devices or tablets)",
        min_value=Decimal("0.0001"),
        max_digits=10,
        decimal_places=4,
    )
    ndc = forms.CharField(label="NDC", max_length=13, required=False)
    compounded = forms.BooleanField(label="Compounded (no NDC)", required=False)
    lot_number = forms.CharField(label="Lot number", max_length=40)
    expires_on = forms.DateField(label="Expiry date", widget=DateInput())
    full_containers = _containers()
    open_quantity = _quantity("In opened containers")
    awaiting_disposal = forms.BooleanField(label="Damaged or expired, awaiting disposal", required=False)

    def clean(self):
        data = super().clean()
        if data.get("full_containers") is None:
            data["full_containers"] = 0
        if data.get("open_quantity") is None:
            data["open_quantity"] = Decimal("0")
        if not self.errors and not data["full_containers"] and not data["open_quantity"]:
            raise forms.ValidationError(
                "Nothing is counted in this row: give the unopened containers or what is in opened ones, "
                "or clear the row."
            )
        return data


class _OpeningRows(forms.BaseFormSet):
    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or form.errors:
                continue
            key = (data["drug"], data["form"], data["strength_mg"], data["lot_number"].strip())
            if key in seen:
                raise forms.ValidationError(f"Lot {data['lot_number']} is listed twice: give each lot once.")
            seen.add(key)


OpeningRows = formset_factory(
    OpeningRowForm,
    formset=_OpeningRows,
    extra=FIRST_ROWS,
    max_num=MAX_ROWS,
    absolute_max=MAX_ROWS,
    validate_max=True,
)


class CountForm(forms.Form):
    """A count for each lot to count: unopened containers, what is in opened ones, and whether
    it awaits disposal. Each lot's fields are named after its id."""

    def __init__(self, *args, lots, **kwargs):
        super().__init__(*args, **kwargs)
        self.lots = list(lots)
        for lot in self.lots:
            self.fields[f"full_{lot.pk}"] = forms.IntegerField(
                label=f"Lot {lot.lot_number}: unopened containers", min_value=0, max_value=100000, initial=0
            )
            self.fields[f"open_{lot.pk}"] = _quantity(
                f"Lot {lot.lot_number}: in opened containers ({units(lot)})",
                required=True,
            )
            self.fields[f"open_{lot.pk}"].initial = 0
            self.fields[f"disposal_{lot.pk}"] = forms.BooleanField(
                label=f"Lot {lot.lot_number}: damaged or expired, awaiting disposal", required=False
            )

    def rows(self):
        """(lot, its three fields) for the template's table."""
        return [
            (lot, self[f"full_{lot.pk}"], self[f"open_{lot.pk}"], self[f"disposal_{lot.pk}"])
            for lot in self.lots
        ]

    def counts(self) -> list[dict]:
        return [
            {
                "lot": lot,
                "full_containers": self.cleaned_data[f"full_{lot.pk}"],
                "open_quantity": self.cleaned_data[f"open_{lot.pk}"],
                "awaiting_disposal": self.cleaned_data[f"disposal_{lot.pk}"],
            }
            for lot in self.lots
        ]


class ExplainForm(forms.Form):
    outcome = forms.ChoiceField(label="What it was", choices=Discrepancy.Outcome.choices, widget=RadioSelect)
    explanation = forms.CharField(
        label="Explanation",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you found and what was done. It is written once and cannot be changed.",
    )

    def __init__(self, *args, surplus: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if surplus:
            self.fields["outcome"].choices = [
                choice for choice in Discrepancy.Outcome.choices if choice[0] not in ("loss", "theft")
            ]


class LossReportForm(SentOnce, forms.Form):
    kind = forms.ChoiceField(
        label="What it was",
        choices=[(kind.value, kind.label) for kind in LossReport.REPORTED],
        widget=RadioSelect,
    )
    discovered_on = forms.DateField(label="Discovered on", widget=DateInput())
    discovered_time = forms.TimeField(
        label="At about", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    description = forms.CharField(
        label="What happened",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What is missing, where it was kept, who found it and how.",
    )

    def __init__(self, *args, lots=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.lots = list(lots)
        for lot in self.lots:
            self.fields[f"lost_{lot.pk}"] = _quantity(
                f"Lost from lot {lot.lot_number} ({units(lot)})",
                help_text=f"It holds {quantity_text(lot.balance, lot)}.",
            )

    def lot_fields(self):
        return [self[f"lost_{lot.pk}"] for lot in self.lots]

    def clean(self):
        data = super().clean()
        day, time = data.get("discovered_on"), data.get("discovered_time")
        if day and time:
            data["discovered_at"] = timezone.make_aware(datetime.datetime.combine(day, time))
        return data

    def losses(self) -> list[tuple]:
        return [
            (lot, self.cleaned_data[f"lost_{lot.pk}"])
            for lot in self.lots
            if self.cleaned_data.get(f"lost_{lot.pk}")
        ]


class StepForm(forms.Form):
    step = forms.ChoiceField(label="Step", choices=LossReportStep.Step.choices, widget=RadioSelect)
    done_on = forms.DateField(label="Date", widget=DateInput())
    reference = forms.CharField(
        label="Reference (confirmation or form number)", max_length=100, required=False
    )
    note = forms.CharField(
        label="Note", max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, done=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["step"].choices = [c for c in LossReportStep.Step.choices if c[0] not in done]
