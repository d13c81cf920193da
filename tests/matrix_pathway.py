"""The pathway's URLs in the access matrix (tests/test_access_matrix.py)."""

from kapflow.pathway.models import Consultation, GateOverride, PreparationSession
from tests.access_rules import clinical_page, clinician_page, prescriber_page


def _client(world, client):
    return {"client_id": client.pk}


MATRIX = {
    "pathway:overview": ("get", clinical_page, _client),
    "pathway:consultation_new": ("get", clinician_page, _client),
    "pathway:consultation_detail": (
        "get",
        clinical_page,
        lambda w, c: {"client_id": c.pk, "consultation_id": w["consultations"][c.pk].pk},
    ),
    "pathway:preparation_new": ("get", clinician_page, _client),
    "pathway:preparation_detail": (
        "get",
        clinical_page,
        lambda w, c: {"client_id": c.pk, "session_id": w["preparations"][c.pk].pk},
    ),
    "pathway:plan": ("get", clinician_page, _client),
    "pathway:override_new": ("get", prescriber_page, lambda w, c: {"client_id": c.pk, "gate": "clearance"}),
    "pathway:override_withdraw": (
        "post",
        prescriber_page,
        lambda w, c: {"client_id": c.pk, "override_id": w["overrides"][c.pk].pk},
    ),
}


def build(world):
    world["consultations"], world["preparations"], world["overrides"] = {}, {}, {}
    for name, clinician in (("avery", world["tess"]), ("olive", world["colin"])):
        client = world[name]
        world["consultations"][client.pk] = Consultation.objects.create(
            client=client,
            clinician=clinician,
            why_kap="w",
            history="h",
            previous_treatment="p",
            supports="s",
            expectations="e",
            goals="g",
            decision="proceed",
        )
        world["preparations"][client.pk] = PreparationSession.objects.create(
            client=client, clinician=clinician, topics=["fears"], intentions="i"
        )
        world["overrides"][client.pk] = GateOverride.objects.create(
            client=client, gate="screening", prescriber=world["priya"], reason="Reviewed by phone."
        )
