"""The demo practices' progress notes and the clients' intentions for their medication sessions
(docs/notes.md, docs/demo.md). Fictional throughout.

A clinical visit (NOTED_KINDS) is completed by signing its note, so every completed one carries a
signed note, written by the visit's clinician in the practice's format and signed shortly after
the visit ended, in time (never a late entry). A preparation visit's note names what that
session covered, as the client's PreparationSession records it (signing a note is what records
it); an integration visit's note follows the medication session before it and the intention the
client brought to it. The rows are built here unsaved, exactly as kapflow.notes.services leaves
them once signed, and written by the stories: the quick one a visit at a time, the group one in
bulk. A few recent visits of the quick practice are still open with their note owed, one with a
draft: the dashboard's "Notes owed" list has something honest to show."""

import datetime
import random

from django.utils import timezone

from kapflow.demo.portal import CLIENT_EMAIL
from kapflow.notes.models import SECTIONS, ProgressNote, SessionIntention
from kapflow.visits.models import NOTED_KINDS, Visit

# What each kind of visit's note says, in parts a format arranges into its sections (SOAP,
# DAP, BIRP): what the client said, what was seen, what was done, how they responded, the
# clinician's judgement and the plan. Two or three versions of each, chosen at random.
SAID = {
    Visit.Kind.CONSULTATION: [
        "Describes years of low mood that medication and talk therapy have only dented; wants to know "
        "whether KAP could help.",
        "Came on the advice of their therapist; sleep poor, withdrawn from friends, tired of feeling stuck.",
    ],
    Visit.Kind.MEDICAL_EVALUATION: [
        "No new symptoms; current medicines as listed on the screening. No history of psychosis.",
        "Reports good general health; blood pressure checked at the pharmacy last month was normal.",
    ],
    Visit.Kind.PREPARATION: [
        "Curious and a little anxious about losing control; asked what a session feels like.",
        "Spoke about hopes for the course and about the critical voice that follows them around.",
        "Worried about feeling sick; reassured by the plan for the day and the ride home.",
    ],
    Visit.Kind.INTEGRATION: [
        "Still thinking about the warmth that came up in the session; slept well that night.",
        "Found the session tiring but meaningful; memories of a childhood home came back.",
        "Felt some distance from the inner critic for a day; it crept back by the evening.",
    ],
    Visit.Kind.THERAPY: [
        "Mood steadier over the past fortnight; one hard day after a family visit.",
        "Kept up the morning walks; work still a strain but manageable.",
    ],
    Visit.Kind.PROGRESS_REVIEW: [
        "Feels the course has helped: less stuck, sleeping better, back in touch with a friend.",
        "Notices the change most at work; still has low days but they pass sooner.",
    ],
}
SEEN = [
    "Alert and oriented, good eye contact, speech normal in rate and tone; affect reactive.",
    "Calm and engaged; mildly anxious at the start, settling over the hour.",
    "Well kempt, cooperative; mood low-to-neutral, affect brighter when talking about family.",
]
DONE = {
    Visit.Kind.CONSULTATION: "Took the history, explained the pathway and the screening; baseline "
    "PHQ-9 and GAD-7.",
    Visit.Kind.MEDICAL_EVALUATION: "Reviewed the screening and medicines; vitals taken; clearance decided.",
    Visit.Kind.PREPARATION: "Went through what a session may be like, the day's instructions and the "
    "intentions for the course.",
    Visit.Kind.INTEGRATION: "Reflected on the session's themes; linked them to the goals; agreed small "
    "steps for the week.",
    Visit.Kind.THERAPY: "Supportive therapy; reviewed the week and the skills that helped.",
    Visit.Kind.PROGRESS_REVIEW: "Reviewed the scores since baseline and the sessions held against the plan.",
}
RESPONSE = [
    "Engaged well and could name what helped; left feeling clearer.",
    "Thoughtful and open; some tearfulness, settled by the end.",
    "Receptive; asked good questions and agreed the plan.",
]
JUDGED = {
    Visit.Kind.CONSULTATION: "A good candidate for KAP pending the medical evaluation; motivated, well "
    "supported.",
    Visit.Kind.MEDICAL_EVALUATION: "No contraindication found; suitable for ketamine under the usual "
    "monitoring.",
    Visit.Kind.PREPARATION: "Prepared and realistic about the course; fears are ordinary and were addressed.",
    Visit.Kind.INTEGRATION: "Integrating well; the session's material is usable in therapy.",
    Visit.Kind.THERAPY: "Gains from the course are holding; no new risk.",
    Visit.Kind.PROGRESS_REVIEW: "Clear improvement since baseline; the course has done what it set out to.",
}
PLAN = {
    Visit.Kind.CONSULTATION: "Screening and medical evaluation with the prescriber; consents at the first "
    "preparation session.",
    Visit.Kind.MEDICAL_EVALUATION: "Order written; preparation sessions with the therapist next.",
    Visit.Kind.PREPARATION: "A second preparation session, then the first medication session as planned.",
    Visit.Kind.INTEGRATION: "Next medication session as booked; the week's small steps reviewed then.",
    Visit.Kind.THERAPY: "Therapy as planned; maintenance session when due.",
    Visit.Kind.PROGRESS_REVIEW: "As decided at the course review, with the prescriber.",
}
PRESENT = ["", "", "", "", "Partner joined for the last ten minutes."]
RISK = [
    "No suicidal ideation, intent or plan; protective factors strong. Risk low.",
    "Denies thoughts of self-harm; safety plan reviewed. Risk low.",
]
PROGRESS = [
    "Moving towards the goals: sleeping better, re-engaging with friends.",
    "Some progress on the goals; less self-criticism reported.",
    "Early days; goals agreed and realistic.",
]
THEMES = [
    "Grief and permission to rest; kindness towards the younger self.",
    "The critical voice seen from a distance; warmth in old friendships.",
    "Feeling more at home in the body; letting things be unfinished.",
]
INTENTIONS = [
    "To meet the low mood with curiosity rather than a fight.",
    "To be kinder to myself, and see what the critic is protecting.",
    "To let whatever comes be there, without fixing it.",
    "To feel more at home in my own life.",
    "To understand what the grief is still asking of me.",
]
# What a client says of their intentions in a preparation session.
PREPARATION_INTENTION = "To meet the critical voice with some curiosity."
# How long after a visit ends its note is signed: well inside any practice's deadline.
SIGNED_AFTER_MINUTES = (15, 240)


