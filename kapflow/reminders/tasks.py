"""The reminders' background work. The sweep runs every few minutes as a huey periodic task
(the worker, `manage.py run_huey`, finds this module by its name); each email, one per person
and sweep, is sent by a task queued through the django-tasks API.

This module calls kapflow.reminders.services and never the other way round: the services queue
a send through `services.queue_send`, with which `send_reminders` is registered when the app
starts (kapflow/reminders/apps.py)."""

import logging

from django.core.mail import send_mail
from django.utils import timezone
from django_tasks import task
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from kapflow.practice.models import Practice
from kapflow.reminders import services, sources
from kapflow.reminders.emails import render_reminders
from kapflow.reminders.services import ATTEMPTS, RETRY_AFTER

logger = logging.getLogger(__name__)


@task()
def send_reminders(*, reminder_ids: list[int]) -> str:
    """Send one email for these reminders (one person's, from one sweep). Errors are caught
    here, not left to the queue's own retry, so that every attempt is counted on the reminders
    and the last one marks them failed."""
    reminders = [r for pk in reminder_ids if (r := services.reminder_claim(reminder_id=pk)) is not None]
    if not reminders:
        return "not queued"
    if not reminders[0].recipient.is_active:
        # Deactivated since the reminder was made (a retry, or "Send again", can come hours or
        # days later): an account that may no longer sign in gets no more email.
        for reminder in reminders:
            services.reminder_mark_attempt_failed(
                reminder=reminder, error="Not sent: the account is no longer active.", final=True
            )
        return "inactive"
    due = sources.still_due(reminders, timezone.now())
    for reminder in reminders:
        if reminder.pk not in due:
            services.reminder_mark_not_needed(reminder=reminder)
    reminders = [r for r in reminders if r.pk in due]
    if not reminders:
        return "not needed"
    try:
        email = render_reminders(reminders, Practice.load())
        send_mail(
            subject=email.subject,
            message=email.text,
            html_message=email.html,
            from_email=None,
            recipient_list=[reminders[0].address],
        )
    except Exception as error:
        attempts = max(r.attempts for r in reminders)
        final = attempts >= ATTEMPTS
        for reminder in reminders:
            services.reminder_mark_attempt_failed(
                reminder=reminder, error=f"{type(error).__name__}: {error}", final=final
            )
        ids = [r.pk for r in reminders]
        if final:
            # The error's kind only: an SMTP refusal quotes the recipient's address, which the
            # admin's Reminders page shows and the log must not.
            logger.warning("Reminders %s failed after %s attempts: %s", ids, attempts, type(error).__name__)
            return "failed"
        wait = RETRY_AFTER[attempts - 1]
        services.queue_send(reminder_ids=ids, run_after=timezone.now() + wait)
        return "retrying"
    for reminder in reminders:
        services.reminder_mark_sent(reminder=reminder)
    logger.info(
        "Reminders %s sent (%s).", [r.pk for r in reminders], ", ".join(sorted({r.kind for r in reminders}))
    )
    return "sent"


@db_periodic_task(crontab(minute=f"*/{services.SWEEP_EVERY.seconds // 60}"), name="kapflow.reminders.sweep")
@lock_task("kapflow.reminders.sweep")
def sweep_reminders() -> int:
    """Every services.SWEEP_EVERY (five minutes): create and queue what has come due. The lock
    keeps two workers from sweeping at once; the unique keys would keep them from sending twice
    anyway."""
    return len(services.sweep(timezone.now()))
