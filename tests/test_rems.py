"""The Spravato REMS (issue 17, item 4; docs/spravato-rems.md): the client's enrolment and the
setting's certification checked before an intranasal dose, the monitoring form worked out of the
runbook and the clinician's answers, the record not signed while the form lacks anything, the
form as a PDF, the practice's list of forms to submit with their deadline, and the reminder."""

import datetime
import io
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from pypdf import PdfReader

from kapflow.controlled.enrolment import EnrolmentRefused, enrolment_record
from kapflow.controlled.models import RemsEnrolment
from kapflow.documents.models import ChartDocument
from kapflow.dosing import rems
from kapflow.dosing.models import RemsReport, Runbook
from kapflow.dosing.services.administration import prescriber_on_site_record
from kapflow.dosing.services.rems import rems_answers_save, rems_submission_record
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.services.signing import runbook_sign
from kapflow.medical import routes
from kapflow.practice.models import Practice
from kapflow.reminders.models import Reminder
from kapflow.reminders.sources import rems_forms
from kapflow.visits.forms import RoomForm
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.test_dose_rules import enrol, esketamine_order, give, predose, session
from tests.test_runbook import DAY, at, discharge, make_order, rate, vitals

pytestmark = pytest.mark.usefixtures("pathway_ready")

ANSWERS = {
    "first_treatment": True,
    "concomitant": ["benzodiazepines"],
    "no_concomitant": False,
    "sedation": False,
    "dissociation": True,
    "respiratory_depression": False,
    "other_adverse_events": "",
    "vitals_ok_before_dosing": True,
    "vitals_ok_before_discharge": True,
    "ready_to_leave_minutes": 90,
}


@pytest.fixture
def practice(db):
    practice = Practice.load()
    practice.address = "1 Cedar Lane, Springfield"
    practice.phone = "555-0199"
    practice.save()
    return practice


def certified_room(setting_id="SET-77"):
    return Room.objects.create(name="Spravato room", rems_certified=True, rems_setting_id=setting_id)


def dosed_session(avery, tess, priya, cora, *, enrolled=True, room=None):
    """An esketamine session: pre-dose vitals at -10, Priya on site, 56 mg at 0 (lot LOT-1)."""
    visit = session(avery, tess, cora, room=room or certified_room())
    order = esketamine_order(avery, priya)
    if enrolled:
        enrol(avery, priya)
    predose(visit, tess)
    with time_machine.travel(at(-5), tick=False):
        prescriber_on_site_record(actor=tess, visit=visit, prescriber=priya, on_site_at=at(-5))
    give(visit, tess, order, route="intranasal", mg=56)
    return visit


@pytest.fixture
def monitored(avery, tess, priya, cora, practice):
    """Monitored to discharge: readings at 38 and 100 min, ratings at 60 (sedation 1) and 100,
    discharge at 125."""
    visit = dosed_session(avery, tess, priya, cora)
    vitals(visit, tess, 38, bp=(138, 86), spo2=97)
    vitals(visit, tess, 100, bp=(124, 80), spo2=98)
    rate(visit, tess, 60, sedation=1, dissociation=0)
    rate(visit, tess, 100, sedation=0, dissociation=0)
    discharge(visit, tess, 125)
    return visit


def answer(visit, who, minutes=110, **changes):
    with time_machine.travel(at(minutes), tick=False):
        return rems_answers_save(actor=who, visit=visit, answers={**ANSWERS, **changes})


def sign(visit, who, minutes=130):
    with time_machine.travel(at(minutes), tick=False):
        return runbook_sign(actor=who, visit=visit)


# --- The rules ----------------------------------------------------------------------------------


