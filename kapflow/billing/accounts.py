"""What the staff's billing pages read (docs/billing.md, "The client's account", "An invoice",
"The billing page"): an invoice's status in words, the completed visits the schedule would
charge but that have no charge, and the practice's money owed by client and by age. Each read
runs a constant number of queries whatever the number of clients, invoices or visits: the fee
schedule is read once and chosen from in Python (kapflow.billing.fees), the balances come from
kapflow.billing.selectors."""

import dataclasses
import datetime
from decimal import Decimal

from django.db.models import Count, Min, QuerySet, Sum
from django.utils import timezone

from kapflow.billing import fees as fee_schedule
from kapflow.billing.models import CENT, Charge, Fee, Invoice
from kapflow.billing.selectors import AGE_BUCKETS, ZERO, age_bucket
from kapflow.billing.services import money
from kapflow.visits.models import Visit

PAID, OWED, PART_PAID, OVERDUE = "Paid", "Owed", "Part paid", "Overdue"


def invoice_status(invoice: Invoice, today: datetime.date) -> str:
    """An invoice annotated by selectors.with_totals, in words: nothing left is "Paid" (written
    off included); past its due day with something left, "Overdue"; something paid or written
    off but not all, "Part paid"; else "Owed"."""
    if invoice.balance <= 0:
        return PAID
    if invoice.due_on < today:
        return OVERDUE
    if invoice.balance < invoice.total:
        return PART_PAID
    return OWED


STATUS_TONE = {PAID: "ok", OWED: "quiet", PART_PAID: "warn", OVERDUE: "danger"}


@dataclasses.dataclass
class Uncharged:
    """A completed visit with no charge whose kind the schedule bills on its day."""

    visit: Visit
    service_date: datetime.date
    lines: list[Fee]
    account_url: str = ""  # the client's account, where a page links each row (set by the page)

    @property
    def total(self) -> Decimal:
        return sum((fee.amount for fee in self.lines), ZERO)


def uncharged_visits(visits: QuerySet[Visit], *, clients: QuerySet | None = None) -> list[Uncharged]:
    """The completed visits among `visits` (and of the scoped `clients`, when given) with no
    charge at all although the fee schedule in force on their day has billable lines for them (a
    visit whose lines are all free is not listed: it owes nothing). Two queries, and one more
    with `clients`: the schedule, then the candidate visits (of the kinds the schedule bills, on
    or after its first line's day), oldest first."""
    schedule = list(Fee.objects.order_by("kind", "minutes_from", "code", "-effective_from", "-pk"))
    billed_kinds = {fee.kind for fee in schedule if not fee.is_free}
    if not billed_kinds:
        return []
    first_day = min(fee.effective_from for fee in schedule)
    since = timezone.make_aware(datetime.datetime.combine(first_day, datetime.time.min))
    # `charged` is kept by the database as charges are written (kapflow.billing.db): the index it
    # leads finds the few completed visits without a charge, not the practice's years of visits.
    candidates = list(
        # `charged__in=[False]`, not `charged=False`: Django writes the latter as NOT charged,
        # which SQLite cannot look up in an index; an IN of one value it can.
        visits.filter(
            status=Visit.Status.COMPLETED, charged__in=[False], kind__in=billed_kinds, starts_at__gte=since
        )
        .select_related("client", "clinician")
        .order_by("starts_at", "pk")
    )
    if clients is not None:
        # The scope applied to the few candidates' clients: as a filter of the query above,
        # SQLite would walk every visit of every client in scope instead of that index.
        seen = set(clients.filter(pk__in={v.client_id for v in candidates}).values_list("pk", flat=True))
        candidates = [visit for visit in candidates if visit.client_id in seen]
    found = []
    for visit in candidates:
        day = timezone.localdate(visit.starts_at)
        lines = fee_schedule.billable(fee_schedule.lines_for(visit.kind, visit.minutes, day, fees=schedule))
        if lines:
            found.append(Uncharged(visit=visit, service_date=day, lines=lines))
    return found


