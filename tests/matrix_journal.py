"""The journal's pages in the access matrix (tests/test_access_matrix.py). The portal pages are
the client's alone (portal_own_page: Gail, named as Avery's guardian, gets 404); the staff page
shows shared entries to the client's therapists only."""

from kapflow.journal.models import JournalEntry
from tests.access_rules import CLIENT_RULES, FORBIDDEN, LOGIN, MISSING, OK, portal_own_page


def journal_therapist_page(role, target):
    """The entries a client shared: their therapists only (docs/clinical.md). Prescribers,
    coordinators, the admin and portal users are refused outright (none is a therapist); a
    therapist who is not on the client's care team gets 404, as for any client outside their care."""
    if role == "anon":
        return LOGIN
    if role not in ("tess", "colin"):
        return FORBIDDEN
    therapists = {"avery": {"tess"}, "olive": {"colin"}}[target]
    return OK if role in therapists else MISSING


CLIENT_RULES.add(journal_therapist_page)


def _client(world, client):
    return {"client_id": client.pk}


def _entry(world, client):
    return {"client_id": client.pk, "entry_id": world["journal_entries"][client.pk].pk}


MATRIX = {
    "journal:list": ("get", journal_therapist_page, _client),
    "portal_journal:list": ("get", portal_own_page, _client),
    "portal_journal:new": ("get", portal_own_page, _client),
    "portal_journal:draft": ("post", portal_own_page, _client),
    "portal_journal:entry": ("get", portal_own_page, _entry),
    "portal_journal:share": ("post", portal_own_page, _entry),
    "portal_journal:unshare": ("post", portal_own_page, _entry),
    "portal_journal:discard": ("post", portal_own_page, _entry),
}


def build(world):
    from django.utils import timezone

    world["journal_entries"] = {}
    for name in ("avery", "olive"):
        now = timezone.now()
        world["journal_entries"][world[name].pk] = JournalEntry.objects.create(
            client=world[name], body="The light on the water stayed with me.", written_at=now, updated_at=now
        )
