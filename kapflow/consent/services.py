"""Writes: consent document versions (drafted, then published by the practice admin) and
decisions on them. Each function is atomic and writes its audit row in the same transaction."""

import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.models import Client, OutsideProvider
from kapflow.consent.categories import Category
from kapflow.consent.models import ConsentDocument, Kind, Signature
from kapflow.consent.selectors import SignerOption, consent_status, signer_options


class StaleDocument(Exception):
    """The text the signer read is no longer the current version."""


class NotAllowed(Exception):
    """That person may not sign that document for this client."""


class AlreadyPublished(Exception):
    pass


@transaction.atomic
def document_draft_save(
    *, request, kind: str, title: str, body: str, requires_reconsent: bool
) -> ConsentDocument:
    """Write the next version of `kind` as a draft, or rewrite the draft already waiting. Drafts
    are never shown for signing; publishing one makes it current."""
    draft = ConsentDocument.objects.select_for_update(no_key=True).drafts().filter(kind=kind).first()
    created = draft is None
    if created:
        latest = ConsentDocument.objects.filter(kind=kind).aggregate(n=Max("version"))["n"] or 0
        draft = ConsentDocument(kind=kind, version=latest + 1, created_by=request.user)
    draft.title, draft.body, draft.requires_reconsent = title, body, requires_reconsent
    draft.full_clean()
    draft.save()
    audit_record(
        request=request,
        action="kapflow.consent.document.drafted" if created else "kapflow.consent.document.draft_updated",
        obj=draft,
        detail={"kind": kind, "version": draft.version, "requires_reconsent": requires_reconsent},
    )
    return draft


@transaction.atomic
def document_publish(*, request, document: ConsentDocument) -> ConsentDocument:
    """Make a draft the current version of its kind. When it requires re-consent, every earlier
    signature of that kind stops counting from now on."""
    document = ConsentDocument.objects.select_for_update(no_key=True).get(pk=document.pk)
    if not document.is_draft:
        raise AlreadyPublished
    document.published_at = timezone.now()
    document.published_by = request.user
    document.full_clean()
    document.save(update_fields=["published_at", "published_by"])
    audit_record(
        request=request,
        action="kapflow.consent.document.published",
        obj=document,
        detail={
            "kind": document.kind,
            "version": document.version,
            "requires_reconsent": document.requires_reconsent,
            "sha256": document.sha256,
        },
    )
    return document


def _current(kind: str) -> ConsentDocument | None:
    return ConsentDocument.objects.published().filter(kind=kind).order_by("-version").first()


@transaction.atomic
def signature_record(
    *,
    request,
    client: Client,
    document: ConsentDocument,
    signer_key: str,
    typed_name: str,
    decision: str,
    shown_sha256: str,
    provider: OutsideProvider | None = None,
    release_expires_on: datetime.date | None = None,
    categories: list[str] | None = None,
    purpose: str = "",
    on_portal: bool = False,
) -> Signature:
    """Record a decision on the current version of a document, with the time, the address it
    was made from, the hash of the text shown and the staff member who presented it — or, with
    `on_portal`, the signer's own portal account (they signed it themselves, signed in).

    "Do not agree" after an agreement that still stands is recorded as withdrawing it. For a
    release, the provider's release status, expiry and categories follow the decision in the same
    transaction; an agreement keeps the `categories` and `purpose` signed.

    For a release the provider's row is locked before anything is read or timed: sending a letter
    (kapflow.letters.sending) takes the same lock, so a withdrawal and a letter going out never
    interleave, and the withdrawal's time is after every letter sent before it."""
    if provider is not None:
        provider = OutsideProvider.objects.select_for_update(no_key=True).get(pk=provider.pk)
        if provider.client_id != client.pk:
            raise NotAllowed
    # Publishing locks the document row; taking the same lock here means a version published
    # while this page was open is seen, never signed past.
    document = ConsentDocument.objects.select_for_update(no_key=True).get(pk=document.pk)
    current = _current(document.kind)
    if current is None or current.pk != document.pk or shown_sha256 != document.sha256:
        raise StaleDocument
    if (document.kind == Kind.RELEASE) != (provider is not None):
        raise NotAllowed
    option: SignerOption | None = next(
        (o for o in signer_options(client, document.kind) if o.key == signer_key), None
    )
    if option is None:
        raise NotAllowed
    if decision != Signature.Decision.AGREE:
        requirement = consent_status(client).get(document.kind, provider)
        standing = requirement is not None and requirement.latest is not None and requirement.latest.agreed
        decision = Signature.Decision.REVOKE if standing else Signature.Decision.REFUSE
        release_expires_on = None
    if decision == Signature.Decision.AGREE and document.kind == Kind.RELEASE:
        categories = [value for value, _ in Category.choices if value in set(categories or [])]
        purpose = purpose.strip()
    else:
        categories, purpose = [], ""
    signature = Signature(
        document=document,
        kind=document.kind,
        client=client,
        signer=option.signer,
        guardian=option.guardian,
        provider=provider,
        signer_name=option.name,
        provider_name=provider.name if provider else "",
        typed_name=typed_name.strip(),
        decision=decision,
        release_expires_on=release_expires_on,
        categories=categories,
        purpose=purpose,
        signed_at=timezone.now(),
        ip_address=getattr(request, "client_ip", None),
        text_sha256=document.sha256,
        presented_by=None if on_portal else request.user,
        portal_account=request.user if on_portal else None,
    )
    signature.full_clean()
    signature.save()
    audit_record(
        request=request,
        action="kapflow.consent.signature.recorded",
        client=client,
        obj=signature,
        detail={
            "kind": document.kind,
            "version": document.version,
            "decision": decision,
            "signer": option.signer,
            "sha256": document.sha256,
            "on_portal": on_portal,
        },
    )
    if provider is not None:
        _release_follow(request=request, provider=provider, signature=signature)
    return signature


def _release_follow(*, request, provider: OutsideProvider, signature: Signature) -> None:
    """Keep the provider's release status, expiry and categories (what the chart shows) in step
    with the decision. The provider's row is already locked by signature_record."""
    before = provider.release
    if signature.agreed:
        provider.release = OutsideProvider.Release.SIGNED
        provider.release_expires_on = signature.release_expires_on
        provider.release_categories = signature.categories
    elif provider.release == OutsideProvider.Release.SIGNED:
        provider.release = OutsideProvider.Release.REVOKED
        provider.release_expires_on = None
        provider.release_categories = []
    else:
        return
    provider.full_clean()
    provider.save(update_fields=["release", "release_expires_on", "release_categories"])
    audit_record(
        request=request,
        action="kapflow.consent.release.signed" if signature.agreed else "kapflow.consent.release.revoked",
        client=provider.client,
        obj=provider,
        detail={
            "from": before,
            "to": provider.release,
            "expires_on": provider.release_expires_on.isoformat() if provider.release_expires_on else None,
            "categories": provider.release_categories,
            "signature": signature.pk,
        },
    )
