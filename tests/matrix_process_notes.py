"""Psychotherapy process notes and the "Notes owed" list in the access matrix
(tests/test_access_matrix.py). Process notes are read by their author alone (docs/notes.md,
"Process notes"): tests.access_rules.author_only. The notes owed are on every clinician's
dashboard, so the whole list is for therapists and prescribers; anyone else on the staff is
refused (403)."""

from kapflow.notes.models import ProcessNote
from tests.access_rules import author_only
from tests.matrix_dashboard_lists import clinicians


def _client(world, client):
    return {"client_id": client.pk}


def _note(world, client):
    return {"client_id": client.pk, "note_id": world["process_notes"][client.pk].pk}


MATRIX = {
    "process_notes:list": ("get", author_only, _client),
    "process_notes:new": ("get", author_only, _client),
    "process_notes:detail": ("get", author_only, _note),
    "queue_notes": ("get", clinicians, None),
}


def build(world):
    world["process_notes"] = {
        world[name].pk: ProcessNote.objects.create(
            client=world[name], author=world[by], text=f"What {name} said, for {by} alone."
        )
        for name, by in (("avery", "tess"), ("olive", "colin"))
    }


def walk_process_note(client, author) -> ProcessNote:
    """A process note by `author` on the demo client for the screenshot walk
    (tests/browser/walk.py): the one they wrote already, or a new one."""
    existing = ProcessNote.objects.filter(client=client, author=author).order_by("pk").first()
    if existing is not None:
        return existing
    return ProcessNote.objects.create(
        client=client,
        author=author,
        text="Spoke about his father for the first time; long silence after. Return to this gently.",
    )
