"""The one way a portal view reaches a client: `portal_client_for(request, client_id, ...)`.

A client's portal shows their own record; a guardian's shows the minor's, but only what
docs/clinical.md's table ("Who may see what") allows a guardian: demographics, the schedule and
consents (signing for the minor). Measures, progress and the journal are the client's alone.
Anything else answers 404, as for a record that does not exist, and every read is audited like
the staff side's (kapflow.clients.access)."""

import datetime
import enum
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from kapflow.accounts.access import sign_in_first
from kapflow.audit.middleware import note_refused
from kapflow.audit.services import audit_record
from kapflow.clients.models import ADULT_AGE, Client, Guardian


class PortalNeed(enum.Enum):
    """What the portal page is about to show."""

    SCHEDULE = "schedule"  # appointments, day-of instructions, preparation material: client or guardian
    CONSENTS = "consents"  # documents to sign: the client, or a guardian with authority for a minor
    OWN = "own"  # measures, progress, journal: the client alone
    # statements, invoices, superbills, estimates: the client, or a guardian with legal authority
    # for a minor (they pay for the minor's care; docs/access.md, "Billing")
    BILLING = "billing"


def portal_view(view):
    """Signed-in clients and guardians (`is_portal_account`); staff and anyone else signed in get
    403, a visitor is sent to sign in. The view then reaches the client through
    `portal_client_for`."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return sign_in_first(request)
        if not is_portal_account(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def is_portal_account(user) -> bool:
    """An active client or guardian account that holds no staff role. A staff account never opens
    the portal (not even one flagged as a client or guardian by mistake): the portal's pages are
    for the people the records are about."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_client or user.is_guardian)
        and not user.is_staff_member
    )


def _adult_born_on_or_before(today: datetime.date) -> datetime.date:
    try:
        return today.replace(year=today.year - ADULT_AGE)
    except ValueError:  # 29 February
        return today.replace(year=today.year - ADULT_AGE, day=28)


def portal_clients(user, *, need: PortalNeed = PortalNeed.SCHEDULE) -> QuerySet[Client]:
    """The clients whose portal `user` may open for `need`: their own record if they are a
    client, and the minors they are a guardian of where the need allows it."""
    if not is_portal_account(user):
        return Client.objects.none()
    own = Q(portal_user=user) if user.is_client else Q(pk__in=[])
    if need is PortalNeed.OWN or not user.is_guardian:
        return Client.objects.filter(own)
    guardianships = Guardian.objects.filter(client=OuterRef("pk"), portal_user=user)
    if need in (PortalNeed.CONSENTS, PortalNeed.BILLING):
        guardianships = guardianships.filter(has_legal_authority=True)
    # A guardian's access ends on the client's 18th birthday.
    minor = Q(date_of_birth__gt=_adult_born_on_or_before(timezone.localdate()))
    return Client.objects.filter(own | (Q(Exists(guardianships)) & minor))


def portal_client_for(request, client_id, *, action: str, need: PortalNeed = PortalNeed.SCHEDULE) -> Client:
    """The client with this id if the requester may open its portal for `need`, else 404.
    Writes the audit row `action` for the read."""
    try:
        client = portal_clients(request.user, need=need).get(pk=int(client_id))
    except (Client.DoesNotExist, ValueError, TypeError, OverflowError):
        # Audited by kapflow.audit.middleware once the 404 is answered.
        note_refused(request, client_id)
        raise Http404("No such record.") from None
    if client.portal_user_id == request.user.pk:
        # The client reading their own portal: their account is the one signed in, already read
        # (the pages that ask who is told of a statement would otherwise read it again).
        client.portal_user = request.user
    audit_record(request=request, action=action, client=client, obj=client)
    return client


def is_guardian_view(user, client: Client) -> bool:
    """Whether `user` opens this client's portal as a guardian (not as the client)."""
    return client.portal_user_id != user.pk
