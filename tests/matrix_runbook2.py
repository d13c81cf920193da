"""The runbook's acknowledgement of the soft integration gate and the prescriber's reviews of
adverse events and discharge overrides, in the access matrix (tests/test_access_matrix.py)."""

from django.utils import timezone

from kapflow.dosing.models import AdverseEvent, Runbook
from tests.access_rules import clinical_page, prescriber_page


def _visit(world, client):
    return {"client_id": client.pk, "visit_id": world["runbook_visits"][client.pk].pk}


def _event(world, client):
    return {**_visit(world, client), "event_id": world["runbook_events"][client.pk].pk}


MATRIX = {
    "dosing:integration_ack": ("post", clinical_page, _visit),
    "dosing:adverse_event_review": ("post", prescriber_page, _event),
    "dosing:discharge_review": ("post", prescriber_page, _visit),
}


def build(world):
    """An adverse event on each client's runbook visit (tests/matrix_dosing.py builds the visits;
    the extensions are built in name order, dosing first)."""
    world["runbook_events"] = {}
    for name in ("avery", "olive"):
        visit = world["runbook_visits"][world[name].pk]
        book, _ = Runbook.objects.get_or_create(visit=visit)
        world["runbook_events"][world[name].pk] = AdverseEvent.objects.create(
            runbook=book,
            noted_at=timezone.now(),
            kind=AdverseEvent.Kind.NAUSEA,
            severity=AdverseEvent.Severity.MILD,
            action_taken="Water and rest.",
            recorded_by=visit.clinician,
        )
