"""The intention thread's URLs in the access matrix (tests/test_access_matrix.py): recording the
intention from the runbook is a clinical write (the client's clinicians only); the portal's page
is the client's alone (a guardian, like anyone else, gets 404)."""

import datetime

from django.utils import timezone

from kapflow.visits.models import Visit
from tests.access_rules import clinical_page, portal_own_page


def _visit(world, client):
    return {"client_id": client.pk, "visit_id": world["intention_visits"][client.pk].pk}


MATRIX = {
    "dosing:intention": ("post", clinical_page, _visit),
    "portal:intention": ("get", portal_own_page, _visit),
}


def build(world):
    world["intention_visits"] = {}
    start = timezone.now() + datetime.timedelta(days=2)
    for name, clinician in (("avery", world["tess"]), ("olive", world["colin"])):
        world["intention_visits"][world[name].pk] = Visit.objects.create(
            client=world[name],
            kind=Visit.Kind.MEDICATION,
            modality=Visit.Modality.VIRTUAL,
            starts_at=start,
            ends_at=start + datetime.timedelta(minutes=150),
            clinician=clinician,
            created_by=world["cora"],
        )
