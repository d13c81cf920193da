"""The day-of gates against the practice's own thresholds (docs/clinical.md defaults)."""

import datetime

import pytest

from kapflow.lib.gates import Status
from kapflow.pathway.dayof import (
    DayOfChecklist,
    SafetyPlan,
    Vitals,
    day_of_checklist_gate,
    integration_booked_gate,
    predose_vitals_gate,
    virtual_safety_plan_gate,
)
from kapflow.practice.models import Practice

NOW = datetime.datetime(2026, 11, 22, 10, 0, tzinfo=datetime.UTC)
PLAN = SafetyPlan(
    address="12 Elm St",
    chaperone_name="Sam",
    chaperone_phone="555 0100",
    chaperone_is_adult=True,
    chaperone_present=True,
    emergency_contact="Sam",
    nearest_emergency_department="Valley General",
    has_bp_cuff=True,
)
READY = DayOfChecklist(
    transport_without_driving=True,
    last_food_at=NOW - datetime.timedelta(hours=3),
    last_liquid_at=NOW - datetime.timedelta(hours=1),
    pregnancy_possible=False,
)


@pytest.fixture
def practice():
    return Practice()  # the defaults, unsaved: the gates only read numbers


def vitals(systolic, diastolic, heart_rate=72, minutes_ago=10):
    return Vitals(NOW - datetime.timedelta(minutes=minutes_ago), systolic, diastolic, heart_rate)


class TestSafetyPlan:
    def test_an_in_person_session_needs_none(self):
        assert virtual_safety_plan_gate(None, virtual=False).passed

    def test_a_virtual_session_needs_every_part(self):
        assert virtual_safety_plan_gate(PLAN, virtual=True).passed
        result = virtual_safety_plan_gate(SafetyPlan(address="12 Elm St", chaperone_name="Kid"), virtual=True)
        assert result.status is Status.FAIL
        assert result.reason == (
            "Missing: an adult chaperone; the chaperone physically present; the chaperone's "
            "phone; an emergency contact; the nearest emergency department; a blood-pressure "
            "cuff."
        )


class TestDayOfChecklist:
    def check(self, **changes):
        return day_of_checklist_gate(
            DayOfChecklist(**{**READY.__dict__, **changes}),
            now=NOW,
            fasting_food_hours=2,
            fasting_liquid_minutes=30,
        )

    def test_it_passes_when_everything_holds(self):
        assert self.check().passed

    @pytest.mark.parametrize(
        "changes, words",
        [
            ({"transport_without_driving": False}, "no ride home arranged"),
            ({"last_food_at": NOW - datetime.timedelta(minutes=90)}, "ate within the last 2 h"),
            ({"last_liquid_at": NOW - datetime.timedelta(minutes=20)}, "drank within the last 30 min"),
            ({"substances_in_last_24h": ("alcohol",)}, "took alcohol in the last 24 h"),
            ({"pregnancy_possible": None}, "pregnancy status not asked"),
            ({"open_suicidality_alert": True}, "an open suicidality alert has not been reviewed"),
        ],
    )
    def test_each_rule_blocks_and_says_why(self, changes, words):
        result = self.check(**changes)
        assert result.status is Status.FAIL and words in result.reason

    def test_new_medications_go_to_the_prescriber(self):
        result = self.check(new_medications_since_clearance=("bupropion",))
        assert (result.status, result.resolver) == (
            Status.FAIL,
            "prescriber",
        ) and "bupropion" in result.reason
        assert self.check(
            new_medications_since_clearance=("bupropion",), new_medications_reviewed_by_prescriber=True
        ).passed


class TestPredoseVitals:
    @pytest.mark.parametrize(
        "reading, status",
        [
            ((140, 90), Status.PASS),  # at the caution level is not above it
            ((141, 80), Status.ACKNOWLEDGE),
            ((130, 91), Status.ACKNOWLEDGE),
            ((159, 99), Status.ACKNOWLEDGE),
            ((160, 80), Status.FAIL),  # at the hold level: blocked
            ((130, 100), Status.FAIL),
        ],
    )
    def test_blood_pressure_against_the_caution_and_hold_levels(self, practice, reading, status):
        assert predose_vitals_gate(vitals(*reading), now=NOW, practice=practice).status is status

    @pytest.mark.parametrize("rate, passed", [(50, True), (49, False), (110, True), (111, False)])
    def test_heart_rate_limits(self, practice, rate, passed):
        assert predose_vitals_gate(vitals(120, 80, rate), now=NOW, practice=practice).passed is passed

    def test_vitals_older_than_the_window_must_be_retaken(self, practice):
        result = predose_vitals_gate(vitals(120, 80, minutes_ago=31), now=NOW, practice=practice)
        assert result.reason == "The last vitals are more than 30 min old: take them again."

    def test_the_prescriber_acknowledges_a_caution_reading(self, practice):
        result = predose_vitals_gate(vitals(150, 85), now=NOW, practice=practice, caution_acknowledged=True)
        assert result.passed and "acknowledged by the prescriber" in result.reason

    def test_the_thresholds_are_the_practice_settings(self, practice):
        practice.bp_hold_systolic = 150
        assert predose_vitals_gate(vitals(150, 80), now=NOW, practice=practice).status is Status.FAIL


class TestIntegrationBooked:
    def test_it_passes_within_the_window(self):
        result = integration_booked_gate(
            NOW + datetime.timedelta(hours=70), session_at=NOW, expected_hours=72
        )
        assert result.passed

    def test_it_is_soft_without_a_booking(self):
        result = integration_booked_gate(None, session_at=NOW, expected_hours=72)
        assert result.status is Status.ACKNOWLEDGE
        assert result.reason == "Integration not booked: one is expected within 72 h after the session."
        assert integration_booked_gate(None, session_at=NOW, expected_hours=72, acknowledged=True).passed

    def test_a_booking_after_the_window_is_too_late(self):
        late = integration_booked_gate(NOW + datetime.timedelta(hours=80), session_at=NOW, expected_hours=72)
        assert late.status is Status.ACKNOWLEDGE and "too late" in late.reason
