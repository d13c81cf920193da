"""The forms of the staff's billing pages (kapflow.billing.views): the client's billing profile, and
a payment, a refund or a write-off against an invoice. Amounts are typed as dollars and cents and
read by kapflow.billing.services.parse_amount (never a float); the limits that depend on what is
already recorded (the balance, what is left of a payment) are the service's, after its lock."""

from django import forms
from django.utils import timezone

from kapflow.billing.models import BillingProfile, Entry
from kapflow.billing.services import BillingRefused, money, parse_amount
from kapflow.lib.forms import DateInput, RadioSelect, SentOnce, cleaned_npi


class BillingProfileForm(forms.ModelForm):
    class Meta:
        model = BillingProfile
        fields = [
            "self_pay",
            "insurer",
            "member_id",
            "group_number",
            "policy_holder",
            "policy_holder_address",
            "referring_name",
            "referring_npi",
        ]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "profile_%s")
        super().__init__(*args, **kwargs)

    def clean_referring_npi(self):
        return cleaned_npi(self.cleaned_data.get("referring_npi", ""))

    def clean(self):
        data = super().clean()
        if data.get("referring_npi") and not data.get("referring_name", "").strip():
            self.add_error("referring_name", "Name the referring provider whose NPI this is.")
        return data


class _Money(SentOnce):
    amount = forms.CharField(label="Amount ($)", max_length=20)
    received_on = forms.DateField(label="Date", widget=DateInput())

    def __init__(self, *args, prefix_id: str, **kwargs):
        kwargs.setdefault("auto_id", f"{prefix_id}_%s")
        kwargs.setdefault("initial", {}).setdefault("received_on", timezone.localdate())
        super().__init__(*args, **kwargs)

    def clean_amount(self):
        try:
            return parse_amount(self.cleaned_data["amount"])
        except BillingRefused as refused:
            raise forms.ValidationError(str(refused)) from None

    def clean_received_on(self):
        day = self.cleaned_data["received_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("The date cannot be in the future.")
        return day


class PaymentForm(_Money):
    method = forms.ChoiceField(label="How it was paid", choices=Entry.Method.choices, widget=RadioSelect)
    reference = forms.CharField(
        label="Reference",
        max_length=80,
        required=False,
        help_text="A receipt, cheque or card-terminal reference, if there is one.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix_id="payment", **kwargs)
        self.fields["received_on"].label = "Date received"


class RefundForm(_Money):
    payment = forms.TypedChoiceField(label="The payment returned", coerce=int, widget=RadioSelect)
    method = forms.ChoiceField(label="How it was returned", choices=Entry.Method.choices, widget=RadioSelect)
    reference = forms.CharField(label="Reference", max_length=80, required=False)
    reason = forms.CharField(label="Why it is refunded", max_length=250)

    def __init__(self, *args, payments: list[tuple[Entry, object]], **kwargs):
        super().__init__(*args, prefix_id="refund", **kwargs)
        self.fields["received_on"].label = "Date returned"
        self.fields["payment"].choices = [
            (
                payment.pk,
                f"{money(payment.amount)} on {payment.received_on:%b} {payment.received_on.day}, "
                f"{payment.received_on.year} ({payment.get_method_display()}), {money(left)} left to refund",
            )
            for payment, left in payments
        ]
        self.fields["payment"].error_messages["invalid_choice"] = "Choose one of this invoice's payments."
        field_order = ["payment", "amount", "method", "reference", "received_on", "reason"]
        self.order_fields(field_order)


class WriteOffForm(_Money):
    reason = forms.CharField(label="Why it will not be collected", max_length=250)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix_id="write_off", **kwargs)
