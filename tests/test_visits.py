"""Scheduling (issue 4, item 1): booking, clashes, statuses, readiness before a medication
session starts, the calendars, the course plan's series and the private calendar feed."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.lib.gates import GateResult, Status
from kapflow.pathway.models import CoursePlan
from kapflow.pathway.readiness import Gate
from kapflow.visits.models import LONGEST_VISIT, CalendarFeed, Room, Visit
from kapflow.visits.series import propose
from kapflow.visits.services import Slot, VisitRefused, visit_book
from tests import factories
from tests.query_checks import asked_twice


@pytest.fixture
def room(db):
    return Room.objects.create(name="Room 1")


def at(days=3, hour=10, minute=0):
    day = timezone.localdate() + datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def book_form(clinician, room, *, starts, kind="therapy", minutes=60, **extra):
    return {
        "kind": kind,
        "starts_at": timezone.localtime(starts).strftime("%Y-%m-%dT%H:%M"),
        "minutes": minutes,
        "clinician": clinician.pk,
        "modality": "in_person",
        "room": room.pk if room else "",
        **extra,
    }


def make_visit(client, clinician, room, *, starts, minutes=60, kind="therapy", by=None, **fields):
    return Visit.objects.create(
        client=client,
        kind=kind,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=minutes),
        room=room,
        clinician=clinician,
        created_by=by or clinician,
        **fields,
    )


def test_it_lets_the_coordinator_book_a_visit(cora, tess, avery, room, login, audit_rows):
    response = login(cora).post(reverse("visits:new", args=[avery.pk]), book_form(tess, room, starts=at()))
    visit = Visit.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "visits:detail", args=[avery.pk, visit.pk]
    )
    assert (visit.clinician, visit.room, visit.minutes, visit.created_by) == (tess, room, 60, cora)
    [row] = audit_rows("kapflow.visits.visit.booked")
    assert (row.actor, row.client) == (cora, avery)


def test_it_uses_the_usual_length_of_a_medication_session(cora, tess, avery, room, login):
    login(cora).post(
        reverse("visits:new", args=[avery.pk]),
        book_form(tess, room, starts=at(), kind="medication", minutes=""),
    )
    assert Visit.objects.get().minutes == 150


def test_it_refuses_an_in_person_visit_without_a_room(cora, tess, avery, login):
    response = login(cora).post(reverse("visits:new", args=[avery.pk]), book_form(tess, None, starts=at()))
    assert response.status_code == 200 and "Choose the room" in response.content.decode()
    assert not Visit.objects.exists()


@pytest.mark.parametrize(
    "clash, message",
    [
        ("clinician", "Tess Therapist is with OO from 10:00 to 11:00"),
        ("client", "AA already has a therapy session with Colin Colleague from 10:00 to 11:00"),
        ("room", "Room 1 is taken by Colin Colleague from 10:00 to 11:00"),
    ],
)
def test_it_refuses_a_clash_and_names_it(clash, message, cora, tess, colin, avery, olive, room, login):
    other_room = Room.objects.create(name="Room 2")
    if clash == "clinician":
        make_visit(olive, tess, other_room, starts=at())
    elif clash == "client":
        make_visit(avery, colin, other_room, starts=at())
    else:
        make_visit(olive, colin, room, starts=at())
    before = Visit.objects.count()
    response = login(cora).post(
        reverse("visits:new", args=[avery.pk]), book_form(tess, room, starts=at(minute=30))
    )
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert Visit.objects.count() == before


def test_a_joining_clinician_clashes_too(cora, tess, priya, avery, olive, room, login):
    make_visit(olive, priya, Room.objects.create(name="Room 2"), starts=at())
    data = book_form(tess, room, starts=at(), other_clinicians=[priya.pk])
    response = login(cora).post(reverse("visits:new", args=[avery.pk]), data)
    assert "Priya Prescriber is with OO" in response.content.decode()


def test_it_allows_back_to_back_visits_and_ignores_cancelled_ones(cora, tess, avery, olive, room, login):
    make_visit(olive, tess, room, starts=at(hour=9))
    make_visit(olive, tess, room, starts=at(), status="cancelled", cancel_reason="ill")
    login(cora).post(reverse("visits:new", args=[avery.pk]), book_form(tess, room, starts=at()))
    assert Visit.objects.filter(client=avery).count() == 1


def test_it_refuses_a_clash_on_reschedule(cora, tess, avery, olive, room, login, audit_rows):
    make_visit(olive, tess, room, starts=at(hour=14))
    visit = make_visit(avery, tess, room, starts=at())
    url = reverse("visits:reschedule", args=[avery.pk, visit.pk])
    data = book_form(tess, room, starts=at(hour=14, minute=30))
    assert "Tess Therapist is with OO" in login(cora).post(url, data).content.decode()
    data = book_form(tess, room, starts=at(hour=16))
    assert login(cora).post(url, data).status_code == 302
    visit.refresh_from_db()
    assert timezone.localtime(visit.starts_at).hour == 16
    assert audit_rows("kapflow.visits.visit.rescheduled")[0].detail == {"changed": ["starts_at", "ends_at"]}


def test_it_moves_a_visit_through_its_statuses(tess, avery, room, login, audit_rows):
    visit = make_visit(avery, tess, room, starts=at(days=-1))
    http = login(tess)
    for name, status in (("check_in", "checked_in"), ("start", "in_progress")):
        http.post(reverse(f"visits:{name}", args=[avery.pk, visit.pk]))
        visit.refresh_from_db()
        assert visit.status == status
    # A clinical visit is completed by signing its note (tests/test_notes.py), not by a button.
    response = http.post(reverse("visits:complete", args=[avery.pk, visit.pk]), follow=True)
    assert "A visit is completed by signing its note." in response.content.decode()
    factories.sign_note(visit, tess)
    visit.refresh_from_db()
    assert visit.status == "completed"
    actions = [
        r.action
        for r in audit_rows()
        if r.action.startswith("kapflow.visits.visit.")
        and r.action not in ("kapflow.visits.visit.opened", "kapflow.visits.visit.viewed")
    ]
    assert actions[-3:] == [
        "kapflow.visits.visit.checked_in",
        "kapflow.visits.visit.started",
        "kapflow.visits.visit.completed",
    ]


def test_it_refuses_a_transition_the_status_does_not_allow(cora, tess, avery, room, login):
    visit = make_visit(avery, tess, room, starts=at(), status="completed")
    response = login(cora).post(reverse("visits:no_show", args=[avery.pk, visit.pk]), follow=True)
    assert "cannot be marked no-show" in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == "completed"


def test_cancelling_needs_a_reason(cora, tess, avery, room, login, audit_rows):
    visit = make_visit(avery, tess, room, starts=at())
    url = reverse("visits:cancel", args=[avery.pk, visit.pk])
    login(cora).post(url, {"reason": "  "})
    visit.refresh_from_db()
    assert visit.status == "scheduled"
    login(cora).post(url, {"reason": "Client unwell"})
    visit.refresh_from_db()
    assert (visit.status, visit.cancel_reason) == ("cancelled", "Client unwell")
    assert audit_rows("kapflow.visits.visit.cancelled")[0].actor == cora


def test_a_coordinator_cannot_start_a_visit(cora, tess, avery, room, login):
    visit = make_visit(avery, tess, room, starts=at())
    assert login(cora).post(reverse("visits:start", args=[avery.pk, visit.pk])).status_code == 403


def test_a_medication_session_starts_only_when_every_hard_gate_passes(tess, avery, room, login, monkeypatch):
    visit = make_visit(avery, tess, room, starts=at(), kind="medication", minutes=150)
    url = reverse("visits:start", args=[avery.pk, visit.pk])
    response = login(tess).post(url, follow=True)
    assert "cannot start: not ready (consultation" in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == "scheduled"

    def soft_only(client, **kwargs):
        return [
            Gate(GateResult("consultation", "Consultation", Status.PASS, "ok", "therapist")),
            Gate(GateResult("integration", "Integration booked", Status.ACKNOWLEDGE, "ack", "therapist")),
        ]

    monkeypatch.setattr("kapflow.pathway.readiness.readiness", soft_only)
    login(tess).post(url)
    visit.refresh_from_db()
    assert visit.status == "in_progress"


def test_readiness_reasons_show_to_clinicians_only(cora, tess, avery, room, login):
    visit = make_visit(avery, tess, room, starts=at(), kind="medication", minutes=150)
    for url in (
        reverse("visits:new", args=[avery.pk]) + "?kind=medication",
        reverse("visits:detail", args=[avery.pk, visit.pk]),
    ):
        as_tess = login(tess).get(url).content.decode()
        as_cora = login(cora).get(url).content.decode()
        assert "No consultation recorded yet." in as_tess
        assert "No consultation recorded yet." not in as_cora
        assert "Not ready — a clinician must resolve it" in as_cora


def test_a_therapist_outside_the_care_team_cannot_see_the_clients_visits(colin, tess, avery, room, login):
    visit = make_visit(avery, tess, room, starts=at())
    http = login(colin)
    assert http.get(reverse("visits:list", args=[avery.pk])).status_code == 404
    assert http.get(reverse("visits:detail", args=[avery.pk, visit.pk])).status_code == 404
    assert (
        http.post(reverse("visits:new", args=[avery.pk]), book_form(colin, room, starts=at())).status_code
        == 404
    )


def test_the_calendar_shows_busy_for_clients_the_viewer_may_not_see(colin, tess, avery, olive, room, login):
    make_visit(avery, tess, room, starts=at(days=0, hour=9))
    make_visit(olive, colin, Room.objects.create(name="Room 2"), starts=at(days=0, hour=9))
    page = login(colin).get(reverse("calendar:day") + "?who=practice").content.decode()
    assert "Olive O." in page and "Avery" not in page and "Busy" in page
    page = login(tess).get(reverse("calendar:week")).content.decode()
    assert "Avery A." in page and "Busy" not in page and "Olive" not in page
    assert reverse("calendar:badges") not in page  # not medication


def test_the_calendar_loads_a_readiness_badge_for_the_clients_clinicians(cora, tess, avery, room, login):
    visit = make_visit(avery, tess, room, starts=at(days=0), kind="medication", minutes=150)
    badges = f"{reverse('calendar:badges')}?ids={visit.pk}"
    assert badges in login(tess).get(reverse("calendar:day")).content.decode()
    assert (
        reverse("calendar:badges")
        not in login(cora).get(reverse("calendar:day") + "?who=practice").content.decode()
    )
    assert "Not ready" in login(tess).get(badges).content.decode()


def _week_queries(http) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert http.get(reverse("calendar:week") + "?who=practice").status_code == 200
    return len(queries)


def test_the_week_calendar_runs_the_same_queries_for_10_and_200_visits(tess, cora, room, login):
    clients = [factories.make_client(first_name=f"C{n}", therapist=tess) for n in range(10)]
    monday = timezone.localdate() - datetime.timedelta(days=timezone.localdate().weekday())

    def fill(count):
        Visit.objects.all().delete()
        Visit.objects.bulk_create(
            Visit(
                client=clients[n % 10],
                kind="medication" if n % 3 == 0 else "therapy",
                starts_at=timezone.make_aware(
                    datetime.datetime.combine(monday + datetime.timedelta(days=n % 7), datetime.time(8))
                )
                + datetime.timedelta(minutes=n),
                ends_at=timezone.make_aware(
                    datetime.datetime.combine(monday + datetime.timedelta(days=n % 7), datetime.time(9))
                )
                + datetime.timedelta(minutes=n),
                room=room,
                clinician=tess,
                created_by=cora,
            )
            for n in range(count)
        )

    for user in (tess, cora):
        http = login(user)
        http.get(reverse("home"))
        fill(10)
        small = _week_queries(http)
        fill(200)
        assert _week_queries(http) == small


def test_it_proposes_the_series_for_the_cadence(tess, avery):
    plan = CoursePlan.objects.create(
        client=avery, goals="g", planned_sessions=4, cadence="twice_weekly", updated_by=tess
    )
    monday = datetime.date(2026, 3, 2)
    rows = propose(plan=plan, first_day=monday, at=datetime.time(10), integration_expected_hours=72)
    medication = [r.day for r in rows if r.kind == "medication"]
    assert medication == [monday + datetime.timedelta(days=d) for d in (0, 3, 7, 10)]
    integration = [r for r in rows if r.kind == "integration"]
    assert [r.day for r in integration] == [d + datetime.timedelta(days=1) for d in medication]
    plan.cadence, plan.integration_after_each = "fortnightly", False
    rows = propose(plan=plan, first_day=monday, at=datetime.time(10), integration_expected_hours=72)
    assert [r.day for r in rows] == [monday + datetime.timedelta(days=14 * n) for n in range(4)]


def _series_post(page_form_rows, clinician, room):
    data = {
        "where-clinician": clinician.pk,
        "where-modality": "in_person",
        "where-room": room.pk,
        "row-TOTAL_FORMS": len(page_form_rows),
        "row-INITIAL_FORMS": len(page_form_rows),
    }
    for i, (kind, number, day, time) in enumerate(page_form_rows):
        data.update(
            {
                f"row-{i}-book": "on",
                f"row-{i}-kind": kind,
                f"row-{i}-number": number,
                f"row-{i}-day": day.isoformat(),
                f"row-{i}-time": time,
                f"row-{i}-minutes": 150 if kind == "medication" else 60,
            }
        )
    return data


def test_it_books_the_series_or_none_of_it(cora, tess, avery, olive, room, login, audit_rows):
    CoursePlan.objects.create(client=avery, goals="g", planned_sessions=2, cadence="weekly", updated_by=tess)
    url = reverse("visits:series", args=[avery.pk])
    page = login(cora).get(url).content.decode()
    assert "Medication session 1" in page and "Integration after 2" in page
    day = timezone.localdate() + datetime.timedelta(days=7)
    rows = [
        ("medication", 1, day, "10:00"),
        ("integration", 1, day + datetime.timedelta(days=1), "10:00"),
        ("medication", 2, day + datetime.timedelta(days=7), "10:00"),
    ]
    make_visit(olive, tess, Room.objects.create(name="Room 2"), starts=at(days=14, hour=11))
    response = login(cora).post(url, _series_post(rows, tess, room))
    assert (
        "Medication session, " in response.content.decode()
        and "Tess Therapist is with OO" in response.content.decode()
    )
    assert not Visit.objects.filter(client=avery).exists()
    rows[2] = ("medication", 2, day + datetime.timedelta(days=8), "10:00")
    assert login(cora).post(url, _series_post(rows, tess, room)).status_code == 302
    assert Visit.objects.filter(client=avery).count() == 3
    assert len(audit_rows("kapflow.visits.visit.booked")) == 3


def test_the_feed_carries_only_kind_initials_times_and_place(
    tess, avery, olive, colin, room, login, audit_rows
):
    make_visit(avery, tess, room, starts=at(), kind="medication", minutes=150)
    virtual = make_visit(
        olive, colin, None, starts=at(hour=14), modality="virtual", video_link="https://v.example/x"
    )
    virtual.other_clinicians.add(tess)
    login(tess).post(reverse("calendar:feed_create"))
    feed = CalendarFeed.objects.get(user=tess, revoked_at__isnull=True)
    body = login(None).get(reverse("calendar:feed", args=[feed.token])).content.decode()
    assert "SUMMARY:Medication session — AA" in body and "LOCATION:Room 1" in body
    assert "SUMMARY:Therapy session — OO" in body and "LOCATION:Video" in body
    for secret in ("Avery", "Alvarez", "Olive", "Okafor", "v.example", "Tess", "Colin"):
        assert secret not in body
    assert audit_rows("kapflow.visits.feed.fetched")[0].actor == tess


def test_a_revoked_or_unknown_feed_answers_404(tess, login, audit_rows):
    http = login(tess)
    http.post(reverse("calendar:feed_create"))
    old = CalendarFeed.objects.get()
    http.post(reverse("calendar:feed_create"))  # a new address turns the old one off
    new = CalendarFeed.objects.get(revoked_at__isnull=True)
    anon = login(None)
    assert anon.get(reverse("calendar:feed", args=[old.token])).status_code == 404
    assert anon.get(reverse("calendar:feed", args=[new.token])).status_code == 200
    http.post(reverse("calendar:feed_revoke"))
    assert anon.get(reverse("calendar:feed", args=[new.token])).status_code == 404
    assert anon.get(reverse("calendar:feed", args=["nope"])).status_code == 404
    assert len(audit_rows("kapflow.visits.feed.revoked")) == 2


def test_the_service_refuses_a_visit_longer_than_any_range_query_looks_back(tess, avery, room, rf):
    """Below the form (which caps the length at 12 hours): every range query looks back
    LONGEST_VISIT for visits reaching into it, so a longer one must never be saved, or the clash
    check would miss it."""
    request = rf.post("/")
    request.user = tess
    starts = at(days=5, hour=7)
    slot = Slot(kind="therapy", starts_at=starts, ends_at=starts + LONGEST_VISIT, clinician=tess, room=room)
    visit_book(request=request, client=avery, slot=slot)  # twelve hours exactly: allowed
    longer = Slot(
        kind="therapy",
        starts_at=starts + datetime.timedelta(days=1),
        ends_at=starts + datetime.timedelta(days=1) + LONGEST_VISIT + datetime.timedelta(minutes=1),
        clinician=tess,
        room=room,
    )
    with pytest.raises(VisitRefused, match="at most 12 hours"):
        visit_book(request=request, client=avery, slot=longer)


@pytest.mark.parametrize("planned", [False, True])
def test_a_medication_sessions_page_asks_the_database_nothing_twice(planned, tess, avery, room, login):
    """The plan in force is read once for the readiness gates and the session's place in the
    course, and the plan an estimate is for once for both of its warnings (each was read twice)."""
    if planned:
        CoursePlan.objects.create(
            client=avery, goals="g", planned_sessions=6, cadence="weekly", updated_by=tess
        )
    visit = make_visit(avery, tess, room, starts=at(), minutes=150, kind="medication")
    http = login(tess)
    url = reverse("visits:detail", args=[avery.pk, visit.pk])
    with CaptureQueriesContext(connection) as queries:
        response = http.get(url)
    assert response.status_code == 200
    if planned:
        assert "Session 1 of 6" in response.content.decode()
    assert asked_twice(queries) == []


@pytest.mark.parametrize("page", ["new medication session", "new visit", "series", "reschedule"])
def test_a_booking_page_reads_its_lists_once(page, tess, priya, avery, room, login):
    """The drop-down of who sees the client and the check boxes of who joins show one list of
    clinicians, read once. Each field read it again each time it was drawn: three reads on a
    single visit's booking and rescheduling pages, two on the series page (the drop-down alone).
    The rooms' list is read once too, and a new booking starts on its first room: that room was
    a query of its own."""
    url = {
        "new medication session": reverse("visits:new", args=[avery.pk]),
        "new visit": reverse("visits:new", args=[avery.pk]) + "?kind=therapy",
        "series": reverse("visits:series", args=[avery.pk]),
    }.get(page)
    if url is None:
        visit = make_visit(avery, tess, room, starts=at(), kind="integration")
        url = reverse("visits:reschedule", args=[avery.pk, visit.pk])
    if page == "series":  # the series is proposed from the course plan
        CoursePlan.objects.create(
            client=avery, goals="g", planned_sessions=6, cadence="weekly", updated_by=tess
        )
    http = login(tess)
    with CaptureQueriesContext(connection) as queries:
        response = http.get(url)
    assert response.status_code == 200
    assert priya.display_name in response.content.decode()
    assert asked_twice(queries) == []
    # The rooms too: the list, and the room a new booking starts on (the first of it), one read.
    rooms = [q["sql"] for q in queries if 'FROM "visits_room"' in q["sql"]]
    assert len(rooms) == 1, rooms
    assert f'<option value="{room.pk}" selected>' in response.content.decode()
