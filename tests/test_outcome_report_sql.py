"""The outcome report is worked out by the database (kapflow.outcomes.report._course_rows): on
random practices it must give exactly the report a plain reading of every row gives, by the
definitions in the report module's docstring. The reference below is that plain reading: it
loads every session, dose, adverse event and response and walks them in Python, as the report
itself did before it moved into SQL.

The random practices are built to hit the edges of the definitions: sessions just inside and
just outside the period, cancelled and no-show sessions, integration visits (never counted),
sessions with no dose and with boosters, two sessions of one client at the same minute,
responses at the very minute of the first session (a baseline), several responses at one
minute (the later id wins), responses after the period (never counted)."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from kapflow.dosing.models import Administration, AdverseEvent, Runbook
from kapflow.measures import instruments
from kapflow.measures.models import Response
from kapflow.medical.models import MedicationOrder
from kapflow.outcomes.report import (
    NOT_RECORDED,
    Course,
    Report,
    _group,
    _withhold_complements,
    build_report,
    period_bounds,
)
from kapflow.visits.models import Room, Visit
from tests import factories

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")  # the practice's time zone in the test settings
START, END = datetime.date(2026, 4, 1), datetime.date(2026, 6, 30)
# Moments are whole hours from this one: the period runs from hour 0 to hour 2184 (91 days).
ORIGIN = datetime.datetime(2026, 4, 1, tzinfo=LA)
PERIOD_HOURS = 91 * 24

EXAMPLES = hsettings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def moment(hours: int) -> datetime.datetime:
    return ORIGIN + datetime.timedelta(hours=hours)


# Hours near the period's edges and inside it, few enough that two things often share one.
hours = st.one_of(
    st.sampled_from([-1, 0, 1, PERIOD_HOURS - 1, PERIOD_HOURS, PERIOD_HOURS + 1]),
    st.integers(min_value=-24 * 60, max_value=PERIOD_HOURS + 24 * 20).map(lambda h: h - h % 12),
)
sessions = st.lists(
    st.fixed_dictionaries(
        {
            "at": hours,
            "kind": st.sampled_from([Visit.Kind.MEDICATION] * 4 + [Visit.Kind.INTEGRATION]),
            "status": st.sampled_from(
                [Visit.Status.COMPLETED] * 4 + [Visit.Status.CANCELLED, Visit.Status.NO_SHOW]
            ),
            "virtual": st.booleans(),
            "dose": st.sampled_from([None, "sublingual", "intranasal", "intramuscular"]),
            "booster": st.booleans(),
            "events": st.lists(st.sampled_from(AdverseEvent.Severity.values), max_size=3),
        }
    ),
    max_size=5,
)
responses = st.lists(
    st.tuples(
        st.sampled_from(list(instruments.INSTRUMENTS)),
        st.integers(min_value=0, max_value=27),
        # An offset in hours from a session of the client's (None: from the period's start).
        st.one_of(st.none(), st.integers(min_value=0, max_value=4)),
        st.sampled_from([-24 * 7, -1, 0, 0, 1, 24 * 10, 24 * 200]),
    ),
    max_size=8,
)
practices = st.lists(st.tuples(sessions, responses), min_size=1, max_size=14)


def build(practice, therapist, prescriber, room) -> None:
    for client_sessions, client_responses in practice:
        client = factories.make_client(therapist=therapist, prescriber=prescriber)
        order = MedicationOrder.objects.create(
            client=client,
            prescriber=prescriber,
            drug="ketamine",
            route="sublingual",
            dose_min=Decimal("50"),
            dose_max=Decimal("400"),
            sessions_authorised=12,
            starts_on=datetime.date(2025, 1, 1),
            ends_on=datetime.date(2027, 1, 1),
        )
        starts = []
        for session in client_sessions:
            starts_at = moment(session["at"])
            starts.append(starts_at)
            visit = Visit.objects.create(
                client=client,
                kind=session["kind"],
                starts_at=starts_at,
                ends_at=starts_at + datetime.timedelta(minutes=150),
                modality=Visit.Modality.VIRTUAL if session["virtual"] else Visit.Modality.IN_PERSON,
                room=None if session["virtual"] else room,
                status=session["status"],
                cancel_reason="Unwell." if session["status"] == Visit.Status.CANCELLED else "",
                clinician=therapist,
                created_by=therapist,
            )
            if session["kind"] != Visit.Kind.MEDICATION:
                continue
            runbook = Runbook.objects.create(visit=visit)
            doses = []
            if session["dose"]:
                doses.append((session["dose"], False, 30))
            if session["booster"]:
                doses.append((session["dose"] or "sublingual", True, 10))
            for route, booster, minutes in doses:
                Administration.objects.create(
                    runbook=runbook,
                    order=order,
                    is_booster=booster,
                    given_at=starts_at + datetime.timedelta(minutes=minutes),
                    route=route,
                    dose_mg=Decimal("100"),
                    lot_number="L1",
                    given_by=prescriber,
                    recorded_by=prescriber,
                )
            for severity in session["events"]:
                AdverseEvent.objects.create(
                    runbook=runbook,
                    noted_at=starts_at + datetime.timedelta(minutes=60),
                    kind="nausea",
                    severity=severity,
                    action_taken="Watched.",
                    recorded_by=therapist,
                )
        for key, total, which, offset in client_responses:
            instrument = instruments.INSTRUMENTS[key]
            total = min(total, instrument.max_total)
            base = starts[which % len(starts)] if which is not None and starts else ORIGIN
            Response.objects.create(
                client=client,
                instrument=key,
                version="1",
                answers={},
                total=total,
                band=instrument.band_for(total).label,
                completed_at=base + datetime.timedelta(hours=offset),
            )


def reference_report(start: datetime.date, end: datetime.date) -> Report:
    """The report by reading every row and applying the definitions one by one."""
    since, until = period_bounds(start, end)
    courses: dict[int, Course] = {}
    first_visit: dict[int, Visit] = {}
    course_of_visit: dict[int, Course] = {}
    for visit in Visit.objects.order_by("starts_at", "pk"):
        if not (
            visit.kind == Visit.Kind.MEDICATION
            and visit.status == Visit.Status.COMPLETED
            and since <= visit.starts_at < until
        ):
            continue
        if visit.client_id not in courses:
            courses[visit.client_id] = Course(
                client_id=visit.client_id, first_start=visit.starts_at, modality=visit.modality
            )
            first_visit[visit.client_id] = visit
        courses[visit.client_id].sessions += 1
        course_of_visit[visit.pk] = courses[visit.client_id]
    for client_id, visit in first_visit.items():
        doses = [d for d in Administration.objects.filter(runbook__visit=visit) if not d.is_booster]
        courses[client_id].route = doses[0].route if doses else NOT_RECORDED
    for event in AdverseEvent.objects.select_related("runbook"):
        course = course_of_visit.get(event.runbook.visit_id)
        if course is not None:
            course.adverse[event.severity] = course.adverse.get(event.severity, 0) + 1
    pairs: dict[int, dict[str, tuple[int, int]]] = {}
    for client_id, course in courses.items():
        for key in instruments.INSTRUMENTS:
            theirs = sorted(
                Response.objects.filter(client_id=client_id, instrument=key),
                key=lambda r: (r.completed_at, r.pk),
            )
            before = [r for r in theirs if r.completed_at <= course.first_start]
            after = [r for r in theirs if course.first_start < r.completed_at < until]
            if before and after:
                pairs.setdefault(client_id, {})[key] = (before[-1].total, after[-1].total)
    everyone = list(courses.values())
    routes = dict(MedicationOrder.Route.choices)
    by_route = [
        _group(routes.get(route, "not recorded"), [c for c in everyone if c.route == route], pairs)
        for route in [*routes, NOT_RECORDED]
        if any(c.route == route for c in everyone)
    ]
    by_modality = [
        _group(label, [c for c in everyone if c.modality == modality], pairs)
        for modality, label in Visit.Modality.choices
        if any(c.modality == modality for c in everyone)
    ]
    return Report(
        start=start,
        end=end,
        overall=_group("All clients treated", everyone, pairs),
        by_route=_withhold_complements(by_route),
        by_modality=_withhold_complements(by_modality),
    )


@pytest.fixture
def staff(tess, priya):
    return tess, priya, Room.objects.create(name="Garden Room")


@EXAMPLES
@given(practice=practices)
def test_the_database_gives_the_same_report_as_reading_every_row(staff, practice):
    therapist, prescriber, room = staff
    with transaction.atomic():
        build(practice, therapist, prescriber, room)
        assert build_report(start=START, end=END) == reference_report(START, END)
        transaction.set_rollback(True)


def test_a_large_practice_gives_the_same_report_with_figures_shown(staff):
    """Enough clients for every figure to be shown (the random practices are mostly below the
    small-cell rule), with ties between a session and a response, and between two responses."""
    therapist, prescriber, room = staff
    practice = []
    for n in range(24):
        client_sessions = [
            {
                "at": 24 * (3 + n) + 12 * k * 14,
                "kind": Visit.Kind.MEDICATION,
                "status": Visit.Status.COMPLETED,
                "virtual": n % 3 == 0,
                "dose": [None, "sublingual", "intranasal"][n % 3] if k == 0 else "sublingual",
                "booster": k == 1,
                "events": ["mild"] * (n % 2) + ["severe"] * (k == 2),
            }
            for k in range(2 + n % 4)
        ]
        client_responses = [
            ("phq9", 10 + n % 15, 0, 0),  # at the first session's start: the baseline
            ("phq9", 24, None, -24 * 7),
            ("phq9", 5 + n % 9, 1, 24 * 10),
            ("phq9", 3 + n % 7, 1, 24 * 10),  # the same minute: the later one is the end
            ("gad7", 8 + n % 10, 0, -1),
            ("gad7", 2 + n % 12, 0, 24 * 200),  # after the period: not an end
            ("gad7", 4 + n % 5, 0, 1),
            ("pcl5", 40 + n, 0, -1),
            ("pcl5", 20 + n, 0, 24 * 10),
        ]
        practice.append((client_sessions, client_responses))
    build(practice, therapist, prescriber, room)
    report = build_report(start=START, end=END)
    assert report == reference_report(START, END)
    phq9 = report.overall.instruments["phq9"]
    assert report.overall.shown and phq9.shown and phq9.n == 24
    assert report.overall.adverse_events > 0 and len(report.by_route) == 3
