"""What the runbook leaves for others to do, and the front desk's part in the day: the therapist's
written acknowledgement of the soft "integration booked" gate, the prescriber's review of
adverse events and discharge overrides (the dashboard's queues empty as they are reviewed), and
checking a client in from the front desk's dashboard and the calendar."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.dosing import selectors
from kapflow.dosing.models import AdverseEvent, IntegrationAcknowledgement, Runbook, SafetyReview
from kapflow.dosing.services.discharge import integration_acknowledge
from kapflow.dosing.services.reviews import adverse_event_review, discharge_override_review
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.services.session import adverse_event_record
from kapflow.lib.gates import Status
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests.test_runbook import at, discharge, dose, make_order, vitals
from tests.test_runbook_dayof import checklist, make_visit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pathway_ready")]


def integration_gate(visit):
    return selectors.integration_gate(visit, selectors.runbook_of(visit), practice=Practice.load())


def book_integration(visit, *, hours_after_end: float, status=Visit.Status.SCHEDULED) -> Visit:
    starts = visit.ends_at + datetime.timedelta(hours=hours_after_end)
    return Visit.objects.create(
        client=visit.client,
        kind=Visit.Kind.INTEGRATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=60),
        clinician=visit.clinician,
        created_by=visit.clinician,
        status=status,
    )


@pytest.fixture
def visit(avery, tess, cora):
    return make_visit(avery, tess, cora, virtual=False)


def acknowledge(visit, who, reason="Client travels for work; integration by video on return."):
    with time_machine.travel(at(-25), tick=False):
        return integration_acknowledge(actor=who, visit=visit, reason=reason, practice=Practice.load())


# --- The soft integration gate ------------------------------------------------------------------


def test_without_an_integration_booked_the_gate_asks_for_an_acknowledgement(visit):
    gate = integration_gate(visit)
    assert gate.status is Status.ACKNOWLEDGE
    assert "not booked" in gate.reason


def test_the_gate_passes_by_itself_once_an_integration_is_booked_within_the_window(visit):
    book_integration(visit, hours_after_end=20)
    gate = integration_gate(visit)
    assert gate.passed and gate.reason.startswith("Integration booked for")


def test_an_integration_booked_too_late_or_cancelled_still_needs_the_acknowledgement(visit):
    window = Practice.load().integration_window_hours
    book_integration(visit, hours_after_end=window + 1)
    assert "booked too late" in integration_gate(visit).reason
    Visit.objects.all().filter(kind=Visit.Kind.INTEGRATION).delete()
    cancelled = book_integration(visit, hours_after_end=5)
    Visit.objects.filter(pk=cancelled.pk).update(status=Visit.Status.CANCELLED, cancel_reason="Ill")
    assert integration_gate(visit).status is Status.ACKNOWLEDGE


def test_the_window_comes_from_the_practice(visit):
    book_integration(visit, hours_after_end=30)
    assert integration_gate(visit).passed
    practice = Practice.load()
    practice.integration_window_hours = 24
    practice.save()
    assert not integration_gate(visit).passed


def test_the_gate_and_the_integration_page_agree_on_a_booking_past_the_window(visit):
    """60 h after a session: past the 48 h window, so late on the client's integration page, and
    the runbook's gate asks for the acknowledgement too (not passed as "booked")."""
    from kapflow.integration.window import Standing, standings

    booked = book_integration(visit, hours_after_end=60)
    assert integration_gate(visit).status is Status.ACKNOWLEDGE
    practice = Practice.load()
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.COMPLETED)
    visit.refresh_from_db()
    [row] = standings(
        medication=[visit],
        integration=[booked],
        records=[],
        window_hours=practice.integration_window_hours,
        expected_hours=practice.integration_expected_hours,
        now=visit.ends_at,
    )
    assert row.standing is Standing.LATE


def test_a_written_acknowledgement_lets_the_gate_pass_naming_who_when_and_why(visit, tess, audit_rows):
    ack = acknowledge(visit, tess)
    gate = integration_gate(visit)
    assert gate.passed
    assert tess.full_name in gate.reason and "travels for work" in gate.reason
    assert timezone.localtime(ack.acknowledged_at).strftime("%H:%M") in gate.reason
    (row,) = audit_rows("kapflow.dosing.integration.acknowledged")
    assert row.actor == tess and row.client == visit.client


