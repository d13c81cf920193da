"""The reports' choices, read from the query string (anyone can write one): a period, and for the
ledger report a lot or a drug. A bad value comes back to the form with what to fix, never a 500
(docs/controlled-reports.md)."""

from django import forms

from kapflow.controlled.reports import Period, Scope
from kapflow.lib.dates import long_date
from kapflow.lib.forms import DateInput
from kapflow.lib.params import EARLIEST_DATE, LATEST_DATE
from kapflow.medical.models import MedicationOrder


class PeriodForm(forms.Form):
    date_from = forms.DateField(label="From", widget=DateInput)
    date_to = forms.DateField(label="To (inclusive)", widget=DateInput)

    DATES = ("date_from", "date_to")

    def __init__(self, query, *, default: Period, **kwargs):
        # A date left out or left blank is the default period's: the page opens on the retention
        # period, and "From" alone reads up to today.
        data = {name: query.get(name) for name in query if name in self.base_fields}
        for name, value in (("date_from", default.start), ("date_to", default.end)):
            if not (data.get(name) or "").strip():
                data[name] = value.isoformat()
        super().__init__(data, **kwargs)

    def _in_range(self, name: str):
        value = self.cleaned_data[name]
        if not EARLIEST_DATE <= value <= LATEST_DATE:
            raise forms.ValidationError(
                f"Choose a date between {long_date(EARLIEST_DATE)} and {long_date(LATEST_DATE)}."
            )
        return value

    def clean_date_from(self):
        return self._in_range("date_from")

    def clean_date_to(self):
        return self._in_range("date_to")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(
                f"The period ends before it starts: choose a 'From' date on or before {long_date(end)}."
            )
        return cleaned

    @property
    def period(self) -> Period:
        return Period(self.cleaned_data["date_from"], self.cleaned_data["date_to"])


class LedgerReportForm(PeriodForm):
    lot = forms.TypedChoiceField(
        label="Lot", coerce=int, required=False, empty_value=None, help_text="Leave it at “Every lot” "
        "for every lot of the drug chosen below, or of every drug."
    )  # fmt: skip
    drug = forms.ChoiceField(
        label="Drug", required=False, choices=[("", "Every drug"), *MedicationOrder.Drug.choices]
    )

    field_order = ["lot", "drug", "date_from", "date_to"]

    def __init__(self, query, *, default: Period, lots: list[tuple[int, str]], **kwargs):
        super().__init__(query, default=default, **kwargs)
        self.fields["lot"].choices = [("", "Every lot"), *lots]

    @property
    def scope(self) -> Scope:
        lot = self.cleaned_data.get("lot")
        if lot is not None:
            return Scope(lot_id=lot)
        return Scope(drug=self.cleaned_data.get("drug") or "")

    def query(self) -> str:
        """The cleaned choices as a query string, for the downloads and the pages' links."""
        from urllib.parse import urlencode

        period = self.period
        values = {"date_from": period.start.isoformat(), "date_to": period.end.isoformat()}
        if self.cleaned_data.get("lot") is not None:
            values["lot"] = self.cleaned_data["lot"]
        elif self.cleaned_data.get("drug"):
            values["drug"] = self.cleaned_data["drug"]
        return urlencode(values)


class DispensingForm(PeriodForm):
    def query(self) -> str:
        from urllib.parse import urlencode

        period = self.period
        return urlencode({"date_from": period.start.isoformat(), "date_to": period.end.isoformat()})
