"""The rules of notes, course plans, reviews, discharges and records from and to other systems
that both demo practices keep (docs/demo.md), as checks over whatever is in the database: each
returns what breaks a rule, as sentences, so a test asserts the list is empty and a failure
names the record. Used by tests/test_demo.py (the quick practice) and tests/test_demo_group.py
(the group one)."""

import datetime
from collections import defaultdict

from django.db.models import Min
from django.utils import timezone

from kapflow.clients.models import CareTeamMember, Client, Guardian, StageChange
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
    their name reads, with its summary's facts, its plan ended at the signing and no visit after
    it (a medication session, or maintenance therapy going on); one that completed the course was
    decided by a review that ended it."""
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
        later = client.visits.filter(starts_at__gte=discharge.signed_at)
        later = later.exclude(status=Visit.Status.CANCELLED)
        found += [f"{where}: {visit} after the discharge" for visit in later]
    return found


def not_proceeding_problems(*, now) -> list[str]:
    """Every client who is not proceeding got there the product's way: a consultation that found
    them not a fit (which moves the stage), or a clinician on their care team who moved them by
    hand with the reason (kapflow.clients.services.stage_change), their latest change of stage.
    A change by hand is dated by then, from the stage the client was at, by a clinician who was
    on the care team at the time."""
    found = []
    not_a_fit = Consultation.objects.filter(decision=Consultation.Decision.NOT_A_FIT)
    not_a_fit = set(not_a_fit.values_list("client_id", flat=True))
    latest = {}
    for change in StageChange.objects.select_related("changed_by").order_by("changed_at", "pk"):
        where = f"client {change.client_id}"
        if change.changed_at > now:
            found.append(f"{where}: the stage was changed after now")
        since = CareTeamMember.objects.filter(client_id=change.client_id, user=change.changed_by)
        since = since.values_list("added_at", flat=True).first()
        if not change.changed_by.is_clinician or since is None or since > change.changed_at:
            found.append(f"{where}: the stage was changed by someone not on the care team then")
        before = latest.get(change.client_id)
        if before is not None and before.to_stage != change.from_stage:
            found.append(f"{where}: a change of stage from {change.from_stage}, not {before.to_stage}")
        latest[change.client_id] = change
    for client_id in Client.objects.filter(stage=Client.Stage.NOT_PROCEEDING).values_list("pk", flat=True):
        change = latest.get(client_id)
        by_hand = change is not None and change.to_stage == Client.Stage.NOT_PROCEEDING
        if client_id not in not_a_fit and not by_hand:
            found.append(f"client {client_id}: not proceeding, with no consultation's decision or reason")
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


def dating_problems() -> list[str]:
    """A chart is dated before what it holds: every client registered before their first visit,
    their first questionnaire of their own (not a referrer's, imported) and their first
    signature; every member of a care team added no later than the first visit they held with
    the client; every visit booked before it started."""
    from django.db.models import Exists, F, Min, OuterRef

    from kapflow.consent.models import Signature
    from kapflow.measures.models import Response

    found = []
    registered = dict(Client.objects.values_list("pk", "created_at"))
    for what, rows in [
        ("visit", Visit.objects.values_list("client").annotate(first=Min("starts_at"))),
        (
            "questionnaire",
            Response.objects.filter(import_source__isnull=True)
            .values_list("client")
            .annotate(first=Min("completed_at")),
        ),
        ("signature", Signature.objects.values_list("client").annotate(first=Min("signed_at"))),
    ]:
        found += [
            f"client {client_id}: registered at {registered[client_id]}, after their first {what} at {first}"
            for client_id, first in rows
            if first < registered[client_id]
        ]
    held_before = Visit.objects.live().filter(
        client=OuterRef("client"), clinician=OuterRef("user"), starts_at__lt=OuterRef("added_at")
    )
    for member in CareTeamMember.objects.filter(Exists(held_before)):
        found.append(
            f"care team member {member.pk} (client {member.client_id}): added after a visit they held"
        )
    for visit in Visit.objects.filter(created_at__gt=F("starts_at")).only("pk", "created_at", "starts_at"):
        found.append(f"visit {visit.pk}: booked at {visit.created_at}, after it started at {visit.starts_at}")
    return found


def portal_problems(*, now) -> list[str]:
    """Whatever a client did on the portal (a questionnaire no one entered for them, a journal
    entry, an intention for a session) they did from their own portal account, open by then; and
    every portal account, the clients' and the guardians', was opened by accepting an invitation
    sent to the address on file by a clinician on the client's care team, before it expired,
    never after now (kapflow.portal.services.invitation_accept)."""
    from kapflow.journal.models import JournalEntry
    from kapflow.measures.models import Response
    from kapflow.portal.models import PortalInvitation

    found = []
    done = [
        (f"response {r.pk}", r.client, r.completed_at)
        for r in Response.objects.filter(entered_by=None).select_related("client__portal_user")
    ]
    done += [
        (f"journal entry {e.pk}", e.client, e.created_at)
        for e in JournalEntry.objects.select_related("client__portal_user")
    ]
    done += [
        (f"intention {i.pk}", i.client, i.entered_at)
        for i in SessionIntention.objects.filter(source=SessionIntention.Source.PORTAL).select_related(
            "client__portal_user"
        )
    ]
    for what, client, when in done:
        account = client.portal_user
        if account is None or not account.is_client or account.is_staff_member:
            found.append(f"{what} (client {client.pk}): on the portal, but the client has no portal account")
        elif account.date_joined > when:
            found.append(
                f"{what} (client {client.pk}): at {when}, before the account opened at {account.date_joined}"
            )
    accounts = [
        (c, None, c.portal_user)
        for c in Client.objects.exclude(portal_user=None).select_related("portal_user")
    ]
    accounts += [
        (g.client, g, g.portal_user)
        for g in Guardian.objects.exclude(portal_user=None).select_related("client", "portal_user")
    ]
    accepted = {
        (i.client_id, i.guardian_id): i for i in PortalInvitation.objects.filter(accepted_at__isnull=False)
    }
    team = set(CareTeamMember.objects.values_list("client_id", "user_id"))
    for client, guardian, account in accounts:
        whose = f"guardian {guardian.pk}" if guardian else "the client"
        where = f"the portal account {account.pk} of {whose} (client {client.pk})"
        invitation = accepted.get((client.pk, guardian.pk if guardian else None))
        if invitation is None:
            found.append(f"{where}: opened without an accepted invitation")
            continue
        address = guardian.email if guardian else client.email
        if invitation.accepted_by_id != account.pk or invitation.email != address or account.email != address:
            found.append(f"{where}: the invitation went to {invitation.email}, not the account at {address}")
        if invitation.accepted_at != account.date_joined:
            found.append(
                f"{where}: opened at {account.date_joined}, invitation accepted {invitation.accepted_at}"
            )
        if not invitation.created_at < invitation.accepted_at < min(invitation.expires_at, now):
            found.append(
                f"{where}: its invitation of {invitation.created_at} accepted at {invitation.accepted_at}"
            )
        if (client.pk, invitation.created_by_id) not in team:
            found.append(f"{where}: invited by user {invitation.created_by_id}, not on the care team")
    if PortalInvitation.objects.filter(created_at__gt=now).exists():
        found.append("an invitation is dated after now")
    # No demo client lets an invitation lapse: each is accepted, or still open.
    if PortalInvitation.objects.filter(accepted_at__isnull=True, expires_at__lte=now).exists():
        found.append("an invitation expired without being accepted")
    return found


# The measure schedule (kapflow.measures.schedule; docs/demo.md, "Questionnaires").

# The visit a form is for, by the reason it was asked.
TASK_VISIT_KINDS = {"pre_session": Visit.Kind.MEDICATION, "review": Visit.Kind.PROGRESS_REVIEW}


def measure_task_problems(*, now, practice) -> list[str]:
    """Every form the measure schedule asked is as the schedule makes it, and every answer to one
    as the portal takes it; every pre-session questionnaire answered on the portal answered such
    a form; and the schedule's sweep, run at `now`, finds nothing to ask or withdraw for any
    client (its decisions, kapflow.measures.schedule.plan, over each client's records)."""
    from kapflow.measures.models import MeasureTask, Response
    from kapflow.measures.schedule import client_state, plan, visit_due

    found = []
    lead = practice.appointment_reminder_hours
    tasks = MeasureTask.objects.select_related("response", "visit")
    for task in tasks:
        what = f"task {task.pk} ({task.reason} {task.instrument}, client {task.client_id})"
        if task.created_at > now or (task.withdrawn_at and task.withdrawn_at > now):
            found.append(f"{what}: dated after now")
        if task.reason in TASK_VISIT_KINDS:
            visit = task.visit
            kind = TASK_VISIT_KINDS[task.reason]
            if visit is None or visit.client_id != task.client_id or visit.kind != kind:
                found.append(f"{what}: not for one of the client's {kind} visits")
                continue
            if task.created_at < visit.created_at:
                found.append(f"{what}: made at {task.created_at}, before its visit was booked")
            if task.due_at != visit_due(visit.starts_at, lead) and task.withdrawn_at is None:
                found.append(f"{what}: due {task.due_at}, not {lead} h before its visit at {visit.starts_at}")
        elif task.visit_id is not None:
            found.append(f"{what}: a {task.reason} form for a visit")
        answer = task.response
        if answer is None:
            continue
        asked = (task.client_id, task.instrument, task.reason)
        if (answer.client_id, answer.instrument, answer.context) != asked:
            found.append(f"{what}: answered by response {answer.pk}, a {answer.context} {answer.instrument}")
        if task.withdrawn_at is not None:
            found.append(f"{what}: answered and withdrawn")
        if not task.created_at <= answer.completed_at or not task.due_at <= answer.completed_at:
            found.append(f"{what}: answered at {answer.completed_at}, before it was made or came due")
        if task.visit_id is not None and answer.completed_at >= task.visit.starts_at:
            found.append(f"{what}: answered at {answer.completed_at}, once its visit had begun")
    found += _once_forms_problems(tasks)
    # The portal takes a questionnaire only as the answer to a form. The weekly answers are the
    # one exception the demo practices keep: their history predates the schedule (docs/demo.md).
    answered = set(tasks.exclude(response=None).values_list("response_id", flat=True))
    unasked = Response.objects.filter(entered_by=None).exclude(context="weekly")
    for pk, client_id, context in unasked.values_list("pk", "client_id", "context"):
        if pk not in answered:
            found.append(f"response {pk} (client {client_id}): a {context} form on the portal, unasked")
    for client in Client.objects.order_by("pk"):
        decided = plan(
            client_state(client, now=now),
            now=now,
            weekly_days=practice.measures_weekly_days,
            lead_hours=lead,
        )
        if decided.create or decided.withdraw:
            found.append(f"client {client.pk}: the sweep at {now} would still ask {decided}")
    return found


def _once_forms_problems(tasks) -> list[str]:
    """The baseline forms were asked once the client's consultation decided to go on, and the
    discharge forms once the client's discharge was signed (kapflow.measures.schedule.plan)."""
    found = []
    going_on = dict(
        Consultation.objects.filter(decision=Consultation.Decision.PROCEED)
        .values_list("client_id")
        .annotate(at=Min("recorded_at"))
    )
    signed: dict[int, list] = {}
    for client_id, at in Discharge.objects.exclude(signed_at=None).values_list("client_id", "signed_at"):
        signed.setdefault(client_id, []).append(at)
    for task in tasks.filter(reason__in=["baseline", "discharge"]):
        what = f"task {task.pk} ({task.reason} {task.instrument}, client {task.client_id})"
        if task.reason == "baseline":
            decided = going_on.get(task.client_id)
            if decided is None or task.created_at < decided:
                found.append(f"{what}: asked at {task.created_at}, before a consultation decided to go on")
        elif not any(at <= task.created_at for at in signed.get(task.client_id, [])):
            found.append(f"{what}: asked at {task.created_at}, before a discharge was signed")
    return found


# The controlled-substance record (issue 17; docs/demo.md, "The controlled-substance record").


def _ledger_start():
    """When the stock ledger began: the initial inventory's moment (the start of its day at the
    opening of business, the end of it at the close), or None before there is one."""
    from kapflow.controlled.models import Inventory

    initial = Inventory.objects.filter(kind=Inventory.Kind.INITIAL).first()
    if initial is None:
        return None
    at = datetime.time.min if initial.time_of_day == Inventory.TimeOfDay.OPENING else datetime.time(23, 59)
    return timezone.make_aware(datetime.datetime.combine(initial.taken_on, at))


def ledger_problems() -> list[str]:
    """Every lot's ledger in order: its entries numbered 1, 2, 3… without a gap, dated in that
    order and none before the initial inventory, each leaving the balance before it plus its own
    quantity, never below zero; the first brings stock in (the opening count or a receipt); a
    receipt names its supplier with a valid DEA number and the invoice."""
    from kapflow.controlled.models import Entry
    from kapflow.lib.identifiers import dea_number_valid

    found = []
    start = _ledger_start()
    lots = defaultdict(list)
    for entry in Entry.objects.order_by("lot_id", "sequence"):
        lots[entry.lot_id].append(entry)
    if lots and start is None:
        found.append("ledger entries without an initial inventory")
    for lot_id, entries in lots.items():
        running, previous = 0, None
        if entries[0].kind not in Entry.INCOMING:
            found.append(f"lot {lot_id}: its first entry is a {entries[0].kind}, not stock coming in")
        for n, entry in enumerate(entries, 1):
            where = f"lot {lot_id}, entry {entry.sequence} ({entry.kind})"
            running += entry.quantity
            if entry.sequence != n:
                found.append(f"{where}: numbered {entry.sequence}, not {n}")
            if entry.balance_after != running or running < 0:
                found.append(f"{where}: balance {entry.balance_after}, the entries sum to {running}")
            if previous is not None and entry.occurred_at < previous.occurred_at:
                found.append(f"{where}: dated before the entry it follows")
            if start is not None and entry.occurred_at < start:
                found.append(f"{where}: dated before the initial inventory")
            if entry.kind == Entry.Kind.RECEIPT and not (
                entry.party_name and dea_number_valid(entry.party_dea_number) and entry.document_reference
            ):
                found.append(f"{where}: a receipt without its supplier, valid DEA number and invoice")
            previous = entry
    return found


def stocked_dose_problems() -> list[str]:
    """From the initial inventory on, every injected or intranasal dose names a lot and is posted
    once to it: one administration entry standing (not reversed), of the quantity the dose takes
    from the lot, at the dose's time, naming the client and who gave it. Before the initial
    inventory no dose names a lot or is posted."""
    from kapflow.controlled.ledger import dose_quantity
    from kapflow.controlled.models import Entry
    from kapflow.dosing.models import Administration
    from kapflow.dosing.services.administration import STOCKED_ROUTES

    found = []
    start = _ledger_start()
    postings = defaultdict(list)
    for entry in Entry.objects.filter(kind=Entry.Kind.ADMINISTRATION):
        postings[entry.administration_id].append(entry)
    reversed_ids = set(Entry.objects.filter(reverses__isnull=False).values_list("reverses_id", flat=True))
    doses = Administration.objects.filter(route__in=STOCKED_ROUTES).select_related("lot", "runbook__visit")
    for dose in doses:
        where = f"{dose.route} dose of {dose.given_at:%Y-%m-%d %H:%M} (client {dose.runbook.visit.client_id})"
        entries = postings.get(dose.pk, [])
        if start is None or dose.given_at < start:
            if dose.lot_id is not None or entries:
                found.append(f"{where}: posted to a lot before the ledger began")
            continue
        if dose.lot is None:
            found.append(f"{where}: after the ledger began, without a lot")
            continue
        standing = [entry for entry in entries if entry.pk not in reversed_ids]
        if len(standing) != 1:
            found.append(f"{where}: {len(standing)} postings standing, not one")
            continue
        [entry] = standing
        if (
            entry.lot_id != dose.lot_id
            or entry.quantity != -dose_quantity(dose.lot, dose.dose_mg)
            or entry.occurred_at != dose.given_at
            or entry.client_id != dose.runbook.visit.client_id
            or entry.person_id != dose.given_by_id
        ):
            found.append(f"{where}: posted as {entry.quantity} of lot {entry.lot_id}, not the dose as given")
    return found


def waste_problems() -> list[str]:
    """Every waste is of a dose from a lot, posted to that lot after the dose, with its reason,
    wasted by a clinician and witnessed by another clinician of the practice who confirmed who
    they are."""
    from kapflow.controlled.ledger import can_witness
    from kapflow.controlled.models import Entry

    found = []
    wastes = Entry.objects.filter(kind=Entry.Kind.WASTE).select_related("person", "witness", "administration")
    for entry in wastes:
        where = f"waste {entry.pk} of lot {entry.lot_id}"
        dose = entry.administration
        if entry.witness is None or entry.witness_confirmed_at is None or entry.witness_id == entry.person_id:
            found.append(f"{where}: not witnessed by someone other than the person wasting")
        elif not can_witness(entry.witness) or not entry.person.is_clinician:
            found.append(f"{where}: wasted or witnessed by someone who may not")
        if dose is None or dose.lot_id != entry.lot_id or entry.occurred_at < dose.given_at:
            found.append(f"{where}: not left of a dose from this lot, after it")
        if not entry.reason.strip():
            found.append(f"{where}: no reason")
    return found


def rems_problems(*, practice) -> list[str]:
    """Every intranasal dose was given to a client enrolled in the Spravato REMS on or before its
    day, in a room certified under the REMS with its setting ID; every signed esketamine record
    has its REMS form complete, answered before the signature, and submitted (if it was) no
    earlier than the session."""
    from kapflow.controlled.models import RemsEnrolment
    from kapflow.dosing import rems
    from kapflow.dosing.models import Administration
    from kapflow.medical.doses import INTRANASAL

    found = []
    enrolled = defaultdict(list)
    for client_id, day in RemsEnrolment.objects.values_list("client_id", "enrolled_on"):
        enrolled[client_id].append(day)
    doses = Administration.objects.filter(route=INTRANASAL).select_related("runbook__visit__room")
    sessions = {}
    for dose in doses:
        visit = dose.runbook.visit
        where = f"esketamine dose of {dose.given_at:%Y-%m-%d} (client {visit.client_id})"
        day = timezone.localdate(dose.given_at)
        if not any(on <= day for on in enrolled[visit.client_id]):
            found.append(f"{where}: the client was not enrolled in the REMS before it")
        room = visit.room
        if room is None or not room.rems_certified or not room.rems_setting_id.strip():
            found.append(f"{where}: not in a room certified under the REMS with its setting ID")
        if dose.runbook.signed_at is not None:
            sessions[visit.pk] = (visit, dose.runbook)
    for visit, runbook in sessions.values():
        where = f"esketamine session {visit.pk} (client {visit.client_id})"
        form = rems.form_for(visit, practice=practice)
        if form is None or form.missing:
            found.append(f"{where}: signed with its REMS form incomplete: {form.missing if form else None}")
            continue
        report = form.report
        if report.answered_at > runbook.signed_at:
            found.append(f"{where}: REMS answers given after the signature")
        if report.submitted_on is not None and report.submitted_on < timezone.localdate(visit.starts_at):
            found.append(f"{where}: the form submitted before the session")
    return found


def supply_count_problems() -> list[str]:
    """Every count of a client's own medicine that stands (a session's latest at a strength)
    matches: brought what the pharmacy's fills of that strength filled by that day, less what
    the client's earlier counts recorded as taken; taken as many units as the session's doses from
    the client's own medicine come to; no mismatch recorded."""
    from kapflow.controlled.models import PharmacyFill
    from kapflow.dosing.models import Administration, SupplyCount
    from kapflow.medical.doses import SUBLINGUAL

    found = []
    counts = list(SupplyCount.objects.select_related("runbook__visit").order_by("counted_at", "pk"))
    standing = {}
    for count in counts:
        standing[(count.runbook_id, count.strength_mg)] = count
    fills = list(PharmacyFill.objects.all())
    taken_before = defaultdict(lambda: 0)  # (client, strength) -> units taken by earlier counts
    for count in sorted(standing.values(), key=lambda c: (c.counted_at, c.pk)):
        client_id = count.runbook.visit.client_id
        day = timezone.localdate(count.counted_at)
        where = f"count of {count.counted_at:%Y-%m-%d} (client {client_id}, {count.strength_mg} mg)"
        filled = sum(
            (
                f.quantity
                for f in fills
                if f.client_id == client_id and f.strength_mg == count.strength_mg and f.filled_on <= day
            ),
            0,
        )
        expected = filled - taken_before[(client_id, count.strength_mg)]
        own = sum(
            (
                dose.dose_mg
                for dose in Administration.objects.filter(
                    runbook=count.runbook, route=SUBLINGUAL, lot__isnull=True
                )
            ),
            0,
        )
        if count.mismatches or count.expected != expected or count.brought != expected:
            found.append(f"{where}: brought {count.brought}, should hold {expected} ({count.mismatches})")
        if count.taken * count.strength_mg != own:
            found.append(f"{where}: {count.taken} taken, the doses from the client's own come to {own} mg")
        taken_before[(client_id, count.strength_mg)] += count.taken
    return found


# --- Billing (issue 18) ---------------------------------------------------------------------------


def billing_problems(*, today=None) -> list[str]:
    """The money's rules (docs/billing.md): a charge only for a completed visit, at a line of the
    schedule in force on its day and at that line's fee; every completed visit charged for each
    billable line of its day; every invoice's balance between zero and its total at every entry
    in date order, and what the database keeps it owes (and which charges and visits it keeps
    as invoiced and charged) as the rows say; nothing dated after today; a payment by a
    coordinator or admin, a refund or write-off by an admin; a refund no larger than what was
    left of its payment; a diagnosis by a clinician, not in the future."""
    from kapflow.billing import fees as fee_schedule
    from kapflow.billing.models import Charge, Diagnosis, Entry, Fee, Invoice

    today = today or timezone.localdate()
    found = []
    schedule = list(Fee.objects.all())
    charged = defaultdict(set)
    for charge in Charge.objects.select_related("visit"):
        visit = charge.visit
        charged[visit.pk].add(charge.code)
        if visit.status != Visit.Status.COMPLETED:
            found.append(f"Charge {charge.pk} is for a visit that is {visit.status}.")
        lines = fee_schedule.lines_for(visit.kind, visit.minutes, charge.service_date, fees=schedule)
        if charge.fee_id not in {fee.pk for fee in lines} or charge.amount != charge.fee.amount:
            found.append(f"Charge {charge.pk} is not at a fee in force on {charge.service_date}.")
        if charge.service_date != timezone.localdate(visit.starts_at):
            found.append(f"Charge {charge.pk} is dated apart from its visit.")
    for visit in Visit.objects.filter(status=Visit.Status.COMPLETED):
        day = timezone.localdate(visit.starts_at)
        owed = {
            fee.code
            for fee in fee_schedule.billable(
                fee_schedule.lines_for(visit.kind, visit.minutes, day, fees=schedule)
            )
        }
        if owed - charged[visit.pk]:
            found.append(
                f"Visit {visit.pk} ({visit.kind}, {day}) is not charged {sorted(owed - charged[visit.pk])}."
            )
    totals = defaultdict(lambda: 0)
    for invoice_id, amount in Charge.objects.values_list("invoice_line__invoice_id", "amount"):
        totals[invoice_id] += amount
    invoices = {invoice.pk: invoice for invoice in Invoice.objects.all()}
    entries = defaultdict(list)
    for entry in Entry.objects.select_related("created_by", "refund_of").order_by("received_on", "pk"):
        entries[entry.invoice_id].append(entry)
        if entry.received_on > today:
            found.append(f"Entry {entry.pk} is dated after today.")
        if entry.kind == Entry.Kind.PAYMENT and not (
            entry.created_by.is_coordinator or entry.created_by.is_practice_admin
        ):
            found.append(f"Payment {entry.pk} was recorded by someone who does not bill.")
        if entry.kind != Entry.Kind.PAYMENT and not entry.created_by.is_practice_admin:
            found.append(
                f"{entry.get_kind_display()} {entry.pk} was recorded by someone who is not an admin."
            )
    for pk, invoice in invoices.items():
        if invoice.issued_on > today:
            found.append(f"Invoice {invoice.number} is dated after today.")
        balance = totals[pk]
        refunded = defaultdict(lambda: 0)
        for entry in entries[pk]:
            if entry.received_on < invoice.issued_on:
                found.append(f"Entry {entry.pk} is dated before its invoice {invoice.number}.")
            if entry.kind == Entry.Kind.REFUND:
                refunded[entry.refund_of_id] += entry.amount
                if refunded[entry.refund_of_id] > entry.refund_of.amount:
                    found.append(f"Refund {entry.pk} returns more than its payment.")
            balance += entry.effect
            if not 0 <= balance <= totals[pk]:
                found.append(f"Invoice {invoice.number}'s balance is {balance} after entry {entry.pk}.")
        if invoice.owed != balance:
            found.append(f"Invoice {invoice.number} is kept as owing {invoice.owed}, not {balance}.")
    # The columns the database keeps (kapflow.billing.db) agree with the rows.
    invoiced = set(Charge.objects.filter(invoice_line__isnull=False).values_list("pk", flat=True))
    if set(Charge.objects.filter(invoiced=True).values_list("pk", flat=True)) != invoiced:
        found.append("The charges kept as invoiced are not those on an invoice.")
    with_a_charge = {pk for pk, codes in charged.items() if codes}
    if set(Visit.objects.filter(charged=True).values_list("pk", flat=True)) != with_a_charge:
        found.append("The visits kept as charged are not those with a charge.")
    for diagnosis in Diagnosis.objects.select_related("diagnosed_by"):
        if not diagnosis.diagnosed_by.is_clinician:
            found.append(f"Diagnosis {diagnosis.pk} was made by someone who is not a clinician.")
        if diagnosis.diagnosed_on > today:
            found.append(f"Diagnosis {diagnosis.pk} is dated after today.")
    return found


def estimate_problems(*, today=None) -> list[str]:
    """The Good Faith Estimate's rules (docs/good-faith-estimate.md): every self-pay client given
    a medication session had an estimate before the first one; every self-pay client's plan in
    force, while their course runs, has an estimate that answers for it; an estimate is
    superseded only by a later one."""
    from kapflow.billing import estimates
    from kapflow.billing.models import Estimate

    today = today or timezone.localdate()
    found = []
    given = defaultdict(list)
    for estimate in Estimate.objects.order_by("issued_at", "pk"):
        given[estimate.client_id].append(estimate)
    self_pay = set(Client.objects.filter(estimates.self_pay_q()).values_list("pk", flat=True))
    first = {}
    for client_id, starts_at in (
        Visit.objects.filter(kind=Visit.Kind.MEDICATION)
        .exclude(status=Visit.Status.CANCELLED)
        .order_by("starts_at")
        .values_list("client_id", "starts_at")
    ):
        first.setdefault(client_id, starts_at)
    now = timezone.now()
    for client_id, starts_at in first.items():
        if starts_at > now:
            continue  # booked ahead: its estimate may still be due (checked below)
        if client_id in self_pay and not any(e.issued_at < starts_at for e in given[client_id]):
            found.append(
                f"Client {client_id}'s first medication session had no Good Faith Estimate before it."
            )
    for versions in given.values():
        for earlier, later in zip(versions, versions[1:], strict=False):
            if earlier.superseded_at != later.issued_at:
                found.append(f"Estimate {earlier.pk} is not superseded by the next one, {later.pk}.")
    for item in estimates.estimates_due(today):
        if item.due_on < today:
            found.append(f"Client {item.client.pk}'s estimate was due on {item.due_on}: {item.why}")
    return found
