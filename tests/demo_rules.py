"""The rules of notes, course plans, reviews, discharges and records from and to other systems
that both demo practices keep (docs/demo.md), as checks over whatever is in the database: each
returns what breaks a rule, as sentences, so a test asserts the list is empty and a failure
names the record. Used by tests/test_demo.py (the quick practice) and tests/test_demo_group.py
(the group one)."""

import datetime
from collections import defaultdict

from django.utils import timezone

from kapflow.clients.models import CareTeamMember, Client
from kapflow.course.models import CourseReview, Discharge
from kapflow.letters.models import Disclosure
from kapflow.measures.instruments import INSTRUMENTS
from kapflow.measures.scoring import score
from kapflow.notes.models import SECTIONS, ProgressNote, SessionIntention
from kapflow.notes.services import sign_problems
from kapflow.pathway.course import BEGUN
from kapflow.pathway.models import Consultation, CoursePlan, PreparationSession
from kapflow.records import access
from kapflow.records.models import ImportedResponse, RecordCopy
from kapflow.visits.models import NOTED_KINDS, Visit

# A review point reached by a session that ended longer ago than this has had its review.
REVIEW_GRACE = datetime.timedelta(days=21)


def note_problems(*, practice, now) -> list[str]:
    """Every completed clinical visit has its note, signed in time by the visit's clinician in
    the practice's format, signable as it reads; a preparation note names what the client's
    preparation session of that day covered; an integration note follows a medication session
    held before it; no other kind of visit has a note, and no signed note's visit is still open."""
    found = []
    completed = Visit.objects.filter(kind__in=NOTED_KINDS, status=Visit.Status.COMPLETED)
    missing = completed.exclude(progress_note__signed_at__isnull=False)
    found += [f"{visit}: completed without a signed note" for visit in missing]
    found += [
        f"{note.visit}: a note for a visit of a kind that has none"
        for note in ProgressNote.objects.exclude(visit__kind__in=NOTED_KINDS).select_related("visit")
    ]
    preparations = defaultdict(list)
    for session in PreparationSession.objects.all():
        preparations[(session.client_id, session.held_on)].append(session)
    due = datetime.timedelta(hours=practice.note_due_hours)
    notes = ProgressNote.objects.filter(signed_at__isnull=False).select_related(
        "visit", "author", "signed_by", "follows"
    )
    for note in notes:
        visit, where = note.visit, f"{note.visit} (client {note.client_id})"
        if visit.status != Visit.Status.COMPLETED:
            found.append(f"{where}: signed note, visit {visit.status}")
        if note.client_id != visit.client_id or note.author_id != visit.clinician_id:
            found.append(f"{where}: not the visit's client or clinician")
        if note.signed_by_id != note.author_id or note.signature != note.author.display_name:
            found.append(f"{where}: not signed by its author as their name reads")
        if note.format != practice.note_format or set(note.sections) != {
            k for k, _h, _x in SECTIONS[note.format]
        }:
            found.append(f"{where}: not in the practice's format")
        if not visit.ends_at <= note.signed_at <= min(visit.ends_at + due, now) or note.late_entry:
            found.append(f"{where}: signed at {note.signed_at}, not in time after the visit")
        if not note.created_at <= note.signed_at:
            found.append(f"{where}: signed before it was begun")
        if not (note.risk and note.progress) or sign_problems(note, now=now):
            found.append(f"{where}: not a note that could be signed")
        if visit.kind == Visit.Kind.PREPARATION:
            sessions = preparations.get((note.client_id, timezone.localdate(visit.starts_at)), [])
            if not any(s.topics == note.topics and s.intentions == note.intentions for s in sessions):
                found.append(f"{where}: topics not those of the client's preparation session that day")
        if visit.kind == Visit.Kind.INTEGRATION:
            follows = note.follows
            if (
                follows is None
                or follows.kind != Visit.Kind.MEDICATION
                or follows.client_id != note.client_id
                or follows.status != Visit.Status.COMPLETED
                or follows.ends_at > visit.starts_at
                or not note.themes
            ):
                found.append(f"{where}: does not follow a session held before it")
        elif note.follows_id or note.themes:
            found.append(f"{where}: integration parts in a note of another kind")
    return found


