"""Waste: what is left of a dose drawn from one of the practice's lots (a vial drawn to 1 mL of
which 0.8 mL was given), recorded with the dose it is left from and witnessed by a second
clinician of the practice, who confirms who they are there and then (kapflow.accounts.witness).
It is not a destruction of stock and needs no DEA Form 41 (docs/runbook-ledger.md).

A waste is posted to the lot's ledger as an entry of kind "waste" naming the dose, the client,
the person who wasted it and the witness. The runbook is locked first and the lot second, as a
dose takes them: a waste is recorded until the record is signed, after the discharge too (the
cleaning up comes after the client has left)."""

import datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from kapflow.controlled import ledger
from kapflow.controlled.models import Entry
from kapflow.dosing.models import Administration
from kapflow.dosing.services.runbook import RunbookRefused, _audit, _on_the_day, _open_runbook
from kapflow.visits.models import Visit


def dose_ledger(doses) -> list[Entry]:
    """The ledger of this session's doses from a lot, for the runbook: each dose in `doses` is
    given `taken` (what it took from its lot, "0.8 mL", empty for a dose from no lot) and
    `wastes` (its waste entries, oldest first, each with `dose`, `text` ("0.2 mL") and
    `reversed_by`, the correction that reversed it, or None). Returns every waste. One query;
    none when no dose came from a lot."""
    from_lots = {dose.pk: dose for dose in doses if dose.lot_id is not None}
    for dose in doses:
        dose.taken, dose.wastes = "", []
    if not from_lots:
        return []
    entries = (
        Entry.objects.filter(
            administration_id__in=list(from_lots),
            kind__in=[Entry.Kind.ADMINISTRATION, Entry.Kind.WASTE],
        )
        .select_related("lot", "person", "witness", "reversal")
        .order_by("occurred_at", "pk")
    )
    wastes = []
    for entry in entries:
        entry.dose = dose = from_lots[entry.administration_id]
        entry.reversed_by = getattr(entry, "reversal", None)
        entry.text = ledger.quantity_text(-entry.quantity, entry.lot)
        if entry.kind == Entry.Kind.ADMINISTRATION:
            if entry.reversed_by is None and entry.lot_id == dose.lot_id:
                dose.taken = entry.text
        else:
            dose.wastes.append(entry)
            wastes.append(entry)
    return wastes


def _quantity(value) -> Decimal:
    try:
        quantity = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise RunbookRefused("Give the quantity wasted as a number.") from None
    if not quantity.is_finite() or quantity <= 0:
        raise RunbookRefused("Give the quantity wasted: more than nothing.")
    return quantity


def waste_record(
    *,
    actor,
    visit: Visit,
    administration: Administration,
    quantity: Decimal,
    reason: str,
    wasted_at: datetime.datetime,
    witness,
    witness_confirmed_at: datetime.datetime,
    request=None,
) -> Entry:
    """Record the waste of `quantity` (in the lot's unit) left of `administration`, a dose of
    this session from one of the practice's lots, wasted by `actor` and witnessed by `witness`,
    whose identity the caller confirmed at `witness_confirmed_at` (kapflow.accounts.witness.
    witness_confirm, purpose "waste"). Posted to the lot's ledger with the dose and the client,
    and audited. Refused for a witness who is the person wasting (the database refuses it too),
    or who is not an active clinician of the practice; for someone other than a clinician of
    the practice wasting; for a dose from no lot or of another session; for more than the lot
    holds (its balance named); after another waste of the same dose that stands; on a signed
    record or a visit that did not take place. Allowed after the discharge. A waste sent again
    (the same dose, quantity, person and witness, while the first stands) is saved once: the
    first is returned."""
    quantity = _quantity(quantity)
    reason = (reason or "").strip()
    _on_the_day(wasted_at, visit)
    problems = []
    if not actor.is_clinician or actor.outside_practice:
        problems.append(
            "Waste is recorded by the clinician who wastes it: a therapist or prescriber of the practice."
        )
    if witness.pk == actor.pk:
        problems.append(
            "The witness is someone other than the person wasting: ask another clinician of the "
            "practice to witness and type their own sign-in."
        )
    elif not ledger.can_witness(witness):
        problems.append(
            f"{witness.full_name} cannot witness a waste: an active therapist or prescriber of the "
            "practice does."
        )
    if not reason:
        problems.append(
            "Say what was wasted and why (e.g. “drew 1 mL, gave 0.8 mL; 0.2 mL left in the syringe”)."
        )
    if problems:
        raise RunbookRefused(*problems)
    with transaction.atomic():
        # The runbook first, then (in entry_post) the lot: the order a dose takes them in.
        runbook = _open_runbook(visit)
        dose = runbook.administrations.select_related("lot").filter(pk=administration.pk).first()
        if dose is None:
            raise RunbookRefused("That dose is not one of this session's.")
        if dose.lot is None:
            given = timezone.localtime(dose.given_at)
            raise RunbookRefused(
                f"The dose at {given:%H:%M} came from no lot of the practice's stock (lot "
                f"{dose.lot_number}): nothing of it is in the stock ledger, and no waste is recorded."
            )
        if wasted_at < dose.given_at:
            raise RunbookRefused("The waste comes after the dose it is left from: check the time.")
        standing = list(
            Entry.objects.filter(administration=dose, kind=Entry.Kind.WASTE, reversal__isnull=True)
            .select_related("witness")
            .order_by("sequence")
        )
        for entry in standing:
            if (entry.quantity, entry.person_id, entry.witness_id) == (-quantity, actor.pk, witness.pk):
                return entry  # the same waste sent again
        if standing:
            first = standing[0]
            raise RunbookRefused(
                f"The waste of this dose is recorded already "
                f"({ledger.quantity_text(-first.quantity, dose.lot)}, witnessed by "
                f"{first.witness.full_name}): a prescriber or practice admin reverses it in the "
                "stock ledger if it is wrong."
            )
        try:
            entry = ledger.entry_post(
                lot=dose.lot,
                kind=Entry.Kind.WASTE,
                quantity=-quantity,
                occurred_at=wasted_at,
                person=actor,
                recorded_by=actor,
                administration=dose,
                client=visit.client,
                witness=witness,
                witness_confirmed_at=witness_confirmed_at,
                reason=reason,
                request=request,
            )
        except ledger.LedgerRefused as refused:
            raise RunbookRefused(*refused.problems) from None
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.waste.recorded",
            visit=visit,
            obj=entry,
            detail={"user": witness.pk, "dose": dose.pk, "quantity": str(quantity)},
        )
    return entry
