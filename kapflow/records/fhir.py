"""A client's whole record as one FHIR R4 Bundle (docs/fhir.md): who they are and who cares for
them, their visits, measures, vital signs, medication orders and doses, consents, the pathway's
records (consultation, screening, clearance, gate overrides, preparation, the course plan's
versions, integration records), diagnoses, each signed session's whole record and its adverse events, and
every signed document, each as the FHIR resource that holds it.

Every resource is checked against its model in fhir.resources' R4B package as it is made (R4B is
FHIR 4.3.0; every resource used here reads the same in R4.0.1): an invalid one is a bug, and
raises. What is never in the bundle: psychotherapy process notes, the client's journal, anything
unsigned, and the audit log. Nothing here audits: the view that hands the bundle out does.

Ids are stable: each resource's id is a UUID made from kapflow's model and primary key (in the
installation's namespace, kapflow.records.codes.namespace), its fullUrl `urn:uuid:<id>`, and
resources refer to one another by fullUrl. The codes are all in kapflow.records.codes."""

import base64
import datetime
import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Model, Prefetch
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from kapflow.accounts.models import User
from kapflow.billing.models import Diagnosis
from kapflow.clients.models import CareTeamMember, Client, EmergencyContact, Guardian, OutsideProvider
from kapflow.consent.categories import Category
from kapflow.consent.models import Kind as ConsentKind
from kapflow.consent.models import Signature
from kapflow.course.models import CourseReview, Discharge
from kapflow.documents.models import ChartDocument
from kapflow.dosing.models import Administration, AdverseEvent, Runbook, VitalsReading
from kapflow.integration.models import IntegrationRecord
from kapflow.letters.models import Letter
from kapflow.letters.pdf import signed_pdf_bytes
from kapflow.measures import instruments
from kapflow.measures.models import Response
from kapflow.medical import doses
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.medical.screening import FINDINGS, medication_class
from kapflow.notes.models import ProgressNote
from kapflow.pathway.models import Consultation, CoursePlan, GateOverride, PreparationSession, Topic
from kapflow.practice.models import Practice
from kapflow.records import codes
from kapflow.visits.models import Visit


class InvalidResource(ValueError):
    """A resource kapflow made does not validate against its FHIR model: a bug in this module."""


# ---------------------------------------------------------------------------------------------
# Ids, references and small values


def resource_id(kind: str, key) -> str:
    """The id of the resource made from kapflow's record `kind` (an app label and model, or a
    name of this module's own) with primary key `key`: the same every time it is exported."""
    return str(uuid.uuid5(codes.namespace(), f"{kind}/{key}"))


def _kind(model: type[Model] | Model) -> str:
    return model._meta.label_lower


def full_url(kind: str, key) -> str:
    return f"urn:uuid:{resource_id(kind, key)}"


def reference(kind: str, key, display: str = "") -> dict:
    found = {"reference": full_url(kind, key)}
    if display:
        found["display"] = display
    return found


def _patient(client_id: int) -> dict:
    return reference(_kind(Client), client_id)


def _user(user_id: int) -> dict:
    return reference(_kind(User), user_id)


