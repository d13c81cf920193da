"""The form of a written request for a copy of the record (kapflow.records.access_views)."""

from django import forms
from django.utils import timezone

from kapflow.clients.forms import DateInput
from kapflow.letters.models import Disclosure
from kapflow.lib.forms import RadioSelect
from kapflow.records.models import RecordCopy

# 45 CFR 164.524(b)(2): the practice acts on a request within 30 days of receiving it (one
# extension of 30 more, told to the person in writing). A legal period, not a practice's choice.
ACT_WITHIN_DAYS = 30

NAME_MAX = RecordCopy._meta.get_field("delivered_to").max_length
ADDRESS_MAX = Disclosure._meta.get_field("recipient_address").max_length


class RecordRequestForm(forms.Form):
    """A request for a copy of the record, received in writing, and how it is answered."""

    TO_CLIENT, TO_NAMED = "client", "named"

    requested_on = forms.DateField(
        label="Request received on",
        widget=DateInput(),
        help_text=f"The {ACT_WITHIN_DAYS} days the practice has to act run from this day.",
    )
    requested_by = forms.CharField(
        label="Requested by",
        max_length=RecordCopy._meta.get_field("requested_by").max_length,
        help_text="Who signed the request: the client, or their personal representative.",
    )
    deliver_to = forms.ChoiceField(
        label="Deliver to",
        widget=RadioSelect,
        choices=[(TO_CLIENT, "The client"), (TO_NAMED, "A person named in the client's signed request")],
        initial=TO_CLIENT,
    )
    named_person = forms.CharField(
        label="The person named",
        max_length=NAME_MAX,
        required=False,
        help_text="As the client's signed request names them.",
    )
    address = forms.CharField(
        label="Their address",
        max_length=ADDRESS_MAX,
        required=False,
        help_text="Where a posted copy goes. Kept with the record of the disclosure.",
    )
    method = forms.ChoiceField(
        label="How",
        widget=RadioSelect,
        choices=[
            (Disclosure.Method.POST, "By post"),
            (Disclosure.Method.IN_PERSON, "Handed over in person"),
            (Disclosure.Method.OTHER, "Another way"),
        ],
    )
    format = forms.ChoiceField(label="Format", widget=RadioSelect, choices=RecordCopy.Format.choices)

    def clean_requested_on(self):
        day = self.cleaned_data["requested_on"]
        if day > timezone.localdate():
            raise forms.ValidationError(
                "The request cannot have been received in the future: check the date."
            )
        return day

    def clean(self):
        data = super().clean()
        if data.get("deliver_to") == self.TO_NAMED and not data.get("named_person", "").strip():
            self.add_error("named_person", "Name the person the client's signed request names.")
        if data.get("method") == Disclosure.Method.POST and not data.get("address", "").strip():
            self.add_error("address", "Give the address the copy is posted to.")
        return data

    def delivered_to(self) -> str:
        """The person named, or blank for the client (the service then names the client)."""
        if self.cleaned_data["deliver_to"] == self.TO_NAMED:
            return self.cleaned_data["named_person"].strip()
        return ""
