"""Writes along the pathway. Each is atomic and writes its audit row in the same transaction."""

from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record, changed_fields
from kapflow.clients.models import Client
from kapflow.pathway.models import Consultation, CoursePlan, GateOverride, PreparationSession

# Where a consultation's decision moves a client still at the consultation stage.
_STAGE_AFTER = {
    Consultation.Decision.PROCEED: Client.Stage.SCREENING,
    Consultation.Decision.NOT_A_FIT: Client.Stage.NOT_PROCEEDING,
}


def _move_on(request, client: Client, *, to: str, only_from: list[str]) -> None:
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
        _move_on(request, client, to=next_stage, only_from=[Client.Stage.CONSULTATION])
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
    _move_on(
        request, client, to=Client.Stage.PREPARATION, only_from=[Client.Stage.SCREENING, Client.Stage.CONSENT]
    )
    return session


@transaction.atomic
def course_plan_save(*, request, client: Client, form) -> CoursePlan:
    created = form.instance.pk is None
    plan = form.save(commit=False)
    plan.client = client
    plan.updated_by = request.user
    plan.full_clean()
    plan.save()
    audit_record(
        request=request,
        action=f"kapflow.pathway.course_plan.{'created' if created else 'updated'}",
        client=client,
        obj=plan,
        detail={} if created else changed_fields(form),
    )
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
