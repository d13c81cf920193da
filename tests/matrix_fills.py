"""Client-held medicine in the access matrix (tests/test_access_matrix.py): the client's
pharmacy fills (kapflow.controlled.fill_views) and the runbook's count (dosing:supply_count).

The fills page is read by the client's clinicians and the practice's admin; a fill is recorded
by a prescriber of the practice on the care team or the admin (docs/client-held-medicine.md,
"Who"). A coordinator and the portal are refused outright; a clinician outside the client's
care gets 404, as does the invited outside prescriber (not one of their pages)."""

from tests.access_rules import CLIENT_RULES, FORBIDDEN, LOGIN, MISSING, OK, clinical_page

ON_TEAM = {"avery": {"tess", "priya"}, "olive": {"colin"}}


def fills_read(role, target):
    if role == "anon":
        return LOGIN
    if role in ("cleo", "gail", "cora"):
        return FORBIDDEN
    if role == "ada":
        return OK
    return OK if role in ON_TEAM[target] else MISSING


def fills_write(role, target):
    if role == "anon":
        return LOGIN
    if role == "ada":
        return OK
    if role != "priya":
        return FORBIDDEN
    return OK if role in ON_TEAM[target] else MISSING


CLIENT_RULES.add(fills_read)
CLIENT_RULES.add(fills_write)


def _client(world, client):
    return {"client_id": client.pk}


def _visit(world, client):
    return {"client_id": client.pk, "visit_id": world["runbook_visits"][client.pk].pk}


MATRIX = {
    "fills:list": ("get", fills_read, _client),
    "fills:new": ("post", fills_write, _client),
    "dosing:supply_count": ("post", clinical_page, _visit),
}


def build(world):
    """Nothing more: the runbook visits are tests/matrix_dosing.py's."""
