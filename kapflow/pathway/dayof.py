"""The gates checked on the day of a medication session (docs/clinical.md's readiness table, last four
rows), as pure functions over what the runbook records: no database, no clock of their own.
The runbook (issue 4) reads its records, builds these values and calls these functions; the
thresholds all come from the practice's settings (kapflow.practice.models.Practice)."""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from kapflow.lib.gates import GateResult, Status


def _local(moment: datetime.datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%a %b} {local.day}, {local:%H:%M}"


@dataclass(frozen=True)
class SafetyPlan:
    """For a virtual session: where the client is and who is with them."""

    address: str = ""
    chaperone_name: str = ""
    chaperone_phone: str = ""
    chaperone_is_adult: bool = False
    chaperone_present: bool = False
    emergency_contact: str = ""
    nearest_emergency_department: str = ""
    has_bp_cuff: bool = False


def virtual_safety_plan_gate(plan: SafetyPlan | None, *, virtual: bool) -> GateResult:
    """(Virtual sessions only.) The address for the session, an adult chaperone present with a
    phone, an emergency contact, the nearest emergency department and a BP cuff."""
    key, label = "safety_plan", "Virtual safety plan"
    if not virtual:
        return GateResult(
            key, label, Status.PASS, "An in-person session: no virtual safety plan needed.", "therapist"
        )
    if plan is None:
        return GateResult(
            key, label, Status.FAIL, "No safety plan for this virtual session yet.", "therapist"
        )
    missing = [
        what
        for what, present in (
            ("the address for the session", plan.address.strip()),
            ("an adult chaperone", plan.chaperone_name.strip() and plan.chaperone_is_adult),
            ("the chaperone physically present", plan.chaperone_present),
            ("the chaperone's phone", plan.chaperone_phone.strip()),
            ("an emergency contact", plan.emergency_contact.strip()),
            ("the nearest emergency department", plan.nearest_emergency_department.strip()),
            ("a blood-pressure cuff", plan.has_bp_cuff),
        )
        if not present
    ]
    if missing:
        return GateResult(key, label, Status.FAIL, f"Missing: {'; '.join(missing)}.", "therapist")
    return GateResult(
        key,
        label,
        Status.PASS,
        f"{plan.chaperone_name} (adult) is with the client; emergency department: "
        f"{plan.nearest_emergency_department}.",
        "therapist",
    )


@dataclass(frozen=True)
class DayOfChecklist:
    transport_without_driving: bool = False
    last_food_at: datetime.datetime | None = None
    last_liquid_at: datetime.datetime | None = None
    substances_in_last_24h: tuple[str, ...] = ()
    pregnancy_possible: bool | None = None  # None: not asked yet
    new_medications_since_clearance: tuple[str, ...] = ()
    new_medications_reviewed_by_prescriber: bool = False
    open_suicidality_alert: bool = False
    suicidality_alert_reviewed: bool = False


def day_of_checklist_gate(
    checklist: DayOfChecklist | None,
    *,
    now: datetime.datetime,
    fasting_food_hours: int,
    fasting_liquid_minutes: int,
) -> GateResult:
    """Transport home without driving, fasting per the practice's rule, none of the listed
    substances in the prior 24 h, pregnancy status asked, new medications reviewed by the
    prescriber, and any open suicidality alert reviewed."""
    key, label = "day_of", "Day-of checklist"
    if checklist is None:
        return GateResult(key, label, Status.FAIL, "The day-of checklist is not done yet.", "therapist")
    blocks, prescriber = [], False
    if not checklist.transport_without_driving:
        blocks.append("no ride home arranged (no driving until the next day)")
    if checklist.last_food_at is None or now - checklist.last_food_at < datetime.timedelta(
        hours=fasting_food_hours
    ):
        blocks.append(f"ate within the last {fasting_food_hours} h")
    if checklist.last_liquid_at is None or now - checklist.last_liquid_at < datetime.timedelta(
        minutes=fasting_liquid_minutes
    ):
        blocks.append(f"drank within the last {fasting_liquid_minutes} min")
    if checklist.substances_in_last_24h:
        blocks.append(f"took {', '.join(checklist.substances_in_last_24h)} in the last 24 h")
    if checklist.pregnancy_possible is None:
        blocks.append("pregnancy status not asked")
    elif checklist.pregnancy_possible:
        blocks.append("possibly pregnant")
        prescriber = True
    if checklist.new_medications_since_clearance and not checklist.new_medications_reviewed_by_prescriber:
        blocks.append(
            f"new since clearance, for the prescriber to review: "
            f"{', '.join(checklist.new_medications_since_clearance)}"
        )
        prescriber = True
    if checklist.open_suicidality_alert and not checklist.suicidality_alert_reviewed:
        blocks.append("an open suicidality alert has not been reviewed")
    if blocks:
        return GateResult(
            key,
            label,
            Status.FAIL,
            f"Not today: {'; '.join(blocks)}.",
            "prescriber" if prescriber else "therapist",
        )
    return GateResult(
        key, label, Status.PASS, "Ride home arranged, fasting kept, nothing to avoid taken.", "therapist"
    )


