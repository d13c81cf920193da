"""The demo practices' course reviews, maintenance plans and discharges (docs/course.md,
docs/demo.md). Fictional throughout.

Each follows the plan in force (kapflow.pathway.course): every review point its sessions reached
has a course review, written by the therapist and signed by the therapist and by a prescriber on
the care team, decided with the second signature; the review at the end of a course moves the
client to maintenance (a new plan version, counted from the decision, that supersedes the
course's) or ends the course with a signed discharge, whose summary is drawn from the course's
records and frozen at signing, and which ends the plan. A review point reached with sessions still
to come decides to continue; an extension writes a version with more sessions. The rows are built
here unsaved, exactly as kapflow.course's services leave them once decided and signed, and written
by the stories: the quick one a client at a time, the group one in bulk once its records are in."""

import datetime
import random
from dataclasses import dataclass, field

from django.utils import timezone

from kapflow.course.facts import action_items_section, discharge_facts, review_facts, where_the_course_stands
from kapflow.course.models import CourseReview, Discharge
from kapflow.letters.selectors import consultation_summary, course_summary
from kapflow.measures.models import MeasureTask, Response
from kapflow.pathway.course import BEGUN, Position
from kapflow.pathway.models import CoursePlan
from kapflow.visits.models import DEFAULT_MINUTES, Visit

# Maintenance sessions a maintenance review plans before the next review.
MAINTENANCE_SESSIONS = 3
CONTINUE = [
    "Sessions well tolerated; scores moving the right way. Continue the course as planned.",
    "Early gains in mood and sleep; no concerns from the sessions so far. Continue as planned.",
]
MAINTENANCE = (
    "The course reached its goals: PHQ-9 and GAD-7 well down from baseline, sleep better, back in touch "
    "with friends. Low days still come after stress. Agreed to maintenance sessions to hold the gains."
)
END = (
    "The course is complete and the goals largely met. The client feels ready to carry on with their own "
    "therapist; no further medication sessions planned."
)
ENDED_EARLY = "The client chose not to start the medication sessions after preparation; the door stays open."
CONDITION = [
    "Mood much improved and steady; no suicidal ideation; risk low. Sleeping well.",
    "Some low days remain but pass sooner; no thoughts of self-harm; risk low.",
    "Improved from baseline though not in remission; no safety concerns at discharge; risk low.",
]
RECOMMENDATIONS = (
    "Continue weekly therapy with the outside therapist; keep up the morning walks and the sleep routine. "
    "Contact the practice if low mood returns for more than two weeks: a new course can be discussed."
)
REFERRALS = [
    "Back to the referring therapist, with the discharge summary (under the client's release).",
    "Primary care physician for continued medication management.",
    "",
]


@dataclass
class CourseStory:
    """One client's course as it was held, for the reviews and the end of it: the plan, the
    sessions that count towards it in order (visit pk, status, when it ended), and how it ended."""

    client: object
    plan: CoursePlan
    therapist: object
    prescriber: object
    sessions: list[tuple[int, str, datetime.datetime]] = field(default_factory=list)
    # "maintenance", "end" (discharged), or "" while the course goes on.
    outcome: str = ""
    # When the final review was held, and its progress-review visit if there was one.
    final_at: datetime.datetime | None = None
    final_visit: Visit | None = None


def _position(plan: CoursePlan, sessions, upto: int | None = None) -> Position:
    rows = [(pk, status) for pk, status, _ends in sessions]
    return Position(plan, tuple(rows if upto is None else rows[:upto]))


# A review is signed by the therapist this long after it is written, and by the prescriber, who
# decides it, this long after (or now); the discharge after a review that ended the course is
# signed this long after the decision (or now).
THERAPIST_SIGNS_AFTER = datetime.timedelta(minutes=10)
PRESCRIBER_SIGNS_AFTER = datetime.timedelta(hours=3)
DISCHARGE_SIGNED_AFTER = datetime.timedelta(hours=1)


def decided_at(written_at: datetime.datetime, now: datetime.datetime) -> datetime.datetime:
    """When a review written at `written_at` was decided (_signed)."""
    return max(min(written_at + PRESCRIBER_SIGNS_AFTER, now), written_at + THERAPIST_SIGNS_AFTER)


