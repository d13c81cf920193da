"""The medication-session runbook's URLs in the access matrix (tests/test_access_matrix.py):
clinical pages, for the client's clinicians only."""

import datetime

from django.utils import timezone

from kapflow.visits.models import Visit
from tests.access_rules import clinical_page


def _visit(world, client):
    return {"client_id": client.pk, "visit_id": world["runbook_visits"][client.pk].pk}


MATRIX = {
    f"dosing:{name}": ("get" if name in ("runbook", "live") else "post", clinical_page, _visit)
    for name in (
        "runbook",
        "live",
        "check_in",
        "start",
        "checklist",
        "medications_review",
        "safety_plan",
        "phase",
        "chaperone",
        "integration",
        "vitals",
        "acknowledge",
        "dose",
        "rating",
        "adverse_event",
        "note",
        "discharge",
        "sign",
        "addendum",
    )
}


def build(world):
    world["runbook_visits"] = {}
    start = timezone.now()
    for name, clinician in (("avery", world["tess"]), ("olive", world["colin"])):
        world["runbook_visits"][world[name].pk] = Visit.objects.create(
            client=world[name],
            kind=Visit.Kind.MEDICATION,
            modality=Visit.Modality.VIRTUAL,
            starts_at=start,
            ends_at=start + datetime.timedelta(minutes=150),
            clinician=clinician,
            created_by=world["cora"],
        )
