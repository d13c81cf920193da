"""A client's enrolment in the Spravato REMS (docs/spravato-rems.md): recorded once from the
signed enrolment form (the client and a prescriber sign it before the first dose), never edited;
a later enrolment is one more row, and the latest dated on or before a day is the one in force.
Checked before every intranasal esketamine dose (kapflow.medical.routes, `rems_enrolled`)."""

import datetime
import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.access import writes_for
from kapflow.clients.models import Client
from kapflow.clients.selectors import prescribers_for
from kapflow.controlled.models import RemsEnrolment

# A patient's REMS ID as the REMS prints it: letters, digits and dashes (docs/spravato-rems.md).
REMS_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


class EnrolmentRefused(Exception):
    def __init__(self, *problems: str):
        super().__init__(" ".join(problems))
        self.problems = list(problems)


def enrolments_of(client) -> list[RemsEnrolment]:
    """Every enrolment recorded for the client, latest first. One query."""
    return list(
        RemsEnrolment.objects.filter(client=client)
        .select_related("prescriber", "document", "recorded_by")
        .order_by("-enrolled_on", "-pk")
    )


def enrolment_problems(
    *, client, prescriber, enrolled_on: datetime.date, patient_rems_id: str, document, today: datetime.date
) -> list[str]:
    """What is wrong with an enrolment as entered, in words; empty when nothing is. Pure but for
    the prescriber check (one query)."""
    problems = []
    if not prescribers_for(client.pk).filter(pk=prescriber.pk).exists():
        problems.append(
            f"{prescriber.full_name} is not a prescriber who can enrol this client (an active prescriber "
            "of the practice, or an outside prescriber on the client's care team)."
        )
    if enrolled_on > today:
        problems.append("The enrolment date is in the future: enter the day the form was signed.")
    if enrolled_on < client.date_of_birth:
        problems.append("The enrolment date is before the client's date of birth: check the date.")
    if not patient_rems_id or not REMS_ID.match(patient_rems_id):
        problems.append("Enter the patient's REMS ID as the REMS gave it: letters, digits and dashes.")
    if document is not None and document.client_id != client.pk:
        problems.append("That document is not filed on this client's chart.")
    return problems


def enrolment_record(
    *,
    actor,
    client,
    prescriber,
    enrolled_on: datetime.date,
    patient_rems_id: str,
    document=None,
    request=None,
) -> RemsEnrolment:
    """Record the client's enrolment in the Spravato REMS, from the form the client and
    `prescriber` signed. By a therapist or prescriber who writes this client's records
    (kapflow.clients.access.writes_for); audited."""
    if not writes_for(actor, client.pk):
        raise EnrolmentRefused(
            "The enrolment is recorded by a therapist or prescriber on the client's care team."
        )
    patient_rems_id = (patient_rems_id or "").strip()
    problems = enrolment_problems(
        client=client,
        prescriber=prescriber,
        enrolled_on=enrolled_on,
        patient_rems_id=patient_rems_id,
        document=document,
        today=timezone.localdate(),
    )
    if problems:
        raise EnrolmentRefused(*problems)
    enrolment = RemsEnrolment(
        client=client,
        prescriber=prescriber,
        enrolled_on=enrolled_on,
        patient_rems_id=patient_rems_id,
        document=document,
        recorded_by=actor,
    )
    try:
        enrolment.full_clean()
    except ValidationError as error:
        raise EnrolmentRefused(*[" ".join(errors) for errors in error.message_dict.values()]) from None
    with transaction.atomic():
        # The client's row, locked: the same form sent twice (a double click, a connection that
        # dropped after the save) finds the enrolment the first sending saved.
        Client.objects.select_for_update(no_key=True).filter(pk=client.pk).values_list("pk").get()
        same = RemsEnrolment.objects.filter(
            client=client, prescriber=prescriber, enrolled_on=enrolled_on, patient_rems_id=patient_rems_id
        ).first()
        if same is not None:
            return same
        enrolment.save()
        audit_record(
            request=request,
            actor=actor,
            action="kapflow.controlled.rems_enrolment.recorded",
            client=client,
            obj=enrolment,
            detail={"prescriber": prescriber.pk, "document": bool(document)},
        )
    return enrolment
