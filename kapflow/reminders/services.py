"""Writes for reminders: the sweep that creates them, the worker's steps while sending one, and
the admin's "send again". Each write leaves its audit row in the same transaction; the sweep and
the worker act for no one (the audit row's actor is empty: the system)."""

import datetime
import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.practice.models import Practice
from kapflow.reminders.emails import group_key
from kapflow.reminders.models import Reminder, SweepMark
from kapflow.reminders.sources import SOURCES, Due

logger = logging.getLogger(__name__)

SWEEP = "reminders"
# How often the worker runs the sweep (the periodic task in kapflow/reminders/tasks.py). On the
# very first run, the journal prompts of this last stretch are looked at.
SWEEP_EVERY = datetime.timedelta(minutes=5)
ERROR_LENGTH = 500
# A failed send is tried again after each of these waits; after the last try the reminder is
# marked failed and shown to the admin. Four attempts over about two hours.
RETRY_AFTER = [datetime.timedelta(minutes=m) for m in (2, 15, 90)]
ATTEMPTS = len(RETRY_AFTER) + 1

# The task that sends one email for a person's reminders (kapflow.reminders.tasks.send_reminders).
# The tasks module calls this one, so this one may not import it: the task registers itself here
# when the app starts (RemindersConfig.ready), and every queueing goes through `queue_send`.
_send_task = None


def send_task_register(task) -> None:
    """Called once by RemindersConfig.ready with the send task."""
    global _send_task
    _send_task = task


def queue_send(*, reminder_ids: list[int], run_after: datetime.datetime | None = None) -> None:
    """Queue one email for these reminders (one person's), now or at `run_after`. Raises whatever
    the queue raises when it is unreachable; the callers say what then happens to the reminder."""
    if _send_task is None:
        raise RuntimeError("The reminders app has not registered its send task (RemindersConfig.ready).")
    task = _send_task if run_after is None else _send_task.using(run_after=run_after)
    task.enqueue(reminder_ids=reminder_ids)


def reminder_create(*, due: Due) -> Reminder | None:
    """Save one reminder, or None when it exists already (another sweep got there first: the
    unique key and recipient decide, so the same reminder is never created twice)."""
    try:
        with transaction.atomic():
            reminder = Reminder(
                key=due.key,
                kind=due.kind,
                recipient=due.recipient,
                address=due.recipient.email,
                client=due.client,
                due_at=due.due_at,
            )
            reminder.full_clean(validate_unique=False, validate_constraints=False)
            reminder.save()
            audit_record(
                action="kapflow.reminders.reminder.created",
                client=due.client,
                obj=reminder,
                detail={"kind": reminder.kind},
            )
    except IntegrityError:
        return None
    return reminder


def sweep(now: datetime.datetime) -> list[Reminder]:
    """Run by the worker every few minutes: bring the measure tasks up to date, create a
        reminder for everything that has come due since, and queue one email per person for the new
    ones.
        Running it twice (or twice at once) sends nothing twice. Returns the new reminders.

        A source that fails is logged and skipped, so one fault does not silence every reminder;
        the journal's "since" only moves on when every source ran."""
    from kapflow.measures.schedule import schedule_measures

    healthy = True
    try:
        schedule_measures(now)
    except Exception:
        healthy = False
        logger.exception("The measure schedule failed during the reminder sweep.")
    practice = Practice.load()
    mark = SweepMark.objects.filter(name=SWEEP).first()
    since = mark.ran_at if mark is not None and mark.ran_at < now else now - SWEEP_EVERY
    due: list[Due] = []
    for source in SOURCES:
        try:
            due.extend(source(now, since, practice))
        except Exception:
            healthy = False
            logger.exception("The reminder source %s failed.", source.__name__)
    existing = set(Reminder.objects.filter(key__in={d.key for d in due}).values_list("key", "recipient_id"))
    created = []
    for item in due:
        if (item.key, item.recipient.pk) in existing:
            continue
        existing.add((item.key, item.recipient.pk))
        reminder = reminder_create(due=item)
        if reminder is not None:
            created.append(reminder)
    if healthy:
        SweepMark.objects.update_or_create(name=SWEEP, defaults={"ran_at": max(now, since)})
    groups: dict[tuple, list[int]] = {}
    for reminder in [*created, *stalled(now)]:
        groups.setdefault(group_key(reminder), []).append(reminder.pk)
    for ids in groups.values():
        try:
            queue_send(reminder_ids=ids)
        except Exception:
            # The queue is unreachable: the reminders stay queued, and a later sweep finds them
            # (`stalled`) and tries again.
            logger.exception("Reminders %s could not be queued.", ids)
    return created


# A queued reminder never picked up within this long after it was created (or after its last
# attempt's retry wait) lost its place on the queue: the queue was down when it was added, or its
# storage was emptied. One whose worker has been "sending" it this long died while sending.
STALLED_AFTER = 2 * SWEEP_EVERY
SENDING_STALLED_AFTER = datetime.timedelta(hours=1)
TOO_LATE = datetime.timedelta(days=1)


