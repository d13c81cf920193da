"""The outside prescriber's documents transcribed (docs/outside-prescriber.md) in the access
matrix (tests/test_access_matrix.py): the clearance letter and prescription forms are for the
client's clinicians (a therapist or prescriber on the care team: 403 for other roles, 404 outside
their care), and so is recording the outside prescriber's telephone acknowledgement on the
runbook (any staff role may ask, as for every runbook write; only the client's clinicians are
answered). The runbook's visits come from tests/matrix_dosing.py's build."""

from tests.access_rules import clinical_page, clinician_page
from tests.matrix_dosing import _visit


def _client(world, client):
    return {"client_id": client.pk}


MATRIX = {
    "medical:clearance_transcribe": ("get", clinician_page, _client),
    "medical:order_transcribe": ("get", clinician_page, _client),
    "dosing:acknowledge_phone": ("post", clinical_page, _visit),
}


def build(world):
    """Nothing of its own: the forms open empty, and the runbook is matrix_dosing's."""
