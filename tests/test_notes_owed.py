"""Issue 15, part 2: the notes a clinician owes (docs/notes.md, "Notes owed"), on the dashboard
and as a whole list, and the chart's Notes card. A visit of NOTED_KINDS owes its note once it
has begun, while it is scheduled, checked in or in progress and its note is not signed; it is
overdue note_due_hours after it ends."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.clients.models import CareTeamMember, Client
from kapflow.notes.models import ProgressNote
from kapflow.notes.owed import CHART_CARD_NOTES, chart_notes, notes_owed
from kapflow.practice.models import Practice
from kapflow.views import QUEUE_PAGE_SIZE, SHOWN
from kapflow.visits.models import Visit
from tests import factories

pytestmark = pytest.mark.django_db

NOW = timezone.now()
S = Visit.Status


def _visit(client, clinician, **fields):
    visit = _unsaved_visit(client, clinician, **fields)
    visit.save()
    return visit


def _unsaved_visit(client, clinician, *, hours_ago, kind=Visit.Kind.THERAPY, status=S.SCHEDULED, minutes=50):
    start = NOW - datetime.timedelta(hours=hours_ago)
    return Visit(
        client=client,
        kind=kind,
        status=status,
        modality=Visit.Modality.VIRTUAL,
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=minutes),
        clinician=clinician,
        created_by=clinician,
        cancel_reason="Unwell." if status == S.CANCELLED else "",
    )


def _note(visit, *, signed=False):
    return ProgressNote.objects.create(
        visit=visit,
        client=visit.client,
        author=visit.clinician,
        draft_saved_at=NOW,
        signed_at=NOW if signed else None,
        signed_by=visit.clinician if signed else None,
    )


def _owed(user, practice=None):
    clients = Client.objects.filter(care_team__user=user)
    return list(notes_owed(user, clients=clients, practice=practice or Practice.load(), now=NOW))


def test_it_lists_begun_visits_whose_note_is_not_signed_oldest_first(avery, tess, priya, colin, olive):
    old = _visit(avery, tess, hours_ago=100)  # not begun, overdue (ended 99 h ago)
    drafted = _visit(avery, tess, hours_ago=30, status=S.IN_PROGRESS)
    _note(drafted)
    checked_in = _visit(avery, tess, hours_ago=1, status=S.CHECKED_IN, kind=Visit.Kind.PREPARATION)
    now_starting = _visit(avery, tess, hours_ago=0)
    # Owe nothing: signed, completed, cancelled, no-show, not yet begun, a medication session
    # (its record is the runbook), a discovery call, someone else's visit, one Tess only joins.
    _note(_visit(avery, tess, hours_ago=50, status=S.IN_PROGRESS), signed=True)
    _note(_visit(avery, tess, hours_ago=60, status=S.COMPLETED), signed=True)
    _visit(avery, tess, hours_ago=70, status=S.CANCELLED)
    _visit(avery, tess, hours_ago=80, status=S.NO_SHOW)
    _visit(avery, tess, hours_ago=-1)
    _visit(avery, tess, hours_ago=5, kind=Visit.Kind.MEDICATION, minutes=150)
    _visit(avery, tess, hours_ago=6, kind=Visit.Kind.DISCOVERY_CALL)
    _visit(avery, priya, hours_ago=7, kind=Visit.Kind.MEDICAL_EVALUATION)
    _visit(olive, colin, hours_ago=8).other_clinicians.add(tess)
    rows = _owed(tess)
    assert [v.pk for v in rows] == [old.pk, drafted.pk, checked_in.pk, now_starting.pk]
    assert [v.draft_saved for v in rows] == [False, True, False, False]
    assert [v.overdue for v in rows] == [True, False, False, False]
    # The prescriber owes the note of their medical evaluation.
    assert [v.kind for v in _owed(priya)] == [Visit.Kind.MEDICAL_EVALUATION]


def test_overdue_follows_the_practice_setting(avery, tess):
    _visit(avery, tess, hours_ago=24 + 2, minutes=60)  # ended 25 hours ago
    practice = Practice.load()
    assert [v.overdue for v in _owed(tess, practice)] == [False]  # 72 h by default
    practice.note_due_hours = 24
    assert [v.overdue for v in _owed(tess, practice)] == [True]
    practice.note_due_hours = 26
    assert [v.overdue for v in _owed(tess, practice)] == [False]


def test_it_leaves_out_clients_the_clinician_may_no_longer_see(avery, tess):
    _visit(avery, tess, hours_ago=3)
    assert len(_owed(tess)) == 1
    CareTeamMember.objects.filter(client=avery, user=tess).delete()
    assert _owed(tess) == []


def test_the_dashboard_shows_them_and_the_whole_list_pages_them(avery, tess, login):
    visits = [_visit(avery, tess, hours_ago=200 - n) for n in range(SHOWN + 2)]
    _note(visits[1])
    http = login(tess)
    page = http.get("/").content.decode()
    assert "Notes owed" in page
    assert reverse("notes:visit", args=[avery.pk, visits[0].pk]) in page
    assert reverse("notes:visit", args=[avery.pk, visits[SHOWN].pk]) not in page
    assert "draft saved" in page and "not begun" in page and "Overdue" in page
    assert reverse("queue_notes") in page
    whole = http.get(reverse("queue_notes"))
    assert whole.status_code == 200
    body = whole.content.decode()
    assert all(reverse("notes:visit", args=[avery.pk, v.pk]) in body for v in visits)
    assert "draft saved · overdue" in body and "not begun · overdue" in body
    row = AuditEvent.objects.filter(action="kapflow.dashboard.list_viewed").latest("pk")
    assert row.detail == {"list": "notes", "page": 1, "clients": [avery.pk]}
    viewed = AuditEvent.objects.filter(action="kapflow.dashboard.viewed").latest("pk")
    assert avery.pk in viewed.detail["clients"]


def test_the_dashboard_says_so_when_none_is_owed(avery, tess, login):
    _note(_visit(avery, tess, hours_ago=3, status=S.COMPLETED), signed=True)
    page = login(tess).get("/").content.decode()
    assert "every visit of yours that has begun has its note signed" in page


def test_the_whole_list_is_for_clinicians(cora, ada, login):
    assert login(cora).get(reverse("queue_notes")).status_code == 403
    assert login(ada).get(reverse("queue_notes")).status_code == 403


def _count(http, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert http.get(url).status_code == 200
    return len(captured.captured_queries)


def test_the_dashboard_and_the_whole_list_cost_the_same_queries_however_many_are_owed(tess, login):
    http = login(tess)
    http.get("/")  # the session's first request checks the authenticator once

    def grow(count):
        for _ in range(count):
            client = factories.make_client(therapist=tess)
            _visit(client, tess, hours_ago=100)
            _note(_visit(client, tess, hours_ago=90, status=S.IN_PROGRESS))

    grow(2)
    small = {url: _count(http, url) for url in ("/", reverse("queue_notes"))}
    grow(QUEUE_PAGE_SIZE)
    large = {
        url: _count(http, url) for url in ("/", reverse("queue_notes"), reverse("queue_notes") + "?page=2")
    }
    assert large["/"] == small["/"]
    assert large[reverse("queue_notes")] == small[reverse("queue_notes")]
    assert large[reverse("queue_notes") + "?page=2"] == small[reverse("queue_notes")]


def test_the_chart_card_shows_the_latest_notes_and_where_each_stands(avery, tess, login):
    signed = _visit(avery, tess, hours_ago=300, status=S.COMPLETED)
    _note(signed, signed=True)
    drafted = _visit(avery, tess, hours_ago=200, status=S.IN_PROGRESS)
    _note(drafted)
    owed = _visit(avery, tess, hours_ago=100)
    _visit(avery, tess, hours_ago=50, status=S.CANCELLED)
    _visit(avery, tess, hours_ago=40, status=S.COMPLETED)  # completed before notes were kept
    _visit(avery, tess, hours_ago=-5)  # not begun
    rows = chart_notes(avery, practice=Practice.load(), now=NOW)
    assert [(r.visit_id, r.state, r.overdue) for r in rows] == [
        (owed.pk, "owed", True),
        (drafted.pk, "draft", True),
        (signed.pk, "signed", False),
    ]
    page = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    for visit in (signed, drafted, owed):
        assert reverse("notes:visit", args=[avery.pk, visit.pk]) in page
    assert reverse("notes:list", args=[avery.pk]) in page and "All notes" in page
    assert "Not begun" in page and "Draft" in page and "Signed" in page


def test_the_chart_card_lists_only_the_latest_few(avery, tess):
    for n in range(CHART_CARD_NOTES + 3):
        _visit(avery, tess, hours_ago=10 + n)
    assert len(chart_notes(avery, practice=Practice.load())) == CHART_CARD_NOTES


def test_the_chart_card_is_for_clinicians_only(avery, tess, cora, login):
    _visit(avery, tess, hours_ago=3)
    page = login(cora).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert 'id="notes-h"' not in page


def test_the_chart_costs_the_same_queries_however_many_notes(avery, tess, login):
    http = login(tess)
    url = reverse("clients:chart", args=[avery.pk])
    http.get(url)
    _note(_visit(avery, tess, hours_ago=100, status=S.IN_PROGRESS))
    small = _count(http, url)
    for n in range(20):
        visit = _visit(
            avery, tess, hours_ago=200 + n, status=[S.COMPLETED, S.IN_PROGRESS, S.SCHEDULED][n % 3]
        )
        if n % 3 < 2:
            _note(visit, signed=n % 3 == 0)
    assert _count(http, url) == small


def test_it_reads_the_clinicians_open_visits_not_their_history(avery, tess, olive, colin):
    """The visits still open are found on the index on (clinician, status, start): the rows a
    clinician's years of closed visits hold are never walked (they were, on the index on
    (clinician, start), 2–3 ms on every clinician's dashboard at a group practice's size)."""
    # Two clinicians' histories, a year of closed visits each: big enough that PostgreSQL's
    # planner, given the table's statistics, weighs its choices as on a practice's database.
    Visit.objects.bulk_create(
        _unsaved_visit(client, clinician, hours_ago=24 * days + client.pk % 3, status=S.COMPLETED)
        for client, clinician in ((avery, tess), (olive, colin))
        for days in range(1, 366)
    )
    owing = _visit(avery, tess, hours_ago=3)
    query = notes_owed(tess, clients=Client.objects.all(), practice=Practice.load(), now=NOW)
    assert [visit.pk for visit in query] == [owing.pk]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # PostgreSQL plans by its statistics, as a practice's database has them; and for a
            # few rows here, where a practice has thousands, whatever else it might prefer for
            # so few, an index scan.
            cursor.execute("ANALYZE visits_visit")
            for option in ("seqscan", "bitmapscan"):
                cursor.execute(f"SET LOCAL enable_{option} = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            read = re.search(r"Index (Only )?Scan using visit_clinician_status_idx on visits_visit", plan)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = "\n".join(row[-1] for row in cursor.fetchall())
            read = "INDEX visit_clinician_status_idx (clinician_id=? AND status=? AND starts_at<?)" in plan
        assert read, plan
        assert "visit_clinician_start_idx" not in plan, plan
