"""A second person confirms who they are on someone else's screen: the witness to the waste of a
controlled substance, or to its destruction on site (docs/controlled-substances.md). The witness
types their own email and password there and then, and the code from their authenticator app
when their account has one, so that a witness cannot be named without being present.

Wrong tries count against the witness's account (a few in a quarter of an hour), never against
the office's address, and each try, right or wrong, leaves an audit row naming the person who
asked. A right try says nothing about the account beyond the name it confirms."""

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth.hashers import make_password

from kapflow.accounts.models import User
from kapflow.audit.services import audit_record
from kapflow.lib.ratelimit import allow

# Tries per witness account before it must wait, and for how long (seconds).
TRIES = 5
WINDOW = 15 * 60


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
    if not allow(f"witness:{email.lower()}", limit=TRIES, period_seconds=WINDOW):
        raise _refused(
            request,
            purpose=purpose,
            step="throttled",
            message="Too many tries for that witness: wait a quarter of an hour, or ask another clinician.",
        )
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
    totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if totp is not None and not TOTP(totp).validate_code((code or "").strip()):
        raise _refused(
            request,
            purpose=purpose,
            step="second_factor",
            message="The code from the witness's authenticator app is missing or wrong: "
            "type the one it shows now.",
        )
    if not user.is_staff_member:
        raise _refused(
            request, purpose=purpose, step="role", message=f"{user.full_name} is not on the practice's staff."
        )
    audit_record(
        request=request,
        action="kapflow.accounts.witness.confirmed",
        detail={"purpose": purpose, "user": user.pk},
    )
    return user
