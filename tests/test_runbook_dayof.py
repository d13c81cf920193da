"""The runbook's day of (issue 4): the check-in records (day-of checklist, virtual safety plan)
judged by the day-of gates, the start and first-dose refusals, the readiness strip, the phases
and chaperone check-ins under frozen time, the in-place (htmx) updates, and the integration
booked from the signed record."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.dosing import rules, selectors
from kapflow.dosing.models import DayOfChecklist, PhaseMark
from kapflow.dosing.services.administration import dose_record
from kapflow.dosing.services.checkin import (
    checklist_record,
    medications_review,
    safety_plan_record,
    session_start,
)
from kapflow.dosing.services.discharge import discharge_record, integration_book
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.services.session import chaperone_checkin_record, note_record, phase_mark, rating_record
from kapflow.dosing.services.signing import runbook_sign
from kapflow.dosing.services.vitals import vitals_record
from kapflow.measures.models import Alert
from kapflow.practice.models import Practice
from kapflow.visits import services as visit_services
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.test_runbook import DAY, at, make_order

PLAN = {
    "address": "12 Elm St, Springfield",
    "chaperone_name": "Sam Rivera",
    "chaperone_phone": "555-0100",
    "chaperone_is_adult": True,
    "chaperone_present": True,
    "emergency_contact": "Jo Rivera 555-0101",
    "nearest_emergency_department": "Springfield General",
    "has_bp_cuff": True,
}


def make_visit(client, clinician, by, *, virtual=True, status=Visit.Status.CHECKED_IN, start=-30):
    room = None if virtual else Room.objects.get_or_create(name="Garden Room")[0]
    return Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
        room=room,
        starts_at=at(start),
        ends_at=at(start + 150),
        clinician=clinician,
        created_by=by,
        status=status,
    )


@pytest.fixture
def virtual(avery, tess, cora):
    return make_visit(avery, tess, cora)


@pytest.fixture
def in_person(avery, tess, cora):
    return make_visit(avery, tess, cora, virtual=False)


@pytest.fixture
def order(avery, priya):
    return make_order(avery, priya)


def plan(visit, who, minutes=-35, **changes):
    with time_machine.travel(at(minutes), tick=False):
        return safety_plan_record(actor=who, visit=visit, **{**PLAN, **changes})


def checklist(visit, who, minutes=-30, **changes):
    values = {
        "transport_without_driving": True,
        "last_food_at": at(-300),
        "last_liquid_at": at(-120),
        "substances": [],
        "pregnancy": DayOfChecklist.Pregnancy.NOT_APPLICABLE,
        "practice": Practice.load(),
    }
    with time_machine.travel(at(minutes), tick=False):
        checklist = checklist_record(actor=who, visit=visit, **{**values, **changes})
        factories.acknowledge_integration(visit, who)
        return checklist


def start(visit, who, minutes=-20):
    with time_machine.travel(at(minutes), tick=False):
        return session_start(actor=who, visit=visit, practice=Practice.load())


def predose(visit, who, minutes=-10, bp=(122, 78), hr=70):
    with time_machine.travel(at(minutes), tick=False):
        return vitals_record(
            actor=who,
            visit=visit,
            phase="pre_dose",
            taken_at=at(minutes),
            systolic=bp[0],
            diastolic=bp[1],
            heart_rate=hr,
            spo2=98,
            practice=Practice.load(),
        )


def give(visit, who, order, minutes=0, mg=250):
    with time_machine.travel(at(minutes), tick=False):
        return dose_record(
            actor=who,
            visit=visit,
            order=order,
            given_at=at(minutes),
            route="sublingual",
            dose_mg=Decimal(mg),
            lot_number="LOT-7",
            given_by=who,
            practice=Practice.load(),
        )


# --- The start: a virtual session needs its safety plan ---------------------------------------


def test_a_virtual_session_cannot_start_without_its_safety_plan(virtual, tess, pathway_ready, audit_rows):
    with pytest.raises(RunbookRefused, match="Virtual safety plan: No safety plan"):
        start(virtual, tess)
    virtual.refresh_from_db()
    assert virtual.status == Visit.Status.CHECKED_IN
    assert not audit_rows("kapflow.visits.visit.started")


@pytest.mark.parametrize(
    "change, missing",
    [
        ({"chaperone_is_adult": False}, "an adult chaperone"),
        ({"chaperone_present": False}, "the chaperone physically present"),
        ({"chaperone_phone": " "}, "the chaperone's phone"),
        ({"address": ""}, "the address for the session"),
        ({"emergency_contact": ""}, "an emergency contact"),
        ({"nearest_emergency_department": ""}, "the nearest emergency department"),
        ({"has_bp_cuff": False}, "a blood-pressure cuff"),
    ],
)
def test_each_missing_part_of_the_safety_plan_blocks_the_start(virtual, tess, pathway_ready, change, missing):
    plan(virtual, tess, **change)
    with pytest.raises(RunbookRefused, match=f"Missing: .*{missing}"):
        start(virtual, tess)
    # The visits page's own start goes through the same gate.
    with pytest.raises(visit_services.VisitRefused):
        visit_services.visit_transition(request=None, visit=virtual, to=Visit.Status.IN_PROGRESS)


def test_a_newer_safety_plan_supersedes_the_older_and_both_are_kept(virtual, tess, pathway_ready, audit_rows):
    plan(virtual, tess, -40, chaperone_is_adult=False)
    plan(virtual, tess, -35)
    assert virtual.runbook.safety_plans.count() == 2
    started = start(virtual, tess)
    assert started.status == Visit.Status.IN_PROGRESS
    assert len(audit_rows("kapflow.dosing.safety_plan.recorded")) == 2
    assert audit_rows("kapflow.visits.visit.started")
    # The start marks the opening reflection.
    assert list(virtual.runbook.phase_marks.values_list("phase", flat=True)) == ["opening"]


def test_an_in_person_session_needs_no_safety_plan(in_person, tess, pathway_ready):
    assert start(in_person, tess).status == Visit.Status.IN_PROGRESS
    with pytest.raises(RunbookRefused, match="in-person session needs no"):
        plan(in_person, tess)


# --- The first dose: day-of checklist and pre-dose vitals --------------------------------------


def test_the_first_dose_waits_for_the_start(in_person, tess, order):
    checklist(in_person, tess)
    predose(in_person, tess)
    with pytest.raises(RunbookRefused, match="Start the session before the first dose"):
        give(in_person, tess, order)


def test_the_first_dose_needs_the_day_of_checklist(in_person, tess, order, pathway_ready):
    start(in_person, tess)
    predose(in_person, tess)
    with pytest.raises(RunbookRefused, match="Day-of checklist: The day-of checklist is not done"):
        give(in_person, tess, order)
    checklist(in_person, tess, -5)
    assert give(in_person, tess, order).dose_mg == 250


@pytest.mark.parametrize(
    "change, reason, resolver",
    [
        ({"transport_without_driving": False}, "no ride home arranged", "therapist"),
        ({"last_food_at": at(-60)}, "ate within the last 2 h", "therapist"),
        ({"last_liquid_at": at(-20)}, "drank within the last 30 min", "therapist"),
        ({"substances": ["alcohol", "cannabis"]}, "took alcohol, cannabis in the last 24 h", "therapist"),
        ({"pregnancy": DayOfChecklist.Pregnancy.POSSIBLE}, "possibly pregnant", "prescriber"),
        ({"new_medications": "sertraline"}, "for the prescriber to review: sertraline", "prescriber"),
    ],
)
def test_each_checklist_failure_refuses_the_dose_and_says_who_clears_it(
    in_person, tess, order, pathway_ready, change, reason, resolver
):
    start(in_person, tess)
    checklist(in_person, tess, -15, **change)
    predose(in_person, tess)
    with pytest.raises(RunbookRefused, match=f"{reason}.*who can clear it: the {resolver}"):
        give(in_person, tess, order)
    assert not in_person.runbook.administrations.exists()


def test_the_fasting_rule_comes_from_the_practice(in_person, tess, order, pathway_ready):
    Practice.objects.filter(pk=Practice.load().pk).update(fasting_food_hours=6)
    start(in_person, tess)
    checklist(in_person, tess, -15)  # ate 5 h before the dose
    predose(in_person, tess)
    with pytest.raises(RunbookRefused, match="ate within the last 6 h"):
        give(in_person, tess, order)


def test_an_open_suicidality_alert_must_be_reviewed(in_person, tess, avery, order, pathway_ready):
    Alert.objects.create(client=avery, kind=Alert.Kind.SUICIDALITY, assigned_to=tess)
    start(in_person, tess)
    checklist(in_person, tess, -15)
    predose(in_person, tess)
    with pytest.raises(RunbookRefused, match="open suicidality alert has not been reviewed"):
        give(in_person, tess, order)
    checklist(in_person, tess, -5, suicidality_alert_reviewed=True)
    assert give(in_person, tess, order)


def test_only_a_prescriber_reviews_new_medications(in_person, tess, priya, order, pathway_ready, audit_rows):
    start(in_person, tess)
    with pytest.raises(RunbookRefused, match="Only a prescriber"):
        checklist(in_person, tess, -15, new_medications="sertraline", medications_reviewed=True)
    checklist(in_person, tess, -15, new_medications="sertraline")
    with pytest.raises(RunbookRefused, match="Only a prescriber"):
        medications_review(actor=tess, visit=in_person)
    with time_machine.travel(at(-12), tick=False):
        medications_review(actor=priya, visit=in_person)
    assert audit_rows("kapflow.dosing.medications.reviewed")
    latest = selectors.latest_checklist(in_person.runbook)
    assert latest.medications_reviewed_by == priya and latest.new_medications == "sertraline"
    assert in_person.runbook.checklists.count() == 2  # the older is kept
    predose(in_person, tess)
    assert give(in_person, tess, order)


def test_a_substance_not_on_the_practices_list_is_refused(in_person, tess):
    with pytest.raises(RunbookRefused, match="Not on the practice's list"):
        checklist(in_person, tess, substances=["coffee"])


def test_the_checklist_closes_with_the_dose(in_person, tess, order, pathway_ready):
    start(in_person, tess)
    checklist(in_person, tess, -15)
    predose(in_person, tess)
    give(in_person, tess, order)
    with pytest.raises(RunbookRefused, match="can no longer change"):
        checklist(in_person, tess, 5)


def test_pre_dose_vitals_still_hold_the_dose_after_the_checklist(in_person, tess, order, pathway_ready):
    start(in_person, tess)
    checklist(in_person, tess, -15)
    predose(in_person, tess, bp=(165, 95))
    with pytest.raises(RunbookRefused, match="Pre-dose vitals: .*hold level"):
        give(in_person, tess, order)


def test_a_time_later_than_now_is_yesterday(in_person, tess):
    now = timezone.localtime(DAY)
    earlier = (now - datetime.timedelta(minutes=90)).time().replace(second=0, microsecond=0)
    later = (now + datetime.timedelta(minutes=90)).time().replace(second=0, microsecond=0)
    with time_machine.travel(DAY, tick=False):
        saved = checklist_record(
            actor=tess,
            visit=in_person,
            transport_without_driving=True,
            last_food_at=later,
            last_liquid_at=earlier,
            substances=[],
            pregnancy="no",
            practice=Practice.load(),
        )
    assert saved.last_food_at == DAY + datetime.timedelta(minutes=90) - datetime.timedelta(days=1)
    assert saved.last_liquid_at == DAY - datetime.timedelta(minutes=90)


# --- The strip, the phases, the chaperone clock ------------------------------------------------


def test_the_strip_shows_every_day_of_gate_with_who_clears_it(virtual, tess, login):
    with time_machine.travel(at(-25), tick=False):
        page = login(tess).get(reverse("dosing:runbook", args=[virtual.client_id, virtual.pk]))
    html = page.content.decode()
    for label in ("Virtual safety plan", "Day-of checklist", "Pre-dose vitals", "Integration booked"):
        assert label in html
    assert "Blocked" in html and "Needs acknowledgement" in html
    assert "Who can clear it: the therapist" in html
    # Checked in: the check-in forms are there before the start.
    assert "Record the safety plan" in html and "Go through the checklist" in html


def test_the_phases_are_timed_against_the_practices_minutes(in_person, tess, order, pathway_ready, login):
    start(in_person, tess, -20)
    checklist(in_person, tess, -15)
    predose(in_person, tess)
    give(in_person, tess, order, 0)  # marks the medicine phase
    with time_machine.travel(at(60), tick=False):
        phase_mark(actor=tess, visit=in_person, phase="integration", started_at=at(60))
        practice = Practice.load()
        times = selectors.phase_times(in_person.runbook, now=at(60), practice=practice)
    opening, medicine, integration = times
    assert (opening.elapsed_minutes, opening.overrun_minutes) == (20, 0)
    assert (medicine.elapsed_minutes, medicine.overrun_minutes) == (60, 60 - practice.medicine_minutes)
    assert integration.current and integration.elapsed_minutes == 0
    with time_machine.travel(at(60), tick=False):
        html = login(tess).get(reverse("dosing:runbook", args=[in_person.client_id, in_person.pk])).content
    assert "15 min over the plan" in html.decode()
    with (
        pytest.raises(RunbookRefused, match="already began"),
        time_machine.travel(at(61), tick=False),
    ):
        phase_mark(actor=tess, visit=in_person, phase="integration", started_at=at(61))


def test_a_phase_cannot_begin_before_the_one_before_it(in_person, tess, pathway_ready):
    start(in_person, tess, -20)
    with time_machine.travel(at(0), tick=False), pytest.raises(RunbookRefused, match="comes after"):
        phase_mark(actor=tess, visit=in_person, phase="integration", started_at=at(-30))


def test_the_phase_rule_is_pure():
    order = [("a", "A", 30), ("b", "B", 45)]
    times = rules.phase_times(marks={"a": at(0)}, order=order, now=at(40), ended_at=None)
    assert times[0].elapsed_minutes == 40 and times[0].overrun_minutes == 10 and times[0].current
    assert times[1].started_at is None and times[1].overrun_minutes == 0
    done = rules.phase_times(marks={"a": at(0), "b": at(25)}, order=order, now=at(200), ended_at=at(90))
    assert [t.elapsed_minutes for t in done] == [25, 65]


def test_chaperone_check_ins_fall_due_every_practice_interval(virtual, tess, order, pathway_ready):
    plan(virtual, tess)
    start(virtual, tess)
    checklist(virtual, tess, -15)
    predose(virtual, tess)
    give(virtual, tess, order, 0)
    practice = Practice.load()
    every = practice.chaperone_checkin_minutes
    clock = selectors.chaperone_clock(virtual, virtual.runbook, now=at(every - 1), practice=practice)
    assert clock.due_at == at(every) and not clock.overdue and clock.minutes_until_due == 1
    clock = selectors.chaperone_clock(virtual, virtual.runbook, now=at(every + 4), practice=practice)
    assert clock.overdue and clock.overdue_minutes == 4 and clock.missed == 1
    with time_machine.travel(at(every + 4), tick=False):
        chaperone_checkin_record(
            actor=tess, visit=virtual, checked_at=at(every + 4), chaperone_present=True, client_ok=True
        )
    clock = selectors.chaperone_clock(virtual, virtual.runbook, now=at(every + 5), practice=practice)
    assert clock.due_at == at(2 * every + 4) and not clock.overdue


def test_the_overdue_check_in_is_shown_plainly(virtual, tess, order, pathway_ready, login):
    plan(virtual, tess)
    start(virtual, tess)
    checklist(virtual, tess, -15)
    predose(virtual, tess)
    give(virtual, tess, order, 0)
    with time_machine.travel(at(22), tick=False):
        html = login(tess).get(reverse("dosing:live", args=[virtual.client_id, virtual.pk])).content.decode()
    assert "Chaperone check-in overdue by 7 min" in html
    assert "<html" not in html  # the live part only


def test_an_in_person_session_has_no_chaperone_check_ins(in_person, tess):
    clock = rules.chaperone_clock(
        virtual=False, first_dose_at=at(0), checkins=[], now=at(60), practice=Practice.load()
    )
    assert clock.due_at is None
    with pytest.raises(RunbookRefused, match="for virtual sessions"):
        chaperone_checkin_record(
            actor=tess, visit=in_person, checked_at=at(-60), chaperone_present=True, client_ok=True
        )


def test_a_concerning_check_in_raises_an_alert_on_the_page(virtual, tess, order, pathway_ready, login):
    plan(virtual, tess)
    start(virtual, tess)
    checklist(virtual, tess, -15)
    predose(virtual, tess)
    give(virtual, tess, order, 0)
    url = reverse("dosing:chaperone", args=[virtual.client_id, virtual.pk])
    with time_machine.travel(at(15), tick=False):
        response = login(tess).post(
            url, {"at": "", "client_ok": "on", "note": "Chaperone stepped out"}, follow=True
        )
    assert "ALERT: the chaperone is not present" in response.content.decode()


# --- In place (htmx), and nothing lost ---------------------------------------------------------


def test_an_htmx_post_answers_with_the_refreshed_runbook_body(in_person, tess, login, audit_rows):
    url = reverse("dosing:note", args=[in_person.client_id, in_person.pk])
    response = login(tess).post(url, {"at": "", "text": "Client arrived calm."}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "Client arrived calm." in html and "Note saved." in html
    assert 'id="runbook-live"' in html
    assert audit_rows("kapflow.dosing.note.recorded")


def test_an_htmx_form_with_errors_comes_back_in_the_swap_with_what_was_typed(in_person, tess, login):
    url = reverse("dosing:checklist", args=[in_person.client_id, in_person.pk])
    data = {"transport_detail": "Partner, Dana", "last_food": "7:15", "new_medications": "sertraline"}
    response = login(tess).post(url, data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'value="Partner, Dana"' in html and 'value="sertraline"' in html
    assert "Last liquid at" in html and "things to fix" in html
    assert not DayOfChecklist.objects.exists()


def test_without_javascript_a_post_redirects_to_the_page(in_person, tess, login):
    url = reverse("dosing:safety_plan", args=[in_person.client_id, in_person.pk])
    response = login(tess).post(url, PLAN)
    # An in-person session: refused, the form comes back with what was typed.
    assert response.status_code == 200
    assert "in-person session needs no virtual safety plan" in response.content.decode()
    response = login(tess).post(
        reverse("dosing:note", args=[in_person.client_id, in_person.pk]), {"text": "x"}
    )
    assert response.status_code == 302


def test_a_refused_dose_keeps_what_was_typed(in_person, tess, order, pathway_ready, login):
    start(in_person, tess)
    url = reverse("dosing:dose", args=[in_person.client_id, in_person.pk])
    data = {
        "order": order.pk,
        "route": "sublingual",
        "dose_mg": "250",
        "lot_number": "LOT-99",
        "given_by": tess.pk,
    }
    with time_machine.travel(at(0), tick=False):  # the form offers the orders in force that day
        response = login(tess).post(url, data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Day-of checklist: The day-of checklist is not done yet." in html
    assert 'value="LOT-99"' in html
    assert "Choose the order" in html


@pytest.mark.parametrize(
    "name, data",
    [
        ("checklist", {"last_food": "garbage", "substances": ["x" * 500], "pregnancy": "maybe"}),
        ("safety_plan", {"address": "x" * 5000}),
        ("phase", {"phase": "nonsense"}),
        ("chaperone", {"at": "99:99"}),
        ("integration", {"starts_at": "yesterday"}),
        ("integration", {"starts_at": "9999-12-31T23:59:00+00:00"}),
        ("start", {}),
        ("check_in", {}),
        ("medications_review", {}),
    ],
)
def test_garbage_never_gives_a_500(in_person, tess, login, name, data):
    http = login(tess)
    response = http.post(reverse(f"dosing:{name}", args=[in_person.client_id, in_person.pk]), data)
    assert response.status_code in (200, 302)
    huge = http.post(reverse(f"dosing:{name}", args=[in_person.client_id, 10**12]), data)
    assert huge.status_code == 404


# --- After the session --------------------------------------------------------------------------


def test_signing_completes_the_session_and_the_integration_is_booked_from_a_proposal(
    in_person, tess, order, pathway_ready, login, audit_rows
):
    start(in_person, tess, -20)
    checklist(in_person, tess, -15)
    predose(in_person, tess)
    give(in_person, tess, order, 0)
    practice = Practice.load()
    with time_machine.travel(at(practice.min_monitoring_minutes + 5), tick=False):
        vitals_record(
            actor=tess,
            visit=in_person,
            phase="in_session",
            taken_at=at(practice.min_monitoring_minutes),
            systolic=124,
            diastolic=80,
            heart_rate=72,
            spo2=98,
            practice=practice,
        )
        rating_record(
            actor=tess,
            visit=in_person,
            rated_at=at(practice.min_monitoring_minutes),
            sedation=0,
            dissociation=0,
        )
        discharge_record(
            actor=tess,
            visit=in_person,
            alert_and_oriented=True,
            steady_on_feet=True,
            escort_present=True,
            practice=practice,
        )
        runbook_sign(actor=tess, visit=in_person)
    in_person.refresh_from_db()
    assert in_person.status == Visit.Status.COMPLETED
    assert audit_rows("kapflow.visits.visit.completed")
    with time_machine.travel(at(practice.min_monitoring_minutes + 10), tick=False):
        page = login(tess).get(reverse("dosing:runbook", args=[in_person.client_id, in_person.pk]))
        proposals = page.context["integration"].proposals
        assert proposals
        response = login(tess).post(
            reverse("dosing:integration", args=[in_person.client_id, in_person.pk]),
            {"starts_at": proposals[0].isoformat()},
            HTTP_HX_REQUEST="true",
        )
    assert "Integration session booked" in response.content.decode()
    booked = Visit.objects.get(kind=Visit.Kind.INTEGRATION)
    assert booked.starts_at == proposals[0] and booked.clinician == tess
    assert audit_rows("kapflow.visits.visit.booked")


def test_the_integration_is_booked_only_after_the_session(in_person, tess):
    with pytest.raises(RunbookRefused, match="once the session is complete"):
        integration_book(actor=tess, visit=in_person, starts_at=at(600), minutes=60)


# --- Query counts ----------------------------------------------------------------------------


def _page_queries(http, visit) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert http.get(reverse("dosing:runbook", args=[visit.client_id, visit.pk])).status_code == 200
    return len(captured)


def test_the_runbook_runs_the_same_queries_for_few_and_many_entries(
    virtual, tess, order, pathway_ready, login
):
    plan(virtual, tess)
    start(virtual, tess)
    checklist(virtual, tess, -15)
    predose(virtual, tess)
    give(virtual, tess, order, 0)

    def fill(count, offset):
        for n in range(count):
            minute = offset + n
            with time_machine.travel(at(minute), tick=False):
                note_record(actor=tess, visit=virtual, written_at=at(minute), text=f"n{n}")
                rating_record(actor=tess, visit=virtual, rated_at=at(minute), sedation=1, dissociation=1)
                chaperone_checkin_record(
                    actor=tess, visit=virtual, checked_at=at(minute), chaperone_present=True, client_ok=True
                )
                vitals_record(
                    actor=tess,
                    visit=virtual,
                    phase="in_session",
                    taken_at=at(minute),
                    systolic=120,
                    diastolic=80,
                    heart_rate=70,
                    spo2=98,
                    practice=Practice.load(),
                )

    http = login(tess)
    _page_queries(http, virtual)  # the first request of a session checks its two-factor state
    fill(2, 1)
    with time_machine.travel(at(60), tick=False):
        few = _page_queries(http, virtual)
    fill(20, 3)
    with time_machine.travel(at(60), tick=False):
        many = _page_queries(http, virtual)
    assert few == many


# --- The prescriber's dashboard ------------------------------------------------------------------


def test_an_order_with_no_sessions_left_is_not_in_force_on_the_dashboard(
    in_person, tess, priya, avery, pathway_ready, login
):
    from tests.test_integration import make_clearance, make_screening

    make_clearance(avery, make_screening(avery), priya)
    spent = make_order(
        avery,
        priya,
        sessions_authorised=1,
        starts_on=DAY.date(),
        ends_on=DAY.date() + datetime.timedelta(days=400),
    )
    with time_machine.travel(at(-20), tick=True):
        first = login(priya).get("/")
    assert avery not in first.context["orders_waiting"]
    start(in_person, tess)
    checklist(in_person, tess, -15)
    predose(in_person, tess)
    give(in_person, tess, spent, 0)
    with time_machine.travel(at(30), tick=True):
        after = login(priya).get("/")
    assert avery in after.context["orders_waiting"]
    assert PhaseMark.objects.filter(phase="medicine").exists()
