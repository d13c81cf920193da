"""The right of access in the access matrix (tests/test_access_matrix.py): the staff page that
answers a written request for a copy of the record is the client's clinicians' (404 for anyone
else with a staff role, as for a client outside their care); the portal's "Your record" page is
the client's, or a minor's guardian's (who reads there how to ask in writing; the download itself
is the client's alone, tested in tests/test_record_access.py)."""

from tests.access_rules import clinical_page, portal_page


def _client(world, client):
    return {"client_id": client.pk}


MATRIX = {
    "records_copy:page": ("get", clinical_page, _client),
    "portal:record": ("get", portal_page, _client),
}


def build(world):
    """Nothing to add: the pages need only the world's clients."""