def _sections(kind: str, format: str, rng: random.Random) -> dict[str, str]:
    said, seen, done = rng.choice(SAID[kind]), rng.choice(SEEN), DONE[kind]
    parts = {
        "subjective": said,
        "objective": seen,
        "data": f"{said} {seen}",
        "behaviour": seen,
        "intervention": done,
        "response": rng.choice(RESPONSE),
        "assessment": JUDGED[kind],
        "plan": PLAN[kind],
    }
    return {key: parts[key] for key, _heading, _hint in SECTIONS[format]}


def signed_at_for(visit: Visit, rng: random.Random, now: datetime.datetime) -> datetime.datetime:
    """When the note of a visit that ended was signed: shortly after it ended, never after now."""
    return min(visit.ends_at + datetime.timedelta(minutes=rng.randint(*SIGNED_AFTER_MINUTES)), now)


def note_for(
    visit: Visit,
    *,
    format: str,
    rng: random.Random,
    signed_at: datetime.datetime | None,
    preparation=None,
    follows: Visit | None = None,
    intention: str = "",
    themes: str = "",
) -> ProgressNote:
    """The note of `visit` (a kind of NOTED_KINDS, unsaved), by its clinician: signed at
    `signed_at` as kapflow.notes.services.note_sign leaves it, or a draft when that is None. A
    preparation visit's topics and intentions are its PreparationSession's (`preparation`); an
    integration visit's follow the medication session `follows` and the client's `intention`
    for it."""
    assert visit.kind in NOTED_KINDS, visit.kind
    author = visit.clinician
    begun = visit.ends_at - datetime.timedelta(minutes=5)
    saved = (signed_at or visit.ends_at + datetime.timedelta(minutes=20)) - datetime.timedelta(minutes=2)
    note = ProgressNote(
        visit=visit,
        client=visit.client,
        author=author,
        format=format,
        sections=_sections(visit.kind, format, rng),
        present=rng.choice(PRESENT),
        risk=rng.choice(RISK),
        progress=rng.choice(PROGRESS),
        created_at=min(begun, saved),
        draft_saved_at=saved,
    )
    if visit.kind == Visit.Kind.PREPARATION and preparation is not None:
        note.topics = list(preparation.topics)
        note.intentions = preparation.intentions
    if visit.kind == Visit.Kind.INTEGRATION:
        note.follows = follows
        note.session_intention = intention
        note.themes = themes or rng.choice(THEMES)
    if signed_at is not None:
        note.signed_at, note.signed_by = signed_at, author
        note.signature = author.display_name[:200]
        note.late_entry = False
    return note


