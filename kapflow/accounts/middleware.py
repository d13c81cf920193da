from allauth.mfa.models import Authenticator
from django.conf import settings
from django.shortcuts import redirect

# Pages a staff member without an authenticator may still reach: enrolling one, and leaving.
_ALLOWED_PREFIXES = ("/accounts/", "/static/", "/keepalive/")
_SESSION_FLAG = "kapflow.mfa_enrolled"


def require_staff_mfa(get_response):
    """Every staff account must have a TOTP authenticator. Until it has one, every page sends
    the person to enrol (allauth's activation page, which also hands out recovery codes)."""

    def middleware(request):
        user = request.user
        if (
            settings.MFA_REQUIRED
            and user.is_authenticated
            and user.is_staff_member
            and not request.session.get(_SESSION_FLAG)
            and not request.path.startswith(_ALLOWED_PREFIXES)
        ):
            if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                request.session[_SESSION_FLAG] = True
            else:
                return redirect("mfa_activate_totp")
        return get_response(request)

    return middleware