def discharge_signed_at(decided: datetime.datetime, now: datetime.datetime) -> datetime.datetime:
    """When the discharge after a review decided at `decided` was signed: what asks the measure
    schedule's discharge forms (kapflow.measures.schedule)."""
    return min(decided + DISCHARGE_SIGNED_AFTER, now)


def _signed(row: CourseReview, *, therapist, prescriber, written_at, now) -> CourseReview:
    """Written and signed by the therapist, then by the prescriber, who decides it."""
    row.written_by, row.written_at = therapist, written_at
    row.therapist_signed_by, row.therapist_signed_at = therapist, written_at + THERAPIST_SIGNS_AFTER
    row.prescriber_signed_by = prescriber
    row.prescriber_signed_at = row.decided_at = decided_at(written_at, now)
    return row


def reviews_for(story: CourseStory, rng: random.Random, *, practice, now, final_facts: dict | None):
    """The course's decided reviews (unsaved), oldest first, and the plan versions they write:
    (reviews, [(review, plan)]).

    A review after each review point reached before the plan's end, held two days after that
    session ended, that continues the course; the last, if the course ended, at `final_at`,
    deciding maintenance or the end (a course whose planned sessions are all held but whose
    progress review is still to come has no review of its end yet). `final_facts`: the client's
    review facts now (kapflow.course.facts.review_facts), whose measures, doses and events each
    review shows with the sessions held at its time."""
    plan = story.plan
    held = [s for s in story.sessions if s[1] in BEGUN]
    points = sorted({*plan.review_points, plan.planned_sessions})
    reviews, plans = [], []
    later = (final_facts or {"sections": [None]})["sections"][1:]
    last_point = len(held) if story.outcome else None
    for point in points:
        if point > len(held) or point == last_point:
            continue
        if point == plan.planned_sessions and not story.outcome:
            continue  # the course's end: reviewed at the progress review, still to come
        ended = held[point - 1][2]
        written = ended + datetime.timedelta(days=2)
        if written > now - datetime.timedelta(hours=4):
            continue  # not yet: the review of so recent a session is still to be held
        position = _position(plan, held, point)
        row = CourseReview(
            client=story.client,
            plan=plan,
            held_on=timezone.localdate(written),
            facts={"sections": [where_the_course_stands(position), *later]},
            summary=rng.choice(CONTINUE),
            decision=CourseReview.Decision.CONTINUE,
        )
        reviews.append(
            _signed(row, therapist=story.therapist, prescriber=story.prescriber, written_at=written, now=now)
        )
    if not story.outcome or not held:
        return reviews, plans
    position = _position(plan, held)
    final = CourseReview(
        client=story.client,
        plan=plan,
        visit=story.final_visit,
        held_on=timezone.localdate(story.final_at),
        facts={"sections": [where_the_course_stands(position), *later]},
        summary=MAINTENANCE if story.outcome == "maintenance" else END,
        decision=CourseReview.Decision.MAINTENANCE
        if story.outcome == "maintenance"
        else CourseReview.Decision.END,
    )
    _signed(final, therapist=story.therapist, prescriber=story.prescriber, written_at=story.final_at, now=now)
    reviews.append(final)
    if story.outcome == "maintenance":
        weeks = practice.maintenance_every_weeks
        final.maintenance_weeks, final.maintenance_sessions = weeks, MAINTENANCE_SESSIONS
        plans.append((final, maintenance_plan(plan, final)))
    return reviews, plans


def maintenance_plan(course: CoursePlan, review: CourseReview) -> CoursePlan:
    """The maintenance version a decided review writes (unsaved): its cadence, counted from the
    decision. The course's version is superseded at the same moment."""
    return CoursePlan(
        client=course.client,
        kind=CoursePlan.Kind.MAINTENANCE,
        course_number=course.course_number,
        goals="Hold the gains of the course: mood steady, sleep, time with friends.",
        planned_sessions=review.maintenance_sessions,
        cadence=CoursePlan.Cadence.CUSTOM,
        cadence_note=f"every {review.maintenance_weeks} weeks",
        maintenance_weeks=review.maintenance_weeks,
        modality=course.modality,
        integration_after_each=True,
        review_after=str(review.maintenance_sessions),
        counts_from=review.decided_at,
        created_at=review.decided_at,
        updated_by=review.written_by,
    )


