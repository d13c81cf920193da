"""The stock pages' forms (docs/stock-ledger.md). Each checks what a person can put right by
typing (a DEA number's check digit, an NDC's shape, a date in the future); the service checks
it all again, and what only the ledger knows (the balance) comes back from it as a form error."""

import copy
import datetime
from decimal import Decimal

from django import forms
from django.utils import timezone

from kapflow.accounts.witness_forms import WitnessFields
from kapflow.controlled import stock
from kapflow.controlled.ledger import quantity_text
from kapflow.controlled.models import Entry, Lot
from kapflow.controlled.ndc import ndc_problem
from kapflow.lib.forms import DateInput, RadioSelect, SentOnce
from kapflow.lib.identifiers import DEA_NUMBER_PROBLEM, dea_number_valid
from kapflow.lib.params import EARLIEST_DATE, LATEST_DATE
from kapflow.medical.models import MedicationOrder

QUANTITY = {"max_digits": 12, "decimal_places": 4, "min_value": Decimal("0.0001")}


def _date_problem(day: datetime.date, *, future_ok: bool = False) -> str:
    if day < EARLIEST_DATE or day > LATEST_DATE:
        return "Give a real date, as YYYY-MM-DD."
    if not future_ok and day > timezone.localdate():
        return "That date is in the future: give the day it actually happened."
    return ""


class LotChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, lot: Lot) -> str:
        return (
            f"{lot.product} — {lot.strength_text}, lot {lot.lot_number}, expires {lot.expires_on:%Y-%m-%d}, "
            f"containers of {quantity_text(lot.container_quantity, lot)}"
        )


class KeeperChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        return user.display_name


class _DateChecks:
    date_fields: tuple[str, ...] = ()

    def _check_dates(self) -> None:
        for name in self.date_fields:
            day = self.cleaned_data.get(name)
            if day is not None and (problem := _date_problem(day)):
                self.add_error(name, problem)


class _PartyFields(forms.Form):
    party_name = forms.CharField(label="Name", max_length=150, required=False)
    party_address = forms.CharField(label="Address", max_length=250, required=False)
    party_dea_number = forms.CharField(
        label="DEA number",
        max_length=9,
        required=False,
        help_text="Two letters and seven digits, from their DEA registration (for example AB1234563).",
    )

    def _check_dea(self, name: str) -> None:
        value = self.cleaned_data.get(name, "")
        if value and not dea_number_valid(value):
            self.add_error(name, DEA_NUMBER_PROBLEM)


