"""The medical pages in the access matrix (tests/test_access_matrix.py). Therapists on the care
team read everything; only the prescriber on the care team writes clearances and orders (403 for
any other role, 404 for a prescriber outside the client's care; revoking and discontinuing, see
tests/matrix_outside_transcription.py's withdraw_page); coordinators and an admin without
a clinical role see none of it (404)."""

import datetime
from decimal import Decimal

from django.utils import timezone

from kapflow.medical.models import Clearance, MedicationOrder, Screening
from tests.access_rules import clinical_page, prescriber_page
from tests.matrix_outside_transcription import withdraw_page  # a therapist withdraws an outside one


def _client_kwargs(w, c):
    return {"client_id": c.pk}


MATRIX = {
    "medical:summary": ("get", clinical_page, _client_kwargs),
    "medical:screening_new": ("get", clinical_page, _client_kwargs),
    "medical:screening_detail": (
        "get",
        clinical_page,
        lambda w, c: {"client_id": c.pk, "screening_id": w["screenings"][c.pk].pk},
    ),
    "medical:clearance_new": ("get", prescriber_page, _client_kwargs),
    "medical:clearance_detail": (
        "get",
        clinical_page,
        lambda w, c: {"client_id": c.pk, "clearance_id": w["clearances"][c.pk].pk},
    ),
    "medical:clearance_revoke": (
        "post",
        withdraw_page,
        lambda w, c: {"client_id": c.pk, "clearance_id": w["clearances"][c.pk].pk},
    ),
    "medical:order_new": ("get", prescriber_page, _client_kwargs),
    "medical:order_detail": (
        "get",
        clinical_page,
        lambda w, c: {"client_id": c.pk, "order_id": w["orders"][c.pk].pk},
    ),
    "medical:order_discontinue": (
        "post",
        withdraw_page,
        lambda w, c: {"client_id": c.pk, "order_id": w["orders"][c.pk].pk},
    ),
}


def build(world):
    """A screening, a clearance and an order for each client of the world. The clearance is
    deferred and the order starts tomorrow, so that the medical gates still fail: other features'
    pages in the matrix (the pathway's gate overrides) need a failing gate to act on."""
    today = timezone.localdate()
    world["screenings"], world["clearances"], world["orders"] = {}, {}, {}
    for name in ("avery", "olive"):
        client = world[name]
        screening = Screening.objects.create(client=client, answers={}, age=35)
        world["screenings"][client.pk] = screening
        world["clearances"][client.pk] = Clearance.objects.create(
            client=client,
            screening=screening,
            prescriber=world["priya"],
            decision=Clearance.Decision.DEFERRED,
            findings="Awaiting an ECG.",
        )
        world["orders"][client.pk] = MedicationOrder.objects.create(
            client=client,
            prescriber=world["priya"],
            drug=MedicationOrder.Drug.KETAMINE,
            route=MedicationOrder.Route.SUBLINGUAL,
            dose_min=Decimal("200"),
            dose_max=Decimal("300"),
            sessions_authorised=6,
            starts_on=today + datetime.timedelta(days=1),
            ends_on=today + datetime.timedelta(days=90),
        )
