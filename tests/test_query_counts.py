"""Each page runs the same number of database queries whatever the size of the practice.

The practice is built with 10 clients and every page below is requested and its queries
counted; the practice then grows to 500 clients (bulk_create, with care teams, contacts,
guardians, providers, inquiries and audit rows to match) and every page is counted again. A
count that grows with the data is an N+1: a query per row shown. Each page also has a ceiling,
so that a new query is noticed even when it is constant.

The measuring is done once for the module, inside a transaction that is rolled back, so the
file stays fast; each test then checks one page. What every signed-in page costs before its own
work (all constant): the session read and saved (SESSION_SAVE_EVERY_REQUEST, in a savepoint),
the user row, the practice settings row for the header, and one audit INSERT on a page that
shows client data. Each person makes one request before any is counted, so that the MFA
middleware's once-a-session look at the authenticator is not counted. SAVEPOINT and RELEASE
around the session save are counted as queries: the measuring runs inside a transaction.
"""

import dataclasses
import datetime
import itertools
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.clients.models import CareTeamMember, Client, EmergencyContact, Guardian, OutsideProvider
from kapflow.clients.services import digits
from kapflow.inquiries.models import Inquiry
from kapflow.practice.models import Practice
from tests import factories

# Every test is marked, so that pytest-django sets up the test database before the module's
# measuring: without a marked test it would leave the connection on the developer's database.
pytestmark = pytest.mark.django_db

SMALL, LARGE = 10, 500

# The most queries each kind of page may run: the largest count measured (the same on SQLite
# and PostgreSQL) plus one. Raise one only with a reason, in the same change as the query it
# pays for. Every signed-in page starts with the session and the user and ends with SAVEPOINT,
# the session UPDATE and RELEASE (5); the header reads the practice row (1).
CEILING = {
    # 9 = 6 + COUNT, one page of rows with the primary therapist's name, the audit INSERT.
    "caseload": 10,
    # For a clinician = 6 + the client with its first inquiry, one query each for guardians,
    # emergency contacts, outside providers, the care team with its people and the open urgent
    # alerts, the audit INSERT; the latest measures; the readiness panel (course plan,
    # overrides, consultation, screening and its resolutions, clearance, orders, the published
    # consent documents (their current versions and re-consent floors both) and signatures,
    # preparation), whose consent reads the consent card shows too; and the portal card. Whether
    # the clinical sections may show costs no query for a clinician (the client's own lookup
    # answered it); for a coordinator, who sees the consent card (documents, signatures: 2) but
    # no clinical section, it is one. One more for one of the client's therapists: the count of
    # journal entries the client shared.
    # One more for a clinician: the Documents card's latest documents (the Letters card comes in
    # a request of its own). On PostgreSQL the audit INSERT also takes its chain's advisory lock.
    # One more for a clinician: the Notes card's latest notes (kapflow.notes.owed.chart_notes,
    # one query of the visits with where each note stands).
    # Then the client has a course plan, sessions held and a course review: the Course card
    # (kapflow.course.reviews.course_card) reads the plan's versions, the sessions, the reviews,
    # and the visits that say whether a review is due or booked (4), the readiness panel's
    # course gate takes the plan and sessions from it and reads whether the plan's latest
    # decided review ended the course (1). Measured on 6 December 2026: a therapist 29 on
    # SQLite and 30 on PostgreSQL, a coordinator 14 and 15.
    "chart": 30,
    # 9 = 6 + COUNT, one page of inquiries with who handled them, the audit INSERT.
    "inbox": 10,
    # 10 = 6 + COUNT, one page of events with actor and client, the people in the "Person"
    # filter, the audit INSERT; 11 when filtering by a person (the form looks them up).
    "audit": 12,
    # 8 = 6 + the clinician's client count and counts by stage; 10 for someone who is also a
    # coordinator (open and new inquiries). (Plus the open urgent alerts, one more for each.)
    # Added by the integration dashboards (kapflow/views.py), each one query whatever the data:
    # every clinician, today's visits (1); a therapist, the overdue integrations (worked out by
    # the database, 1) and the open action items (1); a prescriber, clearances waiting and orders
    # waiting (2). Each list reads one row past those shown, never a COUNT. Measured (with the
    # lists full): therapist 11, prescriber 14, therapist + coordinator + admin 14. Then every
    # clinician's notes owed (kapflow.notes.owed, 1): therapist 12, prescriber 15, all three 15
    # (on PostgreSQL one more each: the audit append's advisory lock). Then every clinician's
    # course lists (kapflow.course: the reviews waiting for their signature, the maintenance
    # sessions due; 1 each): prescriber 17 on SQLite, 18 on PostgreSQL.
    "dashboard": 19,
    # The dashboard's lists whole ("Show all", kapflow/views.py): what every signed-in page
    # costs, then COUNT, one page of rows with their clients (and the clinician, for arrivals)
    # (with the discharging clinician, for overrides), the audit INSERT and the INSERT of the
    # clients it names into the audit page's client index (AuditEventClient: one for all of them).
    # Measured: 8 each (9 on PostgreSQL, whose audit append takes its advisory lock first).
    "dashboard list": 9,
}

