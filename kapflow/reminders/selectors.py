"""Reads for the admin's reminders page."""

from dataclasses import dataclass

from django.db.models import Q

from kapflow.reminders.models import Reminder

# How many of the most recent reminders the page lists below the failed ones.
RECENT = 50
# Each status is counted up to this many: the sent ones grow by some hundreds a day for as long
# as the practice runs, and the page needs to know that there are many, not exactly how many (an
# exact count reads every row of the status).
COUNTED = 10_000


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]  # status -> how many, up to COUNTED + 1 (more than COUNTED)
    failed: list[Reminder]
    recent: list[Reminder]
    # The id the next page of `recent` continues from (its "Older" link), or None at the end.
    older_than: int | None = None
    # Whether `recent` continues from an earlier page (not the newest).
    continued: bool = False

    @property
    def shown_counts(self) -> dict[str, str]:
        """Each status's count as the page shows it: "10,000+" past COUNTED."""
        return {
            status: f"{COUNTED:,}+" if count > COUNTED else f"{count:,}"
            for status, count in self.counts.items()
        }


def overview(*, status: str = "", before: int | None = None) -> Overview:
    """Counts by status (each read no further than COUNTED + 1 rows of its index), the most
    recent failed reminders, and the most recent reminders (of one status when asked), newest
    first on the index of their time: RECENT of them, older than the reminder `before` when
    given (the page's "Older" link: a page by key, never by counting what it skips). A fixed
    number of queries, each reading a bounded number of rows, whatever the number of reminders."""
    counts = {
        value: Reminder.objects.filter(status=value).order_by().values("pk")[: COUNTED + 1].count()
        for value in Reminder.Status.values
    }
    failed = Reminder.objects.for_admin().filter(status=Reminder.Status.FAILED)
    failed = list(failed.order_by("-last_attempt_at", "-pk")[:RECENT])
    recent = Reminder.objects.for_admin()
    if status in Reminder.Status.values:
        recent = recent.filter(status=status)
    at = None
    if before is not None:
        at = Reminder.objects.filter(pk=before).values_list("created_at", flat=True).first()
        # A reminder is never deleted; an id that is no one's starts at the newest.
        if at is not None:
            # A range on the index's time, and the reminders of that same moment after it.
            recent = recent.filter(created_at__lte=at).exclude(Q(created_at=at) & Q(pk__gte=before))
    rows = list(recent.order_by("-created_at", "-pk")[: RECENT + 1])
    return Overview(
        counts=counts,
        failed=failed,
        recent=rows[:RECENT],
        older_than=rows[RECENT - 1].pk if len(rows) > RECENT else None,
        continued=at is not None,
    )
