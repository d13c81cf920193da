"""Diagnoses in the copy of the record (docs/fhir.md, "Diagnoses"; docs/right-of-access.md): each
diagnosis one problem-list Condition in the FHIR bundle, current, ended or entered in error, coded
in ICD-10-CM and obeying FHIR's rules on clinical status and abatement; its clinician the bundle's
one Practitioner for them, with their NPI; and every diagnosis in the readable PDF copy."""

import datetime
import io

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from kapflow.billing import diagnoses
from kapflow.clients.models import Client
from kapflow.practice.models import Practice
from kapflow.records import codes
from kapflow.records.fhir import client_bundle, full_url
from kapflow.records.pdf import record_pdf
from kapflow.records.summary import record_summary
from tests import factories

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
ICD_10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ASSERTED = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"
NPI = "1234567893"
REMISSION = "Full remission for six months."
WRONG_CLIENT = "Recorded on the wrong chart."


def _request(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


def _record(user, client, code, *, days_ago):
    return diagnoses.diagnosis_record(
        request=_request(user),
        client=client,
        code=code,
        diagnosed_on=timezone.localdate() - days_ago * DAY,
    )


def _end(user, diagnosis, *, in_error=False, days_ago=0, reason=REMISSION):
    return diagnoses.diagnosis_end(
        request=_request(user),
        diagnosis=diagnosis,
        ended_on=timezone.localdate() - days_ago * DAY,
        in_error=in_error,
        reason=reason,
    )


@pytest.fixture
def charted(avery, tess, priya):
    """Avery with three diagnoses by Tess (LCSW, with an NPI): one current, one Priya ended, one
    Tess entered in error."""
    tess.credentials, tess.npi = "LCSW", NPI
    tess.save(update_fields=["credentials", "npi"])
    current = _record(tess, avery, "F33.1", days_ago=30)
    ended = _end(priya, _record(tess, avery, "F41.1", days_ago=60), days_ago=5)
    wrong = _end(tess, _record(tess, avery, "F43.10", days_ago=20), in_error=True, reason=WRONG_CLIENT)
    return {"client": avery, "current": current, "ended": ended, "wrong": wrong}


def _entries(bundle: dict) -> dict[str, dict]:
    return {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}


def _references(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "reference" and isinstance(inner, str):
                yield inner
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _condition(bundle: dict, diagnosis) -> dict:
    return _entries(bundle)[full_url("billing.diagnosis", diagnosis.pk)]


def _clinical(condition: dict) -> str | None:
    status = condition.get("clinicalStatus")
    if status is None:
        return None
    [coding] = status["coding"]
    assert coding["system"] == CLINICAL
    return coding["code"]


def _verification(condition: dict) -> str:
    [coding] = condition["verificationStatus"]["coding"]
    assert coding["system"] == VERIFICATION
    return coding["code"]


def test_a_current_diagnosis_is_an_active_confirmed_problem_list_item_in_icd_10_cm(charted):
    bundle = client_bundle(charted["client"])
    current = charted["current"]
    condition = _condition(bundle, current)
    assert condition["resourceType"] == "Condition"
    assert condition["code"] == {
        "coding": [
            {
                "system": ICD_10_CM,
                "code": "F33.1",
                "display": "Major depressive disorder, recurrent, moderate",
            }
        ],
        "text": "Major depressive disorder, recurrent, moderate",
    }
    assert condition["category"] == [
        {"coding": [{"system": CATEGORY, "code": "problem-list-item", "display": "Problem List Item"}]}
    ]
    assert condition["clinicalStatus"] == {
        "coding": [{"system": CLINICAL, "code": "active", "display": "Active"}]
    }
    assert condition["verificationStatus"] == {
        "coding": [{"system": VERIFICATION, "code": "confirmed", "display": "Confirmed"}]
    }
    assert condition["subject"] == {"reference": full_url("clients.client", charted["client"].pk)}
    # The day it was made is asserted; the time it was written recorded; kapflow knows no onset.
    assert condition["extension"] == [{"url": ASSERTED, "valueDateTime": current.diagnosed_on.isoformat()}]
    assert condition["recordedDate"] == timezone.localtime(current.created_at).isoformat(timespec="seconds")
    for absent in ("onsetDateTime", "onsetPeriod", "abatementDateTime", "note"):
        assert absent not in condition


def test_an_ended_diagnosis_is_inactive_abated_on_its_end_with_the_reason_by_who_ended_it(charted, priya):
    bundle = client_bundle(charted["client"])
    ended = charted["ended"]
    condition = _condition(bundle, ended)
    assert _clinical(condition) == "inactive"
    assert _verification(condition) == "confirmed"
    assert condition["abatementDateTime"] == (timezone.localdate() - 5 * DAY).isoformat()
    [note] = condition["note"]
    assert note["text"] == f"No longer current from {ended.ended_on}: {REMISSION}"
    assert note["authorReference"] == {"reference": full_url("accounts.user", priya.pk)}
    assert note["time"] == timezone.localtime(ended.ended_at).isoformat(timespec="seconds")


def test_a_diagnosis_entered_in_error_has_no_clinical_status_and_no_abatement(charted):
    bundle = client_bundle(charted["client"])
    wrong = charted["wrong"]
    condition = _condition(bundle, wrong)
    assert condition["verificationStatus"]["coding"] == [
        {"system": VERIFICATION, "code": "entered-in-error", "display": "Entered in Error"}
    ]
    assert "clinicalStatus" not in condition
    assert "abatementDateTime" not in condition
    assert condition["code"]["coding"][0]["code"] == "F43.10"
    assert condition["note"][0]["text"] == f"Entered in error, found on {wrong.ended_on}: {WRONG_CLIENT}"


def test_every_condition_obeys_fhirs_status_invariants(charted):
    """fhir.resources checks structure, not FHIR's invariants: con-3, con-4 and con-5 here."""
    conditions = [
        entry["resource"]
        for entry in client_bundle(charted["client"])["entry"]
        if entry["resource"]["resourceType"] == "Condition"
    ]
    assert len(conditions) == 3
    for condition in conditions:
        in_error = _verification(condition) == "entered-in-error"
        # con-5: no clinical status on a condition entered in error.
        assert (_clinical(condition) is None) == in_error
        # con-3: a problem-list item not in error has a clinical status.
        if not in_error:
            assert _clinical(condition) in {"active", "inactive"}
        # con-4: abated only with an inactive, resolved or remission status.
        if "abatementDateTime" in condition:
            assert _clinical(condition) in {"inactive", "resolved", "remission"}


def test_the_clinician_is_the_bundles_one_practitioner_for_them_with_their_npi(charted, tess, priya):
    bundle = client_bundle(charted["client"])
    entries = _entries(bundle)
    tess_url = full_url("accounts.user", tess.pk)
    for diagnosis in ("current", "ended", "wrong"):
        condition = _condition(bundle, charted[diagnosis])
        assert condition["recorder"] == {"reference": tess_url}
        assert condition["asserter"] == {"reference": tess_url}
    practitioner = entries[tess_url]
    assert practitioner["resourceType"] == "Practitioner"
    assert {"system": codes.NPI, "value": NPI} in practitioner["identifier"]
    assert {"system": codes.STAFF_ID, "value": str(tess.pk)} in practitioner["identifier"]
    ids = [entry["resource"]["id"] for entry in bundle["entry"]]
    assert ids.count(practitioner["id"]) == 1
    # Priya has no NPI recorded: only kapflow's staff number.
    assert entries[full_url("accounts.user", priya.pk)]["identifier"] == [
        {"system": codes.STAFF_ID, "value": str(priya.pk)}
    ]


def test_the_bundle_with_diagnoses_validates_and_every_reference_resolves(charted):
    bundle = client_bundle(charted["client"])
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
    entries = _entries(bundle)
    assert len(entries) == len(bundle["entry"])
    for resource in entries.values():
        for target in _references(resource):
            assert target in entries or target == "#medication", (resource["resourceType"], target)
    again = client_bundle(charted["client"])
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


def test_a_client_without_diagnoses_has_no_condition(olive):
    kinds = {entry["resource"]["resourceType"] for entry in client_bundle(olive)["entry"]}
    assert "Condition" not in kinds


def test_diagnoses_take_one_query_however_many(tess, priya):
    one = factories.make_client(first_name="One", therapist=tess, prescriber=priya)
    many = factories.make_client(first_name="Many", therapist=tess, prescriber=priya)
    _record(tess, one, "F33.1", days_ago=10)
    for code in ("F33.1", "F41.1", "F43.10", "F34.1"):
        _end(priya, _record(tess, many, code, days_ago=40), days_ago=3)
    _record(priya, many, "F31.81", days_ago=2)
    Practice.load()  # made on first use
    counts = []
    for client in (one, many):
        with CaptureQueriesContext(connection) as queries:
            bundle = client_bundle(client)
        counts.append(len(queries))
        assert sum(entry["resource"]["resourceType"] == "Condition" for entry in bundle["entry"]) in (1, 5)
    assert counts[0] == counts[1], counts


def _pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


def test_the_readable_copy_lists_every_diagnosis_with_its_state(charted):
    client: Client = charted["client"]
    summary = record_summary(client)
    assert [d.code for d in summary.diagnoses] == ["F41.1", "F33.1", "F43.10"]
    assert ("diagnoses", "Diagnoses", 3) in summary.contents()
    text = _pdf_text(record_pdf(summary, delivered_to="Avery Alvarez"))
    assert "7. Diagnoses" in text and "8. Preparation sessions" in text and "18. Disclosures" in text
    for phrase in (
        "F33.1",
        "Major depressive disorder, recurrent, moderate",
        "Tess Therapist, LCSW",
        "Current",
        "F41.1",
        "No longer current from",
        "Full remission for six",
        "F43.10",
        "Entered in error",
        "Recorded on the wrong",
    ):
        assert phrase in text, phrase


def test_the_readable_copy_says_when_there_is_no_diagnosis(avery):
    text = _pdf_text(record_pdf(record_summary(avery), delivered_to="Avery Alvarez"))
    assert "No diagnoses recorded." in text
