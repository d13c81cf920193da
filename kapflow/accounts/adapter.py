import datetime
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from kapflow.audit.services import audit_record
from kapflow.lib.middleware import client_ip
from kapflow.practice.models import Practice, practice_for


@dataclass(frozen=True)
class EmailedSite:
    """What allauth's email templates call `current_site`: the practice, at its address."""

    name: str
    domain: str


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

    def get_client_ip(self, request) -> str:
        """The address allauth's throttles count: the same one kapflow audits. Behind the
        practice's own proxy (KAPFLOW_BEHIND_PROXY=1) that is the last X-Forwarded-For hop, so
        every client behind the proxy has its own count instead of sharing the proxy's."""
        address = client_ip(request)
        if not address:
            # allauth's own answer to a request with no address: refuse it rather than count it
            # under a made-up one.
            return super().get_client_ip(request)
        return address

    def respond_user_inactive(self, request, user):
        """A client's or guardian's account whose practice ended its portal access is told so,
        and whom to contact, on the portal's access-ended page, instead of allauth's bare "This
        account is inactive" (whose only way on was the home page, which sends a visitor to the
        public inquiry form). allauth comes here only after the right password, so the page
        tells someone guessing nothing. A staff account keeps allauth's page. Audited here,
        where the password has just been proven: the page itself is open to anyone and writes
        nothing."""
        portal = not user.is_staff_member and (user.is_client or user.is_guardian)
        audit_record(
            request=request,
            actor=None,
            action="kapflow.accounts.signin.refused_inactive",
            obj=user,
            detail={"told": "portal_access_ended" if portal else "account_inactive"},
        )
        if portal:
            return redirect("portal:access_ended")
        return super().respond_user_inactive(request, user)

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """allauth's emails (password reset, changes to an account) name the site they come
        from by the request's host: the development server's port, or an internal name behind
        the practice's proxy. They name the practice and its configured address instead."""
        site = EmailedSite(name=_practice().name, domain=urlsplit(settings.SITE_URL).netloc)
        super().send_mail(template_prefix, email, {**context, "current_site": site})

    def format_email_subject(self, subject: str) -> str:
        """The subject starts with the practice's name ("[Oak Hill Therapy] …"), not the host."""
        return f"[{' '.join(_practice().name.split())}] {subject}"

    def get_reset_password_from_key_url(self, key: str) -> str:
        """The password reset link, at the practice's configured address (KAPFLOW_SITE_URL)."""
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return settings.SITE_URL + path.replace("UID-KEY", quote(key))

    def get_reauthentication_methods(self, user) -> list[dict]:
        """Confirming access before a change of email, password or authenticator proves the
        second factor when the person has one: the password alone is what a thief would have,
        so it is not offered (and allauth's password page sends them on to the code page)."""
        methods = super().get_reauthentication_methods(user)
        if user.is_authenticated and is_mfa_enabled(user):
            second_factor = [method for method in methods if method["id"].startswith("mfa_")]
            if second_factor:
                return second_factor
        return methods


def _practice() -> Practice:
    """The practice's settings, read once per request (an email's body and subject both name it)."""
    request = context.request
    return practice_for(request) if request is not None else Practice.load()


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
