"""The therapist dashboard's "Integrations overdue" and its whole list ("Show all") answer by the
same rules two ways: the dashboard's first rows through caseload_standings, which feeds the pure
rules (kapflow.integration.window.standings) the plain rows of three weeks, and the whole list a
page at a time through overdue_sessions, which asks the database. On random caseloads at the
rules' edges (tests/test_page_speed_integration.py builds them) both must list exactly the
sessions, with the same standing and in the same order, that the rules give when fed every row."""

import datetime

import pytest
from django.db import transaction
from hypothesis import given

from kapflow.clients.models import Client
from kapflow.integration.window import LATE_RANK, caseload_standings, overdue_sessions
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests.test_page_speed_integration import AFTER_HOURS, NOW, build, caseloads, reference

pytestmark = pytest.mark.django_db


def _from_database(clients, practice) -> list[tuple[int, str]]:
    return [
        (session.pk, "late" if session.best == LATE_RANK else "missing")
        for session in overdue_sessions(clients, practice=practice, now=NOW)
    ]


@given(caseload=caseloads)
def test_the_whole_list_and_the_dashboard_agree_with_the_rules(tess, caseload):
    practice = Practice.load()
    with transaction.atomic():
        build(caseload, tess)
        clients = Client.objects.filter(care_team__user=tess)
        expected = reference(list(clients), practice)
        assert _from_database(clients, practice) == expected
        found = caseload_standings(clients, practice=practice, now=NOW)
        assert [(a.session.pk, a.standing.value) for a in found] == expected
        transaction.set_rollback(True)


def test_every_edge_of_the_window_gives_the_same_whole_list_as_the_rules(tess):
    practice = Practice.load()
    caseload = []
    for ends in (100, 30):
        for hours in AFTER_HOURS:
            for status in Visit.Status.values:
                caseload.append(
                    {"sessions": [(ends, "completed")], "integration": [(0, hours, status)], "records": []}
                )
            for follows in ("it", "none", "other"):
                caseload.append(
                    {"sessions": [(ends, "completed")], "integration": [], "records": [(0, hours, follows)]}
                )
    build(caseload, tess)
    clients = Client.objects.filter(care_team__user=tess)
    assert _from_database(clients, practice) == reference(list(clients), practice)


def test_two_sessions_ending_together_answer_in_the_same_order_both_ways(tess):
    """Two completed sessions of one client ending at the same moment: an integration session
    after them belongs to one of them only (the later by start, then by pk), in both ways."""
    practice = Practice.load()
    build([{"sessions": [(100, "completed"), (100, "completed")], "integration": [], "records": []}], tess)
    client = Client.objects.get(care_team__user=tess)
    first, second = client.visits.order_by("pk")
    Visit.objects.filter(pk=second.pk).update(starts_at=first.starts_at + datetime.timedelta(minutes=30))
    Visit.objects.create(
        client=client,
        kind=Visit.Kind.INTEGRATION,
        starts_at=first.ends_at + datetime.timedelta(hours=20),
        ends_at=first.ends_at + datetime.timedelta(hours=21),
        modality=Visit.Modality.VIRTUAL,
        status=Visit.Status.COMPLETED,
        clinician=tess,
        created_by=tess,
    )
    clients = Client.objects.filter(care_team__user=tess)
    expected = reference(list(clients), practice)
    assert expected == [(first.pk, "missing")]
    assert _from_database(clients, practice) == expected
    found = caseload_standings(clients, practice=practice, now=NOW)
    assert [(a.session.pk, a.standing.value) for a in found] == expected
    assert found[0].session.client == client  # loaded with its client, for the dashboard's row
