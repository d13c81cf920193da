"""The therapist dashboard's "Integrations overdue" is asked of the database
(kapflow.integration.window.overdue_sessions) rather than worked out in Python over every visit
of three weeks. On random caseloads it must list exactly the sessions, with the same standing,
that the pure rules (kapflow.integration.window.standings, which the client's own page uses)
give when fed every row, as the dashboard did before.

The random caseloads are built at the rules' edges: integration sessions and records at the very
end of the window and of the expected time, one hour either side, at the session's end, between
two sessions (they belong to the later one), before the look-back, completed, cancelled or
no-shows; records that name the session they follow, another client's session, or none."""

import datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from kapflow.clients.models import Client
from kapflow.integration.models import IntegrationRecord
from kapflow.integration.window import LOOKBACK, caseload_standings, standings
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 6, 10, 12, tzinfo=datetime.UTC)

EXAMPLES = hsettings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Hours relative to a medication session's end (the window is 48 h, the expected time 72 h).
AFTER_HOURS = [-30, 0, 1, 20, 47, 48, 49, 71, 72, 73, 200]
AFTER = st.sampled_from(AFTER_HOURS)
visit_status = st.sampled_from(
    [Visit.Status.SCHEDULED, Visit.Status.COMPLETED, Visit.Status.CANCELLED, Visit.Status.NO_SHOW]
)
caseloads = st.lists(
    st.fixed_dictionaries(
        {
            # Medication sessions: hours before NOW at which each ends, and its status.
            "sessions": st.lists(
                st.tuples(
                    st.sampled_from([1, 30, 47, 48, 49, 72, 100, 24 * 20, 24 * 21 - 1, 24 * 22, 24 * 30]),
                    st.sampled_from([Visit.Status.COMPLETED] * 3 + [Visit.Status.CANCELLED]),
                ),
                max_size=3,
            ),
            # Integration sessions: (which session, hours after its end, status).
            "integration": st.lists(st.tuples(st.integers(0, 2), AFTER, visit_status), max_size=3),
            # Records: (which session, hours after its end, follows: that one, none or another's).
            "records": st.lists(
                st.tuples(st.integers(0, 2), AFTER, st.sampled_from(["it", "none", "other"])), max_size=2
            ),
        }
    ),
    min_size=1,
    max_size=4,
)


def build(caseload, therapist) -> None:
    clients = []
    for plan in caseload:
        client = factories.make_client(therapist=therapist)
        clients.append(client)
        ends = []
        for hours_before, status in plan["sessions"]:
            end = NOW - datetime.timedelta(hours=hours_before)
            ends.append(end)
            client.last_session = Visit.objects.create(
                client=client,
                kind=Visit.Kind.MEDICATION,
                starts_at=end - datetime.timedelta(minutes=150),
                ends_at=end,
                modality=Visit.Modality.VIRTUAL,
                status=status,
                cancel_reason="Unwell." if status == Visit.Status.CANCELLED else "",
                clinician=therapist,
                created_by=therapist,
            )
        if not ends:
            continue
        for which, hours, status in plan["integration"]:
            starts = ends[which % len(ends)] + datetime.timedelta(hours=hours)
            Visit.objects.create(
                client=client,
                kind=Visit.Kind.INTEGRATION,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(minutes=60),
                modality=Visit.Modality.VIRTUAL,
                status=status,
                cancel_reason="Unwell." if status == Visit.Status.CANCELLED else "",
                clinician=therapist,
                created_by=therapist,
            )
        for which, hours, follows in plan["records"]:
            session = client.visits.filter(kind=Visit.Kind.MEDICATION).order_by("ends_at", "pk")[
                which % len(ends)
            ]
            other = Visit.objects.filter(kind=Visit.Kind.MEDICATION).exclude(client=client).first()
            IntegrationRecord.objects.create(
                client=client,
                clinician=therapist,
                themes="Grief.",
                recorded_at=session.ends_at + datetime.timedelta(hours=hours),
                follows={"it": session, "none": None, "other": other}[follows],
            )


def reference(clients, practice) -> list[tuple[int, str]]:
    """The overdue sessions by the pure rules fed every row of the last three weeks, as the
    dashboard worked them out before."""
    since = NOW - LOOKBACK
    late = []
    for client in clients:
        medication = list(
            client.visits.filter(
                kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED, starts_at__gte=since
            )
        )
        integration = list(
            client.visits.filter(kind=Visit.Kind.INTEGRATION, starts_at__gte=since).exclude(
                status__in=[Visit.Status.CANCELLED, Visit.Status.NO_SHOW]
            )
        )
        records = list(IntegrationRecord.objects.filter(client=client, recorded_at__gte=since))
        answers = standings(
            medication=medication,
            integration=integration,
            records=records,
            window_hours=practice.integration_window_hours,
            expected_hours=practice.integration_expected_hours,
            now=NOW,
        )
        late.extend(answer for answer in answers if answer.overdue)
    return [
        (a.session.pk, a.standing.value)
        for a in sorted(late, key=lambda a: (a.session.ends_at, a.session.pk))
    ]


@EXAMPLES
@given(caseload=caseloads)
def test_the_database_finds_the_same_overdue_integrations_as_the_rules(tess, caseload):
    practice = Practice.load()
    with transaction.atomic():
        build(caseload, tess)
        clients = Client.objects.filter(care_team__user=tess)
        found = caseload_standings(clients, practice=practice, now=NOW)
        assert [(a.session.pk, a.standing.value) for a in found] == reference(list(clients), practice)
        assert all(a.overdue for a in found)
        transaction.set_rollback(True)


def test_a_record_between_two_sessions_answers_for_the_later_one_only(tess):
    """Two sessions two days apart; an unattached record an hour after the second: the second
    is done, the first (its window long closed) is missing."""
    practice = Practice.load()
    build(
        [
            {
                "sessions": [(100, "completed"), (49, "completed")],
                "integration": [],
                "records": [(1, 1, "none")],
            }
        ],
        tess,
    )
    clients = Client.objects.filter(care_team__user=tess)
    found = caseload_standings(clients, practice=practice, now=NOW)
    first = Visit.objects.filter(kind=Visit.Kind.MEDICATION).order_by("ends_at").first()
    assert [(a.session, a.standing.value) for a in found] == [(first, "missing")]
    assert found == caseload_standings(clients, practice=practice, now=NOW, limit=5)
    assert caseload_standings(clients, practice=practice, now=NOW, limit=0) == []


def test_every_edge_of_the_window_gives_the_same_answer_as_the_rules(tess):
    """One client for each moment and status of an integration session, and for each moment and
    kind of record, after a session whose window has closed and after one still open."""
    practice = Practice.load()
    caseload = []
    for ends in (100, 30):
        for hours in AFTER_HOURS:
            for status in Visit.Status.values:
                plan = {"sessions": [(ends, "completed")], "integration": [(0, hours, status)], "records": []}
                caseload.append(plan)
            for follows in ("it", "none", "other"):
                caseload.append(
                    {"sessions": [(ends, "completed")], "integration": [], "records": [(0, hours, follows)]}
                )
    build(caseload, tess)
    clients = Client.objects.filter(care_team__user=tess)
    found = [
        (a.session.pk, a.standing.value) for a in caseload_standings(clients, practice=practice, now=NOW)
    ]
    assert found == reference(list(clients), practice)
    assert {"late", "missing"} == {standing for _pk, standing in found}
