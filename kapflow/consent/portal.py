"""The consent side of the portal: what the signed-in person may sign for this client, and the
to-dos it puts on the portal's list (kapflow.portal.todo).

On the portal a person signs only as themselves: the adult client their own consents, a minor
their assent, a guardian with legal authority the guardian consent (and the telehealth consent)
for the minor. A release of information is signed, or withdrawn, by the same person the office
would ask (the adult client; for a minor, a guardian with legal authority), for one of the
client's outside providers already on the chart, with its own page (`portal_releases`)."""

from django.db.models import prefetch_related_objects
from django.urls import reverse
from django.utils import timezone

from kapflow.consent.models import Kind
from kapflow.consent.selectors import Requirement, SignerOption, State, consent_status, signer_options
from kapflow.lib.todo import Todo

# The kinds of document a person may sign on the portal.
PORTAL_KINDS = (Kind.KAP, Kind.GUARDIAN, Kind.ASSENT, Kind.TELEHEALTH)


def portal_signer(client, kind: str, user) -> SignerOption | None:
    """The signer option that is this user, if they may sign `kind` for this client."""
    if kind not in PORTAL_KINDS:
        return None
    return _signer_among(client, kind, user)


def _signer_among(client, kind: str, user) -> SignerOption | None:
    for option in signer_options(client, kind):
        if option.guardian is None and client.portal_user_id == user.pk:
            return option
        if option.guardian is not None and option.guardian.portal_user_id == user.pk:
            return option
    return None


def _has_upcoming_virtual_session(client) -> bool:
    from kapflow.visits.models import Visit

    return (
        Visit.objects.live()
        .filter(client=client, modality=Visit.Modality.VIRTUAL, ends_at__gt=timezone.now())
        .exists()
    )


def people_read(client):
    """`client` with its guardians and outside providers read once, for a page that asks who may
    sign each of several documents (signer_options, consent_status and portal_signer read them
    for every kind otherwise: six reads of the guardians for one portal page). For pages that
    only show: the views that record a signature do not call it, so that the service checks who
    may sign against the guardians as they are then, not as the page found them."""
    prefetch_related_objects([client], "guardians", "outside_providers")
    return client


def portal_requirements(client, user, *, status=None) -> list[tuple[Requirement, SignerOption | None]]:
    """Every consent the client needs that can be signed on the portal, each with the signer
    option that is this user (None when someone else signs it: the guardian, or the minor).
    `status`: the client's consent_status, when the caller has it."""
    status = consent_status(client) if status is None else status
    return [
        (requirement, portal_signer(client, requirement.kind, user))
        for requirement in status.requirements
        if requirement.kind in PORTAL_KINDS
    ]


def portal_releases(client, user, *, status=None) -> tuple[list[Requirement], SignerOption | None]:
    """The release of each of the client's outside providers, and the signer option that is this
    user (None when someone else signs releases for this client). `status`: as above."""
    status = consent_status(client) if status is None else status
    releases = [requirement for requirement in status.requirements if requirement.kind == Kind.RELEASE]
    return releases, _signer_among(client, Kind.RELEASE, user)


def todos(client, user, *, practice=None) -> list[Todo]:
    """A to-do for each consent this user can sign and that is not in place: missing, out of
    date or withdrawn. The telehealth consent only while a virtual session is booked. A refusal
    is the person's answer and is not asked again here; they can still sign from the consents
    page. A few queries, whatever the history."""
    items = []
    virtual = None
    for requirement, signer in portal_requirements(people_read(client), user):
        if signer is None or requirement.document is None:
            continue
        if requirement.state not in (State.MISSING, State.OUTDATED, State.REVOKED):
            continue
        if requirement.kind == Kind.TELEHEALTH:
            if virtual is None:
                virtual = _has_upcoming_virtual_session(client)
            if not virtual:
                continue
        verb = "Give your assent" if requirement.kind == Kind.ASSENT else "Read and sign"
        items.append(
            Todo(
                kind="consent",
                title=f"{verb}: {requirement.document.title}",
                url=reverse("portal:consent_sign", args=[client.pk, requirement.kind]),
                detail="A newer version needs your signature." if requirement.state == State.OUTDATED else "",
            )
        )
    return items
