"""A client's consents: their status, presenting a document and recording the signature, and one
signature's record. Opened and signed by the practice admin for any client, by a clinician for
the clients in their care (docs/clinical.md); anyone else gets 404."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from kapflow.accounts.access import staff_view
from kapflow.clients.access import Need, can_see_clinical, client_chart_for
from kapflow.consent import services
from kapflow.consent.forms import SignatureForm, release_terms_initial
from kapflow.consent.gates import NOUNS, gate_from_status, resolver_label
from kapflow.consent.models import Kind, Signature
from kapflow.consent.selectors import (
    consent_status,
    current_documents,
    first_name,
    signer_options,
    why_nobody_can_sign,
)
from kapflow.practice.models import practice_for


def _client_for_consents(request, client_id, *, action: str):
    """The client whose consents may be opened and signed: by the practice admin for any client,
    by a clinician for the clients in their care (docs/clinical.md: consents — admin yes, therapist
    and prescriber own caseload, coordinator status only). Anyone else gets 404."""
    need = Need.DEMOGRAPHICS if request.user.is_practice_admin else Need.CLINICAL
    return client_chart_for(request, client_id, action=action, need=need)


def may_sign(request, client) -> bool:
    return request.user.is_practice_admin or can_see_clinical(request, client)


@require_GET
@staff_view()
def consent_page(request, client_id):
    """What this client needs signed and where each stands. Coordinators see the status alone."""
    client = client_chart_for(request, client_id, action="kapflow.consent.status.viewed")
    status = consent_status(client)
    gate = gate_from_status(status, virtual=False)
    return render(
        request,
        "consent/status.html",
        {
            "client": client,
            "status": status,
            "gate": gate,
            "resolver": resolver_label(gate, client),
            "virtual_gate": gate_from_status(status, virtual=True),
            "may_sign": may_sign(request, client),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_view()
def present(request, client_id, kind=None, provider_id=None):
    """A document shown in full in the office, and the signer's decision under it."""
    client = _client_for_consents(request, client_id, action="kapflow.consent.document.presented")
    provider = None
    if provider_id is not None:
        kind = Kind.RELEASE
        provider = get_object_or_404(client.outside_providers.all(), pk=provider_id)
    elif kind not in Kind.values or kind == Kind.RELEASE:
        raise Http404("No such consent document.")
    document = current_documents().get(kind)
    signers = signer_options(client, kind)
    requirement = consent_status(client).get(kind, provider)
    form = None
    if document is not None and signers:
        form = SignatureForm(
            request.POST or None,
            signers=signers,
            kind=kind,
            initial=release_terms_initial(requirement) if provider else None,
        )
        if request.method == "POST" and form.is_valid():
            try:
                signature = services.signature_record(
                    request=request,
                    client=client,
                    document=document,
                    signer_key=form.cleaned_data["signer"],
                    typed_name=form.cleaned_data["typed_name"],
                    decision=form.cleaned_data["decision"],
                    shown_sha256=form.cleaned_data["sha256"],
                    provider=provider,
                    release_expires_on=form.cleaned_data.get("release_expires_on"),
                    categories=form.cleaned_data.get("categories"),
                    purpose=form.cleaned_data.get("purpose", ""),
                )
            except services.StaleDocument:
                form.add_error(
                    None,
                    "A new version of this document was published while the page was open. Nothing "
                    "was recorded. Read the text below again with the person signing, then sign.",
                )
                document = current_documents().get(kind)
            else:
                verb = {
                    Signature.Decision.AGREE: "agreed to",
                    Signature.Decision.REFUSE: "did not agree to",
                    Signature.Decision.REVOKE: "withdrew their agreement to",
                }[signature.decision]
                what = NOUNS[kind] + (f" for {provider.name}" if provider else "")
                message = f"Recorded: {signature.signer_name} {verb} the {what}, version {document.version}."
                (messages.success if signature.agreed else messages.warning)(request, message)
                return redirect("consent:status", client.pk)
    elif request.method == "POST":
        messages.error(request, "Nothing was recorded: this document cannot be signed for this client now.")
        return redirect("consent:status", client.pk)
    return render(
        request,
        "consent/present.html",
        {
            "client": client,
            "kind": kind,
            "provider": provider,
            "document": document,
            "requirement": requirement,
            "form": form,
            "why_not": "" if signers else why_nobody_can_sign(client, kind),
            "name": first_name(client),
            "practice": practice_for(request),
        },
    )


@require_GET
@staff_view()
def signature_detail(request, client_id, signature_id):
    """One recorded decision, with the exact text it was made on and its hash."""
    client = _client_for_consents(request, client_id, action="kapflow.consent.signature.viewed")
    signature = get_object_or_404(
        client.consent_signatures.select_related("document", "presented_by", "guardian", "provider"),
        pk=signature_id,
    )
    return render(
        request,
        "consent/signature_detail.html",
        {
            "client": client,
            "signature": signature,
            "document": signature.document,
            "hash_matches": signature.document.sha256 == signature.text_sha256,
            "history": client.consent_signatures.filter(kind=signature.kind, provider=signature.provider)
            .select_related("document", "presented_by")
            .order_by("-signed_at", "-pk"),
        },
    )
