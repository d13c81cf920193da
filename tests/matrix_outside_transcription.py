"""The outside prescriber's documents transcribed (docs/outside-prescriber.md) in the access
matrix (tests/test_access_matrix.py): the clearance letter and prescription forms are for the
client's clinicians (a therapist or prescriber on the care team: 403 for other roles, 404 outside
their care), and so is recording the outside prescriber's telephone acknowledgement on the
runbook (any staff role may ask, as for every runbook write; only the client's clinicians are
answered). The runbook's visits come from tests/matrix_dosing.py's build.

Revoking a clearance and discontinuing an order (tests/matrix_medical.py's lines) are for the
client's clinicians too, since one transcribed from an outside document may be withdrawn by a
therapist; a staff prescriber's (the matrix's records are Priya's) stays the prescriber's:
`withdraw_page`."""

from tests.access_rules import CLIENT_RULES, FORBIDDEN, LOGIN, MISSING, OK, clinical_page, clinician_page
from tests.matrix_dosing import _visit


def withdraw_page(role, target):
    """Revoking a staff prescriber's clearance, discontinuing their order: staff with no clinical
    role are refused outright, a clinician outside the client's care gets 404, and on the care
    team the prescriber may and the therapist is refused (403)."""
    if role == "anon":
        return LOGIN
    if role not in ("tess", "colin", "priya"):
        return FORBIDDEN
    on_team = {"avery": {"tess", "priya"}, "olive": {"colin"}}[target]
    if role not in on_team:
        return MISSING
    return OK if role == "priya" else FORBIDDEN


CLIENT_RULES.add(withdraw_page)


def _client(world, client):
    return {"client_id": client.pk}


MATRIX = {
    "medical:clearance_transcribe": ("get", clinician_page, _client),
    "medical:order_transcribe": ("get", clinician_page, _client),
    "dosing:acknowledge_phone": ("post", clinical_page, _visit),
}


def build(world):
    """Nothing of its own: the forms open empty, and the runbook is matrix_dosing's."""
