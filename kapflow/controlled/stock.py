"""The stock pages' writes (docs/stock-ledger.md): a receipt (of a new lot or into one the
practice holds), stock sent out of the practice (a transfer to another registrant, a return to
the supplier, a destruction by a reverse distributor or on site before two witnesses), and a
dose put right after its posting was reversed. Every entry goes through `ledger.entry_post`, in
one transaction with anything else the write saves (a new lot), and is audited there; the
reversal of an entry is `ledger.correction_post`.

Who may write here is `ledger.can_keep_stock`: a prescriber of the practice or a practice
admin. What the DEA asks each record to hold is checked here too, so that a form and any other
caller refuse alike."""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.audit.services import audit_record
from kapflow.controlled import ledger
from kapflow.controlled.ledger import LedgerRefused
from kapflow.controlled.models import Entry, Lot
from kapflow.controlled.ndc import ndc_problem
from kapflow.lib.identifiers import DEA_NUMBER_PROBLEM, dea_number_valid

# The kinds of entry a person posts from a lot's page, taking stock out of the practice.
OUTGOING = (Entry.Kind.TRANSFER, Entry.Kind.RETURN, Entry.Kind.DESTRUCTION)


def stock_keepers():
    """The accounts that may receive stock and post to the ledger (`ledger.can_keep_stock`), as
    a queryset: a practice admin, or a prescriber of the practice."""
    return User.objects.filter(is_active=True).filter(
        Q(is_practice_admin=True) | Q(is_prescriber=True, outside_practice=False)
    )


def entry_moment(day: datetime.date) -> datetime.datetime:
    """The moment recorded for something that happened on `day`: now when it is today, else
    noon of that day in the practice's time zone (the record asks for the date, not the hour)."""
    if day == timezone.localdate():
        return timezone.now()
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))


def _refuse_unless_keeper(*people) -> None:
    for person in people:
        if not ledger.can_keep_stock(person):
            raise LedgerRefused(
                f"{person.full_name} does not keep the stock ledger: receipts and stock sent out are "
                "recorded by a prescriber of the practice or a practice admin."
            )


def _party_problems(*, name: str, dea_number: str, needs_address: bool, address: str) -> list[str]:
    problems = []
    if not name.strip():
        problems.append("Give the name of the registrant or business.")
    if needs_address and not address.strip():
        problems.append("Give their address, as on their DEA registration.")
    if not dea_number_valid(dea_number):
        problems.append(DEA_NUMBER_PROBLEM)
    return problems


def lot_problems_new(lot: Lot, *, compounded: bool, today: datetime.date) -> list[str]:
    """Why a new lot as described cannot be received; empty when it can."""
    problems = []
    if compounded:
        if lot.ndc.strip():
            problems.append("A compounded product has no NDC: clear the NDC or untick “compounded”.")
    elif not lot.ndc.strip():
        problems.append(
            "Give the NDC printed on the package, or tick “compounded: no NDC” for a compounded product."
        )
    elif problem := ndc_problem(lot.ndc):
        problems.append(problem)
    if lot.expires_on < today:
        problems.append(
            f"Lot {lot.lot_number} expired on {lot.expires_on:%Y-%m-%d}: expired stock is not received "
            "into the ledger. Send it back to the supplier."
        )
    return problems


def lot_exists(*, drug: str, form: str, strength_mg: Decimal, lot_number: str) -> Lot | None:
    """The lot already recorded with this drug, finished form, strength and lot number."""
    return Lot.objects.filter(
        drug=drug, form=form, strength_mg=strength_mg, lot_number__iexact=lot_number.strip()
    ).first()


def lot_receive(
    *,
    actor,
    received_by,
    containers: int,
    received_on: datetime.date,
    supplier_name: str,
    supplier_address: str,
    supplier_dea_number: str,
    reference: str,
    lot: Lot | None = None,
    new_lot: Lot | None = None,
    compounded: bool = False,
    entry_key=None,
    request=None,
) -> Entry:
    """Receive `containers` full containers into `lot`, or into `new_lot` (unsaved: it is saved
    here, in the receipt's transaction). The record holds what 21 CFR 1304.21(d) and 1304.22(c)
    ask of a receipt: the supplier's name, address and DEA number, what came and how much, the
    actual date it arrived, and the invoice or packing slip. Refused before the ledger starts
    (the initial inventory starts it). Sent again with the same `entry_key` (a double click on
    "Record receipt"), the receipt posted the first time is returned and nothing more."""
    if (lot is None) == (new_lot is None):
        raise ValueError("receive into one lot: an existing one or a new one")
    _refuse_unless_keeper(actor, received_by)
    if not ledger.ledger_started():
        raise LedgerRefused(
            "The stock ledger starts with the initial inventory: take it first, then record receipts."
        )
    today = timezone.localdate()
    problems = []
    if received_on > today:
        problems.append("The date received is in the future: give the day the stock actually arrived.")
    if containers < 1:
        problems.append("Give the number of containers received: one or more.")
    problems += _party_problems(
        name=supplier_name, dea_number=supplier_dea_number, needs_address=True, address=supplier_address
    )
    if not reference.strip():
        problems.append("Give the invoice or packing slip's number: it is kept with the record.")
    if new_lot is not None:
        problems += lot_problems_new(new_lot, compounded=compounded, today=today)
    if problems:
        raise LedgerRefused(*problems)
    with transaction.atomic():
        if new_lot is not None:
            # A new lot is not locked by anyone yet: the key is looked up before it is made, and
            # again when the lot turns out to be made a moment ago (the first sending's).
            if (saved := ledger.entry_sent_before(entry_key, actor)) is not None:
                return saved
            try:
                lot = _lot_create(new_lot, actor=actor, request=request)
            except LedgerRefused:
                if (saved := ledger.entry_sent_before(entry_key, actor)) is not None:
                    return saved
                raise
        quantity = lot.container_quantity * containers
        return ledger.entry_post(
            lot=lot,
            kind=Entry.Kind.RECEIPT,
            quantity=quantity,
            occurred_at=entry_moment(received_on),
            person=received_by,
            recorded_by=actor,
            containers=containers,
            party_name=supplier_name.strip(),
            party_address=supplier_address.strip(),
            party_dea_number=supplier_dea_number.strip().upper(),
            document_reference=reference.strip(),
            entry_key=entry_key,
            request=request,
        )


def _lot_create(lot: Lot, *, actor, request) -> Lot:
    lot.lot_number = lot.lot_number.strip()
    lot.product = lot.product.strip()
    lot.ndc = lot.ndc.strip()
    lot.created_by = actor
    if same := lot_exists(
        drug=lot.drug, form=lot.form, strength_mg=lot.strength_mg, lot_number=lot.lot_number
    ):
        raise LedgerRefused(_already(same))
    try:
        lot.full_clean()
    except ValidationError as error:
        raise LedgerRefused(*error.messages) from None
    try:
        with transaction.atomic():
            lot.save()
    except IntegrityError:
        # Recorded by someone else a moment ago.
        same = lot_exists(
            drug=lot.drug, form=lot.form, strength_mg=lot.strength_mg, lot_number=lot.lot_number
        )
        raise LedgerRefused(_already(same) if same else "That lot could not be recorded.") from None
    audit_record(
        request=request,
        actor=actor,
        action="kapflow.controlled.lot.created",
        obj=lot,
        detail={"lot_number": lot.lot_number, "drug": lot.drug, "form": lot.form},
    )
    return lot


def _already(lot: Lot) -> str:
    return (
        f"Lot {lot.lot_number} of {lot.strength_text} {lot.get_form_display().lower()} is recorded "
        "already: choose it under “a lot the practice holds” instead of describing it again."
    )


def stock_send(
    *,
    actor,
    lot: Lot,
    kind: str,
    quantity: Decimal,
    occurred_on: datetime.date,
    person,
    party_name: str = "",
    party_address: str = "",
    party_dea_number: str = "",
    reference: str = "",
    reason: str = "",
    on_site: bool = False,
    witness=None,
    second_witness=None,
    entry_key=None,
    request=None,
) -> Entry:
    """Take `quantity` (in the lot's unit, positive) out of `lot`: a transfer to another
    registrant or a return to the supplier (name, address, DEA number and the invoice or
    document), or a destruction, either by a reverse distributor (its name and DEA number, and
    the DEA Form 41 or invoice) or on site (`on_site`), witnessed by two people other than the
    one destroying it, the one recording it and each other, who confirmed who they are on the screen
    (kapflow.accounts.witness; 21 CFR 1317.95(d)). Refused, naming the balance, when the lot
    holds less. Sent again with the same `entry_key`, the entry posted the first time is
    returned."""
    if kind not in OUTGOING:
        raise ValueError(f"not an outgoing kind: {kind}")
    _refuse_unless_keeper(actor, person)
    if not ledger.ledger_started():
        raise LedgerRefused("The stock ledger starts with the initial inventory: take it first.")
    problems = []
    quantity = Decimal(quantity)
    if quantity <= 0:
        problems.append(f"Give the quantity that left, in {lot.unit}, more than zero.")
    if occurred_on > timezone.localdate():
        problems.append("The date is in the future: give the day it happened.")
    now = timezone.now()
    fields: dict = {}
    if kind == Entry.Kind.DESTRUCTION and on_site:
        if witness is None or second_witness is None:
            problems.append("A destruction on site is witnessed by two people: both confirm who they are.")
        else:
            if witness.pk == person.pk or second_witness.pk == person.pk:
                problems.append(f"{person.full_name} is destroying the stock and cannot also witness it.")
            elif actor.pk in (witness.pk, second_witness.pk):
                # Whoever records it names the person destroying it unconfirmed: they cannot also
                # be one of the two who confirm it happened.
                problems.append(
                    f"{actor.full_name} is recording the destruction and cannot also witness it: "
                    "the two witnesses are two other clinicians."
                )
            if witness.pk == second_witness.pk:
                problems.append("The two witnesses must be two different people.")
            for who in (witness, second_witness):
                if not ledger.can_witness(who):
                    problems.append(f"{who.full_name} is not a clinician of the practice, who may witness.")
        if not reason.strip():
            problems.append("Say how the stock was destroyed (the method), and why.")
        if not reference.strip():
            problems.append("Give the number of the DEA Form 41 that records the destruction.")
        fields = {
            "witness": witness,
            "witness_confirmed_at": now,
            "second_witness": second_witness,
            "second_witness_confirmed_at": now,
        }
    else:
        problems += _party_problems(
            name=party_name,
            dea_number=party_dea_number,
            needs_address=kind != Entry.Kind.DESTRUCTION,
            address=party_address,
        )
        if not reference.strip():
            problems.append(
                "Give the DEA Form 41 or invoice number the reverse distributor gave."
                if kind == Entry.Kind.DESTRUCTION
                else "Give the invoice or document number that goes with the stock."
            )
        fields = {
            "party_name": party_name.strip(),
            "party_address": party_address.strip(),
            "party_dea_number": party_dea_number.strip().upper(),
        }
    if problems:
        raise LedgerRefused(*problems)
    return ledger.entry_post(
        lot=lot,
        kind=kind,
        quantity=-quantity,
        occurred_at=entry_moment(occurred_on),
        person=person,
        recorded_by=actor,
        document_reference=reference.strip(),
        reason=reason.strip(),
        entry_key=entry_key,
        request=request,
        **fields,
    )


def posted_for_dose(administration) -> Decimal:
    """What the ledger holds against a dose now: the sum of its postings and their reversals,
    over every lot (zero once each posting is reversed). The waste of what was left of it names
    the dose too, and is not a posting of it. One query."""
    dose = Entry.Kind.ADMINISTRATION
    total = Entry.objects.filter(
        Q(kind=dose, administration=administration)
        | Q(reverses__kind=dose, reverses__administration=administration)
    ).aggregate(total=Sum("quantity"))["total"]
    return total or Decimal(0)


def lots_for_dose(administration, *, day: datetime.date):
    """The lots a reversed dose could be posted to instead: the same drug, a form its route is
    given from, not expired, and not already holding a posting of it."""
    forms = [form for form, routes in Lot.ROUTES.items() if administration.route in routes]
    return (
        Lot.objects.filter(drug=administration.order.drug, form__in=forms, expires_on__gte=day)
        .exclude(entries__kind=Entry.Kind.ADMINISTRATION, entries__administration=administration)
        .order_by("expires_on", "lot_number")
    )


def dose_repost(*, actor, administration, lot: Lot, reason: str, request=None) -> Entry:
    """Post a dose whose posting was reversed (it was posted to the wrong lot) to the lot it came
    from. The runbook's record of the dose is not changed; the dose is answered for once in the
    ledger: refused while any posting of it stands unreversed, and once per lot."""
    _refuse_unless_keeper(actor)
    reason = reason.strip()
    if not reason:
        raise LedgerRefused(
            "Say why the dose is posted to this lot (for example, the lot it really came from)."
        )
    day = timezone.localdate(administration.given_at)
    if problems := ledger.lot_problems(
        lot, drug=administration.order.drug, route=administration.route, day=day
    ):
        raise LedgerRefused(*problems)
    quantity = ledger.dose_quantity(lot, administration.dose_mg)
    with transaction.atomic():
        # Two people putting the same dose right at once: the second waits here, then finds it
        # posted.
        type(administration).objects.select_for_update(no_key=True).filter(pk=administration.pk).values_list(
            "pk"
        ).get()
        if posted_for_dose(administration) != 0:
            raise LedgerRefused(
                "This dose is still posted to a lot: reverse that posting first, "
                "then post it to the right lot."
            )
        if Entry.objects.filter(
            kind=Entry.Kind.ADMINISTRATION, administration=administration, lot=lot
        ).exists():
            raise LedgerRefused(
                f"This dose was posted to lot {lot.lot_number} before and reversed: "
                "choose the lot it came from."
            )
        return ledger.entry_post(
            lot=lot,
            kind=Entry.Kind.ADMINISTRATION,
            quantity=-quantity,
            occurred_at=administration.given_at,
            person=administration.given_by,
            recorded_by=actor,
            administration=administration,
            client=administration.runbook.visit.client,
            reason=reason,
            request=request,
        )
