"""Inventories, discrepancies and loss reports (docs/inventory.md): the writes, each atomic and
audited in its own transaction, and the reads the pages, the dashboard and the reminders use.

- The initial inventory (21 CFR 1304.11(b)) is taken once. It makes each lot on hand and posts
  its opening balance to the ledger; from it on the ledger is kept (ledger.ledger_started).
- Every later inventory counts each lot that holds stock (and each lot counted last time) and
  keeps, beside each count, the ledger's balance read under the lot's row lock in the same
  transaction. A count that differs is a discrepancy for the practice's DEA registrant to
  explain, once.
- A theft or significant loss (21 CFR 1301.76(b)) is a loss report with its two dates, the
  written notice and DEA Form 106, fixed when it is started; the registrant and every practice
  admin are emailed at once, and reminded when a date comes with its step not recorded."""

import datetime
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.audit.services import audit_record
from kapflow.controlled import clocks
from kapflow.controlled.ledger import (
    QUANTUM,
    LedgerRefused,
    balance_at,
    can_keep_stock,
    entry_post,
    ledger_started,
    quantity_text,
    sent_before,
    with_balances,
)
from kapflow.controlled.models import (
    ZERO,
    Discrepancy,
    Entry,
    Inventory,
    InventoryCount,
    LossReport,
    LossReportStep,
    Lot,
)
from kapflow.controlled.ndc import ndc_problem
from kapflow.medical.doses import number
from kapflow.reminders.models import Reminder
from kapflow.reminders.services import queue_send, reminder_create
from kapflow.reminders.sources import Due

logger = logging.getLogger(__name__)


class InventoryRefused(Exception):
    """A write refused, with the reasons a person reads."""

    def __init__(self, *problems: str):
        super().__init__(*problems)
        self.problems = list(problems)

    def __str__(self) -> str:
        return " ".join(self.problems)


# Who may do what ---------------------------------------------------------------------------


def is_registrant(user, practice) -> bool:
    """Whether `user` is the practice's DEA registrant (Practice.dea_registrant), and still an
    active prescriber of the practice (one who lost the role no longer answers for the stock)."""
    return (
        user.is_active
        and user.is_prescriber
        and not user.outside_practice
        and practice.dea_registrant_id is not None
        and practice.dea_registrant_id == user.pk
    )


def can_report_loss(user) -> bool:
    """Who starts a theft or loss report, and reads the reports: any clinician of the practice,
    and a practice admin. Whoever finds stock missing must be able to say so at once."""
    return user.is_active and (user.is_practice_admin or (user.is_clinician and not user.outside_practice))


def can_record_step(user, practice) -> bool:
    """Who records a loss report's steps (notice sent, form filed, closed): the registrant or a
    practice admin."""
    return user.is_active and (user.is_practice_admin or is_registrant(user, practice))


def can_see_panel(user, practice) -> bool:
    """The dashboard's "Controlled substances" panel: practice admins and the registrant."""
    return user.is_active and (user.is_practice_admin or is_registrant(user, practice))


def told_people(practice) -> list[User]:
    """Whom an inventory or a loss report is told to by email: the registrant and every active
    practice admin of the practice, each once, those with an email address. One query (the
    registrant is read with the admins)."""
    people = (
        User.objects.filter(is_active=True, outside_practice=False)
        .filter(Q(is_practice_admin=True) | Q(pk=practice.dea_registrant_id or 0))
        .exclude(email="")
        .order_by("full_name", "pk")
    )
    return list(people)


def _notify(*, key: str, due_at: datetime.datetime, practice) -> list[Reminder]:
    """A CONTROLLED reminder for each person told (kapflow.reminders, no client named in it), sent
    once the transaction commits. Keys are unique per person, so it is never sent twice."""
    made = [
        reminder
        for person in told_people(practice)
        if (reminder := reminder_create(due=Due(key, Reminder.Kind.CONTROLLED, person, None, due_at)))
        is not None
    ]

    def send() -> None:
        for reminder in made:
            try:
                queue_send(reminder_ids=[reminder.pk])
            except Exception:
                # The queue is down: the next sweep finds the reminder waiting and queues it.
                logger.exception("The controlled-substance notice %s could not be queued.", reminder.pk)

    transaction.on_commit(send)
    return made


# Dates -------------------------------------------------------------------------------------


