"""The staff's pages of the money ledger (docs/billing.md, "The client's account", "An invoice", "The
billing page"): a client's account with its invoices, what waits to be invoiced, completed visits
not charged and the billing profile; one invoice with its lines and entries and the forms
recording a payment, a refund or a write-off; the practice's page of what is owed.

Who (docs/access.md, "Billing"): the coordinators and the practice admins (can_bill); a refund
and a write-off are the admins' alone (can_adjust). Anyone else on staff is refused outright
(403), and an invited outside prescriber gets 404 on a page naming a client. A client is reached
for its demographics (the coordinator sees every client's): nothing here reads a note or any
other clinical record; an invoice's lines show the visit's kind, its date and its codes."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.billing import accounts, services
from kapflow.billing.access import can_adjust, can_bill
from kapflow.billing.forms import BillingProfileForm, PaymentForm, RefundForm, WriteOffForm
from kapflow.billing.models import Charge, Entry, Invoice
from kapflow.billing.profiles import profile_of, profile_save
from kapflow.billing.selectors import add_totals, with_totals
from kapflow.clients.access import Need, client_banner_for, clients_for
from kapflow.lib.capped import capped
from kapflow.lib.links import row_link
from kapflow.lib.params import int_param
from kapflow.visits.models import Visit

billing_view = staff_view(Role.COORDINATOR, Role.PRACTICE_ADMIN)
adjust_view = staff_view(Role.PRACTICE_ADMIN)

# The practice page lists this many clients a page (the totals by age are of every client).
PAGE_SIZE = 25
# The oldest this many of the completed visits not charged, and of the clients whose charges wait
# for an invoice, with a link that shows them all.
LIST_CAP = 50
# A client's account lists its newest invoices and every one still owed; "Show all" lists them all.
ACCOUNT_INVOICES = 12


def _refuse_unless(allowed: bool) -> None:
    # staff_view let the role in; this asks the billing rule itself (an inactive role, a change).
    if not allowed:
        raise PermissionDenied


def _client(request, client_id, *, action: str):
    return client_banner_for(request, client_id, action=action, need=Need.DEMOGRAPHICS)


# --- The client's account ----------------------------------------------------------------------


def _account(request, client, *, profile_form=None, status: int = 200):
    today = timezone.localdate()
    # Every invoice of the client as two numbers (newest first), then the ones the page lists:
    # the newest, and every invoice with something still owed however old. A client of years has
    # dozens, and the page's work is what is open and what happened lately.
    ids = list(
        Invoice.objects.filter(client=client)
        .order_by("-issued_on", "-number")
        .values_list("pk", "owed_cents")
    )
    count = len(ids)
    if request.GET.get("invoices") != "all":
        ids = [(pk, owed) for n, (pk, owed) in enumerate(ids) if n < ACCOUNT_INVOICES or owed > 0]
    listed = Invoice.objects.filter(pk__in=[pk for pk, _owed in ids]).order_by("-issued_on", "-number")
    invoices = add_totals(list(listed))
    rows = []
    for invoice in invoices:
        words = accounts.invoice_status(invoice, today)
        rows.append({"invoice": invoice, "status": words, "tone": accounts.STATUS_TONE[words]})
    waiting = list(services.uninvoiced(client).select_related("clinician", "visit"))
    uncharged = accounts.uncharged_visits(Visit.objects.filter(client=client))
    profile = profile_of(client)
    return render(
        request,
        "billing/account.html",
        {
            "client": client,
            # What the client owes: every invoice with a balance is listed, so their sum.
            "balance": sum((invoice.balance for invoice in invoices), services.ZERO),
            "rows": rows,
            "invoice_count": count,
            "invoices_hidden": count - len(rows),
            "newest": ACCOUNT_INVOICES,
            "waiting": waiting,
            "waiting_total": sum((charge.amount for charge in waiting), services.ZERO),
            "uncharged": uncharged,
            "profile": profile,
            "profile_form": profile_form or BillingProfileForm(instance=profile),
        },
        status=status,
    )


@billing_view
def account(request, client_id):
    _refuse_unless(can_bill(request.user))
    client = _client(request, client_id, action="kapflow.billing.account.viewed")
    return _account(request, client)


@require_POST
@billing_view
def invoice_issue(request, client_id):
    """Issue one invoice for the charges the page listed as waiting (those ticked): a charge that
    arrived since the page was drawn waits for the next."""
    _refuse_unless(can_bill(request.user))
    client = _client(request, client_id, action="kapflow.billing.account.opened")
    ids = [int(value) for value in request.POST.getlist("charge") if value.isdigit()]
    charges = list(services.uninvoiced(client).filter(pk__in=ids))
    if not charges:
        messages.error(request, "Nothing listed is waiting to be invoiced any more: see the invoices below.")
        return redirect("client_billing:account", client.pk)
    try:
        invoice = services.invoice_issue(request=request, client=client, charges=charges)
    except services.BillingRefused as refused:
        messages.error(request, str(refused))
        return redirect("client_billing:account", client.pk)
    messages.success(request, f"Invoice {invoice.number} issued.")
    return redirect("client_billing:invoice", client.pk, invoice.pk)


@require_POST
@billing_view
def visit_charge(request, client_id, visit_id):
    """Charge a completed visit the schedule now bills, at the fees in force on its day."""
    _refuse_unless(can_bill(request.user))
    client = _client(request, client_id, action="kapflow.billing.account.opened")
    visit = get_object_or_404(Visit.objects.filter(client=client), pk=visit_id)
    try:
        made = services.visit_charge(request=request, visit=visit)
    except services.BillingRefused as refused:
        messages.error(request, str(refused))
    else:
        if made:
            total = sum((charge.amount for charge in made), services.ZERO)
            messages.success(
                request,
                f"The {visit.get_kind_display().lower()} of {timezone.localdate(visit.starts_at):%b} "
                f"{timezone.localdate(visit.starts_at).day} is charged {services.money(total)}.",
            )
        else:
            messages.info(request, "Nothing more to charge: the schedule bills nothing new for this visit.")
    return redirect("client_billing:account", client.pk)


@require_POST
@billing_view
def profile_change(request, client_id):
    _refuse_unless(can_bill(request.user))
    client = _client(request, client_id, action="kapflow.billing.account.opened")
    form = BillingProfileForm(request.POST, instance=profile_of(client))
    if form.is_valid():
        try:
            profile_save(request=request, client=client, form=form)
        except services.BillingRefused as refused:
            for problem in refused.problems:
                form.add_error(None, problem)
        else:
            messages.success(request, "Billing profile saved.")
            return redirect("client_billing:account", client.pk)
    return _account(request, client, profile_form=form)


# --- An invoice --------------------------------------------------------------------------------


def _payments_left(entries: list[Entry]) -> list[tuple[Entry, object]]:
    """Each payment with what is left of it to refund, from entries already read."""
    refunded: dict[int, object] = {}
    for entry in entries:
        if entry.kind == Entry.Kind.REFUND:
            refunded[entry.refund_of_id] = refunded.get(entry.refund_of_id, services.ZERO) + entry.amount
    return [
        (entry, entry.amount - refunded.get(entry.pk, services.ZERO))
        for entry in entries
        if entry.kind == Entry.Kind.PAYMENT
    ]


def _invoice_page(request, client, invoice_id, *, bound=None, status: int = 200):
    invoice = get_object_or_404(with_totals(Invoice.objects.filter(client=client)), pk=invoice_id)
    lines = list(
        Charge.objects.filter(invoice_line__invoice=invoice)
        .select_related("clinician", "visit")
        .order_by("service_date", "pk")
    )
    entries = list(invoice.entries.select_related("created_by", "refund_of").order_by("received_on", "pk"))
    payments = _payments_left(entries)
    refundable = [(payment, left) for payment, left in payments if left > 0]
    bound = bound or {}
    adjust = can_adjust(request.user)
    status_words = accounts.invoice_status(invoice, timezone.localdate())
    return render(
        request,
        "billing/invoice.html",
        {
            "client": client,
            "invoice": invoice,
            "status": status_words,
            "tone": accounts.STATUS_TONE[status_words],
            "lines": lines,
            "entries": entries,
            "payment_form": bound.get("payment") or (PaymentForm() if invoice.balance > 0 else None),
            "refund_form": (bound.get("refund") or (RefundForm(payments=refundable) if refundable else None))
            if adjust
            else None,
            "write_off_form": (bound.get("write_off") or (WriteOffForm() if invoice.balance > 0 else None))
            if adjust
            else None,
        },
        status=status,
    )


@billing_view
def invoice_detail(request, client_id, invoice_id):
    _refuse_unless(can_bill(request.user))
    client = _client(request, client_id, action="kapflow.billing.invoice.viewed")
    return _invoice_page(request, client, invoice_id)


def _invoice_for(client, invoice_id) -> Invoice:
    return get_object_or_404(Invoice.objects.filter(client=client), pk=invoice_id)


def _record(request, client, invoice, form, name: str, **fields):
    """Record the entry the valid `form` describes; a refusal comes back on the form."""
    try:
        entry = services.entry_record(request=request, invoice=invoice, **fields)
    except services.BillingRefused as refused:
        for problem in refused.problems:
            form.add_error(None, problem)
        return _invoice_page(request, client, invoice.pk, bound={name: form})
    messages.success(request, f"{entry.get_kind_display()} of {services.money(entry.amount)} recorded.")
    return redirect("client_billing:invoice", client.pk, invoice.pk)


@require_POST
@billing_view
def payment_record(request, client_id, invoice_id):
    _refuse_unless(can_bill(request.user))
    client = _client(request, client_id, action="kapflow.billing.invoice.opened")
    invoice = _invoice_for(client, invoice_id)
    form = PaymentForm(request.POST)
    if not form.is_valid():
        return _invoice_page(request, client, invoice.pk, bound={"payment": form})
    data = form.cleaned_data
    return _record(
        request,
        client,
        invoice,
        form,
        "payment",
        kind=Entry.Kind.PAYMENT,
        amount=data["amount"],
        received_on=data["received_on"],
        entry_key=data["entry_key"],
        method=data["method"],
        reference=data["reference"],
    )


@require_POST
@adjust_view
def refund_record(request, client_id, invoice_id):
    _refuse_unless(can_adjust(request.user))
    client = _client(request, client_id, action="kapflow.billing.invoice.opened")
    invoice = _invoice_for(client, invoice_id)
    entries = list(invoice.entries.all())
    payments = [(payment, left) for payment, left in _payments_left(entries) if left > 0]
    form = RefundForm(request.POST, payments=payments)
    if not form.is_valid():
        return _invoice_page(request, client, invoice.pk, bound={"refund": form})
    data = form.cleaned_data
    payment = next(entry for entry in entries if entry.pk == data["payment"])
    return _record(
        request,
        client,
        invoice,
        form,
        "refund",
        kind=Entry.Kind.REFUND,
        amount=data["amount"],
        received_on=data["received_on"],
        entry_key=data["entry_key"],
        method=data["method"],
        reference=data["reference"],
        reason=data["reason"],
        refund_of=payment,
    )


@require_POST
@adjust_view
def write_off_record(request, client_id, invoice_id):
    _refuse_unless(can_adjust(request.user))
    client = _client(request, client_id, action="kapflow.billing.invoice.opened")
    invoice = _invoice_for(client, invoice_id)
    form = WriteOffForm(request.POST)
    if not form.is_valid():
        return _invoice_page(request, client, invoice.pk, bound={"write_off": form})
    data = form.cleaned_data
    return _record(
        request,
        client,
        invoice,
        form,
        "write_off",
        kind=Entry.Kind.WRITE_OFF,
        amount=data["amount"],
        received_on=data["received_on"],
        entry_key=data["entry_key"],
        reason=data["reason"],
    )


# --- The practice's billing page ---------------------------------------------------------------


@billing_view
def overview(request):
    """What is owed, by client and by age; the clients whose charges wait for an invoice; the
    completed visits not charged. A constant number of queries, whatever the number of clients."""
    _refuse_unless(can_bill(request.user))
    today = timezone.localdate()
    clients = clients_for(request, need=Need.DEMOGRAPHICS)
    owed = accounts.owed_by_client(clients, today)
    page = Paginator(owed.debtors, PAGE_SIZE).get_page(int_param(request, "page", 1))
    accounts.name_debtors(page.object_list, clients)
    # The oldest first, LIST_CAP of each, with "Show all" (kapflow.lib.capped).
    waiting = capped(
        request, accounts.waiting_by_client(clients), param="waiting", limit=LIST_CAP, anchor="waiting-h"
    )
    uncharged = capped(
        request,
        accounts.uncharged_visits(Visit.objects.all(), clients=clients),
        param="uncharged",
        limit=LIST_CAP,
        anchor="uncharged-h",
    )
    # Each row links to its client's account: the URL reversed once for every row (row_link).
    account = row_link("client_billing:account")
    for debtor in page.object_list:
        debtor.account_url = account(debtor.client_id)
    for row in waiting:
        row["account_url"] = account(row["client_id"])
    for row in uncharged:
        row.account_url = account(row.visit.client_id)
    named = {debtor.client.pk for debtor in page.object_list}
    named |= {row["client"].pk for row in waiting}
    named |= {row.visit.client_id for row in uncharged}
    audit_record(
        request=request,
        action="kapflow.billing.overview.viewed",
        detail={"clients": sorted(named)},
    )
    return render(
        request,
        "billing/overview.html",
        {
            "owed": owed,
            "page": page,
            "waiting": waiting,
            "uncharged": uncharged,
            "today": today,
        },
    )
