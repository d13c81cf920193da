"""The visits' and calendars' URLs in the access matrix (tests/test_access_matrix.py)."""

import datetime

from django.utils import timezone

from kapflow.visits.models import CalendarFeed, Room, Visit
from tests.access_rules import (
    FORBIDDEN,
    LOGIN,
    OK,
    admin_page,
    client_page,
    clinician_page,
    staff_page,
)


def clinician_only_page(role, target):
    """A clinician's own settings (the calendar feed): any therapist or prescriber."""
    if role == "anon":
        return LOGIN
    return OK if role in ("tess", "colin", "priya") else FORBIDDEN


def feed_page(role, target):
    """The iCalendar feed: no sign-in, the secret address is the key."""
    return OK


def _client(world, client):
    return {"client_id": client.pk}


def _visit(world, client):
    return {"client_id": client.pk, "visit_id": world["visits"][client.pk].pk}


MATRIX = {
    "visits:list": ("get", client_page, _client),
    "visits:new": ("get", client_page, _client),
    "visits:series": ("get", client_page, _client),
    "visits:detail": ("get", client_page, _visit),
    "visits:reschedule": ("get", client_page, _visit),
    "visits:check_in": ("post", client_page, _visit),
    "visits:start": ("post", clinician_page, _visit),
    "visits:complete": ("post", clinician_page, _visit),
    "visits:no_show": ("post", client_page, _visit),
    "visits:cancel": ("post", client_page, _visit),
    "calendar:week": ("get", staff_page, None),
    "calendar:day": ("get", staff_page, None),
    "calendar:month": ("get", staff_page, None),
    # The readiness badges of the sessions a calendar or the dashboard shows: any staff may ask;
    # only sessions of clients in the asker's clinical care are answered
    # (tests/test_calendar_views.py).
    "calendar:badges": ("get", staff_page, None),
    "calendar:feed_settings": ("get", clinician_only_page, None),
    "calendar:feed_create": ("post", clinician_only_page, None),
    "calendar:feed_revoke": ("post", clinician_only_page, None),
    "calendar:feed": ("get", feed_page, lambda w, c: {"token": w["feed"].token}),
    "calendar:rooms": ("get", admin_page, None),
    "calendar:room_toggle": ("post", admin_page, lambda w, c: {"room_id": w["room"].pk}),
}


def build(world):
    world["room"] = Room.objects.create(name="Room 1")
    world["visits"] = {}
    start = timezone.now() + datetime.timedelta(days=2)
    for offset, (name, clinician) in enumerate((("avery", world["tess"]), ("olive", world["colin"]))):
        client = world[name]
        at = start + datetime.timedelta(hours=3 * offset)
        world["visits"][client.pk] = Visit.objects.create(
            client=client,
            kind=Visit.Kind.MEDICATION,
            starts_at=at,
            ends_at=at + datetime.timedelta(minutes=150),
            room=world["room"],
            clinician=clinician,
            created_by=world["cora"],
        )
    world["feed"] = CalendarFeed.objects.create(user=world["tess"], token="matrix-token")
