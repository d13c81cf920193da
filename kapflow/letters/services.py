"""Making, editing and signing letters (docs/letters.md).

Only a therapist or prescriber on the client's care team writes or signs a letter. Every step
asks `release_standing` (kapflow.letters.releases), the one rule for whether a letter may go to
a provider, for the categories the letter carries: a letter the release does not cover is never
made, never changed to carry more, and never signed. Signing reads the chart once more, keeps
what it read in `facts`, prints the PDF, stores it and its hash, and locks the row: the service
refuses any later change, and so does the database (kapflow.audit.immutable)."""

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.access import writes_for
from kapflow.clients.models import Client, OutsideProvider
from kapflow.dosing.models import Runbook
from kapflow.letters import compose, pdf
from kapflow.letters.models import Letter
from kapflow.letters.releases import release_standing
from kapflow.lib.storage import discard


class LetterRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def may_write(user, client: Client) -> bool:
    """Whether `user` may write and sign this client's letters: a therapist or prescriber on the
    client's care team as a therapist or prescriber (one query)."""
    return writes_for(user, client.pk)


def _writer(actor, client: Client) -> None:
    if not may_write(actor, client):
        raise LetterRefused("Only a therapist or prescriber on the client's care team writes their letters.")


def _covered(provider: OutsideProvider, categories: list[str]):
    if not categories:
        raise LetterRefused("Choose at least one part of the record for the letter to carry.")
    standing = release_standing(provider, categories)
    if not standing.allows:
        raise LetterRefused(standing.refusal)
    return standing


@transaction.atomic
def letter_create(
    *,
    request,
    client: Client,
    kind: str,
    provider: OutsideProvider,
    categories,
    runbook: Runbook | None = None,
    body: str = "",
    recommendations: str = "",
) -> Letter:
    """A draft letter of `kind` to `provider`, carrying the chosen `categories` of those its
    kind can carry; refused (LetterRefused, with the reason) unless the author may write it and
    the provider's release covers what it carries."""
    actor = request.user
    _writer(actor, client)
    if provider.client_id != client.pk:
        raise LetterRefused("That provider is not one of this client's.")
    spec = compose.spec(kind)
    if spec.about_a_session:
        if runbook is None or runbook.visit.client_id != client.pk or runbook.signed_at is None:
            raise LetterRefused("Choose one of the client's medication sessions whose record is signed.")
    else:
        runbook = None
    categories = compose.chosen(kind, categories)
    _covered(provider, categories)
    letter = Letter(
        client=client,
        kind=kind,
        provider=provider,
        runbook=runbook,
        categories=categories,
        body=body.strip(),
        recommendations=recommendations.strip() if spec.has_recommendations else "",
        created_by=actor,
    )
    letter.full_clean()
    letter.save()
    audit_record(
        request=request,
        action="kapflow.letters.letter.drafted",
        client=client,
        obj=letter,
        detail={"kind": kind, "provider": provider.pk, "categories": categories},
    )
    return letter


def _locked_draft(letter: Letter, actor) -> Letter:
    letter = (
        Letter.objects.select_for_update(of=("self",), no_key=True)
        .select_related("provider", "runbook__visit", "client")
        .get(pk=letter.pk)
    )
    if letter.is_signed:
        raise LetterRefused("This letter is signed: it cannot be changed. Write a new letter instead.")
    _writer(actor, letter.client)
    return letter


@transaction.atomic
def letter_update(*, request, letter: Letter, categories, body: str, recommendations: str) -> Letter:
    """Change a draft's categories and free text. A signed letter is refused, and so are
    categories the provider's release does not cover."""
    letter = _locked_draft(letter, request.user)
    spec = compose.spec(letter.kind)
    categories = compose.chosen(letter.kind, categories)
    _covered(letter.provider, categories)
    before = {"categories": letter.categories, "body": letter.body, "recommendations": letter.recommendations}
    letter.categories = categories
    letter.body = body.strip()
    letter.recommendations = recommendations.strip() if spec.has_recommendations else ""
    changed = sorted(field for field, value in before.items() if getattr(letter, field) != value)
    if changed:
        letter.full_clean()
        letter.save(update_fields=changed)
        audit_record(
            request=request,
            action="kapflow.letters.letter.edited",
            client=letter.client,
            obj=letter,
            detail={"changed": changed, "categories": categories},
        )
    return letter


def draft_pdf(*, letter: Letter, practice, actor) -> bytes:
    """A draft as it would be signed now, marked "Draft" (the view audits who looked)."""
    facts = compose.compose(
        client=letter.client,
        kind=letter.kind,
        categories=letter.categories,
        runbook=letter.runbook,
        practice=practice,
    )
    return pdf.render(letter, facts, author=actor, when=timezone.now(), draft=True)


@transaction.atomic
def letter_sign(*, request, letter: Letter, practice) -> Letter:
    """Sign a draft: check the release once more, read the chart into `facts`, print the PDF,
    store it with its hash and lock the letter. Refused for a signed letter, for anyone who may
    not write it, and when the release no longer covers it."""
    actor = request.user
    letter = _locked_draft(letter, actor)
    standing = _covered(letter.provider, letter.categories)
    now = timezone.now()
    facts = compose.compose(
        client=letter.client,
        kind=letter.kind,
        categories=letter.categories,
        runbook=letter.runbook,
        practice=practice,
    )
    content = pdf.render(letter, facts, author=actor, when=now, draft=False)
    digest = pdf.sha256(content)
    name = default_storage.save(pdf.file_name(letter, digest), ContentFile(content))
    try:
        letter.facts = facts
        letter.signed_by = actor
        letter.signed_at = now
        letter.pdf.name = name
        letter.pdf_sha256 = digest
        letter.save(update_fields=["facts", "signed_by", "signed_at", "pdf", "pdf_sha256"])
        audit_record(
            request=request,
            action="kapflow.letters.letter.signed",
            client=letter.client,
            obj=letter,
            detail={
                "kind": letter.kind,
                "provider": letter.provider_id,
                "categories": letter.categories,
                "release": standing.release.pk if standing.release else None,
                "sha256": digest,
            },
        )
    except BaseException:
        # The row was not saved: the file it would have named goes too.
        discard(default_storage, name)
        raise
    return letter


@transaction.atomic
def letter_sign_as_typed(
    *, request, letter: Letter, practice, categories, body: str, recommendations: str
) -> Letter:
    """Sign a draft with what its form holds at the moment "Sign" is pressed: the categories and
    free text are saved first (letter_update, with its refusals), then the letter is signed
    (letter_sign, which checks the release once more), in one transaction. A refusal of either
    leaves the draft as it was."""
    letter = letter_update(
        request=request, letter=letter, categories=categories, body=body, recommendations=recommendations
    )
    return letter_sign(request=request, letter=letter, practice=practice)


def letter_pdf_viewed(*, request, letter: Letter) -> None:
    """Record that a member of staff opened a letter's PDF: the signed file, or a draft's preview."""
    audit_record(
        request=request,
        action="kapflow.letters.pdf.viewed",
        client=letter.client,
        obj=letter,
        detail={"signed": letter.is_signed, "sha256": letter.pdf_sha256},
    )
