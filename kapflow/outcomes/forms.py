import datetime

from django import forms
from django.utils import timezone

from kapflow.lib.dates import long_date
from kapflow.outcomes.report import last_ended_quarter, period_problem

# Dates the report can be asked for: wide enough for any practice's records, narrow enough that
# the day after the last one is always a valid date.
EARLIEST = datetime.date(2000, 1, 1)
LATEST = datetime.date(2100, 12, 31)


def default_period(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The latest calendar quarter that has ended (kapflow.outcomes.report, Periods)."""
    return last_ended_quarter(today or timezone.localdate())


class PeriodForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    @classmethod
    def from_query(cls, query) -> "PeriodForm":
        """Bound to the query string, or to the last 12 months when it names no period."""
        if "start" in query or "end" in query:
            return cls(query)
        start, end = default_period()
        return cls({"start": start.isoformat(), "end": end.isoformat()})

    def _in_range(self, name: str) -> datetime.date:
        value = self.cleaned_data[name]
        if not EARLIEST <= value <= LATEST:
            raise forms.ValidationError(
                f"Choose a date between {long_date(EARLIEST)} and {long_date(LATEST)}."
            )
        return value

    def clean_start(self):
        return self._in_range("start")

    def clean_end(self):
        return self._in_range("end")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            raise forms.ValidationError(
                f"The period ends before it starts: choose a 'From' date on or before {long_date(end)}."
            )
        if start and end:
            problem = period_problem(start, end, timezone.localdate())
            if problem:
                raise forms.ValidationError(problem)
        return cleaned
