"""The runbook's "emergency services called" action (kapflow.dosing.views.emergency) in the access
matrix (tests/test_access_matrix.py): only the client's clinicians; everyone else 404 (staff) or
403 (portal accounts), and the read audited. The runbook visits are built by
tests/matrix_dosing.py."""

from tests.access_rules import clinical_page


def _visit(world, client):
    return {"client_id": client.pk, "visit_id": world["runbook_visits"][client.pk].pk}


MATRIX = {
    "dosing:emergency": ("post", clinical_page, _visit),
}


def build(world):
    """Nothing of its own: the runbook visits of tests/matrix_dosing.py are enough."""
