import datetime
from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.measures.instruments import Band
from kapflow.measures.models import MeasureTask, Response
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit


def latest_per_instrument(client: Client) -> QuerySet[Response]:
    """Each instrument's latest response of the client, newest first (completed_at, then id):
    the one rule for "latest" that the chart's Measures card and the measures page share. One
    query however long the client's history, each instrument's latest found through the index
    response_series_idx."""
    latest = (
        Response.objects.filter(client=client, instrument=OuterRef("instrument"))
        .order_by("-completed_at", "-pk")
        .values("pk")[:1]
    )
    return client.responses.filter(pk=Subquery(latest)).order_by("-completed_at", "-pk")


def portal_waiting_tasks(client: Client, *, now: datetime.datetime | None = None) -> QuerySet[MeasureTask]:
    """The forms waiting for the client now: open and come due, soonest first, with their visit
    (one query)."""
    return (
        client.measure_tasks.filter(
            response__isnull=True, withdrawn_at__isnull=True, due_at__lte=now or timezone.now()
        )
        .select_related("visit")
        .order_by("due_at", "pk")
    )


def portal_done_tasks(client: Client, *, limit: int = 10) -> QuerySet[MeasureTask]:
    """The forms the client completed most recently, with their response (one query)."""
    return (
        client.measure_tasks.filter(response__isnull=False)
        .select_related("visit", "response")
        .order_by("-response__completed_at", "-pk")[:limit]
    )


def client_tasks(client: Client) -> QuerySet[MeasureTask]:
    """Every measure task of the client, latest due first, for the staff's measures page (one
    query)."""
    return client.measure_tasks.select_related("visit", "response").order_by("-due_at", "-pk")


@dataclass(frozen=True)
class SessionMeasure:
    response: Response
    band: Band
    flagged: bool  # an alert item (PHQ-9 item 9) answered above 0


def measures_before_session(visit: Visit, *, practice: Practice | None = None) -> list[SessionMeasure]:
    """The measures completed before a medication session, for its runbook: those since the
    client's previous medication session ended (or, before the first, within one measuring
    period before this one: practice.measures_weekly_days, 7 by default), up to this one's start,
    oldest first. Two queries (three without `practice`)."""
    previous_end = (
        Visit.objects.filter(
            client_id=visit.client_id,
            kind=Visit.Kind.MEDICATION,
            status=Visit.Status.COMPLETED,
            ends_at__lte=visit.starts_at,
        )
        .exclude(pk=visit.pk)
        .order_by("-ends_at")
        .values_list("ends_at", flat=True)
        .first()
    )
    if previous_end is None:
        practice = practice or Practice.load()
        previous_end = visit.starts_at - datetime.timedelta(days=practice.measures_weekly_days)
    since = previous_end
    rows = []
    for response in (
        Response.objects.filter(
            client_id=visit.client_id, completed_at__gt=since, completed_at__lte=visit.starts_at
        )
        .select_related("entered_by")
        .order_by("completed_at", "pk")
    ):
        definition = response.definition
        flagged = any((response.answers.get(key) or 0) > 0 for key in definition.alert_items)
        rows.append(SessionMeasure(response, definition.band_for(response.total), flagged))
    return rows
