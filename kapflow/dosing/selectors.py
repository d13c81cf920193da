"""Reads for the runbook: the records of a visit turned into the pure rules' inputs."""

import datetime

from kapflow.dosing import rules
from kapflow.dosing.models import Runbook, VitalsReading
from kapflow.lib.gates import GateResult
from kapflow.pathway.dayof import Vitals, predose_vitals_gate


def runbook_of(visit) -> Runbook | None:
    """The visit's runbook if anything has been recorded yet (one query)."""
    return Runbook.objects.filter(visit=visit).first()


def as_reading(vitals: VitalsReading | None) -> rules.Reading | None:
    if vitals is None:
        return None
    return rules.Reading(
        taken_at=vitals.taken_at,
        systolic=vitals.systolic,
        diastolic=vitals.diastolic,
        heart_rate=vitals.heart_rate,
        spo2=vitals.spo2,
    )


def latest_predose(
    runbook: Runbook | None, *, before: datetime.datetime | None = None
) -> VitalsReading | None:
    """The latest pre-dose reading (taken at or before `before`, if given): the baseline."""
    if runbook is None:
        return None
    readings = runbook.vitals.filter(phase=VitalsReading.Phase.PRE_DOSE)
    if before is not None:
        readings = readings.filter(taken_at__lte=before)
    return readings.order_by("-taken_at", "-pk").first()


def predose_gate(runbook: Runbook | None, *, now: datetime.datetime, practice) -> GateResult:
    """The day-of pre-dose vitals gate over the latest pre-dose reading, with the prescriber's
    acknowledgement of that very reading if there is one."""
    latest = latest_predose(runbook, before=now)
    vitals = None
    if latest is not None:
        vitals = Vitals(
            taken_at=latest.taken_at,
            systolic=latest.systolic,
            diastolic=latest.diastolic,
            heart_rate=latest.heart_rate,
        )
    acknowledged = latest is not None and runbook.caution_acknowledged_reading_id == latest.pk
    return predose_vitals_gate(vitals, now=now, practice=practice, caution_acknowledged=acknowledged)


def session_clock(runbook: Runbook | None, *, now: datetime.datetime, practice) -> rules.Clock:
    if runbook is None:
        return rules.session_clock(first_dose_at=None, vitals_since_dose=[], now=now, practice=practice)
    first = runbook.administrations.order_by("given_at", "pk").first()
    taken = list(
        runbook.vitals.filter(phase=VitalsReading.Phase.IN_SESSION).values_list("taken_at", flat=True)
    )
    return rules.session_clock(
        first_dose_at=first.given_at if first else None, vitals_since_dose=taken, now=now, practice=practice
    )


def discharge_state(
    runbook: Runbook | None,
    *,
    alert_and_oriented: bool = False,
    steady_on_feet: bool = False,
    escort_present: bool = False,
) -> rules.DischargeState:
    if runbook is None:
        return rules.DischargeState(None, None, None)
    last = runbook.administrations.order_by("-given_at", "-pk").first()
    latest = runbook.vitals.order_by("-taken_at", "-pk").first()
    rating = runbook.ratings.order_by("-rated_at", "-pk").first()
    return rules.DischargeState(
        last_dose_at=last.given_at if last else None,
        latest_vitals=as_reading(latest),
        baseline=as_reading(latest_predose(runbook)),
        latest_sedation=rating.sedation if rating else None,
        latest_dissociation=rating.dissociation if rating else None,
        alert_and_oriented=alert_and_oriented,
        steady_on_feet=steady_on_feet,
        escort_present=escort_present,
    )
