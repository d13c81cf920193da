"""Whether a provider's release lets a letter go to them: the one rule both making and sending a
letter obey (docs/letters.md). A release counts while its latest decision, by someone who may
sign for the client now, is an agreement to a version that still counts, unexpired, and it
covers what it names: a letter whose categories are not all named is refused."""

from dataclasses import dataclass

from django.utils import timezone

from kapflow.clients.models import OutsideProvider
from kapflow.consent.categories import describe
from kapflow.consent.models import Kind, Signature
from kapflow.consent.selectors import State, consent_status


@dataclass(frozen=True)
class ReleaseStanding:
    release: Signature | None  # the agreement the letter would go under, when there is one
    refusal: str  # why the letter may not go; empty when it may

    @property
    def allows(self) -> bool:
        return not self.refusal


_WHY = {
    State.MISSING: "has no signed release of information",
    State.NO_DOCUMENT: "cannot sign a release: no release document is published",
    State.REFUSED: "declined to sign the release of information",
    State.REVOKED: "revoked the release of information",
    State.EXPIRED: "has a release of information that has expired",
    State.OUTDATED: "signed a version of the release that no longer counts",
}


def release_standing(provider: OutsideProvider, categories) -> ReleaseStanding:
    """Whether a letter carrying `categories` may go to `provider` today, read afresh from the
    client's decisions (not from the provider's mirrored status), and the release it goes under."""
    requirement = consent_status(provider.client).get(Kind.RELEASE, provider)
    if requirement is None:
        return ReleaseStanding(None, f"{provider.name} is no longer among the client's providers.")
    if requirement.state != State.AGREED:
        return ReleaseStanding(None, f"The client {_WHY[requirement.state]} for {provider.name}.")
    release = requirement.latest
    missing = [category for category in categories if category not in release.categories]
    if missing:
        return ReleaseStanding(
            release,
            f"The release for {provider.name} does not cover: {'; '.join(describe(missing))}.",
        )
    if release.release_expires_on and release.release_expires_on < timezone.localdate():
        return ReleaseStanding(None, f"The client {_WHY[State.EXPIRED]} for {provider.name}.")
    return ReleaseStanding(release, "")
