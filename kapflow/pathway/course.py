"""Where a client is in their course (docs/course.md): "Session 4 of 8 (fortnightly)", the review
points reached, and the course gate that keeps a medication session from starting past the
planned count until a course review extends it.

Which sessions count: the client's medication visits that still hold their time and were not
missed (not cancelled, not a no-show), starting at or after the plan's `counts_from`, numbered in
the order they start. A session is *held* once it has begun (in progress or completed)."""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, DateTimeField, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from kapflow.clients.models import Client
from kapflow.lib.dates import long_date
from kapflow.lib.gates import UNREAD, GateResult, Status
from kapflow.pathway.models import CoursePlan
from kapflow.visits.models import Visit

BEGUN = (Visit.Status.IN_PROGRESS, Visit.Status.COMPLETED)
NOT_COUNTED = (Visit.Status.CANCELLED, Visit.Status.NO_SHOW)
# Before any session: what a plan with no `counts_from` counts from, in SQL.
EARLIEST = datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)


def current_plan(client: Client) -> CoursePlan | None:
    """The client's plan in force (its latest version), or None before one is written."""
    return CoursePlan.objects.current().filter(client=client).first()


@dataclass(frozen=True)
class Position:
    plan: CoursePlan
    # (visit pk, status) of each counted session, in order: session n is sessions[n - 1].
    sessions: tuple[tuple[int, str], ...] = field(default=())

    @property
    def planned(self) -> int:
        return self.plan.planned_sessions

    @property
    def held(self) -> int:
        return sum(1 for _, status in self.sessions if status in BEGUN)

    def number_of(self, visit: Visit) -> int | None:
        """The session number of a medication visit in this plan, or None if it does not count."""
        for n, (pk, _) in enumerate(self.sessions, start=1):
            if pk == visit.pk:
                return n
        return None

    def label_for(self, number: int) -> str:
        """ "Session 4 of 8 (fortnightly)"; "Maintenance session 2 of 3 (every 6 weeks)"."""
        words = "Maintenance session" if self.plan.kind == CoursePlan.Kind.MAINTENANCE else "Session"
        return f"{words} {number} of {self.planned} ({self.plan.cadence_words})"

    @property
    def label(self) -> str:
        """Where the course stands now: the session held last, or the next if none is held yet."""
        if self.plan.ended_at is not None:
            return f"Course ended: {self.held} of {self.planned} sessions held"
        return self.label_for(self.held) if self.held else f"No session held yet of {self.planned} planned"

    @property
    def complete(self) -> bool:
        """Every planned session has begun: another needs a course review's decision first."""
        return self.held >= self.planned

    @property
    def reviews_due(self) -> list[int]:
        """The plan's review points that the sessions held have reached (the review decides)."""
        points = list(self.plan.review_points)
        if self.plan.planned_sessions not in points:
            points.append(self.plan.planned_sessions)  # the end of the plan is always a review
        return [point for point in points if point <= self.held]


def position(client: Client, *, plan: CoursePlan | None = None) -> Position | None:
    """The client's position in the plan in force (one query, two without `plan`)."""
    plan = plan or current_plan(client)
    if plan is None:
        return None
    visits = Visit.objects.filter(client=client, kind=Visit.Kind.MEDICATION).exclude(status__in=NOT_COUNTED)
    if plan.counts_from is not None:
        visits = visits.filter(starts_at__gte=plan.counts_from)
    return Position(plan, tuple(visits.order_by("starts_at", "pk").values_list("pk", "status")))


def complete_plans():
    """The plans in force whose planned sessions have all begun (Position.complete), worked out
    by the database: another session needs a course review's decision first. A plan with no
    `counts_from` counts every session, as position() does."""
    held = (
        Visit.objects.filter(
            client=OuterRef("client_id"),
            kind=Visit.Kind.MEDICATION,
            status__in=BEGUN,
            starts_at__gte=OuterRef("since"),
        )
        .order_by()
        .values("client_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        CoursePlan.objects.current()
        .annotate(since=Coalesce("counts_from", Value(EARLIEST, output_field=DateTimeField())))
        .annotate(held=Coalesce(Subquery(held), 0))
        .filter(held__gte=F("planned_sessions"))
    )


def latest_decided_reviews(plans):
    """The latest decided course review of each of `plans` (a queryset or ids), as
    (plan id, decision, held on) rows, latest first within each plan: _end_decided's reading."""
    from kapflow.course.models import CourseReview

    return (
        CourseReview.objects.filter(plan__in=plans, decided_at__isnull=False)
        .order_by("plan_id", "-decided_at", "-pk")
        .values_list("plan_id", "decision", "held_on")
    )


def end_decided_from(latest) -> datetime.date | None:
    """The day a course review decided to end the course, from the plan's latest decided review
    as a (plan id, decision, held on) row (latest_decided_reviews), or None."""
    from kapflow.course.models import CourseReview

    if latest is not None and latest[1] == CourseReview.Decision.END:
        return latest[2]
    return None


def _end_decided(plan: CoursePlan):
    """The day a course review decided to end this plan's course, if its latest decided review did."""
    return end_decided_from(latest_decided_reviews([plan.pk]).first())


def course_gate(
    client: Client,
    *,
    plan=UNREAD,
    visit: Visit | None = None,
    current: Position | None = None,
    discharged=UNREAD,
    ending=UNREAD,
) -> GateResult:
    """Passes while sessions begun are fewer than planned. `visit`: the session about to start,
    which does not count against itself. With no plan written there is no count to keep.
    `plan`: the plan in force when the caller has read it (None: none written); `current`: the
    client's position in it, when the page has read that too. `discharged` (whether the client
    has a signed discharge) and `ending` (the plan's end_decided_from) when read for many
    clients at once (kapflow.pathway.readiness.readiness_for_visits)."""
    url = reverse("pathway:plan", args=[client.pk])
    if plan is UNREAD:
        plan = current_plan(client)
    if plan is None:
        current = None
    elif current is None or current.plan != plan:
        current = position(client, plan=plan)
    if discharged is UNREAD and current is None and client.stage != Client.Stage.DISCHARGED:
        discharged = client.discharges.filter(signed_at__isnull=False).exists()
    if current is None and (client.stage == Client.Stage.DISCHARGED or discharged is True):
        # Discharged before a plan was written (even if moved by hand out of "Discharged" since):
        # a course needs its plan before a session.
        return GateResult(
            "course",
            "Course plan",
            Status.FAIL,
            "The client has been discharged: write a course plan before another session.",
            "therapist",
            url,
        )
    if current is None:
        return GateResult(
            "course", "Course plan", Status.PASS, "No course plan written yet.", "therapist", url
        )
    held = sum(1 for pk, status in current.sessions if status in BEGUN and (visit is None or pk != visit.pk))
    planned = current.planned
    if current.plan.ended_at is not None:
        return GateResult(
            "course",
            "Course plan",
            Status.FAIL,
            "The course has ended in a discharge: write a new course plan before another session.",
            "therapist",
            url,
        )
    if ending is UNREAD:
        ending = _end_decided(current.plan)
    if ending is not None:
        return GateResult(
            "course",
            "Course plan",
            Status.FAIL,
            f"The course review of {long_date(ending)} decided to end the course: write the discharge "
            "(or a new review) rather than another session.",
            "therapist",
            reverse("course:discharge_new", args=[client.pk]),
        )
    if (
        visit is not None
        and visit.status not in BEGUN
        and current.plan.counts_from is not None
        and visit.starts_at < current.plan.counts_from
    ):
        # Booked before the plan in force began counting, and not begun: it would be counted by
        # no plan. (One that began under the plan before, then checked again at its first dose,
        # was counted there.)
        return GateResult(
            "course",
            "Course plan",
            Status.FAIL,
            f"This session was booked before the plan in force began counting sessions "
            f"({long_date(current.plan.counts_from)}): move it to a time from then on, so that the "
            "plan counts it.",
            "therapist",
            url,
        )
    if held >= planned:
        return GateResult(
            "course",
            "Course plan",
            Status.FAIL,
            f"All {planned} planned sessions have been held. A course review signed by the therapist and "
            "the prescriber must extend the course, or move to maintenance, before another.",
            "therapist",
            reverse("course:review_new", args=[client.pk]),
        )
    return GateResult(
        "course",
        "Course plan",
        Status.PASS,
        f"{held} of {planned} planned sessions held ({current.plan.cadence_words}).",
        "therapist",
        url,
    )
