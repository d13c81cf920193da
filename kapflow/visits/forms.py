import datetime
import functools

from django import forms
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.lib.forms import DateInput, RadioSelect
from kapflow.visits.models import DEFAULT_MINUTES, Room, Visit
from kapflow.visits.services import Slot


class DateTimeInput(forms.DateTimeInput):
    """The browser's own date-and-time picker, with the value in the format it expects."""

    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


class ClinicianChoice(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        return user.display_name


class CliniciansChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user) -> str:
        return user.display_name

    def _check_values(self, value):
        """A number no id can be (past bigint: SQLite cannot even compare it) is simply not one of
        the choices, as Django already says for a single choice."""
        for pk in value:
            text = str(pk).strip()
            digits = text.lstrip("-")
            # Checked by length first: Python refuses to read an integer of thousands of digits.
            if digits.isdecimal() and (len(digits) > 19 or not -(2**63) <= int(text) < 2**63):
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice", params={"value": text}
                )
        return super()._check_values(value)


def read_once(queryset, *fields):
    """Give `fields` the rows of `queryset`, read from the database once, when first drawn. A
    model choice field reads its queryset again each time its widget is drawn, and two fields of
    one form offering the same rows (the clinician and those joining) each read them: two or
    three reads of one list on a booking page. What a person submits is still checked against
    the queryset, and a form that is not drawn (a booking that succeeds) reads no list. Returns
    the rows' reader, for whatever else the form draws from them."""
    rows = functools.cache(lambda: list(queryset))
    for field in fields:
        field.queryset = queryset
        field.choices = functools.partial(_choices, field, rows)
    return rows


def _choices(field, rows) -> list:
    iterator = field.iterator(field)
    empty = [("", field.empty_label)] if field.empty_label is not None else []
    return empty + [iterator.choice(row) for row in rows()]


def _lengths_help() -> str:
    return (
        "Leave empty for the usual length: "
        + "; ".join(f"{kind.label.lower()} {minutes} min" for kind, minutes in DEFAULT_MINUTES.items())
        + "."
    )


# A booking form's starting room: the first of the active rooms it lists, read with the list.
FIRST_ROOM = object()


