"""Reads for the admin's reminders page."""

from dataclasses import dataclass

from django.db.models import Count

from kapflow.reminders.models import Reminder

# How many of the most recent reminders the page lists below the failed ones.
RECENT = 50


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]  # status -> how many, every status present
    failed: list[Reminder]
    recent: list[Reminder]


def overview(*, status: str = "") -> Overview:
    """Counts by status, the most recent failed reminders, and the most recent
    reminders (of one status when asked). Three queries whatever the number of reminders."""
    counts = dict.fromkeys(Reminder.Status.values, 0)
    counts.update(Reminder.objects.order_by().values_list("status").annotate(n=Count("pk")))
    failed = Reminder.objects.for_admin().filter(status=Reminder.Status.FAILED)
    failed = list(failed.order_by("-last_attempt_at", "-pk")[:RECENT])
    recent = Reminder.objects.for_admin()
    if status in Reminder.Status.values:
        recent = recent.filter(status=status)
    return Overview(counts=counts, failed=failed, recent=list(recent[:RECENT]))
