"""Balances and totals, derived from the ledger's rows in a constant number of queries whatever
the number of invoices (docs/billing.md)."""

import datetime
from decimal import Decimal

from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from kapflow.billing.models import CENT, Charge, Entry, Invoice
from kapflow.clients.models import ADULT_AGE, Client, age_on

ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=12, decimal_places=2)

# How old what is owed is, by days since the invoice was due: the coordinator's aging columns.
AGE_BUCKETS = (
    ("current", "Not yet due", None, 0),
    ("1_30", "1–30 days overdue", 1, 30),
    ("31_60", "31–60 days overdue", 31, 60),
    ("61_90", "61–90 days overdue", 61, 90),
    ("over_90", "Over 90 days overdue", 91, None),
)


def _summed(queryset, group: str) -> Coalesce:
    """The sum of `amount` over `queryset` (filtered on an OuterRef), as a subquery: zero when empty."""
    total = queryset.order_by().values(group).annotate(total=Sum("amount")).values("total")[:1]
    return Coalesce(Subquery(total, output_field=_MONEY), Value(ZERO), output_field=_MONEY)


def with_totals(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Invoices annotated with `total` (their charges), `paid`, `refunded`, `written_off` and
    `balance` (total − paid + refunded − written off): four subqueries, whatever the number."""
    charges = Charge.objects.filter(invoice_line__invoice=OuterRef("pk"))
    entries = Entry.objects.filter(invoice=OuterRef("pk"))
    return (
        invoices.annotate(
            total=_summed(charges, "invoice_line__invoice_id"),
            paid=_summed(entries.filter(kind=Entry.Kind.PAYMENT), "invoice_id"),
            refunded=_summed(entries.filter(kind=Entry.Kind.REFUND), "invoice_id"),
            written_off=_summed(entries.filter(kind=Entry.Kind.WRITE_OFF), "invoice_id"),
        )
        .annotate(
            # In whole cents: SQLite sums and subtracts decimals as floating point, and 439.71 − 429.95
            # would come back 9.75999999999999 (and a paid invoice as a balance of 1e-14 above zero).
            # Each sum rounded to cents is exact, and so is arithmetic on them.
            balance_cents=ExpressionWrapper(
                _cents("total") - _cents("paid") + _cents("refunded") - _cents("written_off"),
                output_field=IntegerField(),
            )
        )
        .annotate(balance=ExpressionWrapper(F("balance_cents") * Value(CENT), output_field=_MONEY))
    )


_KINDS = (Entry.Kind.PAYMENT, Entry.Kind.REFUND, Entry.Kind.WRITE_OFF)


def add_totals(invoices: list[Invoice]) -> list[Invoice]:
    """The invoices given, read already, with with_totals' figures set on each (`total`, `paid`,
    `refunded`, `written_off`, `balance`) from two queries grouped by invoice, whatever their
    number: cheaper to build than with_totals' four subqueries for a page's list. In whole cents
    throughout, for the reason with_totals gives."""
    ids = [invoice.pk for invoice in invoices]
    cents = IntegerField()
    charged = dict(
        Charge.objects.filter(invoice_line__invoice_id__in=ids)
        .values("invoice_line__invoice_id")
        .annotate(cents=Sum(Round(F("amount") * 100), output_field=cents))
        .values_list("invoice_line__invoice_id", "cents")
    )
    moved: dict[tuple[int, str], int] = {
        (invoice_id, kind): int(total)
        for invoice_id, kind, total in Entry.objects.filter(invoice_id__in=ids)
        .values("invoice_id", "kind")
        .annotate(cents=Sum(Round(F("amount") * 100), output_field=cents))
        .values_list("invoice_id", "kind", "cents")
    }
    for invoice in invoices:
        total = int(charged.get(invoice.pk, 0))
        paid, refunded, written_off = (moved.get((invoice.pk, kind), 0) for kind in _KINDS)
        invoice.total, invoice.paid = total * CENT, paid * CENT
        invoice.refunded, invoice.written_off = refunded * CENT, written_off * CENT
        invoice.balance_cents = total - paid + refunded - written_off
        invoice.balance = invoice.balance_cents * CENT
    return invoices


def _cents(name: str) -> Round:
    return Round(F(name) * 100)


def client_balance(client: Client) -> Decimal:
    """What the client owes on every invoice (charges not yet invoiced are not owed yet)."""
    charged = (
        Charge.objects.filter(client=client, invoice_line__isnull=False).aggregate(t=Sum("amount"))["t"]
        or ZERO
    )
    moved = (
        Entry.objects.filter(client=client).aggregate(
            t=Sum(
                Case(
                    When(kind=Entry.Kind.REFUND, then=F("amount")), default=-F("amount"), output_field=_MONEY
                )
            )
        )["t"]
        or ZERO
    )
    return (charged + moved).quantize(CENT)


def age_bucket(due_on: datetime.date, today: datetime.date) -> str:
    overdue = (today - due_on).days
    for key, _label, low, high in AGE_BUCKETS:
        if (low is None or overdue >= low) and (high is None or overdue <= high):
            return key
    raise AssertionError(overdue)


def money_recipients(client: Client) -> list:
    """Who is told a statement or an estimate is ready: the client's own portal account and, for
    a minor, each guardian's who has legal authority to act for them. Only active accounts with
    an email address."""
    from kapflow.clients.models import Guardian

    people = []
    if client.portal_user_id and client.portal_user.is_active and client.portal_user.email:
        people.append(client.portal_user)
    if age_on(client.date_of_birth, timezone.localdate()) < ADULT_AGE:
        guardians = Guardian.objects.filter(
            client=client, has_legal_authority=True, portal_user__isnull=False, portal_user__is_active=True
        ).select_related("portal_user")
        for guardian in guardians:
            if guardian.portal_user.email and guardian.portal_user not in people:
                people.append(guardian.portal_user)
    return people
