"""Reads for the portal's pages and for the portal card on the staff chart. Each answers in a
constant number of queries."""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from kapflow.clients.models import Client, Guardian
from kapflow.portal.models import PortalInvitation
from kapflow.visits.models import Visit

# What the portal shows of a visit that has not happened yet.
UPCOMING_STATUSES = (Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN, Visit.Status.IN_PROGRESS)
UPCOMING_SHOWN = 12


def upcoming_visits(client: Client, *, now: datetime.datetime | None = None) -> list[Visit]:
    """The client's coming appointments (not cancelled, not over), soonest first, with the
    clinician and room: one query."""
    now = now or timezone.now()
    return list(
        Visit.objects.filter(client=client, status__in=UPCOMING_STATUSES, ends_at__gt=now)
        .select_related("clinician", "room")
        .order_by("starts_at", "pk")[:UPCOMING_SHOWN]
    )


def portal_visit(client: Client, visit_id) -> Visit | None:
    """One of the client's appointments that is not cancelled (for its calendar file)."""
    try:
        pk = int(visit_id)
    except (TypeError, ValueError, OverflowError):
        return None
    if not 0 < pk < 2**63:
        return None
    return Visit.objects.live().filter(client=client, pk=pk).select_related("clinician", "room").first()


def day_of_session(visits: list[Visit], *, today: datetime.date | None = None) -> Visit | None:
    """The medication session the day-of instructions are about: one today or tomorrow."""
    today = today or timezone.localdate()
    for visit in visits:
        if visit.is_medication and timezone.localdate(visit.starts_at) in (
            today,
            today + datetime.timedelta(days=1),
        ):
            return visit
    return None


def next_medication_session(visits: list[Visit]) -> Visit | None:
    return next((visit for visit in visits if visit.is_medication), None)


# The chart's portal card ------------------------------------------------------------------------


@dataclass
class PortalStanding:
    """Where one person stands with the portal: not invited, invited (until when), active."""

    name: str
    email: str
    guardian: Guardian | None
    active: bool
    invitation: PortalInvitation | None  # the latest one
    active_since: datetime.datetime | None = None  # when the accepted invitation was used

    @property
    def key(self) -> str:
        return f"guardian:{self.guardian.pk}" if self.guardian else "client"

    @property
    def state(self) -> str:
        if self.active:
            return "active"
        if self.invitation is None:
            return "not_invited"
        return self.invitation.state()


def portal_standings(client: Client) -> list[PortalStanding]:
    """The client's portal standing and, for a minor, each guardian's: one query for the
    invitations (the guardians come prefetched with the chart)."""
    latest: dict[int | None, PortalInvitation] = {}
    accepted: dict[int | None, datetime.datetime] = {}
    for invitation in PortalInvitation.objects.filter(client=client).order_by("-created_at", "-pk"):
        latest.setdefault(invitation.guardian_id, invitation)
        if invitation.accepted_at:
            accepted.setdefault(invitation.guardian_id, invitation.accepted_at)
    standings = [
        PortalStanding(
            name=client.preferred_name or client.first_name,
            email=client.email,
            guardian=None,
            active=client.portal_user_id is not None,
            invitation=latest.get(None),
            active_since=accepted.get(None),
        )
    ]
    if client.is_minor:
        standings += [
            PortalStanding(
                name=guardian.name,
                email=guardian.email,
                guardian=guardian,
                active=guardian.portal_user_id is not None,
                invitation=latest.get(guardian.pk),
                active_since=accepted.get(guardian.pk),
            )
            for guardian in client.guardians.all()
        ]
    return standings