_seq = itertools.count(1)


class GrowingPractice:
    """The practice under measurement. `grow_to(n)` adds clients, all on Tess's care team with
    Priya as prescriber, and the rows a real caseload has around them."""

    def __init__(self):
        Practice.load()
        self.tess = factories.make_user("Tess Therapist", roles=("is_therapist",))
        self.priya = factories.make_user("Priya Prescriber", roles=("is_prescriber",))
        self.cora = factories.make_user("Cora Coordinator", roles=("is_coordinator",))
        self.ada = factories.make_user("Ada Admin", roles=("is_practice_admin",))
        self.dana = factories.make_user(
            "Dana Owner", roles=("is_practice_admin", "is_therapist", "is_coordinator")
        )
        # A minor with one guardian, contact and provider now; five of each, an inquiry and
        # more people on the care team once the practice has grown.
        self.mina = factories.make_client(
            first_name="Mina", last_name="Marsh", age=16, therapist=self.tess, prescriber=self.priya
        )
        self.enrich(self.mina, 1)
        self.course(self.mina, 1)

    def course(self, client: Client, sessions: int) -> None:
        """A course plan (reviewed after session 3) with `sessions` more medication sessions held
        and, once three are, a course review: what the chart's Course card reads."""
        from kapflow.course.models import CourseReview
        from kapflow.pathway.models import CoursePlan
        from kapflow.visits.models import Room, Visit

        plan = CoursePlan.objects.current().filter(client=client).first() or CoursePlan.objects.create(
            client=client, goals="g", planned_sessions=12, review_after="3, 6", updated_by=self.tess
        )
        room = Room.objects.first() or Room.objects.create(name="Cedar")
        held = Visit.objects.filter(client=client, kind=Visit.Kind.MEDICATION).count()
        for n in range(held, held + sessions):
            starts = timezone.now() - datetime.timedelta(days=100 - 7 * n)
            Visit.objects.create(
                client=client,
                kind=Visit.Kind.MEDICATION,
                room=room,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(hours=2),
                clinician=self.tess,
                created_by=self.cora,
                status=Visit.Status.COMPLETED,
            )
        if held + sessions >= 3 and not CourseReview.objects.filter(client=client).exists():
            CourseReview.objects.create(
                client=client, plan=plan, summary="s", decision="continue", written_by=self.tess
            )

    def enrich(self, client: Client, count: int, members=()) -> None:
        for n in range(count):
            Guardian.objects.create(
                client=client, name=f"Guardian {n}", relationship="parent", has_legal_authority=n == 0
            )
            EmergencyContact.objects.create(
                client=client, name=f"Contact {n}", relationship="friend", phone="5"
            )
            OutsideProvider.objects.create(
                client=client,
                name=f"Dr. Provider {n}",
                kind="therapist",
                release="signed",
                release_expires_on=timezone.localdate() + datetime.timedelta(days=30 - 40 * (n % 2)),
            )
        for user in members:
            CareTeamMember.objects.create(client=client, user=user, role=CareTeamMember.Role.OTHER)

    def grow_to(self, total: int) -> None:
        today = timezone.localdate()
        clients = []
        for _ in range(total - Client.objects.count()):
            n = next(_seq)
            phone = f"(818) 555-{n % 10000:04d}"
            clients.append(
                Client(
                    first_name=["Avery", "Jordan", "Maya", "Noah"][n % 4],
                    last_name=f"Alvarez{n:05d}",
                    preferred_name="Ave" if n % 5 == 0 else "",
                    # Every seventh client is a minor; the others share fifty birthdays.
                    date_of_birth=today - datetime.timedelta(days=(16 if n % 7 == 0 else 20 + n % 50) * 366),
                    phone=phone,
                    phone_digits=digits(phone),
                    email=f"client{n}@example.com",
                    stage=Client.Stage.values[n % len(Client.Stage.values)],
                    created_by=self.cora,
                )
            )
        for client in clients:
            client.search_name = client.folded_names()  # as kapflow.clients.services would
        clients = Client.objects.bulk_create(clients)
        members, contacts, guardians, providers, inquiries, events = [], [], [], [], [], []
        for n, client in enumerate(clients):
            members.append(
                CareTeamMember(client=client, user=self.tess, role=CareTeamMember.Role.PRIMARY_THERAPIST)
            )
            members.append(
                CareTeamMember(client=client, user=self.priya, role=CareTeamMember.Role.PRESCRIBER)
            )
            if n % 4:
                contacts.append(
                    EmergencyContact(client=client, name="Sam Reyes", relationship="partner", phone="555")
                )
            if client.is_minor:
                guardians.append(Guardian(client=client, name="Pat Guardian", relationship="mother"))
            if n % 3 == 0:
                providers.append(OutsideProvider(client=client, name="Dr. Quinn", kind="psychiatrist"))
            inquiries.append(
                Inquiry(
                    first_name=client.first_name,
                    last_name=client.last_name,
                    message="Could we talk?",
                    status=Inquiry.Status.CONVERTED,
                    handled_by=self.cora,
                    client=client,
                )
            )
            inquiries.append(
                Inquiry(
                    first_name="Rowan",
                    last_name=f"Hale{n}",
                    message="I'd like to understand whether KAP could be right for me.",
                    status=[Inquiry.Status.NEW, Inquiry.Status.CONTACTED][n % 2],
                    handled_by=self.cora if n % 2 else None,
                )
            )
            for actor in (self.tess, self.cora, None):
                events.append(
                    AuditEvent(
                        actor=actor,
                        actor_label=actor.email if actor else "",
                        action="kapflow.clients.chart.viewed",
                        client=client,
                        object_type="clients.client",
                        object_id=str(client.pk),
                        detail={"shown": 1},
                    )
                )
        CareTeamMember.objects.bulk_create(members)
        EmergencyContact.objects.bulk_create(contacts)
        Guardian.objects.bulk_create(guardians)
        OutsideProvider.objects.bulk_create(providers)
        Inquiry.objects.bulk_create(inquiries)
        AuditEvent.objects.bulk_create(events)
        self.add_work(clients)
        assert Client.objects.count() == total

    def add_work(self, clients) -> None:
        """What fills the dashboard's lists, for each new client: an open urgent alert, a
        medication session four days ago with no integration, an open action item, a visit
        today, a therapy session two days ago whose note is owed, an unreviewed adverse event
        and discharge override in that session, and a screening waiting for a decision (every
        other client) or a clearance waiting for an order."""
        from kapflow.dosing.models import AdverseEvent, Runbook, SessionAlert
        from kapflow.integration.models import ActionItem, IntegrationRecord
        from kapflow.measures.models import Alert, Response
        from kapflow.medical.models import Clearance, Screening
        from kapflow.visits.models import Visit

        now = timezone.now()
        responses = Response.objects.bulk_create(
            [
                Response(client=c, instrument="phq9", version="1", answers={}, total=3, band="Minimal")
                for c in clients
            ]
        )
        Alert.objects.bulk_create([Alert(client=r.client, kind="suicidality", response=r) for r in responses])
        today = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(9)))
        visits = []
        for client in clients:
            ended = now - datetime.timedelta(days=4)
            for kind, status, starts, minutes in (
                ("medication", "completed", ended - datetime.timedelta(minutes=150), 150),
                ("consultation", "scheduled", today, 60),
                # A therapy session two days ago whose note is still owed (kapflow.notes.owed).
                ("therapy", "scheduled", now - datetime.timedelta(days=2), 50),
            ):
                visits.append(
                    Visit(
                        client=client,
                        kind=kind,
                        status=status,
                        starts_at=starts,
                        ends_at=starts + datetime.timedelta(minutes=minutes),
                        modality="virtual",
                        clinician=self.tess,
                        created_by=self.tess,
                    )
                )
        visits = Visit.objects.bulk_create(visits)
        runbooks = Runbook.objects.bulk_create(
            [
                Runbook(visit=v, discharged_at=now, discharged_by=self.tess, override_reason="Ride waiting.")
                for v in visits
                if v.kind == "medication"
            ]
        )
        AdverseEvent.objects.bulk_create(
            [
                AdverseEvent(
                    runbook=r,
                    noted_at=now,
                    kind="nausea",
                    severity="mild",
                    action_taken="Rest.",
                    recorded_by=self.tess,
                )
                for r in runbooks
            ]
        )
        # An in-session alert on each, never seen (the prescriber's dashboard and its whole list).
        SessionAlert.objects.bulk_create(
            [SessionAlert(runbook=r, kind="sedation", raised_at=now) for r in runbooks]
        )
        records = IntegrationRecord.objects.bulk_create(
            [
                IntegrationRecord(client=c, clinician=self.tess, themes="Grief.", recorded_at=now)
                for c in clients
            ]
        )
        ActionItem.objects.bulk_create([ActionItem(client=r.client, record=r, text="Walk") for r in records])
        screenings = Screening.objects.bulk_create([Screening(client=c, answers={}, age=30) for c in clients])
        Clearance.objects.bulk_create(
            [
                Clearance(
                    client=s.client,
                    screening=s,
                    prescriber=self.priya,
                    decision="cleared",
                    findings="Well.",
                    valid_until=timezone.localdate() + datetime.timedelta(days=300),
                )
                for s in screenings[1::2]
            ]
        )


