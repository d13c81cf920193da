"""The throttle on second-factor codes: wrong codes count against the person's own account, never
against the address they sign in from.

allauth's own second-factor throttle (`allauth.mfa.base.internal.flows.check_rate_limit`)
charges each code to the sign-in failure limits (`ACCOUNT_RATE_LIMITS["login_failed"]`), the
per-address one among them, and charges the address even for a try its account's limit then
refuses. A practice's staff share one office address, so a few people mistyping codes, or one
person pressing "Sign in" again and again, locked everyone there out. A code is only ever tried
after that account's password was right, so the per-address limit on passwords is what stops
guessing across accounts; the codes need only their per-account limit
(`KAPFLOW_SECOND_FACTOR_RATE`, docs/security/accounts.md)."""

from collections.abc import Callable

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core import context
from allauth.core.internal import ratelimit
from django.conf import settings

_APP = "kapflow.accounts"
_ACTION = "second_factor_failed"


def _config() -> dict[str, str]:
    return {_ACTION: settings.SECOND_FACTOR_RATE}


def second_factor_throttle(user, *, error_key: str = "too_many_login_attempts") -> Callable[[], None]:
    """Count one code tried for `user`'s account, or raise allauth's "too many attempts" error
    when the account has had its share. Returns the function to call when the code was right:
    it clears the account's count (and nothing else). Reads the request from allauth's context,
    as allauth's own throttle does."""
    key = f"mfa-auth-user-{user.pk}"
    request = context.request
    if not ratelimit.consume(request, app=_APP, action=_ACTION, config=_config(), key=key):
        raise get_account_adapter().validation_error(error_key)
    return lambda: ratelimit.clear(request, app=_APP, action=_ACTION, config=_config(), key=key)
