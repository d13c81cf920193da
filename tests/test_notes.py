"""Progress notes of clinical visits (issue 15, part 1; docs/notes.md): a clinical visit is
completed by signing its note; the draft is saved as it is typed and only its author edits it;
signing locks the note at the database and later words are addenda; a note signed after the
practice's deadline is a late entry; a preparation note is recorded on the pathway; an
integration note starts from the client's intention for the session it follows. Every write is
audited without the note's words, and no input makes a page fail."""

import datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from hypothesis import example, given
from hypothesis import strategies as st

from kapflow.audit.models import AuditEvent
from kapflow.notes import services
from kapflow.notes.models import NoteAddendum, ProgressNote, SessionIntention
from kapflow.notes.selectors import saved_words
from kapflow.pathway.models import PreparationSession, Topic
from kapflow.pathway.readiness import preparation_gate
from kapflow.practice.models import Practice
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit
from tests import test_hostile_input
from tests.factories import ServiceRequest, sign_note
from tests.matrix_notes import held_visit
from tests.test_hostile_input import HOSTILE, _errors_named, _no_500, _typed_values_kept, hostile_value

pytestmark = pytest.mark.django_db

browser = test_hostile_input.browser

SOAP = {"subjective": "Slept better this week.", "objective": "Calm, good eye contact.", "plan": "Weekly."}


def editor(client, visit) -> str:
    return reverse("notes:visit", args=[client.pk, visit.pk])


def form_data(**fields) -> dict:
    return {
        "format": "",
        **SOAP,
        "present": "",
        "risk": "Denies SI.",
        "progress": "Goal 1 on track.",
        **fields,
    }


def draft(visit, author, **sections) -> ProgressNote:
    request = ServiceRequest(author)
    note = services.note_open(request=request, visit=visit)
    return services.note_save_draft(request=request, note=note, sections=sections or SOAP)


# --- A clinical visit is completed by signing its note -------------------------------------------


def test_a_clinical_visit_cannot_be_completed_without_a_signed_note(tess, avery, login):
    visit = held_visit(avery, tess)
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.IN_PROGRESS)
    with pytest.raises(visit_services.VisitRefused, match="A visit is completed by signing its note."):
        visit_services.visit_transition(request=ServiceRequest(tess), visit=visit, to=Visit.Status.COMPLETED)
    draft(visit, tess)  # a draft is not enough
    response = login(tess).post(reverse("visits:complete", args=[avery.pk, visit.pk]), follow=True)
    assert "A visit is completed by signing its note." in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == Visit.Status.IN_PROGRESS


def test_signing_the_note_completes_the_visit(tess, avery, login, audit_rows):
    tess.credentials = "LCSW"
    tess.save(update_fields=["credentials"])
    visit = held_visit(avery, tess)  # still "scheduled": nobody pressed Start
    http = login(tess)
    response = http.post(reverse("notes:sign", args=[avery.pk, visit.pk]), form_data())
    note = ProgressNote.objects.get(visit=visit)
    assert response.status_code == 302 and response["Location"] == reverse(
        "notes:detail", args=[avery.pk, note.pk]
    )
    visit.refresh_from_db()
    assert visit.status == Visit.Status.COMPLETED
    assert (note.signed_by, note.signature, note.late_entry) == (tess, "Tess Therapist, LCSW", False)
    assert note.author == tess and note.sections == SOAP | {"assessment": ""}
    assert timezone.now() - note.signed_at < datetime.timedelta(minutes=1)
    page = http.get(response["Location"]).content.decode()
    assert "Signed:</strong> Tess Therapist, LCSW" in page and "Slept better this week." in page
    completed = audit_rows("kapflow.visits.visit.completed")
    assert [(row.actor, row.object_id) for row in completed] == [(tess, str(visit.pk))]


def test_a_medication_session_or_a_discovery_call_has_no_progress_note(tess, avery):
    for kind, reason in ((Visit.Kind.MEDICATION, "runbook"), (Visit.Kind.DISCOVERY_CALL, "no progress note")):
        visit = held_visit(avery, tess, kind=kind)
        with pytest.raises(services.NoteRefused, match=reason):
            services.note_open(request=ServiceRequest(tess), visit=visit)
    assert not ProgressNote.objects.exists()


def test_the_editor_answers_404_for_a_medication_session(tess, avery, login):
    visit = held_visit(avery, tess, kind=Visit.Kind.MEDICATION)
    assert login(tess).get(editor(avery, visit)).status_code == 404


@pytest.mark.parametrize(
    "change, refusal",
    [
        ({"plan": ""}, "Write the plan and at least one other section"),
        (
            {"subjective": "  ", "objective": "", "assessment": ""},
            "Write the plan and at least one other section",
        ),
    ],
)
def test_it_refuses_to_sign_an_empty_note(tess, avery, login, change, refusal):
    visit = held_visit(avery, tess)
    response = login(tess).post(reverse("notes:sign", args=[avery.pk, visit.pk]), form_data(**change))
    assert response.status_code == 200
    assert refusal in response.content.decode()
    note = ProgressNote.objects.get(visit=visit)
    assert not note.is_signed
    # What was typed is kept: in the form that came back, and saved in the draft.
    assert note.risk == "Denies SI." and "Denies SI." in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == Visit.Status.SCHEDULED


def test_it_refuses_to_sign_the_note_of_a_visit_not_yet_begun_or_not_held(tess, avery):
    coming = held_visit(avery, tess, days_ago=-2)
    note = draft(coming, tess)
    with pytest.raises(services.NoteRefused, match="has not begun yet"):
        services.note_sign(request=ServiceRequest(tess), note=note)
    missed = held_visit(avery, tess, days_ago=3)
    note = draft(missed, tess)
    Visit.objects.filter(pk=missed.pk).update(status=Visit.Status.NO_SHOW)
    with pytest.raises(services.NoteRefused, match="no-show"):
        services.note_sign(request=ServiceRequest(tess), note=note)
    cancelled = held_visit(avery, tess, days_ago=4)
    Visit.objects.filter(pk=cancelled.pk).update(status=Visit.Status.CANCELLED, cancel_reason="Unwell")
    with pytest.raises(services.NoteRefused, match="cancelled"):
        services.note_open(request=ServiceRequest(tess), visit=cancelled)
    assert not ProgressNote.objects.filter(signed_at__isnull=False).exists()


# --- The draft ---------------------------------------------------------------------------------


def test_the_first_save_begins_the_note_in_the_practices_format_and_keeps_only_its_sections(
    tess, avery, login, audit_rows
):
    practice = Practice.load()
    practice.note_format = "dap"
    practice.save()
    visit = held_visit(avery, tess)
    http = login(tess)
    page = http.get(editor(avery, visit)).content.decode()
    assert "DAP (data, assessment, plan)" in page and not ProgressNote.objects.exists()  # GET writes nothing
    data = {"format": "dap", "data": "Talked about work.", "plan": "Weekly.", "subjective": "Not a DAP part."}
    response = http.post(editor(avery, visit), data)
    assert response.status_code == 302
    note = ProgressNote.objects.get(visit=visit)
    assert note.format == "dap"
    assert note.sections == {"data": "Talked about work.", "assessment": "", "plan": "Weekly."}
    assert note.draft_saved_at is not None
    [begun] = audit_rows("kapflow.notes.note.begun")
    assert begun.detail == {"kind": "therapy", "format": "dap", "follows": None}
    [saved] = audit_rows("kapflow.notes.note.draft_saved")
    assert saved.detail == {"changed": ["sections"]} and "Talked" not in str(saved.detail)
    assert f"Saved at {saved_words(note.draft_saved_at)}" in http.get(editor(avery, visit)).content.decode()


