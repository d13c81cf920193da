"""What is recorded while the session runs: ratings, adverse events, notes, the phases and a
virtual session's chaperone check-ins."""

import datetime

from django.db import transaction
from django.utils import timezone

from kapflow.dosing import alerts
from kapflow.dosing.models import AdverseEvent, ChaperoneCheckin, Note, PhaseMark, Rating
from kapflow.dosing.services.runbook import (
    RunbookRefused,
    _audit,
    _on_the_day,
    _open_runbook,
    _saved,
    _sent_before,
)
from kapflow.visits.models import Visit


def rating_record(
    *, actor, visit: Visit, rated_at, sedation: int, dissociation: int, entry_key=None, request=None
) -> Rating:
    _on_the_day(rated_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)
        if (saved := _sent_before(runbook.ratings, entry_key)) is not None:
            return saved
        rating = _saved(
            Rating(
                runbook=runbook,
                rated_at=rated_at,
                sedation=sedation,
                dissociation=dissociation,
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
        _audit(request=request, actor=actor, action="kapflow.dosing.rating.recorded", visit=visit, obj=rating)
        alerts.rating_alerts_raise(rating=rating, request=request, actor=actor)
    return rating


def adverse_event_record(
    *,
    actor,
    visit: Visit,
    noted_at,
    kind: str,
    severity: str,
    action_taken: str,
    entry_key=None,
    request=None,
) -> AdverseEvent:
    _on_the_day(noted_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if (saved := _sent_before(runbook.adverse_events, entry_key)) is not None:
            return saved
        event = _saved(
            AdverseEvent(
                runbook=runbook,
                noted_at=noted_at,
                kind=kind,
                severity=severity,
                action_taken=action_taken,
                entry_key=entry_key,
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
        alerts.adverse_event_alerts_raise(event=event, request=request, actor=actor)
    return event


def note_record(*, actor, visit: Visit, written_at, text: str, entry_key=None, request=None) -> Note:
    _on_the_day(written_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if (saved := _sent_before(runbook.notes, entry_key)) is not None:
            return saved
        note = _saved(
            Note(runbook=runbook, written_at=written_at, text=text, entry_key=entry_key, author=actor)
        )
        _audit(request=request, actor=actor, action="kapflow.dosing.note.recorded", visit=visit, obj=note)
    return note


def phase_mark(*, actor, visit: Visit, phase: str, started_at: datetime.datetime, request=None) -> PhaseMark:
    """Mark when a phase began; each phase once, in the session's order, in a started session."""
    _on_the_day(started_at, visit)
    phase = PhaseMark.Phase(phase)
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)
        if visit.status != Visit.Status.IN_PROGRESS:
            raise RunbookRefused("Start the session first.")
        marks = dict(runbook.phase_marks.values_list("phase", "started_at"))
        if phase in marks:
            raise RunbookRefused(f"{phase.label} already began at {timezone.localtime(marks[phase]):%H:%M}.")
        earlier = list(PhaseMark.Phase)[: list(PhaseMark.Phase).index(phase)]
        later = [moment for key, moment in marks.items() if key not in earlier]
        if any(started_at < marks[key] for key in earlier if key in marks) or any(
            started_at > moment for moment in later
        ):
            raise RunbookRefused(f"{phase.label} comes after the phases before it: check the time.")
        mark = _saved(PhaseMark(runbook=runbook, phase=phase, started_at=started_at, recorded_by=actor))
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.phase.marked",
            visit=visit,
            obj=mark,
            detail={"phase": phase.value},
        )
    return mark


def chaperone_checkin_record(
    *,
    actor,
    visit: Visit,
    checked_at,
    chaperone_present: bool,
    client_ok: bool,
    note: str = "",
    entry_key=None,
    request=None,
) -> ChaperoneCheckin:
    """A virtual session's chaperone check-in."""
    _on_the_day(checked_at, visit)
    if not visit.is_virtual:
        raise RunbookRefused("Chaperone check-ins are for virtual sessions.")
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)
        if (saved := _sent_before(runbook.chaperone_checkins, entry_key)) is not None:
            return saved
        checkin = _saved(
            ChaperoneCheckin(
                runbook=runbook,
                checked_at=checked_at,
                chaperone_present=chaperone_present,
                client_ok=client_ok,
                note=note.strip(),
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.chaperone.checked",
            visit=visit,
            obj=checkin,
            detail={"present": chaperone_present, "client_ok": client_ok},
        )
        alerts.checkin_alerts_raise(checkin=checkin, request=request, actor=actor)
    return checkin