@dataclasses.dataclass(frozen=True)
class Page:
    kind: str  # a key of CEILING
    who: str  # an attribute of GrowingPractice
    path: str  # may name {mina}, {born}, {tess}: filled in once the practice has 10 clients
    htmx: bool = False


PAGES = {
    "caseload-therapist": Page("caseload", "tess", "/clients/"),
    "caseload-prescriber": Page("caseload", "priya", "/clients/"),
    "caseload-coordinator": Page("caseload", "cora", "/clients/"),
    "caseload-search-name": Page("caseload", "tess", "/clients/?q=Avery"),
    "caseload-search-two-words": Page("caseload", "tess", "/clients/?q=avery+alvarez"),
    "caseload-search-phone": Page("caseload", "tess", "/clients/?q=555"),
    "caseload-search-birthday": Page("caseload", "cora", "/clients/?q={born}"),
    "caseload-stage": Page("caseload", "tess", "/clients/?stage=course"),
    "caseload-page-3": Page("caseload", "tess", "/clients/?page=3"),
    "caseload-htmx-rows": Page("caseload", "tess", "/clients/?q=Avery", htmx=True),
    "chart-therapist": Page("chart", "tess", "/clients/{mina}/"),
    "chart-coordinator": Page("chart", "cora", "/clients/{mina}/"),
    "inbox-open": Page("inbox", "cora", "/inquiries/"),
    "inbox-all": Page("inbox", "cora", "/inquiries/?show=all"),
    "inbox-converted": Page("inbox", "ada", "/inquiries/?show=converted"),
    "audit": Page("audit", "ada", "/audit/"),
    "audit-page-2": Page("audit", "ada", "/audit/?page=2"),
    "audit-by-client": Page("audit", "ada", "/audit/?client={mina}"),
    "audit-by-person": Page("audit", "ada", "/audit/?actor={tess}&action=chart"),
    "dashboard-therapist": Page("dashboard", "tess", "/"),
    "dashboard-prescriber": Page("dashboard", "priya", "/"),
    "dashboard-coordinator": Page("dashboard", "cora", "/"),
    "dashboard-admin": Page("dashboard", "ada", "/"),
    "dashboard-every-role": Page("dashboard", "dana", "/"),
    "dashboard-list-alerts": Page("dashboard list", "tess", "/today/alerts/"),
    "dashboard-list-integrations": Page("dashboard list", "tess", "/today/integrations/"),
    "dashboard-list-action-items": Page("dashboard list", "tess", "/today/action-items/"),
    "dashboard-list-notes": Page("dashboard list", "tess", "/today/notes/"),
    "dashboard-list-session-alerts": Page("dashboard list", "priya", "/today/session-alerts/"),
    "dashboard-list-clearances": Page("dashboard list", "priya", "/today/clearances/"),
    "dashboard-list-orders": Page("dashboard list", "priya", "/today/orders/"),
    "dashboard-list-arrivals": Page("dashboard list", "cora", "/today/arrivals/"),
    "dashboard-list-adverse-events": Page("dashboard list", "priya", "/today/adverse-events/"),
    "dashboard-list-discharge-overrides": Page("dashboard list", "priya", "/today/discharge-overrides/"),
    "dashboard-list-page-2": Page("dashboard list", "tess", "/today/alerts/?page=2"),
}