def stalled(now: datetime.datetime) -> list[Reminder]:
    """Reminders left behind by the queue, to be queued again, so that none is silently never
    sent: queued and never tried since long enough, queued after a failed attempt and past that
    attempt's retry wait, or stuck "sending" (counted as a failed attempt, so that a reminder
    that kills its worker every time still ends up failed on the admin's page). One still waiting a
    day after it fell due is marked failed instead. Sending twice is not possible: a send first
    claims its reminder (`reminder_claim`). Two queries, and one write per reminder changed."""
    stuck = Reminder.objects.filter(
        status=Reminder.Status.SENDING, last_attempt_at__lt=now - SENDING_STALLED_AFTER
    ).select_related("recipient", "client")
    for reminder in stuck:
        with transaction.atomic():
            # Only if it is still stuck: a worker may have finished it meanwhile.
            if Reminder.objects.filter(pk=reminder.pk, status=Reminder.Status.SENDING).exists():
                reminder_mark_attempt_failed(
                    reminder=reminder,
                    error="The worker stopped while sending this reminder.",
                    final=reminder.attempts >= ATTEMPTS,
                )
    waiting = Reminder.objects.filter(status=Reminder.Status.QUEUED, created_at__lt=now - STALLED_AFTER)
    left = []
    for reminder in waiting.select_related("recipient", "client"):
        if reminder.due_at < now - TOO_LATE:
            # "An appointment coming up soon", a day after it fell due, would mislead: the admin's
            # page shows it as failed instead, where it can still be sent again.
            with transaction.atomic():
                reminder_mark_attempt_failed(
                    reminder=reminder,
                    error="Not sent: it was still waiting for the queue a day after it fell due.",
                    final=True,
                )
            continue
        if reminder.attempts and reminder.last_attempt_at is not None:
            wait = RETRY_AFTER[min(reminder.attempts, len(RETRY_AFTER)) - 1]
            if reminder.last_attempt_at + wait + STALLED_AFTER > now:
                continue  # its retry is still on the queue, waiting for its time
        left.append(reminder)
    return left


# What a higher app does when one of its reminders has gone out (the runbook records when the
# prescriber was told of an in-session alert). Registered by that app when it starts
# (kapflow/dosing/apps.py), so that this app need not import it.
_sent_handlers: dict[str, list] = {}


def on_reminder_sent(kind: str, handler) -> None:
    """Call `handler(reminder=...)` in the transaction that marks a reminder of `kind` sent."""
    handlers = _sent_handlers.setdefault(kind, [])
    if handler not in handlers:
        handlers.append(handler)


def reminder_claim(*, reminder_id: int) -> Reminder | None:
    """The worker takes a queued reminder to send it: queued -> sending, one more attempt. None
    when it is not queued (already sent, failed, or taken by another worker), so a send task
    that runs twice sends once."""
    now = timezone.now()
    taken = Reminder.objects.filter(pk=reminder_id, status=Reminder.Status.QUEUED).update(
        status=Reminder.Status.SENDING, attempts=F("attempts") + 1, last_attempt_at=now
    )
    if not taken:
        return None
    return Reminder.objects.select_related("recipient", "client").get(pk=reminder_id)


@transaction.atomic
def reminder_mark_sent(*, reminder: Reminder) -> Reminder:
    """The email went out."""
    reminder.status = Reminder.Status.SENT
    reminder.sent_at = timezone.now()
    reminder.last_error = ""
    reminder.save(update_fields=["status", "sent_at", "last_error"])
    for handler in _sent_handlers.get(reminder.kind, []):
        handler(reminder=reminder)
    audit_record(
        action="kapflow.reminders.reminder.sent",
        client=reminder.client,
        obj=reminder,
        detail={"kind": reminder.kind, "attempt": reminder.attempts},
    )
    return reminder


@transaction.atomic
def reminder_mark_attempt_failed(*, reminder: Reminder, error: str, final: bool) -> Reminder:
    """The email could not be sent. Back to the queue for a later try, or, after the last
    attempt, failed: shown to the admin with the error, waiting for "Send again"."""
    reminder.status = Reminder.Status.FAILED if final else Reminder.Status.QUEUED
    reminder.last_error = error[:ERROR_LENGTH]
    reminder.save(update_fields=["status", "last_error"])
    audit_record(
        action="kapflow.reminders.reminder.failed" if final else "kapflow.reminders.reminder.attempt_failed",
        client=reminder.client,
        obj=reminder,
        detail={"kind": reminder.kind, "attempt": reminder.attempts},
    )
    return reminder


@transaction.atomic
def reminder_mark_not_needed(*, reminder: Reminder) -> Reminder:
    """Its reason passed before it was sent (kapflow.reminders.sources.still_due): it is not
    sent, now or later. The admin's page says so without saying why (the why would tell the
    admin about a form or a clearance). Taking it to send counted an attempt; nothing was
    tried, so the count goes back."""
    reminder.status = Reminder.Status.NOT_NEEDED
    reminder.last_error = ""
    reminder.attempts = max(reminder.attempts - 1, 0)
    reminder.save(update_fields=["status", "last_error", "attempts"])
    audit_record(
        action="kapflow.reminders.reminder.not_needed",
        client=reminder.client,
        obj=reminder,
        detail={"kind": reminder.kind, "attempt": reminder.attempts},
    )
    return reminder


class NotFailed(Exception):
    """Only a failed reminder may be sent again."""


@transaction.atomic
def reminder_requeue(*, reminder: Reminder, actor, request=None) -> Reminder:
    """The admin's "Send again" on a failed reminder: back to the queue with a fresh set of
    attempts. The previous count stays in the audit row. Raises NotFailed otherwise."""
    locked = Reminder.objects.select_for_update(no_key=True).get(pk=reminder.pk)
    if locked.status != Reminder.Status.FAILED:
        raise NotFailed
    previous = locked.attempts
    locked.status = Reminder.Status.QUEUED
    locked.attempts = 0
    locked.save(update_fields=["status", "attempts"])
    audit_record(
        request=request,
        actor=actor,
        action="kapflow.reminders.reminder.requeued",
        client=locked.client,
        obj=locked,
        detail={"kind": locked.kind, "previous_attempts": previous},
    )
    return locked
