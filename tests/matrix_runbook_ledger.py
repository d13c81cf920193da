"""The runbook's waste of a dose from a lot (docs/runbook-ledger.md) in the access matrix
(tests/test_access_matrix.py): a clinical page, for the client's clinicians only."""

from tests.access_rules import clinical_page


def _visit(world, client):
    return {"client_id": client.pk, "visit_id": world["runbook_visits"][client.pk].pk}


MATRIX = {
    "dosing:waste": ("post", clinical_page, _visit),
}


def build(world):
    """Nothing of its own: tests/matrix_dosing.py builds the runbook visits."""
