"""The documents filed on a client's chart. They are clinical content (docs/access.md): only the
client's therapists and prescribers list, open, download or file them; a coordinator or an admin
without a clinical role gets 404, as for a client outside their care. A file is served only by
the download view here, as an attachment, after the scoping and with an audit row: never from
a public address."""

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, clients_for, clinical_banner_for
from kapflow.documents import files, selectors, services
from kapflow.documents.forms import UploadForm
from kapflow.lib.capped import capped

logger = logging.getLogger(__name__)

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)

# The documents page lists this many, newest first, then "Show all".
DOCUMENTS_SHOWN = 25


@staff_view()
def document_list(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.documents.list.viewed")
    documents = capped(
        request,
        selectors.chart_documents(client),
        param="documents",
        limit=DOCUMENTS_SHOWN,
        anchor="documents-head",
    )
    return render(request, "documents/list.html", {"client": client, "documents": documents})


@csrf_exempt
@clinician_view
def document_new(request, client_id):
    # The size limit must be in place before anything reads the request's body, the CSRF check
    # included: so CSRF is exempted here and checked just after (Django's documented way).
    request.upload_handlers.insert(0, files.SizeLimit(request))
    return _document_new(request, client_id)


@csrf_protect
def _document_new(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.documents.upload.opened")
    form = UploadForm(
        request.POST or None,
        request.FILES or None,
        client=client,
        too_large=files.upload_was_too_large(request),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            document = services.file_document(
                request=request,
                client=client,
                kind=data["kind"],
                title=data["title"],
                upload=data["file"],
                received_from=data["received_from"],
                provider=data["provider"],
                dated=data["dated"],
            )
        except ValidationError as refused:
            form.add_error(None, refused)
        else:
            messages.success(request, f"“{document.title}” is filed on the chart.")
            return redirect("documents:detail", client.pk, document.pk)
    return render(request, "documents/upload.html", {"client": client, "form": form})


@staff_view()
def document_detail(request, client_id, document_id):
    client = clinical_banner_for(request, client_id, action="kapflow.documents.document.viewed")
    document = selectors.chart_document(client, document_id)
    if document is None:
        raise Http404("No such document.")
    return render(request, "documents/detail.html", {"client": client, "document": document})


@staff_view()
def document_download(request, client_id, document_id):
    """The file itself, as an attachment of the type its content was found to be. The client is
    scoped as for any clinical page (404 otherwise, audited as refused by the audit middleware);
    each download writes its audit row naming the document."""
    document = selectors.document_in_scope(clients_for(request, need=Need.CLINICAL), client_id, document_id)
    if document is None:
        raise Http404("No such document.")
    storage, name = document.file.storage, document.file.name
    try:
        handle = storage.open(name, "rb") if storage.exists(name) else None
    except OSError:
        handle = None
    if handle is None:
        logger.error("Chart document %s: its file %s is missing from the storage", document.pk, name)
        audit_record(
            request=request,
            action="kapflow.documents.document.file_missing",
            client=document.client,
            obj=document,
        )
        return render(
            request,
            "documents/missing.html",
            {"client": document.client, "document": document},
            status=503,
        )
    audit_record(
        request=request,
        action="kapflow.documents.document.downloaded",
        client=document.client,
        obj=document,
        detail={"size": document.size},
    )
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=document.download_name,
        content_type=document.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Should a browser ever show it in place, it runs nothing and loads nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
