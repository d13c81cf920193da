"""The diagnosis pages in the access matrix (tests/test_access_matrix.py). A diagnosis is clinical
content (docs/access.md, "Billing"; docs/diagnoses.md): only the client's therapists and
prescribers read the list (a coordinator or an admin without a clinical role gets 404, as for a
client outside their care); recording and ending one is for a therapist or prescriber (403 for a
coordinator or an admin without a clinical role), and a clinician outside the client's care gets
404."""

import datetime

from django.utils import timezone

from kapflow.billing.models import Diagnosis
from tests.access_rules import clinical_page, clinician_page


def _client(world, client):
    return {"client_id": client.pk}


def _diagnosis(world, client):
    return {"client_id": client.pk, "diagnosis_id": world["diagnoses"][client.pk].pk}


MATRIX = {
    "diagnoses:list": ("get", clinical_page, _client),
    "diagnoses:new": ("get", clinician_page, _client),
    "diagnoses:end": ("get", clinician_page, _diagnosis),
}


def build(world):
    world["diagnoses"] = {}
    for name, by in (("avery", "tess"), ("olive", "colin")):
        world["diagnoses"][world[name].pk] = Diagnosis.objects.create(
            client=world[name],
            code="F33.1",
            description="Major depressive disorder, recurrent, moderate",
            diagnosed_on=timezone.localdate() - datetime.timedelta(days=30),
            diagnosed_by=world[by],
        )
