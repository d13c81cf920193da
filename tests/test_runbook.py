"""The medication-session runbook (kapflow.dosing): records saved as they are entered, alerts on
each reading, doses checked against the order, the clock, discharge, sign and lock."""

import datetime
import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from kapflow.dosing import rules
from kapflow.dosing.models import Addendum, Administration, Note, Runbook, VitalsReading
from kapflow.dosing.services.administration import dose_record
from kapflow.dosing.services.checkin import checklist_record, safety_plan_record
from kapflow.dosing.services.discharge import discharge_record
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.services.session import note_record, rating_record
from kapflow.dosing.services.signing import addendum_add, runbook_sign
from kapflow.dosing.services.vitals import caution_acknowledge, vitals_record
from kapflow.medical.models import MedicationOrder
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories

# The pathway's gates have their own tests; here they pass, and the day of is what is tested.
pytestmark = pytest.mark.usefixtures("pathway_ready")

DAY = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


def at(minutes: float) -> datetime.datetime:
    """DAY plus `minutes`."""
    return DAY + datetime.timedelta(minutes=minutes)


@pytest.fixture
def practice(db):
    return Practice.load()


def checked_in(visit, who, minutes=-40, **changes):
    """A passing day-of checklist (and, for a virtual visit, safety plan) recorded at `minutes`."""
    values = {
        "transport_without_driving": True,
        "transport_detail": "Partner drives",
        "last_food_at": at(-300),
        "last_liquid_at": at(-120),
        "substances": [],
        "pregnancy": "not_applicable",
        "practice": Practice.load(),
    }
    values.update(changes)
    with time_machine.travel(at(minutes), tick=False):
        if visit.is_virtual:
            safety_plan_record(
                actor=who,
                visit=visit,
                address="12 Elm St, Springfield",
                chaperone_name="Sam Rivera",
                chaperone_phone="555-0100",
                chaperone_is_adult=True,
                chaperone_present=True,
                emergency_contact="Jo Rivera 555-0101",
                nearest_emergency_department="Springfield General",
                has_bp_cuff=True,
            )
        checklist = checklist_record(actor=who, visit=visit, **values)
        factories.acknowledge_integration(visit, who)
        return checklist


@pytest.fixture
def visit(avery, tess, cora):
    """A virtual medication session in progress, its day-of checklist and safety plan passing."""
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=DAY - datetime.timedelta(minutes=30),
        ends_at=DAY + datetime.timedelta(minutes=150),
        clinician=tess,
        created_by=cora,
        status=Visit.Status.IN_PROGRESS,
    )
    checked_in(visit, tess)
    return visit


def make_order(client, prescriber, **fields) -> MedicationOrder:
    values = {
        "drug": "ketamine",
        "route": "sublingual",
        "unit": "mg",
        "dose_min": Decimal(200),
        "dose_max": Decimal(300),
        "boosters_allowed": 1,
        "booster_max_mg": Decimal(100),
        "sessions_authorised": 6,
        "starts_on": DAY.date() - datetime.timedelta(days=10),
        "ends_on": DAY.date() + datetime.timedelta(days=80),
    }
    values.update(fields)
    return MedicationOrder.objects.create(client=client, prescriber=prescriber, **values)


@pytest.fixture
def order(avery, priya):
    return make_order(avery, priya)


def vitals(visit, who, minutes, bp=(120, 80), hr=72, spo2=None, phase="in_session", practice=None):
    with time_machine.travel(at(minutes), tick=False):
        return vitals_record(
            actor=who,
            visit=visit,
            phase=phase,
            taken_at=at(minutes),
            systolic=bp[0],
            diastolic=bp[1],
            heart_rate=hr,
            spo2=spo2,
            practice=practice or Practice.load(),
        )


def dose(visit, who, order, minutes, mg=250, route="sublingual"):
    with time_machine.travel(at(minutes), tick=False):
        return dose_record(
            actor=who,
            visit=visit,
            order=order,
            given_at=at(minutes),
            route=route,
            dose_mg=Decimal(mg),
            lot_number="LOT-1",
            given_by=who,
            practice=Practice.load(),
        )


def rate(visit, who, minutes, sedation=0, dissociation=0):
    with time_machine.travel(at(minutes), tick=False):
        return rating_record(
            actor=who, visit=visit, rated_at=at(minutes), sedation=sedation, dissociation=dissociation
        )