def test_the_format_may_change_only_while_no_section_holds_text(tess, avery):
    visit = held_visit(avery, tess)
    request = ServiceRequest(tess)
    note = services.note_open(request=request, visit=visit, format="soap")
    note = services.note_save_draft(request=request, note=note, sections={}, format="birp")
    assert note.format == "birp"
    note = services.note_save_draft(request=request, note=note, sections={"behaviour": "Restless."})
    with pytest.raises(services.NoteRefused, match="cannot change"):
        services.note_save_draft(request=request, note=note, sections={"data": "x"}, format="dap")
    note.refresh_from_db()
    assert (note.format, note.sections["behaviour"]) == ("birp", "Restless.")


def test_only_the_author_edits_a_draft(tess, priya, avery, login):
    visit = held_visit(avery, tess)
    note = draft(visit, tess)
    with pytest.raises(services.NoteRefused, match="only its author"):
        services.note_save_draft(request=ServiceRequest(priya), note=note, sections={"plan": "Changed."})
    with pytest.raises(services.NoteRefused, match="only its author"):
        services.note_sign(request=ServiceRequest(priya), note=note)
    http = login(priya)
    page = http.get(editor(avery, visit)).content.decode()
    assert "A draft by Tess Therapist" in page and 'id="note-form"' not in page
    response = http.post(editor(avery, visit), form_data(plan="Changed."))
    assert "only its author edits it" in response.content.decode()
    note.refresh_from_db()
    assert note.sections["plan"] == "Weekly."


def test_saving_nothing_new_writes_no_audit_row(tess, avery):
    visit = held_visit(avery, tess)
    note = draft(visit, tess)
    before = AuditEvent.objects.count()
    services.note_save_draft(request=ServiceRequest(tess), note=note, sections=SOAP)
    assert AuditEvent.objects.count() == before


def test_the_autosave_endpoint_saves_the_draft_and_says_when(tess, priya, avery, login):
    visit = held_visit(avery, tess)
    http = login(tess)
    url = reverse("notes:autosave", args=[avery.pk, visit.pk])
    answer = http.post(url, form_data(subjective="Half a sen"))
    assert answer.status_code == 200
    note = ProgressNote.objects.get(visit=visit)
    assert answer.json() == {"saved": True, "saved_at": saved_words(note.draft_saved_at)}
    assert note.sections["subjective"] == "Half a sen"  # as typed, mid-word
    assert http.post(url, form_data(subjective="Half a sentence ")).json()["saved"] is True
    note.refresh_from_db()
    assert note.sections["subjective"] == "Half a sentence "
    assert http.get(url).status_code == 405
    refused = http.post(url, form_data(subjective="bad\x00byte"))
    assert refused.status_code == 400 and refused.json()["saved"] is False
    assert "Null characters" in " ".join(refused.json()["problems"])
    others = login(priya).post(url, form_data(plan="Mine now"))
    assert others.status_code == 409 and "only its author" in others.json()["problems"][0]
    sign_note(visit, tess, **SOAP)
    assert http.post(url, form_data()).status_code == 409


def test_the_editor_page_carries_the_autosave_script_and_a_save_button(tess, avery, login):
    visit = held_visit(avery, tess)
    page = login(tess).get(editor(avery, visit)).content.decode()
    assert "kapflow/notes.js" in page
    assert f'data-autosave-url="{reverse("notes:autosave", args=[avery.pk, visit.pk])}"' in page
    assert ">Save draft</button>" in page and ">Sign the note</button>" in page


# --- Signed: locked, and addenda -----------------------------------------------------------------


