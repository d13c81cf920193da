"""Course reviews (docs/course.md, "Reviews"): the record in which the therapist and the
prescriber look at a course together and decide to continue it, extend it, move the client to
maintenance, or end it.

A therapist or prescriber on the care team writes the review; the facts they looked at
(kapflow.course.facts.review_facts) are frozen into it then. The therapist and the prescriber,
two different people, each sign it; the second signature applies the decision in the same
transaction, with the review and the plan in force locked, so that a medication session
starting at that moment (kapflow.visits.services.visit_transition locks the same plan) is
counted against one plan or the other, never against neither."""

import datetime
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, clients_for
from kapflow.clients.models import CareTeamMember, Client
from kapflow.course.facts import review_facts
from kapflow.course.models import CourseReview
from kapflow.pathway.course import Position, position
from kapflow.pathway.models import CoursePlan
from kapflow.visits.models import Visit

THERAPIST, PRESCRIBER = "therapist", "prescriber"
SIGNER_ROLES = (THERAPIST, PRESCRIBER)


class ReviewRefused(Exception):
    """A write the course review does not allow; the message is for the person asking."""


# Reads ------------------------------------------------------------------------------------------


def lock_plan_in_force(client: Client) -> CoursePlan | None:
    """The client's plan in force, locked (FOR NO KEY UPDATE) until the transaction ends.

    On PostgreSQL a lock that had to wait for a transaction that superseded the plan (a new
    course written at the same moment) finds the old row no longer in force and the new one not
    yet visible to its statement: asking once more, in a new statement, finds and locks the
    version that replaced it."""
    for _ in range(2):
        plan = CoursePlan.objects.select_for_update(no_key=True).current().filter(client=client).first()
        if plan is not None:
            return plan
    return None


def open_review(client: Client) -> CourseReview | None:
    """The review waiting for its signatures (at most one a client: one_open_review)."""
    return CourseReview.objects.filter(client=client, decided_at__isnull=True).first()


def reviews_of(client: Client) -> list[CourseReview]:
    """The client's reviews, newest first, with the people who wrote and signed them."""
    return list(
        CourseReview.objects.filter(client=client).select_related(
            "written_by", "therapist_signed_by", "prescriber_signed_by", "plan", "new_plan"
        )
    )


def review_in_scope(client: Client, review_id) -> CourseReview | None:
    """One of this client's reviews, or None (a number out of range is none)."""
    try:
        pk = int(review_id)
    except (TypeError, ValueError):
        return None
    if not 0 < pk < 2**63:
        return None
    return (
        CourseReview.objects.filter(client=client, pk=pk)
        .select_related(
            "written_by", "therapist_signed_by", "prescriber_signed_by", "plan", "new_plan", "visit"
        )
        .first()
    )


def roles_to_sign(request, review: CourseReview) -> list[str]:
    """The signatures of `review` the requester may give now: none once decided, none that is
    given, none by the person who gave the other. The rules are in _may_sign_as."""
    if review.is_decided or review.plan.ended_at is not None:
        return []
    return [role for role in SIGNER_ROLES if _may_sign_as(request, review, role) is None]


def _may_sign_as(request, review: CourseReview, role: str) -> str | None:
    """Why the requester may not give `role`'s signature, or None when they may. The therapist
    who signs is a therapist on the client's care team; the prescriber is a prescriber of the
    practice (never an invited outside prescriber) who may see the client's clinical record."""
    user: User = request.user
    signed_by = review.therapist_signed_by_id if role == THERAPIST else review.prescriber_signed_by_id
    other_by = review.prescriber_signed_by_id if role == THERAPIST else review.therapist_signed_by_id
    if signed_by is not None:
        return f"The {role} has signed this review already."
    if other_by == user.pk:
        return "You signed this review already: the therapist and the prescriber are two different people."
    if role == THERAPIST:
        if not user.is_therapist:
            return "Only a therapist can give the therapist's signature."
        if not CareTeamMember.objects.filter(client_id=review.client_id, user=user).exists():
            return "Only a therapist on the client's care team can sign as the therapist."
        return None
    if not user.is_prescriber or user.outside_practice:
        return "Only a prescriber of the practice can give the prescriber's signature."
    if not clients_for(request, need=Need.CLINICAL).filter(pk=review.client_id).exists():
        return "Only a prescriber who may see the client's record can sign as the prescriber."
    return None