def test_the_route_rules_refuse_esketamine_without_enrolment_or_setting_id(practice):
    def reasons(place, enrolled):
        return list(
            routes.route_problems(
                "intranasal",
                place=place,
                minor=False,
                minor_signoff=False,
                practice=practice,
                rems_enrolled=enrolled,
            )
        )

    good = routes.Place(virtual=False, room="Spravato room", rems_certified=True, rems_setting_id="SET-1")
    assert reasons(good, True) == []
    assert reasons(good, None) == []  # not judged at booking and at the start
    [problem] = reasons(good, False)
    assert problem.resolver == "prescriber"
    assert "enrolment in the Spravato REMS is not recorded" in problem.reason
    no_id = routes.Place(virtual=False, room="Spravato room", rems_certified=True, rems_setting_id="  ")
    [problem] = reasons(no_id, True)
    assert "its REMS setting ID is not recorded" in problem.reason
    assert problem.resolver == "coordinator"


def test_an_intranasal_dose_waits_for_the_clients_enrolment(avery, tess, priya, cora, practice):
    with pytest.raises(RunbookRefused) as refused:
        dosed_session(avery, tess, priya, cora, enrolled=False)
    assert refused.value.problems == [
        "The client's enrolment in the Spravato REMS is not recorded (each client is enrolled before the "
        "first dose): record it on the client's medical page, REMS enrolment — prescriber."
    ]
    assert not Runbook.objects.get().administrations.exists()


def test_an_intranasal_dose_waits_for_the_rooms_setting_id(avery, tess, priya, cora, practice):
    with pytest.raises(RunbookRefused) as refused:
        dosed_session(avery, tess, priya, cora, room=certified_room(setting_id=""))
    assert (
        "Spravato room is marked certified under the Spravato REMS, but its REMS setting ID is not recorded"
        in str(refused.value)
    )


def test_an_enrolment_dated_after_the_session_does_not_count(avery, tess, priya, cora, practice):
    RemsEnrolment.objects.create(
        client=avery,
        enrolled_on=DAY.date() + datetime.timedelta(days=1),
        patient_rems_id="P-9",
        prescriber=priya,
        recorded_by=priya,
    )
    with pytest.raises(RunbookRefused, match="enrolment in the Spravato REMS is not recorded"):
        dosed_session(avery, tess, priya, cora, enrolled=False)


# --- The form worked out of the runbook ---------------------------------------------------------


def test_the_form_derives_the_dose_the_lot_and_the_three_blood_pressures(monitored, tess, practice):
    form = rems.form_for(monitored, practice=practice)
    assert (form.total_mg, form.devices, form.lots) == (Decimal(56), 2, ["LOT-1"])
    assert (form.bp_before.systolic, form.bp_after.systolic, form.bp_discharge.systolic) == (120, 138, 124)
    assert form.total_minutes == 125
    assert form.setting_id == "SET-77"
    assert form.suggested["first_treatment"] is True
    assert form.suggested["sedation"] is True  # a sedation rating of 1 after the first device
    assert form.suggested["dissociation"] is False
    assert form.enrolment.patient_rems_id == "P-0001"
    assert form.due_on == DAY.date() + datetime.timedelta(days=practice.rems_form_days)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        ([30, 38, 55], 38),  # the nearest to 40
        ([35, 45], 35),  # as near: the earlier
        ([55], 55),  # 15 min from 40: at the window's edge (half the 30-min interval)
        ([20, 56], None),  # none within 15 min of 40
    ],
)
def test_the_about_40_minute_reading_is_the_nearest_within_the_window(
    avery, tess, priya, cora, practice, minutes, expected
):
    visit = dosed_session(avery, tess, priya, cora)
    for minute in minutes:
        vitals(visit, tess, minute, bp=(130 + minute % 7, 80), spo2=97)
    form = rems.form_for(visit, practice=practice)
    found = form.bp_after
    assert (found.taken_at - at(0)).total_seconds() / 60 == expected if expected else found is None
    if expected is None:
        assert any(
            "A blood pressure about 40 min after the first device (between 25 and 55 min)" in m
            for m in form.missing
        )


