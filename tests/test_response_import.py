"""Importing a PHQ-9 or GAD-7 answered in another system (docs/import.md): the FHIR
QuestionnaireResponse read and judged, each refusal in words, the preview beside the chart's
client, the confirmation, the import with its provenance, alert and audit rows, and never the
same file twice."""

import base64
import datetime
import hashlib
import json
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.measures.instruments import GAD7, PHQ9
from kapflow.measures.models import Alert, Response
from kapflow.records import importing
from kapflow.records.import_forms import IMPORT_MAX_BYTES
from kapflow.records.import_views import seal_of
from kapflow.records.importing import ImportRefused, response_import, response_parse
from kapflow.records.models import ImportedResponse
from tests import factories

AUTHORED = "2026-10-01T09:30:00+00:00"
NOW = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.UTC)


def questionnaire_response(instrument=PHQ9, values=None, *, as_integers=False, total=None, **fields) -> dict:
    """A completed QuestionnaireResponse as another system writes it: LOINC item codes in the
    linkIds ("/44250-9"), answers as LOINC answer codes or plain integers."""
    values = values if values is not None else [1] * len(instrument.items)
    by_value = {option.value: option.loinc for option in instrument.options}
    items = []
    for item, value in zip(instrument.items, values, strict=False):
        answer = (
            {"valueInteger": value}
            if as_integers
            else {"valueCoding": {"system": "http://loinc.org", "code": by_value[value]}}
        )
        items.append({"linkId": f"/{item.loinc}", "text": item.text, "answer": [answer]})
    if total is not None:
        items.append({"linkId": f"/{instrument.loinc_total}", "answer": [{"valueInteger": total}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-77",
        "identifier": {"system": "urn:oid:2.16.840.1.113883.19.5", "value": "A-1001"},
        "questionnaire": f"http://loinc.org/q/{instrument.loinc_panel}",
        "status": "completed",
        "subject": {"display": "Avery Alvarez"},
        "authored": AUTHORED,
        "author": {"display": "Riverside Clinic"},
        "item": items,
    } | fields


def as_bytes(resource: dict) -> bytes:
    return json.dumps(resource).encode()


def parse(resource: dict) -> importing.ParsedResponse:
    return response_parse(as_bytes(resource), now=NOW)


def refusal(resource: dict | bytes) -> str:
    with pytest.raises(ImportRefused) as refused:
        response_parse(resource if isinstance(resource, bytes) else as_bytes(resource), now=NOW)
    return refused.value.message


# Reading the file


def test_it_reads_a_phq9_answered_with_loinc_answer_codes():
    parsed = parse(questionnaire_response(PHQ9, [0, 1, 2, 3, 0, 1, 2, 3, 0]))
    assert parsed.instrument is PHQ9
    assert parsed.answers == {"1": 0, "2": 1, "3": 2, "4": 3, "5": 0, "6": 1, "7": 2, "8": 3, "9": 0}
    assert (parsed.total, parsed.band.label, parsed.stated_total) == (12, "Moderate", None)
    assert parsed.authored == datetime.datetime(2026, 10, 1, 9, 30, tzinfo=datetime.UTC)
    assert parsed.subject_display == "Avery Alvarez"
    assert (parsed.source_name, parsed.source_identifier) == (
        "Riverside Clinic",
        "urn:oid:2.16.840.1.113883.19.5|A-1001",
    )


def test_it_reads_a_gad7_answered_with_integers_and_its_stated_total():
    parsed = parse(questionnaire_response(GAD7, [3, 3, 2, 2, 1, 1, 0], as_integers=True, total=12))
    assert parsed.instrument is GAD7
    assert (parsed.total, parsed.stated_total, parsed.band.label) == (12, 12, "Moderate")


def test_it_recognises_the_items_by_their_definition_without_a_questionnaire():
    resource = questionnaire_response(GAD7, [1] * 7)
    del resource["questionnaire"]
    for number, item in enumerate(resource["item"], 1):
        item["definition"] = f"http://loinc.org/{item['linkId'].strip('/')}"
        item["linkId"] = f"q{number}"
    assert parse(resource).instrument is GAD7


def test_it_reads_questions_nested_in_a_group():
    resource = questionnaire_response(PHQ9, [2] * 9)
    resource["item"] = [{"linkId": "/44249-1", "item": resource["item"]}]
    assert parse(resource).total == 18


def test_it_reads_a_bundle_with_the_patient_it_is_about():
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": questionnaire_response(subject={"reference": "Patient/p1"})},
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "p1",
                    "name": [{"use": "official", "given": ["Avery", "J."], "family": "Alvarez"}],
                    "birthDate": "1991-04-12",
                }
            },
        ],
    }
    parsed = parse(bundle)
    assert (parsed.patient_name, parsed.patient_birth_date) == (
        "Avery J. Alvarez",
        datetime.date(1991, 4, 12),
    )
    assert parsed.subject_as_stated == "Avery J. Alvarez, born 1991-04-12"


def test_it_keeps_the_files_words_on_one_line_without_nul_characters():
    parsed = parse(questionnaire_response(subject={"display": "Avery\u0000\n  Alvarez"}))
    assert parsed.subject_display == "Avery Alvarez"


def test_it_takes_a_date_alone_as_the_start_of_that_day():
    parsed = parse(questionnaire_response(authored="2026-10-01"))
    assert timezone.localtime(parsed.authored).date() == datetime.date(2026, 10, 1)
    assert timezone.localtime(parsed.authored).time() == datetime.time(0, 0)


def test_it_reads_a_file_with_a_byte_order_mark():
    assert response_parse(b"\xef\xbb\xbf" + as_bytes(questionnaire_response()), now=NOW).total == 9


def test_it_refuses_json_nested_too_deeply_without_a_500():
    assert "nested too deeply" in refusal(b"[" * 100_000 + b"]" * 100_000)


def _without(key):
    resource = questionnaire_response()
    del resource[key]
    return resource


def _items(change):
    resource = questionnaire_response()
    change(resource["item"])
    return resource


def _answer(item_index, answer):
    def change(items):
        items[item_index]["answer"] = [answer]

    return _items(change)


REFUSALS = {
    "not JSON": (b"PHQ-9: 1,1,1", "This is not JSON"),
    "not a FHIR resource": (b'{"answers": [1, 2]}', "it has no resourceType"),
    "another resource": ({"resourceType": "Patient"}, "This is a FHIR Patient, not a QuestionnaireResponse."),
    "a bad field, named": (
        questionnaire_response(authored="last Tuesday"),
        "valid FHIR QuestionnaireResponse: authored",
    ),
    "a field FHIR does not have, named": (questionnaire_response(score=12), "QuestionnaireResponse: score"),
    "not completed": (
        questionnaire_response(status="in-progress"),
        "status is 'in-progress', not 'completed'",
    ),
    "a PCL-5": (
        questionnaire_response(questionnaire="http://example.org/Questionnaire/pcl-5"),
        "The PCL-5 has no confirmed LOINC code",
    ),
    "an unknown questionnaire": (
        questionnaire_response(questionnaire="http://example.org/q/audit-c", item=[{"linkId": "a1"}]),
        "Only a PHQ-9 (LOINC 44249-1) or a GAD-7 (LOINC 69737-5) can be imported",
    ),
    "an item missing": (_items(lambda items: items.pop()), "no answer to question 9 (44260-8)"),
    "an unknown item": (
        _items(lambda items: items.append({"linkId": "/69725-0", "answer": [{"valueInteger": 1}]})),
        "The item '/69725-0' is not a question of the PHQ-9",
    ),
    "an item answered twice": (
        _items(lambda items: items.append(dict(items[0]))),
        "Question 1 of the PHQ-9 (44250-9) is answered twice.",
    ),
    "an item without an answer": (
        _items(lambda items: items[2].pop("answer")),
        "Question 3 of the PHQ-9 (44259-0) has no answer.",
    ),
    "an answer not LOINC's": (
        _answer(0, {"valueCoding": {"system": "http://loinc.org", "code": "LA6752-5"}}),
        "is answered 'LA6752-5', which is not one of its LOINC answers "
        "(LA6568-5, LA6569-3, LA6570-1, LA6571-9)",
    ),
    "an integer out of range": (_answer(8, {"valueInteger": 4}), "is answered 4, outside its range 0 to 3."),
    "an answer of another type": (_answer(1, {"valueString": "often"}), "neither a LOINC answer code"),
    "no authored date": (_without("authored"), "it has no authored date"),
    "an authored date in the future": (questionnaire_response(authored="2026-11-02"), "is in the future"),
    "an authored month alone": (questionnaire_response(authored="2026-10"), "is not precise enough"),
    "a bundle of two responses": (
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": questionnaire_response()}, {"resource": questionnaire_response()}],
        },
        "The bundle holds 2 QuestionnaireResponses: it must hold exactly one.",
    ),
    "a bundle with something else": (
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"resource": questionnaire_response()},
                {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "PHQ-9"}}},
            ],
        },
        "The bundle holds a Observation",
    ),
    "an authored date given as a number": (
        questionnaire_response(authored=2026),
        "The authored date 2026 is not a FHIR date: it must be text.",
    ),
    "a boolean for an integer answer": (
        _answer(0, {"valueInteger": True}),
        "The file gives valueInteger as true, which is not a number.",
    ),
    "a resource of a type FHIR does not have, in a bundle": (
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Nope"}}]},
        "holds a resource of a type FHIR R4 does not have",
    ),
    "a contained resource without a type FHIR has": (
        questionnaire_response(contained=[{"resourceType": 5}]),
        "holds a resource of a type FHIR R4 does not have",
    ),
    "an authored date at the end of time": (
        questionnaire_response(authored="9999-12-31T23:59:59-12:00"),
        "is out of range",
    ),
    "an authored date before the start of time": (
        questionnaire_response(authored="0001-01-01T00:00:00+14:00"),
        "is out of range",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_it_refuses_with_a_reason(case):
    resource, words = REFUSALS[case]
    assert words in refusal(resource)


def test_it_refuses_a_stated_total_that_disagrees_naming_both_figures():
    resource = questionnaire_response(PHQ9, [0, 1, 2, 3, 0, 1, 2, 3, 0], total=14)
    assert refusal(resource) == "The file states a total of 14, but its answers add up to 12."


# Importing


@pytest.fixture
def as_tess(rf, tess):
    request = rf.post("/")
    request.user = tess
    return request


def test_it_imports_into_the_clients_measures_with_where_it_came_from(as_tess, tess, avery, audit_rows):
    raw = as_bytes(questionnaire_response(PHQ9, [1] * 8 + [0]))
    parsed = response_parse(raw)
    response = response_import(
        request=as_tess, client=avery, parsed=parsed, file_sha256=hashlib.sha256(raw).hexdigest()
    )
    response.refresh_from_db()
    assert (response.client, response.instrument, response.total, response.band) == (avery, "phq9", 8, "Mild")
    assert response.answers == {str(n): 1 for n in range(1, 9)} | {"9": 0}
    assert response.completed_at == datetime.datetime(2026, 10, 1, 9, 30, tzinfo=datetime.UTC)
    assert (response.context, response.entered_by) == (Response.Context.OTHER, tess)
    source = response.import_source
    assert (source.source_name, source.source_identifier, source.subject_as_stated) == (
        "Riverside Clinic",
        "urn:oid:2.16.840.1.113883.19.5|A-1001",
        "Avery Alvarez",
    )
    assert (source.file_sha256, source.imported_by) == (hashlib.sha256(raw).hexdigest(), tess)
    [recorded] = audit_rows("kapflow.measures.response.recorded")
    [imported] = audit_rows("kapflow.records.response.imported")
    assert (recorded.client_id, recorded.object_id, recorded.actor) == (avery.pk, str(response.pk), tess)
    assert imported.detail == {"instrument": "phq9"}  # the file's words stay out of the audit log
    assert not Alert.objects.exists()


def test_it_raises_the_item_9_alert_as_for_any_answer(as_tess, tess, avery, audit_rows):
    raw = as_bytes(questionnaire_response(PHQ9, [0] * 8 + [1]))
    response = response_import(
        request=as_tess, client=avery, parsed=response_parse(raw), file_sha256=hashlib.sha256(raw).hexdigest()
    )
    [alert] = Alert.objects.all()
    assert (alert.response, alert.assigned_to, alert.kind) == (response, tess, Alert.Kind.SUICIDALITY)
    assert len(audit_rows("kapflow.measures.alert.raised")) == 1


def test_it_refuses_the_same_file_twice_saying_when_and_by_whom(rf, as_tess, colin, avery, olive):
    raw = as_bytes(questionnaire_response())
    sha = hashlib.sha256(raw).hexdigest()
    response_import(request=as_tess, client=avery, parsed=response_parse(raw), file_sha256=sha)
    first = ImportedResponse.objects.get()
    when = timezone.localtime(first.imported_at)
    with pytest.raises(importing.AlreadyImported) as again:
        response_import(request=as_tess, client=avery, parsed=response_parse(raw), file_sha256=sha)
    assert again.value.message == (
        f"This file was imported already, into this client's measures, on {when:%b} {when.day}, "
        f"{when.year} by Tess Therapist. The same file is never imported twice."
    )
    as_colin = rf.post("/")
    as_colin.user = colin
    with pytest.raises(importing.AlreadyImported, match="into another client's measures"):
        response_import(request=as_colin, client=olive, parsed=response_parse(raw), file_sha256=sha)
    assert Response.objects.count() == 1


def test_it_refuses_the_second_of_two_imports_at_once(monkeypatch, as_tess, avery, audit_rows):
    """The second sending got past the first look before the first was saved: the unique hash
    stops it, and nothing of it is kept."""
    raw = as_bytes(questionnaire_response())
    sha = hashlib.sha256(raw).hexdigest()
    response_import(request=as_tess, client=avery, parsed=response_parse(raw), file_sha256=sha)
    monkeypatch.setattr(importing, "already_imported", lambda *args, **kwargs: None)
    with pytest.raises(importing.AlreadyImported, match="by Tess Therapist"):
        response_import(request=as_tess, client=avery, parsed=response_parse(raw), file_sha256=sha)
    assert Response.objects.count() == 1
    assert len(audit_rows("kapflow.records.response.imported")) == 1


# The pages


def start_url(client):
    return reverse("records_import:start", args=[client.pk])


def confirm_url(client):
    return reverse("records_import:confirm", args=[client.pk])


def test_it_is_linked_from_the_measures_page(login, tess, avery):
    page = login(tess).get(reverse("measures:list", args=[avery.pk]))
    assert start_url(avery) in page.content.decode()


def test_it_previews_pasted_json_beside_the_chart_without_writing(login, tess, avery, audit_rows):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": questionnaire_response(PHQ9, [0] * 8 + [2])},
            {
                "resource": {
                    "resourceType": "Patient",
                    "name": [{"text": "A. Alvarez"}],
                    "birthDate": "1980-02-03",
                }
            },
        ],
    }
    page = login(tess).post(start_url(avery), {"text": json.dumps(bundle)})
    html = page.content.decode()
    assert page.status_code == 200
    assert "A. Alvarez" in html and "Feb 3, 1980" in html  # what the file says
    assert avery.date_of_birth.strftime("%b") in html and "Avery Alvarez" in html  # the chart
    assert "Thoughts that you would be better off dead" in html and "More than half the days" in html
    assert "2 · Minimal" in html
    assert "These are Avery Alvarez&#x27;s answers" in html
    assert '<span class="visually-hidden">Do they match?</span>' in html  # no empty column heading
    assert not Response.objects.exists() and not ImportedResponse.objects.exists()
    assert len(audit_rows("kapflow.records.import.previewed")) == 1


