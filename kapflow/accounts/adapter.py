import datetime
import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context
from allauth.mfa.models import Authenticator
from django.urls import reverse


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        """Nobody signs themselves up: the practice admin invites staff, and clients are invited
        to their portal by their practice."""
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """allauth asks for the password again before any two-factor change. On a first sign-in
        the person typed it moments ago and is being made to enrol, so asking again there only
        gets in the way; every later change (a new device, new recovery codes) still asks."""
        required = super().is_reauthentication_required(app=app, **kwargs)
        request = context.request
        if (
            required
            and app == "allauth.mfa"
            and request is not None
            and _enrolling_just_after_sign_in(request)
        ):
            return False
        return required


def _enrolling_just_after_sign_in(request) -> bool:
    user = request.user
    if not user.is_authenticated:
        return False
    records = get_authentication_records(request, user)
    if not records or time.time() - records[-1]["at"] >= account_settings.REAUTHENTICATION_TIMEOUT:
        return False
    authenticators = Authenticator.objects.filter(user=user)
    if not authenticators.exists():
        return True
    # Activating the app makes recovery codes too, and allauth shows them at once: that page is
    # still part of enrolling while every authenticator is newer than this sign-in.
    signed_in_at = datetime.datetime.fromtimestamp(records[-1]["at"], tz=datetime.UTC)
    return (
        request.path == reverse("mfa_view_recovery_codes")
        and not authenticators.filter(created_at__lt=signed_in_at).exists()
    )
