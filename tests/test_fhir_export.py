"""A client's whole record as one FHIR R4 Bundle (kapflow.records.fhir, docs/fhir.md): every
resource valid against its R4B model, coded as FHIR and LOINC say, every reference resolving to
an entry of the bundle, and nothing in it that must never leave the practice (process notes,
the journal, unsigned drafts)."""

import base64
import datetime
import hashlib
import json
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from kapflow.clients.models import Client, OutsideProvider
from kapflow.consent.models import ConsentDocument, Kind, Signature
from kapflow.course.models import CourseReview, Discharge
from kapflow.documents.models import ChartDocument
from kapflow.dosing.models import Administration, Runbook, VitalsReading
from kapflow.journal.models import JournalEntry
from kapflow.letters.models import Letter
from kapflow.letters.pdf import TamperedFile
from kapflow.measures import instruments, scoring
from kapflow.measures.models import Response
from kapflow.medical.models import MedicationOrder
from kapflow.notes import services as note_services
from kapflow.notes.models import ProcessNote, ProgressNote
from kapflow.practice.models import Practice
from kapflow.records import codes
from kapflow.records.fhir import bundle_json, client_bundle, full_url, questionnaire_response, resource_id
from kapflow.visits.models import Room, Visit
from tests import factories

pytestmark = pytest.mark.django_db

PROCESS_PHRASE = "Heron-in-the-reeds process phrase"
JOURNAL_PHRASE = "Lantern-by-the-lake journal phrase"
DRAFT_PHRASE = "Unsigned-draft marmalade phrase"
NOTE_PHRASE = "Reports sleeping through the night"
ADDENDUM_PHRASE = "Sleep diary reviewed afterwards"
PDF = b"%PDF-1.4\n% a tiny test file\n%%EOF\n"


def _visit(client, clinician, kind, *, days_ago, status=Visit.Status.COMPLETED, virtual=False, room=None):
    start = timezone.now() - datetime.timedelta(days=days_ago, hours=3)
    return Visit.objects.create(
        client=client,
        kind=kind,
        status=status,
        modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
        room=None if virtual else room,
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=1),
        clinician=clinician,
        created_by=clinician,
        cancel_reason="Client unwell" if status == Visit.Status.CANCELLED else "",
    )


def _session(client, therapist, prescriber, *, days_ago, room, sign=True) -> Runbook:
    """A signed medication session with two readings (one without SpO2) and a dose (discharged
    but left unsigned when `sign` is false)."""
    visit = _visit(client, therapist, Visit.Kind.MEDICATION, days_ago=days_ago, room=room)
    runbook = Runbook.objects.create(visit=visit)
    start = visit.starts_at
    VitalsReading.objects.create(
        runbook=runbook,
        phase="pre_dose",
        taken_at=start,
        systolic=122,
        diastolic=78,
        heart_rate=70,
        spo2=98,
        recorded_by=therapist,
    )
    VitalsReading.objects.create(
        runbook=runbook,
        phase="in_session",
        taken_at=start + datetime.timedelta(minutes=40),
        systolic=131,
        diastolic=84,
        heart_rate=76,
        recorded_by=therapist,
    )
    Administration.objects.create(
        runbook=runbook,
        order=factories.standing_order(client, prescriber),
        given_at=start + datetime.timedelta(minutes=5),
        route="sublingual",
        dose_mg=Decimal("175"),
        lot_number="LOT-4417",
        given_by=prescriber,
        recorded_by=prescriber,
    )
    Runbook.objects.filter(pk=runbook.pk).update(
        discharged_at=start + datetime.timedelta(minutes=50),
        discharged_by=therapist,
        alert_and_oriented=True,
        steady_on_feet=True,
        escort_present=True,
    )
    if sign:
        Runbook.objects.filter(pk=runbook.pk).update(
            signed_at=start + datetime.timedelta(minutes=55), signed_by=therapist
        )
    return runbook


def _document(kind: str) -> ConsentDocument:
    return ConsentDocument.objects.get_or_create(
        kind=kind,
        version=1,
        defaults={"title": f"{kind} consent", "body": "I agree.", "published_at": timezone.now()},
    )[0]


def _sign(client, kind, *, by, decision="agree", guardian=None, provider=None, **fields) -> Signature:
    document = _document(kind)
    return Signature.objects.create(
        document=document,
        kind=kind,
        client=client,
        signer=Signature.Signer.GUARDIAN if guardian else Signature.Signer.CLIENT,
        guardian=guardian,
        provider=provider,
        signer_name=guardian.name if guardian else client.first_name,
        provider_name=provider.name if provider else "",
        typed_name="Typed",
        decision=decision,
        text_sha256=document.sha256,
        presented_by=by,
        **fields,
    )


def _respond(client, key, answer: int, days_ago: int) -> Response:
    instrument = instruments.INSTRUMENTS[key]
    answers = {item.key: answer for item in instrument.items}
    score = scoring.score(instrument, answers)
    return Response.objects.create(
        client=client,
        instrument=key,
        version=instrument.version,
        answers=answers,
        total=score.total,
        band=score.band.label,
        completed_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


@pytest.fixture
def rich(avery, tess, priya):
    """Avery's chart with something of every kind the bundle holds, and what it must leave out."""
    practice = Practice.load()
    practice.name = "Harbour Light Therapy"
    practice.phone = "(503) 555-0140"
    practice.address = "12 Quay Street, Portland, OR 97201"
    practice.save()
    Client.objects.filter(pk=avery.pk).update(
        preferred_name="Ave", email="avery@example.org", address_line="1 Elm St", city="Portland", region="OR"
    )
    avery.refresh_from_db()
    guardian = factories.add_guardian(avery)  # the emergency contact is the persona's own
    provider = OutsideProvider.objects.create(
        client=avery,
        name="Dr. Rowan Reyes",
        kind=OutsideProvider.Kind.PSYCHIATRIST,
        organisation="Reyes Clinic",
    )
    room = Room.objects.create(name="Cedar room")

    _sign(avery, Kind.KAP, by=tess)
    _sign(avery, Kind.TELEHEALTH, by=tess)
    _sign(avery, Kind.TELEHEALTH, by=tess, decision="revoke")
    _sign(avery, Kind.GUARDIAN, by=tess, guardian=guardian)
    expires = timezone.localdate() + datetime.timedelta(days=200)
    release = _sign(
        avery,
        Kind.RELEASE,
        by=tess,
        provider=provider,
        release_expires_on=expires,
        categories=["course", "measures"],
        purpose="Coordinating care",
    )

    consultation = _visit(avery, tess, Visit.Kind.CONSULTATION, days_ago=60, room=room)
    note = factories.sign_note(consultation, tess, subjective=NOTE_PHRASE, plan="Go on to screening.")
    note_services.note_addendum(
        request=factories.ServiceRequest(tess), note=note, reason="Late information", text=ADDENDUM_PHRASE
    )
    therapy = _visit(avery, tess, Visit.Kind.THERAPY, days_ago=20, virtual=True)
    therapy.other_clinicians.add(priya)
    ProgressNote.objects.create(
        visit=therapy, client=avery, author=tess, sections={"subjective": DRAFT_PHRASE}
    )
    _visit(avery, tess, Visit.Kind.THERAPY, days_ago=5, status=Visit.Status.CANCELLED, room=room)
    runbook = _session(avery, tess, priya, days_ago=30, room=room)

    responses = {key: _respond(avery, key, 2, days_ago=40) for key in instruments.INSTRUMENTS}

    facts = {"made": "for the test"}
    name = f"letters/{avery.pk}/test-letter.pdf"
    stored = default_storage.save(name, ContentFile(PDF))
    letter = Letter.objects.create(
        client=avery,
        kind=Letter.Kind.COLLABORATION,
        provider=provider,
        categories=["course"],
        body="First words.",
        created_by=tess,
        facts=facts,
        signed_by=tess,
        signed_at=timezone.now(),
        pdf=stored,
        pdf_sha256=hashlib.sha256(PDF).hexdigest(),
    )
    upload = ChartDocument(
        client=avery,
        kind=ChartDocument.Kind.LAB_RESULTS,
        title="Metabolic panel",
        provider=provider,
        original_name="labs.pdf",
        content_type="application/pdf",
        extension=".pdf",
        size=len(PDF),
        sha256=hashlib.sha256(PDF).hexdigest(),
        uploaded_by=tess,
    )
    upload.file.save("labs.pdf", ContentFile(PDF), save=False)
    upload.save()
    Discharge.objects.create(
        client=avery,
        reason=Discharge.Reason.COMPLETED,
        condition="Stable, no risk indicators.",
        recommendations="Weekly therapy.",
        written_by=tess,
        signed_by=tess,
        signed_at=timezone.now(),
        signature="Tess, LMFT",
    )

    ProcessNote.objects.create(client=avery, author=tess, text=PROCESS_PHRASE)
    now = timezone.now()
    JournalEntry.objects.create(
        client=avery, body=JOURNAL_PHRASE, written_at=now, updated_at=now, shared_at=now
    )
    return {
        "client": avery,
        "note": note,
        "runbook": runbook,
        "responses": responses,
        "letter": letter,
        "upload": upload,
        "release": release,
        "provider": provider,
    }


def _of_type(bundle: dict, resource_type: str) -> list[dict]:
    return [
        entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == resource_type
    ]


def _by_url(bundle: dict) -> dict[str, dict]:
    return {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}


def _references(value):
    """Every `reference` anywhere in a resource."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "reference" and isinstance(inner, str):
                yield inner
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _codes(concept: dict) -> set[tuple[str, str]]:
    return {(coding["system"], coding["code"]) for coding in concept["coding"]}


def _validate_each(bundle: dict) -> None:
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"


def _resolves(bundle: dict) -> None:
    """Every fullUrl once, and every reference to one of them (or to the dose's contained drug)."""
    entries = _by_url(bundle)
    assert len(entries) == len(bundle["entry"])
    for resource in entries.values():
        for target in _references(resource):
            assert target in entries or target == "#medication", (resource["resourceType"], target)


def test_it_is_a_valid_bundle_whose_every_entry_is_valid_and_every_reference_resolves(rich):
    bundle = client_bundle(rich["client"])
    _validate_each(bundle)
    assert bundle["type"] == "collection"
    _resolves(bundle)
    kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert kinds >= {
        "Organization", "Patient", "RelatedPerson", "Practitioner", "CareTeam", "Appointment",
        "Questionnaire", "QuestionnaireResponse", "Observation", "MedicationRequest",
        "MedicationAdministration", "Consent", "DocumentReference",
    }  # fmt: skip
    assert "Condition" not in kinds


def test_it_gives_the_same_ids_each_time_as_utf8_json_indented_two(rich):
    first, second = client_bundle(rich["client"]), client_bundle(rich["client"])
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]
    raw = bundle_json(rich["client"])
    assert raw.startswith(b'{\n  "resourceType": "Bundle"')
    assert json.loads(raw.decode("utf-8"))["entry"][0]["fullUrl"] == first["entry"][0]["fullUrl"]


def test_it_names_the_patient_both_ways_and_says_sex_is_not_recorded(rich):
    bundle = client_bundle(rich["client"])
    (patient,) = _of_type(bundle, "Patient")
    client = rich["client"]
    assert {"use": "usual", "family": client.last_name, "given": ["Ave"]} in patient["name"]
    assert patient["name"][0]["use"] == "official" and patient["name"][0]["given"] == [client.first_name]
    assert patient["birthDate"] == client.date_of_birth.isoformat()
    assert patient["identifier"][0] == {"use": "usual", "system": codes.CLIENT_ID, "value": str(client.pk)}
    assert "gender" not in patient
    assert patient["_gender"]["extension"][0]["valueCode"] == "unknown"
    client.sex = "female"
    client.save()
    (patient,) = _of_type(client_bundle(client), "Patient")
    assert patient["gender"] == "female" and "_gender" not in patient
    relations = [_codes(person["relationship"][0]) for person in _of_type(bundle, "RelatedPerson")]
    assert relations == [{(codes.ROLE_CODE, "GUARD")}, {(codes.CONTACT_ROLE, "C")}]
    (team,) = _of_type(bundle, "CareTeam")
    members = {participant["member"]["reference"] for participant in team["participant"]}
    practitioners = {f"urn:uuid:{p['id']}" for p in _of_type(bundle, "Practitioner")}
    assert members <= practitioners and len(members) == 3  # tess, priya and the outside psychiatrist


def test_it_codes_phq9_and_gad7_items_answers_and_totals_with_loinc(rich):
    bundle = client_bundle(rich["client"])
    entries = _by_url(bundle)
    questionnaires = {q["title"]: q for q in _of_type(bundle, "Questionnaire")}
    assert set(questionnaires) == {"PHQ-9", "GAD-7", "PCL-5"}
    phq9 = questionnaires["PHQ-9"]
    assert phq9["code"] == [{"system": codes.LOINC, "code": "44249-1", "display": "PHQ-9"}]
    assert phq9["item"][0]["code"][0]["code"] == "44250-9"
    assert [o["valueCoding"]["code"] for o in phq9["item"][0]["answerOption"]] == [
        "LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9",
    ]  # fmt: skip
    assert phq9["item"][-1]["code"][0]["code"] == "44261-6"
    assert questionnaires["GAD-7"]["code"][0]["code"] == "69737-5"
    pcl5 = questionnaires["PCL-5"]
    assert "code" not in pcl5 and pcl5["item"][0]["code"][0]["system"] == "urn:kapflow:pcl5-item"

    by_instrument = {}
    for answered in _of_type(bundle, "QuestionnaireResponse"):
        by_instrument[answered["questionnaire"].split("|")[0]] = answered
    phq = by_instrument[codes.questionnaire_url("phq9")]
    assert [item["linkId"] for item in phq["item"]] == [*map(str, range(1, 10)), "total"]
    assert phq["item"][0]["answer"][0]["valueCoding"] == {
        "system": codes.LOINC,
        "code": "LA6570-1",
        "display": "More than half the days",
    }
    assert phq["item"][-1]["answer"] == [{"valueInteger": 18}]
    pcl = by_instrument[codes.questionnaire_url("pcl5")]
    assert pcl["item"][0]["answer"][0]["valueCoding"]["system"] == "urn:kapflow:pcl5-answer"
    assert pcl["item"][-1]["answer"] == [{"valueInteger": 40}]

    totals = {
        obs["code"]["coding"][0]["code"]: obs
        for obs in _of_type(bundle, "Observation")
        if obs["category"][0]["coding"][0]["code"] == "survey"
    }
    assert totals["44261-6"]["valueInteger"] == 18
    assert totals["70274-6"]["valueInteger"] == 14
    assert totals["total"]["code"]["coding"][0]["system"] == "urn:kapflow:pcl5-item"
    derived = totals["44261-6"]["derivedFrom"][0]["reference"]
    assert entries[derived]["resourceType"] == "QuestionnaireResponse"


def test_it_makes_one_questionnaire_response_alone_as_in_the_bundle(rich):
    response = rich["responses"]["gad7"]
    alone = questionnaire_response(response)
    get_fhir_model_class("QuestionnaireResponse").model_validate(alone)
    bundle = client_bundle(rich["client"])
    (in_bundle,) = [r for r in _of_type(bundle, "QuestionnaireResponse") if r["id"] == alone["id"]]
    assert alone == in_bundle
    (patient,) = [e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert alone["subject"]["reference"] == patient
    assert alone["questionnaire"] == "urn:kapflow:questionnaire:gad7|1"


def test_it_codes_vital_signs_with_loinc_and_ucum(rich):
    bundle = client_bundle(rich["client"])
    vitals = [
        o for o in _of_type(bundle, "Observation") if o["category"][0]["coding"][0]["code"] == "vital-signs"
    ]
    by_code = {}
    for observation in vitals:
        by_code.setdefault(observation["code"]["coding"][0]["code"], []).append(observation)
    assert len(by_code["85354-9"]) == 2 and len(by_code["8867-4"]) == 2
    assert len(by_code["2708-6"]) == 1  # the second reading was taken without SpO2
    pressure = by_code["85354-9"][0]
    systolic, diastolic = pressure["component"]
    assert systolic["code"]["coding"][0]["code"] == "8480-6"
    assert systolic["valueQuantity"] == {"value": 122, "unit": "mmHg", "system": codes.UCUM, "code": "mm[Hg]"}
    assert diastolic["code"]["coding"][0]["code"] == "8462-4"
    assert by_code["8867-4"][0]["valueQuantity"]["code"] == "/min"
    spo2 = by_code["2708-6"][0]
    assert _codes(spo2["code"]) == {(codes.LOINC, "2708-6"), (codes.LOINC, "59408-5")}
    assert spo2["valueQuantity"]["value"] == 98 and spo2["valueQuantity"]["code"] == "%"


def test_it_codes_the_order_and_the_dose_with_rxnorm_ucum_and_the_lot(rich):
    bundle = client_bundle(rich["client"])
    entries = _by_url(bundle)
    (order,) = _of_type(bundle, "MedicationRequest")
    assert order["medicationCodeableConcept"]["coding"][0] == {
        "system": codes.RXNORM,
        "code": "6130",
        "display": "ketamine",
    }
    assert order["status"] == "active" and order["intent"] == "order"
    dose_range = order["dosageInstruction"][0]["doseAndRate"][0]["doseRange"]
    assert dose_range["low"]["value"] == 100 and dose_range["high"]["code"] == "mg"
    (dose,) = _of_type(bundle, "MedicationAdministration")
    assert dose["dosage"]["dose"] == {"value": 175, "unit": "mg", "system": codes.UCUM, "code": "mg"}
    assert dose["dosage"]["route"]["coding"][0]["code"] == "37839007"
    assert dose["contained"][0]["batch"]["lotNumber"] == "LOT-4417"
    assert entries[dose["request"]["reference"]] is order
    assert entries[dose["performer"][0]["actor"]["reference"]]["resourceType"] == "Practitioner"


def test_it_codes_esketamine_as_the_nasal_spray_and_a_dose_by_weight_in_mg_per_kg():
    from kapflow.records import fhir

    today = timezone.localdate()
    common = {"client_id": 1, "prescriber_id": 1, "sessions_authorised": 4, "created_at": timezone.now()}
    esketamine = MedicationOrder(
        pk=7, drug="esketamine", route="intranasal", dose_min=Decimal("56"), dose_max=Decimal("84"),
        starts_on=today, ends_on=today + datetime.timedelta(days=30), **common,
    )  # fmt: skip
    request = fhir._validated(fhir._medication_request(esketamine, today))
    assert request["medicationCodeableConcept"]["coding"][0]["code"] == "2201623"
    assert request["dosageInstruction"][0]["route"]["coding"][0]["code"] == "46713006"
    weighed = MedicationOrder(
        pk=8, drug="ketamine", route="intramuscular", unit="mg_per_kg", weight_kg=Decimal("70"),
        dose_min=Decimal("0.5"), dose_max=Decimal("0.75"), starts_on=today - datetime.timedelta(days=60),
        ends_on=today - datetime.timedelta(days=1), **common,
    )  # fmt: skip
    request = fhir._validated(fhir._medication_request(weighed, today))
    assert request["status"] == "completed"
    high = request["dosageInstruction"][0]["doseAndRate"][0]["doseRange"]["high"]
    assert high == {"value": 0.75, "unit": "mg/kg", "system": codes.UCUM, "code": "mg/kg"}


def test_it_raises_on_a_resource_that_breaks_its_fhir_model():
    from kapflow.records import fhir

    with pytest.raises(fhir.InvalidResource, match="code"):
        fhir._validated({"resourceType": "Observation", "id": "x", "status": "final"})


def test_it_makes_visits_appointments_with_their_status_and_how_they_are_held(rich):
    appointments = _of_type(client_bundle(rich["client"]), "Appointment")
    statuses = sorted(a["status"] for a in appointments)
    assert statuses == ["cancelled", "fulfilled", "fulfilled", "fulfilled"]
    held = {a["serviceType"][0]["coding"][0]["code"]: a for a in appointments if a["status"] == "fulfilled"}
    assert held["therapy"]["appointmentType"]["coding"][0]["code"] == "VR"
    assert held["consultation"]["appointmentType"]["coding"][0]["code"] == "AMB"
    assert {"display": "Cedar room"} in [p["actor"] for p in held["consultation"]["participant"]]
    assert len(held["therapy"]["participant"]) == 3  # the client, the clinician and the one who joined


def test_it_gives_consents_scope_category_status_recipient_and_expiry(rich):
    bundle = client_bundle(rich["client"])
    consents = _of_type(bundle, "Consent")
    by_kind = {}
    for consent in consents:
        kind = next(c["code"] for c in consent["category"][1]["coding"])
        by_kind.setdefault(kind, []).append(consent)
    (release,) = by_kind["release"]
    assert release["scope"]["coding"][0]["code"] == "patient-privacy"
    assert _codes(release["category"][0]) == {(codes.LOINC, "64292-6")}
    assert release["status"] == "active"
    assert release["provision"]["period"]["end"] == rich["release"].release_expires_on.isoformat()
    (recipient,) = release["provision"]["actor"]
    assert recipient["role"]["coding"][0]["code"] == "IRCP"
    assert _by_url(bundle)[recipient["reference"]["reference"]]["resourceType"] == "Practitioner"
    assert [c["scope"]["coding"][0]["code"] for c in by_kind["kap"]] == ["treatment"]
    assert [c["status"] for c in by_kind["telehealth"]] == ["inactive", "inactive"]
    (guardian,) = by_kind["guardian"]
    assert _by_url(bundle)[guardian["performer"][0]["reference"]]["resourceType"] == "RelatedPerson"


def _documents(bundle) -> dict[str, dict]:
    return {d["type"]["coding"][0]["code"]: d for d in _of_type(bundle, "DocumentReference")}


def _content(document: dict) -> bytes:
    return base64.b64decode(document["content"][0]["attachment"]["data"])


def test_it_puts_signed_documents_inline_with_their_loinc_types(rich):
    documents = _documents(client_bundle(rich["client"]))
    consult = documents["11488-4"]
    text = _content(consult).decode("utf-8")
    assert NOTE_PHRASE in text and ADDENDUM_PHRASE in text and "Late information" in text
    assert consult["docStatus"] == "amended"
    assert consult["content"][0]["attachment"]["contentType"].startswith("text/plain")
    session = _content(documents["28570-0"]).decode("utf-8")
    assert "175 mg" in session and "LOT-4417" in session and "122/78" in session
    assert _content(documents["18842-5"]).decode("utf-8").startswith("Discharged on")
    letter = documents["34109-9"]
    assert _content(letter) == PDF and letter["content"][0]["attachment"]["contentType"] == "application/pdf"
    upload = documents["lab_results"]
    assert _content(upload) == PDF
    attachment = upload["content"][0]["attachment"]
    assert attachment["size"] == len(PDF)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(PDF).digest()).decode()  # noqa: S324


def test_it_leaves_out_process_notes_the_journal_and_unsigned_drafts(rich):
    raw = bundle_json(rich["client"]).decode("utf-8")
    # A document's text is base64 inside the JSON: the check reads the JSON and every attachment.
    decoded = raw + "".join(
        _content(d).decode("utf-8", "replace") for d in _of_type(json.loads(raw), "DocumentReference")
    )
    assert NOTE_PHRASE in decoded  # the check does read inside the attachments
    for phrase in (PROCESS_PHRASE, JOURNAL_PHRASE, DRAFT_PHRASE):
        assert phrase not in decoded


def test_it_refuses_to_export_a_letter_whose_signed_pdf_was_altered(rich):
    with default_storage.open(rich["letter"].pdf.name, "wb") as stored:
        stored.write(b"%PDF-1.4 something else")
    with pytest.raises(TamperedFile):
        client_bundle(rich["client"])


def _sessions(client, therapist, prescriber, count: int, room) -> None:
    for n in range(count):
        _session(client, therapist, prescriber, days_ago=10 + n, room=room)
        _respond(client, "phq9", 1, days_ago=10 + n)
        visit = _visit(client, therapist, Visit.Kind.INTEGRATION, days_ago=9 + n, room=room)
        factories.sign_note(visit, therapist)


def test_it_runs_as_many_queries_for_2_sessions_as_for_6(tess, priya):
    room = Room.objects.create(name="Oak room")
    small = factories.make_client(first_name="Small", therapist=tess, prescriber=priya)
    large = factories.make_client(first_name="Large", therapist=tess, prescriber=priya)
    _sessions(small, tess, priya, 2, room)
    _sessions(large, tess, priya, 6, room)
    counts = []
    for client in (small, large):
        with CaptureQueriesContext(connection) as queries:
            bundle = client_bundle(client)
        counts.append(len(queries))
        assert len(_of_type(bundle, "MedicationAdministration")) in (2, 6)
    assert counts[0] == counts[1], counts
    # The practice row; the visits and who else joined them; guardians, emergency contacts,
    # outside providers and the care team; responses, vitals and doses; the signed sessions with
    # their ratings, adverse events, notes, addenda and prescribers on site; orders; consent
    # signatures with their documents; signed notes and their addenda; decided reviews; signed
    # discharges; signed letters; uploads; and the staff they all name: 25. Then 12 more: each
    # session's checklists, safety plans, chaperone check-ins and emergency calls (4); screenings,
    # clearances, consultations, preparation sessions, course plans, gate overrides and
    # integration records with their action items (8); each session's phase marks, telephone
    # acknowledgements and the client's intentions for it (3).
    assert counts[0] <= 40


def test_it_makes_a_valid_bundle_for_every_kind_of_demo_client():
    """The quick demo (`make run`), loaded as tests/test_demo.py loads it: a client of each stage,
    and each client with an outside prescription, a signed letter, an upload or a signed discharge
    (every client takes about half a second, so not all 38)."""
    from kapflow.demo.quick import load_demo

    load_demo()
    chosen = {}
    for client in Client.objects.order_by("pk"):
        chosen.setdefault(client.stage, client.pk)
    for related in (
        MedicationOrder.objects.filter(prescriber__isnull=True),
        Letter.objects.filter(signed_at__isnull=False),
        ChartDocument.objects.all(),
        Discharge.objects.filter(signed_at__isnull=False),
        CourseReview.objects.filter(decided_at__isnull=False),
    ):
        first = related.order_by("pk").values_list("client_id", flat=True).first()
        assert first is not None, related.model  # the demo has one of each
        chosen[related.model] = first
    for client in Client.objects.filter(pk__in=set(chosen.values())):
        bundle = client_bundle(client)
        _validate_each(bundle)
        _resolves(bundle)


# ---------------------------------------------------------------------------------------------
# The rest of the designated record set: the pathway before the course, the course plan, each
# session's checklist, safety plan, ratings, check-ins, adverse events and their reviews,
# emergency calls, and the integration records. `pathway_records` is also used by
# tests/test_record_access.py, for the readable copy.

SCREENING_NOTE = "Mentions a fear of needles"
CLEARANCE_FINDINGS = "Heart sounds normal; BP controlled on amlodipine"
OUTSIDE_FINDINGS = "Seen in my clinic; no concerns"
CONSULTATION_WHY = "Nothing else has lifted the fog"
PREPARATION_INTENTIONS = "To meet the grief without drowning"
PLAN_GOALS = "Less rumination, back to running"
OVERRIDE_REASON = "Hypertension treated and checked twice"
INTEGRATION_INSIGHT = "The grief is love with nowhere to go"
ACTION_TEXT = "Call my sister on Sundays"
CHECKLIST_RIDE = "Partner drives home"
SAFETY_ADDRESS = "8 Birch Lane, Salem"
REVIEW_NOTE = "Expected, self-limiting; no change"
OVERRIDE_REVIEW_NOTE = "Escort arrived ten minutes later"
EMERGENCY_ADDRESS = "8 Birch Lane, Salem"
CHECKIN_NOTE = "Resting quietly under a blanket"
INTENTION_TEXT = "To let the old anger soften"
READ_BACK = "BP 152/94 read back; dose may proceed"


def pathway_records(client, therapist, prescriber, *, days_ago: int = 90, room=None) -> dict:
    """One of each record of the pathway for `client`, starting `days_ago` days back: a screening
    (hypersensitivity answered yes), a clearance by `prescriber` and one transcribed from an
    outside letter, a consultation, a preparation session, two course plan versions, a gate
    override, a signed virtual session with everything a session may hold, and an integration
    record with an action item."""
    from kapflow.dosing.models import (
        AdverseEvent,
        ChaperoneCheckin,
        DayOfChecklist,
        EmergencyCall,
        PhaseMark,
        PhoneAcknowledgement,
        Rating,
        SafetyPlan,
        SafetyReview,
    )
    from kapflow.integration.models import ActionItem, IntegrationRecord
    from kapflow.medical.models import Clearance, Screening
    from kapflow.medical.screening import FINDINGS, flags_for
    from kapflow.notes.models import SessionIntention
    from kapflow.pathway.models import Consultation, CoursePlan, GateOverride, PreparationSession, Topic

    now = timezone.now()
    then = now - datetime.timedelta(days=days_ago)
    # One plan in force and one active override of a gate at a time: a later call replaces them.
    CoursePlan.objects.filter(client=client, superseded_at__isnull=True).update(superseded_at=then)
    GateOverride.objects.filter(client=client, withdrawn_at__isnull=True).update(
        withdrawn_at=then, withdrawn_by=prescriber
    )
    answers = {finding.key: finding.key in ("hypersensitivity", "hypertension") for finding in FINDINGS}
    medications = [{"name": "Lorazepam", "class": "benzodiazepine"}]
    flags = flags_for(answers=answers, medications=medications, age=34)
    screening = Screening.objects.create(
        client=client,
        answers=answers,
        medications=medications,
        flags=[flag.as_dict() for flag in flags],
        age=34,
        notes=SCREENING_NOTE,
        completed_at=then,
    )
    clearance = Clearance.objects.create(
        client=client,
        screening=screening,
        prescriber=prescriber,
        decided_at=then + datetime.timedelta(days=2),
        decision=Clearance.Decision.CONDITIONS,
        conditions="Recheck blood pressure before each dose",
        resolutions={"hypersensitivity": "A rash once, not anaphylaxis", "hypertension": "Treated"},
        acknowledged=[flag.key for flag in flags if flag.level == "review"],
        systolic=134,
        diastolic=86,
        heart_rate=72,
        weight_kg=Decimal("70.5"),
        findings=CLEARANCE_FINDINGS,
        valid_until=timezone.localdate() + datetime.timedelta(days=200),
    )
    provider = OutsideProvider.objects.create(
        client=client, name="Dr. Ines Okafor", kind=OutsideProvider.Kind.PSYCHIATRIST
    )
    letter = ChartDocument(
        client=client,
        kind=ChartDocument.Kind.CLEARANCE,
        title="Clearance letter",
        provider=provider,
        original_name="letter.pdf",
        content_type="application/pdf",
        extension=".pdf",
        size=len(PDF),
        sha256=hashlib.sha256(PDF).hexdigest(),
        uploaded_by=therapist,
    )
    letter.file.save("letter.pdf", ContentFile(PDF), save=False)
    letter.save()
    outside = Clearance.objects.create(
        client=client,
        screening=screening,
        decided_at=then + datetime.timedelta(days=3),
        decision=Clearance.Decision.CLEARED,
        findings=OUTSIDE_FINDINGS,
        valid_until=timezone.localdate() + datetime.timedelta(days=100),
        outside_provider=provider,
        document=letter,
        outside_name="Dr. Ines Okafor",
        outside_credentials="MD",
        outside_npi="1234567893",
        letter_dated=timezone.localdate(then),
        filed_by=therapist,
        filed_at=then + datetime.timedelta(days=4),
    )
    consultation = Consultation.objects.create(
        client=client,
        held_on=timezone.localdate(then) - datetime.timedelta(days=7),
        clinician=therapist,
        why_kap=CONSULTATION_WHY,
        history="Two years of low mood",
        previous_treatment="Two SSRIs",
        supports="A partner and a sister",
        expectations="Some relief",
        goals="Sleep, work",
        decision=Consultation.Decision.PROCEED,
    )
    preparation = PreparationSession.objects.create(
        client=client,
        clinician=therapist,
        topics=[Topic.FEARS, Topic.DAY_OF],
        intentions=PREPARATION_INTENTIONS,
        day_of_instructions_given=True,
    )
    first_plan = CoursePlan.objects.create(
        client=client,
        goals=PLAN_GOALS,
        planned_sessions=6,
        updated_by=therapist,
        created_at=then,
        superseded_at=then + datetime.timedelta(days=40),
        review_after="3, 6",
    )
    second_plan = CoursePlan.objects.create(
        client=client,
        goals=PLAN_GOALS,
        planned_sessions=8,
        cadence=CoursePlan.Cadence.WEEKLY,
        updated_by=therapist,
        created_at=then + datetime.timedelta(days=40),
    )
    override = GateOverride.objects.create(
        client=client, gate=GateOverride.Gate.SCREENING, prescriber=prescriber, reason=OVERRIDE_REASON
    )

    runbook = _session(client, therapist, prescriber, days_ago=days_ago - 10, room=room, sign=False)
    start = runbook.visit.starts_at
    DayOfChecklist.objects.create(
        runbook=runbook,
        transport_without_driving=True,
        transport_detail=CHECKLIST_RIDE,
        last_food_at=start - datetime.timedelta(hours=6),
        last_liquid_at=start - datetime.timedelta(hours=2),
        substances=["caffeine"],
        pregnancy=DayOfChecklist.Pregnancy.NOT_APPLICABLE,
        recorded_by=therapist,
    )
    SafetyPlan.objects.create(
        runbook=runbook,
        address=SAFETY_ADDRESS,
        chaperone_name="Jo",
        chaperone_phone="555-0101",
        chaperone_is_adult=True,
        chaperone_present=True,
        recorded_by=therapist,
    )
    Rating.objects.create(
        runbook=runbook, rated_at=start + datetime.timedelta(minutes=30), sedation=2, dissociation=3,
        recorded_by=therapist,
    )  # fmt: skip
    ChaperoneCheckin.objects.create(
        runbook=runbook,
        checked_at=start + datetime.timedelta(minutes=35),
        chaperone_present=True,
        client_ok=True,
        note=CHECKIN_NOTE,
        recorded_by=therapist,
    )
    event = AdverseEvent.objects.create(
        runbook=runbook,
        noted_at=start + datetime.timedelta(minutes=20),
        kind=AdverseEvent.Kind.DIZZINESS,
        severity=AdverseEvent.Severity.MODERATE,
        action_taken="Lay down, water",
        recorded_by=therapist,
    )
    EmergencyCall.objects.create(
        runbook=runbook,
        called_at=start + datetime.timedelta(minutes=25),
        called_by=therapist,
        address=EMERGENCY_ADDRESS,
        address_from=EmergencyCall.AddressFrom.SAFETY_PLAN,
    )
    SessionIntention.objects.create(
        visit=runbook.visit,
        client=client,
        text=INTENTION_TEXT,
        source=SessionIntention.Source.PORTAL,
        entered_by=therapist,
    )
    PhaseMark.objects.create(
        runbook=runbook, phase=PhaseMark.Phase.OPENING, started_at=start, recorded_by=therapist
    )
    PhoneAcknowledgement.objects.create(
        runbook=runbook,
        reading=runbook.vitals.first(),
        provider=provider,
        prescriber_name="Dr. Ines Okafor",
        called_at=start + datetime.timedelta(minutes=2),
        read_back=READ_BACK,
        recorded_by=therapist,
    )
    Runbook.objects.filter(pk=runbook.pk).update(override_reason="Escort late", escort_present=False)
    Runbook.objects.filter(pk=runbook.pk).update(
        signed_at=start + datetime.timedelta(minutes=55), signed_by=therapist
    )
    SafetyReview.objects.create(adverse_event=event, note=REVIEW_NOTE, reviewed_by=prescriber)
    SafetyReview.objects.create(discharge_override=runbook, note=OVERRIDE_REVIEW_NOTE, reviewed_by=prescriber)
    integration = IntegrationRecord.objects.create(
        client=client,
        follows=runbook.visit,
        clinician=therapist,
        themes="Grief",
        lasting_insight=INTEGRATION_INSIGHT,
        recorded_at=start + datetime.timedelta(days=2),
    )
    ActionItem.objects.create(client=client, record=integration, text=ACTION_TEXT)
    return {
        "screening": screening,
        "clearance": clearance,
        "outside": outside,
        "letter": letter,
        "provider": provider,
        "consultation": consultation,
        "preparation": preparation,
        "plans": (first_plan, second_plan),
        "override": override,
        "runbook": runbook,
        "event": event,
        "integration": integration,
    }


@pytest.fixture
def pathway(avery, tess, priya):
    Client.objects.filter(pk=avery.pk).update(pronouns="they/them")
    avery.refresh_from_db()
    return {"client": avery, **pathway_records(avery, tess, priya, room=Room.objects.create(name="Elm"))}


def _document_of(bundle: dict, record) -> dict:
    url = f"urn:uuid:{resource_id(record._meta.label_lower, record.pk)}"
    return _by_url(bundle)[url]


def _text_of(document: dict) -> str:
    return _content(document).decode("utf-8")


def test_it_exports_the_pathway_records_as_documents_validated_and_referenced(pathway):
    bundle = client_bundle(pathway["client"])
    _validate_each(bundle)
    _resolves(bundle)
    expected = {
        "screening": (
            codes.NOTE,
            [SCREENING_NOTE, "Lorazepam (Benzodiazepine)", "Hypersensitivity to ketamine"],
        ),
        "clearance": (codes.HISTORY_AND_PHYSICAL, [CLEARANCE_FINDINGS, "A rash once", "BP 134/86 mmHg"]),
        "outside": (codes.HISTORY_AND_PHYSICAL, [OUTSIDE_FINDINGS, "Dr. Ines Okafor, MD (NPI 1234567893)"]),
        "consultation": (codes.CONSULT_NOTE, [CONSULTATION_WHY, "Go on to screening"]),
        "preparation": (
            codes.PROGRESS_NOTE,
            [PREPARATION_INTENTIONS, "Fears or concerns about altered states"],
        ),
        "override": (codes.NOTE, [OVERRIDE_REASON, "contraindication screening gate"]),
        "integration": (codes.PROGRESS_NOTE, [INTEGRATION_INSIGHT, f"{ACTION_TEXT} (open)"]),
    }
    for key, (type_, phrases) in expected.items():
        document = _document_of(bundle, pathway[key])
        assert document["resourceType"] == "DocumentReference"
        assert (type_["system"], type_["code"]) in _codes(document["type"]), key
        text = _text_of(document)
        for phrase in phrases:
            assert phrase in text, (key, phrase)
    outside = _document_of(bundle, pathway["outside"])
    assert {
        "reference": full_url("clients.outsideprovider", pathway["provider"].pk),
        "display": "Dr. Ines Okafor",
    } in outside["author"]
    related = {item["reference"] for item in outside["context"]["related"]}
    assert full_url("documents.chartdocument", pathway["letter"].pk) in related
    assert full_url("medical.screening", pathway["screening"].pk) in related
    screening = _document_of(bundle, pathway["screening"])
    assert screening["author"] == [{"reference": full_url("clients.client", pathway["client"].pk)}]
    integration = _document_of(bundle, pathway["integration"])
    assert integration["context"]["related"] == [
        {"reference": full_url("visits.visit", pathway["runbook"].visit_id)}
    ]


def test_it_makes_each_version_of_the_course_plan_a_care_plan(pathway):
    bundle = client_bundle(pathway["client"])
    first, second = (_document_of(bundle, plan) for plan in pathway["plans"])
    assert first["resourceType"] == second["resourceType"] == "CarePlan"
    assert (first["status"], second["status"]) == ("revoked", "active")
    assert first["intent"] == second["intent"] == "plan"
    assert second["replaces"] == [{"reference": full_url("pathway.courseplan", pathway["plans"][0].pk)}]
    assert "replaces" not in first and "end" in first["period"] and "end" not in second["period"]
    sessions = second["activity"][0]["detail"]
    assert sessions["quantity"]["value"] == 8 and sessions["scheduledString"] == "weekly"
    assert sessions["status"] == "in-progress" and first["activity"][0]["detail"]["status"] == "stopped"
    assert second["activity"][1]["detail"]["code"]["coding"][0]["code"] == "integration-session"
    assert second["description"] == PLAN_GOALS and first["note"] == [
        {"text": "Progress reviews after sessions 3, 6"}
    ]


def test_it_makes_adverse_events_and_puts_the_whole_session_in_its_record(pathway):
    bundle = client_bundle(pathway["client"])
    event = _document_of(bundle, pathway["event"])
    runbook = pathway["runbook"]
    first_dose = runbook.administrations.get()
    assert event["resourceType"] == "AdverseEvent" and event["actuality"] == "actual"
    assert event["severity"]["coding"][0]["code"] == "moderate"
    assert event["event"]["coding"][0] == {
        "system": codes.ADVERSE_EVENT_KIND,
        "code": "dizziness",
        "display": "Dizziness",
    }
    assert event["suspectEntity"] == [
        {"instance": {"reference": full_url("dosing.administration", first_dose.pk)}}
    ]
    assert event["referenceDocument"] == [{"reference": full_url("dosing.runbook", runbook.pk)}]
    text = _text_of(_document_of(bundle, runbook))
    for phrase in (
        CHECKLIST_RIDE, "Substances in the prior 24 hours: caffeine", "Pregnancy: Asked: not applicable",
        SAFETY_ADDRESS, "Chaperone: Jo, 555-0101", "Sedation (UMSS) 2", CHECKIN_NOTE,
        "Adverse event: Dizziness (moderate)", REVIEW_NOTE, OVERRIDE_REVIEW_NOTE,
        f"address given: {EMERGENCY_ADDRESS} (from the safety plan)",
        INTENTION_TEXT, "Opening reflection phase began", READ_BACK,
    ):  # fmt: skip
        assert phrase in text, phrase


def test_it_gives_the_patient_pronouns_and_a_reported_hypersensitivity_as_an_allergy(pathway):
    bundle = client_bundle(pathway["client"])
    (patient,) = _of_type(bundle, "Patient")
    assert patient["extension"] == [
        {
            "url": codes.PRONOUNS,
            "extension": [{"url": "value", "valueCodeableConcept": {"text": "they/them"}}],
        }
    ]
    (allergy,) = _of_type(bundle, "AllergyIntolerance")
    assert allergy["code"]["coding"] == [codes.KETAMINE]
    assert allergy["verificationStatus"]["coding"][0]["code"] == "unconfirmed"
    assert allergy["recorder"] == {"reference": full_url("clients.client", pathway["client"].pk)}


def test_it_leaves_out_the_pronouns_and_the_allergy_when_there_are_none(rich):
    bundle = client_bundle(rich["client"])
    (patient,) = _of_type(bundle, "Patient")
    assert "extension" not in patient and not _of_type(bundle, "AllergyIntolerance")


def test_it_still_leaves_out_process_notes_the_journal_and_drafts_with_the_pathway_in(pathway, tess):
    client = pathway["client"]
    ProcessNote.objects.create(client=client, author=tess, text=PROCESS_PHRASE)
    now = timezone.now()
    JournalEntry.objects.create(
        client=client, body=JOURNAL_PHRASE, written_at=now, updated_at=now, shared_at=now
    )
    raw = bundle_json(client).decode("utf-8")
    decoded = raw + "".join(
        _text_of(d)
        for d in _of_type(json.loads(raw), "DocumentReference")
        if d["content"][0]["attachment"]["contentType"].startswith("text/")
    )
    assert INTEGRATION_INSIGHT in decoded
    for phrase in (PROCESS_PHRASE, JOURNAL_PHRASE):
        assert phrase not in decoded


def test_it_runs_as_many_queries_for_one_of_each_pathway_record_as_for_three(tess, priya):
    room = Room.objects.create(name="Ash room")
    small = factories.make_client(first_name="Small", therapist=tess, prescriber=priya)
    large = factories.make_client(first_name="Large", therapist=tess, prescriber=priya)
    pathway_records(small, tess, priya, room=room)
    for days_ago in (90, 60, 30):
        pathway_records(large, tess, priya, days_ago=days_ago, room=room)
    Practice.load()  # made on first use: not a query the bundle makes each time
    counts = []
    for client in (small, large):
        with CaptureQueriesContext(connection) as queries:
            client_bundle(client)
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 40  # as test_it_runs_as_many_queries_for_2_sessions_as_for_6 counts them


def test_a_dose_from_the_practices_stock_carries_the_lots_ndc_and_expiry():
    from fhir.resources.R4B.medication import Medication

    from kapflow.controlled.models import Lot
    from kapflow.dosing.models import Administration
    from kapflow.medical.models import MedicationOrder
    from kapflow.records import fhir

    lot = Lot(
        drug="esketamine",
        product="Spravato 28 mg nasal spray device",
        form=Lot.Form.NASAL_DEVICE,
        ndc="50458-028-02",
        lot_number="SP-22",
        expires_on=datetime.date(2027, 3, 31),
    )
    dose = Administration(lot=lot, lot_number="SP-22")
    medication = fhir._dose_medication(dose, MedicationOrder(drug="esketamine"))
    assert medication["batch"] == {"lotNumber": "SP-22", "expirationDate": "2027-03-31"}
    assert (codes.NDC, "50458-028-02") in _codes(medication["code"])
    assert (codes.RXNORM, "2201623") in _codes(medication["code"])
    Medication.model_validate(medication)
    # A dose from the client's own medicine: the lot number alone.
    own = fhir._dose_medication(Administration(lot_number="PH-1"), MedicationOrder(drug="ketamine"))
    assert own["batch"] == {"lotNumber": "PH-1"} and len(own["code"]["coding"]) == 1
