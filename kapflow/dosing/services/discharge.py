"""The end of the session: discharge against the criteria, and its integration session booked or
its absence acknowledged."""

import datetime

from django.db import transaction
from django.utils import timezone

from kapflow.dosing import rules, selectors
from kapflow.dosing.models import IntegrationAcknowledgement, Runbook
from kapflow.dosing.services.runbook import RunbookRefused, _Actor, _audit, _open_runbook, _saved
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit


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
        if visit.status != Visit.Status.IN_PROGRESS:
            raise RunbookRefused("Start the session first: a client is discharged from a session under way.")
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


def integration_book(
    *, actor, visit: Visit, starts_at: datetime.datetime, minutes: int, request=None
) -> Visit:
    """Book the integration session after this medication session, with its clinician, in the
    same modality (and room), through the schedule's own booking (clashes refused)."""
    if visit.status != Visit.Status.COMPLETED:
        raise RunbookRefused("The integration is booked once the session is complete.")
    if starts_at < visit.ends_at:
        raise RunbookRefused("The integration comes after the medication session.")
    if starts_at > visit.ends_at + datetime.timedelta(days=90):
        raise RunbookRefused("That is months away: book the integration soon after the session.")
    slot = visit_services.Slot(
        kind=Visit.Kind.INTEGRATION,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=minutes),
        clinician=visit.clinician,
        modality=visit.modality,
        room=visit.room,
        video_link=visit.video_link,
    )
    try:
        return visit_services.visit_book(request=_Actor(request, actor), client=visit.client, slot=slot)
    except visit_services.VisitRefused as refused:
        raise RunbookRefused(*refused.problems) from None


def integration_acknowledge(
    *, actor, visit: Visit, reason: str, practice, request=None
) -> IntegrationAcknowledgement:
    """The soft "integration booked" gate, acknowledged in writing by a clinician: the session
    may go ahead without an integration booked within the practice's window. Refused when there
    is nothing to acknowledge (one is booked in time, or it was already acknowledged), on a
    signed record and on a visit that did not take place."""
    reason = reason.strip()
    if not actor.is_clinician:
        raise RunbookRefused("The therapist acknowledges a session without an integration booked.")
    if not reason:
        raise RunbookRefused("Say why the session goes ahead without an integration booked.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        gate = selectors.integration_gate(visit, runbook, practice=practice)
        if gate.passed:
            raise RunbookRefused(f"Nothing to acknowledge: {gate.reason}")
        ack = _saved(IntegrationAcknowledgement(runbook=runbook, reason=reason, acknowledged_by=actor))
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.integration.acknowledged",
            visit=visit,
            obj=ack,
        )
    return ack
