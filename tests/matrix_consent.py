"""Consent's lines in the access matrix (tests/test_access_matrix.py).

docs/access.md, consents: admin yes, therapist and prescriber their own
caseload, coordinator status only, client and guardian through the portal (not these staff
pages). So the status page follows `client_page`, while opening a document for signing and
reading a signature record follow `consent_page` below."""

from kapflow.consent.models import ConsentDocument, Signature
from tests.access_rules import admin_page, client_page, consent_page


def client(w, c):
    return {"client_id": c.pk}


MATRIX = {
    "consent:status": ("get", client_page, client),
    "consent:present": ("get", consent_page, lambda w, c: {"client_id": c.pk, "kind": "kap"}),
    "consent:present_release": (
        "get",
        consent_page,
        lambda w, c: {"client_id": c.pk, "provider_id": w["providers"][c.pk].pk},
    ),
    "consent:signature": (
        "get",
        consent_page,
        lambda w, c: {"client_id": c.pk, "signature_id": w["signatures"][c.pk].pk},
    ),
    "consent_documents:list": ("get", admin_page, None),
    "consent_documents:detail": ("get", admin_page, lambda w, c: {"document_id": w["consent_draft"].pk}),
    "consent_documents:new": ("get", admin_page, lambda w, c: {"kind": "kap"}),
    "consent_documents:publish": ("post", admin_page, lambda w, c: {"document_id": w["consent_draft"].pk}),
}


def build(world):
    """A signed KAP consent for each client, and a draft version waiting to be published."""
    kap = ConsentDocument.objects.published().filter(kind="kap").order_by("-version").first()
    world["signatures"] = {
        client.pk: Signature.objects.create(
            document=kap,
            kind="kap",
            client=client,
            signer="client",
            signer_name=f"{client.first_name} {client.last_name}",
            typed_name=f"{client.first_name} {client.last_name}",
            decision="agree",
            text_sha256=kap.sha256,
            presented_by=world["tess"],
        )
        for client in (world["avery"], world["olive"])
    }
    world["consent_draft"] = ConsentDocument.objects.create(
        kind="kap", version=kap.version + 1, title=kap.title, body=kap.body + "\n\nA new paragraph."
    )
