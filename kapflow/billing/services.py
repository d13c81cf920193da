"""Charges, invoices and the money against them (docs/billing.md). Every write is here, each in
one transaction with its audit row; every amount is a Decimal in dollars and cents.

Locks (docs/billing.md, "What is locked"): charging a visit locks the visit's row (already held
when a visit is completed); issuing an invoice takes the audit chain's lock first, which numbers
invoices one after another and so also keeps two issuers from billing the same charge twice; an entry
against an invoice locks the invoice's row, so two payments, refunds or write-offs at once each
see the balance the other left."""

import datetime
import logging
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from kapflow.audit.chain import APPEND_LOCK_KEY
from kapflow.audit.services import audit_record
from kapflow.billing import fees as fee_schedule
from kapflow.billing.access import can_adjust, can_bill
from kapflow.billing.models import CENT, Charge, Entry, Invoice, InvoiceLine
from kapflow.clients.models import Client
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")


# The audit action of each kind of entry.
ENTRY_ACTIONS = {
    Entry.Kind.PAYMENT: "kapflow.billing.entry.payment",
    Entry.Kind.REFUND: "kapflow.billing.entry.refund",
    Entry.Kind.WRITE_OFF: "kapflow.billing.entry.write_off",
}


class BillingRefused(Exception):
    """A billing write refused, with the reasons a person reads."""

    def __init__(self, *problems: str):
        super().__init__(*problems)
        self.problems = list(problems)

    def __str__(self) -> str:
        return " ".join(self.problems)


def money(amount: Decimal) -> str:
    """ "$1,234.50": an amount as the pages and PDFs print it."""
    sign = "−" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def parse_amount(text: str) -> Decimal:
    """Dollars and cents typed by a person ("120", "120.5", "$1,200.00") as a Decimal; BillingRefused
    for anything else, including a fraction of a cent or an amount that is not above zero."""
    cleaned = str(text).strip().replace(",", "").removeprefix("$").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise BillingRefused("Give the amount in dollars and cents, for example 120.00.") from None
    if not amount.is_finite():
        raise BillingRefused("Give the amount in dollars and cents, for example 120.00.")
    if amount <= 0:
        raise BillingRefused("Give an amount above zero.")
    # Before quantizing: 1e400 (or forty nines) has more digits than the context holds, and
    # quantize would raise InvalidOperation rather than answer.
    if amount >= Decimal("10000000"):
        raise BillingRefused("That amount is too large for one entry.")
    if amount.quantize(CENT) != amount:
        raise BillingRefused("Give the amount in dollars and cents, for example 120.00.")
    return amount.quantize(CENT)


def _user(request):
    return request.user


# --- Charges -----------------------------------------------------------------------------------


@transaction.atomic
def visit_charge(*, request, visit: Visit, practice: Practice | None = None) -> list[Charge]:
    """Charge a completed visit at the fees in force on its day of service, once per billing code
    (a second call charges nothing more), and, where the practice invoices each visit, issue its
    invoice. Free lines charge nothing; a kind with no line in the schedule is left uncharged
    (the billing page lists it). The caller holds the visit's row (visit_transition locks it),
    or this locks it."""
    practice = practice or Practice.load()
    visit = (
        Visit.objects.select_for_update(of=("self",), no_key=True).select_related("client").get(pk=visit.pk)
    )
    if visit.status != Visit.Status.COMPLETED:
        raise BillingRefused("Only a completed visit is charged.")
    service_date = timezone.localdate(visit.starts_at)
    charged = set(Charge.objects.filter(visit=visit).values_list("code", flat=True))
    lines = fee_schedule.billable(fee_schedule.lines_for(visit.kind, visit.minutes, service_date))
    made = []
    for fee in lines:
        if fee.code in charged:
            continue
        modifiers = fee.modifiers.split()
        if visit.is_virtual and practice.virtual_modifier and practice.virtual_modifier not in modifiers:
            modifiers.append(practice.virtual_modifier)
        charge = Charge.objects.create(
            client=visit.client,
            visit=visit,
            fee=fee,
            service_date=service_date,
            clinician_id=visit.clinician_id,
            code=fee.code,
            modifiers=" ".join(modifiers[:4]),
            units=fee.units,
            description=fee.description,
            amount=fee.amount,
            place_of_service=(
                practice.place_of_service_virtual if visit.is_virtual else practice.place_of_service_in_person
            ),
            created_by=_user(request),
        )
        audit_record(
            request=request,
            action="kapflow.billing.charge.created",
            client=visit.client,
            obj=charge,
            detail={"visit": visit.pk, "code": charge.code, "amount": str(charge.amount)},
        )
        made.append(charge)
    if made and practice.invoice_each_visit:
        _issue(request=request, client=visit.client, charges=made, practice=practice)
    return made


