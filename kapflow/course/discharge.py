"""The end of a course (docs/course.md, "Discharge"): a discharge record written as a draft by a
therapist or prescriber on the care team and signed by one of them.

Signing is the one way a client is discharged. In one transaction it freezes the summary's facts
(kapflow.course.facts.discharge_facts, with the practice's crisis resources) under the signer's
name, moves the client to the DISCHARGED stage, ends the plan in force, cancels the client's
medication sessions still to come (other visits, such as continued therapy, stay), and brings
the measure schedule up to date (kapflow.measures.schedule: the weekly and visit forms are
withdrawn, the discharge forms asked once). The row is then locked, here and at the database
(kapflow/audit/immutable.py).

Locks are taken in the order a session's start takes them (kapflow.visits.services: the visit,
then the plan, then the client), so that a session starting while its client is discharged waits
for the discharge or is waited for, never deadlocks with it."""

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.access import writes_for
from kapflow.clients.models import Client
from kapflow.course.facts import discharge_facts
from kapflow.course.models import CourseReview, Discharge
from kapflow.course.reviews import lock_plan_in_force
from kapflow.lib.dates import long_date
from kapflow.measures.schedule import schedule_client
from kapflow.pathway.course import current_plan
from kapflow.pathway.models import Consultation
from kapflow.practice.models import Practice
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit

# Past the consultation and not discharged or gone: a client who may be discharged. A client in
# screening, consent or preparation who stops gets a discharge record too.
DISCHARGEABLE = (
    Client.Stage.SCREENING,
    Client.Stage.CONSENT,
    Client.Stage.PREPARATION,
    Client.Stage.COURSE,
    Client.Stage.MAINTENANCE,
)
# The stages whose chart offers "Write the discharge" (the client has started preparing).
OFFERED_ON_CHART = (Client.Stage.PREPARATION, Client.Stage.COURSE, Client.Stage.MAINTENANCE)
# A medication session in one of these states has not begun: signing cancels it if it is still
# to come. One in progress keeps the discharge from being signed until its record is.
NOT_BEGUN = (Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN)

# The fields a draft is written with, and edited.
FIELDS = ("reason", "reason_detail", "discharged_on", "condition", "recommendations", "referrals")


class DischargeRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def may_write(user, client: Client) -> bool:
    """Whether `user` may write and sign this client's discharge: an active therapist or
    prescriber on the client's care team in one of its writing roles (one query)."""
    return writes_for(user, client.pk)


# Reads.


def discharges_for(client: Client) -> list[Discharge]:
    """The client's discharge records, newest first, with their authors and signers (one query)."""
    return list(client.discharges.select_related("written_by", "signed_by"))


def discharge_for(client: Client, discharge_id) -> Discharge | None:
    """One of this client's discharge records, or None (a number of another client's included)."""
    try:
        return client.discharges.select_related("written_by", "signed_by", "plan").get(pk=int(discharge_id))
    except (Discharge.DoesNotExist, ValueError, TypeError, OverflowError):
        return None


def open_draft(client: Client) -> Discharge | None:
    return client.discharges.filter(signed_at__isnull=True).first()