def test_a_signed_note_is_locked_at_the_database(tess, avery):
    note = sign_note(held_visit(avery, tess), tess)
    addendum = services.note_addendum(
        request=ServiceRequest(tess), note=note, reason="Typo", text="Read 'weekly'."
    )
    for statement, pk in (
        ("UPDATE notes_progressnote SET risk = 'changed' WHERE id = %s", note.pk),
        ("UPDATE notes_progressnote SET signed_at = NULL, signed_by_id = NULL WHERE id = %s", note.pk),
        ("DELETE FROM notes_progressnote WHERE id = %s", note.pk),
        ("UPDATE notes_noteaddendum SET text = 'changed' WHERE id = %s", addendum.pk),
        ("DELETE FROM notes_noteaddendum WHERE id = %s", addendum.pk),
    ):
        with (
            pytest.raises(DatabaseError, match="signed clinical record"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [pk])
    with pytest.raises(services.NoteRefused, match="signed"):
        services.note_save_draft(request=ServiceRequest(tess), note=note, sections={"plan": "Other."})


def test_a_draft_changes_freely_at_the_database(tess, avery):
    note = draft(held_visit(avery, tess), tess)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE notes_progressnote SET risk = 'changed' WHERE id = %s", [note.pk])
    note.refresh_from_db()
    assert note.risk == "changed"


def test_addenda_are_kept_under_the_note_with_their_date_author_and_reason(
    tess, priya, avery, login, audit_rows
):
    priya.credentials = "MD"
    priya.save(update_fields=["credentials"])
    note = sign_note(held_visit(avery, tess), tess, **SOAP)
    http = login(priya)
    url = reverse("notes:addendum", args=[avery.pk, note.pk])
    response = http.post(url, {"reason": "Medication list", "text": "Also takes lisinopril 10 mg."})
    assert response.status_code == 302
    addendum = NoteAddendum.objects.get()
    assert (addendum.author, addendum.signature, addendum.reason) == (
        priya,
        "Priya Prescriber, MD",
        "Medication list",
    )
    page = http.get(reverse("notes:detail", args=[avery.pk, note.pk])).content.decode()
    assert "Also takes lisinopril 10 mg." in page and "Slept better this week." in page  # the original too
    assert "Reason:</strong> Medication list" in page and "Signed: Priya Prescriber, MD" in page
    [row] = audit_rows("kapflow.notes.addendum.added")
    assert (row.actor, row.client, row.detail) == (priya, avery, {"note": note.pk})
    # A reason is needed; what was typed comes back.
    response = http.post(url, {"reason": "", "text": "Forgot the reason."})
    assert response.status_code == 200 and "Forgot the reason." in response.content.decode()
    assert NoteAddendum.objects.count() == 1


def test_an_addendum_is_for_a_signed_note_and_the_care_team(tess, colin, avery, login):
    note = draft(held_visit(avery, tess), tess)
    with pytest.raises(services.NoteRefused, match="signed note"):
        services.note_addendum(request=ServiceRequest(tess), note=note, reason="r", text="t")
    signed = sign_note(held_visit(avery, tess, days_ago=2), tess)
    with pytest.raises(services.NoteRefused, match="care team"):
        services.note_addendum(request=ServiceRequest(colin), note=signed, reason="r", text="t")
    response = login(colin).post(
        reverse("notes:addendum", args=[avery.pk, signed.pk]), {"reason": "r", "text": "t"}
    )
    assert response.status_code == 404
    assert not NoteAddendum.objects.exists()


# --- Late entries -------------------------------------------------------------------------------


def test_a_note_signed_after_the_deadline_is_a_late_entry(tess, avery, login, audit_rows):
    practice = Practice.load()
    practice.note_due_hours = 24
    practice.save()
    on_time = sign_note(held_visit(avery, tess, days_ago=0.5), tess)
    late_visit = held_visit(avery, tess, days_ago=3)
    late = sign_note(late_visit, tess)
    assert (on_time.late_entry, late.late_entry) == (False, True)
    assert [row.detail["late_entry"] for row in audit_rows("kapflow.notes.note.signed")] == [False, True]
    page = login(tess).get(reverse("notes:detail", args=[avery.pk, late.pk])).content.decode()
    written, served = timezone.localtime(late.signed_at), timezone.localtime(late_visit.starts_at)
    assert "Late entry" in page
    assert f"signed on {written:%b} {written.day}, {written:%Y}" in page
    assert f"for the visit of {served:%b} {served.day}, {served:%Y} (the date of service)" in page
    listing = login(tess).get(reverse("notes:list", args=[avery.pk])).content.decode()
    assert "(late entry)" in listing


def test_the_deadline_is_counted_from_the_end_of_the_visit(tess, avery):
    visit = held_visit(avery, tess)
    assert not services.is_late(visit, visit.ends_at + datetime.timedelta(hours=72), due_hours=72)
    assert services.is_late(visit, visit.ends_at + datetime.timedelta(hours=72, seconds=1), due_hours=72)


# --- The KAP sections ---------------------------------------------------------------------------


def test_a_preparation_note_records_the_preparation_session_on_the_pathway(tess, avery, login, audit_rows):
    visit = held_visit(avery, tess, kind=Visit.Kind.PREPARATION, days_ago=2)
    data = form_data(topics=Topic.values, intentions="To feel at home in my body.")
    page = login(tess).get(editor(avery, visit)).content.decode()
    assert Topic.FEARS.label in page  # the topics are offered as checkboxes
    response = login(tess).post(reverse("notes:sign", args=[avery.pk, visit.pk]), data)
    assert response.status_code == 302
    session = PreparationSession.objects.get()
    assert (session.client, session.clinician) == (avery, tess)
    assert session.held_on == timezone.localdate(visit.starts_at)
    assert sorted(session.topics) == sorted(Topic.values)
    assert session.intentions == "To feel at home in my body." and session.day_of_instructions_given
    avery.refresh_from_db()
    assert preparation_gate(avery).passed
    assert len(audit_rows("kapflow.pathway.preparation.recorded")) == 1


def test_a_preparation_note_without_topics_or_intentions_records_nothing_on_the_pathway(tess, avery):
    sign_note(held_visit(avery, tess, kind=Visit.Kind.PREPARATION), tess)
    assert not PreparationSession.objects.exists()


def test_only_a_preparation_note_keeps_topics(tess, avery):
    visit = held_visit(avery, tess)
    note = services.note_open(request=ServiceRequest(tess), visit=visit)
    note = services.note_save_draft(
        request=ServiceRequest(tess), note=note, sections=SOAP, topics=["fears"], intentions="x", themes="y"
    )
    assert (note.topics, note.intentions, note.themes) == ([], "", "")


def test_an_integration_note_starts_from_the_intention_for_the_session_it_follows(tess, avery, login):
    earlier = held_visit(avery, tess, kind=Visit.Kind.MEDICATION, days_ago=9)
    session = held_visit(avery, tess, kind=Visit.Kind.MEDICATION, days_ago=3)
    Visit.objects.filter(pk__in=[earlier.pk, session.pk]).update(status=Visit.Status.COMPLETED)
    for text in ("To rest.", "To meet my grief with kindness."):  # the latest is the intention
        SessionIntention.objects.create(
            visit=session, client=avery, text=text, source=SessionIntention.Source.PORTAL, entered_by=tess
        )
    visit = held_visit(avery, tess, kind=Visit.Kind.INTEGRATION, days_ago=1)
    http = login(tess)
    assert "To meet my grief with kindness." in http.get(editor(avery, visit)).content.decode()
    http.post(editor(avery, visit), form_data(themes="Grief, and kindness."))
    note = ProgressNote.objects.get(visit=visit)
    assert (note.follows, note.session_intention) == (session, "To meet my grief with kindness.")
    assert note.themes == "Grief, and kindness."


def test_a_progress_review_note_points_to_the_course_review(tess, avery, login):
    visit = held_visit(avery, tess, kind=Visit.Kind.PROGRESS_REVIEW)
    assert "course review" in login(tess).get(editor(avery, visit)).content.decode()


def test_the_editor_shows_the_visit_read_only_at_the_top(tess, priya, avery, login):
    visit = held_visit(avery, tess)
    visit.other_clinicians.add(priya)
    page = login(tess).get(editor(avery, visit)).content.decode()
    for fact in ("Therapy session", f"{visit.minutes} min", "Virtual (video)", "Video", "Tess Therapist, "):
        assert escape(fact) in page, fact
    assert "Priya Prescriber" in page


# --- The visit's page and the client's notes ----------------------------------------------------


def test_the_visit_page_offers_to_write_continue_or_read_the_note(tess, avery, cora, login):
    visit = held_visit(avery, tess)
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.IN_PROGRESS)
    http = login(tess)
    url = reverse("visits:detail", args=[avery.pk, visit.pk])
    page = http.get(url).content.decode()
    assert "Write the note" in page and ">Complete</button>" not in page
    note = draft(visit, tess)
    assert (
        f"Continue the note (draft saved {saved_words(note.draft_saved_at)})"
        in http.get(url).content.decode()
    )
    services.note_sign(request=ServiceRequest(tess), note=note)
    page = http.get(url).content.decode()
    assert "Signed note" in page and reverse("notes:detail", args=[avery.pk, note.pk]) in page
    # The front desk sees the visit, not its note.
    desk = login(cora).get(url).content.decode()
    assert "Write the note" not in desk and "Signed note" not in desk and "/notes/" not in desk