def _instant(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _number(value: Decimal | int) -> int | float:
    """A decimal as JSON carries it: a whole number without its ".00"."""
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _quantity(value, unit: tuple[str, str]) -> dict:
    code, shown = unit
    return {"value": _number(value), "unit": shown, "system": codes.UCUM, "code": code}


def _attachment(content: bytes, content_type: str, title: str, created: datetime.datetime | None) -> dict:
    """The content inline, with its size and SHA-1 (FHIR R4's Attachment.hash is a SHA-1)."""
    found = {
        "contentType": content_type,
        "data": base64.b64encode(content).decode("ascii"),
        "size": len(content),
        "hash": base64.b64encode(hashlib.sha1(content).digest()).decode("ascii"),  # noqa: S324
        "title": title,
    }
    if created is not None:
        found["creation"] = _instant(created)
    return found


def _validated(resource: dict) -> dict:
    """The resource, once its FHIR R4B model accepts it."""
    model = get_fhir_model_class(resource["resourceType"])
    try:
        model.model_validate(resource)
    except ValueError as error:
        raise InvalidResource(f"{resource['resourceType']} {resource.get('id')}: {error}") from error
    return resource


def _resource(resource_type: str, kind: str, key, **fields) -> dict:
    return {"resourceType": resource_type, "id": resource_id(kind, key), **fields}


def _telecom(phone: str = "", email: str = "", preferred: str = "") -> list[dict]:
    found = []
    if phone:
        found.append({"system": "phone", "value": phone})
    if email:
        found.append({"system": "email", "value": email})
    for point in found:
        if point["system"] == preferred:
            point["rank"] = 1
    return found


# ---------------------------------------------------------------------------------------------
# The instruments and one response (also used on its own by the questionnaire import)


def questionnaire(instrument: instruments.Instrument) -> dict:
    """The instrument as a validated Questionnaire (see _questionnaire)."""
    return _validated(_questionnaire(instrument))


def _questionnaire(instrument: instruments.Instrument) -> dict:
    """The instrument as a Questionnaire: each item with its code and answer options (with each
    option's score as its ordinal value), then the total score as a read-only item."""
    items = [
        {
            "linkId": item.key,
            "code": [codes.instrument_item(instrument, item)],
            "text": item.text,
            "type": "choice",
            "required": True,
            "answerOption": [
                {
                    "extension": [{"url": codes.ORDINAL_VALUE, "valueDecimal": option.value}],
                    "valueCoding": codes.instrument_answer(instrument, option),
                }
                for option in instrument.options
            ],
        }
        for item in instrument.items
    ]
    items.append(
        {
            "linkId": codes.TOTAL,
            "code": [codes.instrument_total(instrument)],
            "text": "Total score",
            "type": "integer",
            "readOnly": True,
        }
    )
    panel = codes.instrument_panel(instrument)
    return _resource(
        "Questionnaire",
        "measures.instrument",
        instrument.key,
        url=codes.questionnaire_url(instrument.key),
        version=instrument.version,
        name=instrument.name.replace("-", ""),
        title=instrument.name,
        status="active",
        description=instrument.stem,
        **({"code": [panel]} if panel else {}),
        item=items,
    )


def questionnaire_response(response: Response) -> dict:
    """One measures.Response as a validated QuestionnaireResponse (see _questionnaire_response):
    what the bundle holds for it, and what the questionnaire import reads back."""
    return _validated(_questionnaire_response(response))


def _questionnaire_response(response: Response) -> dict:
    """One measures.Response as a QuestionnaireResponse: each answered item as its answer's code,
    then the total. The author is the staff member who entered it, or the client. Reads nothing
    from the database."""
    instrument = response.definition
    by_value = {option.value: option for option in instrument.options}
    items = []
    for item in instrument.items:
        value = response.answers.get(item.key)
        if value is None:
            continue
        items.append(
            {
                "linkId": item.key,
                "text": item.text,
                "answer": [{"valueCoding": codes.instrument_answer(instrument, by_value[int(value)])}],
            }
        )
    items.append({"linkId": codes.TOTAL, "text": "Total score", "answer": [{"valueInteger": response.total}]})
    author = _user(response.entered_by_id) if response.entered_by_id else _patient(response.client_id)
    return _resource(
        "QuestionnaireResponse",
        _kind(Response),
        response.pk,
        questionnaire=f"{codes.questionnaire_url(instrument.key)}|{response.version}",
        status="completed",
        subject=_patient(response.client_id),
        authored=_instant(response.completed_at),
        author=author,
        source=_patient(response.client_id),
        item=items,
    )


def _total_observation(response: Response) -> dict:
    instrument = response.definition
    return _resource(
        "Observation",
        "measures.response.total",
        response.pk,
        status="final",
        category=[{"coding": [codes.SURVEY]}],
        code={"coding": [codes.instrument_total(instrument)], "text": f"{instrument.name} total score"},
        subject=_patient(response.client_id),
        effectiveDateTime=_instant(response.completed_at),
        valueInteger=response.total,
        interpretation=[{"text": response.band}],
        derivedFrom=[reference(_kind(Response), response.pk)],
    )


# ---------------------------------------------------------------------------------------------
# Gathering: every record the bundle needs, in a number of queries that does not grow with them


@dataclass
class _Record:
    client: Client
    practice: Practice
    guardians: list[Guardian]
    contacts: list[EmergencyContact]
    providers: list[OutsideProvider]
    care_team: list[CareTeamMember]
    visits: list[Visit]
    other_clinicians: dict[int, list[int]]
    responses: list[Response]
    vitals: list[VitalsReading]
    administrations: list[Administration]
    runbooks: list[Runbook]
    orders: list[MedicationOrder]
    signatures: list[Signature]
    notes: list[ProgressNote]
    reviews: list[CourseReview]
    discharges: list[Discharge]
    letters: list[Letter]
    documents: list[ChartDocument]
    screenings: list[Screening]
    clearances: list[Clearance]
    consultations: list[Consultation]
    preparations: list[PreparationSession]
    plans: list[CoursePlan]
    overrides: list[GateOverride]
    integrations: list[IntegrationRecord]
    diagnoses: list[Diagnosis]
    users: dict[int, User] = field(default_factory=dict)


def _gather(client: Client) -> _Record:
    """Read the client's record: one query for each kind of record (and one for the people they
    name), however many there are. Only signed documents are read; process notes and the
    journal are never read at all."""
    visits = list(Visit.objects.filter(client=client).select_related("room").order_by("starts_at", "pk"))
    other_clinicians = defaultdict(list)
    through = Visit.other_clinicians.through.objects.filter(visit__client=client).order_by("pk")
    for visit_id, user_id in through.values_list("visit_id", "user_id"):
        other_clinicians[visit_id].append(user_id)
    record = _Record(
        client=client,
        practice=Practice.load(),
        guardians=list(client.guardians.order_by("pk")),
        contacts=list(client.emergency_contacts.order_by("pk")),
        providers=list(client.outside_providers.order_by("pk")),
        care_team=list(client.care_team.order_by("pk")),
        visits=visits,
        other_clinicians=other_clinicians,
        responses=list(Response.objects.filter(client=client).order_by("completed_at", "pk")),
        vitals=list(VitalsReading.objects.filter(runbook__visit__client=client).order_by("taken_at", "pk")),
        administrations=list(
            Administration.objects.filter(runbook__visit__client=client)
            .select_related("lot")
            .order_by("given_at", "pk")
        ),
        runbooks=list(
            Runbook.objects.filter(visit__client=client, signed_at__isnull=False)
            .select_related("visit", "override_review")
            .prefetch_related(
                "ratings",
                Prefetch("adverse_events", queryset=AdverseEvent.objects.select_related("review")),
                "notes",
                "addenda",
                "prescribers_on_site",
                "checklists",
                "safety_plans",
                "chaperone_checkins",
                "emergency_calls",
                "phase_marks",
                "phone_acknowledgements",
                "visit__intentions",
            )
            .order_by("visit__starts_at", "pk")
        ),
        orders=list(MedicationOrder.objects.filter(client=client).order_by("created_at", "pk")),
        signatures=list(
            Signature.objects.filter(client=client).select_related("document").order_by("signed_at", "pk")
        ),
        notes=list(
            ProgressNote.objects.filter(client=client, signed_at__isnull=False)
            .select_related("visit")
            .prefetch_related("addenda")
            .order_by("signed_at", "pk")
        ),
        reviews=list(
            CourseReview.objects.filter(client=client, decided_at__isnull=False).order_by("held_on", "pk")
        ),
        discharges=list(
            Discharge.objects.filter(client=client, signed_at__isnull=False).order_by("discharged_on", "pk")
        ),
        letters=list(
            Letter.objects.filter(client=client, signed_at__isnull=False).order_by("signed_at", "pk")
        ),
        documents=list(ChartDocument.objects.filter(client=client).order_by("uploaded_at", "pk")),
        screenings=list(Screening.objects.filter(client=client).order_by("completed_at", "pk")),
        clearances=list(
            Clearance.objects.filter(client=client).select_related("screening").order_by("decided_at", "pk")
        ),
        consultations=list(Consultation.objects.filter(client=client).order_by("held_on", "pk")),
        preparations=list(PreparationSession.objects.filter(client=client).order_by("held_on", "pk")),
        plans=list(CoursePlan.objects.filter(client=client).order_by("created_at", "pk")),
        overrides=list(GateOverride.objects.filter(client=client).order_by("created_at", "pk")),
        integrations=list(
            IntegrationRecord.objects.filter(client=client)
            .prefetch_related("action_items")
            .order_by("recorded_at", "pk")
        ),
        # Every diagnosis, ended and entered in error too; the clinicians come with the staff.
        diagnoses=list(Diagnosis.objects.filter(client=client).order_by("diagnosed_on", "pk")),
    )
    record.users = User.objects.in_bulk(_people(record))
    return record


def _people(record: _Record) -> set[int]:
    """The staff every exported record names."""
    ids = {member.user_id for member in record.care_team}
    for visit in record.visits:
        ids.add(visit.clinician_id)
        ids.update(record.other_clinicians.get(visit.pk, ()))
    ids.update(response.entered_by_id for response in record.responses)
    ids.update(reading.recorded_by_id for reading in record.vitals)
    ids.update(dose.given_by_id for dose in record.administrations)
    for order in record.orders:
        ids.update((order.prescriber_id, order.filed_by_id))
    for runbook in record.runbooks:
        ids.update((runbook.signed_by_id, runbook.discharged_by_id))
        ids.update(addendum.author_id for addendum in runbook.addenda.all())
        ids.update(note.author_id for note in runbook.notes.all())
        ids.update(event.recorded_by_id for event in runbook.adverse_events.all())
        ids.update(_review(event).reviewed_by_id for event in runbook.adverse_events.all() if _review(event))
        if _review(runbook, "override_review"):
            ids.add(runbook.override_review.reviewed_by_id)
        for checklist in runbook.checklists.all():
            ids.update((checklist.recorded_by_id, checklist.medications_reviewed_by_id))
        ids.update(plan.recorded_by_id for plan in runbook.safety_plans.all())
        ids.update(checkin.recorded_by_id for checkin in runbook.chaperone_checkins.all())
        ids.update(call.called_by_id for call in runbook.emergency_calls.all())
    for note in record.notes:
        ids.update((note.author_id, note.signed_by_id))
        ids.update(addendum.author_id for addendum in note.addenda.all())
    for review in record.reviews:
        ids.update((review.written_by_id, review.therapist_signed_by_id, review.prescriber_signed_by_id))
    ids.update(discharge.signed_by_id for discharge in record.discharges)
    ids.update(letter.signed_by_id for letter in record.letters)
    ids.update(document.uploaded_by_id for document in record.documents)
    ids.update(screening.entered_by_id for screening in record.screenings)
    for clearance in record.clearances:
        ids.update((clearance.prescriber_id, clearance.revoked_by_id, clearance.filed_by_id))
    ids.update(consultation.clinician_id for consultation in record.consultations)
    ids.update(preparation.clinician_id for preparation in record.preparations)
    ids.update(plan.updated_by_id for plan in record.plans)
    for override in record.overrides:
        ids.update((override.prescriber_id, override.withdrawn_by_id))
    ids.update(integration.clinician_id for integration in record.integrations)
    for diagnosis in record.diagnoses:
        ids.update((diagnosis.diagnosed_by_id, diagnosis.ended_by_id))
    ids.discard(None)
    return ids


# ---------------------------------------------------------------------------------------------
# People and places


def _organization(practice: Practice) -> dict:
    found = {"name": practice.name, "active": True}
    telecom = _telecom(practice.phone, practice.email)
    if telecom:
        found["telecom"] = telecom
    if practice.address:
        found["address"] = [{"text": practice.address}]
    return _resource("Organization", _kind(Practice), practice.pk, **found)


def _patient_resource(client: Client, practice: Practice) -> dict:
    names = [{"use": "official", "family": client.last_name, "given": [client.first_name]}]
    if client.preferred_name and client.preferred_name != client.first_name:
        names.append({"use": "usual", "family": client.last_name, "given": [client.preferred_name]})
    preferred = "email" if client.preferred_contact == "email" else "phone"
    found = {
        "identifier": [{"use": "usual", "system": codes.CLIENT_ID, "value": str(client.pk)}],
        "active": not client.has_left_care,
        "name": names,
        "birthDate": client.date_of_birth.isoformat(),
        "managingOrganization": reference(_kind(Practice), 1),
    }
    if client.sex:
        found["gender"] = client.sex
    else:
        # Not recorded: said so, rather than left to be guessed.
        found["_gender"] = {"extension": [{"url": codes.DATA_ABSENT_REASON, "valueCode": "unknown"}]}
    telecom = _telecom(client.phone, client.email, preferred)
    if telecom:
        found["telecom"] = telecom
    address = {
        key: value
        for key, value in (
            ("line", [client.address_line] if client.address_line else None),
            ("city", client.city),
            ("state", client.region),
            ("postalCode", client.postal_code),
        )
        if value
    }
    if address:
        found["address"] = [{"use": "home", **address}]
    if client.pronouns:
        found["extension"] = [
            {
                "url": codes.PRONOUNS,
                "extension": [{"url": "value", "valueCodeableConcept": {"text": client.pronouns}}],
            }
        ]
    return _resource("Patient", _kind(Client), client.pk, **found)


def _related_person(person: Guardian | EmergencyContact, relationship: dict) -> dict:
    found = {
        "active": True,
        "patient": _patient(person.client_id),
        "relationship": [{"coding": [relationship], "text": person.relationship}],
        "name": [{"text": person.name}],
    }
    telecom = _telecom(person.phone, getattr(person, "email", ""))
    if telecom:
        found["telecom"] = telecom
    return _resource("RelatedPerson", _kind(person), person.pk, **found)


def _staff_practitioner(user: User) -> dict:
    found = {
        "identifier": [{"system": codes.STAFF_ID, "value": str(user.pk)}],
        "active": user.is_active,
        "name": [{"text": user.full_name}],
    }
    if user.npi:
        found["identifier"].append({"system": codes.NPI, "value": user.npi})
    if user.credentials:
        found["qualification"] = [{"code": {"text": user.credentials}}]
    return _resource("Practitioner", _kind(User), user.pk, **found)


def _outside_practitioner(provider: OutsideProvider) -> dict:
    found = {
        "name": [{"text": provider.name}],
        "qualification": [
            {"code": codes.concept(codes.OUTSIDE_PROVIDER_KIND, provider.kind, provider.get_kind_display())}
        ],
    }
    telecom = _telecom(provider.phone, provider.email)
    if telecom:
        found["telecom"] = telecom
    return _resource("Practitioner", _kind(provider), provider.pk, **found)


def _prescriber_key(order: MedicationOrder) -> str:
    return order.outside_npi


def _outside_prescriber(order: MedicationOrder) -> dict:
    """The outside prescriber named on a transcribed prescription, by their NPI."""
    return _resource(
        "Practitioner",
        "medical.outsideprescriber",
        _prescriber_key(order),
        identifier=[{"system": codes.NPI, "value": order.outside_npi}],
        name=[{"text": order.outside_name}],
    )


def _care_team(record: _Record) -> dict:
    participants = [
        {
            "role": [codes.concept(codes.CARE_TEAM_ROLE, member.role, member.get_role_display())],
            "member": _user(member.user_id),
            "period": {"start": _instant(member.added_at)},
        }
        for member in record.care_team
    ]
    for provider in record.providers:
        participant = {
            "role": [codes.concept(codes.OUTSIDE_PROVIDER_KIND, provider.kind, provider.get_kind_display())],
            "member": reference(_kind(provider), provider.pk),
        }
        if provider.organisation:
            participant["onBehalfOf"] = {"display": provider.organisation}
        participants.append(participant)
    found = {
        "status": "inactive" if record.client.has_left_care else "active",
        "name": "Care team",
        "subject": _patient(record.client.pk),
        "managingOrganization": [reference(_kind(Practice), 1)],
    }
    if participants:
        found["participant"] = participants
    return _resource("CareTeam", "clients.careteam", record.client.pk, **found)


# ---------------------------------------------------------------------------------------------
# Visits, vital signs, orders and doses


def _appointment(visit: Visit, others: list[int]) -> dict:
    participants = [
        {"actor": _patient(visit.client_id), "required": "required", "status": "accepted"},
        {"actor": _user(visit.clinician_id), "required": "required", "status": "accepted"},
    ]
    participants += [{"actor": _user(user_id), "status": "accepted"} for user_id in others]
    if visit.room_id:
        participants.append({"actor": {"display": visit.room.name}, "status": "accepted"})
    modality = codes.VIRTUAL if visit.is_virtual else codes.IN_PERSON
    found = {
        "status": codes.APPOINTMENT_STATUS[visit.status],
        "serviceType": [codes.concept(codes.VISIT_KIND, visit.kind, visit.get_kind_display())],
        "appointmentType": {"coding": [modality], "text": visit.get_modality_display()},
        "description": visit.get_kind_display(),
        "start": _instant(visit.starts_at),
        "end": _instant(visit.ends_at),
        "created": _instant(visit.created_at),
        "participant": participants,
    }
    if visit.status == Visit.Status.CANCELLED:
        found["cancelationReason"] = {"text": visit.cancel_reason}
    return _resource("Appointment", _kind(visit), visit.pk, **found)


def _vitals(reading: VitalsReading, client_id: int) -> list[dict]:
    """A reading as the vital-signs Observations FHIR defines: the blood-pressure panel with its
    two components, the heart rate, and the oxygen saturation when it was taken."""
    common = {
        "status": "final",
        "category": [{"coding": [codes.VITAL_SIGNS]}],
        "subject": _patient(client_id),
        "effectiveDateTime": _instant(reading.taken_at),
        "performer": [_user(reading.recorded_by_id)],
        "note": [{"text": reading.get_phase_display()}],
    }
    kind = _kind(reading)
    found = [
        _resource(
            "Observation",
            f"{kind}.bp",
            reading.pk,
            **common,
            code={"coding": [codes.BP_PANEL], "text": "Blood pressure"},
            component=[
                {
                    "code": {"coding": [codes.SYSTOLIC]},
                    "valueQuantity": _quantity(reading.systolic, codes.MM_HG),
                },
                {
                    "code": {"coding": [codes.DIASTOLIC]},
                    "valueQuantity": _quantity(reading.diastolic, codes.MM_HG),
                },
            ],
        ),
        _resource(
            "Observation",
            f"{kind}.hr",
            reading.pk,
            **common,
            code={"coding": [codes.HEART_RATE], "text": "Heart rate"},
            valueQuantity=_quantity(reading.heart_rate, codes.PER_MINUTE),
        ),
    ]
    if reading.spo2 is not None:
        found.append(
            _resource(
                "Observation",
                f"{kind}.spo2",
                reading.pk,
                **common,
                code={"coding": [codes.SPO2, codes.SPO2_PULSE_OXIMETRY], "text": "SpO2"},
                valueQuantity=_quantity(reading.spo2, codes.PERCENT),
            )
        )
    return found


def _order_status(order: MedicationOrder, today: datetime.date) -> str:
    if order.discontinued_at is not None:
        return "stopped"
    if order.ends_on < today:
        return "completed"
    return "active"


def _medication(order: MedicationOrder) -> dict:
    return {"coding": [codes.DRUGS[order.drug]], "text": order.get_drug_display()}


def _medication_request(order: MedicationOrder, today: datetime.date) -> dict:
    unit = codes.MG_PER_KG if order.unit == MedicationOrder.Unit.MG_PER_KG else codes.MG
    text = [f"{order.get_route_display()}, {order.dose_text}"]
    text.append(f"{order.sessions_authorised} medication sessions authorised")
    if order.boosters_allowed:
        text.append(
            f"up to {order.boosters_allowed} booster(s) a session, "
            f"each at most {doses.number(order.booster_max_mg)} mg"
        )
    found = {
        "status": _order_status(order, today),
        "intent": "order",
        "medicationCodeableConcept": _medication(order),
        "subject": _patient(order.client_id),
        "dosageInstruction": [
            {
                "text": "; ".join(text),
                "route": {"coding": [codes.ROUTES[order.route]], "text": order.get_route_display()},
                "doseAndRate": [
                    {
                        "doseRange": {
                            "low": _quantity(order.dose_min, unit),
                            "high": _quantity(order.dose_max, unit),
                        }
                    }
                ],
            }
        ],
        "dispenseRequest": {
            "validityPeriod": {"start": order.starts_on.isoformat(), "end": order.ends_on.isoformat()}
        },
    }
    if order.is_outside:
        found["authoredOn"] = order.prescribed_on.isoformat()
        found["requester"] = reference(
            "medical.outsideprescriber", _prescriber_key(order), order.outside_name
        )
        if order.filed_by_id:
            found["recorder"] = _user(order.filed_by_id)
        if order.document_id:
            found["supportingInformation"] = [reference(_kind(ChartDocument), order.document_id)]
    else:
        found["authoredOn"] = _instant(order.created_at)
        found["requester"] = _user(order.prescriber_id)
    if order.discontinued_at is not None:
        found["statusReason"] = {"text": order.discontinue_reason}
    if order.instructions:
        found["note"] = [{"text": order.instructions}]
    return _resource("MedicationRequest", _kind(order), order.pk, **found)


def _dose_medication(dose: Administration, order: MedicationOrder) -> dict:
    """The medicine a dose was given from: the order's drug, and its lot. A dose from the
    practice's stock (kapflow.controlled) adds the lot's expiry, and its NDC where the product has
    one (docs/fhir.md)."""
    medication = {"resourceType": "Medication", "id": "medication", "code": _medication(order)}
    batch = {"lotNumber": dose.lot_number}
    if dose.lot is not None:
        batch["expirationDate"] = dose.lot.expires_on.isoformat()
        if dose.lot.ndc:
            medication["code"] = {
                **medication["code"],
                "coding": [
                    *medication["code"].get("coding", []),
                    {"system": codes.NDC, "code": dose.lot.ndc, "display": dose.lot.product},
                ],
            }
    medication["batch"] = batch
    return medication


def _medication_administration(dose: Administration, order: MedicationOrder, client_id: int) -> dict:
    notes = ["Booster" if dose.is_booster else "First dose of the session"]
    if dose.self_administered:
        notes.append("self-administered under the observation of the performer")
    return _resource(
        "MedicationAdministration",
        _kind(dose),
        dose.pk,
        # The lot lives on a Medication of this dose's own, contained in it.
        contained=[_dose_medication(dose, order)],
        status="completed",
        medicationReference={"reference": "#medication"},
        subject=_patient(client_id),
        effectiveDateTime=_instant(dose.given_at),
        performer=[{"actor": _user(dose.given_by_id)}],
        request=reference(_kind(order), order.pk),
        note=[{"text": "; ".join(notes)}],
        dosage={
            "route": {"coding": [codes.ROUTES[dose.route]]},
            "dose": _quantity(dose.dose_mg, codes.MG),
        },
    )


# ---------------------------------------------------------------------------------------------
# Consents


def _consent_status(signature: Signature, superseded: bool, today: datetime.date) -> str:
    if signature.decision == Signature.Decision.REFUSE:
        return "rejected"
    if signature.decision == Signature.Decision.REVOKE or superseded:
        return "inactive"
    if signature.release_expires_on is not None and signature.release_expires_on < today:
        return "inactive"
    return "active"


def _consent(signature: Signature, superseded: bool, record: _Record, today: datetime.date) -> dict:
    is_release = signature.kind == ConsentKind.RELEASE
    document = signature.document
    if signature.signer == Signature.Signer.CLIENT:
        performer = _patient(signature.client_id)
    elif signature.guardian_id is not None:
        performer = reference(_kind(Guardian), signature.guardian_id, signature.signer_name)
    else:  # a guardian since taken off the chart: their name, as the record keeps it
        performer = {"display": signature.signer_name}
    provision = {"type": "permit" if signature.decision == Signature.Decision.AGREE else "deny"}
    if is_release:
        recipient = (
            reference(_kind(OutsideProvider), signature.provider_id, signature.provider_name)
            if signature.provider_id in {provider.pk for provider in record.providers}
            else {"display": signature.provider_name}
        )
        provision["actor"] = [{"role": {"coding": [codes.INFORMATION_RECIPIENT]}, "reference": recipient}]
        period = {"start": timezone.localdate(signature.signed_at).isoformat()}
        if signature.release_expires_on:
            period["end"] = signature.release_expires_on.isoformat()
        provision["period"] = period
        if signature.purpose:
            provision["purpose"] = [{"display": signature.purpose}]
        if signature.categories:
            provision["code"] = [
                codes.concept(codes.RELEASE_CATEGORY, value, Category(value).label)
                for value in signature.categories
            ]
    category = codes.RELEASE_OF_INFORMATION if is_release else codes.CONSENT_DOCUMENT
    return _resource(
        "Consent",
        _kind(signature),
        signature.pk,
        status=_consent_status(signature, superseded, today),
        scope={"coding": [codes.SCOPE_PRIVACY if is_release else codes.SCOPE_TREATMENT]},
        category=[
            {"coding": [category]},
            codes.concept(codes.CONSENT_KIND, signature.kind, signature.get_kind_display()),
        ],
        patient=_patient(signature.client_id),
        dateTime=_instant(signature.signed_at),
        performer=[performer],
        organization=[reference(_kind(Practice), 1)],
        sourceAttachment={"title": f"{document.title}, version {document.version}"},
        policy=[{"uri": codes.local(f"consent-document:{document.kind}:{document.version}")}],
        provision=provision,
    )


def _superseded(signatures: list[Signature]) -> set[int]:
    """The signatures a later decision on the same kind (and, for a release, the same provider)
    replaced: signatures are read oldest first."""
    latest = {}
    for signature in signatures:
        latest[(signature.kind, signature.provider_id, signature.provider_name)] = signature.pk
    return {signature.pk for signature in signatures} - set(latest.values())


# ---------------------------------------------------------------------------------------------
# Documents


def _review(owner: Model, name: str = "review"):
    """The one-to-one `name` of `owner` read with select_related, or None (no query either way)."""
    return getattr(owner, name, None)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _when_text(moment: datetime.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def _name(users: dict[int, User], user_id: int | None) -> str:
    return users[user_id].display_name if user_id in users else ""


def _text_document(
    kind: str,
    key,
    *,
    client_id: int,
    type_: dict,
    title: str,
    text: str,
    date: datetime.datetime,
    author_ids: list[int],
    authenticator_id: int | None = None,
    amended: bool = False,
    period: tuple[datetime.datetime, datetime.datetime] | None = None,
    related: dict | list[dict] | None = None,
    other_authors: list[dict] | None = None,
) -> dict:
    found = {
        "status": "current",
        "docStatus": "amended" if amended else "final",
        "type": {"coding": [type_], "text": title},
        "category": [{"coding": [codes.CLINICAL_NOTE]}],
        "subject": _patient(client_id),
        "date": _instant(date),
        "author": [_user(user_id) for user_id in dict.fromkeys(author_ids) if user_id]
        + (other_authors or []),
        "description": title,
        "content": [
            {"attachment": _attachment(text.encode("utf-8"), "text/plain; charset=utf-8", title, date)}
        ],
    }
    if authenticator_id:
        found["authenticator"] = _user(authenticator_id)
    context = {}
    if period:
        context["period"] = {"start": _instant(period[0]), "end": _instant(period[1])}
    if related:
        context["related"] = related if isinstance(related, list) else [related]
    if context:
        found["context"] = context
    return _resource("DocumentReference", kind, key, **found)


def _note_text(note: ProgressNote) -> str:
    visit = note.visit
    lines = [
        f"{visit.get_kind_display()}, {_when_text(visit.starts_at)} ({visit.get_modality_display()})",
        f"Format: {note.get_format_display()}",
    ]
    if note.present:
        lines.append(f"Also present: {note.present}")
    for _key, heading, _hint, text in note.section_rows():
        lines += ["", f"{heading}:", text or "(nothing written)"]
    extra = (
        ("Risk assessment", note.risk),
        ("Progress toward the goals", note.progress),
        ("Preparation topics covered", "\n".join(Topic(value).label for value in note.topics)),
        ("Intentions, in the client's own words", note.intentions),
        ("Integration themes", note.themes),
        ("The client's intention for that session", note.session_intention),
    )
    for heading, text in extra:
        if text:
            lines += ["", f"{heading}:", text]
    late = " (late entry)" if note.late_entry else ""
    lines += ["", f"Signed by {note.signature} on {_when_text(note.signed_at)}{late}"]
    for addendum in note.addenda.all():
        lines += [
            "",
            f"Addendum of {_when_text(addendum.created_at)} by {addendum.signature}",
            f"Reason: {addendum.reason}",
            addendum.text,
        ]
    return "\n".join(lines) + "\n"


def _note_document(note: ProgressNote) -> dict:
    visit = note.visit
    type_ = codes.NOTE_TYPES.get(visit.kind, codes.PROGRESS_NOTE)
    addenda = list(note.addenda.all())
    return _text_document(
        _kind(note),
        note.pk,
        client_id=note.client_id,
        type_=type_,
        title=f"Note of the {visit.get_kind_display().lower()} of {timezone.localdate(visit.starts_at)}",
        text=_note_text(note),
        date=note.signed_at,
        author_ids=[note.author_id, *(addendum.author_id for addendum in addenda)],
        authenticator_id=note.signed_by_id,
        amended=bool(addenda),
        period=(visit.starts_at, visit.ends_at),
        related=reference(_kind(Visit), visit.pk),
    )


def _runbook_text(runbook: Runbook, record: _Record, vitals, doses_given) -> str:
    users, visit = record.users, runbook.visit
    lines = [f"Medication session, {_when_text(visit.starts_at)} ({visit.get_modality_display()})", ""]
    for intention in sorted(visit.intentions.all(), key=lambda found: (found.entered_at, found.pk)):
        lines += [
            f"The client's intention for the session ({intention.get_source_display().lower()}, "
            f"{_when_text(intention.entered_at)}):",
            f"    {intention.text}",
        ]
    if visit.intentions.all():
        lines.append("")
    lines += _checklist_lines(runbook, users)
    lines += _safety_plan_lines(runbook, users)
    for reading in vitals:
        spo2 = f", SpO2 {reading.spo2} %" if reading.spo2 is not None else ""
        lines.append(
            f"{_when_text(reading.taken_at)} vitals ({reading.get_phase_display().lower()}): "
            f"BP {reading.systolic}/{reading.diastolic} mmHg, heart rate {reading.heart_rate}/min{spo2}"
        )
        lines += [f"    alert: {alert}" for alert in reading.alerts]
    for dose in doses_given:
        what = "Booster" if dose.is_booster else "Dose"
        observed = ", self-administered under observation" if dose.self_administered else ""
        lines.append(
            f"{_when_text(dose.given_at)} {what}: {doses.number(dose.dose_mg)} mg {dose.route}, "
            f"lot {dose.lot_number}, given by {_name(users, dose.given_by_id)}{observed}"
        )
    for mark in runbook.phase_marks.all():
        lines.append(f"{_when_text(mark.started_at)} {mark.get_phase_display()} phase began")
    for call in runbook.phone_acknowledgements.all():
        lines.append(
            f"{_when_text(call.called_at)} Acknowledged by telephone by {call.prescriber_name} "
            f"(outside prescriber): {call.read_back}"
        )
    for on_site in runbook.prescribers_on_site.all():
        lines.append(f"{_when_text(on_site.on_site_at)} Prescriber on site")
    for rating in runbook.ratings.all():
        lines.append(
            f"{_when_text(rating.rated_at)} Sedation (UMSS) {rating.get_sedation_display()}; "
            f"dissociation {rating.get_dissociation_display()}"
        )
    for event in runbook.adverse_events.all():
        lines.append(
            f"{_when_text(event.noted_at)} Adverse event: {event.get_kind_display()} "
            f"({event.get_severity_display().lower()}). Action taken: {event.action_taken}"
        )
        review = _review(event)
        if review:
            lines.append(_review_line(review, users))
    for checkin in runbook.chaperone_checkins.all():
        lines.append(
            f"{_when_text(checkin.checked_at)} Chaperone check-in: chaperone present "
            f"{_yes(checkin.chaperone_present)}, client OK {_yes(checkin.client_ok)}"
            + (f". {checkin.note}" if checkin.note else "")
        )
    for call in runbook.emergency_calls.all():
        where = call.address or "no address on record"
        lines.append(
            f"{_when_text(call.called_at)} Emergency services called by {_name(users, call.called_by_id)}; "
            f"address given: {where} (from {call.get_address_from_display()})"
        )
    for note in runbook.notes.all():
        lines.append(f"{_when_text(note.written_at)} Note by {_name(users, note.author_id)}: {note.text}")
    lines += [
        "",
        f"Discharged {_when_text(runbook.discharged_at)} by {_name(users, runbook.discharged_by_id)}",
    ]
    for label, met in (
        ("Alert and oriented", runbook.alert_and_oriented),
        ("Steady on feet", runbook.steady_on_feet),
        ("Escort or transport present", runbook.escort_present),
    ):
        lines.append(f"    {label}: {'yes' if met else 'no'}")
    if runbook.override_reason:
        lines.append(f"    Discharged with criteria unmet: {runbook.override_reason}")
        review = _review(runbook, "override_review")
        if review:
            lines.append(_review_line(review, users))
    lines.append(f"Signed by {_name(users, runbook.signed_by_id)} on {_when_text(runbook.signed_at)}")
    for addendum in runbook.addenda.all():
        lines += [
            "",
            f"Addendum of {_when_text(addendum.created_at)} by {_name(users, addendum.author_id)}",
            addendum.text,
        ]
    return "\n".join(lines) + "\n"


def _review_line(review, users: dict[int, User]) -> str:
    """A prescriber's safety review (kapflow.dosing.models.SafetyReview), as one indented line."""
    note = f": {review.note}" if review.note else ""
    return f"    Reviewed by {_name(users, review.reviewed_by_id)} on {_when_text(review.reviewed_at)}{note}"


def _checklist_lines(runbook: Runbook, users: dict[int, User]) -> list[str]:
    """Each day-of checklist asked at check-in (a newer one supersedes, both are kept)."""
    lines = []
    for checklist in runbook.checklists.all():
        ride = _yes(checklist.transport_without_driving)
        if checklist.transport_detail:
            ride += f" ({checklist.transport_detail})"
        lines += [
            f"Day-of checklist, {_when_text(checklist.recorded_at)}, "
            f"by {_name(users, checklist.recorded_by_id)}",
            f"    Ride home arranged, no driving today: {ride}",
            f"    Last food {_when_text(checklist.last_food_at)}; "
            f"last liquid {_when_text(checklist.last_liquid_at)}",
            f"    Substances in the prior 24 hours: {', '.join(checklist.substances) or 'none'}",
            f"    Pregnancy: {checklist.get_pregnancy_display()}",
            f"    New medications since clearance: {checklist.new_medications or 'none'}",
        ]
        if checklist.medications_reviewed_by_id:
            lines.append(
                f"    New medications reviewed by {_name(users, checklist.medications_reviewed_by_id)}"
            )
        lines.append(
            f"    Open suicidality alert reviewed today: {_yes(checklist.suicidality_alert_reviewed)}"
        )
    return lines + [""] if lines else []


def _safety_plan_lines(runbook: Runbook, users: dict[int, User]) -> list[str]:
    """Each safety plan of a virtual session (a newer one supersedes, both are kept)."""
    lines = []
    for plan in runbook.safety_plans.all():
        lines += [
            f"Safety plan, {_when_text(plan.recorded_at)}, by {_name(users, plan.recorded_by_id)}",
            f"    Address during the session: {plan.address or '(not given)'}",
            f"    Chaperone: {plan.chaperone_name or '(not given)'}"
            + (f", {plan.chaperone_phone}" if plan.chaperone_phone else "")
            + f"; an adult {_yes(plan.chaperone_is_adult)}; present {_yes(plan.chaperone_present)}",
            f"    Emergency contact: {plan.emergency_contact or '(not given)'}",
            f"    Nearest emergency department: {plan.nearest_emergency_department or '(not given)'}",
            f"    Blood-pressure cuff at hand: {_yes(plan.has_bp_cuff)}",
        ]
    return lines + [""] if lines else []


def _runbook_document(runbook: Runbook, record: _Record, vitals, doses_given) -> dict:
    visit = runbook.visit
    addenda = list(runbook.addenda.all())
    return _text_document(
        _kind(runbook),
        runbook.pk,
        client_id=visit.client_id,
        type_=codes.PROCEDURE_NOTE,
        title=f"Record of the medication session of {timezone.localdate(visit.starts_at)}",
        text=_runbook_text(runbook, record, vitals, doses_given),
        date=runbook.signed_at,
        author_ids=[runbook.signed_by_id, *(addendum.author_id for addendum in addenda)],
        authenticator_id=runbook.signed_by_id,
        amended=bool(addenda),
        period=(visit.starts_at, visit.ends_at),
        related=reference(_kind(Visit), visit.pk),
    )


def _review_document(review: CourseReview, users: dict[int, User]) -> dict:
    lines = [
        f"Course review held on {review.held_on}",
        f"Decision: {review.get_decision_display()}",
    ]
    if review.extend_to:
        lines.append(f"Medication sessions in the course, in all: {review.extend_to}")
    if review.maintenance_weeks:
        lines.append(
            f"Maintenance: a session every {review.maintenance_weeks} weeks, "
            f"{review.maintenance_sessions} before the next review"
        )
    lines += ["", "Progress, in the reviewers' words:", review.summary, ""]
    lines.append(f"Written by {_name(users, review.written_by_id)} on {_when_text(review.written_at)}")
    lines.append(
        f"Signed by {_name(users, review.therapist_signed_by_id)} (therapist) on "
        f"{_when_text(review.therapist_signed_at)}"
    )
    lines.append(
        f"Signed by {_name(users, review.prescriber_signed_by_id)} (prescriber) on "
        f"{_when_text(review.prescriber_signed_at)}"
    )
    related = reference(_kind(Visit), review.visit_id) if review.visit_id else None
    return _text_document(
        _kind(review),
        review.pk,
        client_id=review.client_id,
        type_=codes.PLAN_OF_CARE_NOTE,
        title=f"Course review of {review.held_on}",
        text="\n".join(lines) + "\n",
        date=review.decided_at,
        author_ids=[review.written_by_id, review.therapist_signed_by_id, review.prescriber_signed_by_id],
        authenticator_id=review.prescriber_signed_by_id,
        related=related,
    )


def _discharge_document(discharge: Discharge) -> dict:
    lines = [
        f"Discharged on {discharge.discharged_on}",
        f"Reason: {discharge.get_reason_display()}",
    ]
    for heading, text in (
        ("About the reason", discharge.reason_detail),
        ("Condition and risk at discharge", discharge.condition),
        ("Aftercare recommendations", discharge.recommendations),
        ("Referrals", discharge.referrals),
    ):
        if text:
            lines += ["", f"{heading}:", text]
    lines += ["", f"Signed by {discharge.signature} on {_when_text(discharge.signed_at)}"]
    return _text_document(
        _kind(discharge),
        discharge.pk,
        client_id=discharge.client_id,
        type_=codes.DISCHARGE_SUMMARY,
        title=f"Discharge summary of {discharge.discharged_on}",
        text="\n".join(lines) + "\n",
        date=discharge.signed_at,
        author_ids=[discharge.signed_by_id],
        authenticator_id=discharge.signed_by_id,
    )


def _letter_document(letter: Letter, providers: dict[int, OutsideProvider]) -> dict:
    """A signed letter as the PDF that was signed (kapflow.letters.pdf.signed_pdf_bytes: a file
    missing or altered raises TamperedFile rather than exporting something else)."""
    provider = providers[letter.provider_id]
    title = f"{letter.get_kind_display()} to {provider.name}"
    return _resource(
        "DocumentReference",
        _kind(letter),
        letter.pk,
        status="current",
        docStatus="final",
        type={"coding": [codes.LETTER_TYPES.get(letter.kind, codes.NOTE)], "text": letter.get_kind_display()},
        subject=_patient(letter.client_id),
        date=_instant(letter.signed_at),
        author=[_user(letter.signed_by_id)],
        authenticator=_user(letter.signed_by_id),
        description=title,
        content=[
            {"attachment": _attachment(signed_pdf_bytes(letter), "application/pdf", title, letter.signed_at)}
        ],
        context={"related": [reference(_kind(OutsideProvider), provider.pk, provider.name)]},
    )


def _chart_document(document: ChartDocument) -> dict:
    """An uploaded document as its file (a file gone from storage raises: the copy would
    otherwise be silently incomplete)."""
    with document.file.open("rb") as stored:
        content = stored.read()
    found = {
        "status": "current",
        "type": codes.concept(codes.CHART_DOCUMENT_KIND, document.kind, document.get_kind_display()),
        "subject": _patient(document.client_id),
        "date": _instant(document.uploaded_at),
        "description": document.title,
        "content": [
            {
                "attachment": _attachment(
                    content, document.content_type, document.download_name, document.uploaded_at
                )
            }
        ],
    }
    if document.provider_id:
        found["author"] = [reference(_kind(OutsideProvider), document.provider_id)]
    elif document.received_from:
        found["author"] = [{"display": document.received_from}]
    if document.dated:
        found["context"] = {
            "period": {"start": document.dated.isoformat(), "end": document.dated.isoformat()}
        }
    return _resource("DocumentReference", _kind(document), document.pk, **found)


# ---------------------------------------------------------------------------------------------
# The pathway before the course: consultation, screening, clearance, preparation, overrides


def _signed_line(users: dict[int, User], user_id: int | None, moment: datetime.datetime) -> str:
    return f"Recorded by {_name(users, user_id)} on {_when_text(moment)}"


def _consultation_document(consultation: Consultation, users: dict[int, User]) -> dict:
    lines = [f"Consultation held on {consultation.held_on}", ""]
    for heading, text in (
        ("Why KAP, and why now", consultation.why_kap),
        ("What they have been experiencing; history", consultation.history),
        ("Previous treatment", consultation.previous_treatment),
        ("Current supports", consultation.supports),
        ("Expectations and hopes", consultation.expectations),
        ("Goals for the work", consultation.goals),
        ("Clinician's note", consultation.note),
    ):
        if text:
            lines += [f"{heading}:", text, ""]
    lines.append(f"Decision: {consultation.get_decision_display()}")
    if consultation.decision_reason:
        lines.append(f"Reason: {consultation.decision_reason}")
    if consultation.referral_note:
        lines.append(f"Referral: {consultation.referral_note}")
    lines += ["", _signed_line(users, consultation.clinician_id, consultation.recorded_at)]
    return _text_document(
        _kind(consultation),
        consultation.pk,
        client_id=consultation.client_id,
        type_=codes.CONSULTATION,
        title=f"Consultation of {consultation.held_on}",
        text="\n".join(lines) + "\n",
        date=consultation.recorded_at,
        author_ids=[consultation.clinician_id],
        authenticator_id=consultation.clinician_id,
    )


def _screening_text(screening: Screening, users: dict[int, User]) -> str:
    who = _name(users, screening.entered_by_id) if screening.entered_by_id else "the client"
    lines = [
        f"Contraindication screening (version {screening.version}), {_when_text(screening.completed_at)}",
        f"Answered by {who}; age on the day {screening.age}",
        "",
    ]
    for finding in FINDINGS:
        answer = screening.answers.get(finding.key)
        lines.append(f"{finding.text} {'(not answered)' if answer is None else _yes(answer)}")
    lines += ["", "Current medications:"]
    for medication in screening.medications or []:
        found = medication_class(medication.get("class", ""))
        lines.append(f"    {medication.get('name', '')}" + (f" ({found.label})" if found else ""))
    if not screening.medications:
        lines.append("    none")
    lines += ["", "Flags raised:"]
    for flag in screening.flag_list():
        reason = f": {flag.reason}" if flag.reason else ""
        lines.append(f"    {flag.label} ({flag.level}){reason}")
    if not screening.flags:
        lines.append("    none")
    if screening.notes:
        lines += ["", "Notes:", screening.notes]
    return "\n".join(lines) + "\n"


def _screening_document(screening: Screening, users: dict[int, User]) -> dict:
    return _text_document(
        _kind(screening),
        screening.pk,
        client_id=screening.client_id,
        type_=codes.SCREENING,
        title=f"Contraindication screening of {timezone.localdate(screening.completed_at)}",
        text=_screening_text(screening, users),
        date=screening.completed_at,
        author_ids=[screening.entered_by_id],
        other_authors=[] if screening.entered_by_id else [_patient(screening.client_id)],
    )


def _allergy(screening: Screening) -> dict:
    """The screening's "hypersensitivity to ketamine or esketamine" answered yes, as the allergy
    the client (or staff on their behalf) reported: active, not confirmed by a test."""
    reporter = _user(screening.entered_by_id) if screening.entered_by_id else _patient(screening.client_id)
    return _resource(
        "AllergyIntolerance",
        "medical.screening.hypersensitivity",
        screening.pk,
        clinicalStatus={"coding": [codes.ALLERGY_ACTIVE]},
        verificationStatus={"coding": [codes.ALLERGY_UNCONFIRMED]},
        type="allergy",
        category=["medication"],
        code=codes.HYPERSENSITIVITY,
        patient=_patient(screening.client_id),
        recordedDate=_instant(screening.completed_at),
        recorder=reporter,
        asserter=reporter,
        note=[{"text": "Reported in the contraindication screening"}],
    )


def _condition(diagnosis: Diagnosis) -> dict:
    """A diagnosis on the chart as a problem-list Condition (docs/fhir.md, "Diagnoses"): its
    ICD-10-CM code and words; the day the clinician made it as the asserted date and the time it
    was written as the recorded date (kapflow does not know when the condition began, so there
    is no onset); the clinician as recorder and asserter. Ended: inactive, abated on the first
    day it was no longer current. Entered in error: no clinical status and no abatement (FHIR's
    con-5 and con-4); the day it was found wrong and the reason in a note, as for an end."""
    found = {
        "extension": [{"url": codes.ASSERTED_DATE, "valueDateTime": diagnosis.diagnosed_on.isoformat()}],
        "verificationStatus": {
            "coding": [codes.CONDITION_IN_ERROR if diagnosis.in_error else codes.CONDITION_CONFIRMED]
        },
        "category": [{"coding": [codes.PROBLEM_LIST_ITEM]}],
        "code": {
            "coding": [codes.coding(codes.ICD_10_CM, diagnosis.code, diagnosis.description)],
            "text": diagnosis.description,
        },
        "subject": _patient(diagnosis.client_id),
        "recordedDate": _instant(diagnosis.created_at),
        "recorder": _user(diagnosis.diagnosed_by_id),
        "asserter": _user(diagnosis.diagnosed_by_id),
    }
    if not diagnosis.in_error:
        ended = diagnosis.ended_on is not None
        found["clinicalStatus"] = {"coding": [codes.CONDITION_ENDED if ended else codes.CONDITION_ACTIVE]}
        if ended:
            found["abatementDateTime"] = diagnosis.ended_on.isoformat()
    if diagnosis.ended_at is not None:
        said = (
            f"Entered in error, found on {diagnosis.ended_on}"
            if diagnosis.in_error
            else f"No longer current from {diagnosis.ended_on}"
        )
        if diagnosis.end_reason:
            said = f"{said}: {diagnosis.end_reason}"
        by, when = _user(diagnosis.ended_by_id), _instant(diagnosis.ended_at)
        found["note"] = [{"authorReference": by, "time": when, "text": said}]
    return _resource("Condition", _kind(diagnosis), diagnosis.pk, **found)


def _clearance_text(clearance: Clearance, users: dict[int, User]) -> str:
    if clearance.is_outside:
        credentials = f", {clearance.outside_credentials}" if clearance.outside_credentials else ""
        who = f"{clearance.outside_name}{credentials} (NPI {clearance.outside_npi}), outside prescriber"
    else:
        who = _name(users, clearance.prescriber_id)
    lines = [
        f"Medical clearance, {_when_text(clearance.decided_at)}, by {who}",
        f"Reviewing the screening of {timezone.localdate(clearance.screening.completed_at)}",
        f"Decision: {clearance.get_decision_display()}",
    ]
    if clearance.conditions:
        lines.append(f"Conditions: {clearance.conditions}")
    if clearance.valid_until:
        lines.append(f"Valid until {clearance.valid_until}")
    measured = [
        text
        for present, text in (
            (
                clearance.systolic and clearance.diastolic,
                f"BP {clearance.systolic}/{clearance.diastolic} mmHg",
            ),
            (clearance.heart_rate, f"heart rate {clearance.heart_rate}/min"),
            (clearance.weight_kg, f"weight {clearance.weight_kg} kg"),
        )
        if present
    ]
    if measured:
        lines.append("Measured: " + ", ".join(measured))
    lines += ["", "Evaluation findings:", clearance.findings]
    flags = clearance.reviewed_flags()
    if flags:
        lines += ["", "The screening's flags:"]
        for flag, resolution, acknowledged in flags:
            said = f"resolved: {resolution}" if resolution else ("acknowledged" if acknowledged else "")
            lines.append(f"    {flag.label} ({flag.level})" + (f", {said}" if said else ""))
    if clearance.is_outside:
        filed = f"{_name(users, clearance.filed_by_id)} on {_when_text(clearance.filed_at)}"
        lines += ["", f"Transcribed from the letter of {clearance.letter_dated}, filed by {filed}"]
    if clearance.revoked_at:
        lines += [
            "",
            f"Revoked on {_when_text(clearance.revoked_at)} by {_name(users, clearance.revoked_by_id)}: "
            f"{clearance.revoke_reason}",
        ]
    return "\n".join(lines) + "\n"


def _clearance_document(clearance: Clearance, record: _Record) -> dict:
    """A clearance by the practice's prescriber, or transcribed from an outside prescriber's
    letter (its author then the outside provider, the letter on the chart as related)."""
    related = [reference(_kind(Screening), clearance.screening_id)]
    others = []
    if clearance.is_outside:
        if clearance.outside_provider_id in {provider.pk for provider in record.providers}:
            others.append(
                reference(_kind(OutsideProvider), clearance.outside_provider_id, clearance.outside_name)
            )
        else:
            others.append({"display": clearance.outside_name})
        if clearance.document_id in {document.pk for document in record.documents}:
            related.append(reference(_kind(ChartDocument), clearance.document_id))
    return _text_document(
        _kind(clearance),
        clearance.pk,
        client_id=clearance.client_id,
        type_=codes.CLEARANCE,
        title=f"Medical clearance of {timezone.localdate(clearance.decided_at)}",
        text=_clearance_text(clearance, record.users),
        date=clearance.decided_at,
        author_ids=[clearance.prescriber_id],
        authenticator_id=clearance.prescriber_id,
        amended=clearance.revoked_at is not None,
        related=related,
        other_authors=others,
    )


def _preparation_document(preparation: PreparationSession, users: dict[int, User]) -> dict:
    lines = [f"Preparation session held on {preparation.held_on}", ""]
    if preparation.topics:
        lines += ["Topics covered:", *(f"    {Topic(value).label}" for value in preparation.topics), ""]
    if preparation.intentions:
        lines += ["Intentions, in the client's own words:", preparation.intentions, ""]
    lines.append(f"Day-of instructions given: {_yes(preparation.day_of_instructions_given)}")
    if preparation.note:
        lines += ["", "Note:", preparation.note]
    lines += ["", _signed_line(users, preparation.clinician_id, preparation.recorded_at)]
    return _text_document(
        _kind(preparation),
        preparation.pk,
        client_id=preparation.client_id,
        type_=codes.PREPARATION,
        title=f"Preparation session of {preparation.held_on}",
        text="\n".join(lines) + "\n",
        date=preparation.recorded_at,
        author_ids=[preparation.clinician_id],
        authenticator_id=preparation.clinician_id,
    )


def _override_document(override: GateOverride, users: dict[int, User]) -> dict:
    lines = [
        f"Override of the {override.get_gate_display().lower()} gate, {_when_text(override.created_at)}, "
        f"by {_name(users, override.prescriber_id)}",
        "",
        "Reason:",
        override.reason,
    ]
    if override.withdrawn_at:
        lines += [
            "",
            f"Withdrawn on {_when_text(override.withdrawn_at)} by {_name(users, override.withdrawn_by_id)}",
        ]
    return _text_document(
        _kind(override),
        override.pk,
        client_id=override.client_id,
        type_=codes.GATE_OVERRIDE,
        title=f"Override of the {override.get_gate_display().lower()} gate",
        text="\n".join(lines) + "\n",
        date=override.created_at,
        author_ids=[override.prescriber_id],
        authenticator_id=override.prescriber_id,
        amended=override.withdrawn_at is not None,
    )


# ---------------------------------------------------------------------------------------------
# The course: its plan, adverse events, integration


def _plan_status(plan: CoursePlan) -> str:
    """A superseded version is revoked (a newer one replaces it), an ended plan completed."""
    if plan.superseded_at is not None:
        return "revoked"
    if plan.ended_at is not None:
        return "completed"
    return "active"


_ACTIVITY_STATUS = {"active": "in-progress", "completed": "completed", "revoked": "stopped"}


def _care_plan(plan: CoursePlan, replaces: CoursePlan | None) -> dict:
    """One version of the course plan. Its activities: the medication sessions planned (how many,
    how often, where) and, when planned, an integration session after each."""
    status = _plan_status(plan)
    sessions = {
        "kind": "Appointment",
        "code": codes.concept(codes.PLAN_ACTIVITY, "medication-session", "Medication session"),
        "status": _ACTIVITY_STATUS[status],
        "scheduledString": plan.cadence_words,
        "location": {"display": plan.get_modality_display()},
        "description": str(plan),
    }
    if plan.kind == CoursePlan.Kind.COURSE:
        sessions["quantity"] = {"value": plan.planned_sessions, "unit": "sessions"}
    activities = [{"detail": sessions}]
    if plan.integration_after_each:
        activities.append(
            {
                "detail": {
                    "kind": "Appointment",
                    "code": codes.concept(codes.PLAN_ACTIVITY, "integration-session", "Integration session"),
                    "status": _ACTIVITY_STATUS[status],
                    "scheduledString": "after each medication session",
                }
            }
        )
    period = {"start": _instant(plan.counts_from or plan.created_at)}
    end = plan.superseded_at or plan.ended_at
    if end:
        period["end"] = _instant(end)
    notes = []
    if plan.review_after:
        notes.append({"text": f"Progress reviews after sessions {plan.review_after}"})
    found = {
        "status": status,
        "intent": "plan",
        "category": [codes.concept(codes.COURSE_PLAN_KIND, plan.kind, plan.get_kind_display())],
        "title": f"{plan.get_kind_display()} {plan.course_number}",
        "description": plan.goals,
        "subject": _patient(plan.client_id),
        "period": period,
        "created": _instant(plan.created_at),
        "author": _user(plan.updated_by_id),
        "careTeam": [reference("clients.careteam", plan.client_id)],
        "activity": activities,
    }
    if replaces is not None:
        found["replaces"] = [reference(_kind(replaces), replaces.pk)]
    if notes:
        found["note"] = notes
    return _resource("CarePlan", _kind(plan), plan.pk, **found)


def _care_plans(plans: list[CoursePlan]):
    """Each version, oldest first, naming the version it replaced (the one before it)."""
    previous = None
    for plan in plans:
        yield _care_plan(plan, previous)
        previous = plan


def _adverse_event(event: AdverseEvent, runbook: Runbook, first_dose: Administration | None) -> dict:
    """An adverse event of a signed session, pointing at the dose given before it and at the
    session's record, which holds the action taken and the prescriber's review."""
    found = {
        "actuality": "actual",
        "event": codes.concept(codes.ADVERSE_EVENT_KIND, event.kind, event.get_kind_display()),
        "subject": _patient(runbook.visit.client_id),
        "date": _instant(event.noted_at),
        "recordedDate": _instant(event.recorded_at),
        "recorder": _user(event.recorded_by_id),
        "severity": {"coding": [codes.ADVERSE_EVENT_SEVERITIES[event.severity]]},
        "referenceDocument": [reference(_kind(runbook), runbook.pk)],
    }
    if first_dose is not None:
        found["suspectEntity"] = [{"instance": reference(_kind(first_dose), first_dose.pk)}]
    return _resource("AdverseEvent", _kind(event), event.pk, **found)


def _integration_document(integration: IntegrationRecord, users: dict[int, User]) -> dict:
    lines = [f"Integration record, {_when_text(integration.recorded_at)}"]
    if integration.late_label:
        lines.append(integration.late_label.capitalize())
    lines.append("")
    for heading, text in (
        ("The client's intention for the session", integration.intention),
        ("Themes", integration.themes),
        ("Emotions", integration.emotions),
        ("Images or memories", integration.images_memories),
        ("Parts", integration.parts),
        ("What feels like lasting insight", integration.lasting_insight),
        ("What feels like passing intensity", integration.passing_intensity),
        ("Clinician's note", integration.note),
    ):
        if text:
            lines += [f"{heading}:", text, ""]
    items = list(integration.action_items.all())
    if items:
        lines.append("Action items:")
        lines += [f"    {item.text} ({item.get_status_display().lower()})" for item in items]
        lines.append("")
    lines.append(_signed_line(users, integration.clinician_id, integration.recorded_at))
    related = [
        reference(_kind(Visit), visit_id)
        for visit_id in (integration.follows_id, integration.visit_id)
        if visit_id
    ]
    return _text_document(
        _kind(integration),
        integration.pk,
        client_id=integration.client_id,
        type_=codes.INTEGRATION,
        title=f"Integration record of {timezone.localdate(integration.recorded_at)}",
        text="\n".join(lines) + "\n",
        date=integration.recorded_at,
        author_ids=[integration.clinician_id],
        authenticator_id=integration.clinician_id,
        related=related or None,
    )


# ---------------------------------------------------------------------------------------------
# The bundle


def _resources(record: _Record, today: datetime.date):
    client = record.client
    yield _organization(record.practice)
    yield _patient_resource(client, record.practice)
    for guardian in record.guardians:
        yield _related_person(guardian, codes.GUARDIAN)
    for contact in record.contacts:
        yield _related_person(contact, codes.EMERGENCY_CONTACT)
    for user_id in sorted(record.users):
        yield _staff_practitioner(record.users[user_id])
    for provider in record.providers:
        yield _outside_practitioner(provider)
    outside = {_prescriber_key(order): order for order in record.orders if order.is_outside}
    for order in outside.values():
        yield _outside_prescriber(order)
    yield _care_team(record)
    for instrument in instruments.INSTRUMENTS.values():
        yield _questionnaire(instrument)
    for visit in record.visits:
        yield _appointment(visit, record.other_clinicians.get(visit.pk, []))
    for consultation in record.consultations:
        yield _consultation_document(consultation, record.users)
    for screening in record.screenings:
        yield _screening_document(screening, record.users)
        if screening.answers.get("hypersensitivity") is True:
            yield _allergy(screening)
    for diagnosis in record.diagnoses:
        yield _condition(diagnosis)
    for clearance in record.clearances:
        yield _clearance_document(clearance, record)
    for override in record.overrides:
        yield _override_document(override, record.users)
    for preparation in record.preparations:
        yield _preparation_document(preparation, record.users)
    yield from _care_plans(record.plans)
    for response in record.responses:
        yield _questionnaire_response(response)
        yield _total_observation(response)
    for reading in record.vitals:
        yield from _vitals(reading, client.pk)
    orders = {order.pk: order for order in record.orders}
    for order in record.orders:
        yield _medication_request(order, today)
    for dose in record.administrations:
        yield _medication_administration(dose, orders[dose.order_id], client.pk)
    superseded = _superseded(record.signatures)
    for signature in record.signatures:
        yield _consent(signature, signature.pk in superseded, record, today)
    for note in record.notes:
        yield _note_document(note)
    vitals_by_runbook, doses_by_runbook = defaultdict(list), defaultdict(list)
    for reading in record.vitals:
        vitals_by_runbook[reading.runbook_id].append(reading)
    for dose in record.administrations:
        doses_by_runbook[dose.runbook_id].append(dose)
    for runbook in record.runbooks:
        yield _runbook_document(runbook, record, vitals_by_runbook[runbook.pk], doses_by_runbook[runbook.pk])
        first = next((dose for dose in doses_by_runbook[runbook.pk] if not dose.is_booster), None)
        for event in runbook.adverse_events.all():
            yield _adverse_event(event, runbook, first)
    for integration in record.integrations:
        yield _integration_document(integration, record.users)
    for review in record.reviews:
        yield _review_document(review, record.users)
    for discharge in record.discharges:
        yield _discharge_document(discharge)
    providers = {provider.pk: provider for provider in record.providers}
    for letter in record.letters:
        yield _letter_document(letter, providers)
    for document in record.documents:
        yield _chart_document(document)


def client_bundle(client: Client, *, generated_at: datetime.datetime | None = None) -> dict:
    """The client's whole record as a FHIR R4 Bundle of type collection, JSON-ready: every
    resource validated against its R4B model, then the bundle as a whole. Reads the record in
    a number of queries that does not grow with it (_gather), and reads each signed letter's and
    uploaded document's file from storage. Raises InvalidResource on a resource that does not
    validate, TamperedFile on a signed letter whose PDF is gone or altered."""
    generated_at = generated_at or timezone.now()
    record = _gather(client)
    entries = [
        {"fullUrl": f"urn:uuid:{resource['id']}", "resource": _validated(resource)}
        for resource in _resources(record, timezone.localdate(generated_at))
    ]
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(codes.namespace(), f"bundle/{client.pk}/{generated_at.isoformat()}")),
        "meta": {"lastUpdated": _instant(generated_at)},
        "type": "collection",
        "timestamp": _instant(generated_at),
        "entry": entries,
    }
    return _validated(bundle)


def bundle_json(client: Client) -> bytes:
    """The client's bundle as UTF-8 JSON, indented two spaces."""
    return json.dumps(client_bundle(client), indent=2, ensure_ascii=False).encode("utf-8")