class WhereForm(forms.Form):
    """Who and where: the part of a booking that a single visit and a series share. Given
    FIRST_ROOM as its starting room, it starts on the first room of its list (not a query of its
    own for that room)."""

    clinician = ClinicianChoice(queryset=User.objects.none(), empty_label=None)
    modality = forms.ChoiceField(label="Where", choices=Visit.Modality.choices, widget=RadioSelect)
    room = forms.ModelChoiceField(
        queryset=Room.objects.none(), required=False, help_text="For an in-person visit."
    )
    video_link = forms.URLField(
        label="Video link",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="For a virtual visit; may be added later.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        read_once(User.objects.clinicians().order_by("full_name"), *self._clinician_fields())
        rooms = read_once(Room.objects.filter(active=True), self.fields["room"])
        if self.initial.get("room") is FIRST_ROOM:
            self.initial["room"] = lambda: next(iter(rooms()), None)

    def _clinician_fields(self) -> list:
        return [self.fields["clinician"]]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("modality") == Visit.Modality.IN_PERSON and not cleaned.get("room"):
            self.add_error("room", "Choose the room for an in-person visit.")
        if cleaned.get("modality") == Visit.Modality.VIRTUAL:
            cleaned["room"] = None
        else:
            cleaned["video_link"] = ""
        return cleaned


# How far from today a visit may be booked: far enough for any real schedule, near enough that
# a mistyped year (or 9999-12-31, and the end time after it) is caught before it overflows.
BOOKABLE_YEARS = 5


def bookable_day(day: datetime.date) -> datetime.date:
    today = timezone.localdate()
    if abs((day - today).days) > BOOKABLE_YEARS * 366:
        raise forms.ValidationError(
            f"Check the year: a visit is booked within {BOOKABLE_YEARS} years of today."
        )
    return day


class VisitForm(WhereForm):
    kind = forms.ChoiceField(label="Kind of visit", choices=Visit.Kind.choices)
    starts_at = forms.DateTimeField(label="Starts at", widget=DateTimeInput())
    minutes = forms.IntegerField(
        label="Length (minutes)", required=False, min_value=5, max_value=12 * 60, help_text=_lengths_help()
    )
    other_clinicians = CliniciansChoice(
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Other clinicians joining",
    )

    field_order = [
        "kind",
        "starts_at",
        "minutes",
        "clinician",
        "other_clinicians",
        "modality",
        "room",
        "video_link",
    ]

    def _clinician_fields(self) -> list:
        return [self.fields["clinician"], self.fields["other_clinicians"]]

    def clean_starts_at(self) -> datetime.datetime:
        starts_at = self.cleaned_data["starts_at"]
        bookable_day(starts_at.date())
        return starts_at

    def slot(self) -> Slot:
        data = self.cleaned_data
        minutes = data.get("minutes") or DEFAULT_MINUTES[Visit.Kind(data["kind"])]
        return Slot(
            kind=data["kind"],
            starts_at=data["starts_at"],
            ends_at=data["starts_at"] + datetime.timedelta(minutes=minutes),
            clinician=data["clinician"],
            modality=data["modality"],
            room=data["room"],
            video_link=data["video_link"],
            other_clinicians=list(data.get("other_clinicians") or []),
        )


class RescheduleForm(VisitForm):
    """The same fields as booking, but the kind stays what it was."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["kind"]
        self.fields["minutes"].help_text = "Leave empty to keep the visit's present length."

    def slot_for(self, visit: Visit) -> Slot:
        self.cleaned_data["kind"] = visit.kind
        if not self.cleaned_data.get("minutes"):
            self.cleaned_data["minutes"] = visit.minutes
        return self.slot()


class SeriesStartForm(forms.Form):
    """Where the proposal begins (read from the query string: changing it proposes again)."""

    first_day = forms.DateField(label="First medication session on", widget=DateInput())
    at = forms.TimeField(label="At", widget=TimeInput())

    def clean_first_day(self) -> datetime.date:
        return bookable_day(self.cleaned_data["first_day"])


class SeriesRowForm(forms.Form):
    book = forms.BooleanField(label="Book", required=False)
    kind = forms.ChoiceField(choices=Visit.Kind.choices, widget=forms.HiddenInput)
    number = forms.IntegerField(widget=forms.HiddenInput)
    day = forms.DateField(label="Day", widget=DateInput())
    time = forms.TimeField(label="Time", widget=TimeInput())
    minutes = forms.IntegerField(label="Minutes", min_value=5, max_value=12 * 60)

    def clean_day(self) -> datetime.date:
        return bookable_day(self.cleaned_data["day"])

    @property
    def label(self) -> str:
        kind = self["kind"].value()
        number = self["number"].value()
        return f"{'Medication session' if kind == Visit.Kind.MEDICATION else 'Integration after'} {number}"

    @property
    def is_medication(self) -> bool:
        return self["kind"].value() == Visit.Kind.MEDICATION

    def starts_at(self) -> datetime.datetime:
        data = self.cleaned_data
        return timezone.make_aware(datetime.datetime.combine(data["day"], data["time"]))


SeriesRows = forms.formset_factory(SeriesRowForm, extra=0)


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Why is it cancelled?",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example: client ill, rescheduled at their request, clinician unavailable.",
    )


class RoomForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = ["name", "rems_certified", "rems_setting_id"]

    def clean(self):
        data = super().clean()
        # The setting's certification is on record only with its REMS setting ID
        # (docs/spravato-rems.md): a room is not marked certified without it.
        data["rems_setting_id"] = (data.get("rems_setting_id") or "").strip()
        if data.get("rems_certified") and not data["rems_setting_id"]:
            self.add_error(
                "rems_setting_id",
                "Enter the setting's REMS ID from its certification, or untick “certified”.",
            )
        return data
