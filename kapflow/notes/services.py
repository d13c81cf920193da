"""Writing, signing and adding to the progress note of a clinical visit (docs/notes.md).

A note is begun (`note_open`) by a therapist or prescriber who may write it, saved as a draft as
it is typed (`note_save_draft`, its author only), then signed (`note_sign`): signing fixes the
signature (name and credentials), says whether it is a late entry, completes the visit and, for a
preparation session, records what it covered on the pathway. The signed note is locked at the
database (kapflow.audit.immutable); anything said later is an addendum (`note_addendum`), kept
under it with its author, time and reason. Each write is atomic, locks the rows it changes before
its first audit row, and audits which parts changed, never their text."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.access import writes_for
from kapflow.notes.intentions import latest_intention
from kapflow.notes.models import SECTIONS, NoteAddendum, NoteFormat, ProgressNote
from kapflow.pathway.models import PreparationSession, Topic
from kapflow.practice.models import practice_for
from kapflow.visits.models import NOTED_KINDS, Visit

# A visit that did not happen has nothing to note.
NOT_HELD = (Visit.Status.CANCELLED, Visit.Status.NO_SHOW)
# What a note's free text may hold, per field: far more than any note needs, and a bound on what
# one request can store.
TEXT_MAX = 20_000
# The parts of a note besides its format's sections, and the KAP parts each kind of visit has.
COMMON_PARTS = ("present", "risk", "progress")
KIND_PARTS = {
    Visit.Kind.PREPARATION: ("topics", "intentions"),
    Visit.Kind.INTEGRATION: ("themes",),
}


class NoteRefused(Exception):
    """A write the notes do not allow; `reason` is a sentence for the person asking."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SignRefused(NoteRefused):
    """A signature refused after the draft as typed was saved (note_save_and_sign)."""


def kind_parts(kind: str) -> tuple[str, ...]:
    """The KAP parts a note of this kind of visit has (topics and intentions for preparation,
    themes for integration)."""
    return KIND_PARTS.get(kind, ())


def may_write(user, visit: Visit) -> bool:
    """Whether `user` may begin the note of this visit: a therapist or prescriber who held it
    (its clinician or a joining one) or is on the client's care team as one (one or two
    queries)."""
    if not (user.is_authenticated and user.is_active and user.is_clinician):
        return False
    if visit.clinician_id == user.pk or visit.other_clinicians.filter(pk=user.pk).exists():
        return True
    return writes_for(user, visit.client_id)


def may_add_to(user, note: ProgressNote) -> bool:
    """Whether `user` may write an addendum to this note: its author, or a therapist or
    prescriber on the client's care team (one query at most)."""
    if not (user.is_authenticated and user.is_active and user.is_clinician):
        return False
    return note.author_id == user.pk or writes_for(user, note.client_id)


def follows_of(visit: Visit) -> Visit | None:
    """The medication session an integration visit follows: the client's latest completed
    medication session that began before it (as kapflow.integration finds it). One query."""
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


def _saved(row):
    try:
        row.full_clean()
    except ValidationError as error:
        raise NoteRefused(" ".join(error.messages)) from None
    row.save()
    return row


@transaction.atomic
def note_open(*, request, visit: Visit, format: str = "") -> ProgressNote:
    """Begin the note of a clinical visit, written by the person asking, in `format` (one of
    NoteFormat) or else the practice's. An integration visit's note starts from the medication
    session it follows and the client's intention for it. A note already begun is returned as
    it is (a second click, or two tabs, never makes two). Refused for a kind of visit that has
    no note, a visit that did not happen, and anyone who may not write it."""
    user = request.user
    # Locked first: two first saves at once (two tabs) wait for each other, and the second then
    # finds the note the first began.
    visit = (
        Visit.objects.select_for_update(of=("self",), no_key=True).select_related("client").get(pk=visit.pk)
    )
    existing = ProgressNote.objects.filter(visit=visit).first()
    if existing is not None:
        return existing
    if visit.kind not in NOTED_KINDS:
        if visit.kind == Visit.Kind.MEDICATION:
            raise NoteRefused("A medication session's record is its runbook: write there.")
        raise NoteRefused(f"A {visit.get_kind_display().lower()} has no progress note.")
    if visit.status in NOT_HELD:
        raise NoteRefused(f"This visit was {visit.get_status_display().lower()}: it has no note.")
    if not may_write(user, visit):
        raise NoteRefused(
            "Only a therapist or prescriber who held the visit or cares for the client writes its note."
        )
    if format not in NoteFormat.values:
        format = practice_for(request).note_format
    note = ProgressNote(visit=visit, client=visit.client, author=user, format=format)
    if visit.kind == Visit.Kind.INTEGRATION:
        note.follows = follows_of(visit)
        intention = latest_intention(note.follows)
        note.session_intention = intention.text if intention is not None else ""
    _saved(note)
    audit_record(
        request=request,
        action="kapflow.notes.note.begun",
        client=visit.client,
        obj=note,
        detail={"kind": visit.kind, "format": format, "follows": note.follows_id},
    )
    return note


