"""The forms of sending a letter and of recording a disclosure by hand (kapflow.letters.sending)."""

from django import forms
from django.utils import timezone

from kapflow.clients.forms import DateInput
from kapflow.letters.models import Disclosure
from kapflow.lib.forms import RadioSelect

# What a disclosure keeps of the recipient's address (Disclosure.recipient_address).
ADDRESS_MAX = Disclosure._meta.get_field("recipient_address").max_length


class DownloadForm(forms.Form):
    """Where a staff member is about to fax or post the letter: kept in the disclosure."""

    address = forms.CharField(
        label="Sent to",
        max_length=ADDRESS_MAX,
        help_text=(
            "The fax number or the postal address you will send it to. Each download is recorded as "
            "a disclosure, with this address."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class DisclosureForm(forms.Form):
    """A disclosure made outside kapflow, recorded by hand. Disclosures under the client's release
    are recorded by kapflow when the letter is sent, so "release" is not offered."""

    disclosed_on = forms.DateField(label="Disclosed on", widget=DateInput())
    recipient_name = forms.CharField(label="To", max_length=150, help_text="The person or body.")
    recipient_address = forms.CharField(
        label="Their address", max_length=ADDRESS_MAX, required=False, help_text="If known."
    )
    what = forms.CharField(
        label="Information disclosed",
        max_length=300,
        help_text="A short description: “Dates of care and medication sessions, March to May 2026”.",
    )
    purpose = forms.CharField(
        label="Purpose",
        max_length=200,
        help_text="A short statement, or “See the court order of 3 May 2026”.",
    )
    basis = forms.ChoiceField(
        label="Legal basis",
        widget=RadioSelect,
        choices=[
            (value, label) for value, label in Disclosure.Basis.choices if value != Disclosure.Basis.RELEASE
        ],
    )

    def clean_disclosed_on(self):
        day = self.cleaned_data["disclosed_on"]
        if day > timezone.localdate():
            raise forms.ValidationError(
                "A disclosure is recorded once it has happened: the date is in the future."
            )
        return day
