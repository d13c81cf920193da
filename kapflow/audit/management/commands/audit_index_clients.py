"""`manage.py audit_index_clients`: makes sure every audit row that names clients in its detail
(the dashboard's, the calendar's and their lists' reads) has its rows in the client filter's
index (kapflow.audit.models.AuditEventClient). Rows are written with their audit row; this finds
any written without them (by code older than the index during a rolling deploy, say) and adds
what is missing. Running it again adds nothing. Reads only the actions that name clients,
through their (action, at, id) index, a batch at a time; `--after ID` starts past a row id."""

from django.core.management.base import BaseCommand

from kapflow.audit.models import AuditEvent, AuditEventClient, named_client_ids

# The actions whose detail lists "clients" (tests/test_audit_sentences.py keeps this list true).
NAMING_CLIENTS = (
    "kapflow.dashboard.list_viewed",
    "kapflow.dashboard.viewed",
    "kapflow.visits.calendar.viewed",
    "kapflow.visits.readiness.viewed",
)
BATCH = 2000


def index_missing(*, after: int = 0, batch: int = BATCH) -> tuple[int, int]:
    """(audit rows read, index rows added)."""
    read = added = 0
    last = after
    while True:
        rows = list(
            AuditEvent.objects.filter(action__in=NAMING_CLIENTS, pk__gt=last)
            .order_by("pk")
            .values_list("pk", "at", "detail")[:batch]
        )
        if not rows:
            return read, added
        read += len(rows)
        last = rows[-1][0]
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
        added += len(missing)


class Command(BaseCommand):
    help = "Adds any missing rows to the audit page's client-filter index."

    def add_arguments(self, parser):
        parser.add_argument("--after", type=int, default=0, help="start past this audit row id")

    def handle(self, *args, after: int, **options):
        read, added = index_missing(after=after)
        self.stdout.write(f"{read} audit rows naming clients read; {added} index rows added.")
