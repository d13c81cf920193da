"""The outside prescriber's decision received as a document (docs/outside-prescriber.md): a
clinician of the care team files the signed clearance letter or prescription by transcribing it,
confirming each field against the document; the gates accept the transcribed clearance and say
whose it is; a transcribed order is no wider than its prescription; the NPI's check digit; and,
on the runbook, the outside prescriber's acknowledgement of a caution reading as a recorded call."""

import datetime
import hashlib
import re
from decimal import Decimal

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from kapflow.clients.models import OutsideProvider
from kapflow.documents.models import ChartDocument
from kapflow.dosing.models import PhoneAcknowledgement, Runbook
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.services.vitals import caution_acknowledge_by_phone
from kapflow.lib.gates import Status
from kapflow.lib.identifiers import npi_problem
from kapflow.medical import gates
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.medical.services import CLEARANCE_TRANSCRIBED, ORDER_TRANSCRIBED
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests.test_runbook import DAY, at, checked_in, dose, make_order, vitals

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 5, 10, 15, 0, tzinfo=datetime.UTC)
GOOD_NPI = "1234567893"  # CMS's worked example of the check digit


def filed(client, kind, who, title) -> ChartDocument:
    content = b"%PDF-1.4 a signed letter"
    return ChartDocument.objects.create(
        client=client,
        kind=kind,
        title=title,
        file=ContentFile(content, name="scan.pdf"),
        original_name="scan.pdf",
        content_type="application/pdf",
        extension=".pdf",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=who,
    )


@pytest.fixture
def raman(avery):
    return OutsideProvider.objects.create(client=avery, name="Dr Anil Raman", kind="psychiatrist")


@pytest.fixture
def letter(avery, tess):
    Screening.objects.create(client=avery, answers={}, age=35)
    return filed(avery, ChartDocument.Kind.CLEARANCE, tess, "Clearance letter from Dr Raman")


def letter_form(raman, letter, **changes) -> dict:
    data = {
        "provider": raman.pk,
        "document": letter.pk,
        "outside_name": "Dr Anil Raman",
        "outside_credentials": "MD",
        "outside_npi": GOOD_NPI,
        "letter_dated": "2026-05-03",
        "valid_until": "2026-11-03",
        "decision": "cleared",
        "conditions": "",
        "findings": "Evaluated 1 May: blood pressure 122/78, no contraindication.",
        **{f"confirm_{name}": "on" for name in CLEARANCE_TRANSCRIBED},
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def file_letter(http, avery, data):
    with time_machine.travel(NOW, tick=False):
        return http.post(reverse("medical:clearance_transcribe", args=[avery.pk]), data)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# --- The NPI: ten digits, the Luhn check digit with the 80840 prefix ------------------------------


@pytest.mark.parametrize(
    "npi, problem",
    [
        (GOOD_NPI, ""),
        ("1245319599", ""),
        ("1234567890", "check digit"),
        ("1234567839", "check digit"),  # two digits swapped
        ("123456789", "10 digits"),
        ("12345678a3", "10 digits"),
        ("１２３４５６７８９３", "10 digits"),  # full-width digits are not digits here
    ],
)
def test_the_npi_check_digit_is_the_luhn_digit_with_the_80840_prefix(npi, problem):
    assert (problem in npi_problem(npi)) if problem else npi_problem(npi) == ""


# --- The clearance letter ------------------------------------------------------------------------


def test_it_files_a_transcribed_clearance_and_the_gate_names_the_prescriber_letter_and_filer(
    avery, tess, raman, letter, login, audit_rows
):
    response = file_letter(login(tess), avery, letter_form(raman, letter))
    clearance = Clearance.objects.get(client=avery)
    assert response.status_code == 302
    assert response["Location"] == reverse("medical:clearance_detail", args=[avery.pk, clearance.pk])
    assert clearance.prescriber is None and clearance.filed_by == tess and clearance.filed_at == NOW
    assert clearance.document == letter and clearance.outside_provider == raman
    assert clearance.confirmed_fields == list(CLEARANCE_TRANSCRIBED)
    with time_machine.travel(NOW, tick=False):
        result = gates.clearance_gate(avery)
    assert result.status is Status.PASS
    assert result.reason == (
        f"Cleared by Dr Anil Raman (outside) until Nov 3, 2026 — letter of May 3, 2026, "
        f"filed by {tess.display_name}."
    )
    assert len(audit_rows("kapflow.medical.clearance.transcribed")) == 1


def test_the_clearance_page_and_the_medical_summary_show_the_outside_letter(
    avery, tess, raman, letter, login
):
    http = login(tess)
    file_letter(http, avery, letter_form(raman, letter))
    clearance = Clearance.objects.get(client=avery)
    with time_machine.travel(NOW, tick=False):
        detail = text(http.get(reverse("medical:clearance_detail", args=[avery.pk, clearance.pk])))
        summary = text(http.get(reverse("medical:summary", args=[avery.pk])))
    assert "Dr Anil Raman (outside)" in detail and f"NPI {GOOD_NPI}" in detail
    assert "Clearance letter from Dr Raman, dated May 3, 2026" in detail
    assert "Cleared by Dr Anil Raman (outside) until Nov 3, 2026 — letter of May 3, 2026" in summary


def test_an_expired_transcribed_clearance_blocks(avery, tess, raman, letter, login):
    file_letter(login(tess), avery, letter_form(raman, letter))
    with time_machine.travel(datetime.datetime(2026, 11, 4, 12, 0, tzinfo=datetime.UTC), tick=False):
        result = gates.clearance_gate(avery)
    assert result.status is Status.FAIL
    assert "Dr Anil Raman (outside) (letter of May 3, 2026) expired on Nov 3, 2026" in result.reason


def test_a_transcribed_not_cleared_letter_blocks(avery, tess, raman, letter, login):
    file_letter(login(tess), avery, letter_form(raman, letter, decision="not_cleared", valid_until=""))
    with time_machine.travel(NOW, tick=False):
        result = gates.clearance_gate(avery)
    assert (
        result.status is Status.FAIL and "Not medically cleared by Dr Anil Raman (outside)" in result.reason
    )


def test_a_transcription_missing_a_confirmation_is_refused_with_the_form_back(
    avery, tess, raman, letter, login
):
    response = file_letter(login(tess), avery, letter_form(raman, letter, confirm_valid_until=None))
    assert response.status_code == 200
    html = text(response)
    assert "Check “Valid until” against the document and tick to confirm it." in html
    assert 'value="Dr Anil Raman"' in html and f'value="{GOOD_NPI}"' in html
    assert not Clearance.objects.filter(client=avery).exists()


@pytest.mark.parametrize(
    "npi, words", [("1234567890", "check digit does not match"), ("12345", "An NPI is 10 digits.")]
)
def test_a_bad_npi_is_refused(avery, tess, raman, letter, login, npi, words):
    response = file_letter(login(tess), avery, letter_form(raman, letter, outside_npi=npi))
    assert response.status_code == 200 and words in text(response)
    assert not Clearance.objects.filter(client=avery).exists()


def test_a_letter_is_valid_no_longer_than_the_practice_allows_from_its_date(
    avery, tess, raman, letter, login
):
    response = file_letter(login(tess), avery, letter_form(raman, letter, valid_until="2027-06-01"))
    assert "From the letter&#x27;s date to May 3, 2027 at most" in text(response)
    assert not Clearance.objects.filter(client=avery).exists()


def test_only_an_outside_prescribing_provider_and_a_clearance_letter_of_this_client(
    avery, olive, tess, raman, letter, login
):
    their_therapist = OutsideProvider.objects.create(client=avery, name="Jo Counsellor", kind="therapist")
    elsewhere = filed(olive, ChartDocument.Kind.CLEARANCE, tess, "Olive's letter")
    http = login(tess)
    for changes in ({"provider": their_therapist.pk}, {"document": elsewhere.pk}):
        response = file_letter(http, avery, letter_form(raman, letter, **changes))
        assert response.status_code == 200 and "Select a valid choice" in text(response)
    assert not Clearance.objects.exists()


def test_a_letter_is_transcribed_once(avery, tess, raman, letter, login):
    http = login(tess)
    file_letter(http, avery, letter_form(raman, letter))
    response = file_letter(http, avery, letter_form(raman, letter))
    assert response.status_code == 200 and Clearance.objects.filter(client=avery).count() == 1


def test_a_coordinator_cannot_file_and_the_record_is_locked(avery, tess, cora, raman, letter, login):
    assert file_letter(login(cora), avery, letter_form(raman, letter)).status_code == 403
    file_letter(login(tess), avery, letter_form(raman, letter))
    with pytest.raises(Exception, match="signed clinical record"), transaction.atomic():
        Clearance.objects.filter(client=avery).update(outside_npi="1245319599")


def test_the_database_wants_a_staff_prescriber_or_a_whole_outside_transcription(avery, priya, raman, letter):
    screening = Screening.objects.get(client=avery)
    for fields in (
        {},  # neither
        {"prescriber": priya, "outside_provider": raman, "document": letter, "outside_name": "Dr Raman"},
        {"outside_provider": raman, "outside_name": "Dr Raman", "outside_npi": GOOD_NPI},  # no document
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Clearance.objects.create(
                client=avery, screening=screening, decision="deferred", findings="…", **fields
            )


# --- The prescription ----------------------------------------------------------------------------


@pytest.fixture
def prescription(avery, tess):
    return filed(avery, ChartDocument.Kind.PRESCRIPTION, tess, "Prescription from Dr Raman")


def prescription_form(raman, prescription, **changes) -> dict:
    data = {
        "provider": raman.pk,
        "document": prescription.pk,
        "outside_name": "Dr Anil Raman",
        "outside_npi": GOOD_NPI,
        "prescribed_on": "2026-05-03",
        "drug": "ketamine",
        "strength_form": "Ketamine HCl 100 mg sublingual troche",
        "strength_mg": "100",
        "quantity": "9",
        "directions": "Dissolve 2–3 troches under the tongue at the session.",
        "sessions_prescribed": "3",
        "pharmacy": "Elm Street Compounding",
        "fill_date": "2026-05-05",
        "route": "sublingual",
        "unit": "mg",
        "dose_min": "200",
        "dose_max": "300",
        "weight_kg": "",
        "boosters_allowed": "0",
        "booster_max_mg": "",
        "sessions_authorised": "3",
        "starts_on": "2026-05-05",
        "ends_on": "2026-08-01",
        **{f"confirm_{name}": "on" for name in ORDER_TRANSCRIBED},
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def file_prescription(http, avery, data):
    with time_machine.travel(NOW, tick=False):
        return http.post(reverse("medical:order_transcribe", args=[avery.pk]), data)


def test_it_files_a_transcribed_prescription_as_an_order_the_gate_accepts(
    avery, tess, raman, prescription, login, audit_rows
):
    response = file_prescription(login(tess), avery, prescription_form(raman, prescription))
    order = MedicationOrder.objects.get(client=avery)
    assert response.status_code == 302
    assert order.prescriber is None and order.filed_by == tess and order.sessions_prescribed == 3
    assert order.instructions == "Dissolve 2–3 troches under the tongue at the session."
    with time_machine.travel(NOW, tick=False):
        result = gates.order_gate(avery, route="sublingual", dose_mg=250)
        page = text(login(tess).get(reverse("medical:order_detail", args=[avery.pk, order.pk])))
    assert result.status is Status.PASS
    assert "Dr Anil Raman (outside)" in page and "Elm Street Compounding" in page
    assert len(audit_rows("kapflow.medical.order.transcribed")) == 1


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"sessions_authorised": "4"}, "The prescription is for 3 sessions: authorise no more."),
        ({"dose_max": "1000"}, "is more than the prescription dispenses (900 mg)"),
        ({"quantity": "6"}, "3 session(s) at up to 300 mg need 900 mg"),
        ({"boosters_allowed": "1", "booster_max_mg": "100"}, "at up to 400 mg need 1200 mg"),
        ({"starts_on": "2026-05-01"}, "cannot start before the prescription was written"),
        ({"ends_on": "2026-12-01"}, "ends by Nov 3, 2026 at the latest"),
        ({"fill_date": "2026-05-01"}, "The fill date is before the prescription was written."),
    ],
)
def test_a_transcribed_order_wider_than_its_prescription_is_refused(
    avery, tess, raman, prescription, login, changes, words
):
    response = file_prescription(login(tess), avery, prescription_form(raman, prescription, **changes))
    assert response.status_code == 200
    assert words in text(response).replace("&#x27;", "'")
    assert not MedicationOrder.objects.filter(client=avery).exists()


def test_a_prescription_missing_a_confirmation_is_refused(avery, tess, raman, prescription, login):
    response = file_prescription(
        login(tess), avery, prescription_form(raman, prescription, confirm_pharmacy=None)
    )
    assert response.status_code == 200 and "Check “Pharmacy” against the document" in text(response)
    assert 'value="Elm Street Compounding"' in text(response)
    assert not MedicationOrder.objects.exists()


def test_the_database_refuses_more_sessions_than_the_prescription(avery, raman, prescription, tess):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_order(
            avery,
            None,
            outside_provider=raman,
            document=prescription,
            outside_name="Dr Anil Raman",
            outside_npi=GOOD_NPI,
            filed_by=tess,
            filed_at=NOW,
            prescribed_on=NOW.date(),
            sessions_prescribed=3,
            sessions_authorised=4,
        )


# --- The outside prescriber's acknowledgement, by telephone ---------------------------------------


@pytest.fixture
def outside_clearance(avery, tess, raman):
    screening = Screening.objects.create(client=avery, answers={}, age=35)
    return Clearance.objects.create(
        client=avery,
        screening=screening,
        decision="cleared",
        findings="As the letter says.",
        valid_until=DAY.date() + datetime.timedelta(days=100),
        outside_provider=raman,
        document=filed(avery, ChartDocument.Kind.CLEARANCE, tess, "Letter"),
        outside_name="Dr Anil Raman",
        outside_npi=GOOD_NPI,
        letter_dated=DAY.date() - datetime.timedelta(days=5),
        filed_by=tess,
        filed_at=DAY - datetime.timedelta(days=4),
    )


@pytest.fixture
def visit(avery, tess, cora):
    """A virtual medication session in progress with its day-of checklist passing (as
    tests/test_runbook.py's)."""
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=DAY - datetime.timedelta(minutes=30),
        ends_at=DAY + datetime.timedelta(minutes=150),
        clinician=tess,
        created_by=cora,
        status=Visit.Status.IN_PROGRESS,
    )
    checked_in(visit, tess)
    return visit


def phone_url(visit):
    return reverse("dosing:acknowledge_phone", args=[visit.client_id, visit.pk])


@pytest.mark.usefixtures("pathway_ready")
def test_the_outside_prescribers_acknowledgement_is_a_recorded_call_shown_on_the_runbook(
    visit, tess, avery, raman, outside_clearance, login, audit_rows
):
    order = make_order(
        avery,
        None,
        outside_provider=raman,
        document=filed(avery, ChartDocument.Kind.PRESCRIPTION, tess, "Rx"),
        outside_name="Dr Anil Raman",
        outside_npi=GOOD_NPI,
        filed_by=tess,
        filed_at=DAY,
        prescribed_on=DAY.date(),
    )
    vitals(visit, tess, -10, bp=(150, 85), phase="pre_dose")  # above the caution level
    http = login(tess)
    runbook = reverse("dosing:runbook", args=[avery.pk, visit.pk])
    with time_machine.travel(at(-9), tick=False):
        html = text(http.get(runbook))
    assert "Record the prescriber's call" in html and 'value="Dr Anil Raman"' in html
    with time_machine.travel(at(-8), tick=False):
        refused = http.post(phone_url(visit), {"prescriber_name": "Dr Anil Raman", "read_back": ""})
    assert "Write what you read back and the prescriber confirmed." in text(refused)
    with time_machine.travel(at(-6), tick=False):
        response = http.post(
            phone_url(visit),
            {
                "prescriber_name": "Dr Anil Raman",
                "at": f"{timezone.localtime(at(-8)):%H:%M}",
                "read_back": "BP 150/85 before the dose; go ahead with 250 mg sublingual.",
            },
        )
    assert response.status_code == 302
    call = PhoneAcknowledgement.objects.get()
    assert call.called_at == at(-8) and call.recorded_by == tess and call.provider == raman
    assert Runbook.objects.get(visit=visit).caution_acknowledged_reading == call.reading
    assert len(audit_rows("kapflow.dosing.caution.phoned")) == 1
    with time_machine.travel(at(-5), tick=False):
        html = text(http.get(runbook))
    assert (
        "Acknowledged by Dr Anil Raman (outside) on the telephone at "
        f"{timezone.localtime(at(-8)):%H:%M}, recorded by "
        f"{tess.display_name}; read back: “BP 150/85 before the dose; go ahead with 250 mg sublingual.”"
    ) in html.replace("&#x27;", "'")
    assert dose(visit, tess, order, 0).pk


@pytest.mark.usefixtures("pathway_ready")
def test_a_call_is_refused_when_the_clients_prescriber_is_on_staff(visit, tess, priya, avery):
    vitals(visit, tess, -10, bp=(150, 85), phase="pre_dose")
    Clearance.objects.create(
        client=avery,
        screening=Screening.objects.create(client=avery, answers={}, age=35),
        prescriber=priya,
        decision="cleared",
        findings="Fine.",
        valid_until=DAY.date() + datetime.timedelta(days=100),
    )
    with time_machine.travel(at(-5), tick=False), pytest.raises(RunbookRefused, match="on the practice"):
        caution_acknowledge_by_phone(
            actor=tess,
            visit=visit,
            practice=Practice.load(),
            prescriber_name="Dr Raman",
            called_at=at(-6),
            read_back="150/85",
        )
    assert not PhoneAcknowledgement.objects.exists()


def test_the_transcription_forms_open_for_the_therapist(avery, tess, raman, letter, login):
    http = login(tess)
    with time_machine.travel(NOW, tick=False):
        clearance = text(http.get(reverse("medical:clearance_transcribe", args=[avery.pk])))
        order = text(http.get(reverse("medical:order_transcribe", args=[avery.pk])))
    assert "Dr Anil Raman (Psychiatrist)" in clearance and "Clearance letter from Dr Raman" in clearance
    assert "No prescription waits to be transcribed" in order
    assert Decimal("1") and "Matches the document" in clearance


def test_a_document_dated_in_the_future_is_refused_not_a_server_error(
    avery, tess, raman, letter, prescription, login
):
    http = login(tess)
    response = file_letter(http, avery, letter_form(raman, letter, letter_dated="9999-12-31"))
    assert response.status_code == 200 and "The letter&#x27;s date is in the future." in text(response)
    response = file_prescription(
        http, avery, prescription_form(raman, prescription, prescribed_on="9999-12-31")
    )
    assert response.status_code == 200 and "The prescription&#x27;s date is in the future." in text(response)


# --- Review fixes: the call names the letter's prescriber, withdrawing a transcription, dates -----


@pytest.mark.usefixtures("pathway_ready")
def test_the_call_is_with_the_letters_prescriber_and_the_alert_says_who_acknowledged(
    visit, tess, avery, raman, outside_clearance, login
):
    vitals(visit, tess, -10, bp=(150, 85), phase="pre_dose")  # above the caution level
    http = login(tess)
    call = {"at": f"{timezone.localtime(at(-8)):%H:%M}", "read_back": "BP 150/85; go ahead with 250 mg."}
    with time_machine.travel(at(-6), tick=False):
        refused = http.post(phone_url(visit), {**call, "prescriber_name": "Dr Bea Other"})
    assert refused.status_code == 200
    assert "The client's prescriber is Dr Anil Raman (the clearance letter)" in text(refused).replace(
        "&#x27;", "'"
    )
    assert 'value="Dr Bea Other"' in text(refused) and not PhoneAcknowledgement.objects.exists()
    with time_machine.travel(at(-6), tick=False):
        accepted = http.post(phone_url(visit), {**call, "prescriber_name": "  dr anil   RAMAN "})
    assert (
        accepted.status_code == 302
        and PhoneAcknowledgement.objects.get().prescriber_name == "dr anil   RAMAN"
    )
    with time_machine.travel(at(-5), tick=False):
        html = text(http.get(reverse("dosing:runbook", args=[avery.pk, visit.pk])))
    badge = re.search(r'session-alert-ack"><span class="badge badge--ok">([^<]*)<', html)
    assert badge is not None
    assert badge.group(1).startswith(
        f"Acknowledged by dr anil RAMAN (outside), by telephone at {timezone.localtime(at(-8)):%H:%M}, "
        "recorded by "
    )


def withdraw(http, avery, name, record_id, reason="Transcribed from the wrong letter."):
    with time_machine.travel(NOW, tick=False):
        return http.post(reverse(f"medical:{name}", args=[avery.pk, record_id]), {"reason": reason})


def test_a_therapist_discontinues_a_transcribed_order_but_not_a_staff_prescribers(
    avery, tess, priya, raman, prescription, login, audit_rows
):
    http = login(tess)
    file_prescription(http, avery, prescription_form(raman, prescription))
    transcribed = MedicationOrder.objects.get(client=avery)
    staff = make_order(avery, priya)
    with time_machine.travel(NOW, tick=False):
        page = text(http.get(reverse("medical:order_detail", args=[avery.pk, transcribed.pk])))
        staff_page = text(http.get(reverse("medical:order_detail", args=[avery.pk, staff.pk])))
    assert "Discontinue the order" in page and "Discontinue the order" not in staff_page
    assert withdraw(http, avery, "order_discontinue", staff.pk).status_code == 403
    assert withdraw(http, avery, "order_discontinue", transcribed.pk, reason="").status_code == 200
    assert withdraw(http, avery, "order_discontinue", transcribed.pk).status_code == 302
    transcribed.refresh_from_db()
    staff.refresh_from_db()
    assert transcribed.discontinued_by == tess and transcribed.discontinue_reason.startswith("Transcribed")
    assert staff.discontinued_at is None
    assert len(audit_rows("kapflow.medical.order.discontinued")) == 1


def test_a_therapist_revokes_a_transcribed_clearance_but_not_a_staff_prescribers(
    avery, tess, priya, raman, letter, login, audit_rows
):
    http = login(tess)
    file_letter(http, avery, letter_form(raman, letter))
    transcribed = Clearance.objects.get(client=avery)
    staff = Clearance.objects.create(
        client=avery,
        screening=transcribed.screening,
        prescriber=priya,
        decision="cleared",
        findings="Seen in clinic.",
        valid_until=NOW.date() + datetime.timedelta(days=30),
    )
    with time_machine.travel(NOW, tick=False):
        page = text(http.get(reverse("medical:clearance_detail", args=[avery.pk, transcribed.pk])))
        staff_page = text(http.get(reverse("medical:clearance_detail", args=[avery.pk, staff.pk])))
    assert "Revoke the clearance" in page and "Revoke the clearance" not in staff_page
    assert withdraw(http, avery, "clearance_revoke", staff.pk).status_code == 403
    assert withdraw(http, avery, "clearance_revoke", transcribed.pk).status_code == 302
    transcribed.refresh_from_db()
    assert transcribed.revoked_by == tess and staff.revoked_at is None
    assert len(audit_rows("kapflow.medical.clearance.revoked")) == 1


def test_the_database_wants_the_date_of_an_outside_document(avery, tess, raman, letter, prescription):
    outside_fields = {
        "outside_provider": raman,
        "outside_name": "Dr Anil Raman",
        "outside_npi": GOOD_NPI,
        "filed_by": tess,
        "filed_at": NOW,
    }
    screening = Screening.objects.get(client=avery)
    with pytest.raises(IntegrityError, match="clearance_outside_letter_dated"), transaction.atomic():
        Clearance.objects.create(
            client=avery,
            screening=screening,
            decision="not_cleared",
            findings="…",
            document=letter,
            **outside_fields,
        )
    with pytest.raises(IntegrityError, match="order_outside_prescribed_on"), transaction.atomic():
        make_order(avery, None, document=prescription, sessions_prescribed=6, **outside_fields)
    assert make_order(
        avery, None, document=prescription, sessions_prescribed=6, prescribed_on=NOW.date(), **outside_fields
    ).pk


def test_an_outside_clearance_is_dated_by_its_letter_on_the_summary_and_its_page(
    avery, tess, raman, letter, login
):
    http = login(tess)
    file_letter(http, avery, letter_form(raman, letter))
    clearance = Clearance.objects.get(client=avery)
    with time_machine.travel(NOW, tick=False):
        summary = text(http.get(reverse("medical:summary", args=[avery.pk])))
        detail = text(http.get(reverse("medical:clearance_detail", args=[avery.pk, clearance.pk])))
    filed_by = f"letter of May 3, 2026, filed May 10 by {tess.display_name}"
    assert f"Cleared</a> by Dr Anil Raman (outside): {filed_by}" in summary.replace("&#x27;", "'")
    assert summary.count(filed_by) == 2  # the current clearance, and the history
    assert "Cleared on May 10, 2026" not in summary
    assert "<h2>Cleared · letter of May 3, 2026</h2>" in detail and "<dt>Decided</dt>" not in detail
