"""The client's journal on the portal: prompts that have come due, their entries, the editor
(with a draft saved as they type) and sharing, one entry at a time. The client's alone: a
guardian, like anyone else, gets 404 (PortalNeed.OWN)."""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapflow.journal import services
from kapflow.journal.forms import EntryForm
from kapflow.journal.models import JournalEntry
from kapflow.journal.selectors import journal_for, prompt_for
from kapflow.portal.access import PortalNeed, portal_client_for, portal_view
from kapflow.practice.models import practice_for


def _client(request, client_id, verb: str):
    return portal_client_for(request, client_id, action=f"kapflow.journal.{verb}", need=PortalNeed.OWN)


def _entry(client, entry_id) -> JournalEntry:
    return get_object_or_404(client.journal_entries.select_related("visit"), pk=entry_id)


def _typed_entry(client, entry_id) -> JournalEntry | None:
    """The entry a draft was saved into while typing on the new-entry page (its id comes back in
    a hidden field). An id that is not one of the client's entries, or one discarded meanwhile,
    gives None: the text then goes into a new entry rather than being lost."""
    if entry_id is None:
        return None
    return client.journal_entries.filter(pk=entry_id).first()


def _id(value) -> int | None:
    """A hidden field's id, or None when it is missing or not a plausible id."""
    field = EntryForm.base_fields["entry"]
    try:
        return field.clean(value)
    except ValidationError:
        return None


def _page(client, **extra) -> dict:
    """What every portal page passes to the portal's base and navigation. The journal opens for
    the client alone (never a guardian), who may sign their own consents."""
    return {"client": client, "guardian_view": False, "may_sign_consents": True, "nav": "journal", **extra}


def _message(error: ValidationError) -> str:
    return " ".join(error.messages)


@require_GET
@portal_view
def journal_list(request, client_id):
    client = _client(request, client_id, "journal.viewed")
    journal = journal_for(client, practice=practice_for(request), now=timezone.now())
    return render(request, "journal/portal_list.html", _page(client, journal=journal))


@require_http_methods(["GET", "POST"])
@portal_view
def entry_new(request, client_id):
    client = _client(request, client_id, "editor.opened")
    source = request.POST if request.method == "POST" else request.GET
    prompt = prompt_for(
        client,
        visit_id=source.get("visit"),
        hours=source.get("hours"),
        practice=practice_for(request),
        now=timezone.now(),
    )
    return _editor(request, client, entry=None, prompt=prompt)


@require_http_methods(["GET", "POST"])
@portal_view
def entry_detail(request, client_id, entry_id):
    client = _client(request, client_id, "entry.opened")
    entry = _entry(client, entry_id)
    return _editor(request, client, entry=entry, prompt=None)


def _editor(request, client, *, entry: JournalEntry | None, prompt):
    """The editor for a new entry (answering `prompt`, if any) or for `entry`; Save posts here."""
    initial = {"body": entry.text} if entry is not None else {}
    form = EntryForm(request.POST or None, initial=initial)
    if request.method == "POST":
        # The draft saved while typing, so that the form comes back with it after an error.
        target = entry if entry is not None else _typed_entry(client, _id(request.POST.get("entry")))
        if form.is_valid():
            try:
                saved = services.entry_save(
                    request=request,
                    client=client,
                    entry=target,
                    prompt=prompt if target is None else None,
                    text=form.cleaned_data["body"],
                    key=form.cleaned_data["key"],
                )
            except ValidationError as error:
                form.add_error("body", _message(error))
            else:
                if saved.is_shared:
                    messages.success(request, "Saved.")
                else:
                    messages.success(request, "Saved. It is private: only you can read it.")
                return redirect("portal_journal:entry", client.pk, saved.pk)
        messages.error(request, "Your entry was not saved: see below. What you typed is kept.")
        entry = target
    # A new entry's page carries its own key, kept through a form that comes back with errors.
    key = (form.cleaned_data.get("key") if form.is_bound and form.is_valid() else None) or uuid.uuid4()
    return render(
        request,
        "journal/portal_editor.html",
        _page(client, entry=entry, prompt=prompt, form=form, key=key),
    )


@require_POST
@portal_view
def draft(request, client_id):
    """Saves what the client has typed so far (htmx, a second after they stop typing) and answers
    with the editor's status line, which carries the entry's id for the next save."""
    client = _client(request, client_id, "draft.opened")
    form = EntryForm(request.POST)
    context = {"client": client, "just_saved": True}
    if not form.is_valid():
        context["error"] = " ".join(error for errors in form.errors.values() for error in errors)
        # The status line carries the entry's id for the next save: keep it, or the next draft
        # would start a second entry instead of going on with this one.
        context["entry"] = _typed_entry(client, _id(request.POST.get("entry")))
        return render(request, "journal/_draft_state.html", context)
    entry = _typed_entry(client, form.cleaned_data["entry"])
    text = form.cleaned_data["body"]
    context["entry"] = entry
    if entry is None and not text.strip():
        return render(request, "journal/_draft_state.html", context)  # nothing typed yet
    if entry is not None and text == entry.text:
        return render(request, "journal/_draft_state.html", context)  # nothing new since the last save
    prompt = None
    if entry is None:
        prompt = prompt_for(
            client,
            visit_id=form.cleaned_data["visit"],
            hours=form.cleaned_data["hours"],
            practice=practice_for(request),
            now=timezone.now(),
        )
    try:
        context["entry"] = services.draft_save(
            request=request,
            client=client,
            entry=entry,
            prompt=prompt,
            text=text,
            key=form.cleaned_data["key"],
        )
    except ValidationError as error:
        context["error"] = _message(error)
    response = render(request, "journal/_draft_state.html", context)
    if context["entry"] is not None and entry is None:
        # The first draft made the entry: the address becomes the entry's own, so that reloading
        # the page (or coming back to it) shows the draft rather than an empty editor.
        response["HX-Replace-Url"] = reverse("portal_journal:entry", args=[client.pk, context["entry"].pk])
    return response


@require_POST
@portal_view
def entry_share(request, client_id, entry_id):
    client = _client(request, client_id, "entry.opened")
    entry = _entry(client, entry_id)
    try:
        services.entry_share(request=request, entry=entry)
    except ValidationError as error:
        messages.error(request, _message(error))
    else:
        messages.success(request, "Shared with your therapist. You can stop sharing it at any time.")
    return redirect("portal_journal:entry", client.pk, entry.pk)


@require_POST
@portal_view
def entry_unshare(request, client_id, entry_id):
    client = _client(request, client_id, "entry.opened")
    entry = _entry(client, entry_id)
    try:
        services.entry_unshare(request=request, entry=entry)
    except ValidationError as error:
        messages.error(request, _message(error))
    else:
        messages.success(request, "No longer shared: it is private again, and you can change it.")
    return redirect("portal_journal:entry", client.pk, entry.pk)


@require_POST
@portal_view
def draft_discard(request, client_id, entry_id):
    client = _client(request, client_id, "entry.opened")
    entry = _entry(client, entry_id)
    try:
        kept = services.draft_discard(request=request, entry=entry)
    except ValidationError as error:
        messages.error(request, _message(error))
        return redirect("portal_journal:entry", client.pk, entry.pk)
    if kept is None:
        messages.success(request, "The draft was thrown away.")
        return redirect("portal_journal:list", client.pk)
    messages.success(request, "Your unsaved changes were thrown away; the entry is as you last saved it.")
    return redirect("portal_journal:entry", client.pk, kept.pk)