def _locked(note: ProgressNote) -> ProgressNote:
    return (
        ProgressNote.objects.select_for_update(of=("self",), no_key=True)
        .select_related("visit", "client", "author")
        .get(pk=note.pk)
    )


def _draft_of(note: ProgressNote, user) -> None:
    if note.is_signed:
        raise NoteRefused("This note is signed: it cannot be changed. Write an addendum instead.")
    if note.author_id != user.pk:
        raise NoteRefused(f"This draft is {note.author.full_name}'s: only its author edits it.")


def has_text(sections: dict) -> bool:
    """Whether any section of a note holds text."""
    return any(str(text).strip() for text in sections.values())


@transaction.atomic
def note_save_draft(
    *,
    request,
    note: ProgressNote,
    sections: dict,
    present: str = "",
    risk: str = "",
    progress: str = "",
    topics=(),
    intentions: str = "",
    themes: str = "",
    format: str = "",
) -> ProgressNote:
    """Save the draft as typed: its author only, and only while it is unsigned. Only the
    sections of the note's format are kept, and only the KAP parts its kind of visit has. The
    format may change while no section holds any text (what is typed in one format is never
    thrown away by choosing another). Sets when the draft was saved; audited with the parts that
    changed, and nothing when nothing did."""
    note = _locked(note)
    _draft_of(note, request.user)
    before = _snapshot(note)
    if format and format != note.format:
        if format not in NoteFormat.values:
            raise NoteRefused("Choose SOAP, DAP or BIRP.")
        if has_text(note.sections):
            raise NoteRefused(
                f"This draft is written as {note.format.upper()}: its format cannot change once a section "
                "holds text."
            )
        note.format = format
    note.sections = {key: str(sections.get(key) or "") for key, _heading, _hint in SECTIONS[note.format]}
    note.present, note.risk, note.progress = present or "", risk or "", progress or ""
    parts = kind_parts(note.visit.kind)
    valid_topics = set(Topic.values)
    note.topics = [t for t in dict.fromkeys(topics or ()) if t in valid_topics] if "topics" in parts else []
    note.intentions = (intentions or "") if "intentions" in parts else ""
    note.themes = (themes or "") if "themes" in parts else ""
    changed = [name for name, value in _snapshot(note).items() if before[name] != value]
    if not changed:
        return note
    note.draft_saved_at = timezone.now()
    try:
        note.full_clean()
    except ValidationError as error:
        raise NoteRefused(" ".join(error.messages)) from None
    note.save(update_fields=[*changed, "draft_saved_at"])
    audit_record(
        request=request,
        action="kapflow.notes.note.draft_saved",
        client=note.client,
        obj=note,
        detail={"changed": changed},
    )
    return note


def _snapshot(note: ProgressNote) -> dict:
    return {
        "format": note.format,
        "sections": dict(note.sections),
        "present": note.present,
        "risk": note.risk,
        "progress": note.progress,
        "topics": list(note.topics),
        "intentions": note.intentions,
        "themes": note.themes,
    }


def sign_problems(note: ProgressNote, *, now: datetime.datetime) -> list[str]:
    """Why this draft cannot be signed now, as sentences; none when it can. Pure: reads the
    note and its visit as they are."""
    visit = note.visit
    problems = []
    if visit.status in NOT_HELD:
        problems.append(f"This visit was {visit.get_status_display().lower()}: there is nothing to sign.")
    elif visit.starts_at > now:
        problems.append("The visit has not begun yet: sign its note once it has happened.")
    texts = {key: str(note.sections.get(key, "")).strip() for key, _h, _hint in SECTIONS[note.format]}
    if not texts.get("plan") or not any(text for key, text in texts.items() if key != "plan"):
        problems.append("Write the plan and at least one other section before signing.")
    return problems


def is_late(visit: Visit, signed_at: datetime.datetime, *, due_hours: int) -> bool:
    """Whether a note signed at `signed_at` is a late entry: after the practice's deadline,
    `due_hours` after the visit ended."""
    return signed_at > visit.ends_at + datetime.timedelta(hours=due_hours)


