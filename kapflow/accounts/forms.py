from allauth.account import forms as account_forms
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.base import forms as mfa_forms
from allauth.mfa.internal.flows.add import validate_can_add_authenticator
from allauth.mfa.models import Authenticator
from allauth.mfa.totp import forms as totp_forms
from allauth.mfa.totp.internal.auth import validate_totp_code
from allauth.mfa.utils import is_mfa_enabled
from django import forms

from kapflow.accounts.models import STAFF_ROLES, Role, User
from kapflow.accounts.throttle import second_factor_throttle
from kapflow.lib.forms import cleaned_npi, cleaned_taxonomy


class StaffForm(forms.ModelForm):
    class Meta:
        model = User
        fields = [
            "full_name",
            "email",
            "credentials",
            *[role.flag for role in STAFF_ROLES],
            "outside_practice",
            # A clinician's identifiers, printed on superbills and estimates (docs/billing.md,
            # "Identifiers").
            "npi",
            "taxonomy_code",
            "license_type",
            "license_number",
            "license_state",
        ]
        labels = {"outside_practice": "Outside prescriber"}
        help_texts = {
            "outside_practice": "A prescriber from outside the practice: they see only the medical pages "
            "(screening, clearance, orders, reviews) of the clients whose care team you add them to, "
            "and nothing else of the practice. They are never the on-call prescriber."
        }

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        clash = User.objects.filter(email=email).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("Someone already has an account with this email address.")
        return email

    def clean_npi(self):
        return cleaned_npi(self.cleaned_data["npi"])

    def clean_taxonomy_code(self):
        return cleaned_taxonomy(self.cleaned_data["taxonomy_code"])

    def clean_license_type(self):
        return self.cleaned_data["license_type"].strip()

    def clean_license_number(self):
        return self.cleaned_data["license_number"].strip()

    def clean_license_state(self):
        state = self.cleaned_data["license_state"].strip().upper()
        if state and not (len(state) == 2 and state.isascii() and state.isalpha()):
            raise forms.ValidationError(
                "Give the state that issued the licence as two letters, for example CA."
            )
        return state

    def clean(self):
        cleaned = super().clean()
        if not any(cleaned.get(role.flag) for role in STAFF_ROLES):
            raise forms.ValidationError("Choose at least one role.")
        if cleaned.get("outside_practice") and (
            not cleaned.get("is_prescriber")
            or any(cleaned.get(role.flag) for role in STAFF_ROLES if role is not Role.PRESCRIBER)
        ):
            self.add_error(
                "outside_practice", "An outside prescriber holds the prescriber role and no other."
            )
        return cleaned


# allauth's second-factor forms with one change: a code counts against the person's account
# alone (kapflow.accounts.throttle), not against the address. Named in settings.MFA_FORMS.


class _CodeCountedPerAccount:
    """allauth's BaseAuthenticateForm.clean_code, with kapflow's throttle in place of allauth's."""

    def clean_code(self) -> str:
        clear = second_factor_throttle(self.user)
        code = self.cleaned_data["code"]
        main = None
        for authenticator in Authenticator.objects.filter(user=self.user).exclude(
            type=Authenticator.Type.WEBAUTHN
        ):
            if main is None or authenticator.type == Authenticator.Type.TOTP:
                # allauth tells of a failure once, against the main authenticator.
                main = authenticator
            if authenticator.wrap().validate_code(code):
                authenticator.user = self.user
                self.authenticator = authenticator
                clear()
                return code
        if main is not None:
            self._emit_authentication_failed(main)
        raise get_mfa_adapter().validation_error("incorrect_code")


class AuthenticateForm(_CodeCountedPerAccount, mfa_forms.AuthenticateForm):
    """The code asked for after the password at sign-in."""


class ReauthenticateForm(_CodeCountedPerAccount, mfa_forms.ReauthenticateForm):
    """The code asked for before a change of email, password or authenticator."""


class ActivateTOTPForm(totp_forms.ActivateTOTPForm):
    """The code that proves a new authenticator app while enrolling."""

    def clean_code(self) -> str:
        validate_can_add_authenticator(self.user)
        clear = second_factor_throttle(self.user, error_key="rate_limited")
        code = self.cleaned_data["code"]
        if not validate_totp_code(self.secret, code):
            raise get_mfa_adapter().validation_error("incorrect_code")
        clear()
        return code


class AddEmailForm(account_forms.AddEmailForm):
    """Adding an address on allauth's email page. An account protected by an authenticator adds
    none (staff change their address through a practice admin): allauth's own refusal rides on
    MFA_ALLOW_UNVERIFIED_EMAIL, which kapflow turns on so that an unverified address never stops
    enrolment (kapflow/settings.py says why); this keeps the refusal."""

    def clean_email(self) -> str:
        email = super().clean_email()
        if is_mfa_enabled(self.user):
            raise get_mfa_adapter().validation_error("add_email_blocked")
        return email