@dataclass(frozen=True)
class Vitals:
    taken_at: datetime.datetime
    systolic: int
    diastolic: int
    heart_rate: int


def predose_vitals_gate(
    vitals: Vitals | None, *, now: datetime.datetime, practice, caution_acknowledged: bool = False
) -> GateResult:
    """BP and HR taken within the practice's window before dosing. At or above the hold level:
    blocked. Above the caution level: a prescriber acknowledges. Heart rate outside its limits:
    blocked. Every number from `practice`."""
    key, label = "vitals", "Pre-dose vitals"
    window = datetime.timedelta(minutes=practice.predose_vitals_minutes)
    if vitals is None:
        return GateResult(
            key, label, Status.FAIL, "No pre-dose blood pressure and heart rate yet.", "therapist"
        )
    if now - vitals.taken_at > window:
        return GateResult(
            key,
            label,
            Status.FAIL,
            f"The last vitals are more than {practice.predose_vitals_minutes} min old: take them again.",
            "therapist",
        )
    reading = f"{vitals.systolic}/{vitals.diastolic}, HR {vitals.heart_rate}"
    if vitals.systolic >= practice.bp_hold_systolic or vitals.diastolic >= practice.bp_hold_diastolic:
        return GateResult(
            key,
            label,
            Status.FAIL,
            f"Blood pressure {reading} is at or above the hold level "
            f"({practice.bp_hold_systolic}/{practice.bp_hold_diastolic}): no dose today.",
            "prescriber",
        )
    if not practice.hr_hold_below <= vitals.heart_rate <= practice.hr_hold_above:
        return GateResult(
            key,
            label,
            Status.FAIL,
            f"Heart rate {vitals.heart_rate} is outside {practice.hr_hold_below}–"
            f"{practice.hr_hold_above}: no dose today.",
            "prescriber",
        )
    if vitals.systolic > practice.bp_caution_systolic or vitals.diastolic > practice.bp_caution_diastolic:
        if caution_acknowledged:
            return GateResult(
                key,
                label,
                Status.PASS,
                f"{reading}: above the caution level, acknowledged by the prescriber.",
                "prescriber",
            )
        return GateResult(
            key,
            label,
            Status.ACKNOWLEDGE,
            f"Blood pressure {reading} is above the caution level "
            f"({practice.bp_caution_systolic}/{practice.bp_caution_diastolic}): the prescriber "
            f"acknowledges before dosing.",
            "prescriber",
        )
    return GateResult(
        key,
        label,
        Status.PASS,
        f"{reading}, taken at {timezone.localtime(vitals.taken_at):%H:%M}.",
        "therapist",
    )


def integration_booked_gate(
    integration_at: datetime.datetime | None,
    *,
    session_at: datetime.datetime,
    expected_hours: int,
    acknowledged: bool = False,
    acknowledgement: str = "",
) -> GateResult:
    """(Soft.) An integration session booked within the practice's window after this session;
    without one, a documented acknowledgement lets the session go ahead (`acknowledgement`: who
    acknowledged, when and why, in words, shown as the gate's reason)."""
    key, label = "integration", "Integration booked"
    deadline = session_at + datetime.timedelta(hours=expected_hours)
    if integration_at is not None and session_at <= integration_at <= deadline:
        return GateResult(
            key, label, Status.PASS, f"Integration booked for {_local(integration_at)}.", "therapist"
        )
    if acknowledged:
        said = f": {acknowledgement.rstrip('.')}" if acknowledgement else ""
        return GateResult(
            key,
            label,
            Status.PASS,
            f"No integration within the window; acknowledged{said}. Book it after the session.",
            "therapist",
        )
    why = "booked too late" if integration_at is not None else "not booked"
    return GateResult(
        key,
        label,
        Status.ACKNOWLEDGE,
        f"Integration {why}: one is expected within {expected_hours} h after the session.",
        "therapist",
    )