def test_the_window_follows_the_practice_settings(avery, tess, priya, cora, practice):
    practice.first_vitals_minutes = 60
    practice.vitals_interval_minutes = 10
    practice.save()
    visit = dosed_session(avery, tess, priya, cora)
    vitals(visit, tess, 40, spo2=97)
    vitals(visit, tess, 57, spo2=97)
    form = rems.form_for(visit, practice=practice)
    assert form.bp_after.taken_at == at(57)
    assert form.bp_after_window == 5


def test_an_earlier_intranasal_dose_suggests_a_later_treatment(monitored, avery, tess, cora, practice):
    assert rems.rems_facts(monitored).earlier_intranasal is False
    later = session(avery, tess, cora, room=Room.objects.get())
    later.starts_at += datetime.timedelta(days=3)
    later.ends_at += datetime.timedelta(days=3)
    later.save()
    facts = rems.rems_facts(later)
    assert facts.earlier_intranasal is True
    assert rems.rems_form(facts, practice=practice).suggested["first_treatment"] is False


def test_a_sublingual_session_has_no_rems_form(avery, tess, priya, cora, practice):
    visit = session(avery, tess, cora)
    make_order(avery, priya)
    assert rems.form_for(visit, practice=practice) is None
    with time_machine.travel(at(-5), tick=False), pytest.raises(RunbookRefused, match="needs no REMS form"):
        rems_answers_save(actor=tess, visit=visit, answers=ANSWERS)


# --- Signing ------------------------------------------------------------------------------------


def test_the_record_is_not_signed_while_the_rems_form_lacks_anything(monitored, tess, audit_rows):
    with pytest.raises(RunbookRefused) as refused:
        sign(monitored, tess)
    problems = refused.value.problems
    assert problems[0] == "The Spravato REMS form is not complete; the record is signed once it is:"
    for words in (
        "Whether this is the client's first Spravato treatment",
        "Concomitant medicines",
        "Sedation: yes or no",
        "Dissociation: yes or no",
        "Respiratory depression: yes or no",
        "Vital signs acceptable before dosing",
        "Vital signs acceptable before discharge",
        "When the client could have left but for the 2-hour rule",
    ):
        assert any(words in problem for problem in problems), words
    assert Runbook.objects.get(visit=monitored).signed_at is None

    answer(monitored, tess, respiratory_depression=None)
    with pytest.raises(RunbookRefused) as refused:
        sign(monitored, tess)
    assert refused.value.problems[1:] == ["Respiratory depression: yes or no — clinician (REMS section)."]

    answer(monitored, tess)
    assert sign(monitored, tess).signed_at is not None
    assert len(audit_rows("kapflow.dosing.rems.answered")) == 2
    # Signed: the answers are fixed.
    with pytest.raises(RunbookRefused, match="signed and locked"):
        answer(monitored, tess, minutes=140, sedation=True)


def test_signing_refuses_minutes_longer_than_the_monitoring(monitored, tess):
    answer(monitored, tess, ready_to_leave_minutes=200)
    with pytest.raises(
        RunbookRefused, match="could have left 200 min after the first device, but was monitored 125"
    ):
        sign(monitored, tess)


def test_none_and_a_class_cannot_both_be_answered(monitored, tess):
    with pytest.raises(RunbookRefused, match="not both"):
        answer(monitored, tess, no_concomitant=True)
    with pytest.raises(RunbookRefused, match="from the list"):
        answer(monitored, tess, concomitant=["cocaine"])
    answer(monitored, tess, concomitant=[], no_concomitant=True)
    assert RemsReport.objects.get().no_concomitant is True


# --- The runbook page -----------------------------------------------------------------------------


def test_the_runbook_shows_the_section_and_saves_the_answers(monitored, avery, tess, login, audit_rows):
    as_tess = login(tess)
    url = reverse("dosing:runbook", args=[avery.pk, monitored.pk])
    with time_machine.travel(at(110), tick=False):
        page = as_tess.get(url).content.decode()
        assert "Spravato REMS monitoring form" in page
        assert "Still missing before the record can be signed" in page
        assert "Suggested from the runbook: yes — no earlier intranasal dose" in page
        assert "56 mg (2 devices of 28 mg)" in page
        response = as_tess.post(
            reverse("dosing:rems", args=[avery.pk, monitored.pk]),
            {
                "first_treatment": "True",
                "no_concomitant": "on",
                "sedation": "False",
                "dissociation": "False",
                "respiratory_depression": "False",
                "vitals_ok_before_dosing": "True",
                "vitals_ok_before_discharge": "True",
                "ready_to_leave_minutes": "95",
            },
        )
    assert response.status_code == 302
    report = RemsReport.objects.get()
    assert (report.no_concomitant, report.ready_to_leave_minutes, report.answered_by) == (True, 95, tess)
    [row] = audit_rows("kapflow.dosing.rems.answered")
    assert (row.actor, row.client) == (tess, avery)


@pytest.mark.parametrize(
    "data",
    [
        {"ready_to_leave_minutes": "-3"},
        {"ready_to_leave_minutes": "99999999999999999999"},
        {"ready_to_leave_minutes": "ninety"},
        {"concomitant": ["benzodiazepines"], "no_concomitant": "on"},
        {"concomitant": ["'; DROP TABLE dosing_remsreport; --"]},
        {"first_treatment": "maybe"},
        {"other_adverse_events": "x" * 5000},
        {"other_adverse_events": "<script>alert(1)</script>\x00"},
    ],
)
def test_hostile_answers_come_back_with_what_to_fix(monitored, avery, tess, login, data):
    with time_machine.travel(at(110), tick=False):
        response = login(tess).post(reverse("dosing:rems", args=[avery.pk, monitored.pk]), data)
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert not RemsReport.objects.exists()


# --- The PDF ------------------------------------------------------------------------------------


def pdf_text(content: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_signed_form_downloads_as_a_pdf(monitored, avery, tess, colin, login, audit_rows):
    url = reverse("dosing:rems_pdf", args=[avery.pk, monitored.pk])
    with time_machine.travel(at(112), tick=False):
        assert login(tess).get(url).status_code == 302  # not signed yet
    answer(monitored, tess)
    sign(monitored, tess)
    with time_machine.travel(at(140), tick=False):
        response = login(tess).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    text = " ".join(pdf_text(response.content).split())
    for words in (
        "Avery Alvarez",
        "P-0001",
        "56 mg (2 devices of 28 mg)",
        "LOT-1",
        "120/80 mmHg",
        "138/86 mmHg",
        "124/80 mmHg",
        "125 min",
        "90 min after the first device",
        "Benzodiazepines",
        "SET-77",
        "1 Cedar Lane, Springfield",
    ):
        assert words in text, words
    # Each request leaves a row: the one refused before signing, and the download.
    rows = audit_rows("kapflow.dosing.rems.pdf_requested")
    assert [(row.actor, row.client) for row in rows] == [(tess, avery), (tess, avery)]
    assert login(colin).get(url).status_code == 404


# --- The list of forms to submit ------------------------------------------------------------------


@pytest.fixture
def signed(monitored, priya):
    answer(monitored, priya)
    sign(monitored, priya)
    return monitored


def test_the_list_shows_forms_to_submit_with_their_deadline(signed, ada, tess, login, practice, audit_rows):
    due = DAY.date() + datetime.timedelta(days=practice.rems_form_days)
    with time_machine.travel(at(60 * 24), tick=False):
        page = login(ada).get(reverse("rems:list")).content.decode()
    assert "Avery Alvarez" in page and f"{due:%b} {due.day}, {due:%Y}" in page
    assert "Overdue" not in page
    with time_machine.travel(DAY + datetime.timedelta(days=practice.rems_form_days + 1), tick=False):
        page = login(ada).get(reverse("rems:list")).content.decode()
    assert "Overdue" in page
    [row] = audit_rows("kapflow.dosing.rems.list_viewed")[:1]
    assert row.detail == {"clients": [signed.client_id]}
    assert login(tess).get(reverse("rems:list")).status_code == 403


def test_a_prescriber_sees_only_the_forms_of_clients_in_their_care(signed, colin, login):
    colin.is_prescriber = True
    colin.save()
    page = login(colin).get(reverse("rems:list")).content.decode()
    assert "Avery Alvarez" not in page


def test_the_submission_is_recorded_once(signed, ada, priya, login, practice, audit_rows):
    report = RemsReport.objects.get()
    url = reverse("rems:submit", args=[report.pk])
    with time_machine.travel(at(60 * 24 * 2), tick=False):
        response = login(ada).post(url, {"submitted_on": "2026-05-06", "reference": "  RX-123  "})
        assert response.status_code == 302
        report.refresh_from_db()
        assert (report.submitted_on, report.submitted_by, report.submission_reference) == (
            datetime.date(2026, 5, 6),
            ada,
            "RX-123",
        )
        [row] = audit_rows("kapflow.dosing.rems.submitted")
        assert (row.client_id, row.detail) == (signed.client_id, {"late": False})
        with pytest.raises(RunbookRefused, match="Already recorded as submitted on 2026-05-06"):
            rems_submission_record(
                actor=priya, report=report, submitted_on=DAY.date(), reference="X", practice=practice
            )
        assert "Avery Alvarez" not in login(ada).get(reverse("rems:list")).content.decode()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"submitted_on": "2026-05-09", "reference": "R"}, "in the future"),
        ({"submitted_on": "2026-04-01", "reference": "R"}, "before the session"),
        ({"submitted_on": "not a date", "reference": "R"}, "Enter a valid date"),
        ({"submitted_on": "2026-05-05", "reference": "   "}, "This field is required"),
        ({"submitted_on": "2026-05-05", "reference": "R" * 500}, "at most 80 characters"),
        ({}, "This field is required"),
    ],
)
def test_a_hostile_submission_comes_back_with_what_to_fix(signed, ada, login, data, words):
    report = RemsReport.objects.get()
    with time_machine.travel(at(60 * 24 * 2), tick=False):
        response = login(ada).post(reverse("rems:submit", args=[report.pk]), data)
    assert response.status_code == 200
    assert words in response.content.decode()
    report.refresh_from_db()
    assert report.submitted_on is None


def test_a_long_list_shows_the_oldest_forms_and_a_form_sent_back_wherever_it_sat(
    signed, ada, priya, login, monkeypatch
):
    """The list shows the oldest REMS_SHOWN forms and "Show all" (here one, with a signed session
    a week older than Avery's). A submission that comes back with what to fix is on the page with
    what was typed even when its form sat past the cap."""
    monkeypatch.setattr("kapflow.dosing.views.rems.REMS_SHOWN", 1)
    earlier = signed.starts_at - datetime.timedelta(days=7)
    older_visit = Visit.objects.create(
        client=signed.client,
        kind=Visit.Kind.MEDICATION,
        status=Visit.Status.COMPLETED,
        starts_at=earlier,
        ends_at=earlier + datetime.timedelta(hours=2),
        modality=Visit.Modality.IN_PERSON,
        room=signed.room,
        clinician=signed.clinician,
        created_by=priya,
    )
    older_book = Runbook.objects.create(
        visit=older_visit,
        discharged_at=earlier + datetime.timedelta(hours=2),
        discharged_by=priya,
        signed_at=earlier + datetime.timedelta(hours=3),
        signed_by=priya,
    )
    older = RemsReport.objects.create(runbook=older_book, answered_by=priya, answered_at=older_book.signed_at)
    newer = RemsReport.objects.get(runbook__visit=signed)
    http = login(ada)
    older_form, newer_form = (reverse("rems:submit", args=[report.pk]) for report in (older, newer))
    with time_machine.travel(at(60 * 24 * 2), tick=False):
        page = http.get(reverse("rems:list")).content.decode()
        assert older_form in page and newer_form not in page
        assert "The oldest 1 of 2 forms to submit are shown" in page and "?forms=all#rems-h" in page
        everything = http.get(reverse("rems:list") + "?forms=all").content.decode()
        assert older_form in everything and newer_form in everything
        sent_back = http.post(
            newer_form, {"submitted_on": "2026-05-05", "reference": "R" * 500}
        ).content.decode()
    assert newer_form in sent_back and "at most 80 characters" in sent_back and "R" * 500 in sent_back


def test_an_outside_prescriber_and_other_roles_are_refused_the_list(signed, cora, tess, login):
    for who in (cora, tess):
        assert login(who).get(reverse("rems:list")).status_code == 403
        assert login(who).post(reverse("rems:submit", args=[RemsReport.objects.get().pk])).status_code == 403


# --- The reminder ---------------------------------------------------------------------------------


def test_the_form_due_and_overdue_are_told_to_the_signer_and_the_registrant(
    signed, priya, ada, practice, login
):
    registrant = factories.make_user("Rhea Registrant", roles=("is_prescriber",), email="rhea@example.org")
    practice.dea_registrant = registrant
    practice.save()
    due = DAY.date() + datetime.timedelta(days=practice.rems_form_days)
    before = datetime.datetime.combine(due, datetime.time(0), tzinfo=datetime.UTC) - datetime.timedelta(
        hours=30
    )
    with time_machine.travel(before, tick=False):
        assert rems_forms(before, before, practice) == []
    on_due = before + datetime.timedelta(days=2)
    found = rems_forms(on_due, on_due, practice)
    assert {(item.key, item.recipient) for item in found} == {
        (f"rems:{RemsReport.objects.get().pk}:due", priya),
        (f"rems:{RemsReport.objects.get().pk}:due", registrant),
    }
    assert all(item.kind == Reminder.Kind.CONTROLLED and item.client == signed.client for item in found)
    later = on_due + datetime.timedelta(days=2)
    assert {item.key.split(":")[2] for item in rems_forms(later, later, practice)} == {"due", "overdue"}
    # The list says who was told.
    Reminder.objects.create(
        key=found[0].key,
        kind=Reminder.Kind.CONTROLLED,
        recipient=found[0].recipient,
        address=found[0].recipient.email,
        client=signed.client,
        due_at=found[0].due_at,
    )
    page = login(ada).get(reverse("rems:list")).content.decode()
    assert found[0].recipient.display_name in page
    report = RemsReport.objects.get()
    with time_machine.travel(later, tick=False):
        rems_submission_record(actor=ada, report=report, submitted_on=due, reference="R-1", practice=practice)
    assert rems_forms(later, later, practice) == []


# --- The enrolment --------------------------------------------------------------------------------


def test_a_clinician_records_the_enrolment_and_the_medical_page_shows_it(
    avery, priya, tess, login, audit_rows
):
    esketamine_order(avery, priya)
    url = reverse("rems_enrolment:enrolment", args=[avery.pk])
    assert (
        "Not enrolled in kapflow's record"
        in login(priya).get(reverse("medical:summary", args=[avery.pk])).content.decode()
    )
    response = login(tess).post(
        url, {"prescriber": priya.pk, "enrolled_on": "2026-01-05", "patient_rems_id": "PT-12345"}
    )
    assert response.status_code == 302
    enrolment = RemsEnrolment.objects.get()
    assert (enrolment.prescriber, enrolment.recorded_by, enrolment.patient_rems_id) == (
        priya,
        tess,
        "PT-12345",
    )
    [row] = audit_rows("kapflow.controlled.rems_enrolment.recorded")
    assert (row.actor, row.client) == (tess, avery)
    page = login(priya).get(reverse("medical:summary", args=[avery.pk])).content.decode()
    assert "patient REMS ID <strong>PT-12345</strong>" in page


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"enrolled_on": "2999-01-01", "patient_rems_id": "P-1"}, "in the future"),
        ({"enrolled_on": "1900-01-01", "patient_rems_id": "P-1"}, "before the client&#x27;s date of birth"),
        (
            {"enrolled_on": "2026-01-05", "patient_rems_id": "<script>x</script>"},
            "letters, digits and dashes",
        ),
        ({"enrolled_on": "2026-01-05", "patient_rems_id": "P" * 41}, "at most 40 characters"),
        ({"enrolled_on": "yesterday", "patient_rems_id": "P-1"}, "Enter a valid date"),
        ({"enrolled_on": "2026-01-05", "patient_rems_id": "P-1", "prescriber": "x"}, "Select a valid choice"),
    ],
)
def test_a_hostile_enrolment_comes_back_with_what_to_fix(avery, priya, tess, login, data, words):
    response = login(tess).post(
        reverse("rems_enrolment:enrolment", args=[avery.pk]), {"prescriber": priya.pk, **data}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert words in html
    assert "<script>x</script>" not in html
    assert not RemsEnrolment.objects.exists()


def test_the_enrolment_refuses_another_clients_document_and_a_non_prescriber(
    avery, olive, priya, tess, colin
):
    document = ChartDocument.objects.create(
        client=olive,
        kind=ChartDocument.Kind.OTHER,
        title="Olive's form",
        file="x.pdf",
        original_name="x.pdf",
        content_type="application/pdf",
        extension="pdf",
        size=1,
        sha256="0" * 64,
        uploaded_by=tess,
    )
    with pytest.raises(EnrolmentRefused, match="not filed on this client's chart"):
        enrolment_record(
            actor=tess,
            client=avery,
            prescriber=priya,
            enrolled_on=datetime.date(2026, 1, 5),
            patient_rems_id="P-1",
            document=document,
        )
    with pytest.raises(EnrolmentRefused, match="not a prescriber who can enrol"):
        enrolment_record(
            actor=tess,
            client=avery,
            prescriber=tess,
            enrolled_on=datetime.date(2026, 1, 5),
            patient_rems_id="P-1",
        )
    with pytest.raises(EnrolmentRefused, match="on the client's care team"):
        enrolment_record(
            actor=colin,
            client=avery,
            prescriber=priya,
            enrolled_on=datetime.date(2026, 1, 5),
            patient_rems_id="P-1",
        )
    assert not RemsEnrolment.objects.exists()


# --- The room -------------------------------------------------------------------------------------


def test_a_room_is_marked_certified_only_with_its_setting_id(db):
    form = RoomForm({"name": "Birch", "rems_certified": "on", "rems_setting_id": "  "})
    assert not form.is_valid()
    assert form.errors["rems_setting_id"][0].startswith("Enter the setting's REMS ID")
    form = RoomForm({"name": "Birch", "rems_certified": "on", "rems_setting_id": " S-9 "})
    assert form.is_valid()
    assert form.save().rems_setting_id == "S-9"


def test_a_reminder_not_yet_sent_is_dropped_once_the_form_is_submitted(signed, ada, priya, practice):
    from kapflow.reminders.sources import still_due

    report = RemsReport.objects.get()
    reminder = Reminder.objects.create(
        key=f"rems:{report.pk}:due",
        kind=Reminder.Kind.CONTROLLED,
        recipient=priya,
        address=priya.email,
        client=signed.client,
        due_at=at(0),
    )
    later = DAY + datetime.timedelta(days=2)
    assert still_due([reminder], later) == {reminder.pk}
    with time_machine.travel(later, tick=False):
        rems_submission_record(
            actor=ada, report=report, submitted_on=later.date(), reference="R-2", practice=practice
        )
    assert still_due([reminder], later) == set()


def test_the_same_enrolment_sent_twice_is_saved_once(avery, tess, priya):
    first, again = (
        enrolment_record(
            actor=tess,
            client=avery,
            prescriber=priya,
            enrolled_on=datetime.date(2026, 1, 5),
            patient_rems_id="P-9",
        )
        for _ in range(2)
    )
    assert first == again and RemsEnrolment.objects.count() == 1
