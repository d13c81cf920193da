"""Two things every signed-in request passes through: the second factor a person must have
before any page opens, and the end of a session (idle, or simply too old)."""

import time

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.internal.flows import reauthentication
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from kapflow.practice.models import practice_for

# What a person who must enrol but has not yet may reach: the enrolment page itself (and the
# password confirmation allauth puts in front of it when the sign-in is no longer fresh), the
# recovery codes allauth shows right after, signing out, and the idle dialog's keep-alive.
# Everything else under /accounts/ (email addresses, password, sessions) waits for enrolment:
# with only a password, an intruder could otherwise move the account to their own address.
ENROLMENT_URL_NAMES = frozenset(
    {
        "mfa_activate_totp",
        "mfa_view_recovery_codes",
        "account_reauthenticate",
        "account_logout",
        "keepalive",
    }
)
MFA_ENROLLED_FLAG = "kapflow.mfa_enrolled"


def must_enrol(request) -> bool:
    """Whether this signed-in person needs a second factor: every staff member when the server
    requires it (KAPFLOW_MFA_REQUIRED), and clients and guardians when their practice has
    chosen to require it (Practice.portal_mfa_required)."""
    user = request.user
    if user.is_staff_member:
        return settings.MFA_REQUIRED
    if user.is_client or user.is_guardian:
        return practice_for(request).portal_mfa_required
    return False


def _may_pass_before_enrolment(request) -> bool:
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return True
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return True  # a 404 shows nothing
    return match.url_name in ENROLMENT_URL_NAMES


def require_staff_mfa(get_response):
    """Every staff account (and, when the practice says so, every portal account) must have a
    TOTP authenticator. Until it has one, a page request goes to enrolment (allauth's
    activation page, which also hands out recovery codes) and anything else (a form post, an
    htmx request) is refused."""

    def middleware(request):
        user = request.user
        if (
            user.is_authenticated
            and not request.session.get(MFA_ENROLLED_FLAG)
            and not _may_pass_before_enrolment(request)
            and must_enrol(request)
        ):
            if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                request.session[MFA_ENROLLED_FLAG] = True
            elif request.method in ("GET", "HEAD") and not request.headers.get("HX-Request"):
                return redirect("mfa_activate_totp")
            else:
                return HttpResponseForbidden("Set up two-factor sign-in first.")
        return get_response(request)

    return middleware


# Session timestamps (seconds since the epoch): when the person signed in, and their last
# activity. A background poll (the runbook's live panel) is not activity.
SIGNED_IN_AT = "kapflow.signed_in_at"
ACTIVE_AT = "kapflow.active_at"
# The session is written only when the last activity moves by at least this much, so that
# ordinary page loads do not each rewrite the session row.
ACTIVITY_RESOLUTION_SECONDS = 60
# Sent by the page script with every request an element makes on a timer (hx-trigger="every …").
POLL_HEADER = "X-Kapflow-Poll"


def is_poll(request) -> bool:
    return request.headers.get(POLL_HEADER) == "1"


def stamp_sign_in(session) -> None:
    now = time.time()
    session[SIGNED_IN_AT] = now
    session[ACTIVE_AT] = now


def end_stale_sessions(get_response):
    """Sign the person out after IDLE_MINUTES without activity, or SESSION_MAX_HOURS after
    signing in whatever they did since. The request then goes on as anyone signed out would:
    a page goes to sign in, an htmx request gets 401."""

    def middleware(request):
        if request.user.is_authenticated:
            session = request.session
            now = time.time()
            signed_in_at = session.get(SIGNED_IN_AT)
            active_at = session.get(ACTIVE_AT)
            reason = None
            if signed_in_at is None:
                # A session from before these stamps existed: it starts counting now.
                stamp_sign_in(session)
            elif now - signed_in_at > settings.SESSION_MAX_HOURS * 3600:
                reason = "lifetime"
            elif active_at is not None and now - active_at > settings.IDLE_MINUTES * 60:
                reason = "idle"
            if reason:
                request.kapflow_sign_out_reason = reason
                logout(request)
            elif not is_poll(request) and (
                active_at is None or now - active_at >= ACTIVITY_RESOLUTION_SECONDS
            ):
                session[ACTIVE_AT] = now
        return get_response(request)

    return middleware


# allauth's own password page asks only for the current password; with
# ACCOUNT_REAUTHENTICATION_REQUIRED its email page asks for a fresh confirmation, and this puts
# the password pages behind the same one (for a person with an authenticator: its code).
# (A page of kapflow's own asks with allauth's `reauthentication_required` decorator under its
# `staff_view` instead, as the practice export does: the decorator runs after the CSRF check and
# after the page's own refusal, which a middleware runs before.)
FRESH_CONFIRMATION_URL_NAMES = frozenset({"account_change_password", "account_set_password"})


def require_fresh_confirmation(get_response):
    """Before a password change, the same confirmation allauth asks before an email change."""

    def middleware(request):
        if request.user.is_authenticated and settings.ACCOUNT_REAUTHENTICATION_REQUIRED:
            try:
                name = resolve(request.path_info).url_name
            except Resolver404:
                name = None
            if name in FRESH_CONFIRMATION_URL_NAMES and reauthentication.is_reauthentication_required(
                request, app="allauth.account"
            ):
                methods = get_account_adapter().get_reauthentication_methods(request.user)
                if not methods:
                    return HttpResponseForbidden("Confirming your identity is not possible here.")
                if request.method not in ("GET", "HEAD"):
                    # This runs before Django's CSRF check, and allauth replays a suspended request
                    # after the confirmation without checking again: a form sent from elsewhere
                    # would go through. Only the page itself is suspended; its form is sent again.
                    return redirect(request.get_full_path())
                return reauthentication.suspend_request(request, methods[0]["url"])
        return get_response(request)

    return middleware
