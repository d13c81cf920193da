"""The period of the income page: whole calendar months, from one month to another (docs/income.md,
"The period"). Not the outcome report's PeriodForm: that one allows only an ended quarter, a rule
against singling out one client's scores, while income is the practice's own money, read month
by month up to the one running now."""

import datetime
import re

from django import forms
from django.utils import timezone

from kapflow.outcomes.forms import EARLIEST, LATEST
from kapflow.outcomes.income import first_of, month_label, next_month

# ASCII digits only (a query string may carry any script's digits): 2026-03.
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
# Ten years a page: a table a person can read, and a bound on the months it lists.
MAX_MONTHS = 120


def default_months(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """The last twelve months, this one included."""
    this = first_of(today or timezone.localdate())
    return next_month(this.replace(year=this.year - 1)), this


class MonthInput(forms.TextInput):
    input_type = "month"

    def format_value(self, value):
        if isinstance(value, datetime.date):
            return f"{value:%Y-%m}"
        return super().format_value(value)


class MonthField(forms.Field):
    """A calendar month typed as 2026-03 (what a browser's month picker sends), as its first day."""

    widget = MonthInput
    default_error_messages = {"invalid": "Give the month as year and month, for example 2026-03."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.date):
            return first_of(value)
        match = _MONTH.fullmatch(str(value).strip())
        # Year 0000 is no date at all: datetime.date would raise rather than answer.
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        month = datetime.date(int(match.group(1)), int(match.group(2)), 1)
        if not first_of(EARLIEST) <= month <= first_of(LATEST):
            raise forms.ValidationError(
                f"Choose a month between {month_label(EARLIEST)} and {month_label(LATEST)}.", code="range"
            )
        return month


class IncomePeriodForm(forms.Form):
    start = MonthField(label="From (month)")
    end = MonthField(label="To (month, inclusive)")

    @classmethod
    def from_query(cls, query) -> "IncomePeriodForm":
        """Bound to the query string, or to the last twelve months when it names no period."""
        if "start" in query or "end" in query:
            return cls(query)
        start, end = default_months()
        return cls({"start": f"{start:%Y-%m}", "end": f"{end:%Y-%m}"})

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if not (start and end):
            return cleaned
        this = first_of(timezone.localdate())
        if start > end:
            raise forms.ValidationError(
                f"The period ends before it starts: choose a 'From' month on or before {month_label(end)}."
            )
        if end > this:
            raise forms.ValidationError(
                f"{month_label(end)} has not begun: choose {month_label(this)} or an earlier month "
                "as the end."
            )
        if (end.year - start.year) * 12 + end.month - start.month + 1 > MAX_MONTHS:
            raise forms.ValidationError(
                f"Choose at most {MAX_MONTHS} months ({MAX_MONTHS // 12} years) at a time."
            )
        return cleaned
