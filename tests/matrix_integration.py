"""The integration pages in the access matrix (tests/test_access_matrix.py)."""

import datetime

from django.utils import timezone

from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.visits.models import Visit
from tests.access_rules import clinical_page, clinician_page


def _client(world, client):
    return {"client_id": client.pk}


MATRIX = {
    "integration:overview": ("get", clinical_page, _client),
    "integration:record_new": ("get", clinician_page, _client),
    "integration:record_detail": (
        "get",
        clinical_page,
        lambda w, c: {"client_id": c.pk, "record_id": w["integration_records"][c.pk].pk},
    ),
    "integration:action_item_review": (
        "post",
        clinician_page,
        lambda w, c: {"client_id": c.pk, "item_id": w["action_items"][c.pk].pk},
    ),
}


def build(world):
    world["integration_records"], world["action_items"] = {}, {}
    ended = timezone.now() - datetime.timedelta(days=1)
    for name, clinician in (("avery", world["tess"]), ("olive", world["colin"])):
        client = world[name]
        session = Visit.objects.create(
            client=client,
            kind=Visit.Kind.MEDICATION,
            starts_at=ended - datetime.timedelta(minutes=150),
            ends_at=ended,
            modality=Visit.Modality.VIRTUAL,
            status=Visit.Status.COMPLETED,
            clinician=clinician,
            created_by=clinician,
        )
        record = IntegrationRecord.objects.create(
            client=client, follows=session, clinician=clinician, themes="Grief, and room for it."
        )
        world["integration_records"][client.pk] = record
        world["action_items"][client.pk] = ActionItem.objects.create(
            client=client, record=record, text="Walk each morning."
        )
