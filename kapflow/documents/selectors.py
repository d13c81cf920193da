"""Reads of the documents filed on a chart. Each takes a client already reached through
kapflow.clients.access (or, for the download, the scope itself), so none widens what its caller
may see."""

from collections.abc import Iterable

from django.db.models import QuerySet

from kapflow.clients.models import Client
from kapflow.documents.models import ChartDocument

# How many documents the chart's Documents card lists; "All documents" shows the rest.
CHART_CARD_DOCUMENTS = 5


def _listed(client: Client) -> QuerySet[ChartDocument]:
    # Newest first: the index document_client_idx (client, uploaded_at) serves it.
    return (
        ChartDocument.objects.filter(client=client)
        .select_related("provider", "uploaded_by")
        .order_by("-uploaded_at", "-pk")
    )


def chart_documents(client: Client) -> QuerySet[ChartDocument]:
    """Every document filed on the client's chart, newest first, with who sent and filed it
    (one query)."""
    return _listed(client)


def latest_documents(client: Client) -> list[ChartDocument]:
    """The chart card's few newest documents (one query)."""
    return list(_listed(client)[:CHART_CARD_DOCUMENTS])


def documents_for_filing(client: Client, kinds: Iterable[str]) -> QuerySet[ChartDocument]:
    """The client's documents of these kinds (ChartDocument.Kind values), newest first, with who
    sent and filed them: what a clinician picks from when transcribing a document elsewhere (an
    outside prescriber's clearance letter or prescription). A QuerySet, so that it can be a
    ModelChoiceField's queryset as it is (a choice outside it is then refused); one query."""
    return _listed(client).filter(kind__in=list(kinds))


def chart_document(client: Client, document_id) -> ChartDocument | None:
    """One document of this client's chart, or None (one query)."""
    try:
        return _listed(client).filter(pk=int(document_id)).first()
    except (TypeError, ValueError, OverflowError):
        return None


def document_in_scope(scope: QuerySet[Client], client_id, document_id) -> ChartDocument | None:
    """The document `document_id` of client `client_id`, if that client is in `scope` (what
    kapflow.clients.access.clients_for answered for the person asking), else None: a download
    reads the document, its client and the scope in one query."""
    try:
        client_pk, document_pk = int(client_id), int(document_id)
    except (TypeError, ValueError, OverflowError):
        return None
    return (
        ChartDocument.objects.filter(pk=document_pk, client_id=client_pk, client__in=scope)
        .select_related("client")
        .first()
    )