def discharge(visit, who, minutes, *, ok=True, override=""):
    with time_machine.travel(at(minutes), tick=False):
        return discharge_record(
            actor=who,
            visit=visit,
            alert_and_oriented=ok,
            steady_on_feet=ok,
            escort_present=ok,
            override_reason=override,
            practice=Practice.load(),
        )


@pytest.fixture
def dosed(visit, tess, order):
    """Pre-dose vitals 120/80 at -10 min, the dose at 0."""
    vitals(visit, tess, -10, phase="pre_dose")
    dose(visit, tess, order, 0)
    return visit


# --- Alerts --------------------------------------------------------------------------------------


HIGH, NORMAL = (150, 90), (120, 80)


@pytest.mark.parametrize(
    ("baseline", "bp", "spo2", "expected"),
    [
        (HIGH, (179, 109), None, []),
        (HIGH, (180, 95), None, ["at or above the alert level (180/110)"]),
        (HIGH, (160, 110), None, ["at or above the alert level (180/110)"]),
        (NORMAL, (159, 104), None, []),  # rises of 39 and 24
        (NORMAL, (160, 90), None, ["Systolic rose 40 mmHg from the pre-dose 120"]),
        (NORMAL, (140, 105), None, ["Diastolic rose 25 mmHg from the pre-dose 80"]),
        (NORMAL, (120, 80), 92, []),
        (NORMAL, (120, 80), 91, ["SpO2 91% is below 92%"]),
    ],
)
def test_it_alerts_at_every_in_session_threshold(practice, baseline, bp, spo2, expected):
    alerts = rules.reading_alerts(
        rules.Reading(at(40), *bp, 72, spo2),
        baseline=rules.Reading(at(-10), *baseline, 72),
        practice=practice,
    )
    assert len(alerts) == len(expected)
    for alert, words in zip(alerts, expected, strict=True):
        assert words in alert


@pytest.mark.parametrize(
    ("hr", "expected"),
    [(110, []), (111, ["Heart rate 111 is above 110"]), (50, []), (49, ["Heart rate 49 is below 50"])],
)
def test_it_alerts_on_heart_rate_out_of_the_practice_range(practice, hr, expected):
    alerts = rules.reading_alerts(
        rules.Reading(at(40), 120, 80, hr), baseline=rules.Reading(at(-10), 120, 80, 72), practice=practice
    )
    assert len(alerts) == len(expected) and all(w in a for a, w in zip(alerts, expected, strict=True))


def test_the_alerts_are_kept_with_the_reading(dosed, tess):
    reading = vitals(dosed, tess, 40, bp=(165, 95), spo2=90)
    assert len(VitalsReading.objects.get(pk=reading.pk).alerts) == 2  # a systolic rise of 45, SpO2 90


def test_the_alert_is_shown_prominently_on_the_runbook(dosed, tess, login):
    vitals(dosed, tess, 40, bp=(185, 100))
    page = login(tess).get(reverse("dosing:runbook", args=[dosed.client_id, dosed.pk]))
    html = page.content.decode()
    assert 'role="alert"' in html and "at or above the alert level (180/110)" in html


def test_the_thresholds_come_from_the_practice(dosed, tess, practice):
    practice.alert_systolic = 170
    practice.save()
    assert vitals(dosed, tess, 40, bp=(170, 90), practice=practice).alerts


# --- Doses -------------------------------------------------------------------------------------


def test_it_records_a_dose_within_the_order(dosed, order, audit_rows):
    given = Administration.objects.get()
    assert (given.order, given.dose_mg, given.is_booster) == (order, Decimal(250), False)
    assert len(audit_rows("kapflow.dosing.dose.recorded")) == 1
    order.refresh_from_db()
    assert order.administrations_count() == 1 and order.sessions_remaining() == 5


@pytest.mark.parametrize(("mg", "route"), [(350, "sublingual"), (150, "sublingual"), (56, "intranasal")])
def test_it_refuses_a_dose_outside_the_orders_range_or_route(visit, tess, order, mg, route):
    vitals(visit, tess, -10, phase="pre_dose")
    with pytest.raises(RunbookRefused):
        dose(visit, tess, order, 0, mg=mg, route=route)
    assert not Administration.objects.exists()


def test_it_refuses_a_dose_without_pre_dose_vitals(visit, tess, order):
    with pytest.raises(RunbookRefused, match="No pre-dose blood pressure"):
        dose(visit, tess, order, 0)