def test_the_notes_list_shows_each_note_and_the_visits_without_one(tess, avery, login):
    signed = sign_note(held_visit(avery, tess, days_ago=3), tess)
    draft(held_visit(avery, tess, days_ago=2), tess)
    unwritten = held_visit(avery, tess, kind=Visit.Kind.CONSULTATION)
    held_visit(avery, tess, days_ago=-1)  # not yet held: not owed
    page = login(tess).get(reverse("notes:list", args=[avery.pk])).content.decode()
    assert reverse("notes:detail", args=[avery.pk, signed.pk]) in page
    assert page.count('badge--warn">Draft') == 1
    assert reverse("notes:visit", args=[avery.pk, unwritten.pk]) in page
    assert page.count(f"/clients/{avery.pk}/notes/visits/") == 1


def test_two_first_saves_make_one_note(tess, avery):
    visit = held_visit(avery, tess)
    first = services.note_open(request=ServiceRequest(tess), visit=visit)
    second = services.note_open(request=ServiceRequest(tess), visit=visit)
    assert first.pk == second.pk and ProgressNote.objects.count() == 1


# --- Hostile input ------------------------------------------------------------------------------

NOTE_TEXT = ["subjective", "objective", "assessment", "plan", "present", "risk", "progress"]


def _hostile_form(valid: dict, names: list[str]):
    keys = st.lists(st.sampled_from(names), unique=True, max_size=3)
    return keys.flatmap(lambda chosen: st.fixed_dictionaries(dict.fromkeys(chosen, hostile_value))).map(
        lambda hostile: {**valid, **hostile}
    )