def test_it_previews_an_uploaded_file_and_carries_its_exact_bytes(login, tess, avery):
    raw = json.dumps(questionnaire_response(GAD7), indent=2).replace("\n", "\r\n").encode()
    upload = SimpleUploadedFile("gad7.json", raw, content_type="application/json")
    page = login(tess).post(start_url(avery), {"file": upload})
    assert page.context["form"]["payload"].value() == base64.b64encode(raw).decode()
    assert page.context["parsed"].instrument is GAD7


def test_it_keeps_what_was_pasted_when_it_refuses(login, tess, avery):
    pasted = json.dumps(questionnaire_response(status="amended"))
    page = login(tess).post(start_url(avery), {"text": pasted})
    html = page.content.decode()
    assert "status is &#x27;amended&#x27;, not &#x27;completed&#x27;" in html
    assert page.context["form"]["text"].value() == pasted
    assert not Response.objects.exists()


def test_it_refuses_a_file_too_large(login, tess, avery):
    upload = SimpleUploadedFile("big.json", b" " * (IMPORT_MAX_BYTES + 1))
    page = login(tess).post(start_url(avery), {"file": upload})
    assert "the largest accepted is 256 KB" in page.content.decode()


def test_it_asks_for_a_file_or_pasted_json(login, tess, avery):
    page = login(tess).post(start_url(avery), {"text": "   "})
    assert "Choose a .json file or paste the JSON." in page.content.decode()


def confirmation(raw: bytes, *, by, client, **fields) -> dict:
    """What the preview's form sends back: the file, the preview's seal on it, the box ticked."""
    return {
        "payload": base64.b64encode(raw).decode(),
        "seal": seal_of(client_id=client.pk, user_id=by.pk, raw=raw),
        "confirmed": "on",
    } | fields


def test_it_imports_once_the_clinician_confirms_and_the_list_says_where_from(login, tess, avery, audit_rows):
    raw = as_bytes(questionnaire_response(GAD7, [2] * 7, as_integers=True))
    http = login(tess)
    done = http.post(confirm_url(avery), confirmation(raw, by=tess, client=avery))
    response = Response.objects.get()
    assert done.status_code == 302 and done["Location"] == reverse(
        "measures:detail", args=[avery.pk, response.pk]
    )
    assert response.import_source.file_sha256 == hashlib.sha256(raw).hexdigest()
    today = timezone.localtime(response.import_source.imported_at)
    listed = http.get(reverse("measures:list", args=[avery.pk])).content.decode()
    assert (
        f"Imported from Riverside Clinic by Tess Therapist on {today:%b} {today.day}, {today.year}" in listed
    )
    detail = http.get(done["Location"]).content.decode()
    assert "Imported from Riverside Clinic by Tess Therapist" in detail
    assert len(audit_rows("kapflow.records.response.imported")) == 1


def test_it_imports_nothing_without_the_confirmation(login, tess, avery):
    raw = as_bytes(questionnaire_response())
    page = login(tess).post(confirm_url(avery), confirmation(raw, by=tess, client=avery, confirmed=""))
    assert "Tick this box once you have checked" in page.content.decode()
    assert page.context["parsed"].total == 9
    assert not Response.objects.exists()


def test_it_refuses_at_the_preview_a_file_imported_before(login, tess, avery):
    raw = as_bytes(questionnaire_response())
    http = login(tess)
    http.post(confirm_url(avery), confirmation(raw, by=tess, client=avery))
    again = http.post(start_url(avery), {"text": json.dumps(questionnaire_response())})
    assert "This file was imported already, into this client&#x27;s measures" in again.content.decode()
    confirmed_again = http.post(confirm_url(avery), confirmation(raw, by=tess, client=avery))
    assert "by Tess Therapist" in confirmed_again.content.decode()
    assert Response.objects.count() == 1


def test_it_shows_the_urgent_message_for_an_item_9_answer(login, tess, avery):
    raw = as_bytes(questionnaire_response(PHQ9, [0] * 8 + [3]))
    page = login(tess).post(confirm_url(avery), confirmation(raw, by=tess, client=avery), follow=True)
    assert "Urgent: the imported answer to question 9" in page.content.decode()
    assert Alert.objects.get().client == avery


def test_it_refuses_a_damaged_payload_without_a_500(login, tess, avery):
    page = login(tess).post(confirm_url(avery), {"payload": "%%% not base64", "confirmed": "on"})
    assert page.status_code == 200
    assert "The file was lost on the way" in page.content.decode()


@pytest.mark.parametrize("who, status", [("colin", 404), ("cora", 404), ("ada", 404), ("cleo", 403)])
def test_it_answers_only_the_clients_own_clinicians(request, login, avery, who, status):
    raw = as_bytes(questionnaire_response())
    user = request.getfixturevalue(who)
    http = login(user)
    assert http.get(start_url(avery)).status_code == status
    assert http.post(confirm_url(avery), confirmation(raw, by=user, client=avery)).status_code == status
    assert not Response.objects.exists()


# Round trip: kapflow's own export (kapflow.records.fhir) read back by another kapflow


@pytest.mark.parametrize(
    "instrument, values", [(PHQ9, [3, 2, 1, 0, 3, 2, 1, 0, 1]), (GAD7, [0, 1, 2, 3, 3, 2, 1])]
)
def test_it_imports_kapflows_own_export_with_the_same_answers_and_score(
    rf, as_tess, colin, avery, olive, instrument, values
):
    from kapflow.measures.services import response_record
    from kapflow.records.fhir import questionnaire_response as exported

    answers = {item.key: value for item, value in zip(instrument.items, values, strict=True)}
    original = response_record(
        request=as_tess,
        client=avery,
        instrument=instrument,
        answers=answers,
        context="weekly",
        entered_by=as_tess.user,
    )
    raw = json.dumps(exported(original)).encode()
    as_colin = rf.post("/")
    as_colin.user = colin
    parsed = response_parse(raw)
    copy = response_import(
        request=as_colin, client=olive, parsed=parsed, file_sha256=hashlib.sha256(raw).hexdigest()
    )
    assert (copy.client, copy.instrument, copy.answers) == (olive, original.instrument, original.answers)
    assert (copy.total, copy.band, parsed.stated_total) == (original.total, original.band, original.total)
    assert copy.completed_at == original.completed_at.replace(microsecond=0)


# Two imports of the same file at the same instant, each on its own connection (as
# tests/test_concurrency.py): the unique hash lets one through.


@pytest.fixture(scope="module")
def _audit_triggers_back_at_the_end(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture
def committed(_audit_triggers_back_at_the_end, transactional_db):
    """The test commits, so the audit table's append-only triggers are lifted for the flush after
    it, and put back once this module is done."""
    install_triggers(connection)
    yield
    drop_triggers(connection)


@pytest.mark.concurrency
@pytest.mark.parametrize("second_spacing", [None, 2], ids=["the same file", "the same response, respaced"])
def test_it_lets_one_of_two_imports_of_the_same_file_at_once_through(
    committed, monkeypatch, rf, tess, avery, second_spacing
):
    raws = [
        json.dumps(questionnaire_response(), indent=spacing).encode() for spacing in (None, second_spacing)
    ]
    original = importing.already_imported

    def looked_then_paused(*args, **kwargs):
        original(*args, **kwargs)
        time.sleep(0.4)  # both have looked before either saves: the race is certain

    monkeypatch.setattr(importing, "already_imported", looked_then_paused)
    request = rf.post("/")
    request.user = tess
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            raw = raws[index]
            results[index] = response_import(
                request=request,
                client=avery,
                parsed=response_parse(raw),
                file_sha256=hashlib.sha256(raw).hexdigest(),
            )
        except Exception as error:  # noqa: BLE001 (the test inspects what each thread raised)
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting: a deadlock?"
    refused = [result for result in results if isinstance(result, importing.AlreadyImported)]
    saved = [result for result in results if isinstance(result, Response)]
    assert (len(saved), len(refused)) == (1, 1), results
    assert "by Tess Therapist" in refused[0].message
    assert Response.objects.count() == ImportedResponse.objects.count() == 1


# The same response again, and answers that cannot be the client's


def test_it_refuses_the_same_response_exported_again_for_the_same_client(login, tess, avery, olive, rf):
    """Another file, the same QuestionnaireResponse.identifier: the same answers, exported twice."""
    http = login(tess)
    raw = as_bytes(questionnaire_response())
    http.post(confirm_url(avery), confirmation(raw, by=tess, client=avery))
    again = json.dumps(questionnaire_response(), indent=2)
    preview = http.post(start_url(avery), {"text": again}).content.decode()
    assert "identifier urn:oid:2.16.840.1.113883.19.5|A-1001 was imported already" in preview
    confirmed = http.post(confirm_url(avery), confirmation(again.encode(), by=tess, client=avery))
    assert "was imported already into this client&#x27;s measures" in confirmed.content.decode()
    assert Response.objects.count() == 1


def test_it_imports_a_response_without_an_identifier_by_its_file_alone(as_tess, avery):
    for spacing in (None, 2):
        raw = json.dumps(questionnaire_response(identifier=None, id="qr-77"), indent=spacing).encode()
        parsed = response_parse(raw)
        response_import(
            request=as_tess, client=avery, parsed=parsed, file_sha256=hashlib.sha256(raw).hexdigest()
        )
    assert Response.objects.count() == 2


def test_it_refuses_answers_dated_before_the_client_was_born(login, tess, avery):
    born = avery.date_of_birth
    text = json.dumps(questionnaire_response(authored=f"{born.year - 1}-01-01"))
    page = login(tess).post(start_url(avery), {"text": text}).content.decode()
    assert f"before this client was born ({born:%Y-%m-%d})" in page
    login(tess).post(confirm_url(avery), confirmation(text.encode(), by=tess, client=avery))
    assert not Response.objects.exists()


@pytest.mark.parametrize(
    "data, words",
    [
        ({"file": b"", "text": ""}, "This is not JSON"),
        ({"file": json.dumps(questionnaire_response()).encode("utf-16"), "text": ""}, "This is not JSON"),
        ({"file": b"\xff\xfe\x00junk", "text": ""}, "This is not JSON"),
        ({"file": as_bytes(questionnaire_response()), "text": "{}"}, "not both"),
    ],
    ids=["an empty file", "UTF-16", "not text at all", "a file and pasted JSON"],
)
def test_it_refuses_an_odd_upload_in_words(login, tess, avery, data, words):
    upload = SimpleUploadedFile("answers.json", data["file"], content_type="application/json")
    page = login(tess).post(start_url(avery), {"file": upload, "text": data["text"]})
    assert page.status_code == 200 and words in page.content.decode()
    assert not Response.objects.exists()


def test_it_imports_only_the_file_previewed_beside_this_chart_by_this_clinician(
    login, tess, priya, avery, olive
):
    """The confirmation carries the file back: changed, sent to another chart's address, or sent
    by someone else, it is not what the clinician checked, and nothing is imported."""
    raw = as_bytes(questionnaire_response())
    page = login(tess).post(start_url(avery), {"text": raw.decode()})
    previewed = {name: page.context["form"][name].value() for name in ("payload", "seal")}
    changed = as_bytes(questionnaire_response(PHQ9, [3] * 9))
    attempts = [
        (tess, avery, previewed | {"payload": base64.b64encode(changed).decode()}),
        (tess, avery, previewed | {"seal": ""}),
        (priya, avery, previewed),
    ]
    for user, client, data in attempts:
        refused = login(user).post(confirm_url(client), data | {"confirmed": "on"})
        assert "not of a file previewed for this client by you" in refused.content.decode()
    odile = factories.make_client(first_name="Odile", therapist=tess)
    refused = login(tess).post(confirm_url(odile), previewed | {"confirmed": "on"})
    assert "not of a file previewed for this client by you" in refused.content.decode()
    assert not Response.objects.exists()
    done = login(tess).post(confirm_url(avery), previewed | {"confirmed": "on"})
    assert done.status_code == 302 and Response.objects.get().client == avery