def test_an_acknowledgement_needs_a_reason(visit, tess):
    with pytest.raises(RunbookRefused, match="Say why"):
        acknowledge(visit, tess, reason="   ")
    assert not IntegrationAcknowledgement.objects.exists()


def test_there_is_nothing_to_acknowledge_once_booked_or_acknowledged(visit, tess):
    acknowledge(visit, tess)
    with pytest.raises(RunbookRefused, match="Nothing to acknowledge"):
        acknowledge(visit, tess, reason="Again")
    assert IntegrationAcknowledgement.objects.count() == 1


def test_only_a_clinician_acknowledges(visit, cora):
    with pytest.raises(RunbookRefused, match="therapist acknowledges"):
        acknowledge(visit, cora)


def test_no_acknowledgement_on_a_cancelled_visit(visit, tess):
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.CANCELLED, cancel_reason="Unwell")
    with pytest.raises(RunbookRefused, match="cancelled"):
        acknowledge(visit, tess)


def test_the_runbook_offers_the_acknowledgement_and_shows_it_after(visit, tess, login, audit_rows):
    http = login(tess)
    page = http.get(reverse("dosing:runbook", args=[visit.client_id, visit.pk])).content.decode()
    assert "Go ahead without an integration booked" in page
    assert f"{reverse('visits:new', args=[visit.client_id])}?kind=integration" in page
    url = reverse("dosing:integration_ack", args=[visit.client_id, visit.pk])
    response = http.post(
        url, {"reason": "Integration by phone on Thursday; calendar full."}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Integration by phone on Thursday" in body
    assert "Go ahead without an integration booked" not in body
    assert len(audit_rows("kapflow.dosing.integration.acknowledged")) == 1


def test_an_empty_acknowledgement_comes_back_saying_what_to_fix(visit, tess, login):
    url = reverse("dosing:integration_ack", args=[visit.client_id, visit.pk])
    response = login(tess).post(url, {"reason": ""})
    assert response.status_code == 200
    assert response.context["integration_ack_form"].errors["reason"]
    assert not IntegrationAcknowledgement.objects.exists()


def test_a_refused_acknowledgement_keeps_what_was_typed(visit, tess, login):
    book_integration(visit, hours_after_end=3)
    url = reverse("dosing:integration_ack", args=[visit.client_id, visit.pk])
    response = login(tess).post(url, {"reason": "Typed before it was booked"})
    assert response.status_code == 200
    assert "Typed before it was booked" in response.content.decode()
    assert "Nothing to acknowledge" in response.content.decode()


# --- The prescriber's reviews -------------------------------------------------------------------


@pytest.fixture
def session(avery, tess, priya, cora):
    """A session dosed at 0, with an adverse event at 30 min."""
    visit = make_visit(avery, tess, cora, virtual=False)
    checklist(visit, tess)
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.IN_PROGRESS)
    visit.refresh_from_db()
    order = make_order(avery, priya)
    vitals(visit, tess, -10, phase="pre_dose")
    dose(visit, tess, order, 0)
    with time_machine.travel(at(30), tick=False):
        adverse_event_record(
            actor=tess,
            visit=visit,
            noted_at=at(30),
            kind="nausea",
            severity="mild",
            action_taken="Bucket, water",
        )
    return visit