def _moment(day: datetime.date, time_of_day: str) -> datetime.datetime:
    """When an inventory taken on `day` stands in the ledger: the start of the day at the
    opening of business, the end of it at the close; never later than now."""
    at = datetime.time.min if time_of_day == Inventory.TimeOfDay.OPENING else datetime.time(23, 59)
    return min(timezone.make_aware(datetime.datetime.combine(day, at)), timezone.now())


def _taken_on_problems(taken_on: datetime.date) -> list[str]:
    if taken_on > timezone.localdate():
        return ["The date is in the future: give the day the inventory was taken."]
    return []


def counted_quantity(lot_or_size, full_containers: int, open_quantity: Decimal) -> Decimal:
    """What a count comes to in the lot's unit: the unopened containers times what each holds,
    and what is left in opened ones."""
    size = lot_or_size.container_quantity if isinstance(lot_or_size, Lot) else Decimal(lot_or_size)
    return Decimal(full_containers) * size + Decimal(open_quantity)


def _count_problems(lot: Lot, counted: Decimal, open_quantity: Decimal) -> list[str]:
    problems = []
    if open_quantity < 0:
        problems.append(f"Lot {lot.lot_number}: what is in opened containers cannot be below zero.")
    if counted != counted.quantize(QUANTUM):
        problems.append(f"Lot {lot.lot_number}: give the count to at most four decimal places.")
    if lot.whole_units and counted != counted.to_integral_value():
        problems.append(f"Lot {lot.lot_number}: {lot.unit}s are counted whole.")
    return problems


# The initial inventory ----------------------------------------------------------------------


@dataclass
class OpeningRow:
    """One lot on hand at the initial inventory, as its label says, and its count."""

    drug: str
    product: str
    form: str
    strength_mg: Decimal
    container_quantity: Decimal
    ndc: str
    lot_number: str
    expires_on: datetime.date
    full_containers: int = 0
    open_quantity: Decimal = ZERO
    awaiting_disposal: bool = False
    compounded: bool = False


def opening_row_problems(row: OpeningRow) -> list[str]:
    """Why this row cannot open a lot; empty when it can. Pure."""
    problems = []
    name = f"Lot {row.lot_number or '(no number)'}"
    if row.ndc.strip():
        if problem := ndc_problem(row.ndc):
            problems.append(f"{name}: {problem}")
    elif not row.compounded:
        problems.append(
            f"{name}: give the NDC printed on the package. Only a compounded product has none: "
            "tick “compounded” for it."
        )
    if (
        row.form == Lot.Form.NASAL_DEVICE
        and Decimal(row.container_quantity) != Decimal(row.container_quantity).to_integral_value()
    ):
        problems.append(f"{name}: a container holds a whole number of devices.")
    counted = counted_quantity(row.container_quantity, row.full_containers, row.open_quantity)
    if counted <= 0:
        problems.append(
            f"{name}: nothing is counted. A lot with nothing on hand is left out (clear the row); "
            "an inventory with no stock at all is saved with no rows."
        )
    return problems


def initial_inventory_take(
    *,
    actor,
    taken_on: datetime.date,
    time_of_day: str,
    taken_by,
    rows: list[OpeningRow],
    note: str = "",
    request=None,
) -> Inventory:
    """Take the practice's one initial inventory: make each lot on hand and post its count as
    the lot's opening entry. No rows is an inventory of zero stock, which is a valid one. Starts
    the ledger. Refused when one exists, when the actor does not keep stock, or with the
    problems of its rows."""
    if not can_keep_stock(actor):
        raise InventoryRefused("Inventories are taken by a prescriber of the practice or a practice admin.")
    problems = _taken_on_problems(taken_on)
    seen = set()
    for row in rows:
        problems += opening_row_problems(row)
        identity = (row.drug, row.form, Decimal(row.strength_mg), row.lot_number.strip())
        if identity in seen:
            problems.append(
                f"Lot {row.lot_number} is listed twice: give each lot once, with its whole count."
            )
        seen.add(identity)
    if problems:
        raise InventoryRefused(*problems)
    occurred_at = _moment(taken_on, time_of_day)
    with transaction.atomic():
        if ledger_started():
            raise InventoryRefused(
                "The initial inventory has been taken already: take a biennial one instead."
            )
        inventory = Inventory(
            kind=Inventory.Kind.INITIAL,
            taken_on=taken_on,
            time_of_day=time_of_day,
            taken_by=taken_by,
            note=note.strip(),
            recorded_by=actor,
        )
        _clean(inventory)
        try:
            with transaction.atomic():
                inventory.save()
        except IntegrityError:
            raise InventoryRefused(
                "The initial inventory has been taken already: take a biennial one instead."
            ) from None
        for row in rows:
            lot = Lot(
                drug=row.drug,
                product=row.product.strip(),
                form=row.form,
                strength_mg=row.strength_mg,
                container_quantity=row.container_quantity,
                ndc=row.ndc.strip(),
                lot_number=row.lot_number.strip(),
                expires_on=row.expires_on,
                created_by=actor,
            )
            _clean(lot)
            lot.save()
            counted = counted_quantity(lot, row.full_containers, row.open_quantity)
            try:
                entry_post(
                    lot=lot,
                    kind=Entry.Kind.OPENING,
                    quantity=counted,
                    occurred_at=occurred_at,
                    person=taken_by,
                    recorded_by=actor,
                    containers=row.full_containers,
                    document_reference=f"Initial inventory of {taken_on:%Y-%m-%d}",
                    request=request,
                )
            except LedgerRefused as refused:
                raise InventoryRefused(*refused.problems) from None
            InventoryCount.objects.create(
                inventory=inventory,
                lot=lot,
                full_containers=row.full_containers,
                open_quantity=row.open_quantity,
                counted=counted,
                expected=counted,
                awaiting_disposal=row.awaiting_disposal,
            )
        audit_record(
            request=request,
            actor=actor,
            action="kapflow.controlled.inventory.taken",
            obj=inventory,
            detail={"kind": inventory.kind, "lots": len(rows), "taken_on": taken_on.isoformat()},
        )
    return inventory


INVENTORY_TAKEN = "kapflow.controlled.inventory.taken"
LOSS_STARTED = "kapflow.controlled.loss_report.started"


def _lock_lots(lots) -> None:
    """The lots' rows, locked in the order of their keys (docs/controlled-substances.md, "Locks
    in one order")."""
    pks = sorted({lot.pk for lot in lots})
    if pks:
        list(Lot.objects.select_for_update(no_key=True).filter(pk__in=pks).order_by("pk").values_list("pk"))


def _clean(obj) -> None:
    try:
        obj.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise InventoryRefused(*[f"{k}: {' '.join(v)}" for k, v in error.message_dict.items()]) from None


# Later inventories -------------------------------------------------------------------------


def lots_to_count():
    """The lots a new inventory counts, with their balance: every lot that holds stock, and
    every lot the latest inventory counted (so that one emptied since is seen at zero). Two
    queries."""
    latest = Inventory.objects.order_by("-taken_on", "-pk").values_list("pk", flat=True).first()
    lots = with_balances(Lot.objects.all())
    chosen = Q(balance__gt=0)
    if latest is not None:
        chosen |= Q(counts__inventory_id=latest)
    return lots.filter(chosen).distinct().order_by("drug", "form", "strength_mg", "expires_on", "lot_number")


@dataclass
class LotCount:
    lot: Lot
    full_containers: int = 0
    open_quantity: Decimal = ZERO
    awaiting_disposal: bool = False


def inventory_take(
    *,
    actor,
    kind: str,
    taken_on: datetime.date,
    time_of_day: str,
    taken_by,
    counts: list[LotCount],
    note: str = "",
    entry_key=None,
    request=None,
) -> Inventory:
    """Take a biennial (or other) inventory: each lot's count beside the ledger's balance,
    read under the lot's row lock in this transaction (a dose posted at the same moment comes
    wholly before or wholly after). A count that differs raises a discrepancy. Refused before
    the initial inventory, to anyone who does not keep stock, and when a lot holding stock is
    left uncounted. Sent again with the same `entry_key`, the inventory saved the first time is
    returned (a second one would raise each discrepancy twice)."""
    if not can_keep_stock(actor):
        raise InventoryRefused("Inventories are taken by a prescriber of the practice or a practice admin.")
    if kind not in (Inventory.Kind.BIENNIAL, Inventory.Kind.OTHER):
        raise InventoryRefused("Choose a biennial inventory or another one.")
    problems = _taken_on_problems(taken_on)
    for item in counts:
        counted = counted_quantity(item.lot, item.full_containers, item.open_quantity)
        problems += _count_problems(item.lot, counted, Decimal(item.open_quantity))
    if problems:
        raise InventoryRefused(*problems)
    counts = sorted(counts, key=lambda c: c.lot.pk)
    with transaction.atomic():
        if not ledger_started():
            raise InventoryRefused("Take the initial inventory first: it starts the ledger.")
        # Every lot counted, locked in the order of their keys (as a loss report over several
        # lots takes them): no entry is posted to them until we commit, and the balance read
        # beside each count is the one it stands beside. A second sending of the form waits
        # here, then finds the first.
        _lock_lots([item.lot for item in counts])
        if (saved := sent_before(INVENTORY_TAKEN, entry_key, actor)) is not None:
            return Inventory.objects.get(pk=saved)
        wanted = set(lots_to_count().values_list("pk", flat=True))
        missing = wanted - {item.lot.pk for item in counts}
        if missing:
            names = ", ".join(sorted(Lot.objects.filter(pk__in=missing).values_list("lot_number", flat=True)))
            raise InventoryRefused(f"Count every lot that holds stock: lot {names} is not counted.")
        inventory = Inventory(
            kind=kind,
            taken_on=taken_on,
            time_of_day=time_of_day,
            taken_by=taken_by,
            note=note.strip(),
            recorded_by=actor,
        )
        _clean(inventory)
        inventory.save()
        raised = 0
        # What each lot held when the inventory was taken (the start of the day at the opening
        # of business, its end at the close), not when it is typed in: a dose given since is no
        # discrepancy.
        moment = _moment(taken_on, time_of_day)
        for item in counts:
            expected = balance_at(item.lot, moment)
            counted = counted_quantity(item.lot, item.full_containers, item.open_quantity)
            count = InventoryCount.objects.create(
                inventory=inventory,
                lot=item.lot,
                full_containers=item.full_containers,
                open_quantity=item.open_quantity,
                counted=counted,
                expected=expected,
                awaiting_disposal=item.awaiting_disposal,
            )
            if counted != expected:
                Discrepancy.objects.create(count=count, difference=counted - expected)
                raised += 1
        audit_record(
            request=request,
            actor=actor,
            action=INVENTORY_TAKEN,
            obj=inventory,
            detail={
                "kind": kind,
                "lots": len(counts),
                "discrepancies": raised,
                "taken_on": taken_on.isoformat(),
                **({"entry_key": str(entry_key)} if entry_key is not None else {}),
            },
        )
    return inventory


# Discrepancies -----------------------------------------------------------------------------

SHORTFALL_ONLY = (Discrepancy.Outcome.LOSS, Discrepancy.Outcome.THEFT_OR_SIGNIFICANT)


def surplus_words(discrepancy: Discrepancy) -> str:
    return (
        "More was counted than the ledger holds: that is not a loss. Either the count was wrong "
        "(recount, and choose a counting error), or an entry in the ledger is wrong (a dose or a "
        "receipt posted with the wrong quantity): a prescriber or admin reverses it with a "
        "correction on the lot's ledger page, and you choose an error in the ledger."
    )


def discrepancy_explain(
    *, actor, discrepancy: Discrepancy, outcome: str, explanation: str, practice, request=None
) -> Discrepancy:
    """The registrant's explanation of a discrepancy, written once. A loss posts the missing
    quantity to the ledger (kind "loss"), with a loss report as every loss entry has one: for a
    loss that is not significant, one closed at once (nothing is owed to the DEA); for a theft or
    significant loss, an open one with its dates, told to the registrant and the admins at once.
    A surplus is never a loss. Refused to anyone but the registrant, and when explained already."""
    explanation = explanation.strip()
    if practice.dea_registrant_id is None:
        raise InventoryRefused(
            "The practice has not named its DEA registrant: a practice admin names one in Settings."
        )
    if not is_registrant(actor, practice):
        raise InventoryRefused("Only the practice's DEA registrant explains a discrepancy.")
    if outcome not in Discrepancy.Outcome.values:
        raise InventoryRefused("Choose what the discrepancy was.")
    if not explanation:
        raise InventoryRefused("Say what happened: what you found, and what was done.")
    with transaction.atomic():
        locked = (
            Discrepancy.objects.select_for_update(no_key=True)
            .select_related("count__lot", "count__inventory")
            .get(pk=discrepancy.pk)
        )
        if locked.explained_at is not None:
            raise InventoryRefused(
                "This discrepancy has been explained already; an explanation is written once."
            )
        if outcome in SHORTFALL_ONLY and locked.difference > 0:
            raise InventoryRefused(surplus_words(locked))
        now = timezone.now()
        locked.outcome = outcome
        locked.explanation = explanation
        locked.explained_by = actor
        locked.explained_at = now
        locked.save(update_fields=["outcome", "explanation", "explained_by", "explained_at"])
        report = None
        if outcome in SHORTFALL_ONLY:
            lot, inventory = locked.count.lot, locked.count.inventory
            theft = outcome == Discrepancy.Outcome.THEFT_OR_SIGNIFICANT
            report = _report_create(
                actor=actor,
                kind=LossReport.Kind.THEFT if theft else LossReport.Kind.MINOR,
                # Found missing when the inventory was taken: the clocks run from then.
                discovered_at=_moment(inventory.taken_on, inventory.time_of_day),
                discovered_by=inventory.taken_by,
                description=explanation,
                practice=practice,
                discrepancy=locked,
            )
            try:
                entry_post(
                    lot=lot,
                    kind=Entry.Kind.LOSS,
                    quantity=locked.difference,
                    occurred_at=now,
                    person=actor,
                    recorded_by=actor,
                    loss_report=report,
                    reason=explanation,
                    request=request,
                )
            except LedgerRefused as refused:
                raise InventoryRefused(
                    *refused.problems,
                    "The lot holds less now than at the count: the ledger's entries since the "
                    "inventory are on the lot's page.",
                ) from None
            if theft:
                _notify(key=f"controlled:loss:{report.pk}", due_at=now, practice=practice)
            else:
                LossReportStep.objects.create(
                    report=report,
                    step=LossReportStep.Step.CLOSED,
                    done_on=timezone.localdate(now),
                    note="Not a theft or significant loss: posted to the ledger, not reported to the DEA.",
                    recorded_by=actor,
                )
        audit_record(
            request=request,
            actor=actor,
            action="kapflow.controlled.discrepancy.explained",
            obj=locked,
            detail={"outcome": outcome, "report": report.pk if report else None},
        )
    return locked


# Loss reports ------------------------------------------------------------------------------


def _report_create(
    *, actor, kind, discovered_at, discovered_by, description, practice, discrepancy=None
) -> LossReport:
    day = timezone.localdate(discovered_at)
    report = LossReport(
        kind=kind,
        discovered_at=discovered_at,
        discovered_by=discovered_by,
        description=description,
        notice_due_on=clocks.notice_due_on(day, practice.loss_notice_business_days),
        form_due_on=clocks.form_due_on(day, practice.loss_form_days),
        discrepancy=discrepancy,
        recorded_by=actor,
    )
    _clean(report)
    report.save()
    return report


@dataclass
class LotLoss:
    lot: Lot
    quantity: Decimal


def loss_report_start(
    *,
    actor,
    kind: str,
    discovered_at: datetime.datetime,
    description: str,
    losses: list[LotLoss],
    practice,
    entry_key=None,
    request=None,
) -> LossReport:
    """Start a theft or significant loss report, with its dates fixed from the practice's
    settings; each quantity lost is posted to its lot's ledger (kind "loss") in the same
    transaction, refused with the balance named when more is lost than the lot holds. The
    registrant and every practice admin are emailed at once. The lots are locked in the order of
    their keys, as an inventory takes them, so two reports over the same lots never wait on each
    other in a circle. Sent again with the same `entry_key`, the report started the first time
    is returned: nothing is posted twice."""
    description = description.strip()
    if not can_report_loss(actor):
        raise InventoryRefused("A loss report is started by a clinician of the practice or a practice admin.")
    problems = []
    if kind not in LossReport.REPORTED:
        problems.append("Choose what happened: theft, significant loss or lost in transit.")
    if not description:
        problems.append("Say what happened: what is missing, where it was kept, who found it.")
    if discovered_at > timezone.now() + datetime.timedelta(minutes=5):
        problems.append("The time of discovery is in the future: give when it was found.")
    for item in losses:
        quantity = Decimal(item.quantity)
        if quantity <= 0:
            problems.append(f"Lot {item.lot.lot_number}: give the quantity lost, above zero.")
    if len({item.lot.pk for item in losses}) != len(losses):
        problems.append("Give each lot once, with the whole quantity lost from it.")
    if problems:
        raise InventoryRefused(*problems)
    losses = sorted(losses, key=lambda item: item.lot.pk)
    with transaction.atomic():
        _lock_lots([item.lot for item in losses])
        if (saved := sent_before(LOSS_STARTED, entry_key, actor)) is not None:
            return LossReport.objects.get(pk=saved)
        report = _report_create(
            actor=actor,
            kind=kind,
            discovered_at=discovered_at,
            discovered_by=actor,
            description=description,
            practice=practice,
        )
        for item in losses:
            try:
                entry_post(
                    lot=item.lot,
                    kind=Entry.Kind.LOSS,
                    quantity=-Decimal(item.quantity),
                    occurred_at=discovered_at,
                    person=actor,
                    recorded_by=actor,
                    loss_report=report,
                    reason=description,
                    request=request,
                )
            except LedgerRefused as refused:
                raise InventoryRefused(*refused.problems) from None
        told = _notify(key=f"controlled:loss:{report.pk}", due_at=timezone.now(), practice=practice)
        audit_record(
            request=request,
            actor=actor,
            action=LOSS_STARTED,
            obj=report,
            detail={
                "kind": kind,
                "lots": len(losses),
                "told": [r.recipient_id for r in told],
                **({"entry_key": str(entry_key)} if entry_key is not None else {}),
            },
        )
    return report


def loss_report_step_record(
    *,
    actor,
    report: LossReport,
    step: str,
    done_on: datetime.date,
    reference: str = "",
    note: str = "",
    practice,
    request=None,
) -> LossReportStep:
    """Record one step of a loss report, once: the notice sent, Form 106 filed, or the report
    closed (only once the form is filed). By the registrant or a practice admin."""
    if not can_record_step(actor, practice):
        raise InventoryRefused(
            "A loss report's steps are recorded by the DEA registrant or a practice admin."
        )
    problems = []
    if step not in LossReportStep.Step.values:
        problems.append("Choose the step taken.")
    if done_on > timezone.localdate():
        problems.append("The date is in the future: give the day it was done.")
    if done_on < timezone.localdate(report.discovered_at):
        problems.append("The date is before the loss was discovered.")
    if problems:
        raise InventoryRefused(*problems)
    with transaction.atomic():
        LossReport.objects.select_for_update(no_key=True).filter(pk=report.pk).values_list("pk").get()
        done = set(LossReportStep.objects.filter(report=report).values_list("step", flat=True))
        if step in done:
            raise InventoryRefused(
                f"“{LossReportStep.Step(step).label}” is recorded already: each step is recorded once."
            )
        if LossReportStep.Step.CLOSED in done:
            raise InventoryRefused("This report is closed.")
        if step == LossReportStep.Step.CLOSED and LossReportStep.Step.FORM_106 not in done:
            raise InventoryRefused("A report is closed once DEA Form 106 is filed: record the form first.")
        made = LossReportStep(
            report=report,
            step=step,
            done_on=done_on,
            reference=reference.strip(),
            note=note.strip(),
            recorded_by=actor,
        )
        _clean(made)
        made.save()
        audit_record(
            request=request,
            actor=actor,
            action="kapflow.controlled.loss_report.step_recorded",
            obj=report,
            detail={"step": step},
        )
    return made


# Reads -------------------------------------------------------------------------------------


def inventories():
    """Every inventory, newest first, with who took it and its number of discrepancies, and how
    many wait for an explanation. One query."""
    from django.db.models import Count

    return Inventory.objects.select_related("taken_by").annotate(
        n_counts=Count("counts", distinct=True),
        n_discrepancies=Count("counts__discrepancy", distinct=True),
        n_waiting=Count(
            "counts__discrepancy", filter=Q(counts__discrepancy__explained_at__isnull=True), distinct=True
        ),
    )


def inventory_counts(inventory: Inventory):
    """An inventory's counts with their lot, their discrepancy and who explained it. One query."""
    return (
        InventoryCount.objects.filter(inventory=inventory)
        .select_related("lot", "discrepancy__explained_by", "discrepancy__loss_report")
        .order_by("lot__drug", "lot__form", "lot__strength_mg", "lot__lot_number")
    )


def discrepancies_waiting():
    """Discrepancies not yet explained, oldest first, with their lot and inventory."""
    return (
        Discrepancy.objects.filter(explained_at__isnull=True)
        .select_related("count__lot", "count__inventory")
        .order_by("raised_at", "pk")
    )


def _closed():
    return LossReportStep.objects.filter(report=OuterRef("pk"), step=LossReportStep.Step.CLOSED)


def _step_done(step):
    return LossReportStep.objects.filter(report=OuterRef("pk"), step=step)


def loss_reports(*, open_only: bool = False):
    """Loss reports, newest first, each with whether it is closed and whether its notice and
    form are recorded. One query."""
    reports = LossReport.objects.select_related("discovered_by").annotate(
        is_closed=Exists(_closed()),
        notice_sent=Exists(_step_done(LossReportStep.Step.NOTICE)),
        form_filed=Exists(_step_done(LossReportStep.Step.FORM_106)),
    )
    return reports.filter(is_closed=False) if open_only else reports


def last_inventory_on() -> datetime.date | None:
    """The day of the latest inventory of any kind (initial, biennial or other: each counts every
    lot on hand). One query."""
    return Inventory.objects.order_by("-taken_on").values_list("taken_on", flat=True).first()


def told_of(keys: list[str]) -> dict[str, list[Reminder]]:
    """The reminders made under each of `keys` (whom it was told to, and whether the email went).
    One query."""
    found: dict[str, list[Reminder]] = {key: [] for key in keys}
    if keys:
        for reminder in Reminder.objects.filter(key__in=keys).select_related("recipient").order_by("pk"):
            found[reminder.key].append(reminder)
    return found


def inventory_key(due_on: datetime.date, *, overdue: bool = False) -> str:
    return f"controlled:{'inventory_overdue' if overdue else 'inventory'}:{due_on:%Y%m%d}"


@dataclass
class ReportRow:
    report: LossReport
    notice_text: str
    form_text: str
    notice_late: bool
    form_late: bool
    told: list = field(default_factory=list)


@dataclass
class Panel:
    started: bool
    last_on: datetime.date | None
    due_on: datetime.date | None
    due_text: str
    overdue: bool
    inventory_told: list
    waiting: list
    reports: list[ReportRow]
    registrant_name: str


PANEL_ROWS = 10


def _panel_facts(practice) -> dict:
    """In one query: the latest inventory's date, the registrant's name, and whether any
    discrepancy waits and any loss report is open (so that a practice with neither pays for no
    more)."""
    from kapflow.practice.models import Practice

    latest = Inventory.objects.order_by("-taken_on").values("taken_on")[:1]
    return (
        Practice.objects.filter(pk=practice.pk)
        .annotate(
            last_on=Subquery(latest),
            any_waiting=Exists(Discrepancy.objects.filter(explained_at__isnull=True)),
            any_open=Exists(LossReport.objects.filter(~Exists(_closed()))),
        )
        .values("last_on", "any_waiting", "any_open", "dea_registrant__full_name")
        .get()
    )


def dashboard_panel(practice, today: datetime.date) -> Panel:
    """The dashboard's "Controlled substances" panel: the next inventory due and how long is
    left, discrepancies waiting for the registrant, open loss reports with their dates, and who
    was told of each. One query when nothing waits, four at most whatever the number of rows."""
    facts = _panel_facts(practice)
    last_on = facts["last_on"]
    due_on = clocks.next_inventory_due(last_on) if last_on else None
    waiting = list(discrepancies_waiting()[: PANEL_ROWS + 1]) if facts["any_waiting"] else []
    for item in waiting:
        item.difference_text = difference_text(item.difference, item.count.lot)
    reports = (
        list(loss_reports(open_only=True).order_by("form_due_on", "pk")[: PANEL_ROWS + 1])
        if facts["any_open"]
        else []
    )
    keys = [f"controlled:loss:{r.pk}" for r in reports]
    if due_on:
        keys += [inventory_key(due_on), inventory_key(due_on, overdue=True)]
    told = told_of(keys)
    rows = [
        ReportRow(
            report=report,
            notice_text="sent" if report.notice_sent else clocks.days_text(report.notice_due_on, today),
            form_text="filed" if report.form_filed else clocks.days_text(report.form_due_on, today),
            notice_late=not report.notice_sent and report.notice_due_on < today,
            form_late=not report.form_filed and report.form_due_on < today,
            told=told[f"controlled:loss:{report.pk}"],
        )
        for report in reports
    ]
    return Panel(
        started=last_on is not None,
        last_on=last_on,
        due_on=due_on,
        due_text=clocks.days_text(due_on, today) if due_on else "",
        overdue=bool(due_on and due_on < today),
        inventory_told=(told[inventory_key(due_on)] + told[inventory_key(due_on, overdue=True)])
        if due_on
        else [],
        waiting=waiting,
        reports=rows,
        registrant_name=facts["dea_registrant__full_name"] or "",
    )


# Reminders (kapflow.reminders.sources.controlled) ---------------------------------------------


def reminders_due(now: datetime.datetime, practice) -> list[tuple[str, User, datetime.datetime]]:
    """What to remind the registrant and the admins of now, as (key, person, due_at):

    - the next inventory, `inventory_reminder_days` before it is due, and once more the day after
      it falls due with none taken (a new inventory moves the due date, and so the key);
    - an open loss report whose written notice is due today or past with none recorded, and one
      whose Form 106 is due today or past with none filed.

    Three queries whatever the number of reports."""
    today = timezone.localdate(now)
    found: list[tuple[str, datetime.datetime]] = []
    last_on = last_inventory_on()
    if last_on is not None:
        due_on = clocks.next_inventory_due(last_on)
        if today >= clocks.inventory_reminder_on(due_on, practice.inventory_reminder_days):
            found.append(
                (
                    inventory_key(due_on),
                    _day_start(clocks.inventory_reminder_on(due_on, practice.inventory_reminder_days)),
                )
            )
        if today > due_on:
            found.append(
                (inventory_key(due_on, overdue=True), _day_start(due_on + datetime.timedelta(days=1)))
            )
    for report in loss_reports(open_only=True).filter(
        Q(notice_sent=False, notice_due_on__lte=today) | Q(form_filed=False, form_due_on__lte=today)
    ):
        if not report.notice_sent and report.notice_due_on <= today:
            found.append((f"controlled:loss_notice:{report.pk}", _day_start(report.notice_due_on)))
        if not report.form_filed and report.form_due_on <= today:
            found.append((f"controlled:loss_form:{report.pk}", _day_start(report.form_due_on)))
    if not found:
        return []
    people = told_people(practice)
    return [(key, person, due_at) for key, due_at in found for person in people]


def still_due_keys(keys: set[str], now: datetime.datetime) -> set[str]:
    """Of these CONTROLLED reminder keys, the ones whose reason still holds at the moment of
    sending: the inventory not yet taken, the loss report's step not yet recorded. Keys this
    module did not make (other controlled reminders) are kept. Two queries at most."""
    keep = set()
    reports: dict[int, list[str]] = {}
    last_on = None
    for key in keys:
        parts = key.split(":")
        if len(parts) == 3 and parts[1] in ("inventory", "inventory_overdue"):
            last_on = last_on or last_inventory_on() or datetime.date.min
            if (
                last_on != datetime.date.min
                and inventory_key(clocks.next_inventory_due(last_on), overdue=parts[1] == "inventory_overdue")
                == key
            ):
                keep.add(key)
        elif len(parts) == 3 and parts[1] in ("loss", "loss_notice", "loss_form") and parts[2].isdigit():
            reports.setdefault(int(parts[2]), []).append(key)
        else:
            keep.add(key)
    if reports:
        for report in loss_reports().filter(pk__in=reports):
            for key in reports[report.pk]:
                kind = key.split(":")[1]
                if report.is_closed:
                    continue
                if (
                    kind == "loss"
                    or (kind == "loss_notice" and not report.notice_sent)
                    or (kind == "loss_form" and not report.form_filed)
                ):
                    keep.add(key)
    return keep


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def loss_lots():
    """The lots a loss can be taken from: those holding stock, with their balance. One query."""
    return with_balances(Lot.objects.all()).filter(balance__gt=0)


def difference_text(difference: Decimal, lot: Lot) -> str:
    """ "+2 devices", "-2 mL": a discrepancy's difference, with its sign."""
    return ("+" if difference > 0 else "-") + quantity_text(abs(difference), lot)


def with_texts(counts) -> list[InventoryCount]:
    """Counts with their quantities in words (`counted_text`, `expected_text`, `open_text`,
    `difference_text`), for the pages. Reads each count's lot and discrepancy: select them."""
    found = list(counts)
    for item in found:
        item.counted_text = quantity_text(item.counted, item.lot)
        item.expected_text = quantity_text(item.expected, item.lot)
        item.open_text = quantity_text(item.open_quantity, item.lot)
        item.size_text = quantity_text(item.lot.container_quantity, item.lot)
        item.difference_text = difference_text(item.counted - item.expected, item.lot)
    return found


def quantity_words(quantity: Decimal, lot: Lot) -> str:
    """ "3.2 mL (160 mg)": for the pages."""
    return f"{quantity_text(quantity, lot)} ({number(quantity * lot.strength_mg)} mg)"