@dataclasses.dataclass
class Debtor:
    """One client's money owed: the balance, the oldest due day, and the balance by age. The
    client itself is read only for the debtors a page shows (`name_debtors`)."""

    client_id: int
    client: object = None
    balance: Decimal = ZERO
    oldest_due: datetime.date | None = None
    invoices: int = 0
    by_age: dict[str, Decimal] = dataclasses.field(default_factory=lambda: dict.fromkeys(_KEYS, ZERO))
    account_url: str = ""  # the client's account, where a page links each row (set by the page)

    @property
    def cells(self) -> list[tuple[str, str]]:
        """Each age column's label and what the client owes in it, as the page prints it ("—" for
        nothing): worked out here once rather than by template filters in every cell of a page."""
        owed = self.by_age
        return [(label, money(owed[key]) if owed[key] else "—") for key, label, *_ in AGE_BUCKETS]


_KEYS = [key for key, *_ in AGE_BUCKETS]


@dataclasses.dataclass
class Owed:
    debtors: list[Debtor]
    by_age: dict[str, Decimal]
    total: Decimal

    @property
    def ages(self) -> list[tuple[str, str, Decimal]]:
        return [(key, label, self.by_age[key]) for key, label, *_ in AGE_BUCKETS]


def owed_by_client(clients: QuerySet, today: datetime.date) -> Owed:
    """Every invoice with a balance, of the `clients` given (a scoped queryset), summed by client
    and by age (selectors.AGE_BUCKETS: days past the invoice's due day). Two queries, whatever
    the number of invoices; clients are ordered by their oldest due day, then by balance."""
    # What each owes as the database keeps it (Invoice.owed_cents), through its partial index:
    # only the open invoices are read, not the practice's years of paid ones, and as plain values.
    invoices = list(
        Invoice.objects.filter(owed_cents__gt=0)
        .order_by("due_on", "number")
        .values_list("client_id", "due_on", "owed_cents")
    )
    # The scope applied to the few open invoices' clients (one query on their ids): as a filter
    # of the query above, SQLite would probe every client against every open invoice.
    seen = set(clients.filter(pk__in={row[0] for row in invoices}).values_list("pk", flat=True))
    debtors: dict[int, Debtor] = {}
    by_age = dict.fromkeys(_KEYS, ZERO)
    for client_id, due_on, cents in invoices:
        if client_id not in seen:
            continue
        owed = cents * CENT
        debtor = debtors.setdefault(client_id, Debtor(client_id=client_id))
        debtor.balance += owed
        debtor.invoices += 1
        if debtor.oldest_due is None or due_on < debtor.oldest_due:
            debtor.oldest_due = due_on
        key = age_bucket(due_on, today)
        debtor.by_age[key] += owed
        by_age[key] += owed
    ordered = sorted(debtors.values(), key=lambda d: (d.oldest_due, -d.balance, d.client_id))
    return Owed(debtors=ordered, by_age=by_age, total=sum(by_age.values(), ZERO))


def name_debtors(debtors: list[Debtor], clients: QuerySet) -> None:
    """Read the clients of the debtors shown (a page of them), through the scoped `clients`:
    one query."""
    named = clients.in_bulk([debtor.client_id for debtor in debtors])
    for debtor in debtors:
        debtor.client = named[debtor.client_id]


def waiting_by_client(clients: QuerySet) -> list[dict]:
    """The clients (of the scoped `clients`) with charges not yet invoiced: each client, how many
    charges, their sum and the oldest day of service, oldest first. Two queries."""
    rows = list(
        Charge.objects.filter(invoiced=False, client__in=clients)
        .values("client_id")
        .annotate(count=Count("pk"), total=Sum("amount"), oldest=Min("service_date"))
        .order_by("oldest", "client_id")
    )
    if not rows:
        return []
    named = {client.pk: client for client in clients.filter(pk__in=[row["client_id"] for row in rows])}
    # Each sum quantized: SQLite sums decimals as floating point.
    return [
        row | {"client": named[row["client_id"]], "total": row["total"].quantize(CENT)}
        for row in rows
        if row["client_id"] in named
    ]
