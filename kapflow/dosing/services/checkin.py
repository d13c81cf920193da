"""Before the first dose: the day-of checklist, the prescriber's review of new medications, a
virtual session's safety plan, and starting the session."""

from django.db import transaction
from django.utils import timezone

from kapflow.dosing import selectors
from kapflow.dosing.models import DayOfChecklist, PhaseMark, SafetyPlan
from kapflow.dosing.services.runbook import RunbookRefused, _Actor, _audit, _open_runbook, _saved
from kapflow.lib.dates import latest_moment
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit


def checklist_record(
    *,
    actor,
    visit: Visit,
    transport_without_driving: bool,
    transport_detail: str = "",
    last_food_at,
    last_liquid_at,
    substances: list[str],
    pregnancy: str,
    new_medications: str = "",
    medications_reviewed: bool = False,
    suicidality_alert_reviewed: bool = False,
    practice,
    request=None,
) -> DayOfChecklist:
    """Record the day-of checklist (a newer one supersedes the older, which is kept). Only a
    prescriber records the new medications as reviewed. `last_food_at` and `last_liquid_at` may
    be times of day: the latest such moment not after now."""
    now = timezone.now()
    allowed = selectors.avoid_substances(practice)
    unknown = [name for name in substances if name not in allowed]
    if unknown:
        raise RunbookRefused(f"Not on the practice's list of substances: {', '.join(unknown)}.")
    if medications_reviewed and not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber records the new medications as reviewed.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if runbook.administrations.exists():
            raise RunbookRefused("The dose was given: the day-of checklist can no longer change.")
        checklist = _saved(
            DayOfChecklist(
                runbook=runbook,
                transport_without_driving=transport_without_driving,
                transport_detail=transport_detail.strip(),
                last_food_at=latest_moment(last_food_at, now),
                last_liquid_at=latest_moment(last_liquid_at, now),
                substances=list(substances),
                pregnancy=pregnancy,
                new_medications=new_medications.strip(),
                medications_reviewed_by=actor if medications_reviewed and new_medications.strip() else None,
                suicidality_alert_reviewed=suicidality_alert_reviewed,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.checklist.recorded",
            visit=visit,
            obj=checklist,
            detail={"substances": len(substances), "new_medications": bool(checklist.new_medications)},
        )
    return checklist


def medications_review(*, actor, visit: Visit, request=None) -> DayOfChecklist:
    """A prescriber reviews the new medications on the latest checklist: a copy of it is recorded
    with the prescriber as reviewer (the older one is kept)."""
    if not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber reviews new medications.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        latest = selectors.latest_checklist(runbook)
        if latest is None or not latest.new_medication_list():
            raise RunbookRefused("No new medications on the checklist to review.")
        if latest.medications_reviewed_by_id is not None:
            raise RunbookRefused("The new medications were already reviewed.")
        fields = {
            field.name: getattr(latest, field.name)
            for field in DayOfChecklist._meta.concrete_fields
            if field.name not in ("id", "recorded_at", "recorded_by", "medications_reviewed_by")
        }
        checklist = _saved(
            DayOfChecklist(
                **fields, medications_reviewed_by=actor, recorded_by=actor, recorded_at=timezone.now()
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.medications.reviewed",
            visit=visit,
            obj=checklist,
        )
    return checklist


def safety_plan_record(
    *,
    actor,
    visit: Visit,
    address: str,
    chaperone_name: str,
    chaperone_phone: str,
    chaperone_is_adult: bool,
    chaperone_present: bool,
    emergency_contact: str,
    nearest_emergency_department: str,
    has_bp_cuff: bool,
    request=None,
) -> SafetyPlan:
    """Record a virtual session's safety plan (a newer one supersedes the older, which is kept)."""
    if not visit.is_virtual:
        raise RunbookRefused("An in-person session needs no virtual safety plan.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        plan = _saved(
            SafetyPlan(
                runbook=runbook,
                address=address.strip(),
                chaperone_name=chaperone_name.strip(),
                chaperone_phone=chaperone_phone.strip(),
                chaperone_is_adult=chaperone_is_adult,
                chaperone_present=chaperone_present,
                emergency_contact=emergency_contact.strip(),
                nearest_emergency_department=nearest_emergency_department.strip(),
                has_bp_cuff=has_bp_cuff,
                recorded_by=actor,
            )
        )
        gate = selectors.safety_plan_gate(visit, runbook)
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.safety_plan.recorded",
            visit=visit,
            obj=plan,
            detail={"passes": gate.passed},
        )
    return plan


def session_start(*, actor, visit: Visit, request=None, practice=None) -> Visit:
    """Start the medication session (the visit's every hard gate checked by visit_transition,
    the virtual safety plan among them) and mark the opening reflection."""
    with transaction.atomic():
        try:
            visit = visit_services.visit_transition(
                request=_Actor(request, actor), visit=visit, to=Visit.Status.IN_PROGRESS, practice=practice
            )
        except visit_services.VisitRefused as refused:
            raise RunbookRefused(*refused.problems) from None
        runbook = _open_runbook(visit)
        if not runbook.phase_marks.exists():
            mark = _saved(
                PhaseMark(
                    runbook=runbook,
                    phase=PhaseMark.Phase.OPENING,
                    started_at=visit.status_changed_at,
                    recorded_by=actor,
                )
            )
            _audit(
                request=request,
                actor=actor,
                action="kapflow.dosing.phase.marked",
                visit=visit,
                obj=mark,
                detail={"phase": mark.phase},
            )
    return visit