@HOSTILE
@given(
    data=_hostile_form(form_data(), [*NOTE_TEXT, "format", "topics", "csrfmiddlewaretoken"]),
    sign=st.booleans(),
)
@example(data=form_data(plan="\x00"), sign=True)
@example(data=form_data(risk="r" * 30_000), sign=False)
@example(data=form_data(format="xyz"), sign=False)
@example(data=form_data(present="p" * 301), sign=True)
def test_the_editor_takes_anything(browser, tess, avery, data, sign):
    visit = held_visit(avery, tess)
    http = browser(tess)
    url = reverse("notes:sign" if sign else "notes:visit", args=[avery.pk, visit.pk])
    response = http.post(url, data)
    _no_500(response, f"{url} {data!r}")
    if response.status_code == 200:
        _errors_named(response)
        form = response.context["form"]
        _typed_values_kept(response, data, [name for name in NOTE_TEXT if name in form.fields])
    else:
        assert response.status_code == 302
        _no_500(http.get(response["Location"]))
    autosave = http.post(reverse("notes:autosave", args=[avery.pk, visit.pk]), data)
    assert autosave.status_code in (200, 400, 409), autosave.status_code


@HOSTILE
@given(data=_hostile_form({"reason": "Correction", "text": "The plan is fortnightly."}, ["reason", "text"]))
@example(data={"reason": "\x00", "text": "x"})
@example(data={"reason": "r" * 201, "text": "x"})
def test_the_addendum_form_takes_anything(browser, tess, avery, data):
    note = ProgressNote.objects.filter(signed_at__isnull=False).first() or sign_note(
        held_visit(avery, tess), tess
    )
    response = browser(tess).post(reverse("notes:addendum", args=[avery.pk, note.pk]), data)
    _no_500(response, repr(data))
    if response.status_code == 200:
        _errors_named(response)
        _typed_values_kept(response, data, ["reason", "text"])
    else:
        assert response.status_code == 302


