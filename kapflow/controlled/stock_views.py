"""The stock pages (docs/stock-ledger.md): every lot with its balance, a receipt, a lot's whole
ledger, and from it the entries a person posts by hand (stock sent out, destroyed, an entry
reversed, a dose posted to the lot it came from). For a prescriber of the practice or a practice
admin (`ledger.can_keep_stock`); anyone else on the staff gets 403.

A lot's ledger names the clients its doses were given to (the DEA record does): each page of it
is audited with the clients it showed."""

import datetime
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.accounts.witness import WitnessRefused, witness_confirm
from kapflow.audit.services import audit_record
from kapflow.controlled import ledger, stock
from kapflow.controlled.ledger import LedgerRefused, quantity_text
from kapflow.controlled.models import ZERO, Entry, Lot
from kapflow.controlled.stock_forms import CorrectionForm, DestructionForm, ReceiptForm, RepostForm, SendForm
from kapflow.lib.params import MAX_ID, int_param
from kapflow.medical.doses import number

# A lot expiring within this many days is marked on the stock page, so that it is used first or
# returned while the supplier still takes it back.
EXPIRING_WITHIN_DAYS = 60
ENTRIES_PER_PAGE = 50


def keeper_view(view):
    """A stock page: signed-in staff who keep the stock ledger (`ledger.can_keep_stock`)."""

    @staff_view(Role.PRACTICE_ADMIN, Role.PRESCRIBER)
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not ledger.can_keep_stock(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _lot_or_404(lot_id: int) -> Lot:
    lot = Lot.objects.filter(pk=lot_id).first() if 0 < lot_id <= MAX_ID else None
    if lot is None:
        raise Http404("No such lot.")
    return lot


def _entry_or_404(lot: Lot, entry_id: int) -> Entry:
    entry = (
        Entry.objects.select_related("lot", "client", "person", "reversal", "administration__order")
        .filter(lot=lot, pk=entry_id)
        .first()
        if 0 < entry_id <= MAX_ID
        else None
    )
    if entry is None:
        raise Http404("No such entry in this lot's ledger.")
    return entry


def _inventory_url() -> str:
    """The initial inventory's page (kapflow.controlled.inventory_views), where the ledger starts."""
    for name in ("inventory:initial", "inventory:new"):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return ""


def amount(quantity, lot: Lot) -> str:
    """ "50 mL (500 mg)": a quantity in the lot's unit and in mg."""
    return f"{quantity_text(quantity, lot)} ({number(quantity * lot.strength_mg)} mg)"


def _expiry(lot: Lot, today: datetime.date) -> str:
    if lot.expires_on < today:
        return "expired"
    if lot.expires_on <= today + datetime.timedelta(days=EXPIRING_WITHIN_DAYS):
        return "expiring"
    return ""


@require_GET
@keeper_view
def stock_list(request):
    """Every lot and its balance, read in one query with the lots (ledger.with_balances)."""
    today = timezone.localdate()
    show_empty = request.GET.get("empty") == "1"
    rows, hidden = [], 0
    for lot in ledger.with_balances(Lot.objects.all()):
        held = ZERO if lot.balance is None else lot.balance
        if held <= 0 and not show_empty:
            hidden += 1
            continue
        rows.append(
            {
                "lot": lot,
                "balance": quantity_text(held, lot),
                "balance_mg": number(held * lot.strength_mg),
                "expiry": _expiry(lot, today),
            }
        )
    audit_record(request=request, action="kapflow.controlled.stock.viewed", detail={"empty": show_empty})
    return render(
        request,
        "controlled/stock.html",
        {
            "rows": rows,
            "hidden": hidden,
            "show_empty": show_empty,
            "started": ledger.ledger_started(),
            "inventory_url": _inventory_url(),
            "expiring_days": EXPIRING_WITHIN_DAYS,
        },
    )


@require_http_methods(["GET", "POST"])
@keeper_view
def receipt(request):
    """A receipt: into a lot the practice holds or a new lot, with the supplier's invoice."""
    started = ledger.ledger_started()
    lot_id = int_param(request, "lot", None)
    initial = {
        "received_on": timezone.localdate(),
        "received_by": request.user.pk,
        "which": ReceiptForm.EXISTING if Lot.objects.exists() else ReceiptForm.NEW,
    }
    if lot_id:
        initial |= {"lot": lot_id, "which": ReceiptForm.EXISTING}
    form = ReceiptForm(request.POST or None, initial=initial)
    if request.method == "POST" and started and not form.is_valid():
        # "Record receipt" clicked twice for a new lot: the second sending finds the lot made
        # by the first ("recorded already"); it lands where the first did.
        # (An empty POST leaves the form unbound, with nothing cleaned.)
        key = getattr(form, "cleaned_data", {}).get("entry_key")
        saved = ledger.entry_sent_before(key, request.user)
        if saved is not None:
            return redirect("controlled:lot", saved.lot_id)
    if request.method == "POST" and not started:
        form.add_error(
            None, "The stock ledger starts with the initial inventory: take it first, then record receipts."
        )
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        new = data["which"] == ReceiptForm.NEW
        try:
            entry = stock.lot_receive(
                actor=request.user,
                received_by=data["received_by"],
                containers=data["containers"],
                received_on=data["received_on"],
                supplier_name=data["supplier_name"],
                supplier_address=data["supplier_address"],
                supplier_dea_number=data["supplier_dea_number"],
                reference=data["reference"],
                lot=None if new else data["lot"],
                new_lot=form.new_lot() if new else None,
                compounded=bool(data.get("compounded")) if new else False,
                entry_key=data["entry_key"],
                request=request,
            )
        except LedgerRefused as refused:
            for problem in refused.problems:
                form.add_error(None, problem)
        else:
            lot = entry.lot
            messages.success(
                request,
                f"Received {entry.containers} × {quantity_text(lot.container_quantity, lot)} = "
                f"{amount(entry.quantity, lot)} into lot {lot.lot_number}. It now holds "
                f"{amount(entry.balance_after, lot)}.",
            )
            return redirect("controlled:lot", lot.pk)
    return render(
        request,
        "controlled/stock_receipt.html",
        {"form": form, "started": started, "inventory_url": _inventory_url()},
    )


def _entry_row(entry: Entry) -> dict:
    lot = entry.lot
    return {
        "entry": entry,
        "quantity": ("+" if entry.quantity > 0 else "−") + amount(abs(entry.quantity), lot),
        "balance": amount(entry.balance_after, lot),
    }


@require_GET
@keeper_view
def lot_detail(request, lot_id):
    """A lot and its whole ledger, a page at a time, newest or oldest first."""
    lot = _lot_or_404(lot_id)
    oldest_first = request.GET.get("order") == "oldest"
    entries = (
        Entry.objects.filter(lot=lot)
        .select_related(
            "person", "recorded_by", "client", "witness", "second_witness", "reverses", "reversal", "lot"
        )
        .order_by("sequence" if oldest_first else "-sequence")
    )
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(int_param(request, "page", 1))
    rows = [_entry_row(entry) for entry in page.object_list]
    clients = sorted({row["entry"].client_id for row in rows if row["entry"].client_id})
    audit_record(
        request=request,
        action="kapflow.controlled.lot.viewed",
        obj=lot,
        detail={"lot": lot.pk, "page": page.number, "clients": clients},
    )
    held = ledger.balance(lot)
    today = timezone.localdate()
    return render(
        request,
        "controlled/lot.html",
        {
            "lot": lot,
            "page": page,
            "rows": rows,
            "oldest_first": oldest_first,
            "order": "oldest" if oldest_first else "newest",
            "balance": amount(held, lot),
            "container": quantity_text(lot.container_quantity, lot),
            "expiry": _expiry(lot, today),
            "started": ledger.ledger_started(),
            "outgoing": [
                ("controlled:transfer", "Transfer to another registrant"),
                ("controlled:return", "Return to the supplier"),
                ("controlled:destruction", "Destroy"),
            ],
        },
    )


def _refusals(form, refused: LedgerRefused) -> None:
    for problem in refused.problems:
        form.add_error(None, problem)


def _send(request, lot_id, kind):
    lot = _lot_or_404(lot_id)
    form = SendForm(
        request.POST or None,
        lot=lot,
        kind=kind,
        initial={"occurred_on": timezone.localdate(), "person": request.user.pk},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            entry = stock.stock_send(
                actor=request.user,
                lot=lot,
                kind=kind,
                quantity=data["quantity"],
                occurred_on=data["occurred_on"],
                person=data["person"],
                party_name=data["party_name"],
                party_address=data["party_address"],
                party_dea_number=data["party_dea_number"],
                reference=data["reference"],
                reason=data["reason"],
                entry_key=data["entry_key"],
                request=request,
            )
        except LedgerRefused as refused:
            _refusals(form, refused)
        else:
            messages.success(
                request,
                f"Entry #{entry.sequence} posted: {amount(-entry.quantity, lot)} "
                f"{'transferred to' if kind == Entry.Kind.TRANSFER else 'returned to'} {entry.party_name}. "
                f"Lot {lot.lot_number} now holds {amount(entry.balance_after, lot)}.",
            )
            return redirect("controlled:lot", lot.pk)
    return render(
        request,
        "controlled/entry_send.html",
        {
            "form": form,
            "lot": lot,
            "kind_label": Entry.Kind(kind).label,
            "balance": amount(ledger.balance(lot), lot),
        },
    )


@require_http_methods(["GET", "POST"])
@keeper_view
def transfer(request, lot_id):
    """Stock sent to another DEA registrant, with their name, address and DEA number."""
    return _send(request, lot_id, Entry.Kind.TRANSFER)


@require_http_methods(["GET", "POST"])
@keeper_view
def supplier_return(request, lot_id):
    """Stock sent back to the supplier, with its name, address and DEA number."""
    return _send(request, lot_id, Entry.Kind.RETURN)


def _confirm_witnesses(request, form) -> tuple:
    """Both witnesses, each confirmed by their own sign-in; form errors for a refusal."""
    data, found = form.cleaned_data, []
    for prefix, who in (("witness", "First witness"), ("second_witness", "Second witness")):
        try:
            found.append(
                witness_confirm(
                    request=request,
                    email=data.get(f"{prefix}_email", ""),
                    password=data.get(f"{prefix}_password", ""),
                    code=data.get(f"{prefix}_code", ""),
                    purpose="destruction",
                )
            )
        except WitnessRefused as refused:
            form.add_error(f"{prefix}_password", f"{who}: {refused}")
            found.append(None)
    return tuple(found)


@require_http_methods(["GET", "POST"])
@keeper_view
def destruction(request, lot_id):
    """Stock destroyed: taken by a reverse distributor, or destroyed here before two witnesses
    who each confirm who they are (21 CFR 1317.95(d))."""
    lot = _lot_or_404(lot_id)
    form = DestructionForm(
        request.POST or None,
        lot=lot,
        initial={"occurred_on": timezone.localdate(), "person": request.user.pk},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        on_site = data["method"] == DestructionForm.ON_SITE
        witness = second = None
        if on_site:
            witness, second = _confirm_witnesses(request, form)
        if not form.errors:
            try:
                entry = stock.stock_send(
                    actor=request.user,
                    lot=lot,
                    kind=Entry.Kind.DESTRUCTION,
                    quantity=data["quantity"],
                    occurred_on=data["occurred_on"],
                    person=data["person"],
                    party_name="" if on_site else data["party_name"],
                    party_dea_number="" if on_site else data["party_dea_number"],
                    reference=data["reference"],
                    reason=data["reason"],
                    on_site=on_site,
                    witness=witness,
                    second_witness=second,
                    entry_key=data["entry_key"],
                    request=request,
                )
            except LedgerRefused as refused:
                _refusals(form, refused)
            else:
                how = (
                    f"destroyed here, witnessed by {witness.full_name} and {second.full_name}"
                    if on_site
                    else f"sent for destruction to {entry.party_name}"
                )
                messages.success(
                    request,
                    f"Entry #{entry.sequence} posted: {amount(-entry.quantity, lot)} {how}. "
                    f"Lot {lot.lot_number} now holds {amount(entry.balance_after, lot)}.",
                )
                return redirect("controlled:lot", lot.pk)
    return render(
        request,
        "controlled/entry_destruction.html",
        {"form": form, "lot": lot, "balance": amount(ledger.balance(lot), lot)},
    )


def _audit_entry_opened(request, entry: Entry, purpose: str) -> None:
    """The pages about one entry name its client, for an administration: audited."""
    audit_record(
        request=request,
        action="kapflow.controlled.entry.opened",
        client=entry.client,
        obj=entry,
        detail={"lot": entry.lot_id, "purpose": purpose},
    )


@require_http_methods(["GET", "POST"])
@keeper_view
def correction(request, lot_id, entry_id):
    """Reverse an entry, with the reason: a correction entry of the opposite quantity."""
    lot = _lot_or_404(lot_id)
    entry = _entry_or_404(lot, entry_id)
    form = CorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            reversal = ledger.correction_post(
                actor=request.user, entry=entry, reason=form.cleaned_data["reason"], request=request
            )
        except LedgerRefused as refused:
            _refusals(form, refused)
        else:
            said = (
                " The runbook's record of the dose is unchanged: post the dose to the lot it came from."
                if entry.kind == Entry.Kind.ADMINISTRATION
                else ""
            )
            messages.success(
                request,
                f"Entry #{entry.sequence} is reversed by entry #{reversal.sequence}. Lot {lot.lot_number} "
                f"now holds {amount(reversal.balance_after, lot)}.{said}",
            )
            if entry.kind == Entry.Kind.ADMINISTRATION:
                return redirect("controlled:dose_repost", lot.pk, entry.pk)
            return redirect("controlled:lot", lot.pk)
    _audit_entry_opened(request, entry, "correction")
    reversed_already = hasattr(entry, "reversal")
    return render(
        request,
        "controlled/entry_correction.html",
        {
            "form": form,
            "lot": lot,
            "row": _entry_row(entry),
            "reversed_already": reversed_already,
            "is_correction": entry.kind == Entry.Kind.CORRECTION,
        },
    )


@require_http_methods(["GET", "POST"])
@keeper_view
def dose_repost(request, lot_id, entry_id):
    """After a dose's posting to this lot is reversed: post the same dose to the lot it came
    from. The runbook's record is unchanged; the ledger answers for the dose once."""
    lot = _lot_or_404(lot_id)
    entry = _entry_or_404(lot, entry_id)
    if entry.kind != Entry.Kind.ADMINISTRATION:
        raise Http404("Only a dose's posting is posted again to another lot.")
    administration = entry.administration
    day = timezone.localdate(administration.given_at)
    form = RepostForm(request.POST or None, lots=stock.lots_for_dose(administration, day=day))
    if request.method == "POST" and form.is_valid():
        try:
            posted = stock.dose_repost(
                actor=request.user,
                administration=administration,
                lot=form.cleaned_data["lot"],
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except LedgerRefused as refused:
            _refusals(form, refused)
        else:
            messages.success(
                request,
                f"The dose is posted to lot {posted.lot.lot_number} as entry #{posted.sequence}: "
                f"{amount(-posted.quantity, posted.lot)}. The lot now holds "
                f"{amount(posted.balance_after, posted.lot)}.",
            )
            return redirect("controlled:lot", posted.lot_id)
    _audit_entry_opened(request, entry, "repost")
    return render(
        request,
        "controlled/entry_repost.html",
        {
            "form": form,
            "lot": lot,
            "row": _entry_row(entry),
            "administration": administration,
            "standing": Entry.objects.filter(
                kind=Entry.Kind.ADMINISTRATION, administration=administration, reversal__isnull=True
            )
            .select_related("lot")
            .first(),
        },
    )
