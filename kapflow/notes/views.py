"""The progress notes' pages: a client's notes, the editor of a visit's note (saved as it is
typed, by the autosave endpoint, and by its Save button without script), signing, the note as
signed with its addenda, and writing an addendum. Every page is the client's clinicians' only
(Need.CLINICAL: coordinators and admins get 404, as for a client outside their care); writing is
for therapists and prescribers (docs/notes.md, docs/access.md)."""

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.middleware import note_refused
from kapflow.clients.access import Need, clients_for, clinical_banner_for
from kapflow.lib.capped import capped
from kapflow.notes import selectors, services
from kapflow.notes.forms import AddendumForm, NoteForm, note_initial
from kapflow.notes.intentions import latest_intention
from kapflow.notes.models import NoteFormat, ProgressNote
from kapflow.pathway.models import Topic
from kapflow.practice.models import practice_for
from kapflow.visits.models import Visit

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)

NOT_SAVED = "The note was not saved: see below. What you typed is kept in the form."


# The notes page lists this many notes, and this many visits without one, the latest first, each
# with "Show all" (a weekly client has a hundred notes in two years).
NOTES_SHOWN = 25


@require_GET
@staff_view()
def note_list(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.notes.list.viewed")
    notes = capped(
        request, selectors.client_notes(client), param="notes", limit=NOTES_SHOWN, anchor="notes-h"
    )
    unwritten = (
        capped(request, selectors.unwritten_visits(client), param="owed", limit=NOTES_SHOWN, anchor="owed-h")
        if request.user.is_clinician
        else []
    )
    return render(request, "notes/list.html", {"client": client, "notes": notes, "unwritten": unwritten})


def _clinical_client(request, client_id):
    """The client, if in the requester's clinical care (else 404, audited as refused by the
    audit middleware), without an audit row of its own."""
    try:
        return clients_for(request, need=Need.CLINICAL).get(pk=int(client_id))
    except (ObjectDoesNotExist, ValueError, TypeError, OverflowError):
        note_refused(request, client_id)
        raise Http404("No such client.") from None


def _visit(client, visit_id) -> Visit:
    visit = selectors.noted_visit(client, visit_id)
    if visit is None:
        raise Http404("No such visit.")
    return visit


def _format(request, note: ProgressNote | None) -> str:
    """The format the editor shows: the one asked for (the form's, or ?format= while choosing)
    where the note may still take it, else the note's, else the practice's."""
    asked = request.POST.get("format") if request.method == "POST" else request.GET.get("format")
    if asked in NoteFormat.values and (note is None or not services.has_text(note.sections)):
        return asked
    return note.format if note is not None else practice_for(request).note_format


def _form(request, visit: Visit, note: ProgressNote | None) -> NoteForm:
    note_format = _format(request, note)
    if request.method == "POST":
        return NoteForm(request.POST, note_format=note_format, kind=visit.kind, has_draft=note is not None)
    initial = note_initial(note) if note is not None else {}
    initial["format"] = note_format
    return NoteForm(initial=initial, note_format=note_format, kind=visit.kind)


def _save(request, visit: Visit, note: ProgressNote | None, form: NoteForm) -> ProgressNote:
    """Begin the note if need be, then save what the form holds (NoteRefused otherwise)."""
    draft = form.draft()
    if note is None:
        note = services.note_open(request=request, visit=visit, format=draft["format"])
    return services.note_save_draft(request=request, note=note, **draft)


def _editor(request, client, visit: Visit, note: ProgressNote | None, form: NoteForm, *, unsaved=None):
    """The editor page. `unsaved`: whether the form holds words the server did not take (by
    default, a form that came back); the page and its script say so."""
    may_edit = services.may_write(request.user, visit) and (note is None or note.author_id == request.user.pk)
    follows = note.follows if note is not None else None
    intention = note.session_intention if note is not None else ""
    if note is None and visit.kind == Visit.Kind.INTEGRATION:
        # Shown before the first save too: the note will start from it.
        follows = services.follows_of(visit)
        found = latest_intention(follows)
        intention = found.text if found is not None else ""
    can_choose = note is None or not services.has_text(note.sections)
    due_hours = practice_for(request).note_due_hours
    return render(
        request,
        "notes/edit.html",
        {
            "client": client,
            "visit": visit,
            "note": note,
            "form": form,
            "may_edit": may_edit,
            "follows": follows,
            "intention": intention,
            "formats": [(value, value.upper()) for value in NoteFormat.values]
            if can_choose and may_edit
            else [],
            "current_format": form.note_format,
            "format_label": NoteFormat(form.note_format).label,
            "saved_at": selectors.saved_words(note.draft_saved_at) if note is not None else "",
            "unsaved": form.is_bound if unsaved is None else unsaved,
            # Signed now, the note would be a late entry: the page says so before signing.
            "due_hours": due_hours,
            "late_now": services.is_late(visit, timezone.now(), due_hours=due_hours),
        },
    )


@clinician_view
def note_edit(request, client_id, visit_id):
    """The editor of a visit's note. GET shows the draft (or an empty one, begun at its first
    save); POST is the Save draft button, which works without script."""
    client = clinical_banner_for(request, client_id, action="kapflow.notes.note.opened")
    visit = _visit(client, visit_id)
    note = selectors.visit_note(visit)
    if note is not None and note.is_signed:
        if request.method == "POST":
            # Saved from a page left open while the note was signed (in another tab): say so.
            messages.error(
                request,
                "This note was signed meanwhile: what you sent was not saved. Anything more is an addendum.",
            )
        return redirect("notes:detail", client.pk, note.pk)
    form = _form(request, visit, note)
    if request.method == "POST":
        if not form.is_valid():
            messages.error(request, NOT_SAVED)
            return _editor(request, client, visit, note, form)
        try:
            note = _save(request, visit, note, form)
        except services.NoteRefused as refused:
            form.add_error(None, refused.reason)
            messages.error(request, NOT_SAVED)
            return _editor(request, client, visit, note, form)
        saved_at = selectors.saved_words(note.draft_saved_at)
        messages.success(request, f"Draft saved at {saved_at}." if saved_at else "Nothing written yet.")
        return redirect("notes:visit", client.pk, visit.pk)
    return _editor(request, client, visit, note, form)


@require_POST
@clinician_view
def note_autosave(request, client_id, visit_id):
    """The editor's script sends the form here as it is typed: the draft is saved and the answer
    says when, in JSON; a refusal or an error answers with what to say instead."""
    # Scoped as every page is, but no row for the read: the endpoint shows nothing, and is called
    # at every pause in the typing. What it writes is audited (begun, draft saved).
    client = _clinical_client(request, client_id)
    visit = _visit(client, visit_id)
    note = selectors.visit_note(visit)
    form = _form(request, visit, note)
    if not form.is_valid():
        problems = [
            f"{form[name].label if name in form.fields else 'Note'}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        ]
        return JsonResponse({"saved": False, "problems": problems}, status=400)
    try:
        note = _save(request, visit, note, form)
    except services.NoteRefused as refused:
        return JsonResponse({"saved": False, "problems": [refused.reason]}, status=409)
    return JsonResponse({"saved": True, "saved_at": selectors.saved_words(note.draft_saved_at)})


@require_POST
@clinician_view
def note_sign(request, client_id, visit_id):
    """Sign the note as the form holds it: what was typed is saved first (and kept, if signing is
    then refused), then signed, which completes the visit."""
    client = clinical_banner_for(request, client_id, action="kapflow.notes.note.opened")
    visit = _visit(client, visit_id)
    note = selectors.visit_note(visit)
    if note is not None and note.is_signed:
        messages.error(request, "This note is signed already. Anything more is an addendum.")
        return redirect("notes:detail", client.pk, note.pk)
    form = _form(request, visit, note)
    if not form.is_valid():
        messages.error(request, "The note was not signed: see below. What you typed is kept in the form.")
        return _editor(request, client, visit, note, form)
    try:
        note = services.note_save_and_sign(request=request, visit=visit, note=note, draft=form.draft())
    except services.NoteRefused as refused:
        note = selectors.visit_note(visit)
        if note is not None and note.is_signed:
            # Signed meanwhile (the button pressed twice, or in another tab): the note as signed.
            messages.error(request, refused.reason)
            return redirect("notes:detail", client.pk, note.pk)
        form.add_error(None, refused.reason)
        saved = isinstance(refused, services.SignRefused)
        messages.error(
            request,
            "The note was not signed. What you typed is saved in the draft."
            if saved
            else "The note was not signed. What you typed is kept in the form.",
        )
        return _editor(request, client, visit, note, form, unsaved=not saved)
    late = " (a late entry)" if note.late_entry else ""
    done = f"Note signed{late}; the {visit.get_kind_display().lower()} is completed."
    messages.success(request, done)
    return redirect("notes:detail", client.pk, note.pk)


def _detail(request, client, note: ProgressNote, form: AddendumForm):
    return render(
        request,
        "notes/detail.html",
        {
            "client": client,
            "note": note,
            "visit": note.visit,
            "sections": note.section_rows(),
            "topics": _topic_labels(note.topics),
            "addenda": list(note.addenda.all()),
            "form": form,
            "may_add": note.is_signed and services.may_add_to(request.user, note),
            "is_author": note.author_id == request.user.pk,
            "saved_at": selectors.saved_words(note.draft_saved_at),
        },
    )


def _topic_labels(topics) -> list[str]:
    labels = dict(Topic.choices)
    return [labels[topic] for topic in topics if topic in labels]


@require_GET
@staff_view()
def note_detail(request, client_id, note_id):
    client = clinical_banner_for(request, client_id, action="kapflow.notes.note.viewed")
    note = selectors.note_of(client, note_id)
    if note is None:
        raise Http404("No such note.")
    return _detail(request, client, note, AddendumForm())


@require_POST
@clinician_view
def note_addendum(request, client_id, note_id):
    client = clinical_banner_for(request, client_id, action="kapflow.notes.addendum.opened")
    note = selectors.note_of(client, note_id)
    if note is None:
        raise Http404("No such note.")
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            services.note_addendum(
                request=request, note=note, reason=form.cleaned_data["reason"], text=form.cleaned_data["text"]
            )
        except services.NoteRefused as refused:
            form.add_error(None, refused.reason)
        else:
            messages.success(request, "Addendum added under the note.")
            return redirect("notes:detail", client.pk, note.pk)
    messages.error(request, "The addendum was not added: see below. What you typed is kept.")
    return _detail(request, client, note, form)
