"""A second person confirms who they are on someone else's screen: the witness to the waste of a
controlled substance, or to its destruction on site (docs/controlled-substances.md). The witness
types their own email and password there and then, and the code from their authenticator app
when their account has one, so that a witness cannot be named without being present.

Each try is charged to the sign-in page's own limits (allauth's "login_failed" for the
password, per account and per address; kapflow.accounts.throttle's for the authenticator code,
per account): the same counters, so that this screen never lets anyone guess a colleague's
password faster than the sign-in page does, and a right password gives its try back as the
sign-in page does. Each try, right or wrong, leaves an audit row naming the person who asked. A
right try says nothing about the account beyond the name it confirms."""

from allauth.account.adapter import get_adapter
from allauth.core.internal import ratelimit
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth.hashers import make_password

from kapflow.accounts import throttle
from kapflow.accounts.models import User
from kapflow.audit.services import audit_record

THROTTLED = "Too many tries for that witness: wait a few minutes, or ask another clinician."


def _password_try(request, email: str):
    """One password try charged to the sign-in page's "login_failed" limits, under the key the
    sign-in page uses for this address, and to its cap on every attempt from the address
    ("login", which nothing hands back); None when either is used up."""
    if not ratelimit.consume(request, app="allauth.account", action="login"):
        return None
    key = get_adapter()._get_login_attempts_cache_key(request, email=email)
    return ratelimit.consume(request, app="allauth.account", action="login_failed", key=key)


def _code_limit(user) -> dict:
    """The account's second-factor limit, as the sign-in page keeps it (kapflow.accounts.throttle)."""
    return {
        "app": throttle._APP,
        "action": throttle._ACTION,
        "config": throttle._config(),
        "key": f"mfa-auth-user-{user.pk}",
    }


def _code_try(request, user):
    """One authenticator code charged to the account's second-factor limit; None when it is used
    up."""
    return ratelimit.consume(request, **_code_limit(user))


class WitnessRefused(Exception):
    """The witness could not be confirmed, with the words to show."""


def _refused(request, *, purpose: str, step: str, message: str) -> WitnessRefused:
    audit_record(
        request=request, action="kapflow.accounts.witness.refused", detail={"purpose": purpose, "step": step}
    )
    return WitnessRefused(message)


def witness_confirm(*, request, email: str, password: str, code: str = "", purpose: str) -> User:
    """The active staff account whose `email` and `password` (and authenticator `code`, when it
    has an authenticator) were typed, confirmed for `purpose` ("waste", "destruction"); refused
    otherwise, in words that do not say which part was wrong. The caller checks the witness is
    someone other than the person it witnesses."""
    email = (email or "").strip()
    tried = _password_try(request, email)
    if not tried:
        raise _refused(request, purpose=purpose, step="throttled", message=THROTTLED)
    user = User.objects.filter(email__iexact=email, is_active=True).first() if email else None
    if user is None:
        make_password(password)  # the same time as a wrong password, whether or not the account exists
        raise _refused(
            request,
            purpose=purpose,
            step="password",
            message="The witness's email and password do not match.",
        )
    if not user.check_password(password or ""):
        raise _refused(
            request,
            purpose=purpose,
            step="password",
            message="The witness's email and password do not match.",
        )
    tried.rollback()  # a right password gives its try back, as on the sign-in page
    totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if totp is not None and not _code_try(request, user):
        raise _refused(request, purpose=purpose, step="throttled", message=THROTTLED)
    if totp is not None and not TOTP(totp).validate_code((code or "").strip()):
        raise _refused(
            request,
            purpose=purpose,
            step="second_factor",
            message="The code from the witness's authenticator app is missing or wrong: "
            "type the one it shows now.",
        )
    if totp is not None:
        ratelimit.clear(request, **_code_limit(user))
    if not user.is_staff_member:
        # Not named: an account outside the staff (a client's portal account) is not revealed.
        raise _refused(
            request, purpose=purpose, step="role", message="That account is not one of the practice's staff."
        )
    audit_record(
        request=request,
        action="kapflow.accounts.witness.confirmed",
        detail={"purpose": purpose, "user": user.pk},
    )
    return user
