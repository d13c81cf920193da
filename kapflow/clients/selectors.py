import datetime
import re

from django.db.models import Prefetch, Q, QuerySet

from kapflow.clients.models import CareTeamMember, Client
from kapflow.clients.services import digits
from kapflow.measures.models import Alert

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")


def parse_date(text: str) -> datetime.date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def client_search(clients: QuerySet, q: str) -> QuerySet:
    """Narrow `clients` by what was typed in the search box: a date of birth (1990-05-01 or
    05/01/1990), a phone number (three or more digits), or words of a name, each of which must
    match the legal first, last or preferred name."""
    q = q.strip()
    if not q:
        return clients
    born = parse_date(q)
    if born is not None:
        return clients.filter(date_of_birth=born)
    if not re.search(r"[^\d\s()+\-.]", q) and len(digits(q)) >= 3:
        return clients.filter(phone_digits__contains=digits(q))
    for word in q.split():
        clients = clients.filter(
            Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(preferred_name__icontains=word)
        )
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
