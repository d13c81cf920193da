import datetime
import re

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from kapflow.accounts.models import User
from kapflow.audit import sentences
from kapflow.lib.params import MAX_ID

# Audit rows are dated when they are written, so a date outside these years is a slip of the
# keyboard; and at the ends of the calendar, the day after (or the same moment in UTC) does not
# exist, which would be a crash instead of an answer.
_IN_RANGE = "Enter a date between the years 1900 and 2999."
_DATE_RANGE = [
    MinValueValidator(datetime.date(1900, 1, 1), _IN_RANGE),
    MaxValueValidator(datetime.date(2999, 12, 31), _IN_RANGE),
]
# A client's record number as the chart shows it (K-00012), or without the K and the zeros.
_RECORD = re.compile(r"(?:K\s*-?\s*)?([0-9]+)", re.IGNORECASE)


class AuditFilterForm(forms.Form):
    """The audit page's filters. Each is an equality on an indexed column, or a date range, so
    that any combination is answered from an index (kapflow.audit.selectors)."""

    client = forms.CharField(
        label="Client record",
        required=False,
        max_length=30,
        help_text="As on the chart, e.g. K-00012.",
        widget=forms.TextInput(attrs={"inputmode": "text", "autocomplete": "off"}),
    )
    actor = forms.ModelChoiceField(
        label="Person",
        # Any account may be asked for (a link from a row of the log names a client's or a
        # guardian's portal account too); the list offers the staff.
        queryset=User.objects.all(),
        required=False,
        empty_label="Anyone",
        error_messages={"invalid_choice": "There is no such person."},
    )
    action = forms.ChoiceField(
        label="Action",
        required=False,
        error_messages={"invalid_choice": "No line of the log has the action %(value)s."},
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=_DATE_RANGE
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}), validators=_DATE_RANGE
    )

    def __init__(self, *args, clients, staff, actions: list[str], **kwargs):
        """`clients`: the clients the person asking may see (kapflow.clients.access.clients_for);
        `staff`: the people the Person list offers; `actions`: every action in the log."""
        super().__init__(*args, **kwargs)
        self.clients = clients
        people = [("", "Anyone")]
        for person in staff:
            people.append((person.pk, person.full_name if person.is_active else f"{person.full_name} (left)"))
        self.fields["actor"].widget.choices = people
        self.fields["action"].choices = [("", "Any action"), *_grouped(actions)]

    def clean_client(self):
        raw = self.cleaned_data["client"].strip()
        if not raw:
            return None
        match = _RECORD.fullmatch(raw)
        if not match:
            raise forms.ValidationError("Enter a client record number, such as K-00012.")
        number = int(match.group(1))
        if number > MAX_ID:
            raise forms.ValidationError("No client has a record number this large.")
        # Only what the page says of them (their name) and the audit row needs (the id).
        names = ("id", "first_name", "last_name", "preferred_name")
        client = self.clients.filter(pk=number).only(*names).first() if number else None
        if client is None:
            raise forms.ValidationError(f"There is no client with the record number K-{number:05d}.")
        return client

    def clean_actor(self):
        person = self.cleaned_data["actor"]
        if person is not None and not any(
            str(pk) == str(person.pk) for pk, _ in self.fields["actor"].widget.choices
        ):
            # Someone the list does not offer (a portal account, from a row's link): keep them
            # selectable, so the page shows whom it is filtered by.
            self.fields["actor"].widget.choices = [
                *self.fields["actor"].widget.choices,
                (person.pk, person.full_name),
            ]
        return person

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("date_from") and cleaned.get("date_to") and cleaned["date_from"] > cleaned["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned


def _grouped(actions: list[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The actions in words, grouped by the part of the practice they belong to; an action the
    log holds that has no sentence (no longer written) is offered by its code, under "Other"."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for code in actions:
        groups.setdefault(sentences.area(code), []).append((code, sentences.label(code)))
    return [(name, sorted(choices, key=lambda choice: choice[1])) for name, choices in sorted(groups.items())]