def reviews_to_sign(request, clients: QuerySet[Client]) -> QuerySet[CourseReview]:
    """The course reviews of `clients` (the requester's care team) that wait for a signature the
    requester may give: the therapist's for a therapist, the prescriber's for a prescriber of
    the practice, never one waiting for a second signature they could not give (they signed the
    other). Oldest first. One query, of the columns the dashboard's list shows (a review's row
    with its client's and writer's whole rows is three times as wide, and slower to build)."""
    user: User = request.user
    wanted = Q(pk__in=[])
    if user.is_therapist:
        wanted |= Q(therapist_signed_at__isnull=True) & ~Q(prescriber_signed_by=user)
    if user.is_prescriber and not user.outside_practice:
        wanted |= Q(prescriber_signed_at__isnull=True) & ~Q(therapist_signed_by=user)
    return (
        CourseReview.objects.filter(
            wanted, decided_at__isnull=True, plan__ended_at__isnull=True, client__in=clients
        )
        .select_related("client", "written_by")
        .only(
            "client__first_name",
            "client__last_name",
            "client__preferred_name",
            "written_by__full_name",
            "decision",
            "written_at",
            "therapist_signed_at",
            "prescriber_signed_at",
        )
        .order_by("written_at", "pk")
    )


@dataclass
class CourseCard:
    """What the chart's Course card shows (course/_position_card.html)."""

    plan: CoursePlan | None
    position: Position | None
    history: list[CoursePlan] = field(default_factory=list)
    reviews: list[CourseReview] = field(default_factory=list)
    # The review point the sessions held have reached and no review has looked at since.
    review_due: int | None = None
    booked_review: Visit | None = None

    @property
    def open_review(self) -> CourseReview | None:
        return next((review for review in self.reviews if not review.is_decided), None)

    @property
    def end_decided(self) -> CourseReview | None:
        """The review that decided to end the course, while the course has not been ended."""
        if self.plan is None or self.plan.ended_at is not None:
            return None
        latest = next((review for review in self.reviews if review.is_decided), None)
        if latest is not None and latest.decision == CourseReview.Decision.END:
            return latest
        return None

    @property
    def earlier_versions(self) -> list[CoursePlan]:
        return [plan for plan in self.history if plan.superseded_at is not None]


def course_card(client: Client, *, now: datetime.datetime | None = None) -> CourseCard:
    """The Course card's facts: the plan in force and its earlier versions, where the course
    stands, the reviews, whether a review point has been reached without a review since, and
    the progress review booked. Four queries (one with no plan), whatever the number of sessions."""
    now = now or timezone.now()
    history = list(CoursePlan.objects.filter(client=client).select_related("updated_by"))
    plan = next((version for version in history if version.superseded_at is None), None)
    if plan is None:
        return CourseCard(plan=None, position=None)
    current = position(client, plan=plan)
    reviews = reviews_of(client)
    card = CourseCard(plan=plan, position=current, history=history, reviews=reviews)
    # The start of the session that reached the latest review point, and the coming progress
    # review, in one query.
    reached = current.reviews_due if plan.ended_at is None else []
    point = max(reached) if reached else None
    wanted = Q(
        client=client,
        kind=Visit.Kind.PROGRESS_REVIEW,
        status__in=(Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN),
        ends_at__gte=now,
    )
    if point is not None:
        wanted |= Q(pk=current.sessions[point - 1][0])
    began = None
    for visit in Visit.objects.filter(wanted).order_by("starts_at", "pk"):
        if visit.kind == Visit.Kind.PROGRESS_REVIEW:
            card.booked_review = card.booked_review or visit
        else:
            began = visit.starts_at
    if began is not None and not any(review.written_at >= began for review in reviews):
        card.review_due = point
    return card


