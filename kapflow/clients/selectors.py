import datetime
import re

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from kapflow.accounts.models import User
from kapflow.clients.models import CareTeamMember, Client, fold
from kapflow.clients.services import digits
from kapflow.measures.models import Alert, Response
from kapflow.measures.selectors import latest_per_instrument

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")


def parse_date(text: str) -> datetime.date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def prescribers_for(client_id: int | None) -> QuerySet[User]:
    """The prescribers who may act in `client_id`'s care (be on site for a session, sign a REMS
    enrolment with the client): the practice's active prescribers, and an invited outside
    prescriber only when on the client's care team (they are no prescriber of the practice's
    other clients: docs/access.md). No client: the practice's. By name.

    The care team is asked about each prescriber (EXISTS), not joined: a join reads every
    care-team row of every prescriber, thousands at a group practice, and then needs DISTINCT
    over every column (16–26 ms of the runbook's page on PostgreSQL, against well under one)."""
    theirs = Q(outside_practice=False)
    if client_id is not None:
        on_the_team = CareTeamMember.objects.filter(user=OuterRef("pk"), client_id=client_id)
        theirs |= Q(Exists(on_the_team))
    return User.objects.filter(theirs, is_active=True, is_prescriber=True).order_by("full_name", "pk")


# The longest search the caseload takes (its form says so to whoever types more): far more than
# any name, date of birth or phone number, and short enough to keep the query it builds small.
SEARCH_MAX_LENGTH = 100


def client_search(clients: QuerySet, q: str) -> QuerySet:
    """Narrow `clients` by what was typed in the search box: a date of birth (1990-05-01 or
    05/01/1990), a phone number (three or more digits), or words of a name, each of which must
    be part of the legal first, last or preferred name. Names are compared folded
    (kapflow.clients.models.fold: no accents, no case), in the one stored column
    Client.search_name, so "jose munoz" finds "José Muñoz" on SQLite and PostgreSQL alike. A
    query longer than SEARCH_MAX_LENGTH finds nobody (never everybody)."""
    q = q.strip()
    if not q:
        return clients
    if len(q) > SEARCH_MAX_LENGTH:
        return clients.none()
    born = parse_date(q)
    if born is not None:
        return clients.filter(date_of_birth=born)
    if not re.search(r"[^\d\s()+\-.]", q) and len(digits(q)) >= 3:
        return clients.filter(phone_digits__contains=digits(q))
    for word in fold(q).split():
        clients = clients.filter(search_name__contains=word)
    return clients


def chart_queryset() -> QuerySet:
    """What every client page shows around the banner, in a fixed number of queries. Views
    intersect it with the scoped queryset from kapflow.clients.access, never use it alone."""
    return Client.objects.select_related("inquiry").prefetch_related(
        "guardians",
        "emergency_contacts",
        "outside_providers",
        Prefetch("care_team", queryset=CareTeamMember.objects.select_related("user", "added_by")),
        Prefetch("alerts", queryset=Alert.objects.open(), to_attr="open_alerts"),
    )


def banner_queryset() -> QuerySet:
    """What the banner alone shows (kapflow.clients.templatetags.clients.client_banner): the
    emergency contacts its flags look at and the open alerts of its urgent badge (its flags read
    the guardians of a minor only: kapflow.clients.access.client_banner_for reads those once it
    knows). For pages that show nothing else of the chart; same rule as chart_queryset."""
    return Client.objects.prefetch_related(
        "emergency_contacts",
        Prefetch("alerts", queryset=Alert.objects.open(), to_attr="open_alerts"),
    )


def latest_measures(client: Client) -> list[dict]:
    """The chart's Measures card: each instrument's latest result for this client
    (kapflow.measures.selectors.latest_per_instrument), as rows rather than model instances."""
    names = dict(Response._meta.get_field("instrument").flatchoices)
    latest = list(latest_per_instrument(client).values("pk", "instrument", "total", "band", "completed_at"))
    for row in latest:
        row["instrument_name"] = names.get(row["instrument"], row["instrument"])
    return latest
