"""Issue 16, part 3: the client's right of access (45 CFR 164.524, docs/right-of-access.md). The
client downloads their record on the portal as a readable PDF or a FHIR R4 bundle; a clinician
produces the same for a request made in writing. Each copy is a disclosure (not accountable, yet
listed in the accounting in a section of its own), a RecordCopy and an audit row. The copy never
holds process notes, the journal, drafts or the audit log."""

import csv
import datetime
import hashlib
import io
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from kapflow.clients.models import Guardian
from kapflow.consent.models import ConsentDocument, Signature
from kapflow.dosing.models import Administration, AdverseEvent, Runbook, VitalsReading
from kapflow.journal.models import JournalEntry
from kapflow.letters.models import Disclosure
from kapflow.measures.models import Response
from kapflow.notes.models import NoteAddendum, ProcessNote, ProgressNote
from kapflow.practice.models import Practice
from kapflow.records.models import RecordCopy
from kapflow.records.pdf import record_pdf
from kapflow.records.summary import record_summary
from kapflow.visits.models import Room, Visit
from tests import factories
from tests import test_fhir_export as parts
from tests.matrix_notes import held_visit

PROCESS_TEXT = "Countertransference: reminds me of my brother"
JOURNAL_TEXT = "I dreamt of the lighthouse again"
DRAFT_TEXT = "Unsigned musing about the family"
NOTE_TEXT = "Sleeping through the night since the second session"
ADDENDUM_TEXT = "The client's mother was also present"


def medication_session(client, *, by, prescriber, days_ago: float, signed: bool = True) -> Runbook:
    """A medication session (its record signed unless `signed` is false): one dose, one reading,
    one adverse event."""
    visit = held_visit(client, by, kind=Visit.Kind.MEDICATION, days_ago=days_ago)
    order = factories.standing_order(client, prescriber)
    runbook = Runbook.objects.create(
        visit=visit,
        alert_and_oriented=True,
        steady_on_feet=True,
        escort_present=True,
        discharged_at=visit.ends_at,
        discharged_by=by,
        signed_at=visit.ends_at if signed else None,
        signed_by=by if signed else None,
    )
    Administration.objects.create(
        runbook=runbook,
        order=order,
        given_at=visit.starts_at + datetime.timedelta(minutes=10),
        route="sublingual",
        dose_mg=Decimal("150"),
        lot_number="LOT-4471",
        given_by=by,
        recorded_by=by,
    )
    VitalsReading.objects.create(
        runbook=runbook,
        phase=VitalsReading.Phase.values[0],
        taken_at=visit.starts_at,
        systolic=128,
        diastolic=82,
        heart_rate=71,
        recorded_by=by,
    )
    AdverseEvent.objects.create(
        runbook=runbook,
        noted_at=visit.starts_at + datetime.timedelta(minutes=40),
        kind=AdverseEvent.Kind.NAUSEA,
        severity=AdverseEvent.Severity.MILD,
        action_taken="Offered ginger tea",
        recorded_by=by,
    )
    return runbook


@pytest.fixture
def record(avery, tess, priya):
    """Avery's record with something in every section, and what a copy must never show."""
    document = ConsentDocument.objects.published().filter(kind="kap").order_by("-version").first()
    Signature.objects.create(
        document=document,
        kind=document.kind,
        client=avery,
        signer=Signature.Signer.CLIENT,
        signer_name="Avery Alvarez",
        typed_name="Avery Alvarez",
        decision=Signature.Decision.AGREE,
        text_sha256="0" * 64,
        presented_by=tess,
    )
    Response.objects.create(
        client=avery, instrument="phq9", version="1", answers={}, total=14, band="Moderate"
    )
    medication_session(avery, by=tess, prescriber=priya, days_ago=3)
    note = factories.sign_note(
        held_visit(avery, tess, days_ago=2), tess, subjective=NOTE_TEXT, plan="Continue."
    )
    NoteAddendum.objects.create(
        note=note, reason="Omission", text=ADDENDUM_TEXT, author=tess, signature="Tess"
    )
    ProcessNote.objects.create(client=avery, author=tess, text=PROCESS_TEXT)
    JournalEntry.objects.create(client=avery, body=JOURNAL_TEXT, written_at=timezone.now())
    ProgressNote.objects.create(
        visit=held_visit(avery, tess, days_ago=1),
        client=avery,
        author=tess,
        sections={"subjective": DRAFT_TEXT},
    )
    return avery


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def portal_url(client) -> str:
    return reverse("portal:record", args=[client.pk])


def staff_url(client) -> str:
    return reverse("records_copy:page", args=[client.pk])


@pytest.fixture
def cleos(record, cleo):
    record.portal_user = cleo
    record.save(update_fields=["portal_user"])
    return record


def written_request(**overrides) -> dict:
    return {
        "requested_on": (timezone.localdate() - datetime.timedelta(days=3)).isoformat(),
        "requested_by": "Avery Alvarez",
        "deliver_to": "client",
        "named_person": "",
        "address": "12 Elm St, Glendale CA 91201",
        "method": "post",
        "format": "pdf",
        **overrides,
    }


class TestPortal:
    def test_it_explains_what_is_inside_and_what_is_not(self, login, cleo, cleos):
        page = login(cleo).get(portal_url(cleos)).content.decode()
        assert "Your record" in page and "Psychotherapy process notes" in page
        assert 'value="pdf"' in page and 'value="fhir"' in page

    def test_the_home_page_links_to_it(self, login, cleo, cleos):
        assert (
            portal_url(cleos)
            in login(cleo).get(reverse("portal:client_home", args=[cleos.pk])).content.decode()
        )

    def test_it_downloads_a_readable_pdf_with_every_section_and_nothing_private(
        self, login, cleo, cleos, audit_rows
    ):
        response = login(cleo).post(portal_url(cleos), {"format": "pdf"})
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"].startswith('attachment; filename="record-')
        assert response["Cache-Control"].startswith("no-store")
        text = pdf_text(response.content)
        for heading in (
            "Copy of the health record of Avery Alvarez",
            "What is inside",
            "Guardians and emergency contacts",
            "Care team and outside providers",
            "Consents signed",
            "Visits",
            "Questionnaire results",
            "Medication orders",
            "Medication sessions",
            "Progress notes",
            "Course reviews and discharge summaries",
            "Letters and documents",
            "Disclosures of your information",
        ):
            assert heading in text, heading
        assert "LOT-4471" in text and "Offered ginger tea" in text and "128/82" in text
        assert "Sleeping through the night" in text and "mother was also present" in text
        assert "Sam Reyes" in text and "Priya Prescriber" in text and "Moderate" in text
        assert "page 1 of" in text
        for private in (PROCESS_TEXT, JOURNAL_TEXT, DRAFT_TEXT, "brother", "lighthouse", "musing"):
            assert private not in text

    def test_it_records_the_copy_as_a_disclosure_with_its_hash_and_an_audit_row(
        self, login, cleo, cleos, audit_rows
    ):
        content = login(cleo).post(portal_url(cleos), {"format": "pdf"}).content
        copy = RecordCopy.objects.get()
        assert (copy.channel, copy.format, copy.produced_by, copy.delivered_to) == (
            "portal",
            "pdf",
            cleo,
            "Avery Alvarez",
        )
        assert copy.size == len(content) and copy.sha256 == hashlib.sha256(content).hexdigest()
        disclosure = copy.disclosure
        assert disclosure.basis == Disclosure.Basis.RIGHT_OF_ACCESS and disclosure.accountable is False
        assert (disclosure.method, disclosure.what) == ("portal", "Copy of the record (PDF)")
        [row] = audit_rows("kapflow.records.copy.given")
        assert row.client == cleos and row.actor == cleo and row.detail["sha256"] == copy.sha256

    def test_it_downloads_the_fhir_bundle(self, login, cleo, cleos):
        response = login(cleo).post(portal_url(cleos), {"format": "fhir"})
        assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
        assert json.loads(response.content)["resourceType"] == "Bundle"
        copy = RecordCopy.objects.get()
        assert copy.format == "fhir" and copy.disclosure.what == "Copy of the record (FHIR R4 bundle)"
        assert PROCESS_TEXT not in response.content.decode() and JOURNAL_TEXT not in response.content.decode()

    def test_an_unknown_format_gives_nothing(self, login, cleo, cleos):
        response = login(cleo).post(portal_url(cleos), {"format": "docx"})
        assert response.status_code == 400 and "Choose one of the two buttons" in response.content.decode()
        assert not RecordCopy.objects.exists() and not Disclosure.objects.exists()

    def test_a_guardian_is_told_to_ask_in_writing_and_downloads_nothing(self, login, gail, tess):
        minor = factories.make_client(first_name="Mina", age=15, therapist=tess)
        Guardian.objects.create(
            client=minor,
            name="Gail Guardian",
            relationship="mother",
            portal_user=gail,
            has_legal_authority=True,
        )
        page = login(gail).get(portal_url(minor)).content.decode()
        assert "Ask in writing" in page and 'value="pdf"' not in page
        assert login(gail).post(portal_url(minor), {"format": "pdf"}).status_code == 404
        assert not RecordCopy.objects.exists()

    def test_another_clients_record_is_404(self, login, cleo, cleos, olive):
        assert login(cleo).get(portal_url(olive)).status_code == 404
        assert login(cleo).post(portal_url(olive), {"format": "pdf"}).status_code == 404
        assert not RecordCopy.objects.exists()

    def test_staff_are_refused_the_portal_page(self, login, tess, cleos):
        assert login(tess).post(portal_url(cleos), {"format": "pdf"}).status_code == 403


class TestWrittenRequest:
    def test_the_chart_links_to_the_page(self, login, tess, avery):
        assert staff_url(avery) in login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()

    def test_it_produces_the_copy_and_records_the_request(self, login, tess, record, audit_rows):
        response = login(tess).post(staff_url(record), written_request())
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert PROCESS_TEXT not in pdf_text(response.content)
        copy = RecordCopy.objects.get()
        assert (copy.channel, copy.requested_by, copy.delivered_to, copy.produced_by) == (
            "paper",
            "Avery Alvarez",
            "Avery Alvarez",
            tess,
        )
        assert copy.requested_on == timezone.localdate() - datetime.timedelta(days=3)
        disclosure = copy.disclosure
        assert (disclosure.method, disclosure.recipient_address, disclosure.accountable) == (
            "post",
            "12 Elm St, Glendale CA 91201",
            False,
        )
        assert audit_rows("kapflow.records.copy.given")[0].detail["channel"] == "paper"
        page = login(tess).get(staff_url(record)).content.decode()
        assert "Copies given so far" in page and "Readable PDF" in page

    def test_it_sends_it_to_a_person_named_in_the_signed_request_as_fhir(self, login, tess, record):
        response = login(tess).post(
            staff_url(record),
            written_request(
                deliver_to="named", named_person="Dr. Lee Park", method="in_person", format="fhir"
            ),
        )
        assert json.loads(response.content)["resourceType"] == "Bundle"
        copy = RecordCopy.objects.get()
        assert copy.delivered_to == "Dr. Lee Park" and copy.disclosure.recipient_name == "Dr. Lee Park"
        assert copy.disclosure.method == "in_person"

    def test_form_errors_keep_what_was_typed(self, login, tess, avery):
        response = login(tess).post(
            staff_url(avery),
            written_request(
                requested_by="Ms. Quill Example", deliver_to="named", named_person="", address=""
            ),
        )
        page = response.content.decode()
        assert response.status_code == 200 and "Ms. Quill Example" in page
        assert "Name the person" in page and "Give the address" in page
        assert not RecordCopy.objects.exists()

    def test_a_request_dated_in_the_future_is_refused(self, login, tess, avery):
        tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
        page = login(tess).post(staff_url(avery), written_request(requested_on=tomorrow)).content.decode()
        assert "received in the future" in page and tomorrow in page
        assert not RecordCopy.objects.exists() and not Disclosure.objects.exists()

    def test_a_request_without_its_date_is_refused(self, login, tess, avery):
        page = login(tess).post(staff_url(avery), written_request(requested_on="")).content.decode()
        assert "This field is required" in page and not RecordCopy.objects.exists()

    @pytest.mark.parametrize("day", ["1900-01-01", "0001-01-01"])
    def test_a_request_dated_before_the_client_was_born_is_refused(self, login, tess, avery, day):
        page = login(tess).post(staff_url(avery), written_request(requested_on=day)).content.decode()
        assert "before the client was born" in page and day in page
        assert not RecordCopy.objects.exists() and not Disclosure.objects.exists()

    def test_the_list_names_how_a_portal_copy_went_once(self, login, tess, cleo, cleos):
        login(cleo).post(portal_url(cleos), {"format": "pdf"})
        page = login(tess).get(staff_url(cleos)).content.decode()
        assert page.count("Downloaded by the client on the portal") == 1

    def test_a_clinician_outside_the_care_gets_404_and_the_coordinator_too(self, login, colin, cora, avery):
        assert login(colin).post(staff_url(avery), written_request()).status_code == 404
        assert login(cora).post(staff_url(avery), written_request()).status_code == 404
        assert not RecordCopy.objects.exists()


class TestAccounting:
    def test_the_accounting_lists_the_copies_in_their_own_section(self, login, tess, cleo, cleos):
        login(cleo).post(portal_url(cleos), {"format": "pdf"})
        http = login(tess)
        export = reverse("disclosures:export", args=[cleos.pk])
        lines = list(csv.reader(io.StringIO(http.get(export + "?only=required").content.decode("utf-8-sig"))))
        heading = lines.index(["Copies of the record given at the client's request"])
        assert any("Copy of the record (PDF)" in line for line in lines[heading + 1 :])
        assert not any("Copy of the record (PDF)" in line for line in lines[:heading])
        page = http.get(reverse("disclosures:list", args=[cleos.pk])).content.decode()
        assert "Copies of the record given at the client's request" in page
        assert "Copy of the record (PDF)" in page

    def test_the_accounting_of_a_client_given_no_copy_has_no_such_section(self, login, tess, avery):
        text = login(tess).get(reverse("disclosures:export", args=[avery.pk]) + "?only=required").content
        assert b"Copies of the record" not in text


class TestSummary:
    def test_it_reads_a_bounded_number_of_queries_however_many_sessions(self, avery, tess, priya):
        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                summary = record_summary(avery)
            return len(captured), summary

        for days in (10, 11):
            medication_session(avery, by=tess, prescriber=priya, days_ago=days)
            factories.sign_note(held_visit(avery, tess, days_ago=days + 0.5), tess)
        few, summary = queries()
        assert len(summary.sessions) == 2 and len(summary.notes) == 2
        for days in (12, 13, 14, 15):
            medication_session(avery, by=tess, prescriber=priya, days_ago=days)
            factories.sign_note(held_visit(avery, tess, days_ago=days + 0.5), tess)
        many, summary = queries()
        assert len(summary.sessions) == 6 and len(summary.notes) == 6
        assert few == many

    def test_it_leaves_out_unsigned_sessions(self, avery, tess, priya):
        medication_session(avery, by=tess, prescriber=priya, days_ago=2, signed=False)
        assert record_summary(avery).sessions == []


class TestService:
    def give(self, user, client, **overrides):
        from kapflow.records.access import record_copy_give

        return record_copy_give(
            request=factories.ServiceRequest(user),
            client=client,
            **{"format": "fhir", "channel": "paper", "method": "post", **overrides},
        )

    def test_a_portal_copy_is_the_clients_own(self, tess, colin, cleos):
        from django.core.exceptions import PermissionDenied

        with pytest.raises(PermissionDenied):
            self.give(tess, cleos, channel="portal", method="portal")
        with pytest.raises(PermissionDenied):
            self.give(colin, cleos, requested_on=timezone.localdate())
        assert not RecordCopy.objects.exists() and not Disclosure.objects.exists()

    def test_a_written_request_needs_its_day_and_a_way_the_channel_uses(self, tess, avery):
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError, match="the day it was received"):
            self.give(tess, avery)
        with pytest.raises(ValidationError, match="how the copy reaches"):
            self.give(tess, avery, method="portal", requested_on=timezone.localdate())
        assert not RecordCopy.objects.exists()


class TestTheWholeRecord:
    """The parts of the designated record set beyond the notes and sessions: the consultation,
    screening, clearances (the practice's and an outside letter's), gate overrides, preparation,
    course plan versions, each session's checklist, safety plan, ratings, check-ins, adverse
    events with their reviews and emergency calls, integration records, and the pronouns."""

    def test_the_copy_shows_every_part_and_still_nothing_private(self, record, tess, priya):
        record.pronouns = "they/them"
        record.save(update_fields=["pronouns"])
        parts.pathway_records(record, tess, priya, room=Room.objects.create(name="Elm"))
        text = pdf_text(record_pdf(record_summary(record), delivered_to="Avery Alvarez"))
        flat = " ".join(text.split())  # a phrase may wrap over lines
        for heading in (
            "Consultation",
            "Screening and medical clearance",
            "Preparation sessions",
            "Course plans",
            "Integration records",
            "Medication sessions",
            "Disclosures of your information",
        ):
            assert heading in flat, heading
        for phrase in (
            "they/them",
            parts.CONSULTATION_WHY,
            parts.SCREENING_NOTE,
            "Lorazepam",
            parts.CLEARANCE_FINDINGS,
            "A rash once, not anaphylaxis",
            parts.OUTSIDE_FINDINGS,
            "Dr. Ines Okafor (outside)",
            parts.OVERRIDE_REASON,
            parts.PREPARATION_INTENTIONS,
            "Fears or concerns about altered states",
            parts.PLAN_GOALS,
            "8 sessions, weekly",
            "Replaced on",
            "In force",
            parts.CHECKLIST_RIDE,
            parts.SAFETY_ADDRESS,
            "2 — moderately sedated",
            parts.CHECKIN_NOTE,
            parts.REVIEW_NOTE,
            parts.OVERRIDE_REVIEW_NOTE,
            "emergency services called",
            parts.INTEGRATION_INSIGHT,
            parts.INTENTION_TEXT,
            parts.READ_BACK,
            "Opening reflection from",
            parts.ACTION_TEXT,
        ):
            assert phrase in flat, phrase
        for private in (PROCESS_TEXT, JOURNAL_TEXT, DRAFT_TEXT):
            assert private not in flat

    def test_it_reads_as_many_queries_for_one_of_each_part_as_for_two(self, tess, priya):
        room = Room.objects.create(name="Ash")
        small = factories.make_client(first_name="Small", therapist=tess, prescriber=priya)
        large = factories.make_client(first_name="Large", therapist=tess, prescriber=priya)
        parts.pathway_records(small, tess, priya, room=room)
        for days_ago in (90, 50):
            parts.pathway_records(large, tess, priya, days_ago=days_ago, room=room)
        Practice.load()  # made on first use
        counts = []
        for client in (small, large):
            with CaptureQueriesContext(connection) as captured:
                summary = record_summary(client)
                record_pdf(summary, delivered_to="them")  # the template reads nothing more
            counts.append(len(captured))
        assert len(summary.integrations) == 2 and len(summary.plans) == 4
        assert counts[0] == counts[1], counts
