"""The prescriber's reviews of adverse events and of discharges against the criteria."""

from django.db import transaction

from kapflow.dosing.models import AdverseEvent, Runbook, SafetyReview
from kapflow.dosing.services.runbook import RunbookRefused, _audit, _saved
from kapflow.visits.models import Visit


def adverse_event_review(*, actor, event: AdverseEvent, note: str = "", request=None) -> SafetyReview:
    """A prescriber marks an adverse event reviewed: it leaves their queue. Once only."""
    if not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber reviews adverse events.")
    with transaction.atomic():
        event = (
            AdverseEvent.objects.select_for_update(of=("self",), no_key=True)
            .select_related("runbook__visit__client")
            .get(pk=event.pk)
        )
        if SafetyReview.objects.filter(adverse_event=event).exists():
            raise RunbookRefused("This adverse event was already reviewed.")
        review = _saved(SafetyReview(adverse_event=event, note=note.strip(), reviewed_by=actor))
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.adverse_event.reviewed",
            visit=event.runbook.visit,
            obj=review,
            detail={"adverse_event": event.pk},
        )
    return review


def discharge_override_review(*, actor, visit: Visit, note: str = "", request=None) -> SafetyReview:
    """A prescriber marks a discharge with criteria unmet reviewed: it leaves their queue."""
    if not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber reviews a discharge override.")
    with transaction.atomic():
        runbook = Runbook.objects.select_for_update(no_key=True).filter(visit=visit).first()
        if runbook is None or runbook.discharged_at is None or not runbook.override_reason:
            raise RunbookRefused("This session's discharge did not override any criterion.")
        if SafetyReview.objects.filter(discharge_override=runbook).exists():
            raise RunbookRefused("This discharge override was already reviewed.")
        review = _saved(SafetyReview(discharge_override=runbook, note=note.strip(), reviewed_by=actor))
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.discharge_override.reviewed",
            visit=visit,
            obj=review,
        )
    return review
