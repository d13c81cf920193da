"""The staff page of a client's superbills (docs/superbills.md): the periods with charges, each
with its PDF or the reasons it is refused. For the practice's coordinators and admins, who keep
its money (kapflow.billing.access.can_bill; docs/access.md, "Billing"): a superbill carries
diagnosis codes, which the coordinator may see on a bill. Clinicians see diagnoses on the chart,
not the client's payments, and are refused (403)."""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.billing import superbill
from kapflow.billing.services import BillingRefused
from kapflow.clients.access import client_banner_for
from kapflow.practice.models import practice_for

BILLING_ROLES = (Role.COORDINATOR, Role.PRACTICE_ADMIN)


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    """A superbill to save, never kept in a cache on the way."""
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _page(request, client, *, refused=None, ledger=None, status=200):
    return render(
        request,
        "billing/superbills.html",
        {
            "client": client,
            "choices": superbill.superbill_choices(client, practice_for(request), ledger=ledger),
            "refused": refused,
        },
        status=status,
    )


@require_GET
@staff_view(*BILLING_ROLES)
def superbill_list(request, client_id):
    client = client_banner_for(request, client_id, action="kapflow.billing.superbills.viewed")
    return _page(request, client)


@require_GET
@staff_view(*BILLING_ROLES)
def superbill_download(request, client_id, period):
    """The PDF, audited as given; or the page again with why it cannot be given (the reasons can
    appear between showing the page and the click: a diagnosis ended, an NPI removed)."""
    client = client_banner_for(request, client_id, action="kapflow.billing.superbill.opened")
    return give_or_refuse(request, client, period, on_portal=False, page=_page)


def give_or_refuse(request, client, period: str, *, on_portal: bool, page):
    """The superbill of the period named in the URL as a PDF download (404 for a period the client
    has none of), or `page(request, client, refused=(period, reasons), ledger=...)` when it may
    not be given: the staff page's and the portal's download alike. The client's ledger is read
    once, for the superbill and, when it is refused, for the page's list of periods."""
    chosen = superbill.period_for(client, period)
    if chosen is None:
        raise Http404("No such period.")
    ledger = superbill.ledger_for(client)
    try:
        content = superbill.superbill_give(
            request=request,
            client=client,
            period=chosen,
            practice=practice_for(request),
            on_portal=on_portal,
            ledger=ledger,
        )
    except BillingRefused as refusal:
        return page(request, client, refused=(chosen, refusal.problems), ledger=ledger)
    return pdf_response(content, superbill.file_name(client, chosen))