def intention_problems(*, now) -> list[str]:
    """Each intention is the session's client's, for a medication session, entered on the portal
    before it began (by the client's portal sign-in) or in the opening reflection while it ran
    (by a clinician), and not after now; none for a session that did not happen."""
    found = []
    rows = SessionIntention.objects.select_related("visit__client", "entered_by")
    for row in rows:
        visit, where = row.visit, f"intention for {row.visit}"
        if visit.kind != Visit.Kind.MEDICATION or row.client_id != visit.client_id:
            found.append(f"{where}: not for the client's medication session")
        if visit.status in (Visit.Status.CANCELLED, Visit.Status.NO_SHOW) or row.entered_at > now:
            found.append(f"{where}: for a session that did not happen, or entered after now")
        if row.source == SessionIntention.Source.PORTAL:
            if row.entered_by_id != visit.client.portal_user_id or row.entered_at >= visit.starts_at:
                found.append(f"{where}: a portal entry not by the client before the session")
        elif row.source == SessionIntention.Source.OPENING:
            opening = visit.starts_at + datetime.timedelta(minutes=30)
            if not row.entered_by.is_clinician or not visit.starts_at <= row.entered_at <= opening:
                found.append(f"{where}: not entered by a clinician in the opening reflection")
        else:
            found.append(f"{where}: from {row.source}")
    return found


def _versions() -> dict[int, list[CoursePlan]]:
    plans = defaultdict(list)
    for plan in CoursePlan.objects.order_by("created_at", "pk"):
        plans[plan.client_id].append(plan)
    return plans


def _sessions() -> dict[int, list[Visit]]:
    """Each client's medication sessions that count (not cancelled, not missed), in order."""
    sessions = defaultdict(list)
    counted = Visit.objects.filter(kind=Visit.Kind.MEDICATION).exclude(
        status__in=(Visit.Status.CANCELLED, Visit.Status.NO_SHOW)
    )
    for visit in counted.order_by("starts_at", "pk"):
        sessions[visit.client_id].append(visit)
    return sessions


def _in(plan: CoursePlan, visits: list[Visit]) -> list[Visit]:
    """The sessions counted in a plan version while it was in force."""
    return [
        v
        for v in visits
        if (plan.counts_from is None or v.starts_at >= plan.counts_from)
        and (plan.superseded_at is None or v.starts_at < plan.superseded_at)
    ]


def course_gate_problems() -> list[str]:
    """The course gate as it stood at every session: no version of a plan saw more sessions
    begin than it planned; one version at most in force per client; none begun before the
    client's first plan was written, and none booked after the plan ended."""
    found = []
    sessions = _sessions()
    for client_id, plans in _versions().items():
        if sum(plan.superseded_at is None for plan in plans) != 1:
            found.append(f"client {client_id}: {len(plans)} versions, not exactly one in force")
        visits = sessions.get(client_id, [])
        begun = [v for v in visits if v.status in BEGUN]
        if begun and begun[0].starts_at < plans[0].created_at:
            found.append(f"client {client_id}: a session began before the plan was written")
        for plan in plans:
            held = _in(plan, begun)
            if len(held) > plan.planned_sessions:
                found.append(
                    f"client {client_id}: {len(held)} sessions begun in a plan of {plan.planned_sessions}"
                )
            if plan.ended_at is not None:
                after = [v for v in visits if v.starts_at >= plan.ended_at]
                found += [f"client {client_id}: {v} after the course ended" for v in after]
    return found


def review_problems(*, now) -> list[str]:
    """Every review is decided, written and signed by a therapist and by a different prescriber
    on the client's care team, decided with the later signature; an extension or a move to
    maintenance wrote the plan version in force after it, counted from the decision; and every
    review point a plan's sessions reached (long enough ago) has its review."""
    found = []
    team = defaultdict(set)
    for client_id, user_id in CareTeamMember.objects.filter(role=CareTeamMember.Role.PRESCRIBER).values_list(
        "client_id", "user_id"
    ):
        team[client_id].add(user_id)
    reviews = defaultdict(list)
    for review in CourseReview.objects.select_related(
        "therapist_signed_by", "prescriber_signed_by", "new_plan", "plan"
    ):
        reviews[review.plan_id].append(review)
        where = f"{review} (client {review.client_id})"
        therapist, prescriber = review.therapist_signed_by, review.prescriber_signed_by
        if not review.is_decided or therapist is None or prescriber is None:
            found.append(f"{where}: not decided by both signatures")
            continue
        if not therapist.is_therapist or not prescriber.is_prescriber or therapist == prescriber:
            found.append(f"{where}: not signed by a therapist and a different prescriber")
        if prescriber.pk not in team[review.client_id]:
            found.append(f"{where}: the prescriber is not on the care team")
        if (
            review.decided_at != max(review.therapist_signed_at, review.prescriber_signed_at)
            or review.decided_at > now
        ):
            found.append(f"{where}: decided at {review.decided_at}")
        if not review.written_at <= min(review.therapist_signed_at, review.prescriber_signed_at):
            found.append(f"{where}: signed before it was written")
        if not review.facts.get("sections") or not review.summary:
            found.append(f"{where}: no facts or summary")
        writes = review.decision in (CourseReview.Decision.EXTEND, CourseReview.Decision.MAINTENANCE)
        new = review.new_plan
        if writes != (new is not None):
            found.append(f"{where}: a {review.decision} decision with new plan {new}")
        if new is not None:
            if review.plan.superseded_at != review.decided_at or new.created_at != review.decided_at:
                found.append(f"{where}: the plan reviewed was not superseded by its new version then")
            if review.decision == CourseReview.Decision.MAINTENANCE and (
                new.kind != CoursePlan.Kind.MAINTENANCE
                or new.counts_from != review.decided_at
                or new.maintenance_weeks != review.maintenance_weeks
                or new.planned_sessions != review.maintenance_sessions
            ):
                found.append(f"{where}: its maintenance plan is not the one decided")
    sessions = _sessions()
    for client_id, plans in _versions().items():
        for plan in plans:
            held = [v for v in _in(plan, sessions.get(client_id, [])) if v.status in BEGUN]
            points = {*plan.review_points, plan.planned_sessions}
            reached = [p for p in points if p <= len(held) and held[p - 1].ends_at < now - REVIEW_GRACE]
            if len(reviews.get(plan.pk, [])) < len(reached):
                found.append(f"client {client_id}: review points {sorted(reached)} reached, reviews missing")
    return found


