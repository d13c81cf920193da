"""The Spravato REMS pages in the access matrix (tests/test_access_matrix.py; docs/spravato-rems.md):
the runbook's REMS answers and the form's PDF are clinical pages (the client's clinicians); the
enrolment is recorded by the client's therapists and prescribers; the practice's list of forms to
submit, and the submission, belong to prescribers and practice admins (an invited outside
prescriber is refused: the setting files the form)."""

import datetime
from decimal import Decimal

from django.utils import timezone

from kapflow.dosing.models import Administration, RemsReport, Runbook
from kapflow.medical.models import MedicationOrder
from kapflow.visits.models import Room, Visit
from tests.access_rules import FORBIDDEN, LOGIN, OK, clinical_page, clinician_page


def rems_list_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "priya") else FORBIDDEN


def _visit(world, client):
    return {"client_id": client.pk, "visit_id": world["rems_visits"][client.pk].pk}


MATRIX = {
    "dosing:rems": ("post", clinical_page, _visit),
    "dosing:rems_pdf": ("get", clinical_page, _visit),
    "rems_enrolment:enrolment": ("get", clinician_page, lambda w, c: {"client_id": c.pk}),
    "rems:list": ("get", rems_list_page, None),
    "rems:submit": ("post", rems_list_page, lambda w, c: {"report_id": w["rems_reports"][w["avery"].pk].pk}),
}


def build(world):
    """A signed esketamine session for each client, with its REMS answers not yet submitted."""
    world["rems_visits"], world["rems_reports"] = {}, {}
    room = Room.objects.create(name="Matrix Spravato room", rems_certified=True, rems_setting_id="SET-M")
    start = timezone.now() - datetime.timedelta(days=2)
    for name, clinician in (("avery", world["tess"]), ("olive", world["colin"])):
        client = world[name]
        visit = Visit.objects.create(
            client=client,
            kind=Visit.Kind.MEDICATION,
            modality=Visit.Modality.IN_PERSON,
            room=room,
            starts_at=start,
            ends_at=start + datetime.timedelta(minutes=150),
            clinician=clinician,
            created_by=world["cora"],
            status=Visit.Status.COMPLETED,
        )
        order = MedicationOrder.objects.create(
            client=client,
            prescriber=world["priya"],
            drug="esketamine",
            route="intranasal",
            unit="mg",
            dose_min=Decimal(56),
            dose_max=Decimal(84),
            boosters_allowed=0,
            sessions_authorised=6,
            starts_on=start.date() - datetime.timedelta(days=10),
            ends_on=start.date() + datetime.timedelta(days=80),
        )
        runbook = Runbook.objects.create(visit=visit)
        Administration.objects.create(
            runbook=runbook,
            order=order,
            given_at=start,
            route="intranasal",
            dose_mg=Decimal(56),
            lot_number="LOT-M",
            given_by=clinician,
            recorded_by=clinician,
        )
        world["rems_reports"][client.pk] = RemsReport.objects.create(runbook=runbook, answered_by=clinician)
        runbook.discharged_at = start + datetime.timedelta(minutes=125)
        runbook.discharged_by = clinician
        runbook.signed_at = start + datetime.timedelta(minutes=130)
        runbook.signed_by = clinician
        runbook.save()
        world["rems_visits"][client.pk] = visit
