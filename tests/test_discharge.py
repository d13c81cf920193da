"""Discharge (issue 15, part 5; docs/course.md, "Discharge"): a draft written by a therapist or
prescriber on the care team, signed by one of them; signing freezes the summary's facts,
discharges the client, ends the plan, cancels the medication sessions to come (other visits
stay) and withdraws the open forms. The by-hand stage change no longer discharges anyone."""

import datetime
import time
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.clients import services as client_services
from kapflow.clients.forms import StageChangeForm
from kapflow.clients.models import Client, OutsideProvider
from kapflow.course import discharge as discharges
from kapflow.course.models import Discharge
from kapflow.dosing.models import Administration, Runbook
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.lib.dates import long_date
from kapflow.measures import schedule
from kapflow.measures.models import MeasureTask
from kapflow.pathway.course import position
from kapflow.pathway.models import Consultation, CoursePlan
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories
from tests.fuzzing import examples
from tests.test_concurrency import race
from tests.test_course_reviews import only_the_course_gate  # noqa: F401 (a fixture)

DAY = datetime.timedelta(days=1)


def as_request(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


def visit(client, clinician, *, kind=Visit.Kind.MEDICATION, days: float, status=Visit.Status.SCHEDULED):
    starts = timezone.now() + days * DAY
    return Visit.objects.create(
        client=client,
        kind=kind,
        status=status,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=2),
        modality=Visit.Modality.VIRTUAL,
        clinician=clinician,
        created_by=clinician,
    )


def dose(client, *, prescriber, days: float, mg: str) -> Administration:
    """A completed medication session with one dose of `mg` (its record's other parts have their
    own tests)."""
    session = visit(client, prescriber, days=days, status=Visit.Status.COMPLETED)
    order = factories.standing_order(client, prescriber)
    runbook = Runbook.objects.create(visit=session)
    return Administration.objects.create(
        runbook=runbook,
        order=order,
        given_at=session.starts_at + datetime.timedelta(minutes=5),
        route="sublingual",
        dose_mg=Decimal(mg),
        lot_number="L1",
        given_by=prescriber,
        recorded_by=prescriber,
    )


@pytest.fixture
def in_course(avery, tess, priya):
    """Avery two sessions into a course of six: consulted 40 days ago, a plan, two doses, the next
    medication session and a therapy session booked, and the measure schedule following her."""
    tess.credentials = "LCSW"
    tess.save(update_fields=["credentials"])
    Consultation.objects.create(
        client=avery,
        held_on=timezone.localdate() - 40 * DAY,
        clinician=tess,
        why_kap="Depression unchanged by two antidepressants",
        history="h",
        previous_treatment="Sertraline",
        supports="s",
        expectations="e",
        goals="Feel like myself again",
        decision=Consultation.Decision.PROCEED,
    )
    CoursePlan.objects.create(client=avery, goals="Lift the depression", planned_sessions=6, updated_by=tess)
    dose(avery, prescriber=priya, days=-14, mg="150")
    dose(avery, prescriber=priya, days=-7, mg="175")
    Client.objects.filter(pk=avery.pk).update(stage=Client.Stage.COURSE)
    avery.refresh_from_db()
    avery.next_session = visit(avery, tess, days=10)
    avery.therapy = visit(avery, tess, kind=Visit.Kind.THERAPY, days=11)
    schedule.schedule_client(client=avery)
    return avery


def draft(client, user, **changes) -> Discharge:
    values = {
        "reason": Discharge.Reason.COMPLETED,
        "discharged_on": timezone.localdate(),
        "condition": "Mood lifted; no suicidal ideation; low risk.",
        "recommendations": "Keep the weekly therapy; come back if the low mood returns.",
        "referrals": "Dr. Rowan Reyes, psychiatry, for medicines.",
    }
    return discharges.discharge_draft(request=as_request(user), client=client, **(values | changes))


def sign(discharge, user) -> Discharge:
    return discharges.discharge_sign(request=as_request(user), discharge=discharge)


def open_tasks(client) -> set[tuple[str, str]]:
    return set(
        MeasureTask.objects.filter(
            client=client, withdrawn_at__isnull=True, response__isnull=True
        ).values_list("instrument", "reason")
    )


def form_data(**changes) -> dict:
    return {
        "reason": "withdrew",
        "reason_detail": "Moving abroad for work.",
        "discharged_on": timezone.localdate().isoformat(),
        "condition": "Stable, low risk.",
        "recommendations": "See a therapist where she lands.",
        "referrals": "",
    } | changes


# Signing.


def test_signing_discharges_the_client_ends_the_plan_and_closes_the_schedule(
    in_course, tess, priya, audit_rows
):
    avery = in_course
    assert ("phq9", "weekly") in open_tasks(avery) and ("phq9", "pre_session") in open_tasks(avery)
    signed = sign(draft(avery, tess), tess)

    avery.refresh_from_db()
    assert avery.stage == Client.Stage.DISCHARGED
    assert (signed.signed_by, signed.signature) == (tess, "Tess Therapist, LCSW")
    plan = CoursePlan.objects.get(client=avery)
    assert plan.ended_at == signed.signed_at and signed.plan == plan
    assert position(avery).label == "Course ended: 2 of 6 sessions held"
    # The medication session to come is cancelled, with the reason; the therapy session stays.
    avery.next_session.refresh_from_db()
    avery.therapy.refresh_from_db()
    assert avery.next_session.status == Visit.Status.CANCELLED
    assert avery.next_session.cancel_reason.startswith("Course ended: discharged on ")
    assert avery.therapy.status == Visit.Status.SCHEDULED
    # The weekly and pre-session forms are gone; the discharge forms are asked, once.
    assert open_tasks(avery) == {("phq9", "discharge"), ("gad7", "discharge"), ("pcl5", "discharge")}
    schedule.schedule_client(client=avery, now=timezone.now() + 3 * DAY)
    assert MeasureTask.objects.filter(client=avery, reason="discharge").count() == 3

    stage = audit_rows("kapflow.clients.client.stage_changed")[-1]
    assert stage.detail == {"from": "course", "stage": "discharged", "by": "discharge"}
    row = audit_rows("kapflow.course.discharge.signed")[-1]
    assert (row.actor, row.client, row.detail["cancelled"]) == (tess, avery, 1)
    assert "Mood" not in str(row.detail)  # the words stay on the record, not in the log
    assert audit_rows("kapflow.course.plan.ended")[-1].client == avery


def test_another_clinician_on_the_care_team_may_sign_and_the_signature_is_theirs(in_course, tess, priya):
    priya.credentials = "PMHNP"
    priya.save(update_fields=["credentials"])
    signed = sign(draft(in_course, tess), priya)
    assert (signed.written_by, signed.signed_by, signed.signature) == (tess, priya, "Priya Prescriber, PMHNP")


def test_a_client_who_stops_mid_course_is_discharged_with_the_sessions_held(in_course, tess):
    signed = sign(draft(in_course, tess, reason=Discharge.Reason.WITHDREW), tess)
    course = next(part for part in signed.facts["sections"] if part["heading"] == "Course of treatment")
    assert ["Planned medication sessions", "6"] in course["facts"]
    assert ["Medication sessions completed", "2"] in course["facts"]
    assert signed.get_reason_display() == "The client chose to stop"


def test_a_client_in_preparation_without_a_plan_gets_a_discharge_record(avery, tess, audit_rows):
    Client.objects.filter(pk=avery.pk).update(stage=Client.Stage.PREPARATION)
    signed = sign(draft(avery, tess, reason=Discharge.Reason.REFERRED), tess)
    avery.refresh_from_db()
    assert avery.stage == Client.Stage.DISCHARGED and signed.plan is None
    assert audit_rows("kapflow.course.plan.ended") == []


def test_the_facts_are_frozen_at_signing(in_course, tess, priya):
    signed = sign(draft(in_course, tess), tess)
    before = Discharge.objects.get(pk=signed.pk).facts
    medicine = next(part for part in before["sections"] if part["heading"] == "Medicine given")
    assert medicine["tables"][0]["rows"][0][3] == "150 mg to 175 mg"
    assert before["crisis_resources"] == Practice.load().crisis_resources

    dose(in_course, prescriber=priya, days=-1, mg="250")  # a dose recorded later
    Practice.objects.update(crisis_resources="Call the front desk.")
    assert Discharge.objects.get(pk=signed.pk).facts == before
    now = discharges.draft_facts(in_course, Practice.load())
    assert now != before and now["crisis_resources"] == "Call the front desk."


def action_items(client, clinician, *statuses) -> list[ActionItem]:
    """An integration record a week ago with an action item of each of `statuses`, in order."""
    record = IntegrationRecord.objects.create(
        client=client, clinician=clinician, themes="Grief.", recorded_at=timezone.now() - 7 * DAY
    )
    return [
        ActionItem.objects.create(client=client, record=record, text=f"Item {n}", status=status)
        for n, status in enumerate(statuses, start=1)
    ]


def test_the_summary_lists_the_action_items_and_what_is_carried_forward(in_course, tess):
    """Each action item with its status at discharge; those still open or in progress are
    carried forward, and signing leaves their status as it was (a review changes it)."""
    items = action_items(in_course, tess, "done", "open", "let_go", "in_progress")
    signed = sign(draft(in_course, tess), tess)
    (part,) = [part for part in signed.facts["sections"] if part["heading"] == "Action items"]
    written = long_date(items[0].created_at)
    assert part["tables"][0]["rows"] == [
        ["Item 1", written, "Done"],
        ["Item 2", written, "Open, carried forward"],
        ["Item 3", written, "Let go"],
        ["Item 4", written, "In progress, carried forward"],
    ]
    assert part["lines"] == [
        "2 of 4 are still open at discharge and carried forward: "
        "the client goes on with them after the course."
    ]
    assert [item.status for item in ActionItem.objects.order_by("pk")] == [
        "done",
        "open",
        "let_go",
        "in_progress",
    ]


def test_the_summary_says_when_no_action_item_is_left_open_or_none_was_written(in_course, tess):
    assert discharges.draft_facts(in_course, Practice.load())["sections"][-1] == {
        "heading": "Action items",
        "facts": [],
        "tables": [],
        "lines": ["No action item was written in an integration record."],
    }
    action_items(in_course, tess, "done")
    (line,) = discharges.draft_facts(in_course, Practice.load())["sections"][-1]["lines"]
    assert line == "None is left open: each was done or let go before the discharge."


def test_the_draft_page_says_which_action_items_signing_carries_forward(in_course, tess, login):
    http = login(tess)
    discharge = draft(in_course, tess)
    url = reverse("course:discharge_detail", args=[in_course.pk, discharge.pk])
    assert 'id="open-items"' not in http.get(url).content.decode()
    action_items(in_course, tess, "open", "done")
    page = http.get(url).content.decode()
    assert "1 action item is still open. Signing leaves it as it is" in page
    assert reverse("integration:overview", args=[in_course.pk]) + "#items-h" in page
    assert "Open, carried forward" in page  # the facts as they stand
    sign(discharge, tess)
    summary = http.get(url).content.decode()
    assert "Open, carried forward" in summary and 'id="open-items"' not in summary


def test_a_course_review_waiting_for_its_signatures_keeps_the_discharge_from_being_signed(
    in_course, tess, priya
):
    """Signed after the discharge, its decision would put the ended course back in force; left
    waiting, it would keep the next course's reviews waiting for ever (one open review a client)."""
    from kapflow.course.models import CourseReview
    from kapflow.course.reviews import ReviewRefused, review_sign, review_write

    review = review_write(
        request=as_request(tess),
        client=in_course,
        review=CourseReview(summary="Better.", decision=CourseReview.Decision.EXTEND, extend_to=8),
    )
    review_sign(request=as_request(tess), review=review, role="therapist")
    discharge = draft(in_course, tess)
    with pytest.raises(discharges.DischargeRefused, match="course review is waiting"):
        sign(discharge, tess)
    in_course.refresh_from_db()
    assert in_course.stage == Client.Stage.COURSE
    # A review that decides to end the course leads to the discharge.
    review_sign(request=as_request(priya), review=review, role="prescriber")
    sign(discharge, tess)
    in_course.refresh_from_db()
    assert in_course.stage == Client.Stage.DISCHARGED
    with pytest.raises(ReviewRefused, match="ended"):
        review_write(
            request=as_request(tess),
            client=in_course,
            review=CourseReview(summary="Again.", decision=CourseReview.Decision.CONTINUE),
        )


@pytest.mark.usefixtures("only_the_course_gate")
def test_a_discharged_client_comes_back_for_a_new_course(in_course, tess):
    """End to end: discharged, then a new course planned; its sessions count from 1 again, the
    first one moves the client back into a course, and the count is kept."""
    from kapflow.pathway import services as pathway_services
    from kapflow.pathway.forms import CoursePlanForm
    from kapflow.visits import services as visit_services
    from kapflow.visits.models import Room
    from tests.test_course_position import session

    room = Room.objects.create(name="Cedar")

    def start(visit):
        visit_services.visit_transition(request=as_request(tess), visit=visit, to=Visit.Status.IN_PROGRESS)

    sign(draft(in_course, tess), tess)
    # Booked for earlier today and not begun (signing cancels only the sessions still to come).
    first = session(in_course, tess, room, days=-0.01, status="scheduled")
    with pytest.raises(visit_services.VisitRefused, match="ended in a discharge"):
        start(first)
    data = {"goals": "Lift the low mood again.", "planned_sessions": "1", "cadence": "weekly"}
    form = CoursePlanForm({**data, "modality": "in_person"})
    assert form.is_valid(), form.errors
    plan = pathway_services.course_plan_save(request=as_request(tess), client=in_course, form=form)
    assert plan.course_number == 2 and position(in_course).held == 0
    # The session booked before the new course would count against no plan: it is booked again.
    with pytest.raises(visit_services.VisitRefused, match="before the plan"):
        start(first)
    start(session(in_course, tess, room, days=0.02, status="scheduled"))
    in_course.refresh_from_db()
    assert in_course.stage == Client.Stage.COURSE
    assert position(in_course).label.startswith("Session 1 of 1")
    # The one planned session has begun: another waits for a course review.
    with pytest.raises(visit_services.VisitRefused, match="have been held"):
        start(session(in_course, tess, room, days=0.03, status="scheduled"))


def test_a_session_in_progress_keeps_the_discharge_from_being_signed(in_course, tess):
    Visit.objects.filter(pk=in_course.next_session.pk).update(status=Visit.Status.IN_PROGRESS)
    discharge = draft(in_course, tess)
    with pytest.raises(discharges.DischargeRefused, match="in progress"):
        sign(discharge, tess)
    in_course.refresh_from_db()
    assert in_course.stage == Client.Stage.COURSE and not Discharge.objects.get(pk=discharge.pk).is_signed


# One draft; locked once signed.


def test_a_second_draft_is_refused_and_the_page_leads_to_the_first(in_course, tess, priya, login):
    first = draft(in_course, tess)
    with pytest.raises(discharges.DischargeRefused, match="open already"):
        draft(in_course, priya)
    response = login(priya).get(reverse("course:discharge_new", args=[in_course.pk]))
    assert response["Location"] == reverse("course:discharge_detail", args=[in_course.pk, first.pk])
    assert Discharge.objects.filter(client=in_course).count() == 1


def test_a_discharged_client_gets_no_new_draft(in_course, tess, login):
    sign(draft(in_course, tess), tess)
    with pytest.raises(discharges.DischargeRefused, match="discharged already"):
        draft(in_course, tess)
    response = login(tess).post(reverse("course:discharge_new", args=[in_course.pk]), form_data())
    assert response.status_code == 200 and "discharged already" in response.content.decode()
    assert Discharge.objects.filter(client=in_course).count() == 1


def test_a_client_still_at_consultation_is_not_discharged(avery, tess):
    with pytest.raises(discharges.DischargeRefused, match="Not proceeding"):
        draft(avery, tess)