def maintenance_problems(*, now) -> list[str]:
    """Every client in maintenance has a maintenance plan in force that a decided review wrote,
    and its sessions at the plan's cadence: the first no sooner than the interval after the
    decision, each later one no sooner than the interval after the one before (a week's
    leeway either way for the diary)."""
    found = []
    sessions = _sessions()
    written_by = dict(
        CourseReview.objects.filter(new_plan__isnull=False).values_list("new_plan_id", "decided_at")
    )
    for client in Client.objects.filter(stage=Client.Stage.MAINTENANCE):
        plan = CoursePlan.objects.current().filter(client=client).first()
        if plan is None or plan.kind != CoursePlan.Kind.MAINTENANCE or plan.pk not in written_by:
            found.append(f"client {client.pk}: in maintenance without a maintenance plan a review wrote")
            continue
        if written_by[plan.pk] is None or plan.ended_at is not None:
            found.append(f"client {client.pk}: the review that wrote it is not decided, or the plan ended")
        interval = datetime.timedelta(weeks=plan.maintenance_weeks) - datetime.timedelta(days=7)
        previous = plan.counts_from
        for visit in _in(plan, sessions.get(client.pk, [])):
            if visit.starts_at - previous < interval:
                found.append(f"client {client.pk}: {visit} sooner than every {plan.maintenance_weeks} weeks")
            previous = visit.starts_at
    return found


def maintenance_session_booked_or_due(*, now) -> list[Client]:
    """The clients in maintenance whose next maintenance session is booked, or due (the interval
    since the decision or their last maintenance session has passed)."""
    sessions = _sessions()
    ready = []
    for client in Client.objects.filter(stage=Client.Stage.MAINTENANCE):
        plan = CoursePlan.objects.current().filter(client=client, kind=CoursePlan.Kind.MAINTENANCE).first()
        if plan is None:
            continue
        mine = _in(plan, sessions.get(client.pk, []))
        booked = any(v.status == Visit.Status.SCHEDULED and v.starts_at > now for v in mine)
        last = max([plan.counts_from, *[v.starts_at for v in mine if v.status in BEGUN]])
        if booked or last + datetime.timedelta(weeks=plan.maintenance_weeks) <= now:
            ready.append(client)
    return ready


def discharge_problems() -> list[str]:
    """Every discharged client who had a course plan has a signed discharge, by a clinician as
    their name reads, with its summary's facts, its plan ended at the signing and no medication
    session after it; one that completed the course was decided by a review that ended it."""
    found = []
    for client in Client.objects.filter(stage=Client.Stage.DISCHARGED, course_plans__isnull=False).distinct():
        discharge = (
            Discharge.objects.filter(client=client, signed_at__isnull=False)
            .select_related("plan", "review", "signed_by")
            .first()
        )
        where = f"client {client.pk}"
        if discharge is None:
            found.append(f"{where}: discharged without a signed discharge")
            continue
        if discharge.signature != discharge.signed_by.display_name or not discharge.signed_by.is_clinician:
            found.append(f"{where}: the discharge is not signed by a clinician as their name reads")
        sections = discharge.facts.get("sections", [])
        if len(sections) < 5 or not (discharge.condition and discharge.recommendations):
            found.append(f"{where}: the discharge summary is not whole")
        if discharge.plan is None or discharge.plan.ended_at != discharge.signed_at:
            found.append(f"{where}: the plan did not end with the discharge")
        if discharge.reason == Discharge.Reason.COMPLETED and (
            discharge.review is None or discharge.review.decision != CourseReview.Decision.END
        ):
            found.append(f"{where}: a completed course discharged without the review that ended it")
        later = client.visits.filter(kind=Visit.Kind.MEDICATION, starts_at__gte=discharge.signed_at).exclude(
            status=Visit.Status.CANCELLED
        )
        found += [f"{where}: {visit} after the discharge" for visit in later]
    return found


