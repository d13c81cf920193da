"""`manage.py audit_index_clients`: makes sure every audit row that names clients in its detail
(the dashboard's, the calendar's and their lists' reads) has its rows in the client filter's
index (kapflow.audit.models.AuditEventClient). Rows are written with their audit row; this finds
any written without them (by code older than the index during a rolling deploy, say) and adds
what is missing. Running it again adds nothing. Each action is read through the (action, at, id)
index, newest first, a batch at a time; `--since` stops at a moment (after a deploy, the hour
before it is enough), else the whole log is read."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kapflow.audit.models import AuditEvent, AuditEventClient, named_client_ids

# The actions whose detail lists "clients" (tests/test_audit_sentences.py keeps this list true).
NAMING_CLIENTS = (
    "kapflow.billing.estimates_due.viewed",
    "kapflow.billing.overview.viewed",
    "kapflow.controlled.lot.viewed",
    "kapflow.controlled.report.downloaded",
    "kapflow.controlled.report.viewed",
    "kapflow.dashboard.list_viewed",
    "kapflow.dashboard.viewed",
    "kapflow.dosing.rems.list_viewed",
    "kapflow.visits.calendar.viewed",
    "kapflow.visits.readiness.viewed",
)
BATCH = 2000


def _add_missing(rows) -> int:
    have = set(
        AuditEventClient.objects.filter(event_id__in=[pk for pk, _, _ in rows]).values_list(
            "event_id", "client_id"
        )
    )
    missing = [
        AuditEventClient(event_id=pk, client_id=client_id, at=at)
        for pk, at, detail in rows
        for client_id in named_client_ids(detail)
        if (pk, client_id) not in have
    ]
    AuditEventClient.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def index_missing(*, since: datetime.datetime | None = None, batch: int = BATCH) -> tuple[int, int]:
    """(audit rows read, index rows added): each action newest first, in the order of its index,
    with a keyset on (at, id), down to `since` when given."""
    read = added = 0
    for action in NAMING_CLIENTS:
        rows_of = AuditEvent.objects.filter(action=action)
        if since is not None:
            rows_of = rows_of.filter(at__gte=since)
        rows_of = rows_of.order_by("-at", "-id").values_list("pk", "at", "detail")
        after = Q()
        while True:
            rows = list(rows_of.filter(after)[:batch])
            if not rows:
                break
            read += len(rows)
            added += _add_missing(rows)
            last_pk, last_at, _ = rows[-1]
            after = Q(at__lt=last_at) | Q(at=last_at, id__lt=last_pk)
    return read, added


class Command(BaseCommand):
    help = "Adds any missing rows to the audit page's client-filter index."

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", help="read only rows from this moment on (ISO 8601, e.g. 2026-12-04T09:00)"
        )

    def handle(self, *args, since: str | None, **options):
        moment = None
        if since:
            moment = parse_datetime(since)
            if moment is None:
                raise CommandError(f"--since {since!r}: give a moment as 2026-12-04T09:00.")
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
        read, added = index_missing(since=moment)
        self.stdout.write(f"{read} audit rows naming clients read; {added} index rows added.")
