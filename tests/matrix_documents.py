"""The documents filed on a chart in the access matrix (tests/test_access_matrix.py). They are
clinical content (docs/access.md): only the client's therapists and prescribers list, open,
download and upload them. A coordinator or an admin without a clinical role gets 404 for the
pages (as for a client outside their care) and 403 for the upload form, which is for clinicians
only; a clinician outside the client's care gets 404."""

import hashlib

from django.core.files.base import ContentFile

from kapflow.documents.models import ChartDocument
from tests.access_rules import clinical_page, clinician_page

# The smallest file each kind is recognised by (kapflow.documents.files): enough for the checks.
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def make_document(client, by, *, title="Metabolic panel", kind=ChartDocument.Kind.LAB_RESULTS, content=PDF):
    """A PDF filed on `client`'s chart by `by`, stored through the default storage, without the
    upload form (the tests of the form and the service are in tests/test_documents.py)."""
    document = ChartDocument(
        client=client,
        kind=kind,
        title=title,
        original_name="panel.pdf",
        content_type="application/pdf",
        extension=".pdf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=by,
    )
    document.file.save("upload", ContentFile(content), save=False)
    document.save()
    return document


def _client(world, client):
    return {"client_id": client.pk}


def _document(world, client):
    return {"client_id": client.pk, "document_id": world["documents"][client.pk].pk}


MATRIX = {
    "documents:list": ("get", clinical_page, _client),
    "documents:new": ("get", clinician_page, _client),
    "documents:detail": ("get", clinical_page, _document),
    "documents:download": ("get", clinical_page, _document),
}


def build(world):
    world["documents"] = {
        world[name].pk: make_document(world[name], world[by])
        for name, by in (("avery", "tess"), ("olive", "colin"))
    }


def walk_document(client) -> ChartDocument:
    """A document on the demo client's chart for the screenshot walk (tests/browser/walk.py):
    the one filed already, or a lab report filed by the client's first clinician."""
    existing = client.documents.order_by("pk").first()
    if existing is not None:
        return existing
    by = client.care_team.select_related("user").order_by("pk").first().user
    return make_document(client, by, title="Comprehensive metabolic panel, Valley Labs")
