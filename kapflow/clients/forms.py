import datetime

from django import forms
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.clients.models import (
    CareTeamMember,
    Client,
    EmergencyContact,
    Guardian,
    OutsideProvider,
    StageChange,
)
from kapflow.clients.selectors import SEARCH_MAX_LENGTH
from kapflow.clients.services import NOT_BY_HAND
from kapflow.lib.forms import DateInput


def clean_date_of_birth(value: datetime.date) -> datetime.date:
    today = timezone.localdate()
    if value > today:
        raise forms.ValidationError("The date of birth is in the future. Check the year.")
    if value < today.replace(year=today.year - 120):
        raise forms.ValidationError("The date of birth is more than 120 years ago. Check the year.")
    return value


class ClientForm(forms.ModelForm):
    class Meta:
        model = Client
        fields = [
            "first_name",
            "last_name",
            "preferred_name",
            "pronouns",
            "date_of_birth",
            "sex",
            "email",
            "phone",
            "preferred_contact",
            "address_line",
            "city",
            "region",
            "postal_code",
        ]
        # No "stage": it moves only through the records that move it (a consultation's decision,
        # a preparation session) or a clinician's StageChangeForm with its reason, never as a
        # field of the demographics a coordinator edits (issue 11, item 7).
        widgets = {"date_of_birth": DateInput()}

    def clean_date_of_birth(self):
        return clean_date_of_birth(self.cleaned_data["date_of_birth"])

    def clean(self):
        cleaned = super().clean()
        method = cleaned.get("preferred_contact")
        if method == "email" and not cleaned.get("email"):
            self.add_error("email", "Add an email address, or choose another way to be contacted.")
        if method in ("phone", "text") and not cleaned.get("phone"):
            self.add_error("phone", "Add a phone number, or choose another way to be contacted.")
        return cleaned


class NewClientForm(ClientForm):
    primary_therapist = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Not yet assigned"
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["primary_therapist"]
        field.queryset = User.objects.filter(is_active=True, is_therapist=True)
        if user is not None and user.is_therapist:
            field.initial = user.pk
        if user is not None and user.is_clinician:
            field.help_text = "You join the care team either way, so you can see the client you add."


class ClientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search clients",
        required=False,
        max_length=SEARCH_MAX_LENGTH,
        error_messages={
            "max_length": f"Search with at most {SEARCH_MAX_LENGTH} characters: part of a name, a date "
            "of birth or a phone number."
        },
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, date of birth or phone"}),
    )
    stage = forms.ChoiceField(choices=[("", "Every stage"), *Client.Stage.choices], required=False)


class GuardianForm(forms.ModelForm):
    class Meta:
        model = Guardian
        fields = ["name", "relationship", "phone", "email", "has_legal_authority"]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("phone") and not cleaned.get("email"):
            raise forms.ValidationError(
                "Add a phone number or an email address so the practice can reach them."
            )
        return cleaned


class EmergencyContactForm(forms.ModelForm):
    class Meta:
        model = EmergencyContact
        fields = ["name", "relationship", "phone"]


class OutsideProviderForm(forms.ModelForm):
    """Who the provider is. Whether letters may go to them is not typed here: it follows the
    client's signed release of information (kapflow.consent), so the chart never says "signed"
    without a signature behind it."""

    class Meta:
        model = OutsideProvider
        fields = ["name", "kind", "organisation", "phone", "email"]


class CareTeamForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.none(), label="Staff member")
    role = forms.ChoiceField(choices=[("", "Choose a role"), *CareTeamMember.Role.choices])
    # Set by the confirmation page's button: the first post only asks "Add … as …?".
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, actor: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        staff = User.objects.staff().filter(is_active=True)
        if actor is not None:
            # Nobody adds themselves (kapflow.clients.services.care_team_add refuses it too).
            staff = staff.exclude(pk=actor.pk)
        self.fields["user"].queryset = staff
        self.fields["user"].empty_label = "Choose someone"

    def clean(self):
        cleaned = super().clean()
        user, role = cleaned.get("user"), cleaned.get("role")
        if (
            user
            and role in (CareTeamMember.Role.PRIMARY_THERAPIST, CareTeamMember.Role.THERAPIST)
            and not user.is_therapist
        ):
            self.add_error("user", f"{user} is not a therapist. Choose a therapist, or another role.")
        if user and role == CareTeamMember.Role.PRESCRIBER and not user.is_prescriber:
            self.add_error("user", f"{user} is not a prescriber. Choose a prescriber, or another role.")
        return cleaned


class StageChangeForm(forms.ModelForm):
    """A clinician's move of a client to another stage, with the reason for the chart."""

    class Meta:
        model = StageChange
        fields = ["to_stage", "reason"]
        widgets = {"reason": forms.Textarea(attrs={"rows": 3})}
        error_messages = {
            "to_stage": {"required": "Choose the stage the client moves to."},
            "reason": {"required": "Say why the client moves to this stage."},
        }

    def __init__(self, *args, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = client
        field = self.fields["to_stage"]
        # Discharged and maintenance are reached only through their signed records.
        field.choices = [("", "Choose a stage")] + [
            (value, label)
            for value, label in Client.Stage.choices
            if value != client.stage and value not in NOT_BY_HAND
        ]
        field.help_text = " ".join(NOT_BY_HAND.values())

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the client moves to this stage.")
        return reason
