"""The stock ledger's one way in (docs/controlled-substances.md): every entry of every kind is
posted by `entry_post`, which locks the lot's row, reads the balance the lot's latest entry left,
and writes the next entry with the balance it leaves. The database refuses a balance below zero
and a second entry with the same place in the lot's sequence, so two writers can never both
spend the same stock, whatever the code above them does.

Who may post what, and the words of every refusal, live here too, so that the runbook (a dose
posted as it is recorded) and the stock pages refuse alike."""

import datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record
from kapflow.controlled.models import ZERO, Entry, Inventory, Lot
from kapflow.medical.doses import ROUTE_NAMES, number

QUANTUM = Decimal("0.0001")


class LedgerRefused(Exception):
    """A ledger write refused, with the reasons a person reads."""

    def __init__(self, *problems: str):
        super().__init__(*problems)
        self.problems = list(problems)

    def __str__(self) -> str:
        return " ".join(self.problems)


def ledger_started() -> bool:
    """Whether the practice keeps its stock ledger: from its initial inventory on (21 CFR
    1304.11(b): taken on the first day of handling stock). Before it, doses carry a lot number
    in words and nothing is posted."""
    return Inventory.objects.filter(kind=Inventory.Kind.INITIAL).exists()


def quantity_text(quantity: Decimal, lot: Lot) -> str:
    """ "3.2 mL", "2 devices", "1 tablet": a quantity in the lot's unit, as people write it."""
    unit = lot.unit
    if unit != "mL" and abs(quantity) != 1:
        unit += "s"
    return f"{number(quantity)} {unit}"


def can_keep_stock(user) -> bool:
    """Who posts receipts, transfers, returns, destruction and corrections, takes inventories and
    reads the ledger: the practice's own prescribers and its admins. A therapist gives doses and
    wastes what is left of one, in the runbook; a coordinator sees no controlled-substance
    record."""
    return user.is_active and (user.is_practice_admin or (user.is_prescriber and not user.outside_practice))


def can_witness(user) -> bool:
    """Who may witness a waste or a destruction: an active clinician of the practice."""
    return user.is_active and user.is_clinician and not user.outside_practice


def balance(lot: Lot) -> Decimal:
    """The lot's balance now: what its latest entry left. One query."""
    latest = (
        Entry.objects.filter(lot=lot).order_by("-sequence").values_list("balance_after", flat=True).first()
    )
    return ZERO if latest is None else latest


def balance_at(lot: Lot, moment: datetime.datetime) -> Decimal:
    """What the lot held at `moment`: the sum of its entries dated then or before, whenever they
    were written (a receipt recorded a day late counts from the day it came). One query."""
    held = Entry.objects.filter(lot=lot, occurred_at__lte=moment).aggregate(total=Sum("quantity"))["total"]
    return ZERO if held is None else held


def with_balances(lots):
    """`lots` annotated with `balance` (None for a lot with no entry yet) in the same query."""
    latest = Entry.objects.filter(lot=OuterRef("pk")).order_by("-sequence").values("balance_after")[:1]
    return lots.annotate(balance=Subquery(latest))


def _lock(lot: Lot) -> None:
    Lot.objects.select_for_update(no_key=True).filter(pk=lot.pk).values_list("pk").get()


def _latest(lot: Lot) -> dict | None:
    """The lot's latest entry's place in the sequence and the balance it left (None: no entry)."""
    return Entry.objects.filter(lot=lot).order_by("-sequence").values("sequence", "balance_after").first()


def sent_before(action: str, entry_key, actor) -> str | None:
    """The id of what `actor` saved under `action` from the form with `entry_key` (a form sent
    twice: kapflow.lib.forms.SentOnce), or None. The key is kept in the write's own audit row,
    saved in the write's transaction, so a second sending that waited for the first one's lock
    finds it. One query, by the audit's (actor, at) index."""
    if entry_key is None:
        return None
    return (
        AuditEvent.objects.filter(actor=actor, action=action, detail__entry_key=str(entry_key))
        .values_list("object_id", flat=True)
        .first()
    )


POSTED = "kapflow.controlled.entry.posted"


def entry_sent_before(entry_key, actor) -> Entry | None:
    """The entry `actor` posted from the form with `entry_key`, if they did."""
    found = sent_before(POSTED, entry_key, actor)
    return Entry.objects.select_related("lot").get(pk=found) if found else None


