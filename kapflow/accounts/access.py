"""Who may open which page. Each staff view opens with `staff_view(...)`; client data is then
reached only through `kapflow.clients.access`."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from kapflow.accounts.models import STAFF_ROLES, Role


def staff_view(*roles: Role):
    """Signed-in staff holding one of `roles` (any staff role when none are named). Anyone else
    who is signed in gets 403; a visitor is sent to sign in."""

    allowed = roles or STAFF_ROLES

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.is_active or not request.user.has_role(*allowed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator
