"""Client-held medicine (docs/client-held-medicine.md): a prescription for sublingual ketamine
that a pharmacy filled for the client to keep and bring to sessions, recorded with the client's
sublingual order, and what the client should hold of it.

The pharmacy keeps the dispensing record (21 CFR 1304.22(c)); kapflow keeps what the practice
was told of each fill, so that the runbook can count what the client brings against it. The fill
rules are the federal ones for a Schedule III prescription (21 CFR 1306.22(a)): filled or
refilled at most six months after the date it was issued, and refilled at most five times. They
are law, not a practice's choice, so they are not practice settings; a state may be stricter.

What the client should hold is counted **per client and strength** (not per order): the units
of every fill of that strength, whichever order it was filled under (a new prescription at the
same strength tops up the same bottle), less the units the runbook's counts recorded as taken.
Each session's count that stands is its latest at that strength (a recount replaces the count
before it in the same session). The counts and the fills that change what a client holds are
written with the client's row locked (`client_locked`), so that two counts at once, in two
sessions of one client, count one after the other."""

import calendar
import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.models import Client
from kapflow.controlled.models import ZERO, PharmacyFill
from kapflow.medical.doses import SUBLINGUAL, number
from kapflow.medical.models import MedicationOrder

# 21 CFR 1306.22(a): a Schedule III or IV prescription may be filled or refilled no more than six
# months after the date it was issued, and refilled no more than five times.
REFILLS_MAX = 5
REFILL_MONTHS = 6


class FillRefused(Exception):
    """A fill that cannot be recorded, with the reasons a person reads."""

    def __init__(self, *problems: str):
        super().__init__(" ".join(problems))
        self.problems = list(problems)


def may_record(user) -> bool:
    """Who records a pharmacy's fill: a prescriber of the practice and its admins (who also
    read the practice's stock ledger). The client's therapists read the fills; an invited
    outside prescriber, a coordinator and the portal never see them (docs/access.md)."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_practice_admin or (user.is_prescriber and not user.outside_practice))
    )


def sublingual_orders(client: Client) -> QuerySet[MedicationOrder]:
    """The client's sublingual orders, newest first: the orders a fill is recorded against
    (an ended or discontinued one too: a fill may be recorded late). Each is read with its
    dosed sessions, which its status counts (the medicine page and its form's choices show it):
    not a query for each order."""
    return (
        MedicationOrder.objects.filter(client=client, route=SUBLINGUAL)
        .with_dosed_sessions()
        .select_related("prescriber")
        .order_by("-starts_on", "-pk")
    )


def months_after(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` later, or the month's last day when it has no such day (Aug 31 +
    6 months is Feb 28 or 29)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def issued_on(order: MedicationOrder, original: PharmacyFill | None) -> tuple[datetime.date | None, str]:
    """The date the six months run from, and where it comes from in words: the date written on an
    outside prescriber's prescription, else the original fill's (a pharmacy fills a prescription
    on or after the day it was issued, so this is the latest the six months can start)."""
    if order.prescribed_on is not None:
        return order.prescribed_on, "the date of the prescription"
    if original is not None:
        return original.filled_on, "the original fill"
    return None, ""


def fill_problems(
    *,
    order: MedicationOrder,
    fills: list[PharmacyFill],
    refill_number: int,
    refills_authorised: int,
    filled_on: datetime.date,
    today: datetime.date,
) -> list[str]:
    """Whether a fill may be recorded against `order`, given its fills already recorded: each
    reason it may not, in words. Pure: no query."""
    problems = []
    if filled_on > today:
        problems.append("The fill date is in the future: record a fill once the pharmacy has filled it.")
    if refills_authorised > REFILLS_MAX:
        problems.append(
            f"A Schedule III prescription allows at most {REFILLS_MAX} refills (21 CFR 1306.22): "
            "check the label."
        )
    if refill_number > refills_authorised:
        problems.append(
            f"Refill {refill_number} is past the {refills_authorised} refill"
            f"{'s' if refills_authorised != 1 else ''} the prescription allows: a new prescription is "
            "needed — prescriber."
        )
    by_number = {fill.refill_number: fill for fill in fills}
    if refill_number in by_number:
        done = by_number[refill_number]
        which = "The original fill" if refill_number == 0 else f"Refill {refill_number}"
        problems.append(
            f"{which} of this prescription is recorded already ({done.quantity.normalize():f} on "
            f"{done.filled_on:%b} {done.filled_on.day}, {done.filled_on.year}): a fill is recorded once."
        )
    original = by_number.get(0)
    if refill_number > 0 and original is None:
        problems.append("Record the original fill first: refills are counted from it.")
    if original is not None and refills_authorised != original.refills_authorised:
        problems.append(
            f"The original fill says the prescription allows {original.refills_authorised} refill"
            f"{'s' if original.refills_authorised != 1 else ''}, not {refills_authorised}: check the label."
        )
    if original is not None and refill_number > 0 and filled_on < original.filled_on:
        problems.append(
            f"A refill comes after the original fill ({original.filled_on:%b} {original.filled_on.day}, "
            f"{original.filled_on.year}): check the date."
        )
    start, source = issued_on(order, original)
    if start is not None:
        if filled_on < start:
            problems.append(f"The fill date is before {source} ({start:%b} {start.day}, {start.year}).")
        last = months_after(start, REFILL_MONTHS)
        if filled_on > last:
            kind = "filled" if refill_number == 0 else "refilled"
            problems.append(
                f"A Schedule III prescription is {kind} at most {REFILL_MONTHS} months after it was "
                f"issued (21 CFR 1306.22): from {source}, {start:%b} {start.day}, {start.year}, that "
                f"was {last:%b} {last.day}, {last.year}. A fill after it needs a new prescription "
                "— prescriber."
            )
    return problems


def _field_name(name: str) -> str:
    if name == "__all__":
        return "The fill"
    return str(PharmacyFill._meta.get_field(name).verbose_name).capitalize()


def client_locked(client: Client) -> Client:
    """The client's row, locked for this transaction: what the client holds is counted and
    changed under it (SQLite: the IMMEDIATE transaction holds the database's write lock
    already)."""
    return Client.objects.select_for_update(no_key=True).get(pk=client.pk)


def fill_record(
    *,
    actor,
    client: Client,
    order: MedicationOrder,
    pharmacy: str,
    form: str,
    strength_mg: Decimal,
    quantity: Decimal,
    refills_authorised: int,
    refill_number: int,
    filled_on: datetime.date,
    pharmacy_phone: str = "",
    rx_number: str = "",
    lot_number: str = "",
    request=None,
) -> PharmacyFill:
    """Record a pharmacy's fill of `order` (one of the client's sublingual orders) for the client
    to hold: the original (`refill_number` 0) or a refill. Refused for anyone but a prescriber of
    the practice or an admin, for another client's order or another route, for a fill date in
    the future, for a fill recorded already, a refill past those allowed or before the original,
    and for a fill more than six months after the prescription was issued (21 CFR 1306.22). Saved
    once and never changed (kapflow.audit.immutable)."""
    if not may_record(actor):
        raise FillRefused("A prescriber or the practice's admin records a pharmacy's fill.")
    if order.client_id != client.pk:
        raise FillRefused("That order is not this client's.")
    if order.route != SUBLINGUAL:
        raise FillRefused("A pharmacy's fill for the client to hold is of a sublingual order.")
    pharmacy = pharmacy.strip()
    if not pharmacy:
        raise FillRefused("Name the pharmacy that filled it.")
    with transaction.atomic():
        client_locked(client)
        # The fills of the order as they are now, read under the lock: two fills sent at once
        # see each other (and the unique constraint settles any other race).
        fills = list(
            PharmacyFill.objects.filter(order=order, voided_at__isnull=True).order_by("refill_number")
        )
        problems = fill_problems(
            order=order,
            fills=fills,
            refill_number=refill_number,
            refills_authorised=refills_authorised,
            filled_on=filled_on,
            today=timezone.localdate(),
        )
        if problems:
            raise FillRefused(*problems)
        fill = PharmacyFill(
            order=order,
            client=client,
            pharmacy=pharmacy,
            pharmacy_phone=pharmacy_phone.strip(),
            rx_number=rx_number.strip(),
            form=form,
            strength_mg=strength_mg,
            quantity=quantity,
            refills_authorised=refills_authorised,
            refill_number=refill_number,
            filled_on=filled_on,
            lot_number=lot_number.strip(),
            recorded_by=actor,
        )
        try:
            fill.full_clean()
        except ValidationError as error:
            raise FillRefused(
                *[f"{_field_name(name)}: {' '.join(errors)}" for name, errors in error.message_dict.items()]
            ) from None
        try:
            with transaction.atomic():
                fill.save()
        except IntegrityError:
            # The same fill sent twice at once, past the lock (fill_once_per_refill).
            raise FillRefused("That fill was recorded a moment ago: it is on the list.") from None
        audit_record(
            request=request,
            actor=actor,
            action="kapflow.controlled.fill.recorded",
            client=client,
            obj=fill,
            detail={"order": order.pk, "refill_number": refill_number, "strength_mg": str(strength_mg)},
        )
    return fill


def fill_void(*, actor, fill: PharmacyFill, reason: str, request=None) -> PharmacyFill:
    """Mark a fill entered in error (a wrong quantity, strength or order), once, with the reason:
    it stays on the record, no longer counts in what the client should hold, and its place (the
    original fill or refill n of its order) is free for the right one. By those who record fills."""
    reason = (reason or "").strip()
    if not may_record(actor):
        raise FillRefused("A prescriber or the practice's admin marks a fill entered in error.")
    if not reason:
        raise FillRefused("Say what was wrong with the fill: it stays on the record with the reason.")
    with transaction.atomic():
        client_locked(fill.client)
        locked = PharmacyFill.objects.select_for_update(no_key=True).get(pk=fill.pk)
        if locked.voided_at is not None:
            raise FillRefused("That fill is marked entered in error already.")
        locked.voided_at = timezone.now()
        locked.voided_by = actor
        locked.void_reason = reason
        locked.save(update_fields=["voided_at", "voided_by", "void_reason"])
        audit_record(
            request=request,
            actor=actor,
            action="kapflow.controlled.fill.voided",
            client=locked.client,
            obj=locked,
            detail={"order": locked.order_id, "refill_number": locked.refill_number},
        )
    return locked


# --- What the client holds ---------------------------------------------------------------------


def _standing_counts(client_id: int, *, excluding_runbook=None) -> QuerySet:
    """The client's counts that stand, one a session and strength: each session's latest at
    that strength (a recount replaces the count before it)."""
    SupplyCount = apps.get_model("dosing", "SupplyCount")  # dosing imports this app, not back
    later = SupplyCount.objects.filter(
        runbook=OuterRef("runbook"), strength_mg=OuterRef("strength_mg"), pk__gt=OuterRef("pk")
    )
    counts = SupplyCount.objects.filter(runbook__visit__client_id=client_id).filter(~Exists(later))
    if excluding_runbook is not None:
        counts = counts.exclude(runbook=excluding_runbook)
    return counts


def held(
    client: Client, strength_mg: Decimal, *, on: datetime.date | None = None, excluding_runbook=None
) -> Decimal:
    """What the client should hold at `strength_mg`: the units of the pharmacy's fills of that
    strength filled by `on` (today when not given), whatever order they were filled under, less
    the units taken by the count that stands in each session (`excluding_runbook`: a session
    counting now, whose own earlier count this one replaces). Two queries. Read it with the
    client locked (client_locked) when a count is saved from it."""
    on = on or timezone.localdate()
    filled = PharmacyFill.objects.filter(
        client_id=client.pk, strength_mg=strength_mg, filled_on__lte=on, voided_at__isnull=True
    ).aggregate(total=Sum("quantity"))["total"]
    taken = (
        _standing_counts(client.pk, excluding_runbook=excluding_runbook)
        .filter(strength_mg=strength_mg)
        .aggregate(total=Sum("taken"))["total"]
    )
    return (filled or ZERO) - (taken or ZERO)


@dataclass
class Supply:
    """One strength of the client's medicine: what the pharmacy filled, what the counts recorded
    as taken, and what the client should hold."""

    strength_mg: Decimal
    filled: Decimal = ZERO
    taken: Decimal = ZERO
    fills: list = field(default_factory=list)

    @property
    def held(self) -> Decimal:
        return self.filled - self.taken

    @property
    def label(self) -> str:
        return f"{number(self.strength_mg)} mg"


def supplies(client: Client, *, excluding_runbook=None, fills: list | None = None) -> list[Supply]:
    """Each strength the client was filled, with what they should hold of it (as `held`, for
    today): two queries, one when `fills` (the client's fills, read already) are given."""
    if fills is None:
        fills = list(PharmacyFill.objects.filter(client_id=client.pk))
    today = timezone.localdate()
    by_strength: dict[Decimal, Supply] = {}
    for fill in fills:
        if fill.voided_at is not None:
            continue  # entered in error: on the record, not in the count
        supply = by_strength.setdefault(fill.strength_mg, Supply(fill.strength_mg))
        supply.fills.append(fill)
        if fill.filled_on <= today:
            supply.filled += fill.quantity
    if by_strength:
        standing = _standing_counts(client.pk, excluding_runbook=excluding_runbook)
        for row in standing.values("strength_mg").annotate(total=Sum("taken")).order_by():
            if row["strength_mg"] in by_strength:
                by_strength[row["strength_mg"]].taken = row["total"]
    return [by_strength[strength] for strength in sorted(by_strength)]


def fills_of(client: Client) -> list[PharmacyFill]:
    """The client's fills, with their orders and who recorded them: one query."""
    return list(
        PharmacyFill.objects.filter(client_id=client.pk)
        .select_related("order", "order__prescriber", "recorded_by", "voided_by")
        .order_by("order_id", "refill_number")
    )


def has_supply_for_session(client: Client, day: datetime.date) -> bool:
    """Whether the runbook counts client-held medicine in a session on `day`: the client has a
    fill of a sublingual order in force that day (not discontinued, within its dates). One query."""
    orders = MedicationOrder.objects.filter(client_id=client.pk, route=SUBLINGUAL).active(day)
    return PharmacyFill.objects.filter(order__in=orders, voided_at__isnull=True).exists()