def discharge_for(
    story: CourseStory,
    review: CourseReview | None,
    rng: random.Random,
    *,
    facts: dict,
    at: datetime.datetime,
    crisis_resources: str,
) -> Discharge:
    """The signed discharge that ends the course (unsaved): by the therapist, at `at`, with the
    summary's `facts` (kapflow.course.facts.discharge_facts) as they stood at signing and the
    practice's crisis resources, frozen with them as kapflow.course.discharge signs them."""
    began = any(status in BEGUN for _pk, status, _ends in story.sessions)
    therapist = story.therapist
    return Discharge(
        client=story.client,
        plan=story.plan,
        review=review,
        reason=Discharge.Reason.COMPLETED if began else Discharge.Reason.WITHDREW,
        reason_detail="" if began else ENDED_EARLY,
        discharged_on=timezone.localdate(at),
        condition=rng.choice(CONDITION),
        recommendations=RECOMMENDATIONS,
        referrals=rng.choice(REFERRALS),
        facts={**facts, "crisis_resources": crisis_resources},
        written_by=therapist,
        written_at=at - datetime.timedelta(minutes=30),
        signed_by=therapist,
        signed_at=at,
        signature=therapist.display_name[:200],
    )


def discharge_facts_from(client, review: dict, action_items: list) -> dict:
    """The discharge summary's facts (kapflow.course.facts.discharge_facts) from the course's
    review facts drawn at the same moment and the client's action items (oldest first), read
    with every other client's: the sections they share are not drawn twice (the group practice
    draws thousands). tests/test_demo_group.py checks they read the same."""
    _where, measures, doses, events = review["sections"]
    return {
        "sections": [
            consultation_summary(client),
            course_summary(client),
            doses,
            measures,
            events,
            action_items_section(action_items),
        ]
    }


# --- The quick practice -----------------------------------------------------------------------

# The final review is held this many days after the course's last session (the alumni answer
# their discharge questionnaires that morning: kapflow.demo.alumni).
FINAL_REVIEW_DAYS = 10
REVIEW_AT = 11 * 60  # 11:00, the practice's time


def add_course_story(staff, schedule) -> None:
    """The course reviews, maintenance plans and discharges of the quick practice's clients in a
    course, in maintenance or discharged, and the next maintenance session of a client in
    maintenance booked (another's is due), through the demo's diary (kapflow.demo.schedule).
    Added once: nothing happens when any review or discharge exists."""
    from kapflow.clients.models import Client
    from kapflow.pathway.course import current_plan, position
    from kapflow.practice.models import Practice

    if CourseReview.objects.exists() or Discharge.objects.exists():
        return
    rng = random.Random(1517)  # noqa: S311  (made-up demo data, not secrets)
    practice = Practice.load()
    now = schedule.now
    stages = (Client.Stage.COURSE, Client.Stage.MAINTENANCE, Client.Stage.DISCHARGED)
    booked_one = False
    for client in Client.objects.filter(stage__in=stages).order_by("pk"):
        plan = current_plan(client)
        team = {m.role: m.user for m in client.care_team.select_related("user")}
        therapist, prescriber = team.get("primary_therapist"), team.get("prescriber")
        if plan is None or therapist is None:
            continue
        counted = position(client, plan=plan).sessions
        ends = dict(Visit.objects.filter(pk__in=[pk for pk, _s in counted]).values_list("pk", "ends_at"))
        story = CourseStory(
            client, plan, therapist, prescriber, [(pk, status, ends[pk]) for pk, status in counted]
        )
        held = [s for s in story.sessions if s[1] in BEGUN and s[2] <= now]
        if client.stage in (Client.Stage.MAINTENANCE, Client.Stage.DISCHARGED) and held:
            story.outcome = "maintenance" if client.stage == Client.Stage.MAINTENANCE else "end"
            story.final_at, story.final_visit = _final_review(schedule, story, held[-1][2], staff)
        if prescriber is None and held:
            continue  # no prescriber of the practice to sign a review (kapflow.demo.outside)
        facts = review_facts(client, position(client, plan=plan)) if held else None
        reviews, plans = reviews_for(story, rng, practice=practice, now=now, final_facts=facts)
        for review, new in plans:
            # The decision writes the new version and supersedes the course's; a decided review
            # is inserted whole (kapflow.audit.immutable sets its plan once, at the decision).
            CoursePlan.objects.filter(pk=plan.pk).update(superseded_at=review.decided_at)
            new.save()
            review.new_plan = new
        for review in reviews:
            review.save()
        for _review, new in plans:
            if not booked_one:
                booked_one = _book_maintenance(schedule, story, new, staff, practice)
        if client.stage == Client.Stage.DISCHARGED:
            final = reviews[-1] if story.outcome == "end" and reviews else None
            at = discharge_signed_at(final.decided_at, now) if final else min(_withdrew_at(client, now), now)
            discharge = discharge_for(
                story,
                final,
                rng,
                facts=discharge_facts(client),
                at=at,
                crisis_resources=practice.crisis_resources,
            )
            discharge.save()
            CoursePlan.objects.filter(pk=plan.pk).update(ended_at=discharge.signed_at)
            _discharge_forms_asked(client, discharge.signed_at)