def intention_for(visit: Visit, *, rng: random.Random, portal_user=None) -> SessionIntention:
    """The client's intention for a medication session (unsaved): entered on the portal the
    evening before when the client has a portal sign-in, otherwise said in the opening
    reflection and entered by the clinician a few minutes into the session."""
    if portal_user is not None:
        source, who, at = (
            SessionIntention.Source.PORTAL,
            portal_user,
            visit.starts_at - datetime.timedelta(hours=16),
        )
    else:
        source, who = SessionIntention.Source.OPENING, visit.clinician
        at = visit.starts_at + datetime.timedelta(minutes=4)
    return SessionIntention(
        visit=visit,
        client=visit.client,
        text=rng.choice(INTENTIONS),
        source=source,
        entered_by=who,
        entered_at=at,
    )


# --- The quick practice -----------------------------------------------------------------------


def _preparation_for(visit: Visit, sessions: list, used: set, signed_at: datetime.datetime):
    """The client's PreparationSession of this preparation visit: the one held that day, else
    one recorded from the note, as signing it does (kapflow.notes.services.note_sign)."""
    from kapflow.pathway.models import PreparationSession, Topic

    day = timezone.localdate(visit.starts_at)
    same = [s for s in sessions if s.held_on == day and s.pk not in used]
    if same:
        found = same[0]
    else:
        topics = Topic.values[:6]
        found = PreparationSession.objects.create(
            client=visit.client,
            clinician=visit.clinician,
            held_on=day,
            topics=topics,
            intentions=PREPARATION_INTENTION,
            day_of_instructions_given=Topic.DAY_OF.value in topics,
            note=f"From the signed progress note of the preparation session of {day:%Y-%m-%d}.",
            recorded_at=signed_at,
        )
    used.add(found.pk)
    return found


def add_notes_story(staff, *, owed_per_therapist: int = 1) -> None:
    """A signed note for every completed clinical visit of the quick practice that has none, the
    clients' intentions for their medication sessions, and the notes owed: the latest clinical
    visit of each demo therapist that ended in the last few days is left open (in progress)
    with its note owed, the practice owner's as a draft. Safe to call again: it adds nothing
    the second time."""
    from kapflow.integration.models import IntegrationRecord
    from kapflow.pathway.models import PreparationSession
    from kapflow.practice.models import Practice

    rng = random.Random(1515)  # noqa: S311  (made-up demo data, not secrets)
    now = timezone.now()
    practice = Practice.load()
    first_time = not ProgressNote.objects.exists()
    _add_intentions(rng, now)
    completed = Visit.objects.filter(
        kind__in=NOTED_KINDS, status=Visit.Status.COMPLETED, progress_note__isnull=True
    ).select_related("client", "clinician")
    records = {r.visit_id: r for r in IntegrationRecord.objects.filter(visit__in=completed)}
    if first_time:
        _leave_owed(staff, rng, now, practice, owed_per_therapist, records)
    visits = list(completed.order_by("starts_at", "pk"))
    preparations: dict[int, list] = {}
    for session in PreparationSession.objects.filter(client__in={v.client_id for v in visits}).order_by(
        "held_on", "pk"
    ):
        preparations.setdefault(session.client_id, []).append(session)
    noted = ProgressNote.objects.filter(visit__kind=Visit.Kind.PREPARATION).values_list(
        "client_id", "visit__starts_at"
    )
    used = {
        s.pk
        for client_id, starts_at in noted
        for s in preparations.get(client_id, [])
        if s.held_on == timezone.localdate(starts_at)
    }
    for visit in visits:
        signed, preparation = signed_at_for(visit, rng, now), None
        if visit.kind == Visit.Kind.PREPARATION:
            preparation = _preparation_for(visit, preparations.get(visit.client_id, []), used, signed)
        note_for(
            visit,
            format=practice.note_format,
            rng=rng,
            signed_at=signed,
            preparation=preparation,
            **_integration_context(visit, records),
        ).save()


