"""Integration (issue 4, item 3, and the dashboards of item 4): the window after each
medication session, integration records and their action items, the pages, and what the
therapist's and the prescriber's dashboards show."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.integration.window import Standing, client_standings, free_hours, standings
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests import factories


def local(day: int, hour: int, month: int = 6) -> datetime.datetime:
    """A moment in June 2026, local time (Tuesday the 9th, Wednesday the 10th…)."""
    return timezone.make_aware(datetime.datetime(2026, month, day, hour))


NOW = local(10, 12)  # Wednesday noon; the medication session below ended on Tuesday at 13:00.


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def make_visit(
    client, clinician, *, starts, kind=Visit.Kind.INTEGRATION, minutes=60, status="scheduled", room=None
):
    return Visit.objects.create(
        cancel_reason="Unwell." if status == Visit.Status.CANCELLED else "",
        client=client,
        kind=kind,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=minutes),
        modality=Visit.Modality.IN_PERSON if room else Visit.Modality.VIRTUAL,
        room=room,
        status=status,
        clinician=clinician,
        created_by=clinician,
    )


def medication_session(client, clinician, *, ends=None):
    ends = ends or local(9, 13)
    return make_visit(
        client,
        clinician,
        starts=ends - datetime.timedelta(minutes=150),
        kind=Visit.Kind.MEDICATION,
        minutes=150,
        status=Visit.Status.COMPLETED,
    )


def standing_of(client, now=NOW):
    practice = Practice.load()
    medication = list(client.visits.filter(kind="medication", status="completed"))
    integration = list(client.visits.filter(kind="integration").exclude(status__in=["cancelled", "no_show"]))
    return standings(
        medication=medication,
        integration=integration,
        records=list(IntegrationRecord.objects.filter(client=client)),
        window_hours=practice.integration_window_hours,
        expected_hours=practice.integration_expected_hours,
        now=now,
    )


def record_for(client, clinician, **fields):
    return IntegrationRecord.objects.create(client=client, clinician=clinician, themes="Grief.", **fields)


# --- The window ---------------------------------------------------------------------------------


def test_it_counts_a_session_without_integration_as_missing_while_the_window_is_open(clock, avery, tess):
    medication_session(avery, tess)
    [row] = standing_of(avery)
    assert row.standing is Standing.MISSING and row.window_open and not row.overdue
    assert row.window_ends_at == local(11, 13)  # 48 h, the practice default
    assert row.expected_by == local(12, 13)  # 72 h


def test_it_flags_a_missing_integration_once_the_window_has_closed(clock, avery, tess):
    medication_session(avery, tess)
    clock.move_to(local(11, 13, 6) + datetime.timedelta(minutes=1))
    [row] = standing_of(avery, now=timezone.now())
    assert row.standing is Standing.MISSING and row.overdue


def test_it_sees_an_integration_booked_in_the_window(clock, avery, tess):
    medication_session(avery, tess)
    booked = make_visit(avery, tess, starts=local(11, 10))
    [row] = standing_of(avery)
    assert (row.standing, row.booked, row.overdue) == (Standing.BOOKED, booked, False)


def test_it_flags_an_integration_booked_after_the_window(clock, avery, tess):
    medication_session(avery, tess)
    make_visit(avery, tess, starts=local(12, 10))
    [row] = standing_of(avery)
    assert row.standing is Standing.LATE and row.overdue


def test_a_cancelled_booking_leaves_the_integration_missing(clock, avery, tess):
    medication_session(avery, tess)
    make_visit(avery, tess, starts=local(11, 10), status=Visit.Status.CANCELLED)
    [row] = standing_of(avery)
    assert row.standing is Standing.MISSING


def test_it_counts_a_completed_integration_session_within_the_expected_hours_as_done(clock, avery, tess):
    medication_session(avery, tess)
    held = make_visit(avery, tess, starts=local(12, 10), status=Visit.Status.COMPLETED)
    [row] = standing_of(avery)
    assert (row.standing, row.done_by) == (Standing.DONE, held)


def test_a_completed_integration_session_after_the_expected_hours_is_not_done(clock, avery, tess):
    medication_session(avery, tess)
    make_visit(avery, tess, starts=local(12, 14), status=Visit.Status.COMPLETED)
    [row] = standing_of(avery, now=local(13, 9))
    assert row.standing is Standing.MISSING and row.overdue


def test_it_counts_a_record_that_follows_the_session_as_done(clock, avery, tess):
    session = medication_session(avery, tess)
    record = record_for(avery, tess, follows=session)
    [row] = standing_of(avery)
    assert (row.standing, row.done_by) == (Standing.DONE, record)


def test_an_integration_answers_for_the_latest_medication_session_before_it(clock, avery, tess):
    first = medication_session(avery, tess, ends=local(5, 13))
    second = medication_session(avery, tess, ends=local(9, 13))
    make_visit(avery, tess, starts=local(10, 15))
    newest, oldest = standing_of(avery)
    assert (newest.session, newest.standing) == (second, Standing.BOOKED)
    assert (oldest.session, oldest.standing, oldest.overdue) == (first, Standing.MISSING, True)


def test_it_follows_the_practice_window(clock, avery, tess):
    practice = Practice.load()
    practice.integration_window_hours = 36
    practice.save()
    medication_session(avery, tess)
    make_visit(avery, tess, starts=local(11, 10))  # 45 h after: late in a 36 h window
    [row] = standing_of(avery)
    assert row.standing is Standing.LATE


def test_it_proposes_the_therapists_next_free_hours_in_the_window(clock, avery, tess, olive, colin):
    medication_session(avery, tess)
    make_visit(olive, tess, starts=local(10, 13))  # Tess is busy at 13:00 today
    make_visit(olive, colin, starts=local(10, 14))  # Colin's visit does not hold Tess
    [row] = client_standings(avery, practice=Practice.load())
    assert row.proposals == [local(10, 12), local(10, 14), local(10, 15)]


def test_proposals_are_free_for_the_sessions_clinician_and_its_room(clock, avery, priya, olive, colin):
    """The runbook books the integration with the session's clinician in the session's room: the
    hours proposed are free for both (here Colin ran the session; the room is taken at 12 by a
    colleague, and Colin is busy at 14)."""
    room = Room.objects.create(name="Garden Room")
    session = medication_session(avery, colin)
    Visit.objects.filter(pk=session.pk).update(modality=Visit.Modality.IN_PERSON, room=room)
    session.refresh_from_db()
    make_visit(olive, priya, starts=local(10, 12), room=room)
    make_visit(olive, colin, starts=local(10, 14))
    [row] = client_standings(avery, practice=Practice.load())
    assert row.proposals[:2] == [local(10, 13), local(10, 15)]


def test_proposals_keep_to_the_day_and_to_the_window():
    start, end = local(10, 15) + datetime.timedelta(minutes=20), local(11, 10)
    busy = [Visit(starts_at=local(11, 9), ends_at=local(11, 10))]
    assert free_hours(busy=busy, start=start, end=end, count=5) == [local(10, 16), local(11, 10)]


def test_no_proposals_once_booked_or_after_the_window(clock, avery, tess):
    medication_session(avery, tess, ends=local(1, 13))
    medication_session(avery, tess)
    make_visit(avery, tess, starts=local(11, 10))
    assert [row.proposals for row in client_standings(avery, practice=Practice.load())] == [[], []]


# --- Records --------------------------------------------------------------------------------------


def test_the_record_form_prefills_the_latest_medication_session(clock, avery, tess, login):
    medication_session(avery, tess, ends=local(1, 13))
    latest = medication_session(avery, tess)
    response = login(tess).get(reverse("integration:record_new", args=[avery.pk]))
    assert response.status_code == 200
    assert response.context["form"]["follows"].value() == latest.pk


def test_the_record_form_prefills_the_session_it_was_asked_for(clock, avery, tess, login):
    earlier = medication_session(avery, tess, ends=local(1, 13))
    medication_session(avery, tess)
    url = reverse("integration:record_new", args=[avery.pk]) + f"?follows={earlier.pk}"
    assert login(tess).get(url).context["form"]["follows"].value() == earlier.pk


def test_it_saves_a_record_with_its_action_items_and_audits_each(clock, avery, tess, login, audit_rows):
    session = medication_session(avery, tess)
    response = login(tess).post(
        reverse("integration:record_new", args=[avery.pk]),
        {
            "follows": session.pk,
            "themes": "Grief for her father.",
            "emotions": "Sadness, then relief.",
            "parts": "The protector softened.",
            "lasting_insight": "I can feel it without drowning.",
            "passing_intensity": "The spinning.",
            "action_items": "Walk each morning\n\n  Call my sister  \n",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("integration:overview", args=[avery.pk])
    record = IntegrationRecord.objects.get()
    assert (record.client, record.clinician, record.follows) == (avery, tess, session)
    assert [item.text for item in record.action_items.all()] == ["Walk each morning", "Call my sister"]
    [row] = audit_rows("kapflow.integration.record.recorded")
    assert (row.client_id, row.actor, row.object_id) == (avery.pk, tess, str(record.pk))
    assert row.detail["filled"] == ["emotions", "lasting_insight", "parts", "passing_intensity", "themes"]
    assert "Grief" not in str(row.detail)
    assert len(audit_rows("kapflow.integration.action_item.added")) == 2
    assert standing_of(avery)[0].standing is Standing.DONE


def test_an_empty_record_is_refused_and_keeps_what_was_typed(clock, avery, tess, login):
    session = medication_session(avery, tess)
    response = login(tess).post(
        reverse("integration:record_new", args=[avery.pk]),
        {"follows": session.pk, "note": "   ", "action_items": ("x" * 301)},
    )
    assert response.status_code == 200
    assert IntegrationRecord.objects.count() == 0
    assert "x" * 301 in response.content.decode()
    assert "What you typed is kept" in response.content.decode()
    assert response.context["form"].errors["action_items"]


def test_a_record_cannot_follow_another_clients_session(clock, avery, tess, olive, colin, login):
    theirs = medication_session(olive, colin)
    response = login(tess).post(
        reverse("integration:record_new", args=[avery.pk]), {"follows": theirs.pk, "themes": "t"}
    )
    assert response.status_code == 200 and "follows" in response.context["form"].errors
    assert IntegrationRecord.objects.count() == 0


def test_the_integration_page_shows_sessions_records_and_items(clock, avery, tess, login):
    session = medication_session(avery, tess)
    record = record_for(avery, tess, follows=session)
    ActionItem.objects.create(client=avery, record=record, text="Walk each morning")
    medication_session(avery, tess, ends=local(10, 9))
    response = login(tess).get(reverse("integration:overview", args=[avery.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Walk each morning" in page and "Book the integration session" in page
    assert reverse("integration:record_detail", args=[avery.pk, record.pk]) in page
    assert f"{reverse('visits:new', args=[avery.pk])}?kind=integration" in page


def test_the_chart_links_to_integration(avery, tess, login):
    page = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert reverse("integration:overview", args=[avery.pk]) in page


# --- Action items -------------------------------------------------------------------------------


@pytest.fixture
def item(avery, tess):
    return ActionItem.objects.create(client=avery, record=record_for(avery, tess), text="Walk each morning")


def test_it_changes_an_action_items_status_and_audits_the_change(clock, item, avery, tess, login, audit_rows):
    url = reverse("integration:action_item_review", args=[avery.pk, item.pk])
    response = login(tess).post(url, {"status": "in_progress"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.reviewed_at) == ("in_progress", NOW)
    [row] = audit_rows("kapflow.integration.action_item.status_changed")
    assert (row.detail, row.client_id, row.actor) == ({"from": "open", "to": "in_progress"}, avery.pk, tess)
    login(tess).post(url, {"status": "in_progress"})
    [reviewed] = audit_rows("kapflow.integration.action_item.reviewed")
    assert reviewed.detail == {"from": "in_progress", "to": "in_progress"}


def test_it_refuses_an_unknown_status(item, avery, tess, login, audit_rows):
    url = reverse("integration:action_item_review", args=[avery.pk, item.pk])
    assert login(tess).post(url, {"status": "finished"}).status_code == 302
    item.refresh_from_db()
    assert item.status == "open" and audit_rows("kapflow.integration.action_item.status_changed") == []


def test_reviewing_an_action_item_needs_a_post(item, avery, tess, login):
    url = reverse("integration:action_item_review", args=[avery.pk, item.pk])
    assert login(tess).get(url).status_code == 405


# --- Scoping ------------------------------------------------------------------------------------


def test_a_colleague_outside_the_care_team_gets_404_everywhere(item, avery, colin, login):
    record = item.record
    http = login(colin)
    for url in (
        reverse("integration:overview", args=[avery.pk]),
        reverse("integration:record_new", args=[avery.pk]),
        reverse("integration:record_detail", args=[avery.pk, record.pk]),
    ):
        assert http.get(url).status_code == 404, url
    review = reverse("integration:action_item_review", args=[avery.pk, item.pk])
    assert http.post(review, {"status": "done"}).status_code == 404
    item.refresh_from_db()
    assert item.status == "open"


def test_the_coordinator_sees_no_integration_content(item, avery, cora, login):
    assert login(cora).get(reverse("integration:overview", args=[avery.pk])).status_code == 404
    assert login(cora).get(reverse("integration:record_new", args=[avery.pk])).status_code == 403


def test_an_item_of_another_client_is_404_through_this_clients_url(item, avery, olive, colin, tess, login):
    theirs = ActionItem.objects.create(client=olive, record=record_for(olive, colin), text="Rest")
    url = reverse("integration:action_item_review", args=[avery.pk, theirs.pk])
    assert login(tess).post(url, {"status": "done"}).status_code == 404


# --- Dashboards ---------------------------------------------------------------------------------


def test_the_therapists_day(clock, avery, tess, olive, colin, login):
    today = make_visit(avery, tess, starts=local(10, 15), kind=Visit.Kind.THERAPY)
    make_visit(olive, colin, starts=local(10, 16), kind=Visit.Kind.THERAPY)
    medication_session(avery, tess, ends=local(5, 13))  # its window closed on the 7th
    ActionItem.objects.create(client=avery, record=record_for(avery, tess), text="Walk each morning")
    ActionItem.objects.create(
        client=avery, record=record_for(avery, tess), text="Old habit", status=ActionItem.Status.DONE
    )
    ActionItem.objects.create(client=olive, record=record_for(olive, colin), text="Colin's item")
    response = login(tess).get("/")
    page = response.content.decode()
    assert [v.pk for v in response.context["todays_visits"]] == [today.pk]
    assert reverse("visits:detail", args=[avery.pk, today.pk]) in page
    [overdue] = response.context["overdue_integrations"]
    assert overdue.session.client == avery and overdue.standing is Standing.MISSING
    assert [i.text for i in response.context["action_items"]] == ["Walk each morning"]
    assert "Colin's item" not in page
    assert "clearances_waiting" not in response.context


def make_screening(client, at=None):
    return Screening.objects.create(client=client, answers={}, age=35, completed_at=at or timezone.now())


def make_clearance(client, screening, prescriber, decision="cleared"):
    return Clearance.objects.create(
        client=client,
        screening=screening,
        prescriber=prescriber,
        decision=decision,
        findings="Well.",
        valid_until=timezone.localdate() + datetime.timedelta(days=180) if decision == "cleared" else None,
    )


def make_order(client, prescriber):
    today = timezone.localdate()
    return MedicationOrder.objects.create(
        client=client,
        prescriber=prescriber,
        drug="ketamine",
        route="sublingual",
        unit="mg",
        dose_min=Decimal(200),
        dose_max=Decimal(300),
        sessions_authorised=6,
        starts_on=today,
        ends_on=today + datetime.timedelta(days=90),
    )


def test_the_prescribers_queues(tess, priya, login):
    def mine(name):
        return factories.make_client(first_name=name, therapist=tess, prescriber=priya)

    screened = mine("Screened")
    make_screening(screened)
    rescreened = mine("Rescreened")  # cleared once, screened again since
    make_clearance(rescreened, make_screening(rescreened, timezone.now() - datetime.timedelta(days=9)), priya)
    make_screening(rescreened)
    cleared = mine("Cleared")
    make_clearance(cleared, make_screening(cleared), priya)
    # An earlier screening left undecided, the latest cleared: the latest is what counts.
    redone = mine("Redone")
    make_screening(redone, timezone.now() - datetime.timedelta(days=9))
    make_clearance(redone, make_screening(redone), priya)
    ordered = mine("Ordered")
    make_clearance(ordered, make_screening(ordered), priya)
    make_order(ordered, priya)
    refused = mine("Refused")
    make_clearance(refused, make_screening(refused), priya, decision="not_cleared")
    mine("Unscreened")
    elsewhere = factories.make_client(first_name="Elsewhere")
    make_screening(elsewhere)
    # Clients who have left care wait for nothing: a course finished and discharged, a client
    # screened who then chose not to go on.
    finished = mine("Finished")
    make_clearance(finished, make_screening(finished), priya)
    Client.objects.filter(pk=finished.pk).update(stage=Client.Stage.DISCHARGED)
    withdrew = mine("Withdrew")
    make_screening(withdrew)
    Client.objects.filter(pk=withdrew.pk).update(stage=Client.Stage.NOT_PROCEEDING)

    response = login(priya).get("/")
    assert {c.first_name for c in response.context["clearances_waiting"]} == {"Screened", "Rescreened"}
    assert {c.first_name for c in response.context["orders_waiting"]} == {"Rescreened", "Cleared", "Redone"}
    assert reverse("medical:summary", args=[cleared.pk]) in response.content.decode()
    assert "overdue_integrations" not in response.context


def _dashboard_queries(http) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert http.get("/").status_code == 200
    return len(captured.captured_queries)


def test_the_dashboard_sections_run_in_constant_queries(clock, tess, priya, login):
    def add_client(n):
        client = factories.make_client(first_name=f"C{n}", therapist=tess, prescriber=priya)
        medication_session(client, tess, ends=local(5, 8 + n))
        make_visit(client, tess, starts=local(10, 8 + n), kind=Visit.Kind.THERAPY)
        record = record_for(client, tess)
        ActionItem.objects.create(client=client, record=record, text=f"Item {n}")
        make_clearance(client, make_screening(client), priya)
        make_screening(client)

    add_client(0)
    therapist, prescriber = login(tess), login(priya)
    _dashboard_queries(therapist), _dashboard_queries(prescriber)  # the session's first request
    small = _dashboard_queries(therapist), _dashboard_queries(prescriber)
    for n in range(1, 5):
        add_client(n)
    response = therapist.get("/")
    assert len(response.context["overdue_integrations"]) == 5 and len(response.context["todays_visits"]) == 5
    assert (_dashboard_queries(therapist), _dashboard_queries(prescriber)) == small
