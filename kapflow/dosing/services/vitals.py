"""Vitals: each reading with the alerts it raises, and a prescriber's acknowledgement of a
pre-dose reading above the caution level."""

import datetime

from django.db import transaction
from django.utils import timezone

from kapflow.dosing import alerts, rules, selectors
from kapflow.dosing.models import PhoneAcknowledgement, Runbook, VitalsReading
from kapflow.dosing.services.administration import session_routes
from kapflow.dosing.services.runbook import (
    RunbookRefused,
    SpO2Required,
    _audit,
    _on_the_day,
    _open_runbook,
    _saved,
    _sent_before,
)
from kapflow.lib.gates import Status
from kapflow.lib.names import same_name
from kapflow.medical import routes
from kapflow.medical.selectors import prescriber_is_outside
from kapflow.visits.models import Visit


def vitals_record(
    *,
    actor,
    visit: Visit,
    phase: str,
    taken_at: datetime.datetime,
    systolic: int,
    diastolic: int,
    heart_rate: int,
    spo2: int | None,
    practice,
    entry_key=None,
    request=None,
) -> VitalsReading:
    """Save a reading with the alerts it raises, computed now against the pre-dose baseline
    (rises are measured only for in-session readings). Sent again with the same `entry_key`,
    the reading saved the first time is returned."""
    _on_the_day(taken_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)
        if (saved := _sent_before(runbook.vitals, entry_key)) is not None:
            return saved
        if phase == VitalsReading.Phase.PRE_DOSE and runbook.administrations.exists():
            raise RunbookRefused("A dose was already given: record in-session vitals instead.")
        if problem := routes.spo2_problem(
            session_routes(runbook, visit, day=timezone.localdate(taken_at)), spo2=spo2, practice=practice
        ):
            raise SpO2Required(problem)
        baseline = None
        if phase == VitalsReading.Phase.IN_SESSION:
            baseline = selectors.as_reading(selectors.latest_predose(runbook, before=taken_at))
        reading = rules.Reading(taken_at, systolic, diastolic, heart_rate, spo2)
        vitals = _saved(
            VitalsReading(
                runbook=runbook,
                phase=phase,
                taken_at=taken_at,
                systolic=systolic,
                diastolic=diastolic,
                heart_rate=heart_rate,
                spo2=spo2,
                alerts=rules.reading_alerts(reading, baseline=baseline, practice=practice),
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.vitals.recorded",
            visit=visit,
            obj=vitals,
            detail={"phase": phase, "alerts": len(vitals.alerts)},
        )
        # A prescriber hears of an alarming reading at once (kapflow.dosing.alerts).
        alerts.vitals_alerts_raise(reading=vitals, practice=practice, request=request, actor=actor)
    return vitals


def caution_acknowledge(*, actor, visit: Visit, practice, request=None) -> Runbook:
    """A prescriber acknowledges a pre-dose reading above the caution level (never one at the
    hold level: that gate fails outright)."""
    if not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber acknowledges a caution reading.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        gate = selectors.predose_gate(runbook, now=timezone.now(), practice=practice)
        if gate.status is not Status.ACKNOWLEDGE:
            raise RunbookRefused(f"Nothing to acknowledge: {gate.reason}")
        runbook.caution_acknowledged_reading = selectors.latest_predose(runbook, before=timezone.now())
        runbook.caution_acknowledged_by = actor
        runbook.save(update_fields=["caution_acknowledged_reading", "caution_acknowledged_by"])
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.caution.acknowledged",
            visit=visit,
            obj=runbook.caution_acknowledged_reading,
        )
    return runbook


def caution_acknowledge_by_phone(
    *,
    actor,
    visit: Visit,
    practice,
    prescriber_name: str,
    called_at: datetime.datetime,
    read_back: str,
    request=None,
) -> PhoneAcknowledgement:
    """The client's outside prescriber, who has no account, acknowledges a pre-dose reading above
    the caution level on the telephone; the clinician records the call (the prescriber's name,
    the time, the read-back). Only when the client's latest clearance was transcribed from an
    outside prescriber's letter (kapflow.medical.selectors.prescriber_is_outside), and only with
    the prescriber that letter names. The runbook's `caution_acknowledged_by` is then the
    clinician who recorded the call; the pages name the prescriber from the call."""
    if not actor.is_clinician:
        raise RunbookRefused("A therapist or prescriber records the outside prescriber's call.")
    if not prescriber_name.strip() or not read_back.strip():
        raise RunbookRefused("Name the prescriber called and write what was read back.")
    _on_the_day(called_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit)
        clearance = prescriber_is_outside(visit.client)
        if clearance is None:
            raise RunbookRefused(
                "The client's prescriber is on the practice's staff: they acknowledge it here."
            )
        if not same_name(prescriber_name, clearance.outside_name):
            raise RunbookRefused(
                f"The client's prescriber is {clearance.outside_name} (the clearance letter): "
                "record a call with them."
            )
        now = timezone.now()
        gate = selectors.predose_gate(runbook, now=now, practice=practice)
        if gate.status is not Status.ACKNOWLEDGE:
            raise RunbookRefused(f"Nothing to acknowledge: {gate.reason}")
        reading = selectors.latest_predose(runbook, before=now)
        if called_at < reading.taken_at:
            raise RunbookRefused("The call was before the reading it acknowledges: check the time.")
        call = _saved(
            PhoneAcknowledgement(
                runbook=runbook,
                reading=reading,
                provider=clearance.outside_provider,
                prescriber_name=prescriber_name.strip(),
                called_at=called_at,
                read_back=read_back.strip(),
                recorded_by=actor,
            )
        )
        runbook.caution_acknowledged_reading = reading
        runbook.caution_acknowledged_by = actor
        runbook.save(update_fields=["caution_acknowledged_reading", "caution_acknowledged_by"])
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.caution.phoned",
            visit=visit,
            obj=call,
            detail={"reading": reading.pk},
        )
    return call
