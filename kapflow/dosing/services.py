"""Writes to the runbook. Each entry is saved the moment it is entered, in its own transaction
with its audit row; none is saved on a signed (locked) record or a cancelled visit. Every
threshold comes from the practice's settings."""

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.dosing import rules, selectors
from kapflow.dosing.models import (
    Addendum,
    Administration,
    AdverseEvent,
    Note,
    Rating,
    Runbook,
    VitalsReading,
)
from kapflow.lib.gates import Status
from kapflow.medical import doses
from kapflow.medical.gates import order_gate
from kapflow.medical.models import MedicationOrder
from kapflow.visits.models import Visit


class RunbookRefused(Exception):
    def __init__(self, *problems: str):
        super().__init__(" ".join(problems))
        self.problems = list(problems)


CLOSED_VISIT = (Visit.Status.CANCELLED, Visit.Status.NO_SHOW)


def _open_runbook(visit: Visit) -> Runbook:
    """The visit's runbook, locked for this transaction and created on the first entry;
    refused when the record is signed or the visit did not take place."""
    if visit.kind != Visit.Kind.MEDICATION:
        raise RunbookRefused("Only a medication session has a runbook.")
    if visit.status in CLOSED_VISIT:
        raise RunbookRefused(f"This visit was {visit.get_status_display().lower()}: nothing can be recorded.")
    Runbook.objects.get_or_create(visit=visit)
    runbook = Runbook.objects.select_for_update().get(visit=visit)
    if runbook.is_locked:
        raise RunbookRefused("The session record is signed and locked: add an addendum instead.")
    return runbook


def _saved(obj):
    obj.full_clean()
    obj.save()
    return obj


def _audit(*, request, actor, action: str, visit: Visit, obj, detail: dict | None = None) -> None:
    audit_record(request=request, actor=actor, action=action, client=visit.client, obj=obj, detail=detail)


def _not_future(moment: datetime.datetime, now: datetime.datetime) -> None:
    if moment > now + datetime.timedelta(minutes=1):
        raise RunbookRefused("That time is in the future.")


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
    request=None,
) -> VitalsReading:
    """Save a reading with the alerts it raises, computed now against the pre-dose baseline
    (rises are measured only for in-session readings)."""
    _not_future(taken_at, timezone.now())
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if phase == VitalsReading.Phase.PRE_DOSE and runbook.administrations.exists():
            raise RunbookRefused("A dose was already given: record in-session vitals instead.")
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


def _booster_problems(
    *, runbook: Runbook, order: MedicationOrder, route: str, dose_mg: Decimal, given_at
) -> list:
    first = runbook.administrations.filter(is_booster=False).select_related("order").first()
    problems = []
    if first.order_id != order.pk:
        problems.append(f"A booster is given under the session's order ({first.order}).")
        return problems
    if given_at < first.given_at:
        problems.append("A booster comes after the first dose.")
    if route != order.route:
        problems.append(f"The order is for {order.get_route_display().lower()}, not {route}.")
    if (
        order.discontinued_at is not None
        or not order.starts_on <= timezone.localdate(given_at) <= order.ends_on
    ):
        problems.append("The order is not in force today — prescriber.")
    given = runbook.administrations.filter(is_booster=True).count()
    if given >= order.boosters_allowed:
        problems.append(
            f"The order allows {order.boosters_allowed} booster{'s' if order.boosters_allowed != 1 else ''} "
            f"a session; {given} already given — prescriber."
        )
    elif order.booster_max_mg is not None and dose_mg > order.booster_max_mg:
        problems.append(
            f"A booster of {doses.number(dose_mg)} mg is above the order's highest booster, "
            f"{doses.number(order.booster_max_mg)} mg — prescriber."
        )
    return problems


def _first_dose_problems(*, runbook, visit, order, route, dose_mg, given_at, practice) -> list:
    gate = selectors.predose_gate(runbook, now=given_at, practice=practice)
    if not gate.passed:
        return [f"Pre-dose vitals: {gate.reason}"]
    gate = order_gate(visit.client, today=timezone.localdate(given_at), route=route, dose_mg=dose_mg)
    if not gate.passed:
        return [gate.reason]
    low, high = order.range_mg()
    if (
        order.route != route
        or not low <= dose_mg <= high
        or not order.is_active(timezone.localdate(given_at))
    ):
        return [f"{doses.number(dose_mg)} mg {route} does not fit the chosen order ({order}) — prescriber."]
    return []