def test_a_caution_reading_needs_a_prescribers_acknowledgement(visit, tess, priya, order):
    vitals(visit, tess, -10, bp=(150, 85), phase="pre_dose")
    with pytest.raises(RunbookRefused, match="caution level"):
        dose(visit, tess, order, 0)
    with time_machine.travel(at(-5), tick=False), pytest.raises(RunbookRefused):
        caution_acknowledge(actor=tess, visit=visit, practice=Practice.load())
    with time_machine.travel(at(-5), tick=False):
        caution_acknowledge(actor=priya, visit=visit, practice=Practice.load())
    assert dose(visit, tess, order, 0).pk


def test_a_hold_reading_blocks_the_dose(visit, tess, order):
    vitals(visit, tess, -10, bp=(165, 85), phase="pre_dose")
    with pytest.raises(RunbookRefused, match="hold level"):
        dose(visit, tess, order, 0)


def test_boosters_are_held_to_the_orders_count_and_highest_dose(dosed, tess, order):
    with pytest.raises(RunbookRefused, match="highest booster"):
        dose(dosed, tess, order, 20, mg=150)
    booster = dose(dosed, tess, order, 20, mg=100)
    assert booster.is_booster
    with pytest.raises(RunbookRefused, match="allows 1 booster"):
        dose(dosed, tess, order, 30, mg=50)
    order.refresh_from_db()
    assert order.administrations_count() == 1  # boosters do not count as sessions


def test_a_booster_is_allowed_on_an_orders_last_session(visit, tess, avery, priya):
    last = make_order(avery, priya, sessions_authorised=1)
    vitals(visit, tess, -10, phase="pre_dose")
    dose(visit, tess, last, 0)
    assert dose(visit, tess, last, 20, mg=50).is_booster


def test_a_dose_is_refused_when_the_order_has_no_sessions_left(visit, tess, avery, priya, cora):
    last = make_order(avery, priya, sessions_authorised=1)
    vitals(visit, tess, -10, phase="pre_dose")
    dose(visit, tess, last, 0)
    other = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=at(200),
        ends_at=at(300),
        clinician=tess,
        created_by=cora,
        status=Visit.Status.IN_PROGRESS,
    )
    checked_in(other, tess, 205)
    vitals(other, tess, 210, phase="pre_dose")
    with pytest.raises(RunbookRefused, match="no sessions left"):
        dose(other, tess, last, 215)


# --- The clock ---------------------------------------------------------------------------------


def test_the_clock_counts_from_the_first_dose_and_says_when_vitals_are_due(practice):
    with time_machine.travel(at(25), tick=False):
        clock = rules.session_clock(
            first_dose_at=at(0), vitals_since_dose=[], now=timezone.now(), practice=practice
        )
    assert (clock.minutes_since_first_dose, clock.vitals_due_at, clock.overdue) == (25, at(40), False)
    with time_machine.travel(at(41), tick=False):
        clock = rules.session_clock(
            first_dose_at=at(0), vitals_since_dose=[], now=timezone.now(), practice=practice
        )
    assert clock.overdue and clock.overdue_minutes == 1
    with time_machine.travel(at(60), tick=False):
        clock = rules.session_clock(
            first_dose_at=at(0), vitals_since_dose=[at(-10), at(42)], now=timezone.now(), practice=practice
        )
    assert (clock.vitals_due_at, clock.overdue, clock.minutes_until_due) == (at(72), False, 12)
    # A booster brings its own peak: with vitals every 60 min, a booster at 50 has them due 40
    # min after it (90), before the interval's 102; once taken after the booster, the interval
    # rules again.
    practice.vitals_interval_minutes = 60
    with time_machine.travel(at(60), tick=False):
        clock = rules.session_clock(
            first_dose_at=at(0),
            last_dose_at=at(50),
            vitals_since_dose=[at(42)],
            now=timezone.now(),
            practice=practice,
        )
    assert clock.vitals_due_at == at(90)
    with time_machine.travel(at(60), tick=False):
        clock = rules.session_clock(
            first_dose_at=at(0),
            last_dose_at=at(50),
            vitals_since_dose=[at(42), at(55)],
            now=timezone.now(),
            practice=practice,
        )
    assert clock.vitals_due_at == at(115)


def test_the_runbook_shows_the_clock(dosed, tess, login):
    with time_machine.travel(at(45), tick=False):
        page = login(tess).get(reverse("dosing:runbook", args=[dosed.client_id, dosed.pk]))
    html = page.content.decode()
    assert "45 min" in html and "overdue by 5 min" in html


