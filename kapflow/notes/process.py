"""Psychotherapy process notes (45 CFR 164.501): a therapist's own notes of what was said in a
session, kept apart from the record (docs/notes.md, "Process notes").

Only their author ever reads them: every read here is filtered by the author as well as by the
client, so that no caller can widen it by passing another person's client or note. Nothing else
in kapflow reads the table: no letter, export, portal page or chart card, and no audit row
carries a note's words."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.models import Client
from kapflow.notes.models import ProcessNote
from kapflow.visits.models import Visit


def author_notes(*, author, client: Client) -> QuerySet[ProcessNote]:
    """The author's own process notes of this client, newest first, with the visit each is tied
    to (one query; the index process_note_author_idx (author, client, written_at) serves it)."""
    return (
        ProcessNote.objects.filter(author=author, client=client)
        .select_related("visit")
        .order_by("-written_at", "-pk")
    )


def author_has_note(*, author, client_id, note_id) -> bool:
    """Whether `note_id` is one of the author's own process notes of client `client_id`: asked
    before the client is reached, so that a request for anyone else's note is refused before
    any audit row says it was read (one query)."""
    try:
        client_pk, pk = int(client_id), int(note_id)
    except (TypeError, ValueError, OverflowError):
        return False
    return ProcessNote.objects.filter(author=author, client_id=client_pk, pk=pk).exists()


def author_note(*, author, client: Client, note_id) -> ProcessNote | None:
    """One of the author's own process notes of this client, or None for any other note
    (another author's, another client's, one that does not exist, an id that is not a number)."""
    try:
        pk = int(note_id)
    except (TypeError, ValueError, OverflowError):
        return None
    return author_notes(author=author, client=client).filter(pk=pk).first()


def visits_to_tie(client: Client, *, now: datetime.datetime | None = None) -> QuerySet[Visit]:
    """The client's visits a process note may be tied to: those that have begun and were held
    (not cancelled, not a no-show), newest first (the index on (client, starts_at) serves it)."""
    return (
        Visit.objects.filter(client=client, starts_at__lte=now or timezone.now())
        .exclude(status__in=(Visit.Status.CANCELLED, Visit.Status.NO_SHOW))
        .only("id", "client_id", "kind", "starts_at")
        .order_by("-starts_at", "-pk")
    )


@transaction.atomic
def process_note_write(*, request, client: Client, text: str, visit: Visit | None = None) -> ProcessNote:
    """Save a process note by the requester, once (the database refuses any later change:
    kapflow.audit.immutable). The visit, if any, must be one of the client's visits_to_tie. The
    audit row names the client, the note and the visit, never the words."""
    text = text.strip()
    if not text:
        raise ValidationError("Write the note before saving it.")
    if visit is not None and not visits_to_tie(client).filter(pk=visit.pk).exists():
        raise ValidationError("Choose one of this client's visits that has taken place.")
    note = ProcessNote(client=client, author=request.user, visit=visit, text=text)
    note.full_clean()
    note.save()
    audit_record(
        request=request,
        action="kapflow.notes.process.written",
        client=client,
        obj=note,
        detail={"visit": visit.pk} if visit is not None else {},
    )
    return note


def may_write_process_notes(user, client: Client) -> bool:
    """Whether `user` keeps process notes of this client: a therapist on the client's care team.
    Reads the care team already fetched with the chart (kapflow.clients.selectors.chart_queryset):
    no query of its own there."""
    return user.is_therapist and any(member.user_id == user.pk for member in client.care_team.all())
