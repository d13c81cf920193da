"""When a maintenance session is due (docs/course.md, "Maintenance").

In a maintenance plan the next session is due `maintenance_weeks` after the latest medication
session held (begun) for the client, or after the plan began when none has been held since the
course. Once it is due within DUE_AHEAD_DAYS and no medication session is booked, the care
team's dashboard lists it and the client is reminded once (kapflow.reminders.sources)."""

import datetime
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.pathway.course import BEGUN
from kapflow.pathway.models import CoursePlan
from kapflow.visits.models import LONGEST_VISIT, Visit

# How far ahead a maintenance session counts as due: a week, to book it. A fixed window while
# the practice has not asked for another (docs/course.md).
DUE_AHEAD_DAYS = 7


@dataclass(frozen=True)
class MaintenanceDue:
    plan: CoursePlan
    client: Client
    # The latest session held (its start), or when the maintenance plan began.
    since: datetime.datetime
    # The held session the due date counts from (none: from the plan's start): with the plan,
    # what a reminder is about, so that each interval is reminded of once.
    after_visit_id: int | None
    due_at: datetime.datetime

    @property
    def overdue(self) -> bool:
        return self.due_at <= timezone.now()


def maintenance_plans(
    clients: QuerySet[Client] | None = None, *, now: datetime.datetime | None = None
) -> QuerySet[CoursePlan]:
    """Maintenance plans in force and not ended, with the latest held medication session and
    whether one is booked ahead, annotated: one query. A booked session ends after now, so it
    began no longer than LONGEST_VISIT before now: bounded on the start, the database reads the
    client's coming visits from the index on (client, start) rather than every visit they had."""
    now = now or timezone.now()
    held = Visit.objects.filter(client=OuterRef("client"), kind=Visit.Kind.MEDICATION, status__in=BEGUN)
    booked = Visit.objects.filter(
        client=OuterRef("client"),
        kind=Visit.Kind.MEDICATION,
        status__in=(Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN),
        starts_at__gte=now - LONGEST_VISIT,
        ends_at__gte=now,
    )
    plans = CoursePlan.objects.current().filter(kind=CoursePlan.Kind.MAINTENANCE, ended_at__isnull=True)
    if clients is not None:
        plans = plans.filter(client__in=clients)
    latest = held.order_by("-starts_at", "-pk")
    return (
        plans.annotate(
            last_held_at=Subquery(latest.values("starts_at")[:1]),
            last_held_id=Subquery(latest.values("pk")[:1]),
            booked=Exists(booked),
        )
        .select_related("client")
        .order_by("pk")
    )


def due(
    *,
    clients: QuerySet[Client] | None = None,
    now: datetime.datetime | None = None,
    limit: int | None = None,
) -> list[MaintenanceDue]:
    """The maintenance sessions due within DUE_AHEAD_DAYS (or overdue) with none booked,
    soonest first (the first `limit`, when given: a dashboard shows a few). Two queries: the
    plans' dates as plain values, then the plans and clients of those returned, so that a
    caseload with hundreds due builds only the ones shown."""
    now = now or timezone.now()
    horizon = now + datetime.timedelta(days=DUE_AHEAD_DAYS)
    dates = maintenance_plans(clients, now=now).values_list(
        "pk", "last_held_at", "last_held_id", "booked", "counts_from", "created_at", "maintenance_weeks"
    )
    found = []
    for pk, last_held_at, last_held_id, booked, counts_from, created_at, weeks in dates:
        if booked:
            continue
        since = last_held_at or counts_from or created_at
        due_at = since + datetime.timedelta(weeks=weeks)
        if due_at <= horizon:
            found.append((due_at, pk, since, last_held_id))
    found.sort(key=lambda item: (item[0], item[1]))
    if limit is not None:
        found = found[:limit]
    plans = CoursePlan.objects.select_related("client").in_bulk([pk for _due, pk, _since, _held in found])
    return [
        MaintenanceDue(plans[pk], plans[pk].client, since, held_id, due_at)
        for due_at, pk, since, held_id in found
    ]
