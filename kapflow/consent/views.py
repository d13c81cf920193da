from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, can_see_clinical, client_chart_for
from kapflow.consent import services
from kapflow.consent.forms import DocumentForm, SignatureForm
from kapflow.consent.gates import NOUNS, gate_from_status, resolver_label
from kapflow.consent.models import ConsentDocument, Kind, Signature
from kapflow.consent.selectors import (
    consent_status,
    current_documents,
    documents_overview,
    first_name,
    signer_options,
    why_nobody_can_sign,
)

admin_view = staff_view(Role.PRACTICE_ADMIN)


def _client_for_consents(request, client_id, *, action: str):
    """The client whose consents may be opened and signed: by the practice admin for any client,
    by a clinician for the clients in their care (docs/clinical.md: consents — admin yes, therapist
    and prescriber own caseload, coordinator status only). Anyone else gets 404."""
    need = Need.DEMOGRAPHICS if request.user.is_practice_admin else Need.CLINICAL
    return client_chart_for(request, client_id, action=action, need=need)


def may_sign(request, client) -> bool:
    return request.user.is_practice_admin or can_see_clinical(request, client)


# The client's consents ---------------------------------------------------------------------


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
        form = SignatureForm(request.POST or None, signers=signers, kind=kind)
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


# The practice's documents -------------------------------------------------------------------


@require_GET
@admin_view
def document_list(request):
    documents = documents_overview()
    kinds = []
    for value, label in Kind.choices:
        versions = [d for d in documents if d.kind == value]
        kinds.append(
            {
                "kind": value,
                "label": label,
                "current": next((d for d in versions if d.is_current), None),
                "draft": next((d for d in versions if d.is_draft), None),
                "versions": versions,
            }
        )
    audit_record(request=request, action="kapflow.consent.documents.viewed")
    return render(request, "consent/document_list.html", {"kinds": kinds})


@require_GET
@admin_view
def document_detail(request, document_id):
    document = get_object_or_404(
        ConsentDocument.objects.select_related("created_by", "published_by"), pk=document_id
    )
    current = current_documents().get(document.kind)
    audit_record(request=request, action="kapflow.consent.document.viewed", obj=document)
    return render(
        request,
        "consent/document_detail.html",
        {
            "document": document,
            "current": current,
            "signed_by": document.signatures.filter(decision=Signature.Decision.AGREE)
            .values("client")
            .distinct()
            .count(),
        },
    )


@require_http_methods(["GET", "POST"])
@admin_view
def document_new(request, kind):
    if kind not in Kind.values:
        raise Http404("No such kind of consent document.")
    current = current_documents().get(kind)
    draft = ConsentDocument.objects.drafts().filter(kind=kind).first()
    start = draft or current
    initial = {"title": start.title, "body": start.body} if start else {}
    if draft is not None:
        initial["requires_reconsent"] = draft.requires_reconsent
    form = DocumentForm(request.POST or None, initial=initial, current=current)
    if request.method == "POST" and form.is_valid():
        document = services.document_draft_save(
            request=request,
            kind=kind,
            title=form.cleaned_data["title"],
            body=form.cleaned_data["body"],
            requires_reconsent=form.cleaned_data["requires_reconsent"],
        )
        messages.success(
            request, f"Version {document.version} is saved as a draft. Read it through, then publish it."
        )
        return redirect("consent_documents:detail", document.pk)
    return render(
        request,
        "consent/document_form.html",
        {"form": form, "kind": kind, "kind_label": Kind(kind).label, "current": current, "draft": draft},
    )


@require_POST
@admin_view
def document_publish(request, document_id):
    document = get_object_or_404(ConsentDocument, pk=document_id)
    try:
        document = services.document_publish(request=request, document=document)
    except services.AlreadyPublished:
        messages.info(request, f"Version {document.version} was already published.")
    else:
        again = (
            " Everyone has to sign it again: earlier signatures no longer count."
            if document.requires_reconsent
            else " Earlier signatures still count."
        )
        messages.success(request, f"{document.title}, version {document.version}, is now current.{again}")
    return redirect("consent_documents:detail", document.pk)
