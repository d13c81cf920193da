"""Writes along the pathway. Each is atomic and writes its audit row in the same transaction."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from kapflow.audit.services import audit_record, changed_fields
from kapflow.clients.models import Client
from kapflow.pathway.models import Consultation, CoursePlan, GateOverride, PreparationSession

# Where a consultation's decision moves a client still at the consultation stage.
_STAGE_AFTER = {
    Consultation.Decision.PROCEED: Client.Stage.SCREENING,
    Consultation.Decision.NOT_A_FIT: Client.Stage.NOT_PROCEEDING,
}


def client_move_on(request, client: Client, *, to: str, only_from: list[str]) -> None:
    """Move a client along the pathway when a record shows they have got there, but never back:
    a client already further on stays where they are."""
    if client.stage in only_from:
        client.stage = to
        client.save(update_fields=["stage"])
        audit_record(
            request=request,
            action="kapflow.clients.client.stage_changed",
            client=client,
            obj=client,
            detail={"stage": to},
        )


@transaction.atomic
def consultation_record(*, request, client: Client, form) -> Consultation:
    """Save a consultation (signed by the clinician who saves it). A client still at the
    consultation stage moves on to screening, or to not proceeding."""
    consultation = form.save(commit=False)
    consultation.client = client
    consultation.clinician = request.user
    consultation.full_clean()
    consultation.save()
    audit_record(
        request=request,
        action="kapflow.pathway.consultation.recorded",
        client=client,
        obj=consultation,
        detail={"decision": consultation.decision},
    )
    next_stage = _STAGE_AFTER.get(consultation.decision)
    if next_stage:
        client_move_on(request, client, to=next_stage, only_from=[Client.Stage.CONSULTATION])
    return consultation


@transaction.atomic
def preparation_record(*, request, client: Client, form) -> PreparationSession:
    session = form.save(commit=False)
    session.client = client
    session.clinician = request.user
    session.full_clean()
    session.save()
    audit_record(
        request=request,
        action="kapflow.pathway.preparation.recorded",
        client=client,
        obj=session,
        detail={"topics": session.topics},
    )
    client_move_on(
        request, client, to=Client.Stage.PREPARATION, only_from=[Client.Stage.SCREENING, Client.Stage.CONSENT]
    )
    return session


class PlanRefused(Exception):
    """A change the course plan does not allow; the message is for the person asking."""


def count_locked(client: Client, plan: CoursePlan) -> bool:
    """Whether the plan's number of sessions is the course review's to change: once a session
    of the plan has begun, and always for a version a signed review wrote (an extension, a
    maintenance plan), whose count the therapist and the prescriber decided together."""
    from kapflow.course.models import CourseReview
    from kapflow.pathway.course import position

    return position(client, plan=plan).held >= 1 or CourseReview.objects.filter(new_plan=plan).exists()


@transaction.atomic
def course_plan_save(*, request, client: Client, form) -> CoursePlan:
    """Write the course plan, or change the one in force (docs/course.md, "Plan versions").

    Once a session of the plan has begun its count changes only by a course review
    (kapflow.course.reviews). A client whose course has ended (discharged) gets a new course:
    the next course number, counting sessions from now, in place of the ended plan, which is
    kept. The plan in force is locked first, as the course gate and the reviews lock it."""
    from kapflow.course.reviews import lock_plan_in_force, plan_supersede

    created = form.instance.pk is None
    in_force = lock_plan_in_force(client)
    plan = form.save(commit=False)
    plan.client = client
    plan.updated_by = request.user
    if not created:
        if in_force is None or in_force.pk != plan.pk:
            raise PlanRefused("This version of the plan is no longer in force: open the plan again.")
        if in_force.ended_at is not None:
            raise PlanRefused("This course has ended: plan a new course instead.")
        if plan.planned_sessions != in_force.planned_sessions and count_locked(client, in_force):
            raise PlanRefused(
                "Sessions of this plan have begun: the number of sessions changes by a course review."
            )
    elif in_force is not None:
        if in_force.ended_at is None:
            raise PlanRefused("A course plan is in force already: change that one.")
        now = timezone.now()
        plan.course_number = in_force.course_number + 1
        plan.kind = CoursePlan.Kind.COURSE
        plan.counts_from = now
        plan.created_at = now
        plan = plan_supersede(request=request, plan=in_force, new=plan, now=now, why="new_course")
        return plan
    plan.full_clean()
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError as clash:
        # Two first plans written at the same moment (nothing in force to lock yet): one plan in
        # force a client (one_plan_in_force) keeps the first.
        raise PlanRefused("A course plan was written meanwhile: open the plan again.") from clash
    audit_record(
        request=request,
        action=f"kapflow.pathway.course_plan.{'created' if created else 'updated'}",
        client=client,
        obj=plan,
        detail={} if created else changed_fields(form),
    )
    # A self-pay client's new or changed plan is given its Good Faith Estimate now, or it is due
    # (docs/good-faith-estimate.md, "When the plan changes").
    from kapflow.billing.estimates import plan_changed

    plan_changed(request=request, plan=plan)
    return plan


@transaction.atomic
def gate_override(*, request, client: Client, gate: str, reason: str) -> GateOverride:
    """A prescriber lets a failing medical gate pass, in writing."""
    override = GateOverride(client=client, gate=gate, prescriber=request.user, reason=reason)
    override.full_clean()
    override.save()
    audit_record(
        request=request,
        action="kapflow.pathway.gate.overridden",
        client=client,
        obj=override,
        detail={"gate": gate},
    )
    return override


@transaction.atomic
def gate_override_withdraw(*, request, override: GateOverride) -> GateOverride:
    override = GateOverride.objects.select_for_update(no_key=True).get(pk=override.pk)
    if override.withdrawn_at is None:
        override.withdrawn_at = timezone.now()
        override.withdrawn_by = request.user
        override.save(update_fields=["withdrawn_at", "withdrawn_by"])
        audit_record(
            request=request,
            action="kapflow.pathway.gate.override_withdrawn",
            client=override.client,
            obj=override,
            detail={"gate": override.gate},
        )
    return override
