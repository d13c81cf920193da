"""Who may open which page. Each staff view opens with `staff_view(...)`; client data is then
reached only through `kapflow.clients.access`."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse

from kapflow.accounts.models import STAFF_ROLES, Role


def sign_in_first(request) -> HttpResponse:
    """A visitor (or someone whose session has ended) is sent to sign in. A request made by htmx
    from a page gets 401 instead: following the redirect would swap the sign-in page into the
    page's form, losing what was typed; kapflow.js keeps the drafts and goes to sign in."""
    if getattr(request, "htmx", False):
        return HttpResponse("Signed out: sign in again.", status=401, content_type="text/plain")
    return redirect_to_login(request.get_full_path())


def staff_view(*roles: Role):
    """Signed-in staff holding one of `roles` (any staff role when none are named). Anyone else
    who is signed in gets 403; a visitor is sent to sign in."""

    allowed = roles or STAFF_ROLES

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return sign_in_first(request)
            if not request.user.is_active or not request.user.has_role(*allowed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator
