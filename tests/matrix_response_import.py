"""Importing a questionnaire response from another system (docs/import.md) in the access matrix
(tests/test_access_matrix.py). Its answers become the client's measures, clinical content: only
the client's own clinicians open the import and import (coordinators and an admin who is not on
the care team get 404, as for a client outside their care; portal accounts 403)."""

from tests.access_rules import clinical_page


def _client(world, client):
    return {"client_id": client.pk}


MATRIX = {
    "records_import:start": ("get", clinical_page, _client),
    # Sent empty, the confirmation answers with the first step again and its problem.
    "records_import:confirm": ("post", clinical_page, _client),
}


def build(world):
    pass