@pytest.mark.parametrize("bad", ["0", str(2**63), str(2**64), "99999999999999999999"])
def test_hostile_ids_answer_404(tess, avery, login, bad):
    http = login(tess)
    assert http.get(f"/clients/{avery.pk}/notes/visits/{bad}/").status_code == 404
    assert http.get(f"/clients/{avery.pk}/notes/{bad}/").status_code == 404
    assert http.post(f"/clients/{avery.pk}/notes/visits/{bad}/draft/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"data": {}},
        {"data": '{"plan": "", "subjective": ""}', "content_type": "application/json"},
        {"data": "\xff\xfe not a form", "content_type": "text/plain"},
        {"data": {"format": "", "csrfmiddlewaretoken": "x"}},
    ],
)
def test_a_request_without_the_editors_fields_never_empties_the_draft(tess, avery, login, body):
    """An autosave (or Save draft) whose body holds none of the note's sections is not the
    editor's: over a saved draft it is refused, and the draft keeps every word."""
    visit = held_visit(avery, tess)
    note = draft(visit, tess)
    http = login(tess)
    answer = http.post(reverse("notes:autosave", args=[avery.pk, visit.pk]), **body)
    assert answer.status_code == 400 and answer.json()["saved"] is False
    page = http.post(editor(avery, visit), **body)
    assert page.status_code == 200 and "nothing was saved" in page.content.decode()
    note.refresh_from_db()
    assert note.sections == SOAP | {"assessment": ""}


def test_a_refused_signature_says_the_draft_is_saved_and_a_refused_save_says_it_is_not(tess, avery, login):
    """Signing saves first: when only the signature is refused, the page says the words are
    saved (and its script does not hold the page as unsaved); when the save itself is refused,
    it says they are not, and the script asks before the page is left."""
    visit = held_visit(avery, tess)
    http = login(tess)
    refused_sign = http.post(reverse("notes:sign", args=[avery.pk, visit.pk]), form_data(plan=""))
    html = refused_sign.content.decode()
    assert "Write the plan" in html and "data-unsaved" not in html
    note = ProgressNote.objects.get(visit=visit)
    assert f"Saved at {saved_words(note.draft_saved_at)}" in html
    refused_save = http.post(reverse("notes:sign", args=[avery.pk, visit.pk]), form_data(risk="r" * 30_000))
    html = refused_save.content.decode()
    assert refused_save.status_code == 200 and "data-unsaved" in html and "Not all of this is saved" in html


def test_a_second_sign_of_a_signed_note_leads_to_the_note(tess, avery, login):
    """The button pressed twice: the second answer is the signed note, not an editor."""
    visit = held_visit(avery, tess)
    note = draft(visit, tess)
    http = login(tess)
    url = reverse("notes:sign", args=[avery.pk, visit.pk])
    assert http.post(url, form_data()).status_code == 302
    again = http.post(url, form_data(plan="Changed"))
    assert again.status_code == 302 and again["Location"] == reverse("notes:detail", args=[avery.pk, note.pk])
    note.refresh_from_db()
    assert note.sections["plan"] == "Weekly."
    # Save draft from a tab left open: it says the words were not saved, rather than nothing.
    stale = http.post(editor(avery, visit), form_data(plan="Changed"), follow=True)
    assert "what you sent was not saved" in stale.content.decode()