def import_problems() -> list[str]:
    """Every imported response is a whole PHQ-9 or GAD-7 whose answers score to its total and
    band, answered before the client first met the practice (their first visit or consultation:
    it came with them), imported by a clinician on their care team, with an alert exactly when an
    alert item is above 0."""
    found = []
    first_visit = {}  # the first visit, or the consultation (from its day's start) if earlier
    for client_id, starts_at in Visit.objects.order_by("-starts_at").values_list("client_id", "starts_at"):
        first_visit[client_id] = starts_at
    for client_id, held_on in Consultation.objects.values_list("client_id", "held_on"):
        held = timezone.make_aware(datetime.datetime.combine(held_on, datetime.time()))
        first_visit[client_id] = min(first_visit.get(client_id, held), held)
    team = defaultdict(set)
    for client_id, user_id in CareTeamMember.objects.values_list("client_id", "user_id"):
        team[client_id].add(user_id)
    rows = ImportedResponse.objects.select_related("response", "imported_by")
    for row in rows:
        response = row.response
        where = f"imported {response} (client {response.client_id})"
        instrument = INSTRUMENTS.get(response.instrument)
        if instrument is None or not instrument.loinc_panel:
            found.append(f"{where}: not an instrument that can be imported")
            continue
        if set(response.answers) != {item.key for item in instrument.items}:
            found.append(f"{where}: not every question answered")
            continue
        result = score(instrument, response.answers)
        if (result.total, result.band.label) != (response.total, response.band):
            found.append(f"{where}: answers score {result.total}, not its total {response.total}")
        first = first_visit.get(response.client_id)
        if first is None or response.completed_at >= first:
            found.append(f"{where}: answered {response.completed_at}, not before the first visit {first}")
        if not row.imported_by.is_clinician or row.imported_by_id not in team[response.client_id]:
            found.append(f"{where}: not imported by a clinician on the care team")
        if response.entered_by_id != row.imported_by_id or not (row.source_name or row.source_identifier):
            found.append(f"{where}: not entered by who imported it, or from nowhere")
        alerted = any(response.answers[key] > 0 for key in instrument.alert_items)
        if response.alerts.exists() != alerted:
            found.append(f"{where}: an alert {'missing' if alerted else 'raised for nothing'}")
    return found


def record_copy_problems(*, now) -> list[str]:
    """Every copy of a record was given under the right of access: its disclosure is the
    client's, to the person the copy went to, on that basis, not accountable, by a method of its
    channel, at the time the copy was made and not after now; a portal copy was the client's own
    download, delivered to them."""
    found = []
    for copy in RecordCopy.objects.select_related("client", "disclosure"):
        client, disclosure, where = copy.client, copy.disclosure, f"copy {copy.pk} (client {copy.client_id})"
        if (
            disclosure.client_id != client.pk
            or disclosure.basis != Disclosure.Basis.RIGHT_OF_ACCESS
            or disclosure.accountable
            or disclosure.what != access.WHAT[copy.format]
            or disclosure.recipient_name != copy.delivered_to
        ):
            found.append(f"{where}: its disclosure is not to the client under the right of access")
        if disclosure.method not in access.METHODS[copy.channel]:
            found.append(f"{where}: disclosed by {disclosure.method}, not a method of {copy.channel}")
        if disclosure.disclosed_at != copy.produced_at or copy.produced_at > now:
            found.append(f"{where}: disclosed at {disclosure.disclosed_at}, made at {copy.produced_at}")
        if copy.channel == RecordCopy.Channel.PORTAL and (
            copy.produced_by_id != client.portal_user_id
            or disclosure.disclosed_by_id != client.portal_user_id
            or copy.delivered_to != f"{client.first_name} {client.last_name}"
        ):
            found.append(f"{where}: a portal copy not downloaded by the client for themselves")
    return found