def _discharge_forms_asked(client, signed_at: datetime.datetime) -> None:
    """The discharge forms the measure schedule asked as the discharge was signed, made and due
    then, each answered by the discharge questionnaire the client gave on the portal after it
    (kapflow.demo.alumni; kapflow.measures.schedule)."""
    answers = client.responses.filter(
        context=Response.Context.DISCHARGE, entered_by=None, completed_at__gte=signed_at
    )
    for response in answers:
        MeasureTask.objects.create(
            client=client,
            instrument=response.instrument,
            reason=Response.Context.DISCHARGE,
            due_at=signed_at,
            created_at=signed_at,
            response=response,
        )


def _final_review(schedule, story: CourseStory, last_ended, staff):
    """The progress review that ends the course, FINAL_REVIEW_DAYS after the last session ended,
    booked through the diary as a completed visit when there is free time before now."""
    day = timezone.localdate(last_ended) + datetime.timedelta(days=FINAL_REVIEW_DAYS)
    wanted = schedule.at(day, REVIEW_AT)
    minutes = DEFAULT_MINUTES[Visit.Kind.PROGRESS_REVIEW]
    booking = schedule.book(
        client=story.client,
        clinician=story.therapist,
        around=wanted,
        minutes=minutes,
        rooms=None,
        earliest=last_ended,
        latest=schedule.now - datetime.timedelta(minutes=minutes),
        days=3,
    )
    if booking is None:
        return min(wanted, schedule.now), None
    visit = Visit.objects.create(
        client=story.client,
        kind=Visit.Kind.PROGRESS_REVIEW,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        modality=Visit.Modality.VIRTUAL,
        video_link="https://video.demo.kapflow.test/review",
        clinician=story.therapist,
        status=Visit.Status.COMPLETED,
        status_changed_at=booking.ends_at,
        created_by=staff["coordinator"],
    )
    return booking.starts_at + datetime.timedelta(minutes=40), visit


def _withdrew_at(client, now):
    """When a client who never began the medication sessions was discharged: a week after their
    last preparation, or now."""
    last = client.preparation_sessions.order_by("-held_on").values_list("held_on", flat=True).first()
    if last is None:
        return now
    return timezone.make_aware(
        datetime.datetime.combine(last + datetime.timedelta(days=7), datetime.time(12))
    )


def _book_maintenance(schedule, story: CourseStory, plan: CoursePlan, staff, practice) -> bool:
    """The first maintenance session and its integration the next day, booked at the plan's
    cadence after the decision when that falls after today; when it fell earlier the session is
    simply due (the reminders say so). True when one was booked."""
    from kapflow.demo.alumni import _book_session
    from kapflow.visits.models import Room

    due = timezone.localdate(plan.counts_from) + datetime.timedelta(weeks=plan.maintenance_weeks)
    if due <= schedule.today:
        return False
    rooms = list(Room.objects.filter(name__in=("Garden Room", "Studio")).order_by("name"))
    window = datetime.timedelta(hours=practice.integration_window_hours)
    for offset in range(6):
        day = due + datetime.timedelta(days=offset)
        if day.weekday() > 3:
            continue  # Monday to Thursday: the integration the next day is a working day too
        found = _book_session(schedule, story.client, story.therapist, day, rooms, rooms, window)
        if found is None:
            continue
        session, integration = found
        for kind, booking in ((Visit.Kind.MEDICATION, session), (Visit.Kind.INTEGRATION, integration)):
            Visit.objects.create(
                client=story.client,
                kind=kind,
                starts_at=booking.starts_at,
                ends_at=booking.ends_at,
                modality=Visit.Modality.IN_PERSON,
                room=booking.room,
                clinician=story.therapist,
                created_by=staff["coordinator"],
            )
        return True
    return False
