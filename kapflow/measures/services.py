import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.models import CareTeamMember, Client
from kapflow.measures import instruments
from kapflow.measures.instruments import Instrument
from kapflow.measures.models import Alert, MeasureTask, Response
from kapflow.measures.scoring import score
from kapflow.reminders.models import Reminder
from kapflow.reminders.services import queue_send, reminder_create
from kapflow.reminders.sources import Due

logger = logging.getLogger(__name__)


@transaction.atomic
def response_record(
    *,
    request,
    client: Client,
    instrument: Instrument,
    answers: dict[str, int],
    context: str,
    entered_by=None,
    entry_key=None,
) -> Response:
    """Score and save a complete response (raises scoring.Incomplete otherwise). An answer above
    0 on an alert item (PHQ-9 item 9) raises an urgent alert to the primary therapist. Sent
    again with the same `entry_key` (a form sent twice), it returns the response saved the first
    time and raises, audits and emails nothing more."""
    result = score(instrument, answers)
    if (saved := _sent_before(client, entry_key)) is not None:
        return saved
    # The client's waiting task this answers is locked before anything is written or audited:
    # the client's own submission locks it first too (task_complete), and no row is locked
    # after an audit row (the audit chain's lock, docs/security/audit.md).
    waiting = _waiting_task(client, instrument.key, context) if entered_by is not None else None
    response = Response(
        client=client,
        instrument=instrument.key,
        version=instrument.version,
        answers={item.key: answers[item.key] for item in instrument.items},
        total=result.total,
        band=result.band.label,
        context=context,
        entered_by=entered_by,
        entry_key=entry_key,
    )
    response.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:
        # The same form, sent twice at once: the other sending saved it first (the unique key
        # made this one wait for it), and it alone raises the alert and sends the email.
        if (saved := _sent_before(client, entry_key)) is not None:
            return saved
        raise
    audit_record(
        request=request,
        action="kapflow.measures.response.recorded",
        client=client,
        obj=response,
        detail={"instrument": instrument.key, "on_behalf": entered_by is not None},
    )
    if result.alerts:
        alert_raise(request=request, client=client, response=response)
    if waiting is not None:
        _answer_waiting_task(request=request, response=response, task=waiting)
    return response


def _sent_before(client: Client, entry_key) -> Response | None:
    if entry_key is None:
        return None
    return Response.objects.filter(client=client, entry_key=entry_key).first()


def _waiting_task(client: Client, instrument: str, reason: str) -> MeasureTask | None:
    """The client's earliest waiting portal task for this questionnaire and occasion, locked."""
    return (
        MeasureTask.objects.select_for_update(no_key=True)
        .filter(
            client=client,
            instrument=instrument,
            reason=reason,
            response__isnull=True,
            withdrawn_at__isnull=True,
        )
        .order_by("due_at", "pk")
        .first()
    )


def _answer_waiting_task(*, request, response: Response, task: MeasureTask) -> None:
    """A form entered by staff on the client's behalf answers the client's waiting portal task
    for the same questionnaire and occasion (the earliest), so that the portal stops asking
    for it and no reminder goes out for it."""
    task.response = response
    task.save(update_fields=["response"])
    audit_record(
        request=request,
        action="kapflow.measures.task.completed",
        client=response.client,
        obj=task,
        detail={"instrument": task.instrument, "reason": task.reason, "on_behalf": True},
    )


# Who takes an urgent alert, in order: the primary therapist, then another therapist on the
# care team, then its prescriber.
ALERT_ROLES = [
    CareTeamMember.Role.PRIMARY_THERAPIST,
    CareTeamMember.Role.THERAPIST,
    CareTeamMember.Role.PRESCRIBER,
]


def alert_raise(*, request, client: Client, response: Response) -> Alert:
    """Open an urgent alert for the clinician who follows it up the same day: the first active
    clinician of the care team in ALERT_ROLES order, so that a primary therapist away (inactive)
    or missing does not leave it with nobody. Emailed to them (no clinical detail). With no
    clinician on the care team it stays unassigned, and every clinician who sees the client has
    it on their dashboard."""
    members = list(
        CareTeamMember.objects.filter(
            client=client, role__in=ALERT_ROLES, user__is_active=True
        ).select_related("user")
    )
    members.sort(key=lambda member: ALERT_ROLES.index(member.role))
    clinician = members[0].user if members else None
    alert = Alert.objects.create(
        client=client, kind=Alert.Kind.SUICIDALITY, response=response, assigned_to=clinician
    )
    audit_record(
        request=request,
        action="kapflow.measures.alert.raised",
        client=client,
        obj=alert,
        detail={"assigned": members[0].role if members else None},
    )
    if clinician is not None and clinician.email:
        # Through the reminders' outbox: retried if the mail server refuses it, and on the
        # admin's Reminders page if it still fails (as "Staff notice": nothing of what it is).
        notice = reminder_create(
            due=Due(f"alert:{alert.pk}", Reminder.Kind.URGENT, clinician, client, alert.raised_at)
        )
        if notice is not None:
            transaction.on_commit(lambda: _queue_notice(notice))
    return alert


def _queue_notice(notice: Reminder) -> None:
    try:
        queue_send(reminder_ids=[notice.pk])
    except Exception:
        # The queue is unreachable: the next sweep finds the notice waiting and queues it.
        logger.exception("The urgent alert notice %s could not be queued.", notice.pk)


class AlreadyClosed(Exception):
    pass


@transaction.atomic
def alert_close(*, request, alert: Alert, follow_up: str) -> Alert:
    """Close an alert with the clinician's documented follow-up."""
    alert = Alert.objects.select_for_update(no_key=True).get(pk=alert.pk)
    if alert.closed_at is not None:
        raise AlreadyClosed
    alert.closed_at = timezone.now()
    alert.closed_by = request.user
    alert.follow_up = follow_up
    alert.full_clean()
    alert.save(update_fields=["closed_at", "closed_by", "follow_up"])
    audit_record(request=request, action="kapflow.measures.alert.closed", client=alert.client, obj=alert)
    return alert


class TaskClosed(Exception):
    """The task was answered or withdrawn before this answer arrived."""

    def __init__(self, task: MeasureTask):
        super().__init__("this form is no longer waiting")
        self.task = task


@transaction.atomic
def task_complete(*, request, task: MeasureTask, answers: dict[str, int]) -> Response:
    """Save the client's own answers to a waiting task (raises scoring.Incomplete when some are
    missing, TaskClosed when the task is already done or withdrawn). The response is recorded
    with the task's reason as its context, and through response_record, so that a PHQ-9 item 9
    answer above 0 raises the urgent alert as it does on the staff side."""
    task = MeasureTask.objects.select_for_update(no_key=True).select_related("client").get(pk=task.pk)
    if not task.is_open:
        raise TaskClosed(task)
    response = response_record(
        request=request,
        client=task.client,
        instrument=instruments.INSTRUMENTS[task.instrument],
        answers=answers,
        context=task.reason,
    )
    task.response = response
    task.save(update_fields=["response"])
    audit_record(
        request=request,
        action="kapflow.measures.task.completed",
        client=task.client,
        obj=task,
        detail={"instrument": task.instrument, "reason": task.reason},
    )
    return response