def test_an_adverse_event_waits_on_the_prescribers_dashboard_until_reviewed(
    session, priya, login, audit_rows
):
    http = login(priya)
    page = http.get("/").content.decode()
    assert "Adverse events to review" in page and "Nausea or vomiting" in page
    event = AdverseEvent.objects.get()
    url = reverse("dosing:adverse_event_review", args=[session.client_id, session.pk, event.pk])
    response = http.post(url, {"next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    review = SafetyReview.objects.get()
    assert review.adverse_event == event and review.reviewed_by == priya
    (row,) = audit_rows("kapflow.dosing.adverse_event.reviewed")
    assert row.actor == priya and row.client == session.client
    page = http.get("/").content.decode()
    assert "No adverse event waits for your review" in page


def test_an_adverse_event_is_reviewed_once(session, priya):
    event = AdverseEvent.objects.get()
    adverse_event_review(actor=priya, event=event)
    with pytest.raises(RunbookRefused, match="already reviewed"):
        adverse_event_review(actor=priya, event=event, note="again")
    assert SafetyReview.objects.count() == 1


def test_only_a_prescriber_reviews(session, tess, login):
    event = AdverseEvent.objects.get()
    with pytest.raises(RunbookRefused, match="Only a prescriber"):
        adverse_event_review(actor=tess, event=event)
    url = reverse("dosing:adverse_event_review", args=[session.client_id, session.pk, event.pk])
    assert login(tess).post(url).status_code == 403
    assert not SafetyReview.objects.exists()


def test_a_prescriber_outside_the_care_team_sees_no_queue_and_gets_404(session, login):
    from tests import factories

    other = factories.make_user("Otto Outside", roles=("is_prescriber",))
    http = login(other)
    assert "Nausea" not in http.get("/").content.decode()
    event = AdverseEvent.objects.get()
    url = reverse("dosing:adverse_event_review", args=[session.client_id, session.pk, event.pk])
    assert http.post(url).status_code == 404


def test_an_event_of_another_visit_is_not_found(session, priya, login, avery, tess, cora):
    other = make_visit(avery, tess, cora, virtual=False, start=24 * 60)
    event = AdverseEvent.objects.get()
    url = reverse("dosing:adverse_event_review", args=[avery.pk, other.pk, event.pk])
    assert login(priya).post(url).status_code == 404


def test_an_unsafe_next_is_ignored(session, priya, login):
    event = AdverseEvent.objects.get()
    url = reverse("dosing:adverse_event_review", args=[session.client_id, session.pk, event.pk])
    response = login(priya).post(url, {"next": "https://evil.example/"})
    assert response["Location"] == reverse("dosing:runbook", args=[session.client_id, session.pk])


def test_the_runbook_shows_the_review_and_offers_it_to_the_prescriber(session, priya, tess, login):
    url = reverse("dosing:runbook", args=[session.client_id, session.pk])
    assert "Waiting for the prescriber" in login(tess).get(url).content.decode()
    assert "Mark reviewed" in login(priya).get(url).content.decode()
    adverse_event_review(actor=priya, event=AdverseEvent.objects.get(), note="Expected; no change")
    page = login(tess).get(url).content.decode()
    assert "Reviewed by" in page and "Expected; no change" in page


def test_a_discharge_override_waits_for_review_then_leaves_the_queue(session, priya, login, audit_rows):
    discharge(session, priya, 60, ok=True, override="Escort waiting outside; BP settling.")
    assert Runbook.objects.get().override_reason
    http = login(priya)
    assert "Escort waiting outside" in http.get("/").content.decode()
    url = reverse("dosing:discharge_review", args=[session.client_id, session.pk])
    assert http.post(url, {"next": "/", "note": "Phoned the client at 18:00: fine."}).status_code == 302
    assert SafetyReview.objects.get().discharge_override == Runbook.objects.get()
    assert len(audit_rows("kapflow.dosing.discharge_override.reviewed")) == 1
    assert "No discharge override waits for your review" in http.get("/").content.decode()
    with pytest.raises(RunbookRefused, match="already reviewed"):
        discharge_override_review(actor=priya, visit=session)


def test_a_discharge_within_criteria_has_no_override_to_review(session, priya, tess):
    with pytest.raises(RunbookRefused, match="did not override"):
        discharge_override_review(actor=priya, visit=session)


def test_a_review_note_that_is_too_long_is_refused_plainly(session, priya, login):
    event = AdverseEvent.objects.get()
    url = reverse("dosing:adverse_event_review", args=[session.client_id, session.pk, event.pk])
    response = login(priya).post(url, {"note": "x" * 5000}, follow=True)
    assert response.status_code == 200
    assert "too long" in response.content.decode()
    assert not SafetyReview.objects.exists()


def _dashboard_queries(http) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert http.get("/").status_code == 200
    return len(queries)


def test_the_prescribers_queues_cost_the_same_however_many_items(session, priya, tess, login, avery, cora):
    http = login(priya)
    http.get("/")
    small = _dashboard_queries(http)
    for day in range(1, 6):
        visit = make_visit(avery, tess, cora, virtual=False, start=-day * 24 * 60)
        book = Runbook.objects.create(visit=visit, discharged_at=at(-day * 60), discharged_by=priya)
        Runbook.objects.filter(pk=book.pk).update(override_reason=f"Reason {day}")
        AdverseEvent.objects.create(
            runbook=book,
            noted_at=at(-day * 60),
            kind="dizziness",
            severity="mild",
            action_taken="Rest",
            recorded_by=tess,
        )
    assert _dashboard_queries(http) == small


# --- The front desk -----------------------------------------------------------------------------


def _today_at(hour: int) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(hour)))


