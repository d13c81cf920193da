"""The Good Faith Estimate pages in the access matrix (tests/test_access_matrix.py): a client's
estimates are read by the coordinators and admins and by the client's own clinicians (a clinician
outside the care team gets 404); a new one on request, and the practice's "Estimates due", are the
coordinators' and admins' alone (403 for everyone else on the staff). On the portal, the client
(and a guardian with legal authority for a minor: the matrix's guardian has none over Avery, an
adult)."""

import datetime
from decimal import Decimal

from django.utils import timezone

from kapflow.billing.models import Estimate
from tests.access_rules import FORBIDDEN, LOGIN, OK, client_page, portal_page


def billing_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "cora") else FORBIDDEN


def _estimate(w, c):
    return {"client_id": c.pk, "estimate_id": w["estimates"][c.pk].pk}


MATRIX = {
    "estimates:list": ("get", client_page, lambda w, c: {"client_id": c.pk}),
    "estimates:detail": ("get", client_page, _estimate),
    "estimates:pdf": ("get", client_page, _estimate),
    "estimates:new": ("get", billing_page, lambda w, c: {"client_id": c.pk}),
    "estimates_due:list": ("get", billing_page, None),
    "portal_estimates:list": ("get", portal_page, lambda w, c: {"client_id": c.pk}),
    "portal_estimates:detail": ("get", portal_page, _estimate),
    "portal_estimates:pdf": ("get", portal_page, _estimate),
}


def build(world):
    today = timezone.localdate()
    world["estimates"] = {}
    for name in ("avery", "olive"):
        client = world[name]
        world["estimates"][client.pk] = Estimate.objects.create(
            client=client,
            reason=Estimate.Reason.ASKED,
            issued_by=world["cora"],
            covers_from=today,
            valid_until=today + datetime.timedelta(days=300),
            total=Decimal("650.00"),
            content={
                "client": {"name": f"{client.first_name} {client.last_name}", "date_of_birth": "1990-01-01"},
                "lines": [
                    {
                        "label": "Medication session",
                        "description": "Monitoring",
                        "code": "0820T",
                        "count": 1,
                        "units_total": 2,
                        "fee": "650.00",
                        "amount": "650.00",
                        "provided_by": ["prescriber"],
                    }
                ],
                "total": "650.00",
                "practice": {"name": "Cedar", "npi": "1234567893", "tax_id": "12-3456789"},
                "clinicians": [],
                "diagnoses": [],
                "disclaimers": ["This Good Faith Estimate is not a contract."],
            },
        )