class ReceiptForm(SentOnce, _DateChecks, forms.Form):
    """A receipt: into a lot the practice holds, or a new lot described from its label."""

    date_fields = ("received_on",)
    EXISTING, NEW = "existing", "new"
    # What a new lot needs, and what to say when it is missing.
    NEW_LOT_FIELDS = {
        "drug": "Choose the drug of the new lot.",
        "product": "Give the product's name as on the label.",
        "form": "Choose the finished form: vial, nasal spray device, or tablet or troche.",
        "strength_mg": "Give the strength of the new lot, in mg per mL, device or tablet.",
        "container_quantity": "Give what each container holds (mL, devices or tablets).",
        "lot_number": "Give the lot number printed on the label.",
        "expires_on": "Give the expiry date printed on the label.",
    }

    which = forms.ChoiceField(
        label="Which lot",
        choices=[(EXISTING, "A lot the practice holds"), (NEW, "A new lot, described from its label")],
        widget=RadioSelect,
    )
    lot = LotChoiceField(label="Lot", queryset=Lot.objects.none(), required=False)
    drug = forms.ChoiceField(label="Drug", choices=[("", "—"), *MedicationOrder.Drug.choices], required=False)
    product = forms.CharField(
        label="Product",
        max_length=150,
        required=False,
        help_text="As on the label, e.g. “Ketamine HCl injection, 10 mL multi-dose vial”.",
    )
    form = forms.ChoiceField(
        label="Finished form", choices=Lot.Form.choices, widget=RadioSelect, required=False
    )
    strength_mg = forms.DecimalField(
        label="Strength (mg in each mL, device or tablet)",
        max_digits=8,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
    )
    container_quantity = forms.DecimalField(
        label="Each container holds (mL, devices or tablets)",
        help_text="A 10 mL vial holds 10; a kit of three nasal spray devices holds 3.",
        max_digits=10,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        required=False,
    )
    ndc = forms.CharField(
        label="NDC",
        max_length=13,
        required=False,
        help_text="As printed on the package, with its hyphens (for example 50458-028-02).",
    )
    compounded = forms.BooleanField(
        label="Compounded: no NDC",
        required=False,
        help_text="A product a pharmacy compounded has no NDC. Tick this only then.",
    )
    lot_number = forms.CharField(label="Lot number", max_length=40, required=False)
    expires_on = forms.DateField(label="Expiry date", widget=DateInput(), required=False)
    containers = forms.IntegerField(label="Containers received", min_value=1, max_value=100000)
    received_on = forms.DateField(
        label="Date received", widget=DateInput(), help_text="The day the stock actually arrived."
    )
    supplier_name = forms.CharField(label="Supplier's name", max_length=150)
    supplier_address = forms.CharField(label="Supplier's address", max_length=250)
    supplier_dea_number = forms.CharField(
        label="Supplier's DEA number",
        max_length=9,
        help_text="From the invoice or packing slip: two letters and seven digits.",
    )
    reference = forms.CharField(label="Invoice or packing slip number", max_length=100)
    received_by = KeeperChoiceField(label="Received by", queryset=stock.stock_keepers())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lot"].queryset = Lot.objects.filter(expires_on__gte=timezone.localdate())
        self.fields["received_by"].queryset = stock.stock_keepers().order_by("full_name")

    def clean_supplier_dea_number(self) -> str:
        value = self.cleaned_data["supplier_dea_number"].strip().upper()
        if not dea_number_valid(value):
            raise forms.ValidationError(DEA_NUMBER_PROBLEM)
        return value

    def clean(self):
        data = super().clean()
        self._check_dates()
        which = data.get("which")
        if which == self.EXISTING:
            if data.get("lot") is None and "lot" not in self.errors:
                self.add_error("lot", "Choose the lot received, or describe a new one.")
        elif which == self.NEW:
            self._clean_new_lot(data)
        return data

    def _clean_new_lot(self, data) -> None:
        for name, missing in self.NEW_LOT_FIELDS.items():
            if data.get(name) in (None, "") and name not in self.errors:
                self.add_error(name, missing)
        ndc = data.get("ndc", "").strip()
        if data.get("compounded"):
            if ndc:
                self.add_error("ndc", "A compounded product has no NDC: clear it, or untick “compounded”.")
        elif not ndc:
            self.add_error("ndc", "Give the NDC printed on the package, or tick “compounded: no NDC”.")
        elif problem := ndc_problem(ndc):
            self.add_error("ndc", problem)
        expires_on = data.get("expires_on")
        if expires_on is not None:
            if problem := _date_problem(expires_on, future_ok=True):
                self.add_error("expires_on", problem)
            elif expires_on < timezone.localdate():
                self.add_error(
                    "expires_on", "That lot has expired: expired stock is not received into the ledger."
                )
        described = all(
            data.get(name) not in (None, "") for name in ("drug", "form", "strength_mg", "lot_number")
        )
        same = described and stock.lot_exists(
            drug=data["drug"],
            form=data["form"],
            strength_mg=data["strength_mg"],
            lot_number=data["lot_number"],
        )
        if same:
            self.add_error(
                "lot_number",
                f"Lot {same.lot_number} of this product is recorded already: choose it under "
                "“a lot the practice holds” instead.",
            )

    def new_lot(self) -> Lot:
        data = self.cleaned_data
        return Lot(
            drug=data["drug"],
            product=data["product"],
            form=data["form"],
            strength_mg=data["strength_mg"],
            container_quantity=data["container_quantity"],
            ndc=data.get("ndc", ""),
            lot_number=data["lot_number"],
            expires_on=data["expires_on"],
        )


