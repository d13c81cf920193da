"""Reads: which documents are current, who may sign what for a client, and where each of the
client's consents stands. The status page, the chart card and the readiness gate all use
`consent_status`, so they can never disagree."""

from dataclasses import dataclass, field

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from kapflow.clients.models import Client, Guardian, OutsideProvider
from kapflow.consent.models import ConsentDocument, Kind, Signature
from kapflow.lib.dates import long_date


def first_name(client: Client) -> str:
    """What a clinician calls the client in a sentence."""
    return client.preferred_name or client.first_name


def name_on_file(client: Client) -> str:
    return f"{client.first_name} {client.last_name}"


def published_documents() -> list[ConsentDocument]:
    """Every published version of every kind, newest first within each kind (one query): what
    current_documents and reconsent_floors each work out, read once when a page needs both."""
    return list(ConsentDocument.objects.published().order_by("kind", "-version"))


def current_documents(published: list[ConsentDocument] | None = None) -> dict[str, ConsentDocument]:
    """The current (latest published) version of each kind, in one query, or from `published`
    (published_documents) when it has been read."""
    current: dict[str, ConsentDocument] = {}
    for document in published_documents() if published is None else published:
        current.setdefault(document.kind, document)
    return current


def reconsent_floors(published: list[ConsentDocument]) -> dict[str, int]:
    """For each kind, the lowest version whose signatures still count: the latest published
    version that asked everyone to sign again (1 when none did), from `published`
    (published_documents)."""
    floors: dict[str, int] = {}
    for document in published:
        if document.requires_reconsent:
            floors.setdefault(document.kind, document.version)
    return floors


def documents_overview() -> list[ConsentDocument]:
    """Every version of every kind, newest first within each kind, with how many clients agreed
    to it and whether it is the current one or a draft (for the admin's documents page)."""
    # Counted per document in a subquery (signature_document_idx), not by joining every signature
    # to every document and grouping: on SQLite the join took 60 ms at a group practice's size.
    agreed = (
        Signature.objects.filter(document=OuterRef("pk"), decision="agree")
        .order_by()
        .values("document")
        .annotate(n=Count("client", distinct=True))
        .values("n")
    )
    documents = list(
        ConsentDocument.objects.select_related("created_by", "published_by")
        .annotate(signed_by=Coalesce(Subquery(agreed, output_field=IntegerField()), 0))
        .order_by("kind", "-version")
    )
    current = {}
    for document in documents:
        if not document.is_draft:
            current.setdefault(document.kind, document.pk)
    for document in documents:
        document.is_current = current.get(document.kind) == document.pk
    return documents


# Signer options -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignerOption:
    key: str  # "client" or "guardian:<id>", the value of the form's choice
    name: str  # the name on file that the typed name must match
    label: str  # "Avery Alvarez (the client)"
    guardian: Guardian | None = None

    @property
    def signer(self) -> str:
        return Signature.Signer.GUARDIAN if self.guardian else Signature.Signer.CLIENT


def authorised_guardians(client: Client) -> list[Guardian]:
    return [guardian for guardian in client.guardians.all() if guardian.has_legal_authority]


def signer_options(client: Client, kind: str) -> list[SignerOption]:
    """Who may sign this kind of document for this client. The client signs their own consents
    when an adult and their assent when a minor; for a minor every consent is given by a
    guardian with legal authority."""
    me = SignerOption("client", name_on_file(client), f"{name_on_file(client)} (the client)")
    guardians = [
        SignerOption(f"guardian:{g.pk}", g.name, f"{g.name} ({g.relationship})", g)
        for g in authorised_guardians(client)
    ]
    minor = client.is_minor
    if kind == Kind.ASSENT:
        return [me] if minor else []
    if kind == Kind.GUARDIAN:
        return guardians if minor else []
    if kind == Kind.KAP:
        return [] if minor else [me]
    return guardians if minor else [me]


def why_nobody_can_sign(client: Client, kind: str) -> str:
    name = first_name(client)
    if kind == Kind.ASSENT:
        return f"{name} is 18 or over: the assent is only for clients under 18."
    if kind == Kind.KAP and client.is_minor:
        return f"{name} is under 18: the guardian consent and {name}'s own assent take the place of this one."
    if kind == Kind.GUARDIAN and not client.is_minor:
        return f"{name} is 18 or over and gives their own consent."
    return (
        f"{name} is under 18, so a parent or legal guardian who can give consent signs this. "
        "None is on the chart yet: add one first."
    )


# Status ---------------------------------------------------------------------------------------


class State:
    AGREED = "agreed"
    OUTDATED = "outdated"  # agreed to a version that no longer counts
    EXPIRED = "expired"  # a release past its expiry date
    REFUSED = "refused"
    REVOKED = "revoked"
    MISSING = "missing"
    NO_DOCUMENT = "no_document"


