"""When a maintenance session is due (docs/course.md, "Maintenance").

In a maintenance plan the next session is due `maintenance_weeks` after the latest medication
session held (begun) for the client, or after the plan began when none has been held since the
course. Once it is due within DUE_AHEAD_DAYS and no medication session is booked, the care
team's dashboard lists it and the client is reminded once (kapflow.reminders.sources)."""

import datetime
from dataclasses import dataclass

from django.db.models import DurationField, Exists, F, Func, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
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


class Weeks(Func):
    """A whole number of weeks (an integer column) as a duration the database can add to a
    moment: an interval on PostgreSQL; on SQLite, where Django keeps a duration as a count of
    microseconds, that count."""

    output_field = DurationField()
    template = "(%(expressions)s * INTERVAL '1 week')"

    def as_sqlite(self, compiler, connection, **extra):
        week = int(datetime.timedelta(weeks=1).total_seconds()) * 1_000_000
        return self.as_sql(compiler, connection, template=f"(%(expressions)s * {week})", **extra)


def due_plans(
    clients: QuerySet[Client] | None = None, *, now: datetime.datetime | None = None
) -> QuerySet[CoursePlan]:
    """The maintenance plans in force whose next session is due within DUE_AHEAD_DAYS (or
    overdue) with none booked, soonest first, each annotated with `due_at` and `last_held_id`
    (the session held last, if any), worked out by the database: a dashboard reads the rows it
    shows, and a page of the whole list a page's rows, however many clients are due.

    The due day counts from the latest medication session held, else from when the plan began
    counting, else from when it was written. A booked session ends after now, so it began no
    longer than LONGEST_VISIT before now: bounded on the start, the database reads the client's
    coming visits from the index on (client, start) rather than every visit they had. What only
    filters is an alias, not a column: each column's subquery runs for every row put in order."""
    now = now or timezone.now()
    held = Visit.objects.filter(client=OuterRef("client"), kind=Visit.Kind.MEDICATION, status__in=BEGUN)
    latest = held.order_by("-starts_at", "-pk")
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
    return (
        plans.alias(
            booked=Exists(booked),
            since=Coalesce(Subquery(latest.values("starts_at")[:1]), "counts_from", "created_at"),
        )
        .filter(booked=False)
        .annotate(
            due_at=F("since") + Weeks("maintenance_weeks"), last_held_id=Subquery(latest.values("pk")[:1])
        )
        .filter(due_at__lte=now + datetime.timedelta(days=DUE_AHEAD_DAYS))
        .select_related("client")
        .order_by("due_at", "pk")
    )


def as_due(plan: CoursePlan) -> MaintenanceDue:
    """A plan of due_plans as what the dashboard, its whole list and the reminders show."""
    since = plan.due_at - datetime.timedelta(weeks=plan.maintenance_weeks)
    return MaintenanceDue(plan, plan.client, since, plan.last_held_id, plan.due_at)


def due(
    *,
    clients: QuerySet[Client] | None = None,
    now: datetime.datetime | None = None,
    limit: int | None = None,
) -> list[MaintenanceDue]:
    """The maintenance sessions due within DUE_AHEAD_DAYS (or overdue) with none booked,
    soonest first (the first `limit`, when given: a dashboard shows a few). One query."""
    plans = due_plans(clients, now=now)
    if limit is not None:
        plans = plans[:limit]
    return [as_due(plan) for plan in plans]
