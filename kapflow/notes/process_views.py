"""The therapist's psychotherapy process notes of one client (docs/notes.md, "Process notes").

Only a therapist on the client's care team reaches these pages, and each shows that therapist's
own notes alone. Everyone else who is staff gets 404, as for a client outside their care: the
practice admin, a prescriber, a coordinator and another therapist of the same client alike, and
a note by someone else answers 404 even to a therapist who may write their own."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import prefetch_related_objects
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kapflow.accounts.access import staff_view
from kapflow.audit.middleware import note_refused
from kapflow.clients.access import Need, client_for
from kapflow.clients.models import Client
from kapflow.clients.selectors import banner_queryset
from kapflow.lib.capped import capped
from kapflow.notes import process
from kapflow.visits.models import Visit

# Said on every page of process notes, and in docs/notes.md.
WHO_READS = (
    "Only you can read these notes. Nobody else at the practice can open them — not the client's "
    "other clinicians, not the practice admin — and they never go into a letter, an export or the "
    "client's portal."
)


def _author_client(request, client_id, *, action: str) -> Client:
    """The client, for a therapist on their care team (with what the banner shows); 404 for
    anyone else, audited as a refused request like any client out of reach."""
    if not request.user.is_therapist:
        note_refused(request, client_id)
        raise Http404("No such client.")
    client = client_for(
        request,
        client_id,
        action=action,
        need=Need.CLINICAL,
        queryset=banner_queryset().filter(care_team__user=request.user),
    )
    if client.is_minor:
        # The banner's flags read a minor's guardians (as clinical_banner_for does).
        prefetch_related_objects([client], "guardians")
    return client


class VisitChoice(forms.ModelChoiceField):
    def label_from_instance(self, visit: Visit) -> str:
        local = timezone.localtime(visit.starts_at)
        return f"{visit.get_kind_display()}, {local:%b} {local.day}, {local:%Y, %H:%M}"


class ProcessNoteForm(forms.Form):
    visit = VisitChoice(
        queryset=Visit.objects.none(),
        required=False,
        empty_label="Not tied to a visit",
        label="Session",
        help_text="The visit these notes are about, if any.",
        error_messages={"invalid_choice": "Choose one of this client's visits that has taken place."},
    )
    text = forms.CharField(
        label="Your notes",
        widget=forms.Textarea(attrs={"rows": 12}),
        max_length=20000,
        help_text="What was said in the session, for your own use. A diagnosis, the plan, symptoms, "
        "progress, medication, times and test results belong in the progress note instead.",
        error_messages={"required": "Write the note before saving it."},
    )

    def __init__(self, *args, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["visit"].queryset = process.visits_to_tie(client)

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].strip()
        if not text:
            raise ValidationError("Write the note before saving it.")
        return text


# The list shows this many of the author's process notes of the client, newest first, then
# "Show all".
PROCESS_NOTES_SHOWN = 25


@require_GET
@staff_view()
def process_note_list(request, client_id):
    client = _author_client(request, client_id, action="kapflow.notes.process.listed")
    notes = capped(
        request,
        process.author_notes(author=request.user, client=client),
        param="notes",
        limit=PROCESS_NOTES_SHOWN,
        anchor="process-head",
    )
    return render(
        request,
        "notes/process_list.html",
        {"client": client, "notes": notes, "who_reads": WHO_READS},
    )


@staff_view()
def process_note_new(request, client_id):
    client = _author_client(request, client_id, action="kapflow.notes.process.opened")
    form = ProcessNoteForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        try:
            note = process.process_note_write(
                request=request,
                client=client,
                text=form.cleaned_data["text"],
                visit=form.cleaned_data["visit"],
            )
        except ValidationError as refused:
            form.add_error(None, refused)
        else:
            messages.success(request, "Your process note is saved. Only you can read it.")
            return redirect("process_notes:detail", client.pk, note.pk)
    return render(
        request, "notes/process_form.html", {"client": client, "form": form, "who_reads": WHO_READS}
    )


@require_GET
@staff_view()
def process_note_detail(request, client_id, note_id):
    # Someone else's note (or none) is refused before the client is reached and audited as read.
    if not process.author_has_note(author=request.user, client_id=client_id, note_id=note_id):
        note_refused(request, client_id)
        raise Http404("No such note.")
    client = _author_client(request, client_id, action="kapflow.notes.process.viewed")
    note = process.author_note(author=request.user, client=client, note_id=note_id)
    if note is None:
        raise Http404("No such note.")
    return render(
        request, "notes/process_detail.html", {"client": client, "note": note, "who_reads": WHO_READS}
    )
