"""The fee schedule page's forms (docs/billing.md, "The fee schedule page"): the day to show, a new
line (or a change of one, its kind, band and code fixed), and a withdrawal. Each field is checked
here with the service's own rules (kapflow.billing.schedule), so a mistake comes back beside its
field with what was typed; the service checks everything again."""

from django import forms
from django.utils import timezone

from kapflow.billing import schedule
from kapflow.billing.services import BillingRefused
from kapflow.lib.dates import long_date
from kapflow.lib.forms import DateInput
from kapflow.lib.params import EARLIEST_DATE, LATEST_DATE
from kapflow.visits.models import Visit


def _not_past(day):
    if day < timezone.localdate():
        raise forms.ValidationError(schedule.PAST_PROBLEM)
    if day > LATEST_DATE:
        raise forms.ValidationError(f"Choose a day before {long_date(LATEST_DATE)}.")
    return day


class ScheduleDateForm(forms.Form):
    """ "Show the schedule on a date": read from the query string (anyone can write one)."""

    on = forms.DateField(label="Show the schedule on", widget=DateInput(), required=False)

    def clean_on(self):
        day = self.cleaned_data["on"]
        if day is not None and not EARLIEST_DATE <= day <= LATEST_DATE:
            raise forms.ValidationError(
                f"Choose a date between {long_date(EARLIEST_DATE)} and {long_date(LATEST_DATE)}."
            )
        return day


class FeeForm(forms.Form):
    kind = forms.ChoiceField(label="Visit kind", choices=[("", "Choose…"), *Visit.Kind.choices])
    minutes_from = forms.IntegerField(
        label="For visits of at least (minutes)",
        min_value=0,
        max_value=schedule.MAX_MINUTES,
        initial=0,
        help_text="0 for a visit of any length. Add a second line with a higher figure where a longer "
        "visit bills another code or fee (therapy: 90834 from 0, 90837 from 53).",
    )
    code = forms.CharField(
        label="Billing code",
        max_length=5,
        required=False,
        widget=forms.TextInput(attrs={"list": "fee-codes", "autocomplete": "off", "size": 6}),
        help_text="The CPT or HCPCS code, e.g. 90837, 0820T or J0013. Leave it empty for a free visit "
        "(a discovery call).",
    )
    modifiers = forms.CharField(
        max_length=20,
        required=False,
        help_text="Up to four two-character modifiers, separated by spaces. A video visit's modifier "
        "(95) is added by itself from the practice settings.",
    )
    units = forms.IntegerField(
        min_value=1,
        max_value=schedule.MAX_UNITS,
        initial=1,
        help_text="How many units of the code one visit is billed as (0820T–0822T are billed per hour).",
    )
    description = forms.CharField(
        label="Words on the invoice",
        max_length=120,
        help_text="What the client reads, e.g. “Integration session, 60 minutes”.",
    )
    amount = forms.CharField(
        label="Fee ($)",
        max_length=20,
        required=False,
        help_text="In dollars and cents, e.g. 180.00. A free visit (no code) is 0.",
    )
    payer_dependent = forms.BooleanField(
        label="Coverage depends on the payer",
        required=False,
        help_text="Category III codes such as 0820T–0822T: each insurer decides whether it pays. The "
        "superbill says so beside the line.",
    )
    effective_from = forms.DateField(
        label="In force from",
        widget=DateInput(),
        help_text="Today or a later day. The line applies until a later line for the same kind, length "
        "and code replaces or withdraws it.",
    )

    FIXED = ("kind", "minutes_from", "code")

    def __init__(self, *args, change_of=None, **kwargs):
        """`change_of`: the line being changed; its kind, band and code are fixed, the rest
        prefilled from it."""
        if change_of is not None:
            kwargs.setdefault(
                "initial",
                {
                    "kind": change_of.kind,
                    "minutes_from": change_of.minutes_from,
                    "code": change_of.code,
                    "modifiers": change_of.modifiers,
                    "units": change_of.units,
                    "description": change_of.description,
                    "amount": f"{change_of.amount:.2f}",
                    "payer_dependent": change_of.payer_dependent,
                },
            )
        super().__init__(*args, **kwargs)
        self.change_of = change_of
        if change_of is not None:
            for name in self.FIXED:
                self.fields[name].disabled = True
            self.fields["code"].help_text = "A change keeps the code: to bill another code, add a line."

    def clean_code(self):
        code = schedule.clean_code(self.cleaned_data["code"])
        if schedule.code_problem(code):
            raise forms.ValidationError(schedule.CODE_PROBLEM)
        return code

    def clean_modifiers(self):
        try:
            return schedule.clean_modifiers(self.cleaned_data["modifiers"])
        except BillingRefused as refused:
            raise forms.ValidationError(str(refused)) from None

    def clean_effective_from(self):
        return _not_past(self.cleaned_data["effective_from"])

    def clean(self):
        cleaned = super().clean()
        if "code" in cleaned and "amount" in cleaned:
            try:
                cleaned["amount"] = schedule.money_for_line(cleaned["code"], cleaned["amount"])
            except BillingRefused as refused:
                self.add_error("amount", str(refused))
        return cleaned


class WithdrawForm(forms.Form):
    effective_from = forms.DateField(
        label="Withdrawn from",
        widget=DateInput(),
        help_text="From this day visits of this kind stop billing the line. Today or a later day.",
    )

    def clean_effective_from(self):
        return _not_past(self.cleaned_data["effective_from"])
