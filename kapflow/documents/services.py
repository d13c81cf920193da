"""Filing a document on a client's chart. A filed document is never changed or deleted, here or
at the database (kapflow.audit.immutable): a wrong one stays, and the right one is filed beside
it."""

import datetime
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from kapflow.audit.services import audit_record
from kapflow.clients.models import Client, OutsideProvider
from kapflow.documents import files
from kapflow.documents.models import ChartDocument
from kapflow.lib.storage import discard

logger = logging.getLogger(__name__)


@transaction.atomic
def file_document(
    *,
    request,
    client: Client,
    kind: str,
    title: str,
    upload: UploadedFile,
    received_from: str = "",
    provider: OutsideProvider | None = None,
    dated: datetime.date | None = None,
) -> ChartDocument:
    """File `upload` on `client`'s chart, kept through Django's default storage under a name that
    says nothing about the client or the file, and write the audit row. The file is checked by
    its content (kapflow.documents.files.inspect, raising ValidationError) whatever the caller
    checked already. Only a clinician files documents (docs/access.md); the view has already
    found the client in the clinician's clinical scope."""
    user = request.user
    if not (user.is_active and user.is_clinician):
        raise PermissionDenied("Only a therapist or prescriber files documents on a chart.")
    if provider is not None and provider.client_id != client.pk:
        raise ValidationError("That outside provider is not on this client's chart.")
    inspected = files.inspect(upload)
    document = ChartDocument(
        client=client,
        kind=kind,
        title=title.strip(),
        # The sender in words too, so that the document still says who sent it should the
        # provider be taken off the chart later (the link is then cleared).
        received_from=received_from.strip() or (provider.name if provider is not None else ""),
        provider=provider,
        dated=dated,
        original_name=inspected.original_name,
        content_type=inspected.kind.content_type,
        extension=inspected.kind.extension,
        size=inspected.size,
        sha256=inspected.sha256,
        uploaded_by=user,
    )
    # The stored name comes from models.stored_name (the client's number and a random name).
    document.file.save("upload", upload, save=False)
    try:
        document.full_clean()
        document.save()
        audit_record(
            request=request,
            action="kapflow.documents.document.filed",
            client=client,
            obj=document,
            detail={"kind": kind, "type": inspected.kind.name, "size": inspected.size},
        )
    except BaseException:
        # The row is not saved: the file it would have pointed at goes too, so the storage holds
        # no file that no document names.
        discard(document.file.storage, document.file.name)
        raise
    return document
