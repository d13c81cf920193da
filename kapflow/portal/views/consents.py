"""Consents on the portal: the list of what the client needs, and the page where the signed-in
person reads a document and signs it themselves. The signature is recorded by the consent
app's own service, exactly as in the office (typed name, time, address, the text's hash), with
the signer's portal account in place of a presenting staff member, so it feeds the same gate."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from kapflow.consent import services as consent_services
from kapflow.consent.forms import release_terms_initial
from kapflow.consent.models import Kind, Signature
from kapflow.consent.portal import (
    PORTAL_KINDS,
    people_read,
    portal_releases,
    portal_requirements,
    portal_signer,
)
from kapflow.consent.selectors import consent_status, current_documents
from kapflow.portal.access import PortalNeed, is_guardian_view, portal_client_for, portal_view
from kapflow.portal.forms import PortalReleaseForm, PortalSignatureForm
from kapflow.practice.models import practice_for


@require_GET
@portal_view
def consent_list(request, client_id):
    client = portal_client_for(
        request, client_id, action="kapflow.portal.consents.viewed", need=PortalNeed.CONSENTS
    )
    # Who may sign each document, and where each stands, read once for both lists.
    status = consent_status(people_read(client))
    releases, release_signer = portal_releases(client, request.user, status=status)
    return render(
        request,
        "portal/consents.html",
        {
            "client": client,
            "guardian_view": is_guardian_view(request.user, client),
            "may_sign_consents": True,
            "items": portal_requirements(client, request.user, status=status),
            "releases": releases,
            "release_signer": release_signer,
            "nav": "consents",
        },
    )


def _signed(request, client, document, signer, form, **terms) -> Signature | None:
    """The decision the signed-in signer made on the portal, recorded; None, with the reason on
    the form, when the practice published a new version while the page was open (the caller
    shows the new one). A signer who may not sign it is answered 404."""
    try:
        return consent_services.signature_record(
            request=request,
            client=client,
            document=document,
            signer_key=signer.key,
            typed_name=form.cleaned_data["typed_name"],
            decision=form.cleaned_data["decision"],
            shown_sha256=form.cleaned_data["sha256"],
            on_portal=True,
            **terms,
        )
    except consent_services.StaleDocument:
        form.add_error(
            None,
            "The practice published a new version of this document while the page was open, so "
            "nothing was recorded. Please read the text below again, then sign.",
        )
        return None
    except consent_services.NotAllowed:
        raise Http404("You cannot sign this document.") from None


@require_http_methods(["GET", "POST"])
@portal_view
def consent_sign(request, client_id, kind):
    client = portal_client_for(
        request, client_id, action="kapflow.portal.consent.opened", need=PortalNeed.CONSENTS
    )
    if kind not in PORTAL_KINDS:
        raise Http404("No such document.")
    signer = portal_signer(client, kind, request.user)
    if signer is None:
        # Someone else signs this one for this client (the guardian, or the minor's own assent).
        raise Http404("You cannot sign this document.")
    document = current_documents().get(kind)
    requirement = consent_status(client).get(kind)
    form = None
    if document is not None:
        form = PortalSignatureForm(request.POST or None, name_on_file=signer.name)
        if request.method == "POST" and form.is_valid():
            signature = _signed(request, client, document, signer, form)
            if signature is None:
                document = current_documents().get(kind)
            else:
                if signature.agreed:
                    messages.success(request, f"Thank you. Your signature on “{document.title}” is recorded.")
                elif signature.decision == Signature.Decision.REVOKE:
                    messages.warning(
                        request,
                        f"Your agreement to “{document.title}” is withdrawn. Please talk with your therapist "
                        "about what this means for your sessions.",
                    )
                else:
                    messages.warning(
                        request,
                        f"Recorded: you did not agree to “{document.title}”. You can talk it through "
                        "with your therapist, and sign later if you change your mind.",
                    )
                return redirect("portal:consents", client.pk)
    elif request.method == "POST":
        messages.error(request, "Nothing was recorded: this document is not available to sign just now.")
        return redirect("portal:consents", client.pk)
    return render(
        request,
        "portal/consent_sign.html",
        {
            "client": client,
            "guardian_view": is_guardian_view(request.user, client),
            "may_sign_consents": True,
            "document": document,
            "requirement": requirement,
            "signer": signer,
            "form": form,
            "is_assent": kind == Kind.ASSENT,
            "nav": "consents",
        },
    )


@require_http_methods(["GET", "POST"])
@portal_view
def release_sign(request, client_id, provider_id):
    """A release of information to one of the client's outside providers, read and signed (or
    withdrawn, with effect at once: a letter not yet sent can no longer go) by the signed-in
    client, or for a minor by a guardian with legal authority."""
    client = portal_client_for(
        request, client_id, action="kapflow.portal.release.opened", need=PortalNeed.CONSENTS
    )
    provider = get_object_or_404(client.outside_providers.all(), pk=provider_id)
    releases, signer = portal_releases(client, request.user)
    if signer is None:
        raise Http404("You cannot sign this document.")
    requirement = next((r for r in releases if r.provider == provider), None)
    if requirement is None:
        raise Http404("No such provider.")
    document = current_documents().get(Kind.RELEASE)
    standing = requirement.latest is not None and requirement.latest.agreed
    form = None
    if document is not None:
        form = PortalReleaseForm(
            request.POST or None,
            name_on_file=signer.name,
            standing=standing,
            initial=release_terms_initial(requirement),
        )
        if request.method == "POST" and form.is_valid():
            signature = _signed(
                request,
                client,
                document,
                signer,
                form,
                provider=provider,
                release_expires_on=form.cleaned_data.get("release_expires_on"),
                categories=form.cleaned_data["categories"],
                purpose=form.cleaned_data["purpose"],
            )
            if signature is None:
                document = current_documents().get(Kind.RELEASE)
            else:
                if signature.agreed:
                    messages.success(request, f"Thank you. Your release for {provider.name} is recorded.")
                elif signature.decision == Signature.Decision.REVOKE:
                    messages.warning(
                        request,
                        f"Your release for {provider.name} is withdrawn from now on: nothing more will be "
                        "sent to them under it. What was already sent stays with them.",
                    )
                else:
                    messages.warning(
                        request, f"Recorded: you did not agree to share information with {provider.name}."
                    )
                return redirect("portal:consents", client.pk)
    elif request.method == "POST":
        messages.error(request, "Nothing was recorded: this document is not available to sign just now.")
        return redirect("portal:consents", client.pk)
    return render(
        request,
        "portal/release_sign.html",
        {
            "client": client,
            "guardian_view": is_guardian_view(request.user, client),
            "may_sign_consents": True,
            "document": document,
            "requirement": requirement,
            "provider": provider,
            "practice": practice_for(request),
            "signer": signer,
            "form": form,
            "nav": "consents",
        },
    )
