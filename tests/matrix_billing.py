"""The staff's billing pages in the access matrix (tests/test_access_matrix.py; docs/access.md,
"Billing"): a client's account and invoices, and the practice's billing page, are the
coordinators' and the practice admins' (can_bill); a refund and a write-off are the admins'
alone (can_adjust). Every other member of staff is refused outright (403), whoever's client it
is; a portal account too; an invited outside prescriber gets 404 on a page naming a client and
403 on the practice's page; a visitor is sent to sign in.

Also the builders the billing tests use: a fee line, a completed visit, its charge."""

import datetime
from decimal import Decimal

from django.utils import timezone

from kapflow.billing import services
from kapflow.billing.models import Fee, Invoice
from kapflow.visits.models import Visit
from tests.access_rules import CLIENT_RULES, FORBIDDEN, LOGIN, OK
from tests.factories import ServiceRequest


def billing_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "cora") else FORBIDDEN


def billing_admin_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role == "ada" else FORBIDDEN


def billing_client_page(role, target):
    """A client's account: every client's, for the coordinator and the admin."""
    return billing_page(role, target)


def billing_adjust_page(role, target):
    """A refund or a write-off on a client's invoice: the admin's alone."""
    return billing_admin_page(role, target)


CLIENT_RULES.add(billing_client_page)
CLIENT_RULES.add(billing_adjust_page)


def _client(w, c):
    return {"client_id": c.pk}


def _invoice(w, c):
    return {"client_id": c.pk, "invoice_id": w["billing_invoices"][c.pk].pk}


MATRIX = {
    "billing:overview": ("get", billing_page, None),
    "client_billing:account": ("get", billing_client_page, _client),
    "client_billing:issue": ("post", billing_client_page, _client),
    "client_billing:profile": ("post", billing_client_page, _client),
    "client_billing:charge_visit": (
        "post",
        billing_client_page,
        lambda w, c: {"client_id": c.pk, "visit_id": w["billing_uncharged"][c.pk].pk},
    ),
    "client_billing:invoice": ("get", billing_client_page, _invoice),
    "client_billing:payment": ("post", billing_client_page, _invoice),
    "client_billing:refund": ("post", billing_adjust_page, _invoice),
    "client_billing:write_off": ("post", billing_adjust_page, _invoice),
}


def fee_line(
    who, *, kind=Visit.Kind.PROGRESS_REVIEW, code="99214", amount="150.00", days_ago=30, **fields
) -> Fee:
    """A line of the fee schedule, in force from `days_ago` days ago."""
    return Fee.objects.create(
        kind=kind,
        code=code,
        description=fields.pop("description", f"{Visit.Kind(kind).label} ({code or 'free'})"),
        amount=Decimal(amount),
        effective_from=timezone.localdate() - datetime.timedelta(days=days_ago),
        created_by=who,
        **fields,
    )


def completed_visit(client, clinician, *, kind=Visit.Kind.PROGRESS_REVIEW, days_ago=1, minutes=50) -> Visit:
    """A visit marked completed straight in the database (completing one has its own tests): by
    video, so it needs no room."""
    starts = timezone.now() - datetime.timedelta(days=days_ago)
    return Visit.objects.create(
        client=client,
        kind=kind,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=minutes),
        modality=Visit.Modality.VIRTUAL,
        clinician=clinician,
        created_by=clinician,
        status=Visit.Status.COMPLETED,
    )


def charged_visit(client, clinician, who, **kwargs):
    """A completed visit charged (and, as the practice invoices each visit by default, invoiced)."""
    visit = completed_visit(client, clinician, **kwargs)
    return services.visit_charge(request=ServiceRequest(who), visit=visit)


def build(world):
    ada = world["ada"]
    fee_line(ada)
    world["billing_invoices"], world["billing_uncharged"] = {}, {}
    for client, clinician in ((world["avery"], world["priya"]), (world["olive"], world["colin"])):
        (charge,) = charged_visit(client, clinician, ada, days_ago=3)
        invoice = charge.invoice_line.invoice
        services.entry_record(
            request=ServiceRequest(ada),
            invoice=invoice,
            kind="payment",
            amount=Decimal("50.00"),
            received_on=timezone.localdate(),
            method="cash",
        )
        world["billing_invoices"][client.pk] = invoice
        world["billing_uncharged"][client.pk] = completed_visit(client, clinician, days_ago=2)


# The screenshot walk (tests/browser/walk.py): an invoice of the demo's client, made for the walk
# where the demo has none.
def walk_invoice(d) -> Invoice:
    invoice = Invoice.objects.filter(client=d.client).order_by("-number").first()
    if invoice is None:
        who = d.user("admin")
        if not Fee.objects.filter(kind=Visit.Kind.PROGRESS_REVIEW).exists():
            fee_line(who)
        charged_visit(d.client, d.user("prescriber"), who, days_ago=3)
        invoice = Invoice.objects.filter(client=d.client).order_by(
            "-number"
        ).first() or services.invoice_issue(request=ServiceRequest(who), client=d.client)
    return invoice