def test_a_signed_discharge_is_locked_in_the_service_and_the_database(in_course, tess, login):
    signed = sign(draft(in_course, tess), tess)
    with pytest.raises(discharges.DischargeRefused, match="signed"):
        discharges.discharge_update(request=as_request(tess), discharge=signed, condition="Changed.")
    with pytest.raises(discharges.DischargeRefused, match="signed already"):
        sign(signed, tess)
    for statement in (
        "UPDATE course_discharge SET condition = 'Changed afterwards.' WHERE id = %s",
        "UPDATE course_discharge SET signature = 'Someone else' WHERE id = %s",
        "DELETE FROM course_discharge WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [signed.pk])
    response = login(tess).post(
        reverse("course:discharge_detail", args=[in_course.pk, signed.pk]), form_data(condition="Changed.")
    )
    assert response.status_code == 302
    assert Discharge.objects.get(pk=signed.pk).condition == signed.condition


def test_a_draft_may_still_be_changed(in_course, tess, audit_rows):
    discharge = draft(in_course, tess)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE course_discharge SET referrals = 'None' WHERE id = %s", [discharge.pk])
    discharges.discharge_update(request=as_request(tess), discharge=discharge, referrals="Dr. Reyes")
    assert Discharge.objects.get(pk=discharge.pk).referrals == "Dr. Reyes"
    assert audit_rows("kapflow.course.discharge.edited")[-1].detail == {"changed": ["referrals"]}


# The by-hand stage change.


@pytest.mark.parametrize("stage", ["discharged", "maintenance"])
def test_the_by_hand_stage_change_refuses_discharged_and_maintenance(stage, in_course, tess, login):
    with pytest.raises(client_services.StageChangeRefused, match="discharge record|course review"):
        client_services.stage_change(
            request=as_request(tess), client=in_course, to_stage=stage, reason="Done."
        )
    form = StageChangeForm(client=in_course)
    assert stage not in dict(form.fields["to_stage"].choices)
    assert "Write the discharge" in form.fields["to_stage"].help_text
    response = login(tess).post(
        reverse("clients:stage", args=[in_course.pk]), {"to_stage": stage, "reason": "Done."}
    )
    assert response.status_code == 200
    in_course.refresh_from_db()
    assert in_course.stage == Client.Stage.COURSE


def test_the_by_hand_stage_change_still_moves_a_client_to_not_proceeding(in_course, tess):
    client_services.stage_change(
        request=as_request(tess), client=in_course, to_stage="not_proceeding", reason="Chose not to go on."
    )
    assert Client.objects.get(pk=in_course.pk).stage == Client.Stage.NOT_PROCEEDING


# The pages.


def test_writing_and_signing_through_the_pages(in_course, tess, login, audit_rows):
    OutsideProvider.objects.create(client=in_course, name="Dr. Rowan Reyes", kind="psychiatrist")
    http = login(tess)
    page = http.get(reverse("course:discharge_new", args=[in_course.pk])).content.decode()
    assert "Dr. Rowan Reyes" in page  # the outside providers, as a hint for the referrals
    assert "Medicine given" in page and "Symptom scores" in page  # the facts, as they stand
    response = http.post(reverse("course:discharge_new", args=[in_course.pk]), form_data())
    discharge = Discharge.objects.get(client=in_course)
    assert response["Location"] == reverse("course:discharge_detail", args=[in_course.pk, discharge.pk])
    assert discharge.reason == "withdrew" and discharge.written_by == tess and discharge.facts == {}
    assert audit_rows("kapflow.course.discharge.drafted")[-1].detail == {"reason": "withdrew"}

    # The sign button sends the form: what is typed there is saved, then signed.
    response = http.post(
        reverse("course:discharge_sign", args=[in_course.pk, discharge.pk]),
        form_data(condition="Stable at the end, low risk, safety plan in place."),
    )
    assert response.status_code == 302
    discharge.refresh_from_db()
    assert discharge.is_signed and discharge.condition == "Stable at the end, low risk, safety plan in place."

    summary = http.get(reverse("course:discharge_detail", args=[in_course.pk, discharge.pk])).content.decode()
    assert "Discharge summary" in summary and "Tess Therapist, LCSW" in summary
    assert Practice.load().crisis_resources[:40] in summary
    assert reverse("letters:new", args=[in_course.pk]) + "?kind=discharge" in summary
    assert audit_rows("kapflow.course.discharge.viewed")[-1].client == in_course


def test_a_form_with_errors_keeps_what_was_typed(in_course, tess, login):
    http = login(tess)
    tomorrow = (timezone.localdate() + DAY).isoformat()
    response = http.post(
        reverse("course:discharge_new", args=[in_course.pk]),
        form_data(discharged_on=tomorrow, condition="Typed words stay."),
    )
    page = response.content.decode()
    assert response.status_code == 200 and "in the future" in page and "Typed words stay." in page
    too_early = (timezone.localdate() - 41 * DAY).isoformat()  # before the consultation
    page = http.post(
        reverse("course:discharge_new", args=[in_course.pk]), form_data(discharged_on=too_early)
    ).content.decode()
    assert "before the client was first seen" in page
    assert not Discharge.objects.exists()
    # The service refuses the same dates, whatever calls it.
    with pytest.raises(discharges.DischargeRefused, match="future"):
        draft(in_course, tess, discharged_on=timezone.localdate() + DAY)


def test_signing_with_a_form_error_keeps_what_was_typed_and_signs_nothing(in_course, tess, login):
    discharge = draft(in_course, tess)
    response = login(tess).post(
        reverse("course:discharge_sign", args=[in_course.pk, discharge.pk]),
        form_data(condition="", recommendations="Kept as typed."),
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Kept as typed." in page and "condition and risk" in page
    assert not Discharge.objects.get(pk=discharge.pk).is_signed


def test_the_chart_offers_the_discharge_then_the_summary(in_course, tess, cora, login):
    chart = reverse("clients:chart", args=[in_course.pk])
    assert "Write the discharge" in login(tess).get(chart).content.decode()
    assert "Write the discharge" not in login(cora).get(chart).content.decode()
    sign(draft(in_course, tess), tess)
    page = login(tess).get(chart).content.decode()
    assert "Write the discharge" not in page
    assert reverse("course:discharge_list", args=[in_course.pk]) in page
    listing = login(tess).get(reverse("course:discharge_list", args=[in_course.pk])).content.decode()
    assert "Signed" in listing and "Completed the course" in listing


def test_others_get_404_and_the_coordinator_is_refused(in_course, olive, tess, colin, cora, ada, login):
    discharge = draft(in_course, tess)
    detail = reverse("course:discharge_detail", args=[in_course.pk, discharge.pk])
    sign_url = reverse("course:discharge_sign", args=[in_course.pk, discharge.pk])
    assert login(colin).get(detail).status_code == 404
    assert login(colin).post(sign_url).status_code == 404
    assert login(cora).get(detail).status_code == 404
    assert login(cora).post(sign_url).status_code == 403
    assert login(ada).get(reverse("course:discharge_new", args=[in_course.pk])).status_code == 403
    # Another client's discharge, under a client Tess may see, or a number out of range: 404.
    other = Discharge.objects.create(
        client=olive, reason="lost", condition="c", recommendations="r", written_by=colin
    )
    for number in (other.pk, 10**30):
        assert login(tess).get(f"/clients/{in_course.pk}/course/discharge/{number}/").status_code == 404
    with pytest.raises(discharges.DischargeRefused):
        sign(discharge, colin)
    with pytest.raises(discharges.DischargeRefused):
        draft(olive, tess)
    assert not Discharge.objects.get(pk=discharge.pk).is_signed


# Hostile input: whatever is posted, nothing breaks and nothing odd is saved.


@given(
    reason=st.one_of(st.sampled_from(["completed", "", "lost ", "x" * 50]), st.text(max_size=20)),
    day=st.one_of(
        st.sampled_from(["", "2026-02-30", "99999-01-01", "0001-01-01", "today", "1e9"]),
        st.text(max_size=12),
    ),
    words=st.one_of(st.sampled_from(["\x00", "<script>alert(1)</script>", "x" * 20001, " "]), st.text()),
)
@hsettings(max_examples=examples(0.5))
def test_hostile_input_never_breaks_the_form(in_course, tess, login, reason, day, words):
    http = login(tess)
    response = http.post(
        reverse("course:discharge_new", args=[in_course.pk]),
        form_data(reason=reason, discharged_on=day, condition=words, referrals=words),
    )
    assert response.status_code in (200, 302)
    for discharge in Discharge.objects.filter(client=in_course):
        assert discharge.reason in Discharge.Reason.values and "\x00" not in discharge.condition
        assert discharge.discharged_on <= timezone.localdate() and discharge.condition.strip()
    page = response.content.decode() if response.status_code == 200 else ""
    assert "<script>alert(1)</script>" not in page
    Discharge.objects.filter(client=in_course).delete()


def test_a_discharged_clients_visit_forms_are_withdrawn_and_none_asked():
    """The schedule's rule: once discharged, no visit brings its forms (a progress review left on
    the calendar included)."""
    now = datetime.datetime(2026, 3, 10, 15, 0, tzinfo=datetime.UTC)
    starts = now + 3 * DAY
    state = schedule.ClientState(
        stage="discharged",
        visits=[schedule.VisitInfo(7, "progress_review", starts, "scheduled")],
        tasks=[
            schedule.TaskInfo(1, "phq9", "review", starts - DAY, 7),
            schedule.TaskInfo(2, "gad7", "weekly", now - DAY),
            schedule.TaskInfo(3, "pcl5", "review", starts - DAY, 7, done=True),
        ],
    )
    result = schedule.plan(state, now=now, weekly_days=7, lead_hours=24)
    assert result.create == []
    assert sorted((w.task_id, w.why) for w in result.withdraw) == [
        (1, "the client was discharged"),
        (2, "the course has ended"),
    ]


# The same signature twice at the same instant.


@pytest.fixture(scope="module")
def _triggers_back_at_the_end(django_db_blocker):
    """The append-only triggers, back on once the last flush has run (later tests expect them)."""
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
@pytest.mark.usefixtures("_triggers_back_at_the_end")
class TestSigningRace:
    """Two clinicians sign the same draft at once, each on their own connection: one signs, the
    other is told it is signed already, and the client is discharged once. The summary's facts
    are read slowly, so that without the locks both would read the draft unsigned."""

    @pytest.fixture(autouse=True)
    def _triggers_lifted_for_the_flush(self, db):
        """On while the test runs; lifted before Django empties the database after it (the audit
        table refuses a flush), as tests/test_concurrency.py does."""
        install_triggers(connection)
        yield
        drop_triggers(connection)

    def test_a_discharge_is_signed_once(self, monkeypatch, in_course, tess, priya, audit_rows):
        discharge = draft(in_course, tess)
        original = discharges.discharge_facts

        def slow_facts(*args, **kwargs):
            answer = original(*args, **kwargs)
            time.sleep(0.4)
            return answer

        monkeypatch.setattr(discharges, "discharge_facts", slow_facts)
        results = race(lambda: sign(discharge, tess), lambda: sign(discharge, priya))
        signed = [r for r in results if isinstance(r, Discharge)]
        refused = [r for r in results if isinstance(r, discharges.DischargeRefused)]
        assert len(signed) == 1 and len(refused) == 1, results
        assert "signed already" in refused[0].reason
        assert len(audit_rows("kapflow.course.discharge.signed")) == 1
        assert len(audit_rows("kapflow.visits.visit.cancelled")) == 1


def test_a_summary_signed_without_crisis_resources_shows_todays_and_says_so(avery, tess, login):
    """The demo writes signed discharges whole; one without the kept text shows the practice's."""
    Client.objects.filter(pk=avery.pk).update(stage=Client.Stage.DISCHARGED)
    signed = Discharge.objects.create(
        client=avery,
        reason=Discharge.Reason.LOST,
        condition="Not seen since March.",
        recommendations="Letter sent with the crisis line.",
        written_by=tess,
        signed_by=tess,
        signed_at=timezone.now(),
        signature=tess.display_name,
        facts={"sections": []},
    )
    page = login(tess).get(reverse("course:discharge_detail", args=[avery.pk, signed.pk])).content.decode()
    assert Practice.load().crisis_resources[:40] in page and "as they read today" in page
