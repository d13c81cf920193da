"""The progress notes in the access matrix (tests/test_access_matrix.py). A note is clinical
content (docs/access.md, docs/notes.md): only the client's therapists and prescribers list and
read notes; writing one, saving its draft, signing it and adding an addendum are for a therapist
or prescriber (403 for a coordinator or an admin without a clinical role); a clinician outside
the client's care gets 404."""

import datetime

from django.utils import timezone

from kapflow.visits.models import Visit
from tests.access_rules import clinical_page, clinician_page
from tests.factories import sign_note


def held_visit(client, clinician, *, kind=Visit.Kind.THERAPY, days_ago=1, by=None) -> Visit:
    """A clinical visit that has happened (yesterday, by default), by video (an in-person visit
    needs a room)."""
    starts = timezone.now() - datetime.timedelta(days=days_ago)
    return Visit.objects.create(
        client=client,
        kind=kind,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=50),
        modality=Visit.Modality.VIRTUAL,
        clinician=clinician,
        created_by=by or clinician,
    )


def _client(world, client):
    return {"client_id": client.pk}


def _unwritten(world, client):
    return {"client_id": client.pk, "visit_id": world["unwritten_visits"][client.pk].pk}


def _note(world, client):
    return {"client_id": client.pk, "note_id": world["signed_notes"][client.pk].pk}


MATRIX = {
    "notes:list": ("get", clinical_page, _client),
    "notes:visit": ("get", clinician_page, _unwritten),
    "notes:autosave": ("post", clinician_page, _unwritten),
    "notes:sign": ("post", clinician_page, _unwritten),
    "notes:detail": ("get", clinical_page, _note),
    "notes:addendum": ("post", clinician_page, _note),
}


def build(world):
    world["unwritten_visits"], world["signed_notes"] = {}, {}
    for name, by in (("avery", "tess"), ("olive", "colin")):
        client, clinician = world[name], world[by]
        world["signed_notes"][client.pk] = sign_note(held_visit(client, clinician, days_ago=2), clinician)
        world["unwritten_visits"][client.pk] = held_visit(client, clinician)


def walk_visit(client) -> Visit:
    """A clinical visit of the demo client held yesterday with no note yet, for the screenshot
    walk's editor (tests/browser/walk.py): the one made already, or a new one by the client's
    first clinician."""
    from kapflow.notes.models import ProgressNote

    noted = ProgressNote.objects.filter(client=client).values("visit_id")
    existing = (
        client.visits.filter(kind=Visit.Kind.THERAPY, starts_at__lt=timezone.now())
        .exclude(pk__in=noted)
        .exclude(status__in=[Visit.Status.CANCELLED, Visit.Status.NO_SHOW])
        .order_by("-starts_at")
        .first()
    )
    if existing is not None:
        return existing
    by = client.care_team.select_related("user").order_by("pk").first().user
    return held_visit(client, by, days_ago=1.5)


def walk_note(client):
    """A signed progress note of the demo client for the screenshot walk: the latest signed one,
    or one written and signed now for a visit held two days ago."""
    from kapflow.notes.models import ProgressNote

    existing = ProgressNote.objects.filter(client=client, signed_at__isnull=False).first()
    if existing is not None:
        return existing
    by = client.care_team.select_related("user").order_by("pk").first().user
    return sign_note(held_visit(client, by, days_ago=2.2), by)