def entry_post(
    *,
    lot: Lot,
    kind: str,
    quantity: Decimal,
    occurred_at: datetime.datetime,
    person,
    recorded_by,
    request=None,
    audit_client=None,
    entry_key=None,
    **fields,
) -> Entry:
    """Post one entry to `lot`'s ledger: `quantity` in the lot's unit, positive in, negative out.
    Locks the lot's row for the rest of the caller's transaction; refused, naming the balance,
    when it would take more than the lot holds. Audited. Sent again with the same `entry_key`
    (a double click on the form), the entry posted the first time is returned and nothing is
    posted: the key is looked up under the lot's lock."""
    quantity = Decimal(quantity)
    if quantity != quantity.quantize(QUANTUM):
        raise LedgerRefused(f"Give the quantity to at most four decimal places ({lot.unit}).")
    if lot.whole_units and quantity != quantity.to_integral_value():
        raise LedgerRefused(
            f"{lot.get_form_display()}s are counted whole: give a whole number of {lot.unit}s."
        )
    if occurred_at > timezone.now() + datetime.timedelta(minutes=5):
        raise LedgerRefused("The date is in the future: give the date it happened.")
    with transaction.atomic():
        # The lot's row is the one every writer of its ledger takes first: the second of two
        # writers waits here and then reads the balance the first one left. (SQLite: the
        # IMMEDIATE transaction holds the database's one write lock already.)
        _lock(lot)
        if (saved := entry_sent_before(entry_key, recorded_by)) is not None:
            return saved
        latest = _latest(lot)
        held = latest["balance_after"] if latest else ZERO
        after = held + quantity
        if after < 0:
            raise LedgerRefused(
                f"Lot {lot.lot_number} holds {quantity_text(held, lot)} "
                f"({number(held * lot.strength_mg)} mg): "
                f"{quantity_text(-quantity, lot)} cannot be taken from it."
            )
        entry = Entry(
            lot=lot,
            sequence=(latest["sequence"] + 1) if latest else 1,
            kind=kind,
            quantity=quantity,
            balance_after=after,
            occurred_at=occurred_at,
            person=person,
            recorded_by=recorded_by,
            **fields,
        )
        try:
            with transaction.atomic():
                entry.save()
        except IntegrityError as error:
            raise LedgerRefused(f"The entry could not be posted: {error}") from None
        audit_record(
            request=request,
            actor=recorded_by,
            action=POSTED,
            client=audit_client if audit_client is not None else fields.get("client"),
            obj=entry,
            detail={
                "lot": lot.pk,
                "kind": kind,
                "quantity": str(quantity),
                "balance": str(after),
                **({"entry_key": str(entry_key)} if entry_key is not None else {}),
            },
        )
    return entry


def dose_quantity(lot: Lot, dose_mg: Decimal) -> Decimal:
    """How much of `lot` a dose of `dose_mg` takes, exactly: mL, devices or tablets. Refused when
    the dose is not an exact quantity of the lot (four decimal places of a mL; whole devices)."""
    try:
        quantity = Decimal(dose_mg) / lot.strength_mg
    except (InvalidOperation, ZeroDivisionError):
        raise LedgerRefused("The dose cannot be measured from this lot.") from None
    if quantity != quantity.quantize(QUANTUM) or (
        lot.whole_units and quantity != quantity.to_integral_value()
    ):
        raise LedgerRefused(
            f"{number(dose_mg)} mg is not a whole number of {lot.unit}s of lot {lot.lot_number} "
            f"({lot.strength_text}): give a dose the lot can measure exactly."
            if lot.whole_units
            else f"{number(dose_mg)} mg cannot be measured exactly from lot {lot.lot_number} "
            f"({lot.strength_text})."
        )
    return quantity


def lot_problems(lot: Lot, *, drug: str, route: str, day: datetime.date) -> list[str]:
    """Why a dose of `drug` by `route` on `day` cannot come from `lot`; empty when it can."""
    problems = []
    if lot.drug != drug:
        problems.append(
            f"Lot {lot.lot_number} is {lot.get_drug_display().split(',')[0].lower()}; the order is not."
        )
    if route not in lot.routes:
        problems.append(
            f"Lot {lot.lot_number} is {lot.get_form_display().lower()}, not for a dose "
            f"{ROUTE_NAMES[route].lower()}."
        )
    if lot.is_expired(day):
        problems.append(f"Lot {lot.lot_number} expired on {lot.expires_on:%Y-%m-%d}: it is not given.")
    return problems


def administration_post(*, administration, lot: Lot, drug: str, request=None) -> Entry:
    """Post a dose just recorded in the runbook to its lot's ledger, in the dose's transaction:
    the client, the date, who gave it and the quantity the dose took. Refused (and so is the
    dose) when the lot does not fit the order or holds too little."""
    day = timezone.localdate(administration.given_at)
    if problems := lot_problems(lot, drug=drug, route=administration.route, day=day):
        raise LedgerRefused(*problems)
    quantity = dose_quantity(lot, administration.dose_mg)
    return entry_post(
        lot=lot,
        kind=Entry.Kind.ADMINISTRATION,
        quantity=-quantity,
        occurred_at=administration.given_at,
        person=administration.given_by,
        recorded_by=administration.recorded_by,
        administration=administration,
        client=administration.runbook.visit.client,
        request=request,
    )


def correction_post(*, actor, entry: Entry, reason: str, occurred_at=None, request=None) -> Entry:
    """Reverse `entry` with a correction entry of the opposite quantity, with the reason. An
    entry is reversed once; a correction is not itself reversed (post the right entry again
    instead). Refused when reversing it would take the lot below zero."""
    reason = reason.strip()
    if not can_keep_stock(actor):
        raise LedgerRefused(
            "Corrections to the ledger are posted by a prescriber of the practice or a practice admin."
        )
    if not reason:
        raise LedgerRefused("Say why the entry is reversed.")
    if entry.kind == Entry.Kind.CORRECTION:
        raise LedgerRefused("A correction is not reversed: post the right entry instead.")
    with transaction.atomic():
        # The lot's lock first, then the check: two people reversing the same entry at once,
        # the second waits and finds it reversed (not a database error).
        _lock(entry.lot)
        if Entry.objects.filter(reverses=entry).exists():
            raise LedgerRefused("That entry has been reversed already.")
        return entry_post(
            lot=entry.lot,
            kind=Entry.Kind.CORRECTION,
            quantity=-entry.quantity,
            occurred_at=occurred_at or timezone.now(),
            person=actor,
            recorded_by=actor,
            reverses=entry,
            reason=reason,
            client=entry.client,
            request=request,
        )
