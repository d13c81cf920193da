"""The portal's lines in the access matrix (tests/test_access_matrix.py).

Portal pages follow docs/access.md for clients and guardians: Cleo opens
Avery's portal (her own record); Gail is recorded as Avery's guardian, but Avery is an adult, so
Gail gets 404; staff are refused outright. The staff side (inviting, the progress switch) lives
on the client's chart."""

import datetime

from django.utils import timezone

from kapflow.visits.models import Room, Visit
from tests.access_rules import (
    CLIENT_RULES,
    FORBIDDEN,
    LOGIN,
    MISSING,
    OK,
    STAFF,
    client_page,
    portal_own_page,
    portal_page,
    public_page,
)

_PORTAL_FRONT = {}


def portal_front(role, target):
    """/portal/: a person with one record is sent to it (Cleo to Avery's portal); a guardian
    whose only guardianship is of an adult sees an empty list; staff are refused."""
    if role == "anon":
        return LOGIN
    if role in STAFF:
        return FORBIDDEN
    if role == "cleo":
        return f"redirect:/portal/{_PORTAL_FRONT['avery']}/"
    return OK


def therapist_page(role, target):
    """A decision for the client's therapist alone (showing progress on the portal): other
    roles are refused outright, a therapist outside the client's care gets 404."""
    if role == "anon":
        return LOGIN
    if role not in ("tess", "colin"):
        return FORBIDDEN
    on_team = {"avery": {"tess"}, "olive": {"colin"}}[target]
    return OK if role in on_team else MISSING


CLIENT_RULES.add(therapist_page)


def _client(w, c):
    return {"client_id": c.pk}


MATRIX = {
    "portal:home": ("get", portal_front, None),
    "portal:accept": ("get", public_page, lambda w, c: {"token": "no-such-invitation-token-at-all-1234"}),
    "portal:access_ended": ("get", public_page, None),
    "portal:client_home": ("get", portal_page, _client),
    "portal:todo": ("get", portal_page, _client),
    "portal:visit_ics": (
        "get",
        portal_page,
        lambda w, c: {"client_id": c.pk, "visit_id": w["portal_visits"][c.pk].pk},
    ),
    "portal:preparation": ("get", portal_page, _client),
    "portal:day_of": ("get", portal_page, _client),
    "portal:guide": ("get", portal_page, lambda w, c: {"client_id": c.pk, "topic": "the-session"}),
    "portal:consents": ("get", portal_page, _client),
    "portal:consent_sign": ("get", portal_page, lambda w, c: {"client_id": c.pk, "kind": "kap"}),
    "portal:progress": ("get", portal_own_page, _client),
    "portal_staff:invite": ("post", client_page, _client),
    "portal_staff:end_access": ("post", client_page, _client),
    "portal_staff:progress": ("post", therapist_page, _client),
}


def build(world):
    _PORTAL_FRONT["avery"] = world["avery"].pk
    world["avery"].portal_shows_progress = True
    world["avery"].save(update_fields=["portal_shows_progress"])
    room = Room.objects.get_or_create(name="Matrix Room")[0]
    start = timezone.now() + datetime.timedelta(days=3)
    world["portal_visits"] = {}
    for name, clinician in (("avery", world["tess"]), ("olive", world["colin"])):
        world["portal_visits"][world[name].pk] = Visit.objects.create(
            client=world[name],
            kind=Visit.Kind.PREPARATION,
            starts_at=start,
            ends_at=start + datetime.timedelta(hours=1),
            room=room,
            clinician=clinician,
            created_by=clinician,
        )