# --- Invoices ----------------------------------------------------------------------------------


def uninvoiced(client: Client):
    """The client's charges not yet on an invoice, oldest first."""
    return Charge.objects.filter(client=client, invoice_line__isnull=True).order_by("service_date", "pk")


@transaction.atomic
def invoice_issue(
    *,
    request,
    client: Client,
    charges: list[Charge] | None = None,
    issued_on: datetime.date | None = None,
) -> Invoice:
    """Put charges not yet billed (all of the client's, unless `charges` names some) on a new
    invoice: the coordinator's or admin's act (a completed visit is invoiced by itself where the
    practice invoices each visit)."""
    if not can_bill(_user(request)):
        raise BillingRefused("Only the practice's coordinators and admins issue invoices.")
    return _issue(request=request, client=client, charges=charges, issued_on=issued_on)


def _issue(
    *,
    request,
    client: Client,
    charges: list[Charge] | None = None,
    practice: Practice | None = None,
    issued_on: datetime.date | None = None,
) -> Invoice:
    """The invoice with the next number, due after the practice's payment days, and the notice
    that a statement is ready. Takes the audit chain's lock first (see chain_lock): numbers
    go one after another, and a charge another issuer billed a moment ago is not billed again."""
    chain_lock()
    practice = practice or Practice.load()
    waiting = uninvoiced(client)
    if charges is not None:
        waiting = waiting.filter(pk__in=[charge.pk for charge in charges])
    waiting = list(waiting)
    if not waiting:
        raise BillingRefused("Nothing is waiting to be invoiced for this client.")
    issued_on = issued_on or timezone.localdate()
    number = (Invoice.objects.aggregate(last=Max("number"))["last"] or 0) + 1
    invoice = Invoice.objects.create(
        client=client,
        number=number,
        issued_on=issued_on,
        due_on=issued_on + datetime.timedelta(days=practice.payment_due_days),
        created_by=_user(request),
    )
    InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, charge=charge) for charge in waiting])
    audit_record(
        request=request,
        action="kapflow.billing.invoice.issued",
        client=client,
        obj=invoice,
        detail={"number": number, "charges": len(waiting), "total": str(sum(c.amount for c in waiting))},
    )
    statement_notice(client=client, key=f"statement:invoice:{invoice.pk}")
    return invoice


