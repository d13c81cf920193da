"""Importing a PHQ-9 or GAD-7 from another system into a client's measures (docs/import.md):
the file, a preview beside the chart's client, then the import. The client's own clinicians
only, as for every page of measures."""

import hashlib

from django.contrib import messages
from django.core import signing
from django.shortcuts import redirect, render
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.clients.access import Need, client_chart_for
from kapflow.lib.text import mid_sentence
from kapflow.records import importing
from kapflow.records.import_forms import IMPORT_MAX_BYTES, ImportConfirmForm, ImportFileForm

NOT_AS_PREVIEWED = (
    "This confirmation is not of a file previewed for this client by you (it was changed, or "
    "sent from another page): check the file below again before importing it."
)


def seal_of(*, client_id: int, user_id: int, raw: bytes) -> str:
    """The preview's signature on the file's hash, the client and the clinician, so that the
    confirmation imports exactly the file previewed, into the chart it was previewed beside."""
    signer = signing.Signer(salt="records-import-preview")
    return signer.signature(f"{client_id}:{user_id}:{hashlib.sha256(raw).hexdigest()}")


def _folded(name: str) -> str:
    return " ".join(name.casefold().split())


def _preview(request, client, parsed: importing.ParsedResponse, confirm: ImportConfirmForm):
    """The preview: what the file says about the person beside the chart's client, and every
    answer. Nothing is written."""
    stated_name = parsed.patient_name or parsed.subject_display
    chart_names = {
        _folded(f"{client.first_name} {client.last_name}"),
        _folded(f"{client.preferred_name} {client.last_name}"),
    }
    return render(
        request,
        "records/import_preview.html",
        {
            "client": client,
            "parsed": parsed,
            "form": confirm,
            "name_matches": bool(stated_name) and _folded(stated_name) in chart_names,
            "birth_date_matches": parsed.patient_birth_date == client.date_of_birth,
        },
    )


def _start(request, client, form: ImportFileForm):
    return render(
        request,
        "records/import_start.html",
        {"client": client, "form": form, "max_kb": IMPORT_MAX_BYTES // 1024},
    )


@staff_view()
def import_start(request, client_id):
    """Step 1, the file; sent, the preview (a read: nothing is saved until step 2)."""
    if request.method != "POST":
        client = client_chart_for(
            request, client_id, need=Need.CLINICAL, action="kapflow.records.import.opened"
        )
        return _start(request, client, ImportFileForm())
    client = client_chart_for(
        request, client_id, need=Need.CLINICAL, action="kapflow.records.import.previewed"
    )
    form = ImportFileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _start(request, client, form)
    raw = form.cleaned_data["raw"]
    try:
        parsed = importing.response_parse(raw)
        importing.client_check(parsed, client=client)
        importing.already_imported(hashlib.sha256(raw).hexdigest(), client=client, parsed=parsed)
    except importing.ImportRefused as refusal:
        form.add_error(None, refusal.message)
        return _start(request, client, form)
    seal = seal_of(client_id=client.pk, user_id=request.user.pk, raw=raw)
    confirm = ImportConfirmForm(
        initial={"payload": ImportConfirmForm.encode(raw), "seal": seal}, client=client
    )
    return _preview(request, client, parsed, confirm)


@require_POST
@staff_view()
def import_confirm(request, client_id):
    """Step 2: the clinician has confirmed the answers are this client's; record them."""
    client = client_chart_for(
        request, client_id, need=Need.CLINICAL, action="kapflow.records.import.previewed"
    )
    confirm = ImportConfirmForm(request.POST, client=client)
    confirm.is_valid()
    raw = confirm.cleaned_data.get("payload")
    if raw is None:
        return _refused(request, client, b"", confirm.errors["payload"][0])
    sealed = seal_of(client_id=client.pk, user_id=request.user.pk, raw=raw)
    if not constant_time_compare(confirm.cleaned_data.get("seal", ""), sealed):
        return _refused(request, client, raw, NOT_AS_PREVIEWED)
    try:
        parsed = importing.response_parse(raw)
    except importing.ImportRefused as refusal:
        return _refused(request, client, raw, refusal.message)
    if not confirm.is_valid():
        return _preview(request, client, parsed, confirm)
    try:
        response = importing.response_import(
            request=request, client=client, parsed=parsed, file_sha256=confirm.sha256
        )
    except importing.ImportRefused as refusal:
        return _refused(request, client, raw, refusal.message)
    if response.alerts.exists():
        messages.error(
            request,
            "Urgent: the imported answer to question 9 needs same-day follow-up. An alert is open "
            "on the chart until the follow-up is written.",
        )
    else:
        messages.success(
            request,
            f"{parsed.instrument.name} imported: {response.total}, {mid_sentence(response.band)}.",
        )
    return redirect("measures:detail", client.pk, response.pk)


def _refused(request, client, raw: bytes, message: str):
    """Back to step 1 with the refusal, the JSON in the paste box (the file as it was sent)."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text = ""
    form = ImportFileForm(data={"text": text})
    form.is_valid()
    form.add_error(None, message)
    return _start(request, client, form)