# --- Discharge ---------------------------------------------------------------------------------


def test_discharge_waits_for_the_minimum_monitoring_after_the_last_dose(dosed, tess, order):
    dose(dosed, tess, order, 30, mg=80)  # the booster restarts the wait
    vitals(dosed, tess, 140)
    rate(dosed, tess, 140)
    with pytest.raises(RunbookRefused, match="Monitored 119 min since the last dose"):
        discharge(dosed, tess, 149)
    runbook = discharge(dosed, tess, 150)
    assert runbook.discharged_at == at(150) and runbook.override_reason == ""


def test_discharge_needs_every_criterion(dosed, tess):
    vitals(dosed, tess, 110, bp=(185, 100))
    with pytest.raises(RunbookRefused) as refused:
        discharge(dosed, tess, 120, ok=False)
    problems = " ".join(refused.value.problems)
    assert "not under the alert thresholds" in problems
    assert "alert and oriented" in problems and "steady on feet" in problems and "escort" in problems


def test_discharge_needs_vitals_taken_just_before_it(dosed, tess):
    vitals(dosed, tess, 45)
    rate(dosed, tess, 110)
    with pytest.raises(RunbookRefused, match="taken at 03:45: take them again before discharge"):
        discharge(dosed, tess, 125)
    vitals(dosed, tess, 124)
    assert discharge(dosed, tess, 125).discharged_at == at(125)


def test_discharge_needs_sedation_and_dissociation_rated_since_the_last_dose(dosed, tess, order):
    rate(dosed, tess, 20)
    dose(dosed, tess, order, 30, mg=80)
    vitals(dosed, tess, 145)
    with pytest.raises(RunbookRefused, match="not rated since the last dose"):
        discharge(dosed, tess, 150)
    rate(dosed, tess, 148, sedation=1)
    with pytest.raises(RunbookRefused, match="Sedation not resolved"):
        discharge(dosed, tess, 150)
    rate(dosed, tess, 149)
    assert discharge(dosed, tess, 150).discharged_at == at(150)


def test_nothing_is_given_or_measured_after_the_discharge(dosed, tess, order):
    vitals(dosed, tess, 115)
    rate(dosed, tess, 115)
    discharge(dosed, tess, 120)
    for entry in (
        lambda: dose(dosed, tess, order, 125, mg=50),
        lambda: vitals(dosed, tess, 125),
        lambda: rate(dosed, tess, 125),
    ):
        with pytest.raises(RunbookRefused, match="discharged at"):
            entry()
    assert Administration.objects.filter(runbook__visit=dosed).count() == 1
    # A note is still welcome until the record is signed.
    with time_machine.travel(at(126), tick=False):
        note_record(actor=tess, visit=dosed, written_at=at(126), text="Left with her partner.")


def test_a_medication_session_is_completed_only_by_signing_its_record(dosed, tess, login):
    from kapflow.visits import services as visit_services

    with pytest.raises(visit_services.VisitRefused, match="completed by discharging the client and signing"):
        visit_services.visit_transition(request=None, visit=dosed, to=Visit.Status.COMPLETED)
    response = login(tess).post(reverse("visits:complete", args=[dosed.client_id, dosed.pk]), follow=True)
    assert "completed by discharging the client and signing" in response.content.decode()
    dosed.refresh_from_db()
    assert dosed.status == Visit.Status.IN_PROGRESS


def test_the_pathway_gates_are_checked_again_at_the_first_dose(visit, tess, order, monkeypatch):
    """Ready at the start; the clearance revoked before the dose: the dose is refused."""
    from kapflow.lib.gates import GateResult, Status
    from kapflow.pathway.readiness import Gate

    def revoked(client, **kwargs):
        return [
            Gate(
                GateResult("clearance", "Medical clearance", Status.FAIL, "Clearance revoked.", "prescriber")
            )
        ]

    vitals(visit, tess, -10, phase="pre_dose")
    monkeypatch.setattr("kapflow.pathway.readiness.readiness", revoked)
    with pytest.raises(RunbookRefused, match="Medical clearance: Clearance revoked"):
        dose(visit, tess, order, 0)
    assert not Administration.objects.exists()


def test_only_a_prescriber_overrides_the_discharge_criteria_in_writing(dosed, tess, priya, audit_rows):
    vitals(dosed, tess, 60)
    with pytest.raises(RunbookRefused, match="Only a prescriber"):
        discharge(dosed, tess, 90, override="Leaving with family, against advice.")
    runbook = discharge(dosed, priya, 90, override="Leaving with family, against advice.")
    assert runbook.override_unmet and "Monitored 90 min" in runbook.override_unmet[0]
    assert len(audit_rows("kapflow.dosing.discharge.overridden")) == 1


def test_the_discharge_rule_is_pure(practice):
    state = rules.DischargeState(
        last_dose_at=at(0),
        latest_vitals=rules.Reading(at(100), 130, 85, 80),
        baseline=rules.Reading(at(-10), 120, 80, 72),
        latest_sedation=0,
        latest_dissociation=1,
        latest_rating_at=at(100),
        alert_and_oriented=True,
        steady_on_feet=True,
        escort_present=True,
    )
    assert rules.discharge_unmet(state, now=at(120), practice=practice) == [
        "Dissociation not resolved (1 of 4 on the latest rating)."
    ]


# --- Sign, lock, addenda -----------------------------------------------------------------------


@pytest.fixture
def signed(dosed, tess):
    vitals(dosed, tess, 100)
    rate(dosed, tess, 100)
    discharge(dosed, tess, 120)
    with time_machine.travel(at(125), tick=False):
        runbook_sign(actor=tess, visit=dosed)
    return dosed


def test_signing_locks_the_record(signed, tess, order, audit_rows):
    assert Runbook.objects.get(visit=signed).is_locked
    with pytest.raises(RunbookRefused, match="signed and locked"):
        vitals(signed, tess, 130)
    with pytest.raises(RunbookRefused, match="signed and locked"):
        dose(signed, tess, order, 130, mg=50)
    with time_machine.travel(at(130), tick=False), pytest.raises(RunbookRefused, match="locked"):
        note_record(actor=tess, visit=signed, written_at=at(130), text="Late note")
    assert not Note.objects.exists()
    assert len(audit_rows("kapflow.dosing.runbook.signed")) == 1


def test_it_signs_only_after_discharge(dosed, tess):
    with pytest.raises(RunbookRefused, match="discharge"):
        runbook_sign(actor=tess, visit=dosed)


def test_corrections_are_addenda_shown_under_the_record(signed, priya, login, audit_rows):
    with pytest.raises(RunbookRefused):
        addendum_add(actor=priya, visit=signed, text="  ")
    response = login(priya).post(
        reverse("dosing:addendum", args=[signed.client_id, signed.pk]), {"text": "The lot was LOT-2."}
    )
    assert response.status_code == 302
    addendum = Addendum.objects.get()
    assert (addendum.author, addendum.text) == (priya, "The lot was LOT-2.")
    assert len(audit_rows("kapflow.dosing.addendum.added")) == 1
    page = login(priya).get(reverse("dosing:runbook", args=[signed.client_id, signed.pk]))
    assert "The lot was LOT-2." in page.content.decode()


def test_an_addendum_needs_a_signed_record(dosed, tess):
    with pytest.raises(RunbookRefused, match="add a note"):
        addendum_add(actor=tess, visit=dosed, text="Too early")


# --- Views and audit ---------------------------------------------------------------------------


def test_the_forms_save_each_entry_with_its_audit_row(visit, tess, order, login, audit_rows):
    http = login(tess)
    args = [visit.client_id, visit.pk]
    with time_machine.travel(at(-10), tick=False):
        http.post(
            reverse("dosing:vitals", args=args),
            {"pre-phase": "pre_dose", "pre-systolic": 122, "pre-diastolic": 78, "pre-heart_rate": 70},
        )
    with time_machine.travel(at(0), tick=False):
        http.post(
            reverse("dosing:dose", args=args),
            {
                "order": order.pk,
                "route": "sublingual",
                "dose_mg": "250",
                "lot_number": "A1",
                "given_by": tess.pk,
            },
        )
    with time_machine.travel(at(40), tick=False):
        http = login(tess)  # a fresh sign-in: the idle timeout would have signed Tess out
        http.post(
            reverse("dosing:vitals", args=args),
            {"phase": "in_session", "systolic": 170, "diastolic": 90, "heart_rate": 80, "spo2": 97},
        )
        http.post(reverse("dosing:rating", args=args), {"sedation": 1, "dissociation": 2})
        http.post(
            reverse("dosing:adverse_event", args=args),
            {"kind": "nausea", "severity": "mild", "action_taken": "Ondansetron per protocol."},
        )
        http.post(reverse("dosing:note", args=args), {"text": "Resting comfortably."})
        page = http.get(reverse("dosing:runbook", args=args))
    runbook = Runbook.objects.get(visit=visit)
    assert runbook.vitals.count() == 2 and runbook.administrations.count() == 1
    assert runbook.vitals.last().alerts  # a rise of 48 systolic
    assert (runbook.ratings.count(), runbook.adverse_events.count(), runbook.notes.count()) == (1, 1, 1)
    for action in (
        "vitals.recorded",
        "dose.recorded",
        "rating.recorded",
        "adverse_event.recorded",
        "note.recorded",
    ):
        rows = audit_rows(f"kapflow.dosing.{action}")
        assert rows and rows[0].client == visit.client and rows[0].actor == tess
    html = page.content.decode()
    assert "Nausea or vomiting" in html and "Resting comfortably." in html