def dose_record(
    *,
    actor,
    visit: Visit,
    order: MedicationOrder,
    given_at: datetime.datetime,
    route: str,
    dose_mg: Decimal,
    lot_number: str,
    given_by,
    practice,
    request=None,
) -> Administration:
    """Record a dose given, against `order`. The session's first dose needs the pre-dose vitals
    gate passed (or its caution acknowledged by a prescriber) and the order gate passed for this
    route and dose; later doses are boosters, within the order's count and highest booster."""
    dose_mg = Decimal(dose_mg)
    _not_future(given_at, timezone.now())
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if order.client_id != visit.client_id:
            raise RunbookRefused("That order is not this client's.")
        if not given_by.is_clinician:
            raise RunbookRefused("A dose is given by a therapist or prescriber.")
        booster = runbook.administrations.exists()
        if booster:
            problems = _booster_problems(
                runbook=runbook, order=order, route=route, dose_mg=dose_mg, given_at=given_at
            )
        else:
            problems = _first_dose_problems(
                runbook=runbook,
                visit=visit,
                order=order,
                route=route,
                dose_mg=dose_mg,
                given_at=given_at,
                practice=practice,
            )
        if problems:
            raise RunbookRefused(*problems)
        given = _saved(
            Administration(
                runbook=runbook,
                order=order,
                given_at=given_at,
                route=route,
                dose_mg=dose_mg,
                lot_number=lot_number,
                given_by=given_by,
                is_booster=booster,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.dose.recorded",
            visit=visit,
            obj=given,
            detail={"booster": booster, "order": order.pk},
        )
    return given


def rating_record(*, actor, visit: Visit, rated_at, sedation: int, dissociation: int, request=None) -> Rating:
    _not_future(rated_at, timezone.now())
    with transaction.atomic():
        runbook = _open_runbook(visit)
        rating = _saved(
            Rating(
                runbook=runbook,
                rated_at=rated_at,
                sedation=sedation,
                dissociation=dissociation,
                recorded_by=actor,
            )
        )
        _audit(request=request, actor=actor, action="kapflow.dosing.rating.recorded", visit=visit, obj=rating)
    return rating


def adverse_event_record(
    *, actor, visit: Visit, noted_at, kind: str, severity: str, action_taken: str, request=None
) -> AdverseEvent:
    _not_future(noted_at, timezone.now())
    with transaction.atomic():
        runbook = _open_runbook(visit)
        event = _saved(
            AdverseEvent(
                runbook=runbook,
                noted_at=noted_at,
                kind=kind,
                severity=severity,
                action_taken=action_taken,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.adverse_event.recorded",
            visit=visit,
            obj=event,
            detail={"kind": kind, "severity": severity},
        )
    return event


def note_record(*, actor, visit: Visit, written_at, text: str, request=None) -> Note:
    _not_future(written_at, timezone.now())
    with transaction.atomic():
        runbook = _open_runbook(visit)
        note = _saved(Note(runbook=runbook, written_at=written_at, text=text, author=actor))
        _audit(request=request, actor=actor, action="kapflow.dosing.note.recorded", visit=visit, obj=note)
    return note


def discharge_record(
    *,
    actor,
    visit: Visit,
    alert_and_oriented: bool,
    steady_on_feet: bool,
    escort_present: bool,
    practice,
    override_reason: str = "",
    request=None,
) -> Runbook:
    """Discharge the client when every criterion holds (rules.discharge_unmet); with criteria
    unmet, only a prescriber may discharge, and only with a written reason."""
    now = timezone.now()
    override_reason = override_reason.strip()
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if runbook.discharged_at is not None:
            raise RunbookRefused("The client was already discharged.")
        state = selectors.discharge_state(
            runbook,
            alert_and_oriented=alert_and_oriented,
            steady_on_feet=steady_on_feet,
            escort_present=escort_present,
        )
        unmet = rules.discharge_unmet(state, now=now, practice=practice)
        if unmet and not override_reason:
            raise RunbookRefused(*unmet)
        if unmet and not actor.is_prescriber:
            raise RunbookRefused("Only a prescriber may discharge with criteria unmet.", *unmet)
        runbook.alert_and_oriented = alert_and_oriented
        runbook.steady_on_feet = steady_on_feet
        runbook.escort_present = escort_present
        runbook.discharged_at = now
        runbook.discharged_by = actor
        runbook.override_reason = override_reason if unmet else ""
        runbook.override_unmet = unmet
        runbook.save(
            update_fields=[
                "alert_and_oriented",
                "steady_on_feet",
                "escort_present",
                "discharged_at",
                "discharged_by",
                "override_reason",
                "override_unmet",
            ]
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.discharge.overridden" if unmet else "kapflow.dosing.discharge.recorded",
            visit=visit,
            obj=runbook,
            detail={"unmet": len(unmet)} if unmet else None,
        )
    return runbook


def runbook_sign(*, actor, visit: Visit, request=None) -> Runbook:
    """Sign the session record: nothing can be added or changed after this; corrections are
    addenda. Signed after discharge."""
    if not actor.is_clinician:
        raise RunbookRefused("The session record is signed by a therapist or prescriber.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if runbook.discharged_at is None:
            raise RunbookRefused("Record the discharge before signing.")
        runbook.signed_at = timezone.now()
        runbook.signed_by = actor
        runbook.save(update_fields=["signed_at", "signed_by"])
        _audit(request=request, actor=actor, action="kapflow.dosing.runbook.signed", visit=visit, obj=runbook)
    return runbook


def addendum_add(*, actor, visit: Visit, text: str, request=None) -> Addendum:
    """A correction to a signed record, kept under it with its author and time."""
    text = text.strip()
    if not text:
        raise RunbookRefused("Write the addendum.")
    with transaction.atomic():
        runbook = Runbook.objects.select_for_update().filter(visit=visit).first()
        if runbook is None or not runbook.is_locked:
            raise RunbookRefused("Addenda are for a signed record; until then, add a note.")
        addendum = _saved(Addendum(runbook=runbook, text=text, author=actor))
        _audit(
            request=request, actor=actor, action="kapflow.dosing.addendum.added", visit=visit, obj=addendum
        )
    return addendum