def todays_visit(client, clinician, by, hour=14, kind=Visit.Kind.MEDICATION) -> Visit:
    room, _ = Room.objects.get_or_create(name="Garden Room")
    return Visit.objects.create(
        client=client,
        kind=kind,
        modality=Visit.Modality.IN_PERSON,
        room=room,
        starts_at=_today_at(hour),
        ends_at=_today_at(hour) + datetime.timedelta(minutes=50),
        clinician=clinician,
        created_by=by,
    )


def test_the_front_desk_checks_a_client_in_from_its_dashboard(avery, tess, cora, login, audit_rows):
    visit = todays_visit(avery, tess, cora)
    http = login(cora)
    page = http.get("/").content.decode()
    assert "Arrivals today" in page and avery.display_name in page
    check_in = reverse("visits:check_in", args=[avery.pk, visit.pk])
    assert check_in in page
    response = http.post(check_in, {"next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    visit.refresh_from_db()
    assert visit.status == Visit.Status.CHECKED_IN
    assert len(audit_rows("kapflow.visits.visit.checked_in")) == 1
    page = http.get("/").content.decode()
    assert "Checked in" in page and check_in not in page


def test_the_front_desk_never_sees_the_clinical_runbook(avery, tess, cora, login):
    visit = todays_visit(avery, tess, cora)
    http = login(cora)
    assert reverse("dosing:runbook", args=[avery.pk, visit.pk]) not in http.get("/").content.decode()
    assert http.get(reverse("dosing:runbook", args=[avery.pk, visit.pk])).status_code == 404


def test_the_calendars_day_offers_check_in_for_todays_visits(avery, tess, cora, login):
    visit = todays_visit(avery, tess, cora)
    tomorrow = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.THERAPY,
        modality=Visit.Modality.VIRTUAL,
        starts_at=_today_at(10) + datetime.timedelta(days=1),
        ends_at=_today_at(11) + datetime.timedelta(days=1),
        clinician=tess,
        created_by=cora,
    )
    http = login(cora)
    day = f"{reverse('calendar:day')}?who=practice"
    page = http.get(day).content.decode()
    assert reverse("visits:check_in", args=[avery.pk, visit.pk]) in page
    assert reverse("visits:check_in", args=[avery.pk, tomorrow.pk]) not in page
    response = http.post(reverse("visits:check_in", args=[avery.pk, visit.pk]), {"next": day})
    assert response["Location"] == day


def test_a_check_in_with_an_unsafe_next_goes_to_the_visit(avery, tess, cora, login):
    visit = todays_visit(avery, tess, cora)
    response = login(cora).post(
        reverse("visits:check_in", args=[avery.pk, visit.pk]), {"next": "//evil.example/"}
    )
    assert response["Location"] == reverse("visits:detail", args=[avery.pk, visit.pk])


def test_the_arrivals_cost_the_same_however_many_visits(avery, olive, tess, colin, cora, login):
    todays_visit(avery, tess, cora, hour=8)
    http = login(cora)
    http.get("/")
    small = _dashboard_queries(http)
    for hour in range(9, 17):
        todays_visit(olive if hour % 2 else avery, colin if hour % 2 else tess, cora, hour=hour)
    assert _dashboard_queries(http) == small


def test_the_therapists_day_shows_readiness_badges_and_opens_the_runbook(avery, tess, cora, login):
    visit = todays_visit(avery, tess, cora)
    page = login(tess).get("/").content.decode()
    assert f'id="rb-{visit.pk}"' in page
    assert f"{reverse('calendar:badges')}?ids={visit.pk}&amp;via=dashboard" in page
    assert reverse("dosing:runbook", args=[avery.pk, visit.pk]) in page
