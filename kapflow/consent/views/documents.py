"""The practice's consent documents, for the practice admin: the versions of each kind, a new
draft, and publishing it."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.consent import services
from kapflow.consent.forms import DocumentForm
from kapflow.consent.models import ConsentDocument, Kind, Signature
from kapflow.consent.selectors import current_documents, documents_overview

admin_view = staff_view(Role.PRACTICE_ADMIN)


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
