"""The notes a clinician still owes, and the chart's Notes card (docs/notes.md, "Notes owed").

A visit of a kind whose record is a progress note (NOTED_KINDS) owes its note once it has begun
and until it is completed, which happens by signing the note: a visit still scheduled, checked
in or in progress after its start, whose note is not begun or is a draft. It is overdue once
the practice's note_due_hours have passed since it ended. A cancelled visit or a no-show owes
nothing."""

import dataclasses
import datetime

from django.db import connection
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.notes.models import ProgressNote
from kapflow.visits.models import NOTED_KINDS, Visit

# The statuses of a visit whose note is still owed once it has begun.
OWING = (Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN, Visit.Status.IN_PROGRESS)
# How many notes the chart's Notes card lists; "All notes" (notes:list) shows the rest.
CHART_CARD_NOTES = 5
# What a row shows of its client (Client.display_name), and no more.
_CLIENT_NAME = ("client__first_name", "client__last_name", "client__preferred_name")


def _due_by(practice, now: datetime.datetime) -> datetime.datetime:
    """A visit that ended before this moment is past the practice's deadline for its note."""
    return now - datetime.timedelta(hours=practice.note_due_hours)


def notes_owed(user, *, clients: QuerySet[Client], practice, now: datetime.datetime | None = None):
    """The visits whose note `user` owes, oldest first: their own visits (as the visit's
    clinician) of NOTED_KINDS that have begun, are scheduled, checked in or in progress, and have
    no signed note, among the clients in `clients` (the scope of the person asking, checked
    visit by visit). Each carries `draft_saved` (a draft of its note exists) and `overdue` (it
    ended more than note_due_hours ago), with the client's name: one query, the same however
    many rows. The visits still open are found on the index on (clinician, status, start): a
    few, where the clinician's history is thousands of visits closed (bench/README.md)."""
    now = now or timezone.now()
    notes = ProgressNote.objects.filter(visit=OuterRef("pk"))
    visits = open_visits = Visit.objects.filter(clinician=user, status__in=OWING, starts_at__lte=now)
    if connection.vendor == "sqlite":
        # SQLite, which keeps no statistics, would take the index on (clinician, start) for the
        # order it gives, walking the whole history (2–3 ms for a clinician of two years): the
        # open visits are asked for on their own first (0.1 ms). PostgreSQL takes the right
        # index for the one filter, and plans that subquery worse (0.1 ms against 0.7).
        visits = Visit.objects.filter(pk__in=open_visits.values("pk"))
    return (
        visits.filter(kind__in=NOTED_KINDS)
        .exclude(Exists(notes.filter(signed_at__isnull=False)))
        .filter(Exists(clients.filter(pk=OuterRef("client_id"))))
        .annotate(
            draft_saved=Exists(notes),
            overdue=ExpressionWrapper(Q(ends_at__lt=_due_by(practice, now)), output_field=BooleanField()),
        )
        .select_related("client")
        .only("client_id", "kind", "starts_at", "ends_at", *_CLIENT_NAME)
        .order_by("starts_at", "pk")
    )


@dataclasses.dataclass(frozen=True)
class ChartNote:
    """One row of the chart's Notes card: a visit and where its note stands."""

    visit_id: int
    kind: str
    starts_at: datetime.datetime
    state: str  # "signed", "draft" or "owed"
    signed_at: datetime.datetime | None
    overdue: bool

    @property
    def kind_label(self) -> str:
        return Visit.Kind(self.kind).label


def chart_notes(client: Client, *, practice, now: datetime.datetime | None = None) -> list[ChartNote]:
    """The chart card's latest few notes of the client, newest first: each visit of NOTED_KINDS
    that has begun and was not cancelled or missed, its note signed, in draft or owed (not
    begun while the visit is still open). One
    query (the index on (client, starts_at) serves it), whatever the client's history."""
    now = now or timezone.now()
    notes = ProgressNote.objects.filter(visit=OuterRef("pk"))
    rows = (
        Visit.objects.filter(client=client, starts_at__lte=now, kind__in=NOTED_KINDS)
        .exclude(status__in=(Visit.Status.CANCELLED, Visit.Status.NO_SHOW))
        .annotate(has_note=Exists(notes), signed_at=Subquery(notes.values("signed_at")[:1]))
        # A visit completed without a note (recorded before notes were kept) has none to show.
        .filter(Q(has_note=True) | Q(status__in=OWING))
        .order_by("-starts_at", "-pk")
        .values("pk", "kind", "starts_at", "ends_at", "has_note", "signed_at")[:CHART_CARD_NOTES]
    )
    due_by = _due_by(practice, now)
    return [
        ChartNote(
            visit_id=row["pk"],
            kind=row["kind"],
            starts_at=row["starts_at"],
            state="signed" if row["signed_at"] else "draft" if row["has_note"] else "owed",
            signed_at=row["signed_at"],
            overdue=not row["signed_at"] and row["ends_at"] < due_by,
        )
        for row in rows
    ]
