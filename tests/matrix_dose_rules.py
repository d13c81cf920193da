"""The runbook's "prescriber on site" record (intranasal esketamine needs one) in the access
matrix (tests/test_access_matrix.py): a clinical page, for the client's clinicians only, like
the runbook's other entries. The runbook visits come from tests/matrix_dosing.py."""

from tests.access_rules import clinical_page


def _visit(world, client):
    return {"client_id": client.pk, "visit_id": world["runbook_visits"][client.pk].pk}


MATRIX = {
    "dosing:prescriber_on_site": ("post", clinical_page, _visit),
}


def build(world):
    """Nothing of its own: the visits tests/matrix_dosing.py built are enough."""
