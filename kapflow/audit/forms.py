import datetime

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from kapflow.accounts.models import User

# Audit rows are dated when they are written, so a date outside these years is a slip of the
# keyboard; and at the ends of the calendar, the day after (or the same moment in UTC) does not
# exist, which would be a crash instead of an answer.
_IN_RANGE = "Enter a date between the years 1900 and 2999."
_DATE_RANGE = [
    MinValueValidator(datetime.date(1900, 1, 1), _IN_RANGE),
    MaxValueValidator(datetime.date(2999, 12, 31), _IN_RANGE),
]


class AuditFilterForm(forms.Form):
    client = forms.IntegerField(
        label="Client record number",
        required=False,
        min_value=1,
        # The largest id a bigint column holds; SQLite will not even compare a column with more.
        max_value=2**63 - 1,
        error_messages={"max_value": "No client has a record number this large."},
    )
    actor = forms.ModelChoiceField(
        label="Person", queryset=User.objects.none(), required=False, empty_label="Anyone"
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=_DATE_RANGE
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=_DATE_RANGE
    )
    action = forms.CharField(label="Action contains", required=False, max_length=100)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["actor"].queryset = User.objects.order_by("full_name")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("date_from") and cleaned.get("date_to") and cleaned["date_from"] > cleaned["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned
