"""The measures' portal pages in the access matrix (tests/test_access_matrix.py): the client's
alone, never a guardian's."""

import datetime

from django.utils import timezone

from kapflow.measures.models import MeasureTask, Response
from tests.access_rules import portal_own_page


def _task(key):
    return lambda w, c: {"client_id": c.pk, "task_id": w[key][c.pk].pk}


MATRIX = {
    "portal_measures:list": ("get", portal_own_page, lambda w, c: {"client_id": c.pk}),
    "portal_measures:task": ("get", portal_own_page, _task("measure_tasks")),
    "portal_measures:thanks": ("get", portal_own_page, _task("measure_tasks_done")),
}


def build(world):
    world["measure_tasks"], world["measure_tasks_done"] = {}, {}
    due = timezone.now() - datetime.timedelta(hours=1)
    for name in ("avery", "olive"):
        client = world[name]
        world["measure_tasks"][client.pk] = MeasureTask.objects.create(
            client=client, instrument="gad7", reason="weekly", due_at=due
        )
        response = Response.objects.create(
            client=client,
            instrument="phq9",
            version="1",
            answers=dict.fromkeys("123456789", 0),
            total=0,
            band="Minimal",
            context="weekly",
        )
        world["measure_tasks_done"][client.pk] = MeasureTask.objects.create(
            client=client, instrument="phq9", reason="weekly", due_at=due, response=response
        )