@dataclasses.dataclass
class Count:
    queries: list[str]
    rows: int | None  # the rows of the page's list, to show the list did grow


def count_queries(http: HttpClient, url: str, *, htmx: bool = False) -> Count:
    """The SQL of one request to `url`."""
    headers = {"HX-Request": "true"} if htmx else {}
    with CaptureQueriesContext(connection) as captured:
        response = http.get(url, headers=headers)
    assert response.status_code == 200, url
    page = response.context.get("page") if response.context else None
    return Count(
        [query["sql"] for query in captured.captured_queries],
        len(page.object_list) if page is not None else None,
    )


def _measure_everything() -> dict[str, tuple[Count, Count]]:
    practice = GrowingPractice()
    practice.grow_to(SMALL)
    born = Client.objects.exclude(pk=practice.mina.pk).order_by("pk").last().date_of_birth
    names = {"mina": practice.mina.pk, "born": f"{born:%Y-%m-%d}", "tess": practice.tess.pk}
    browsers = {}
    for page in PAGES.values():
        if page.who not in browsers:
            browsers[page.who] = HttpClient()
            browsers[page.who].force_login(getattr(practice, page.who))
            # The first request of a session checks the authenticator once (MFA middleware).
            assert browsers[page.who].get("/").status_code == 200
    urls = {key: page.path.format(**names) for key, page in PAGES.items()}

    small = {key: count_queries(browsers[page.who], urls[key], htmx=page.htmx) for key, page in PAGES.items()}
    colleagues = [factories.make_user(f"Colleague {n}", mfa=False) for n in range(3)]
    Inquiry.objects.create(
        first_name="Mina", last_name="Marsh", message="Hello", status="converted", client=practice.mina
    )
    practice.enrich(practice.mina, 5, members=[practice.cora, *colleagues])
    practice.course(practice.mina, 5)
    practice.grow_to(LARGE)
    large = {key: count_queries(browsers[page.who], urls[key], htmx=page.htmx) for key, page in PAGES.items()}
    return {key: (small[key], large[key]) for key in PAGES}