def session_label(current: Position | None, visit: Visit) -> str:
    """ "Session 4 of 8 (fortnightly)" for a medication visit of the plan in force; past the
    planned count, that a course review must extend the course first; "" for a visit that does
    not count (another kind, cancelled, before the plan)."""
    if current is None or not visit.is_medication:
        return ""
    number = current.number_of(visit)
    if number is None:
        return ""
    if number > current.planned:
        return (
            f"Session {number}, past the {current.planned} planned: a course review must extend the course "
            "before it can start"
        )
    return current.label_for(number)


def labels_for(client: Client, visits: list[Visit]) -> None:
    """Set `course_label` on each of `visits` (the client's, for the portal): one query for the
    plan and one for its sessions when one of them is a medication session, none otherwise. A
    session past the planned count gets none: what happens to it is for the clinicians to say."""
    current = position(client) if any(visit.is_medication for visit in visits) else None
    for visit in visits:
        number = current.number_of(visit) if current is not None and visit.is_medication else None
        within = number is not None and number <= current.planned and current.plan.ended_at is None
        visit.course_label = current.label_for(number) if within else ""


# Writes -----------------------------------------------------------------------------------------


def _check_held(decision: str, extend_to: int | None, held: int) -> None:
    if decision == CourseReview.Decision.EXTEND and (extend_to or 0) <= held:
        raise ReviewRefused(
            f"{held} sessions have been held: an extension must plan more than that "
            f"(it asks for {extend_to})."
        )


@transaction.atomic
def review_write(*, request, client: Client, review: CourseReview) -> CourseReview:
    """Write a course review (unsigned) of the plan in force, with the facts the reviewers look
    at frozen into it. Only a therapist or prescriber on the client's care team writes one, and
    only one waits for its signatures at a time."""
    user: User = request.user
    if not user.is_clinician or not CareTeamMember.objects.filter(client=client, user=user).exists():
        raise ReviewRefused(
            "Only a therapist or prescriber on the client's care team can write a course review."
        )
    # Locked: a review is written against the plan it reviews, and two written at once would
    # both find no open review.
    plan = lock_plan_in_force(client)
    if plan is None:
        raise ReviewRefused("There is no course plan to review: write the plan first.")
    if plan.ended_at is not None:
        raise ReviewRefused("This course has ended: plan a new course rather than review the old one.")
    if open_review(client) is not None:
        raise ReviewRefused("A course review is waiting for its signatures already: sign or read that one.")
    current = position(client, plan=plan)
    _check_held(review.decision, review.extend_to, current.held)
    review.client = client
    review.plan = plan
    review.written_by = user
    review.written_at = timezone.now()
    review.facts = review_facts(client, current)
    review.full_clean()
    review.save()
    audit_record(
        request=request,
        action="kapflow.course.review.written",
        client=client,
        obj=review,
        detail={"decision": review.decision},
    )
    return review