@dataclass
class Requirement:
    kind: str
    label: str  # "KAP informed consent", "Release of information to Dr. Reyes"
    document: ConsentDocument | None  # the current version
    latest: Signature | None  # the latest decision by someone who may sign it
    state: str
    gating: bool  # part of the consent gate (telehealth: only for virtual sessions)
    note: str = ""  # when it is needed, if not always
    provider: OutsideProvider | None = None
    signers: list[SignerOption] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == State.AGREED

    @property
    def badge(self) -> tuple[str, str]:
        return {
            State.AGREED: ("ok", "Signed"),
            State.OUTDATED: ("danger", "Needs a new signature"),
            State.EXPIRED: ("danger", "Expired"),
            State.REFUSED: ("danger", "Did not agree"),
            State.REVOKED: ("danger", "Withdrawn"),
            State.MISSING: ("warn", "Not signed"),
            State.NO_DOCUMENT: ("danger", "No document published"),
        }[self.state]

    @property
    def summary(self) -> str:
        """One line for the status page: what happened, when, by whom."""
        latest, document = self.latest, self.document
        if self.state == State.NO_DOCUMENT:
            return "No version of this document is published yet. The practice admin writes one."
        if self.state == State.MISSING:
            return "Not signed yet."
        when, who = long_date(latest.signed_at), latest.signer_name
        version = latest.document.version
        if self.state == State.AGREED:
            text = f"Signed version {version} on {when} by {who}."
            if version != document.version:
                text += f" Version {document.version} did not ask for a new signature."
            if latest.release_expires_on:
                text += f" Valid until {long_date(latest.release_expires_on)}."
            return text
        if self.state == State.EXPIRED:
            return f"Signed on {when} by {who}; it expired on {long_date(latest.release_expires_on)}."
        if self.state == State.OUTDATED:
            return (
                f"Signed version {version} on {when} by {who}, which no longer counts: "
                f"version {document.version} needs a new signature."
            )
        if self.state == State.REVOKED:
            return f"{who} withdrew their agreement on {when}."
        return f"{who} did not agree to version {version} on {when}."


@dataclass
class ConsentStatus:
    client: Client
    requirements: list[Requirement]
    documents: dict[str, ConsentDocument]

    def get(self, kind: str, provider: OutsideProvider | None = None) -> Requirement | None:
        for requirement in self.requirements:
            if requirement.kind == kind and requirement.provider == provider:
                return requirement
        return None


def _state(latest: Signature | None, document: ConsentDocument | None, floor: int) -> str:
    if document is None:
        return State.NO_DOCUMENT
    if latest is None:
        return State.MISSING
    if latest.decision == Signature.Decision.REFUSE:
        return State.REFUSED
    if latest.decision == Signature.Decision.REVOKE:
        return State.REVOKED
    if latest.document.version < floor:
        return State.OUTDATED
    if latest.release_expires_on and latest.release_expires_on < timezone.localdate():
        return State.EXPIRED
    return State.AGREED


def latest_decisions(client: Client) -> list[Signature]:
    """Every decision recorded for the client, newest first (one query)."""
    return list(
        Signature.objects.filter(client=client)
        .select_related("document", "presented_by")
        .order_by("-signed_at", "-pk")
    )


def consent_status(
    client: Client,
    *,
    virtual: bool = False,
    published: list[ConsentDocument] | None = None,
    decisions: list[Signature] | None = None,
) -> ConsentStatus:
    """What this client needs, and where each stands. Adults: the KAP consent; minors: a
    guardian's consent and their own assent; everyone: the telehealth consent (counted only
    when `virtual`) and a release for each outside provider. Only the latest decision by
    someone who may sign now counts, so a guardian who lost legal authority, or a client who
    turned 18, no longer carries an old signature. A few queries, whatever the history; none
    but the client's guardians and outside providers (which a prefetch serves) when the caller
    has read `published` (published_documents) and the client's `decisions` (latest_decisions)."""
    if published is None:
        published = published_documents()
    documents, floors = current_documents(published), reconsent_floors(published)
    if decisions is None:
        decisions = latest_decisions(client)
    minor = client.is_minor

    def requirement(kind, label, *, gating, note="", provider=None):
        signers = signer_options(client, kind)
        allowed = {(option.signer, option.guardian.pk if option.guardian else None) for option in signers}
        latest = next(
            (
                decision
                for decision in decisions
                if decision.kind == kind
                and (provider is None or decision.provider_id == provider.pk)
                and (decision.signer, decision.guardian_id) in allowed
            ),
            None,
        )
        document = documents.get(kind)
        return Requirement(
            kind=kind,
            label=label,
            document=document,
            latest=latest,
            state=_state(latest, document, floors.get(kind, 1)),
            gating=gating,
            note=note,
            provider=provider,
            signers=signers,
        )

    if minor:
        requirements = [
            requirement(Kind.GUARDIAN, "Guardian consent", gating=True),
            requirement(Kind.ASSENT, f"{first_name(client)}'s own assent", gating=True),
        ]
    else:
        requirements = [requirement(Kind.KAP, "KAP informed consent", gating=True)]
    requirements.append(
        requirement(
            Kind.TELEHEALTH,
            "Telehealth consent",
            gating=virtual,
            note="Needed before any virtual session.",
        )
    )
    for provider in client.outside_providers.all():
        requirements.append(
            requirement(
                Kind.RELEASE,
                f"Release of information to {provider.name}",
                gating=False,
                note="Needed before any letter goes to them.",
                provider=provider,
            )
        )
    return ConsentStatus(client=client, requirements=requirements, documents=documents)