def test_a_refused_dose_leaves_an_audit_row(visit, tess, order, login, audit_rows):
    with time_machine.travel(at(0), tick=False):
        login(tess).post(
            reverse("dosing:dose", args=[visit.client_id, visit.pk]),
            {
                "order": order.pk,
                "route": "sublingual",
                "dose_mg": "250",
                "lot_number": "A1",
                "given_by": tess.pk,
            },
        )
    assert not Administration.objects.exists()
    assert len(audit_rows("kapflow.dosing.dose.refused")) == 1


def test_the_visit_page_links_to_the_runbook(visit, tess, login):
    page = login(tess).get(reverse("visits:detail", args=[visit.client_id, visit.pk]))
    assert reverse("dosing:runbook", args=[visit.client_id, visit.pk]) in page.content.decode()


@pytest.mark.parametrize("who", ["colin", "cora"])
def test_it_is_hidden_from_anyone_outside_the_clients_clinicians(visit, who, login, request, audit_rows):
    user = request.getfixturevalue(who)
    http = login(user)
    args = [visit.client_id, visit.pk]
    assert http.get(reverse("dosing:runbook", args=args)).status_code == 404
    assert http.post(reverse("dosing:note", args=args), {"text": "x"}).status_code == 404
    assert not Note.objects.exists()


def test_it_answers_404_for_a_visit_that_is_not_a_medication_session(visit, tess, login):
    visit.kind = Visit.Kind.INTEGRATION
    visit.save()
    assert login(tess).get(reverse("dosing:runbook", args=[visit.client_id, visit.pk])).status_code == 404


def test_the_writes_are_post_only(visit, tess, login):
    assert login(tess).get(reverse("dosing:note", args=[visit.client_id, visit.pk])).status_code == 405