@transaction.atomic
def review_sign(*, request, review: CourseReview, role: str) -> CourseReview:
    """Give the therapist's or the prescriber's signature. The second applies the decision: an
    extension or a move to maintenance writes a new version of the plan and supersedes the one
    in force; continuing changes nothing; ending leaves the discharge to be written."""
    if role not in SIGNER_ROLES:
        raise ReviewRefused("Sign as the therapist or as the prescriber.")
    # Only the review's row is locked here (of="self"): the plan, then the client, are locked
    # after it, in the order a session's start and a discharge lock them.
    review = (
        CourseReview.objects.select_for_update(of=("self",), no_key=True)
        .select_related("client", "plan")
        .get(pk=review.pk)
    )
    if review.is_decided:
        raise ReviewRefused("This review has been decided already.")
    if review.client.stage == Client.Stage.DISCHARGED or review.plan.ended_at is not None:
        # A decision applied now would put an ended course back in force.
        raise ReviewRefused(
            "The client has been discharged and this course has ended: the review is not signed. "
            "Plan a new course if the client comes back."
        )
    refusal = _may_sign_as(request, review, role)
    if refusal:
        raise ReviewRefused(refusal)
    now = timezone.now()
    setattr(review, f"{role}_signed_by", request.user)
    setattr(review, f"{role}_signed_at", now)
    fields = [f"{role}_signed_by", f"{role}_signed_at"]
    client = review.client
    plan = None
    if review.therapist_signed_at and review.prescriber_signed_at:
        # The plan in force, locked before the sessions are counted: a session starting now
        # either began before this (and is counted) or waits for the new version.
        plan = lock_plan_in_force(client)
        if plan is None or plan.pk != review.plan_id:
            raise ReviewRefused(
                "The plan has changed since this review was written: its decision no longer applies."
            )
        if plan.ended_at is not None:
            raise ReviewRefused(
                "The client has been discharged and this course has ended: the review is not signed."
            )
        review.new_plan = _apply(request, review, plan, now=now)
        review.decided_at = now
        fields += ["decided_at", "new_plan"]
    review.save(update_fields=fields)
    audit_record(
        request=request,
        action="kapflow.course.review.signed",
        client=client,
        obj=review,
        detail={"as": role, "decided": review.is_decided},
    )
    if review.is_decided:
        audit_record(
            request=request,
            action="kapflow.course.review.decided",
            client=client,
            obj=review,
            detail={"decision": review.decision},
        )
    return review


def _apply(request, review: CourseReview, plan: CoursePlan, *, now: datetime.datetime) -> CoursePlan | None:
    """The decision, taking effect (inside review_sign's transaction, the plan locked)."""
    from kapflow.pathway.services import client_move_on

    client = review.client
    if review.decision == CourseReview.Decision.EXTEND:
        _check_held(review.decision, review.extend_to, position(client, plan=plan).held)
        return plan_supersede(
            request=request,
            plan=plan,
            new=_copy(plan, planned_sessions=review.extend_to, updated_by=request.user, created_at=now),
            now=now,
            why="extended",
        )
    if review.decision == CourseReview.Decision.MAINTENANCE:
        weeks = review.maintenance_weeks
        new = _copy(
            plan,
            kind=CoursePlan.Kind.MAINTENANCE,
            planned_sessions=review.maintenance_sessions,
            maintenance_weeks=weeks,
            cadence=CoursePlan.Cadence.CUSTOM,
            cadence_note=f"every {weeks} weeks",
            review_after="",
            counts_from=now,
            updated_by=request.user,
            created_at=now,
        )
        new = plan_supersede(request=request, plan=plan, new=new, now=now, why="maintenance")
        client_move_on(
            request,
            client,
            to=Client.Stage.MAINTENANCE,
            only_from=[Client.Stage.PREPARATION, Client.Stage.COURSE],
        )
        return new
    return None


_COPIED = (
    "client_id",
    "kind",
    "course_number",
    "goals",
    "planned_sessions",
    "cadence",
    "cadence_note",
    "maintenance_weeks",
    "modality",
    "integration_after_each",
    "review_after",
    "counts_from",
)


def _copy(plan: CoursePlan, **changes) -> CoursePlan:
    return CoursePlan(**{**{name: getattr(plan, name) for name in _COPIED}, **changes})


def plan_supersede(
    *, request, plan: CoursePlan, new: CoursePlan, now: datetime.datetime, why: str
) -> CoursePlan:
    """Put `new` in force in place of `plan` (locked by the caller), which is kept as it was
    with the moment it was superseded. Call it inside the transaction of the record that
    decided it."""
    plan.superseded_at = now
    plan.save(update_fields=["superseded_at"])
    new.full_clean()
    new.save()
    audit_record(
        request=request,
        action="kapflow.pathway.course_plan.superseded",
        client=plan.client,
        obj=new,
        detail={"why": why, "previous": plan.pk, "course": new.course_number, "kind": new.kind},
    )
    # The new version's Good Faith Estimate, or it is due (docs/good-faith-estimate.md).
    from kapflow.billing.estimates import plan_changed

    plan_changed(request=request, plan=new)
    return new