def chain_lock() -> None:
    """Serialise the issuers of invoices (and of estimates, kapflow.billing.estimates). Not with a
    row lock: a completed visit is invoiced, and a changed plan given its estimate, in the
    transaction that wrote their own audit rows, and a row locked after an audit row deadlocks
    with a writer holding that row while it waits for the audit chain's lock
    (docs/security/audit.md). The chain's own lock is the mutex instead: every issuer writes an
    audit row, so holding it from the start costs no extra wait, and nothing is locked after it.
    SQLite: every transaction is IMMEDIATE, one writer at a time already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])


def invoice_total(invoice: Invoice) -> Decimal:
    # Quantized: SQLite sums decimals as floating point.
    total = Charge.objects.filter(invoice_line__invoice=invoice).aggregate(total=Sum("amount"))["total"]
    return (total or ZERO).quantize(CENT)


def invoice_balance(invoice: Invoice) -> Decimal:
    """What is still owed on the invoice: its charges, less payments and write-offs, plus refunds."""
    moved = ZERO
    for kind, amount in Entry.objects.filter(invoice=invoice).values_list("kind", "amount"):
        moved += amount if kind == Entry.Kind.REFUND else -amount
    return invoice_total(invoice) + moved


def refundable(payment: Entry) -> Decimal:
    """What of a payment has not been refunded yet."""
    refunded = Entry.objects.filter(refund_of=payment).aggregate(total=Sum("amount"))["total"] or ZERO
    return payment.amount - refunded.quantize(CENT)


# --- Payments, refunds and write-offs ----------------------------------------------------------


@transaction.atomic
def entry_record(
    *,
    request,
    invoice: Invoice,
    kind: str,
    amount: Decimal,
    received_on: datetime.date,
    method: str = "",
    reference: str = "",
    reason: str = "",
    refund_of: Entry | None = None,
    entry_key=None,
) -> Entry:
    """Record a payment, a refund of a payment, or a write-off against an invoice. Locks the
    invoice's row and reads its balance after the lock: a payment or write-off may not exceed
    what is owed, nor a refund what is left of the payment it returns. Sent again with the same
    `entry_key` (a form sent twice), it returns the entry recorded the first time and records
    nothing more: the second sending waits on the invoice's lock and then finds the first."""
    user = _user(request)
    kind = Entry.Kind(kind)
    if kind == Entry.Kind.PAYMENT and not can_bill(user):
        raise BillingRefused("Only the practice's coordinators and admins record payments.")
    if kind != Entry.Kind.PAYMENT and not can_adjust(user):
        raise BillingRefused("Only a practice admin refunds a payment or writes off a balance.")
    Invoice.objects.select_for_update(no_key=True).filter(pk=invoice.pk).values_list("pk").get()
    if entry_key is not None and (sent := Entry.objects.filter(invoice=invoice, entry_key=entry_key).first()):
        return sent
    amount = Decimal(amount).quantize(CENT)
    reason = reason.strip()
    if amount <= 0:
        raise BillingRefused("Give an amount above zero.")
    if received_on > timezone.localdate():
        raise BillingRefused("The date cannot be in the future.")
    if received_on < invoice.issued_on and kind != Entry.Kind.PAYMENT:
        raise BillingRefused("The date cannot be before the invoice was issued.")
    balance = invoice_balance(invoice)
    if kind in (Entry.Kind.PAYMENT, Entry.Kind.WRITE_OFF):
        if amount > balance:
            verb = "paid" if kind == Entry.Kind.PAYMENT else "written off"
            raise BillingRefused(
                f"Invoice {invoice.number} has {money(balance)} owed: {money(amount)} cannot be {verb} on it."
            )
        if kind == Entry.Kind.PAYMENT and not method:
            raise BillingRefused("Say how it was paid.")
        if kind == Entry.Kind.WRITE_OFF:
            method = ""
            if not reason:
                raise BillingRefused("Say why the balance is written off.")
    if kind == Entry.Kind.REFUND:
        if refund_of is None or refund_of.invoice_id != invoice.pk or refund_of.kind != Entry.Kind.PAYMENT:
            raise BillingRefused("A refund returns a payment made on this invoice: choose the payment.")
        left = refundable(refund_of)
        if amount > left:
            raise BillingRefused(f"Only {money(left)} of that payment is left to refund.")
        if not reason:
            raise BillingRefused("Say why the money is refunded.")
        if not method:
            raise BillingRefused("Say how the money was returned.")
    entry = Entry.objects.create(
        invoice=invoice,
        client_id=invoice.client_id,
        kind=kind,
        amount=amount,
        method=method,
        reference=reference.strip(),
        received_on=received_on,
        reason=reason,
        refund_of=refund_of if kind == Entry.Kind.REFUND else None,
        entry_key=entry_key,
        created_by=user,
    )
    audit_record(
        request=request,
        action=ENTRY_ACTIONS[kind],
        client=invoice.client,
        obj=entry,
        detail={"invoice": invoice.number, "amount": str(amount)},
    )
    return entry


# --- What the client is told --------------------------------------------------------------------


def statement_notice(*, client: Client, key: str) -> None:
    """Tell the client (and, for a minor, each guardian who may act for them) that a statement or
    an estimate is ready: an email that says only that, through the reminders' outbox, sent once
    the transaction commits. Whoever has no portal account is told by the practice itself (the
    statement is on the billing page)."""
    from kapflow.billing.selectors import money_recipients
    from kapflow.reminders.models import Reminder
    from kapflow.reminders.services import reminder_create
    from kapflow.reminders.sources import Due

    now = timezone.now()
    for person in money_recipients(client):
        notice = reminder_create(due=Due(key, Reminder.Kind.STATEMENT, person, client, now))
        if notice is not None:
            transaction.on_commit(lambda pk=notice.pk: _queue(pk))


def _queue(pk: int) -> None:
    from kapflow.reminders.services import queue_send

    try:
        queue_send(reminder_ids=[pk])
    except Exception:
        # The queue is unreachable: the next sweep finds the notice waiting and queues it.
        logger.exception("The statement notice %s could not be queued.", pk)
