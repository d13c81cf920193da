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
    "fills:void": ("post", fills_write, lambda w, c: {"client_id": c.pk, "fill_id": w["fills"][c.pk].pk}),
    "dosing:supply_count": ("post", clinical_page, _visit),
}


def build(world):
    """A fill for each client, to mark entered in error (the runbook visits are
    tests/matrix_dosing.py's)."""
    import datetime

    from django.utils import timezone

    from kapflow.controlled.models import PharmacyFill
    from kapflow.medical.models import MedicationOrder

    world["fills"] = {}
    for client in (world["avery"], world["olive"]):
        order = MedicationOrder.objects.create(
            client=client,
            prescriber=world["priya"],
            drug="ketamine",
            route="sublingual",
            dose_min=100,
            dose_max=200,
            sessions_authorised=4,
            starts_on=timezone.localdate() - datetime.timedelta(days=5),
            ends_on=timezone.localdate() + datetime.timedelta(days=60),
        )
        world["fills"][client.pk] = PharmacyFill.objects.create(
            order=order,
            client=client,
            pharmacy="Matrix Pharmacy",
            form="troche",
            strength_mg=100,
            quantity=10,
            filled_on=timezone.localdate() - datetime.timedelta(days=2),
            recorded_by=world["priya"],
        )
