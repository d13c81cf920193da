"""The one way a view reaches a client: `client_for(request, client_id, ...)`.

It scopes by the person asking, answers 404 for a client they may not see (so the existence of
a record outside their care is not revealed), and writes the audit row for the read. A test
(tests/test_scoping_lint.py) fails if a view module reaches a client model any other way.
"""

import enum

from django.db.models import Q, QuerySet, prefetch_related_objects
from django.http import Http404

from kapflow.accounts.access import outside_prescriber_may_open
from kapflow.audit.middleware import note_refused
from kapflow.audit.services import audit_record
from kapflow.clients.models import AccessGrant, CareTeamMember, Client
from kapflow.practice.models import practice_for


class Need(enum.Enum):
    """What the view is about to show. Coordinators and admins see demographics, contacts and
    the schedule of every client; clinical content only reaches the client's clinicians."""

    DEMOGRAPHICS = "demographics"
    CLINICAL = "clinical"


def _demographics_reach_further(user) -> bool:
    """Whether `user`'s DEMOGRAPHICS scope is wider than their CLINICAL one (coordinators and
    admins see every client's demographics): for everyone else the two are the same set, which
    client_for relies on. The one place this rule is written."""
    return user.is_coordinator or user.is_practice_admin


def scopes_are_one(user) -> bool:
    """Whether `user` may see the same clients for DEMOGRAPHICS as for CLINICAL: a page that has
    asked the one need not ask the other (the calendar names the clients of its visits, and
    shows the clinical state of those in the requester's care)."""
    return not _demographics_reach_further(user)


def clients_for(request, *, need: Need = Need.DEMOGRAPHICS) -> QuerySet[Client]:
    """Every client the requesting user may see for `need`; none at all for anyone else."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff_member):
        return Client.objects.none()
    if user.outside_practice:
        return _outside_prescribers_clients(request)
    clients = Client.objects.all()
    if need is Need.DEMOGRAPHICS and _demographics_reach_further(user):
        return clients
    if user.is_clinician:
        if practice_for(request).open_caseload:
            return clients
        # Two lists of client ids, each read once from an index on the user (not an EXISTS per
        # client): a count or list of the caseload then looks up the few hundred listed ids
        # instead of testing every client, and the query is cheaper to build and compile for
        # each of the many that embed the scope. The same set: tests/test_scope_set.py.
        on_team = CareTeamMember.objects.filter(user=user).values("client_id")
        # A clinician let in for a while by a service that needed them (the practice's on-call
        # prescriber, told of an in-session alert, until the session's record is signed).
        granted = AccessGrant.objects.filter(user=user, ended_at__isnull=True).values("client_id")
        return clients.filter(Q(pk__in=on_team) | Q(pk__in=granted))
    return Client.objects.none()


def care_team_clients(request) -> QuerySet[Client]:
    """The clients on the requesting user's own care team, among those whose clinical record they
    may see: `clients_for(request, need=Need.CLINICAL).filter(care_team__user=user)`, the set
    the dashboard's lists of what is theirs to do start from. A clinician sees the clinical
    record of every client on whose care team they are (and an outside prescriber of those
    alone, on the pages they may open), so the wider scope adds nothing to that set; read from
    the care-team index alone, the database looks up the clients listed instead of testing
    every client of the practice against the scope (on PostgreSQL, a scan of every client for
    each list that embeds it). The same set, user by user: tests/test_scope_set.py."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff_member and user.is_clinician):
        return Client.objects.none()
    if user.outside_practice:
        return _outside_prescribers_clients(request)
    return Client.objects.filter(pk__in=CareTeamMember.objects.filter(user=user).values("client_id"))


