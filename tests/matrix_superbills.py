"""A client's superbills in the access matrix (tests/test_access_matrix.py; docs/superbills.md):
the staff page and its download are the coordinators' and the practice admins' (can_bill, as the
rest of billing); clinicians and every other role are refused outright (403), an invited
outside prescriber gets 404 (the page names a client), a visitor is sent to sign in. A refused
superbill answers the page with its reasons (200), so the matrix world needs no identifiers.

Also `billed(world)`: each matrix client's invoice and the month of its charge, for this file
and tests/matrix_portal_billing.py."""

from tests import matrix_billing
from tests.matrix_billing import billing_page


def superbill_page(role, target):
    """Every client's superbills, for the coordinator and the admin."""
    return billing_page(role, target)


matrix_billing.CLIENT_RULES.add(superbill_page)


def billed(world) -> None:
    """world["superbill_invoices"][client id] and world["superbill_periods"][client id]: an
    invoice of each matrix client and the month key of its first charge (the billing matrix's
    invoices when it has built them, else made here)."""
    if "superbill_invoices" in world:
        return
    invoices = world.get("billing_invoices")
    if not invoices:
        matrix_billing.fee_line(world["ada"], code="90834", kind="therapy")
        invoices = {}
        for client, clinician in ((world["avery"], world["tess"]), (world["olive"], world["colin"])):
            (charge,) = matrix_billing.charged_visit(
                client, clinician, world["ada"], kind="therapy", days_ago=3
            )
            invoices[client.pk] = charge.invoice_line.invoice
    world["superbill_invoices"] = invoices
    world["superbill_periods"] = {}
    for client_id, invoice in invoices.items():
        day = invoice.lines.first().charge.service_date
        world["superbill_periods"][client_id] = f"{day:%Y-%m}"


def _client(w, c):
    return {"client_id": c.pk}


def _period(w, c):
    return {"client_id": c.pk, "period": w["superbill_periods"][c.pk]}


MATRIX = {
    "superbills:list": ("get", superbill_page, _client),
    "superbills:download": ("get", superbill_page, _period),
}


def build(world):
    billed(world)
