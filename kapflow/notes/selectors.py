"""Reads of the progress notes. Each takes a client already reached through
kapflow.clients.access, so none widens what its caller may see."""

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.notes.models import ProgressNote
from kapflow.visits.models import NOTED_KINDS, Visit


def _id(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    # Within a bigint: PostgreSQL refuses a larger number outright.
    return number if 0 < number < 2**63 else None


def client_notes(client: Client) -> QuerySet[ProgressNote]:
    """Every note of the client, the latest visit first, with its visit, author and addenda
    count read in two queries (the index progress_note_client_idx serves the filter)."""
    return (
        ProgressNote.objects.filter(client=client)
        .select_related("visit", "author")
        .prefetch_related("addenda")
        .order_by("-visit__starts_at", "-pk")
    )


def unwritten_visits(client: Client, *, now: datetime.datetime | None = None) -> QuerySet[Visit]:
    """The client's clinical visits that have begun, were not cancelled or missed, and have no
    note yet, the latest first: what the notes page offers to write (one query)."""
    now = now or timezone.now()
    return (
        client.visits.filter(kind__in=NOTED_KINDS, starts_at__lte=now, progress_note__isnull=True)
        .exclude(status__in=[Visit.Status.CANCELLED, Visit.Status.NO_SHOW])
        .select_related("clinician")
        .order_by("-starts_at", "-pk")
    )


def noted_visit(client: Client, visit_id) -> Visit | None:
    """One clinical visit of this client (a kind that has a note), with its people, or None."""
    pk = _id(visit_id)
    if pk is None:
        return None
    return (
        client.visits.filter(pk=pk, kind__in=NOTED_KINDS)
        .select_related("client", "clinician", "room")
        .prefetch_related("other_clinicians")
        .first()
    )


def visit_note(visit: Visit) -> ProgressNote | None:
    """The visit's note, if one was begun, with its author and the session it follows."""
    return ProgressNote.objects.filter(visit=visit).select_related("author", "follows").first()


def note_of(client: Client, note_id) -> ProgressNote | None:
    """One note of this client, with its visit and people and its addenda in order, or None."""
    pk = _id(note_id)
    if pk is None:
        return None
    return (
        ProgressNote.objects.filter(client=client, pk=pk)
        .select_related("visit__clinician", "visit__room", "author", "signed_by", "follows")
        .prefetch_related("addenda__author", "visit__other_clinicians")
        .first()
    )


def saved_words(moment: datetime.datetime | None, *, now: datetime.datetime | None = None) -> str:
    """When a draft was saved, as the pages say it: "14:02" today, "Dec 3, 14:02" before."""
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    today = timezone.localdate(now or timezone.now())
    if local.date() == today:
        return f"{local:%H:%M}"
    return f"{local:%b} {local.day}, {local:%H:%M}"
