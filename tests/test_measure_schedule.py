"""Measure schedules (issue 5, item 1): baseline, before each medication session, weekly in a
course, at review and at discharge, each a MeasureTask; visit tasks follow their visit; the sweep
is idempotent; the runbook's selector of measures before a session."""

import datetime

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.test import RequestFactory
from django.utils import timezone

from kapflow.measures import schedule
from kapflow.measures.instruments import GAD7, PHQ9
from kapflow.measures.models import MeasureTask, Response
from kapflow.measures.schedule import ClientState, NewTask, ResponseInfo, TaskInfo, VisitInfo, plan
from kapflow.measures.selectors import measures_before_session
from kapflow.measures.services import response_record
from kapflow.practice.models import Practice
from kapflow.visits import services as visit_services
from kapflow.visits.models import Room, Visit

NOW = datetime.datetime(2026, 3, 10, 15, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def decide(state, now=NOW, weekly_days=7, lead_hours=24):
    return plan(state, now=now, weekly_days=weekly_days, lead_hours=lead_hours)


def made(result):
    return sorted((t.instrument, t.reason, t.due_at, t.visit_id) for t in result.create)


# The decisions, as pure functions.


def test_it_asks_for_a_baseline_of_all_three_before_the_course():
    for stage in ("screening", "consent", "preparation"):
        assert made(decide(ClientState(stage=stage))) == [
            ("gad7", "baseline", NOW, None),
            ("pcl5", "baseline", NOW, None),
            ("phq9", "baseline", NOW, None),
        ]


def test_it_asks_no_baseline_at_consultation_or_in_a_course_already():
    assert made(decide(ClientState(stage="consultation"))) == []
    in_course = decide(ClientState(stage="course", responses=[ResponseInfo("phq9", "weekly", NOW - DAY)]))
    assert all(t.reason != "baseline" for t in in_course.create)


def test_a_baseline_answered_or_asked_is_not_asked_again():
    state = ClientState(
        stage="preparation",
        responses=[ResponseInfo("phq9", "baseline", NOW - 30 * DAY)],
        tasks=[TaskInfo(1, "gad7", "baseline", NOW - DAY)],
    )
    assert made(decide(state)) == [("pcl5", "baseline", NOW, None)]


def test_a_medication_session_asks_for_phq9_and_gad7_the_lead_time_before_it():
    starts = NOW + 3 * DAY
    state = ClientState(stage="preparation", visits=[VisitInfo(7, "medication", starts, "scheduled")])
    state.responses = [ResponseInfo(key, "baseline", NOW - DAY) for key in ("phq9", "gad7", "pcl5")]
    assert made(decide(state, lead_hours=24)) == [
        ("gad7", "pre_session", starts - DAY, 7),
        ("phq9", "pre_session", starts - DAY, 7),
    ]
    assert {t.due_at for t in decide(state, lead_hours=48).create} == {starts - 2 * DAY}


def test_a_progress_review_asks_for_all_three():
    starts = NOW + 5 * DAY
    state = ClientState(stage="maintenance", visits=[VisitInfo(9, "progress_review", starts, "scheduled")])
    assert made(decide(state)) == [(key, "review", starts - DAY, 9) for key in ("gad7", "pcl5", "phq9")]


def test_a_visit_with_its_forms_asked_gets_nothing_new():
    starts = NOW + 3 * DAY
    state = ClientState(
        stage="maintenance",
        visits=[VisitInfo(7, "medication", starts, "scheduled")],
        tasks=[
            TaskInfo(1, "phq9", "pre_session", starts - DAY, 7),
            TaskInfo(2, "gad7", "pre_session", starts - DAY, 7),
        ],
    )
    result = decide(state)
    assert (result.create, result.withdraw) == ([], [])


@pytest.mark.parametrize(
    "status, starts, why",
    [
        ("cancelled", NOW + 3 * DAY, "the visit was cancelled"),
        ("no_show", NOW - DAY, "the visit did not take place"),
        ("in_progress", NOW - datetime.timedelta(minutes=5), "the visit has begun"),
        ("scheduled", NOW - datetime.timedelta(minutes=5), "the visit has begun"),
    ],
)
def test_an_open_visit_task_is_withdrawn_when_the_visit_no_longer_wants_it(status, starts, why):
    state = ClientState(
        stage="maintenance",
        visits=[VisitInfo(7, "medication", starts, status)],
        tasks=[TaskInfo(1, "phq9", "pre_session", NOW + 2 * DAY, 7)],
    )
    result = decide(state)
    assert [(w.task_id, w.why) for w in result.withdraw] == [(1, why)]
    assert result.create == []


def test_a_moved_visit_withdraws_the_open_task_and_asks_again_for_the_new_time():
    moved_to = NOW + 6 * DAY
    state = ClientState(
        stage="maintenance",
        visits=[VisitInfo(7, "medication", moved_to, "scheduled")],
        tasks=[
            TaskInfo(1, "phq9", "pre_session", NOW + 2 * DAY, 7),
            TaskInfo(2, "gad7", "pre_session", NOW + 2 * DAY, 7, done=True),
        ],
    )
    result = decide(state)
    assert [(w.task_id, w.why) for w in result.withdraw] == [(1, "the visit was moved")]
    # The GAD-7 already answered for this session still counts.
    assert result.create == [NewTask("phq9", "pre_session", moved_to - DAY, 7)]


def test_weekly_measures_come_every_practice_period_in_a_course():
    last = NOW - 7 * DAY
    state = ClientState(
        stage="course",
        responses=[ResponseInfo("phq9", "weekly", last), ResponseInfo("gad7", "pre_session", last + DAY)],
    )
    assert made(decide(state)) == [("phq9", "weekly", NOW, None)]
    assert made(decide(state, weekly_days=8)) == []
    assert made(decide(state, now=NOW + DAY)) == [
        ("gad7", "weekly", NOW + DAY, None),
        ("phq9", "weekly", NOW + DAY, None),
    ]


def test_a_session_due_soon_stands_in_for_the_weekly_forms():
    starts = NOW + 2 * DAY
    state = ClientState(
        stage="course",
        responses=[ResponseInfo(key, "weekly", NOW - 10 * DAY) for key in ("phq9", "gad7")],
        visits=[VisitInfo(7, "medication", starts, "scheduled")],
    )
    assert made(decide(state)) == [
        ("gad7", "pre_session", starts - DAY, 7),
        ("phq9", "pre_session", starts - DAY, 7),
    ]


def test_a_new_weekly_form_replaces_one_left_unanswered():
    state = ClientState(
        stage="course",
        tasks=[TaskInfo(1, "phq9", "weekly", NOW - 7 * DAY), TaskInfo(2, "gad7", "weekly", NOW - DAY)],
    )
    result = decide(state)
    assert made(result) == [("phq9", "weekly", NOW, None)]
    assert [(w.task_id, w.why) for w in result.withdraw] == [(1, "a newer weekly form replaces it")]


def test_weekly_forms_still_open_are_withdrawn_when_the_course_ends():
    state = ClientState(stage="maintenance", tasks=[TaskInfo(1, "phq9", "weekly", NOW - DAY)])
    assert [(w.task_id, w.why) for w in decide(state).withdraw] == [(1, "the course has ended")]


def test_discharge_asks_all_three_once_since_the_last_session():
    last_session = NOW - 10 * DAY
    state = ClientState(stage="discharged", last_medication_start=last_session, followed=True)
    assert [t.reason for t in decide(state).create] == ["discharge"] * 3
    state.responses = [ResponseInfo("phq9", "discharge", last_session - 100 * DAY)]  # an earlier course
    state.tasks = [TaskInfo(1, "gad7", "discharge", NOW - DAY)]
    assert made(decide(state)) == [("pcl5", "discharge", NOW, None), ("phq9", "discharge", NOW, None)]


# The sweep and the hooks, on the database.


@pytest.fixture
def room(db):
    return Room.objects.create(name="Garden Room")


def fake_request(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


def book(client, clinician, room, starts, kind="medication"):
    return visit_services.visit_book(
        request=fake_request(clinician),
        client=client,
        slot=visit_services.Slot(
            kind=kind,
            starts_at=starts,
            ends_at=starts + datetime.timedelta(minutes=150),
            clinician=clinician,
            room=room,
        ),
    )


def live(client):
    return list(
        MeasureTask.objects.filter(client=client, withdrawn_at__isnull=True)
        .order_by("instrument")
        .values_list("instrument", "reason", "due_at")
    )


def test_the_sweep_is_idempotent_and_audits_each_task(avery, olive, audit_rows):
    avery.stage, olive.stage = "preparation", "consultation"
    avery.save(), olive.save()
    now = timezone.now()
    assert schedule.schedule_measures(now) == 3
    assert schedule.schedule_measures(now) == 0
    assert schedule.schedule_measures(now + datetime.timedelta(minutes=5)) == 0
    assert [row[:2] for row in live(avery)] == [
        ("gad7", "baseline"),
        ("pcl5", "baseline"),
        ("phq9", "baseline"),
    ]
    assert live(olive) == []
    rows = audit_rows("kapflow.measures.task.created")
    assert len(rows) == 3 and {row.client_id for row in rows} == {avery.pk}
    assert all(row.actor is None for row in rows)


def test_the_database_refuses_a_second_live_baseline(avery):
    MeasureTask.objects.create(client=avery, instrument="phq9", reason="baseline", due_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        MeasureTask.objects.create(client=avery, instrument="phq9", reason="baseline", due_at=timezone.now())


def test_booking_a_session_asks_for_its_forms_and_cancelling_withdraws_them(avery, tess, room, audit_rows):
    avery.stage = "course"
    avery.save()
    Response.objects.bulk_create(
        [
            Response(
                client=avery, instrument=k, version="1", answers={}, total=5, band="Mild", context="weekly"
            )
            for k in ("phq9", "gad7")
        ]
    )
    starts = timezone.now() + 4 * DAY
    visit = book(avery, tess, room, starts)
    lead = datetime.timedelta(hours=Practice.load().appointment_reminder_hours)
    assert live(avery) == [("gad7", "pre_session", starts - lead), ("phq9", "pre_session", starts - lead)]
    assert {row.actor for row in audit_rows("kapflow.measures.task.created")} == {tess}

    visit_services.visit_transition(request=fake_request(tess), visit=visit, to="cancelled", reason="Unwell")
    assert live(avery) == []
    assert MeasureTask.objects.filter(client=avery).count() == 2  # withdrawn, never deleted
    withdrawn = audit_rows("kapflow.measures.task.withdrawn")
    assert [row.detail["why"] for row in withdrawn] == ["the visit was cancelled"] * 2


def test_rescheduling_withdraws_and_asks_again_for_the_new_time(avery, tess, room):
    avery.stage = "maintenance"
    avery.save()
    starts = timezone.now() + 4 * DAY
    visit = book(avery, tess, room, starts)
    moved = starts + 2 * DAY
    visit_services.visit_reschedule(
        request=fake_request(tess),
        visit=visit,
        slot=visit_services.Slot(
            kind="medication",
            starts_at=moved,
            ends_at=moved + datetime.timedelta(hours=2),
            clinician=tess,
            room=room,
        ),
    )
    lead = datetime.timedelta(hours=Practice.load().appointment_reminder_hours)
    assert live(avery) == [("gad7", "pre_session", moved - lead), ("phq9", "pre_session", moved - lead)]
    assert MeasureTask.objects.filter(client=avery, withdrawn_at__isnull=False).count() == 2


def test_a_room_change_alone_keeps_the_tasks(avery, tess, room):
    avery.stage = "maintenance"
    avery.save()
    starts = timezone.now() + 4 * DAY
    visit = book(avery, tess, room, starts)
    other = Room.objects.create(name="Studio")
    visit_services.visit_reschedule(
        request=fake_request(tess),
        visit=visit,
        slot=visit_services.Slot(
            kind="medication", starts_at=starts, ends_at=visit.ends_at, clinician=tess, room=other
        ),
    )
    assert MeasureTask.objects.filter(client=avery, withdrawn_at__isnull=False).count() == 0


def test_weekly_forms_follow_the_practice_setting_under_frozen_time(avery):
    avery.stage = "course"
    avery.save()
    practice = Practice.load()
    practice.measures_weekly_days = 10
    practice.save()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert schedule.schedule_measures(timezone.now()) == 2
    with time_machine.travel(start + 9 * DAY, tick=False):
        assert schedule.schedule_measures(timezone.now()) == 0
    with time_machine.travel(start + 10 * DAY, tick=False):
        assert schedule.schedule_measures(timezone.now()) == 2
        # The ten-day-old forms, never answered, are replaced rather than piled up.
        assert MeasureTask.objects.filter(client=avery, withdrawn_at__isnull=True).count() == 2


def test_the_sweep_looks_at_a_discharged_client_until_asked_for_the_discharge_forms(avery, tess, room, olive):
    """However many alumni a practice keeps, the sweep plans only those still owed their
    discharge forms, in its one query (schedule.clients_to_schedule)."""
    now = timezone.now()
    avery.stage = olive.stage = "course"
    avery.save(), olive.save()
    session(avery, tess, now - 3 * DAY, status="completed")
    assert schedule.schedule_measures(now) == 4  # both clients' weekly forms
    assert {avery.pk, olive.pk} <= set(schedule.clients_to_schedule(now))
    avery.stage = olive.stage = "discharged"
    avery.save(), olive.save()
    # Avery is owed them; Olive never had a medication session, so nothing is asked of her, and
    # once her open weekly forms are withdrawn the sweep has nothing more to do with her.
    assert set(schedule.discharge_forms_owed(now)) == {avery}
    assert schedule.schedule_measures(now) == 3
    assert set(schedule.clients_to_schedule(now)) & {avery.pk, olive.pk} == set()
    # Her discharge forms stay open, unanswered, and the sweep still leaves her alone; a later
    # medication session (a new course) makes them owed again.
    assert MeasureTask.objects.filter(client=avery, reason="discharge", response__isnull=True).count() == 3
    later = now + 30 * DAY
    assert list(schedule.clients_to_schedule(later)) == []
    session(avery, tess, now + 20 * DAY, status="completed")
    assert set(schedule.discharge_forms_owed(later)) == {avery}


def test_a_discharged_client_who_answered_every_form_or_was_never_followed_is_not_planned(avery, tess, room):
    now = timezone.now()
    avery.stage = "discharged"
    avery.save()
    session(avery, tess, now - 3 * DAY, status="completed")
    # Discharged before the schedule followed her care: she is asked nothing, and not planned.
    assert list(schedule.discharge_forms_owed(now)) == []
    MeasureTask.objects.create(client=avery, instrument="phq9", reason="weekly", due_at=now - 9 * DAY)
    assert list(schedule.discharge_forms_owed(now)) == [avery]
    for instrument in ("phq9", "gad7"):
        Response.objects.create(
            client=avery,
            instrument=instrument,
            version="1",
            answers={},
            total=1,
            context="discharge",
            completed_at=now - DAY,
        )
    assert list(schedule.discharge_forms_owed(now)) == [avery]  # the PCL-5 is still owed
    Response.objects.create(
        client=avery,
        instrument="pcl5",
        version="1",
        answers={},
        total=1,
        context="discharge",
        completed_at=now,
    )
    assert list(schedule.discharge_forms_owed(now)) == []
    assert schedule.schedule_measures(now) == 0


def test_discharge_on_the_database(avery, tess, room):
    now = timezone.now()
    avery.stage = "course"
    avery.save()
    session(avery, tess, now - 3 * DAY, status="completed")
    assert schedule.schedule_measures(now) == 2  # the weekly forms: the schedule follows the course
    avery.stage = "discharged"
    avery.save()
    assert schedule.schedule_measures(now) == 3
    assert {t.reason for t in MeasureTask.objects.filter(client=avery, withdrawn_at__isnull=True)} == {
        "discharge"
    }


# The runbook's selector.


def answer(client, instrument, total, when, *, item9=0, by=None):
    keys = [item.key for item in instrument.items]
    answers = dict.fromkeys(keys, 0)
    for n in range(total - item9):
        answers[keys[n % (len(keys) - (1 if instrument is PHQ9 else 0))]] += 1
    if instrument is PHQ9:
        answers["9"] = item9
    with time_machine.travel(when, tick=False):
        return response_record(
            request=fake_request(by) if by else None,
            client=client,
            instrument=instrument,
            answers=answers,
            context="pre_session",
            entered_by=by,
        )


def session(client, clinician, starts, status="scheduled"):
    return Visit.objects.create(
        client=client,
        kind="medication",
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=150),
        modality="virtual",
        clinician=clinician,
        created_by=clinician,
        status=status,
    )


def test_before_a_session_it_shows_what_came_since_the_previous_one(avery, tess, olive, colin):
    now = timezone.now()
    previous = session(avery, tess, now - 7 * DAY, status="completed")
    upcoming = session(avery, tess, now + DAY)
    answer(avery, PHQ9, 12, previous.starts_at - DAY)  # before the previous session: not shown
    first = answer(avery, PHQ9, 9, previous.ends_at + datetime.timedelta(hours=1), item9=1)
    second = answer(avery, GAD7, 6, now - DAY, by=tess)
    answer(avery, GAD7, 6, upcoming.starts_at + datetime.timedelta(minutes=1))  # after it started
    answer(olive, PHQ9, 3, now - DAY, by=colin)  # someone else
    rows = measures_before_session(upcoming)
    assert [row.response for row in rows] == [first, second]
    assert [row.flagged for row in rows] == [True, False]
    assert rows[0].band.label == "Mild"


def test_before_the_first_session_it_looks_back_one_measuring_period(avery, tess):
    now = timezone.now()
    first_session = session(avery, tess, now + DAY)
    answer(avery, PHQ9, 12, now - 9 * DAY)
    recent = answer(avery, PHQ9, 10, now - 3 * DAY)
    assert [row.response for row in measures_before_session(first_session)] == [recent]


def test_the_include_shows_the_rows(avery, tess):
    from django.template.loader import render_to_string

    upcoming = session(avery, tess, timezone.now() + DAY)
    answer(avery, PHQ9, 9, timezone.now() - DAY, item9=2)
    html = render_to_string(
        "measures/_before_session.html", {"before_session": measures_before_session(upcoming)}
    )
    assert "PHQ-9" in html and "Question 9 above 0" in html and "on the portal" in html
    empty = render_to_string("measures/_before_session.html", {"before_session": []})
    assert "No measures completed" in empty


# Review fixes (issue 5 review).


def test_a_session_booked_weeks_ahead_does_not_silence_the_weekly_forms():
    """A pre-session form due in four weeks used to count as "asked this week", so a course with
    its next session booked far ahead got no weekly forms until then."""
    starts = NOW + 28 * DAY
    state = ClientState(
        stage="course",
        responses=[ResponseInfo(key, "weekly", NOW - 10 * DAY) for key in ("phq9", "gad7")],
        visits=[VisitInfo(7, "medication", starts, "scheduled")],
        tasks=[
            TaskInfo(1, "phq9", "pre_session", starts - DAY, 7),
            TaskInfo(2, "gad7", "pre_session", starts - DAY, 7),
        ],
    )
    assert made(decide(state)) == [("gad7", "weekly", NOW, None), ("phq9", "weekly", NOW, None)]


def test_no_discharge_forms_for_a_client_the_schedule_never_followed():
    """The first sweep after the schedule went live found every client discharged years before
    and asked each of them for three discharge forms (and the reminders emailed them)."""
    long_ago = NOW - 700 * DAY
    assert decide(ClientState(stage="discharged", last_medication_start=long_ago)).create == []
    # Nor for a client discharged without ever having a medication session.
    assert decide(ClientState(stage="discharged", followed=True)).create == []


def test_a_client_not_proceeding_is_asked_nothing_and_open_forms_are_withdrawn():
    starts = NOW + 3 * DAY
    state = ClientState(
        stage="not_proceeding",
        tasks=[
            TaskInfo(1, "phq9", "baseline", NOW - DAY),
            TaskInfo(2, "gad7", "baseline", NOW - DAY, done=True),
        ],
        visits=[VisitInfo(7, "medication", starts, "scheduled")],
    )
    result = decide(state)
    assert result.create == []
    assert [(w.task_id, w.why) for w in result.withdraw] == [(1, "the client is not proceeding")]


def test_a_discharged_clients_open_baseline_is_withdrawn():
    state = ClientState(stage="discharged", tasks=[TaskInfo(1, "pcl5", "baseline", NOW - 30 * DAY)])
    assert [(w.task_id, w.why) for w in decide(state).withdraw] == [(1, "the client was discharged")]


def test_the_first_sweep_leaves_clients_discharged_long_ago_alone(avery, olive, tess, colin, audit_rows):
    long_ago = timezone.now() - 700 * DAY
    for client, clinician in ((avery, tess), (olive, colin)):
        client.stage = "discharged"
        client.save()
        session(client, clinician, long_ago, status="completed")
    assert schedule.schedule_measures(timezone.now()) == 0
    assert not MeasureTask.objects.exists()
    assert audit_rows("kapflow.measures.task.created") == []


def test_a_client_moved_to_not_proceeding_has_their_baseline_withdrawn(avery, audit_rows):
    avery.stage = "screening"
    avery.save()
    now = timezone.now()
    assert schedule.schedule_measures(now) == 3
    avery.stage = "not_proceeding"
    avery.save()
    assert schedule.schedule_measures(now + DAY) == 0
    assert live(avery) == []
    rows = audit_rows("kapflow.measures.task.withdrawn")
    assert len(rows) == 3 and {row.detail["why"] for row in rows} == {"the client is not proceeding"}


def _course_clients(tess, room, count, now, *, first=0):
    """`count` clients in a course, each with a session held and one booked, their forms asked."""
    from tests import factories

    clients = []
    for n in range(first, first + count):
        client = factories.make_client(first_name=f"Sweep{n}", therapist=tess, stage="course")
        session(client, tess, now - (3 + n % 5) * DAY, status="completed")
        book(client, tess, room, now + (2 + n) * DAY + datetime.timedelta(hours=n % 6))
        clients.append(client)
    return clients


def test_the_sweep_reads_clients_in_batches_and_locks_only_those_it_writes_for(tess, room, monkeypatch):
    """At a group practice's size the sweep looks at hundreds of clients every few minutes, and
    most have nothing new: it reads their snapshots a batch at a time, in the same queries however
    many there are, and takes a client's lock (schedule_client) only when its plan writes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    monkeypatch.setattr(schedule, "SWEEP_BATCH", 50)
    few = _course_clients(tess, room, 3, now)
    schedule.schedule_measures(now)
    with CaptureQueriesContext(connection) as with_few:
        assert schedule.schedule_measures(now) == 0
    _course_clients(tess, room, 40, now, first=3)
    schedule.schedule_measures(now)
    locked = []
    monkeypatch.setattr(schedule, "schedule_client", lambda **kwargs: locked.append(kwargs["client"].pk) or 0)
    with CaptureQueriesContext(connection) as with_many:
        assert schedule.schedule_measures(now) == 0
    assert len(with_many.captured_queries) == len(with_few.captured_queries) and locked == []
    # A client whose plan has something to write is planned again under its lock.
    MeasureTask.objects.filter(client=few[1], reason="pre_session").update(withdrawn_at=now)
    schedule.schedule_measures(now)
    assert locked == [few[1].pk]


def test_a_batch_of_snapshots_is_each_clients_own(avery, olive, tess, colin, room):
    now = timezone.now()
    avery.stage = olive.stage = "course"
    avery.save(), olive.save()
    session(avery, tess, now - 3 * DAY, status="completed")
    book(avery, tess, room, now + 2 * DAY)
    session(olive, colin, now - 10 * DAY, status="completed")
    schedule.schedule_measures(now - 20 * DAY)
    olive.stage = "discharged"
    olive.save()
    schedule.schedule_measures(now)
    answer(avery, PHQ9, 7, now - DAY)
    together = schedule.client_states({avery.pk: avery.stage, olive.pk: olive.stage}, now=now)
    for client in (avery, olive):
        alone = schedule.client_state(client, now=now)
        assert together[client.pk] == alone
    assert together[avery.pk].tasks and together[avery.pk].visits and together[avery.pk].responses
    assert together[olive.pk].followed and together[olive.pk].last_medication_start is not None
