"""The portal's statements and superbills in the access matrix (tests/test_access_matrix.py):
the client's own (Cleo opens Avery's); the matrix guardian (Gail) is named for Avery, an adult,
so she gets 404 (a guardian with legal authority for a minor is tried in
tests/test_portal_billing.py); staff are refused outright (403)."""

from tests.access_rules import portal_page
from tests.matrix_superbills import billed


def _client(w, c):
    return {"client_id": c.pk}


def _invoice(w, c):
    return {"client_id": c.pk, "invoice_id": w["superbill_invoices"][c.pk].pk}


def _period(w, c):
    return {"client_id": c.pk, "period": w["superbill_periods"][c.pk]}


MATRIX = {
    "portal_billing:statements": ("get", portal_page, _client),
    "portal_billing:invoice": ("get", portal_page, _invoice),
    "portal_billing:superbill": ("get", portal_page, _period),
}


def build(world):
    billed(world)