@pytest.fixture(scope="module")
def counts(django_db_setup, django_db_blocker):
    """Every page's count with 10 clients and with 500, measured once; nothing is kept."""
    name = str(connection.settings_dict["NAME"])
    assert "mode=memory" in name or Path(name).name.startswith("test_"), f"not a test database: {name}"
    with django_db_blocker.unblock(), transaction.atomic():
        measured = _measure_everything()
        transaction.set_rollback(True)
    return measured


def assert_constant(key: str, small: Count, large: Count) -> None:
    ceiling = CEILING[PAGES[key].kind]
    listing = "\n".join(f"  {sql}" for sql in large.queries)
    assert len(small.queries) == len(large.queries), (
        f"{key}: {len(small.queries)} queries with {SMALL} clients, {len(large.queries)} with {LARGE}:\n"
        f"{listing}"
    )
    assert len(large.queries) <= ceiling, (
        f"{key}: {len(large.queries)} queries, ceiling {ceiling}:\n{listing}"
    )


def _check(counts, key: str) -> None:
    small, large = counts[key]
    assert_constant(key, small, large)
    if small.rows is not None and not key.endswith(("page-3", "page-2", "by-client")):
        assert large.rows > small.rows, f"{key}: the list did not grow ({small.rows} → {large.rows} rows)"