@transaction.atomic
def note_sign(*, request, note: ProgressNote) -> ProgressNote:
    """Sign a draft (its author only): the signature is the author's name and credentials as
    they are now, the time is now (never earlier), and a note signed after the practice's
    deadline is a late entry. Refused for a note with no plan or nothing besides it, for a visit
    that has not begun, and for one cancelled or missed. Signing completes the visit and, for a
    preparation session that covered topics or recorded intentions, records it on the pathway
    (kapflow.pathway.services.preparation_record), where the preparation gate counts it."""
    from kapflow.visits import services as visit_services

    user = request.user
    # The visit first, then the note: every row this changes is locked before its first audit
    # row (the audit chain's lock is taken then; docs/security/audit.md).
    list(Visit.objects.select_for_update(no_key=True).filter(pk=note.visit_id).values_list("pk"))
    note = _locked(note)
    if note.is_signed:
        raise NoteRefused("This note is signed already. Anything more is an addendum.")
    if note.author_id != user.pk:
        raise NoteRefused(f"This draft is {note.author.full_name}'s: only its author signs it.")
    now = timezone.now()
    problems = sign_problems(note, now=now)
    if problems:
        raise NoteRefused(" ".join(problems))
    visit = note.visit
    note.signed_at = now
    note.signed_by = user
    note.signature = user.display_name[:200]
    note.late_entry = is_late(visit, now, due_hours=practice_for(request).note_due_hours)
    note.save(update_fields=["signed_at", "signed_by", "signature", "late_entry"])
    audit_record(
        request=request,
        action="kapflow.notes.note.signed",
        client=note.client,
        obj=note,
        detail={"kind": visit.kind, "format": note.format, "late_entry": note.late_entry},
    )
    if visit.status != Visit.Status.COMPLETED:
        visit_services.visit_transition(request=request, visit=visit, to=Visit.Status.COMPLETED)
    if visit.kind == Visit.Kind.PREPARATION and (note.topics or note.intentions.strip()):
        _record_preparation(request, note)
    return note


def note_save_and_sign(*, request, visit: Visit, note: ProgressNote | None, draft: dict) -> ProgressNote:
    """The Sign button: save what the form holds (beginning the note if need be), then sign it,
    in one transaction that holds the visit's row and then the note's from the save to the
    signature, so that an autosave arriving meanwhile (sent before Sign was pressed) waits and is
    then refused as too late, and never changes the words being signed. If signing is refused,
    the draft as saved is kept and SignRefused raised once it is committed; a refused save
    raises NoteRefused and keeps nothing."""
    refused = None
    with transaction.atomic():
        # The visit first, as note_open and note_sign lock it, then the note (note_save_draft).
        list(Visit.objects.select_for_update(no_key=True).filter(pk=visit.pk).values_list("pk"))
        if note is None:
            note = note_open(request=request, visit=visit, format=draft.get("format", ""))
        note = note_save_draft(request=request, note=note, **draft)
        try:
            with transaction.atomic():
                return note_sign(request=request, note=note)
        except NoteRefused as error:
            refused = SignRefused(error.reason)
    raise refused


class _Preparation:
    """What kapflow.pathway.services.preparation_record asks of its `form`: the session to save
    (`save(commit=False)`), here built from the signed note rather than typed into a form."""

    def __init__(self, session: PreparationSession):
        self.session = session

    def save(self, commit: bool = True) -> PreparationSession:
        assert not commit, "preparation_record saves the session itself"
        return self.session


def _record_preparation(request, note: ProgressNote) -> PreparationSession:
    from kapflow.pathway.services import preparation_record

    session = PreparationSession(
        held_on=timezone.localdate(note.visit.starts_at),
        topics=list(note.topics),
        intentions=note.intentions.strip(),
        day_of_instructions_given=Topic.DAY_OF.value in note.topics,
        note=f"From the signed progress note of the preparation session of "
        f"{timezone.localtime(note.visit.starts_at):%Y-%m-%d}.",
    )
    return preparation_record(request=request, client=note.client, form=_Preparation(session))


@transaction.atomic
def note_addendum(*, request, note: ProgressNote, reason: str, text: str) -> NoteAddendum:
    """An addendum to a signed note, with its reason, dated now and signed by its author (name
    and credentials): by the note's author or a therapist or prescriber on the client's care
    team. The note itself never changes."""
    user = request.user
    reason, text = (reason or "").strip(), (text or "").strip()
    note = _locked(note)
    if not note.is_signed:
        raise NoteRefused("Addenda are for a signed note; until it is signed, edit the draft.")
    if not may_add_to(user, note):
        raise NoteRefused("Only the note's author or a therapist or prescriber on the care team adds to it.")
    if not reason:
        raise NoteRefused("Say why the addendum is written.")
    if not text:
        raise NoteRefused("Write the addendum.")
    addendum = _saved(
        NoteAddendum(note=note, reason=reason, text=text, author=user, signature=user.display_name[:200])
    )
    audit_record(
        request=request,
        action="kapflow.notes.addendum.added",
        client=note.client,
        obj=addendum,
        detail={"note": note.pk},
    )
    return addendum