class SendForm(SentOnce, _DateChecks, _PartyFields):
    """A transfer to another registrant or a return to the supplier."""

    date_fields = ("occurred_on",)
    field_order = [
        "quantity",
        "occurred_on",
        "person",
        "party_name",
        "party_address",
        "party_dea_number",
        "reference",
        "reason",
    ]

    quantity = forms.DecimalField(label="Quantity", **QUANTITY)
    occurred_on = forms.DateField(label="Date", widget=DateInput())
    person = KeeperChoiceField(label="Sent by", queryset=stock.stock_keepers())
    reference = forms.CharField(label="Invoice or document number", max_length=100)
    reason = forms.CharField(
        label="Note", widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000
    )

    def __init__(self, *args, lot: Lot, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.lot, self.kind = lot, kind
        self.fields["person"].queryset = stock.stock_keepers().order_by("full_name")
        self.fields["quantity"].label = f"Quantity ({lot.unit})"
        self.fields["quantity"].help_text = f"In the lot's unit: {lot.strength_text}."
        who = "supplier" if kind == Entry.Kind.RETURN else "registrant receiving it"
        for name in ("party_name", "party_address", "party_dea_number"):
            self.fields[name].required = True
            self.fields[name].label = f"The {who}'s {self.fields[name].label.lower().replace('dea', 'DEA')}"

    def clean(self):
        data = super().clean()
        self._check_dates()
        self._check_dea("party_dea_number")
        return data


def _witness_fields(prefix: str, who: str) -> dict[str, forms.Field]:
    """The witness's own sign-in fields (kapflow.accounts.witness_forms), once per witness."""
    fields = {}
    for name, field in WitnessFields.base_fields.items():
        field = copy.deepcopy(field)
        field.required = False
        field.label = field.label.replace("Witness's", f"{who}'s")
        fields[name.replace("witness", prefix, 1)] = field
    return fields


class DestructionForm(SentOnce, _DateChecks, _PartyFields):
    """A destruction: by a reverse distributor, or on site before two witnesses."""

    date_fields = ("occurred_on",)
    REVERSE_DISTRIBUTOR, ON_SITE = "reverse_distributor", "on_site"

    method = forms.ChoiceField(
        label="How it is destroyed",
        choices=[
            (REVERSE_DISTRIBUTOR, "Sent to a reverse distributor, who destroys it"),
            (ON_SITE, "Destroyed here, before two witnesses"),
        ],
        widget=RadioSelect,
    )
    quantity = forms.DecimalField(label="Quantity", **QUANTITY)
    occurred_on = forms.DateField(label="Date", widget=DateInput())
    person = KeeperChoiceField(label="Destroyed or sent by", queryset=stock.stock_keepers())
    reference = forms.CharField(
        label="DEA Form 41 or invoice number",
        max_length=100,
        help_text="On site: the Form 41 that records it. By a reverse distributor: their Form 41 or invoice.",
    )
    reason = forms.CharField(
        label="Why, and how",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
        help_text="Expired, damaged or unwanted; on site, the method used. Needed for a destruction on site.",
    )

    field_order = [
        "method",
        "quantity",
        "occurred_on",
        "person",
        "party_name",
        "party_dea_number",
        "reference",
        "reason",
    ]

    def __init__(self, *args, lot: Lot, **kwargs):
        super().__init__(*args, **kwargs)
        self.lot = lot
        del self.fields["party_address"]
        self.fields["person"].queryset = stock.stock_keepers().order_by("full_name")
        self.fields["quantity"].label = f"Quantity ({lot.unit})"
        self.fields["quantity"].help_text = f"In the lot's unit: {lot.strength_text}."
        self.fields["party_name"].label = "Reverse distributor's name"
        self.fields["party_dea_number"].label = "Reverse distributor's DEA number"
        self.fields.update(_witness_fields("witness", "First witness"))
        self.fields.update(_witness_fields("second_witness", "Second witness"))

    def clean(self):
        data = super().clean()
        self._check_dates()
        if data.get("method") == self.REVERSE_DISTRIBUTOR:
            for name in ("party_name", "party_dea_number"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, "Needed when a reverse distributor takes the stock.")
            self._check_dea("party_dea_number")
        elif data.get("method") == self.ON_SITE:
            if not data.get("reason", "").strip() and "reason" not in self.errors:
                self.add_error("reason", "Say how the stock was destroyed, and why.")
            for prefix in ("witness", "second_witness"):
                for part, words in (("email", "email"), ("password", "password")):
                    name = f"{prefix}_{part}"
                    if not data.get(name) and name not in self.errors:
                        self.add_error(name, f"The witness types their own {words} here.")
            first = (data.get("witness_email") or "").strip().lower()
            second = (data.get("second_witness_email") or "").strip().lower()
            if first and first == second:
                self.add_error("second_witness_email", "The two witnesses must be two different people.")
        return data


class CorrectionForm(forms.Form):
    reason = forms.CharField(
        label="Why is this entry reversed?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="For example: “posted to the wrong lot”, “quantity typed as 10 mL, was 1 mL”.",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the entry is reversed.")
        return reason


class RepostForm(forms.Form):
    lot = LotChoiceField(label="The lot the dose came from", queryset=Lot.objects.none())
    reason = forms.CharField(
        label="Why",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="For example: “posted to lot 123 by mistake; the vial used was lot 456”.",
    )

    def __init__(self, *args, lots, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lot"].queryset = lots

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the dose is posted to this lot.")
        return reason
