"""The form recording a pharmacy's fill of a client's sublingual prescription
(kapflow.controlled.fills)."""

from decimal import Decimal

from django import forms
from django.utils import timezone

from kapflow.controlled.fills import REFILLS_MAX, sublingual_orders
from kapflow.controlled.models import PharmacyFill
from kapflow.lib.forms import DateInput, RadioSelect


class OrderChoice(forms.ModelChoiceField):
    def label_from_instance(self, order) -> str:
        status, _tone = order.status()
        return (
            f"{order} — {order.starts_on:%b} {order.starts_on.day}, {order.starts_on.year} ({status.lower()})"
        )


class FillForm(forms.Form):
    order = OrderChoice(
        queryset=None,
        label="Prescription (the client's sublingual order)",
        empty_label="Choose the order",
        error_messages={"invalid_choice": "Choose one of this client's sublingual orders."},
    )
    pharmacy = forms.CharField(label="Pharmacy", max_length=200)
    pharmacy_phone = forms.CharField(label="Pharmacy's phone", max_length=40, required=False)
    rx_number = forms.CharField(label="Prescription number (Rx) on the label", max_length=40, required=False)
    form = forms.ChoiceField(label="Form", choices=PharmacyFill.Form.choices, widget=RadioSelect)
    strength_mg = forms.DecimalField(
        label="Strength (mg in each unit)", max_digits=8, decimal_places=2, min_value=Decimal("0.01")
    )
    quantity = forms.DecimalField(
        label="Quantity filled (units)",
        max_digits=8,
        decimal_places=2,
        min_value=Decimal("0.5"),
        help_text="Troches or tablets, as on the label.",
    )
    refills_authorised = forms.IntegerField(
        label="Refills on the prescription",
        min_value=0,
        max_value=REFILLS_MAX,
        initial=0,
        help_text=f"A Schedule III prescription allows at most {REFILLS_MAX} (21 CFR 1306.22).",
    )
    refill_number = forms.IntegerField(
        label="This fill",
        min_value=0,
        max_value=REFILLS_MAX,
        initial=0,
        help_text="0 for the original fill, 1 for the first refill, and so on.",
    )
    filled_on = forms.DateField(label="Fill date", widget=DateInput())
    lot_number = forms.CharField(label="Lot number on the label", max_length=40, required=False)

    def __init__(self, *args, client, **kwargs):
        kwargs.setdefault("auto_id", "fill_%s")
        super().__init__(*args, **kwargs)
        self.fields["order"].queryset = sublingual_orders(client)

    def clean_filled_on(self):
        filled_on = self.cleaned_data["filled_on"]
        if filled_on > timezone.localdate():
            raise forms.ValidationError("The fill date is in the future: record a fill once it is filled.")
        return filled_on

    def clean(self):
        data = super().clean()
        number, allowed = data.get("refill_number"), data.get("refills_authorised")
        if number is not None and allowed is not None and number > allowed:
            self.add_error(
                "refill_number",
                f"Refill {number} is past the {allowed} refill{'s' if allowed != 1 else ''} on the "
                "prescription: a new prescription is needed — prescriber.",
            )
        return data