def _outside_prescribers_clients(request) -> QuerySet[Client]:
    """An invited outside prescriber's clients: those on whose care team they are, whatever the
    practice's open_caseload says and never through an access grant (they are never the
    practice's on-call prescriber), and only on the pages they may open
    (kapflow.accounts.access.OUTSIDE_PRESCRIBER_PAGES): on any other page, none. Their
    demographic and clinical scopes are the same set (no coordinator or admin role goes with
    the account: User's outside_practice_is_a_prescriber_only)."""
    if not outside_prescriber_may_open(request):
        return Client.objects.none()
    on_team = CareTeamMember.objects.filter(user=request.user).values("client_id")
    return Client.objects.filter(pk__in=on_team)


def writes_for(user, client_id: int) -> bool:
    """Whether `user` writes and signs this client's clinical records (progress notes, letters, a
    discharge): an active therapist or prescriber on the care team in one of its writing roles
    (CareTeamMember.WRITING_ROLES). One query, none for someone who is not a clinician."""
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_clinician
        and CareTeamMember.objects.filter(
            client_id=client_id, user=user, role__in=CareTeamMember.WRITING_ROLES
        ).exists()
    )


def can_see_clinical(request, client: Client) -> bool:
    """Whether the clinical parts of this client's chart may be shown to the requester (one query
    per client and request: the page and its banner both ask)."""
    answers = request.__dict__.setdefault("_kapflow_clinical", {})
    if client.pk not in answers:
        answers[client.pk] = clients_for(request, need=Need.CLINICAL).filter(pk=client.pk).exists()
    return answers[client.pk]


def client_for(
    request,
    client_id,
    *,
    action: str,
    need: Need = Need.DEMOGRAPHICS,
    queryset: QuerySet[Client] | None = None,
) -> Client:
    """The client with this id if the requester may see it for `need`, else 404. Writes the
    audit row `action` for the read. `queryset` may add select/prefetch to the scoped lookup."""
    scoped = clients_for(request, need=need)
    if queryset is not None:
        # `queryset` on the left: `a & b` keeps the filters of both but the select_related and
        # prefetch_related of `a` alone, and those are what `queryset` is passed for.
        scoped = queryset & scoped
    try:
        client = scoped.get(pk=int(client_id))
    except (Client.DoesNotExist, ValueError, TypeError):
        # Audited by kapflow.audit.middleware once the 404 is answered.
        note_refused(request, client_id)
        raise Http404("No such client.") from None
    audit_record(request=request, action=action, client=client, obj=client)
    if need is Need.CLINICAL or scopes_are_one(request.user):
        # Found through clients_for(need=CLINICAL), or through a DEMOGRAPHICS scope that is the
        # same set: can_see_clinical's answer is known, and its query would only repeat this one.
        request.__dict__.setdefault("_kapflow_clinical", {})[client.pk] = True
    return client


def clinical_chart_for(request, client_id, *, action: str) -> Client:
    """`client_chart_for` for a page of clinical content: only the client's clinicians."""
    return client_chart_for(request, client_id, action=action, need=Need.CLINICAL)


def client_chart_for(request, client_id, *, action: str, need: Need = Need.DEMOGRAPHICS) -> Client:
    """`client_for`, with what every client page shows around the banner (its flags, care team
    and open alerts) read in the same few queries."""
    from kapflow.clients.selectors import chart_queryset

    return client_for(request, client_id, action=action, need=need, queryset=chart_queryset())


def clinical_banner_for(request, client_id, *, action: str) -> Client:
    """`client_banner_for` for a page of clinical content: only the client's clinicians."""
    return client_banner_for(request, client_id, action=action, need=Need.CLINICAL)


def client_banner_for(request, client_id, *, action: str, need: Need = Need.DEMOGRAPHICS) -> Client:
    """`client_for`, with what the banner alone shows (its flags and the urgent-alert badge),
    for a page that shows nothing else of the chart: cheaper than `client_chart_for`, which
    also reads the care team, outside providers and inquiry the chart itself shows."""
    from kapflow.clients.selectors import banner_queryset

    client = client_for(request, client_id, action=action, need=need, queryset=banner_queryset())
    if client.is_minor:
        # The banner's flags read a minor's guardians (can one of them consent?), an adult's not.
        prefetch_related_objects([client], "guardians")
    return client
