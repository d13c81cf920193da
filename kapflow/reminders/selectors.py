"""Reads for the admin's reminders page."""

from dataclasses import dataclass

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

    @property
    def shown_counts(self) -> dict[str, str]:
        """Each status's count as the page shows it: "10,000+" past COUNTED."""
        return {
            status: f"{COUNTED:,}+" if count > COUNTED else f"{count:,}"
            for status, count in self.counts.items()
        }


def overview(*, status: str = "") -> Overview:
    """Counts by status (each read no further than COUNTED + 1 rows of its index), the most
    recent failed reminders, and the most recent reminders (of one status when asked), newest
    first on the index of their time. A fixed number of queries, each reading a bounded number
    of rows, whatever the number of reminders."""
    counts = {
        value: Reminder.objects.filter(status=value).order_by().values("pk")[: COUNTED + 1].count()
        for value in Reminder.Status.values
    }
    failed = Reminder.objects.for_admin().filter(status=Reminder.Status.FAILED)
    failed = list(failed.order_by("-last_attempt_at", "-pk")[:RECENT])
    recent = Reminder.objects.for_admin()
    if status in Reminder.Status.values:
        recent = recent.filter(status=status)
    return Overview(counts=counts, failed=failed, recent=list(recent[:RECENT]))
