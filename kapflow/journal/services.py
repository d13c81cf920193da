"""Writes on the journal. Each is atomic and writes its audit row in the same transaction; the
rows never hold what the client wrote, only which entry and what happened to it."""

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.models import Client
from kapflow.journal.models import JournalEntry
from kapflow.journal.selectors import Prompt

# Longer than any journal entry we expect; a guard against pasted floods, not a style rule.
MAX_CHARS = 20_000


def _locked(entry: JournalEntry) -> JournalEntry:
    return (
        JournalEntry.objects.select_related("client")
        .select_for_update(of=("self",), no_key=True)
        .get(pk=entry.pk)
    )


def _new_entry(client: Client, prompt: Prompt | None, key: uuid.UUID | None = None) -> JournalEntry:
    """The entry the editor page with this `key` began, if one of its requests already made it;
    else a new one. The client's row is locked first, so that two requests of the same page
    (a draft sent as the client stops typing, and Save) take turns instead of each making one."""
    if key is not None:
        Client.objects.select_for_update(no_key=True).filter(pk=client.pk).first()
        found = JournalEntry.objects.select_for_update(no_key=True).filter(key=key).first()
        if found is not None and found.client_id == client.pk:
            return found
        if found is not None:
            key = None  # not this client's: a forged key starts a plain new entry, and reveals nothing
    entry = JournalEntry(client=client, key=key)
    if prompt is not None:
        entry.visit, entry.prompt_hours, entry.prompt_text = prompt.session, prompt.hours, prompt.text
    return entry


def _check_editable(entry: JournalEntry | None, text: str) -> None:
    if entry is not None and entry.is_shared:
        raise ValidationError(
            "This entry is shared with your therapist, so it cannot be changed. Stop sharing it first."
        )
    if len(text) > MAX_CHARS:
        raise ValidationError(
            f"This entry is {len(text):,} characters long; an entry can hold {MAX_CHARS:,}. "
            "Split it into two entries."
        )


@transaction.atomic
def draft_save(
    *,
    request,
    client: Client,
    entry: JournalEntry | None,
    prompt: Prompt | None,
    text: str,
    key: uuid.UUID | None = None,
) -> JournalEntry:
    """Keep what the client has typed so far, without touching the saved text: a new entry is
    created as a draft; a saved one keeps its text until the client saves again."""
    entry = _locked(entry) if entry is not None else _new_entry(client, prompt, key)
    if entry.pk is not None and entry.text == text:
        return entry  # nothing new: the same page's Save may have got there first
    _check_editable(entry, text)
    entry.draft = text
    entry.draft_saved_at = timezone.now()
    entry.full_clean()
    entry.save()
    audit_record(
        request=request,
        action="kapflow.journal.draft.saved",
        client=client,
        obj=entry,
        detail={"characters": len(text)},
    )
    return entry


@transaction.atomic
def entry_save(
    *,
    request,
    client: Client,
    entry: JournalEntry | None,
    prompt: Prompt | None,
    text: str,
    key: uuid.UUID | None = None,
) -> JournalEntry:
    """Save the entry's text (the client pressed Save): the draft becomes the entry."""
    entry = _locked(entry) if entry is not None else _new_entry(client, prompt, key)
    _check_editable(entry, text)
    if not text.strip():
        raise ValidationError("Write something before saving. Your draft is kept as it is.")
    first = not entry.is_saved
    now = timezone.now()
    changed = entry.body != text
    entry.body = text
    entry.draft, entry.draft_saved_at = "", None
    entry.written_at = entry.written_at or now
    if changed or first:
        entry.updated_at = now
    entry.full_clean()
    entry.save()
    audit_record(
        request=request,
        action="kapflow.journal.entry.written" if first else "kapflow.journal.entry.revised",
        client=client,
        obj=entry,
        detail={"characters": len(text), "changed": changed, "prompt_hours": entry.prompt_hours},
    )
    return entry


@transaction.atomic
def draft_discard(*, request, entry: JournalEntry) -> JournalEntry | None:
    """Throw away what was typed since the last save. An entry never saved goes altogether
    (None is returned); a saved one goes back to its saved text."""
    entry = _locked(entry)
    if not entry.has_unsaved_changes:
        raise ValidationError("There are no unsaved changes to discard.")
    if not entry.is_saved:
        audit_record(
            request=request, action="kapflow.journal.draft.discarded", client=entry.client, obj=entry
        )
        entry.delete()
        return None
    entry.draft, entry.draft_saved_at = "", None
    entry.save(update_fields=["draft", "draft_saved_at"])
    audit_record(request=request, action="kapflow.journal.draft.discarded", client=entry.client, obj=entry)
    return entry


@transaction.atomic
def entry_share(*, request, entry: JournalEntry) -> JournalEntry:
    """Share one saved entry with the client's therapists, as it was saved."""
    entry = _locked(entry)
    if not entry.is_saved:
        raise ValidationError("Save this entry before sharing it.")
    if entry.has_unsaved_changes:
        raise ValidationError(
            "This entry has changes you have not saved. Save or discard them first, so that your "
            "therapist reads what you mean them to."
        )
    if entry.is_shared:
        raise ValidationError("This entry is already shared with your therapist.")
    entry.shared_at = timezone.now()
    entry.full_clean()
    entry.save(update_fields=["shared_at"])
    audit_record(request=request, action="kapflow.journal.entry.shared", client=entry.client, obj=entry)
    return entry


@transaction.atomic
def entry_unshare(*, request, entry: JournalEntry) -> JournalEntry:
    """Withdraw a shared entry: the therapists no longer see it (the audit log keeps when it was
    shared and when it was withdrawn, and who read it meanwhile)."""
    entry = _locked(entry)
    if not entry.is_shared:
        raise ValidationError("This entry is already private.")
    shared_at = entry.shared_at
    entry.shared_at = None
    entry.save(update_fields=["shared_at"])
    audit_record(
        request=request,
        action="kapflow.journal.entry.unshared",
        client=entry.client,
        obj=entry,
        detail={"shared_at": shared_at.isoformat()},
    )
    return entry


def shared_entries_read(*, request, client: Client, entries: list[JournalEntry]) -> None:
    """Record which shared entries a therapist was shown (the page's own read row names only the
    client): if the client later withdraws one, the log still says it was read."""
    audit_record(
        request=request,
        action="kapflow.journal.shared.read",
        client=client,
        detail={"entries": [entry.pk for entry in entries]},
    )