def test_a_form_with_errors_keeps_what_was_typed(visit, tess, login, audit_rows):
    response = login(tess).post(
        reverse("dosing:vitals", args=[visit.client_id, visit.pk]),
        {"pre-phase": "pre_dose", "pre-systolic": "", "pre-diastolic": "88", "pre-heart_rate": "76"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and not VitalsReading.objects.exists()
    assert 'value="88"' in html and 'value="76"' in html
    assert "This field is required." in html


def test_a_refused_dose_keeps_what_was_typed_and_says_why(dosed, tess, order, login):
    with time_machine.travel(at(30), tick=False):  # the form offers the orders in force that day
        response = login(tess).post(
            reverse("dosing:dose", args=[dosed.client_id, dosed.pk]),
            {
                "order": order.pk,
                "route": "sublingual",
                "dose_mg": "350",
                "lot_number": "LOT-77",
                "given_by": tess.pk,
            },
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="350"' in html and 'value="LOT-77"' in html
    assert 'class="notice notice--error"' in html and "— prescriber." in html
    assert Administration.objects.count() == 1  # only the dose given before


def test_a_time_typed_past_midnight_is_last_night_and_one_typed_ahead_of_the_clock_is_refused(
    dosed, tess, order
):
    from kapflow.dosing.forms import NoteForm

    # DAY is 03:00 in the practice's time zone (10:00 UTC): 23:50 is last night, in a session
    # that began before midnight; 03:20 is twenty minutes ahead of the clock.
    Visit.objects.filter(pk=dosed.pk).update(starts_at=at(-200))
    dosed.refresh_from_db()
    with time_machine.travel(at(5), tick=False):
        form = NoteForm({"at": "23:50", "text": "Late entry"})
        assert form.is_valid()
        assert form.moment() == at(-190)
        note_record(actor=tess, visit=dosed, written_at=form.moment(), text="Late entry")
        ahead = NoteForm({"at": "03:20", "text": "Ahead"})
        assert ahead.is_valid()
        with pytest.raises(RunbookRefused, match="long before this session"):
            note_record(actor=tess, visit=dosed, written_at=ahead.moment(), text="Ahead")


def test_the_same_dose_form_sent_twice_records_one_dose_not_a_booster(visit, tess, order, login):
    """The connection dropped after the save and the clinician pressed the button again."""
    vitals(visit, tess, -10, phase="pre_dose")
    form = {
        "order": order.pk,
        "route": "sublingual",
        "dose_mg": "250",
        "lot_number": "LOT-1",
        "given_by": tess.pk,
        "entry_key": "6f1c2a0e-8d1b-4a53-9a43-0c7c1a7b9e10",
    }
    url = reverse("dosing:dose", args=[visit.client_id, visit.pk])
    http = login(tess)
    with time_machine.travel(at(0), tick=False):
        http.post(url, form)
        again = http.post(url, form, follow=True)
    assert "Dose recorded." in again.content.decode()
    assert Administration.objects.filter(runbook__visit=visit).count() == 1
    # A new form has a new key: a booster is a booster.
    with time_machine.travel(at(20), tick=False):
        http.post(url, {**form, "dose_mg": "80", "entry_key": "0b7d5a52-5e3f-4d3b-8c55-93c6a2d1f0aa"})
    assert Administration.objects.filter(runbook__visit=visit, is_booster=True).count() == 1


SENT_ONCE = {
    "vitals": ({"phase": "in_session", "systolic": "130", "diastolic": "84", "heart_rate": "80"}, "vitals"),
    "rating": ({"sedation": "1", "dissociation": "2"}, "ratings"),
    "adverse_event": (
        {"kind": "nausea", "severity": "mild", "action_taken": "Sips of water; settled."},
        "adverse_events",
    ),
    "note": ({"text": "Tearful, then quiet."}, "notes"),
    "chaperone": ({"chaperone_present": "on", "client_ok": "on"}, "chaperone_checkins"),
}


@pytest.mark.parametrize("entry", SENT_ONCE, ids=str)
def test_every_timed_entry_sent_twice_is_saved_once(entry, dosed, tess, login):
    """A reading, rating, event, note or check-in sent again (the connection dropped after the
    save; a double click) was saved twice, as doses once were."""
    data, related = SENT_ONCE[entry]
    form = {**data, "entry_key": "9d3e2c41-7a5b-4c6d-8e9f-0a1b2c3d4e5f"}
    url = reverse(f"dosing:{entry}", args=[dosed.client_id, dosed.pk])
    http = login(tess)
    runbook = dosed.runbook
    before = getattr(runbook, related).count()
    with time_machine.travel(at(45), tick=False):
        first = http.post(url, form)
        again = http.post(url, form, follow=True)
    assert first.status_code == 302 and again.status_code == 200
    assert getattr(runbook, related).count() == before + 1
    # A blank form brings a key of its own, so the next entry is an entry.
    with time_machine.travel(at(50), tick=False):
        http.post(url, {**data, "entry_key": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"})
    assert getattr(runbook, related).count() == before + 2
    with time_machine.travel(at(55), tick=False):
        page = http.get(reverse("dosing:runbook", args=[dosed.client_id, dosed.pk])).content.decode()
    keys = re.findall(r'name="(?:pre-)?entry_key" value="([0-9a-f-]{36})"', page)
    assert len(keys) == len(set(keys)) >= 5 and form["entry_key"] not in keys


def test_the_first_dose_waits_for_an_integration_booked_or_acknowledged_in_writing(visit, tess, order):
    from kapflow.dosing.models import IntegrationAcknowledgement

    IntegrationAcknowledgement.objects.filter(runbook__visit=visit).delete()  # as if never given
    vitals(visit, tess, -10, phase="pre_dose")
    with pytest.raises(RunbookRefused, match="Integration booked: Integration not booked"):
        dose(visit, tess, order, 0)
    with time_machine.travel(at(-5), tick=False):
        factories.acknowledge_integration(visit, tess)
    assert dose(visit, tess, order, 0).is_booster is False