def first_visit_on(client: Client) -> datetime.date | None:
    """The day the client was first seen: the earlier of the first consultation recorded and the
    first visit that took place (two queries). A discharge is never dated before it."""
    days = []
    held = Consultation.objects.filter(client=client).order_by("held_on").values_list("held_on", flat=True)
    if (first := held.first()) is not None:
        days.append(first)
    seen = (
        client.visits.filter(status__in=(Visit.Status.IN_PROGRESS, Visit.Status.COMPLETED))
        .order_by("starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )
    if seen is not None:
        days.append(timezone.localdate(seen))
    return min(days, default=None)


def date_problem(discharged_on: datetime.date, *, first_visit: datetime.date | None) -> str:
    """Why a discharge may not carry this date, or "" (the form and the service both ask)."""
    if discharged_on > timezone.localdate():
        return "The discharge date is in the future. A discharge is written on or after the day it happens."
    if first_visit is not None and discharged_on < first_visit:
        return (
            f"The discharge date is before the client was first seen ({long_date(first_visit)}). "
            "Check the date."
        )
    return ""


def draft_facts(client: Client, practice: Practice) -> dict:
    """What the summary will say if signed now: the course's facts, read afresh, and the
    practice's crisis resources."""
    return {
        **discharge_facts(client),
        "crisis_resources": practice.crisis_resources,
    }


# Writes.


def _check_writer(actor, client: Client) -> None:
    if not may_write(actor, client):
        raise DischargeRefused(
            "Only a therapist or prescriber on the client's care team writes their discharge."
        )


def _check_stage(client: Client) -> None:
    if client.stage == Client.Stage.DISCHARGED:
        raise DischargeRefused("The client is discharged already.")
    if client.stage not in DISCHARGEABLE:
        raise DischargeRefused(
            f"A client at the stage “{client.get_stage_display()}” is not discharged: a discharge "
            "follows a consultation that decided to go on. A client who does not go on is moved to "
            "“Not proceeding” with Change stage."
        )


def _check_values(client: Client, values: dict) -> None:
    if values.get("reason") not in Discharge.Reason.values:
        raise DischargeRefused("Choose why the course ends.")
    for name, words in (
        ("condition", "the condition and risk at discharge"),
        ("recommendations", "the aftercare recommendations"),
    ):
        if not str(values.get(name) or "").strip():
            raise DischargeRefused(f"Write {words}.")
    problem = date_problem(values["discharged_on"], first_visit=first_visit_on(client))
    if problem:
        raise DischargeRefused(problem)


@transaction.atomic
def discharge_draft(
    *,
    request,
    client: Client,
    reason: str,
    discharged_on: datetime.date,
    condition: str,
    recommendations: str,
    reason_detail: str = "",
    referrals: str = "",
) -> Discharge:
    """A draft discharge of `client`, written by the requester; refused (DischargeRefused, with
    the reason) unless they may write it, the client is past the consultation and not discharged,
    the date is not in the future nor before the client was first seen, and no other draft is
    open (one per client: the database's `one_draft_discharge` settles a race)."""
    actor = request.user
    client = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
    _check_writer(actor, client)
    _check_stage(client)
    values = {
        "reason": reason,
        "reason_detail": reason_detail.strip(),
        "discharged_on": discharged_on,
        "condition": condition.strip(),
        "recommendations": recommendations.strip(),
        "referrals": referrals.strip(),
    }
    _check_values(client, values)
    if open_draft(client) is not None:
        raise DischargeRefused("A discharge draft is open already: finish it, or sign it.")
    plan = current_plan(client)
    # A course review that decided to end this plan is the discharge's reason for being.
    review = (
        CourseReview.objects.filter(
            client=client, plan=plan, decision=CourseReview.Decision.END, decided_at__isnull=False
        ).first()
        if plan is not None
        else None
    )
    discharge = Discharge(client=client, plan=plan, review=review, written_by=actor, **values)
    discharge.full_clean()
    try:
        with transaction.atomic():
            discharge.save()
    except IntegrityError as clash:
        raise DischargeRefused("A discharge draft is open already: finish it, or sign it.") from clash
    audit_record(
        request=request,
        action="kapflow.course.discharge.drafted",
        client=client,
        obj=discharge,
        detail={"reason": discharge.reason},
    )
    return discharge


@transaction.atomic
def discharge_update(*, request, discharge: Discharge, **values) -> Discharge:
    """Change a draft's words, reason or date (the same checks as writing it). A signed
    discharge is never changed."""
    discharge = Discharge.objects.select_for_update(no_key=True).select_related("client").get(pk=discharge.pk)
    if discharge.is_signed:
        raise DischargeRefused("This discharge is signed: it cannot be changed.")
    _check_writer(request.user, discharge.client)
    wanted = {name: values[name] for name in FIELDS if name in values}
    for name in ("reason_detail", "condition", "recommendations", "referrals"):
        if name in wanted:
            wanted[name] = str(wanted[name]).strip()
    _check_values(discharge.client, {**{name: getattr(discharge, name) for name in FIELDS}, **wanted})
    before = {name: getattr(discharge, name) for name in FIELDS}
    for name, value in wanted.items():
        setattr(discharge, name, value)
    changed = sorted(name for name in FIELDS if getattr(discharge, name) != before[name])
    if not changed:
        return discharge
    discharge.full_clean()
    discharge.save(update_fields=changed)
    audit_record(
        request=request,
        action="kapflow.course.discharge.edited",
        client=discharge.client,
        obj=discharge,
        detail={"changed": changed},
    )
    return discharge


@transaction.atomic
def discharge_sign(*, request, discharge: Discharge, practice: Practice | None = None) -> Discharge:
    """Sign a draft (its author or another therapist or prescriber on the care team): freeze its
    facts under the signer's name, discharge the client, end the plan in force, cancel the
    medication sessions still to come, and withdraw the open forms. Refused while one of the
    client's medication sessions is in progress (its record is signed first)."""
    actor = request.user
    practice = practice or Practice.load()
    now = timezone.now()
    client_id = discharge.client_id
    # The visits, the plan, the client: the order a session's start locks them in.
    sessions = list(
        Visit.objects.select_for_update(no_key=True)
        .filter(
            client_id=client_id,
            kind=Visit.Kind.MEDICATION,
            status__in=(*NOT_BEGUN, Visit.Status.IN_PROGRESS),
        )
        .order_by("starts_at", "pk")
    )
    plan = lock_plan_in_force(discharge.client)
    client = Client.objects.select_for_update(no_key=True).get(pk=client_id)
    discharge = Discharge.objects.select_for_update(no_key=True).get(pk=discharge.pk)
    if discharge.is_signed:
        raise DischargeRefused("This discharge is signed already.")
    _check_writer(actor, client)
    _check_stage(client)
    _check_values(client, {name: getattr(discharge, name) for name in FIELDS})
    if CourseReview.objects.filter(client=client, decided_at__isnull=True).exists():
        # Its signature would act on a course that has ended, and it would keep a new course's
        # reviews waiting (one open review a client): it is decided first.
        raise DischargeRefused(
            "A course review is waiting for its signatures: have it signed before the discharge "
            "(a review may decide to end the course)."
        )
    if any(visit.status == Visit.Status.IN_PROGRESS for visit in sessions):
        raise DischargeRefused(
            "A medication session of this client's is in progress: discharge them from it and sign "
            "its record on the runbook before signing the discharge."
        )

    discharge.facts = {
        **discharge_facts(client),
        "crisis_resources": practice.crisis_resources,
    }
    discharge.plan = plan
    discharge.signed_by = actor
    discharge.signed_at = now
    discharge.signature = actor.display_name
    discharge.full_clean()
    discharge.save(update_fields=["facts", "plan", "signed_by", "signed_at", "signature"])

    before = client.stage
    client.stage = Client.Stage.DISCHARGED
    client.save(update_fields=["stage"])
    audit_record(
        request=request,
        action="kapflow.clients.client.stage_changed",
        client=client,
        obj=discharge,
        detail={"from": before, "stage": client.stage, "by": "discharge"},
    )

    if plan is not None and plan.ended_at is None:
        plan.ended_at = now
        plan.save(update_fields=["ended_at"])
        audit_record(request=request, action="kapflow.course.plan.ended", client=client, obj=plan, detail={})

    why = f"Course ended: discharged on {long_date(discharge.discharged_on)}."
    cancelled = 0
    for visit in sessions:
        if visit.status in NOT_BEGUN and visit.starts_at > now:
            visit_services.visit_transition(
                request=request, visit=visit, to=Visit.Status.CANCELLED, reason=why
            )
            cancelled += 1

    # The stage has changed: the weekly and visit forms go, the discharge forms are asked.
    schedule_client(client=client, now=now, request=request, practice=practice)
    audit_record(
        request=request,
        action="kapflow.course.discharge.signed",
        client=client,
        obj=discharge,
        detail={"reason": discharge.reason, "cancelled": cancelled, "plan_ended": plan is not None},
    )
    return discharge