def _integration_context(visit: Visit, records: dict) -> dict:
    """What an integration visit's note starts from: the medication session it follows (its
    integration record's, else the client's latest before it), the client's intention for that
    session, and the themes the record noted."""
    if visit.kind != Visit.Kind.INTEGRATION:
        return {}
    record = records.get(visit.pk)
    follows = record.follows if record is not None and record.follows_id else _session_before(visit)
    latest = SessionIntention.objects.filter(visit=follows).first() if follows else None
    return {
        "follows": follows,
        "intention": latest.text if latest else "",
        "themes": record.themes if record is not None else "",
    }


def _session_before(visit: Visit) -> Visit | None:
    return (
        Visit.objects.filter(
            client_id=visit.client_id,
            kind=Visit.Kind.MEDICATION,
            status=Visit.Status.COMPLETED,
            starts_at__lt=visit.starts_at,
        )
        .order_by("-starts_at", "-pk")
        .first()
    )


def _add_intentions(rng: random.Random, now: datetime.datetime) -> None:
    """An intention for most medication sessions held in the last two months and every one
    booked for the coming week by a client with a portal sign-in (entered there the evening
    before); never one entered after now."""
    sessions = (
        Visit.objects.filter(
            kind=Visit.Kind.MEDICATION,
            starts_at__gte=now - datetime.timedelta(days=60),
            starts_at__lte=now + datetime.timedelta(days=7),
            intentions__isnull=True,
        )
        .exclude(status__in=(Visit.Status.CANCELLED, Visit.Status.NO_SHOW))
        .select_related("client__portal_user", "clinician")
        .order_by("starts_at", "pk")
    )
    made = []
    for visit in sessions:
        # The demo's portal client enters hers on the portal. The other clients' accounts are
        # opened after every story (kapflow.demo.portal.open_portal_accounts), for their
        # questionnaires: they say theirs in the session, on the first load as on any later one.
        portal = visit.client.portal_user
        if portal is not None and portal.email != CLIENT_EMAIL:
            portal = None
        # By the visit, not by its place in the list: a later load skips the same ones again.
        if portal is None and (visit.starts_at > now or visit.pk % 4 == 3):
            continue  # said in the opening reflection, which has not happened yet (or not noted)
        intention = intention_for(visit, rng=rng, portal_user=portal)
        if intention.entered_at <= now:
            made.append(intention)
    SessionIntention.objects.bulk_create(made)


def _leave_owed(staff, rng, now, practice, per_therapist: int, records: dict) -> None:
    """Each demo therapist's latest clinical visits that ended in the last three days are left
    open (in progress) with their note owed, since a visit is completed only by signing its
    note; the owner's first one has a draft saved."""
    for therapist in (staff["owner"], staff["therapist"]):
        latest = list(
            Visit.objects.filter(
                clinician=therapist,
                kind__in=NOTED_KINDS,
                status=Visit.Status.COMPLETED,
                progress_note__isnull=True,
                ends_at__lte=now,
                ends_at__gte=now - datetime.timedelta(days=3),
            )
            .exclude(kind=Visit.Kind.PREPARATION)  # its signed note is what records the preparation
            .select_related("client", "clinician")
            .order_by("-ends_at", "-pk")[:per_therapist]
        )
        for k, visit in enumerate(latest):
            Visit.objects.filter(pk=visit.pk).update(
                status=Visit.Status.IN_PROGRESS, status_changed_at=visit.starts_at
            )
            if therapist == staff["owner"] and k == 0:
                draft = note_for(
                    visit,
                    format=practice.note_format,
                    rng=rng,
                    signed_at=None,
                    **_integration_context(visit, records),
                )
                draft.draft_saved_at = min(draft.draft_saved_at, now)
                draft.sections = {**draft.sections, "plan": ""}  # still being written
                draft.save()