@pytest.mark.parametrize("key", [key for key in PAGES if key.startswith("caseload")])
def test_it_lists_clients_in_constant_queries(counts, key):
    _check(counts, key)


@pytest.mark.parametrize("key", [key for key in PAGES if key.startswith("chart")])
def test_it_shows_a_chart_in_constant_queries(counts, key):
    """Constant as the practice grows and as the client's own lists grow: the chart of a minor
    with one guardian, contact and provider and two people on the care team, then with five of
    each, six on the care team and a first inquiry."""
    _check(counts, key)


@pytest.mark.parametrize("key", [key for key in PAGES if key.startswith("inbox")])
def test_it_shows_the_inquiries_inbox_in_constant_queries(counts, key):
    _check(counts, key)


@pytest.mark.parametrize("key", [key for key in PAGES if key.startswith("audit")])
def test_it_shows_the_audit_log_in_constant_queries(counts, key):
    _check(counts, key)


@pytest.mark.parametrize("key", [key for key in PAGES if key.startswith("dashboard")])
def test_it_shows_the_dashboard_in_constant_queries(counts, key):
    _check(counts, key)


@pytest.mark.parametrize("key", [key for key in PAGES if key.startswith("dashboard-list")])
def test_it_shows_the_dashboards_whole_lists_in_constant_queries(counts, key):
    _check(counts, key)


def test_it_measures_pages_that_show_the_grown_practice(counts):
    """The measuring itself: the therapist's caseload showed all 10 clients and then a full
    page of the 500, and the search pages found some."""
    small, large = counts["caseload-therapist"]
    assert (small.rows, large.rows) == (SMALL, 50)
    for key in ("caseload-search-name", "caseload-search-phone", "caseload-search-birthday"):
        assert counts[key][0].rows > 0, key


def test_it_fails_when_a_page_adds_a_query_per_row():
    """The check itself: a count that grows is reported, with the queries."""
    with pytest.raises(AssertionError, match="1 queries with 10 clients, 2 with 500"):
        assert_constant("audit", Count(["SELECT 1"], 1), Count(["SELECT 1", "SELECT 2"], 2))
