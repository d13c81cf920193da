"""Who may open which page. Each staff view opens with `staff_view(...)`; client data is then
reached only through `kapflow.clients.access`."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse

from kapflow.accounts.models import STAFF_ROLES, Role


def sign_in_first(request) -> HttpResponse:
    """A visitor (or someone whose session has ended) is sent to sign in. A request made by htmx
    from a page gets 401 instead: following the redirect would swap the sign-in page into the
    page's form, losing what was typed; kapflow.js keeps the drafts and goes to sign in."""
    if getattr(request, "htmx", False):
        return HttpResponse("Signed out: sign in again.", status=401, content_type="text/plain")
    return redirect_to_login(request.get_full_path())


# The pages an invited outside prescriber (User.outside_practice) may open: their dashboard and
# its prescriber lists, the medical pages of their clients, and on a medication session's record
# what a prescriber answers for from outside the room (the record itself, its live panel, the
# caution acknowledgement, the review of new medications on the day, the reviews of adverse
# events and discharge overrides). Every other
# staff page answers 404 when it names a client and 403 when it does not (staff_view below), and
# kapflow.clients.access finds no client for them on any other page.
# docs/access.md, "The invited outside prescriber".
OUTSIDE_PRESCRIBER_PAGES = frozenset(
    {
        "home",
        "queue_session_alerts",
        "queue_clearances",
        "queue_orders",
        "queue_events",
        "queue_overrides",
        "medical:summary",
        "medical:screening_new",
        "medical:screening_detail",
        "medical:clearance_new",
        "medical:clearance_detail",
        "medical:clearance_revoke",
        "medical:order_new",
        "medical:order_detail",
        "medical:order_discontinue",
        "dosing:runbook",
        "dosing:live",
        "dosing:acknowledge",
        "dosing:medications_review",
        "dosing:adverse_event_review",
        "dosing:discharge_review",
    }
)


def outside_prescriber_may_open(request) -> bool:
    """Whether the page being answered is one an outside prescriber may open. Outside a
    resolved page (a service, a task) there is none: refused."""
    match = getattr(request, "resolver_match", None)
    return match is not None and match.view_name in OUTSIDE_PRESCRIBER_PAGES


def _fence_outside_prescriber(request, kwargs) -> None:
    """The one fence around an invited outside prescriber: any page not theirs is refused, with
    404 when it names a client (a record's existence is not revealed, and the refusal is audited
    by kapflow.audit.middleware) and 403 for a page of the practice."""
    if request.user.outside_practice and not outside_prescriber_may_open(request):
        if "client_id" in kwargs:
            raise Http404("No such client.")
        raise PermissionDenied


def staff_view(*roles: Role):
    """Signed-in staff holding one of `roles` (any staff role when none are named). Anyone else
    who is signed in gets 403; a visitor is sent to sign in. An outside prescriber passes only
    to the pages of OUTSIDE_PRESCRIBER_PAGES."""

    allowed = roles or STAFF_ROLES

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return sign_in_first(request)
            if not request.user.is_active:
                raise PermissionDenied
            # Before the roles: a page that names a client answers an outside prescriber 404
            # whichever roles it is for.
            _fence_outside_prescriber(request, kwargs)
            if not request.user.has_role(*allowed):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator
