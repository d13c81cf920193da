"""Statements and superbills on the portal (docs/billing.md, "Statements on the portal";
docs/superbills.md): the client's invoices with what was paid and what is owed, one invoice's
lines and the money against it, and the superbills to download. For the client, or a guardian
with legal authority for a minor (PortalNeed.BILLING); anyone else answers 404, staff 403."""

from decimal import Decimal

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kapflow.billing import superbill
from kapflow.billing.models import Charge, Entry, Invoice
from kapflow.billing.selectors import with_totals
from kapflow.billing.services import money
from kapflow.billing.superbill_views import give_or_refuse
from kapflow.portal.access import PortalNeed, is_guardian_view, portal_client_for, portal_view
from kapflow.practice.models import practice_for

ZERO = Decimal("0.00")


def _status(invoice, today) -> tuple[str, str]:
    """An invoice's standing in words, with its badge's colour."""
    if invoice.balance <= 0:
        return ("Paid", "ok") if invoice.paid > invoice.refunded else ("Nothing owed", "quiet")
    if invoice.due_on < today:
        return "Overdue", "danger"
    return "Due", "warn"


def _statements(client) -> list:
    today = timezone.localdate()
    invoices = list(with_totals(Invoice.objects.filter(client=client)).order_by("-issued_on", "-number"))
    for invoice in invoices:
        invoice.status_text, invoice.status_badge = _status(invoice, today)
    return invoices


def _context(request, client, **extra) -> dict:
    return {
        "client": client,
        "guardian_view": is_guardian_view(request.user, client),
        # PortalNeed.BILLING opens to the same people as the consents (the client, or a guardian
        # with legal authority), so the consents tab shows.
        "may_sign_consents": True,
        "nav": "billing",
        **extra,
    }


def _page(request, client, *, refused=None, ledger=None):
    invoices = _statements(client)
    owed = sum((invoice.balance for invoice in invoices), ZERO)
    return render(
        request,
        "portal/billing.html",
        _context(
            request,
            client,
            invoices=invoices,
            owed_text=money(owed),
            owed=owed,
            superbills=superbill.superbill_choices(client, practice_for(request), ledger=ledger),
            refused=refused,
        ),
    )


@require_GET
@portal_view
def statements(request, client_id):
    client = portal_client_for(
        request, client_id, action="kapflow.portal.billing.viewed", need=PortalNeed.BILLING
    )
    return _page(request, client)


@require_GET
@portal_view
def invoice_detail(request, client_id, invoice_id):
    client = portal_client_for(
        request, client_id, action="kapflow.portal.invoice.viewed", need=PortalNeed.BILLING
    )
    try:
        invoice = with_totals(Invoice.objects.filter(client=client)).get(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise Http404("No such invoice.") from None
    invoice.status_text, invoice.status_badge = _status(invoice, timezone.localdate())
    charges = list(Charge.objects.filter(invoice_line__invoice=invoice).order_by("service_date", "pk"))
    entries = list(Entry.objects.filter(invoice=invoice).order_by("received_on", "pk"))
    return render(
        request,
        "portal/billing_invoice.html",
        _context(request, client, invoice=invoice, charges=charges, entries=entries),
    )


@require_GET
@portal_view
def superbill_download(request, client_id, period):
    client = portal_client_for(
        request, client_id, action="kapflow.portal.superbill.opened", need=PortalNeed.BILLING
    )
    return give_or_refuse(request, client, period, on_portal=True, page=_page)
