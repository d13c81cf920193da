"""The consent gate of docs/clinical.md's readiness table: current versions agreed to — the KAP consent
for an adult; a guardian's consent and the minor's own assent for a client under 18; the
telehealth consent too when the session is virtual."""

import datetime

from django.urls import reverse
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.consent.models import Kind, Signature
from kapflow.consent.selectors import (
    ConsentStatus,
    Requirement,
    State,
    authorised_guardians,
    consent_status,
    first_name,
)
from kapflow.lib.gates import GateResult, Status

KEY, LABEL = "consent", "Consent"

NOUNS = {
    Kind.KAP: "KAP consent",
    Kind.GUARDIAN: "guardian consent",
    Kind.ASSENT: "assent",
    Kind.TELEHEALTH: "telehealth consent",
    Kind.RELEASE: "release of information",
}


def _when(moment: datetime.datetime) -> str:
    day = timezone.localtime(moment).date()
    return f"{day:%b} {day.day}" + ("" if day.year == timezone.localdate().year else f", {day.year}")


def _who(requirement: Requirement, client: Client) -> str:
    latest = requirement.latest
    return latest.signer_name if latest.signer == Signature.Signer.GUARDIAN else first_name(client)


def _needed(requirement: Requirement, client: Client) -> str:
    if requirement.kind == Kind.GUARDIAN:
        if not authorised_guardians(client):
            return "the guardian's consent (no guardian who can give consent is on the chart yet)"
        return "the guardian's consent"
    if requirement.kind == Kind.ASSENT:
        return f"{first_name(client)}'s own assent"
    if requirement.kind == Kind.TELEHEALTH:
        return "the telehealth consent for a virtual session"
    return "the KAP consent"


def resolver_label(result: GateResult, client: Client) -> str:
    """Who the gate's `resolver` is, in words for the page."""
    return {
        "client": f"{first_name(client)} (the client)",
        "guardian": "a parent or guardian who can give consent",
        "admin": "the practice admin",
    }.get(result.resolver, result.resolver)


def _join(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def consent_gate(client: Client, *, virtual: bool = False, status: ConsentStatus | None = None) -> GateResult:
    """PASS when every consent the next medication session needs is agreed to in a version that
    still counts; FAIL otherwise, saying what is missing, refused or out of date, and who can
    put it right (the client, or the guardian for a minor). `status` is the client's
    consent_status when the caller has already read it in this request."""
    return gate_from_status(status if status is not None else consent_status(client), virtual=virtual)


def gate_from_status(status: ConsentStatus, *, virtual: bool) -> GateResult:
    """The gate's answer from a status already read (the status page shows both answers)."""
    client = status.client
    url = reverse("consent:status", args=[client.pk])
    gating = [
        requirement
        for requirement in status.requirements
        if requirement.kind in (Kind.KAP, Kind.GUARDIAN, Kind.ASSENT)
        or (virtual and requirement.kind == Kind.TELEHEALTH)
    ]
    failing = [requirement for requirement in gating if not requirement.ok]
    if not failing:
        agreed = ", ".join(
            f"{NOUNS[r.kind]} (version {r.latest.document.version}, {_when(r.latest.signed_at)})"
            for r in gating
        )
        return GateResult(KEY, LABEL, Status.PASS, f"Agreed: {agreed}.", "client", url)

    sentences, needs = [], []
    for requirement in failing:
        noun = NOUNS[requirement.kind]
        state = requirement.state
        if state == State.REFUSED:
            sentences.append(
                f"{_who(requirement, client)} did not agree to the {noun} "
                f"on {_when(requirement.latest.signed_at)}."
            )
        elif state == State.REVOKED:
            sentences.append(
                f"{_who(requirement, client)} withdrew their agreement to the {noun} "
                f"on {_when(requirement.latest.signed_at)}."
            )
        elif state == State.OUTDATED:
            signed = requirement.latest.document.version
            subject = (
                "Signed"
                if requirement.latest.signer == Signature.Signer.CLIENT and not client.is_minor
                else (f"{_who(requirement, client)} signed")
            )
            sentences.append(
                f"{subject} version {signed} of the {noun}; "
                f"version {requirement.document.version} needs a new signature."
            )
        elif state == State.NO_DOCUMENT:
            sentences.append(f"No {noun} is published yet: the practice admin writes one.")
        else:
            needs.append(_needed(requirement, client))
    if needs:
        sentences.append(f"Needs {_join(needs)}.")

    if all(requirement.state == State.NO_DOCUMENT for requirement in failing):
        resolver = "admin"
    elif client.is_minor and any(requirement.kind != Kind.ASSENT for requirement in failing):
        resolver = "guardian"
    else:
        resolver = "client"
    return GateResult(KEY, LABEL, Status.FAIL, " ".join(sentences), resolver, url)
