"""In-session danger reaches a prescriber (issue 11, item 6; kapflow.dosing.alerts): each alarming
runbook entry raises one SessionAlert and one email through the reminders' outbox to the care
team's prescriber (else the practice's on-call prescriber); the runbook says who was told and
whether they have seen it; "emergency services called" records the time and the address."""

import datetime
import re
import uuid

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.clients.models import AccessGrant, CareTeamMember
from kapflow.dosing import alerts
from kapflow.dosing.models import EmergencyCall, Runbook, SessionAlert
from kapflow.dosing.services.discharge import discharge_record
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.services.session import adverse_event_record, chaperone_checkin_record
from kapflow.dosing.services.signing import runbook_sign
from kapflow.dosing.services.vitals import vitals_record
from kapflow.practice.forms import PracticeForm
from kapflow.practice.models import Practice
from kapflow.reminders.models import Reminder
from kapflow.reminders.tasks import send_reminders
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.test_runbook import DAY, at, checked_in, dose, make_order, rate, vitals

pytestmark = pytest.mark.usefixtures("pathway_ready")

# Nothing of what happened, to whom or with what may be in the email.
CLINICAL_WORDS = [
    "vitals",
    "blood",
    "pressure",
    "heart",
    "spo2",
    "sedation",
    "ketamine",
    "dose",
    "mg",
    "chaperone",
    "adverse",
    "emergency",
    "185",
    "avery",
    "alvarez",
    "elm",
]


@pytest.fixture
def visit(avery, tess, cora):
    """A virtual medication session in progress, its checklist and safety plan (12 Elm St)
    passing, Priya the prescriber on the care team."""
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


@pytest.fixture
def dosed(visit, tess, priya, avery):
    vitals(visit, tess, -10, phase="pre_dose")
    dose(visit, tess, make_order(avery, priya), 0)
    return visit


@pytest.fixture
def pat(db):
    return factories.make_user("Pat Oncall", roles=("is_prescriber",), email="pat@example.org")


def runbook_url(visit) -> str:
    return reverse("dosing:runbook", args=[visit.client_id, visit.pk])


def page(http, visit, minutes: float) -> str:
    with time_machine.travel(at(minutes), tick=False):
        response = http.get(runbook_url(visit))
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def high_reading(visit, who, minutes=40, **extra):
    return vitals(visit, who, minutes, bp=(185, 100), **extra)


def test_a_reading_over_a_threshold_notifies_the_prescriber_by_email_without_clinical_words(
    dosed, tess, priya, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reading = high_reading(dosed, tess)
    [alert] = SessionAlert.objects.all()
    assert (alert.kind, alert.vitals, alert.notified_user) == ("vitals", reading, priya)
    [notice] = Reminder.objects.filter(kind=Reminder.Kind.SESSION_ALERT)
    assert (notice.recipient, notice.status, notice.key) == (priya, "sent", f"session_alert:{alert.pk}")
    alert.refresh_from_db()
    assert alert.notice == notice and alert.notified_at == notice.sent_at is not None
    [email] = mail.outbox
    assert email.to == ["priya@example.org"]
    assert "a client in session needs your attention" in email.body.lower()
    for text in (email.subject, email.body, email.alternatives[0][0]):
        found = [w for w in CLINICAL_WORDS if re.search(rf"\b{re.escape(w)}", text.lower())]
        assert found == [], f"{found} in {text!r}"
    assert AuditEvent.objects.filter(
        action="kapflow.dosing.session_alert.raised", object_id=str(alert.pk)
    ).exists()


def test_a_normal_reading_raises_nothing(dosed, tess):
    vitals(dosed, tess, 40, bp=(130, 85))
    assert not SessionAlert.objects.exists()
    assert not Reminder.objects.filter(kind=Reminder.Kind.SESSION_ALERT).exists()


def test_the_same_alert_is_notified_once_however_often_sent_or_refreshed(
    dosed, tess, priya, login, django_capture_on_commit_callbacks
):
    key = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):  # the same form sent twice
            with time_machine.travel(at(40), tick=False):
                vitals_record(
                    actor=tess,
                    visit=dosed,
                    phase="in_session",
                    taken_at=at(40),
                    systolic=185,
                    diastolic=100,
                    heart_rate=72,
                    spo2=None,
                    practice=Practice.load(),
                    entry_key=key,
                )
    http = login(tess)
    live = reverse("dosing:live", args=[dosed.client_id, dosed.pk])
    for minutes in (40.5, 41, 41.5):  # the live panel's 30-second refresh, and reloads
        with time_machine.travel(at(minutes), tick=False):
            assert http.get(live).status_code == 200
        page(http, dosed, minutes)
    # Raising it again for the same reading (another request racing) adds nothing.
    reading = SessionAlert.objects.get().vitals
    assert alerts.vitals_alerts_raise(reading=reading, practice=Practice.load()) == []
    assert SessionAlert.objects.count() == 1
    assert Reminder.objects.filter(kind=Reminder.Kind.SESSION_ALERT).count() == 1
    assert len(mail.outbox) == 1


def test_without_a_prescriber_on_the_team_the_on_call_prescriber_is_told_and_may_open_the_runbook(
    dosed, tess, priya, pat, avery, login, django_capture_on_commit_callbacks
):
    CareTeamMember.objects.filter(client=avery, user=priya).delete()
    practice = Practice.load()
    practice.on_call_prescriber = pat
    practice.save()
    http = login(pat)
    assert http.get(runbook_url(dosed)).status_code == 404  # not on the team, nothing raised yet
    with django_capture_on_commit_callbacks(execute=True):
        high_reading(dosed, tess)
    alert = SessionAlert.objects.get()
    assert alert.notified_user == pat
    assert AuditEvent.objects.get(action="kapflow.dosing.session_alert.raised").detail["on_call"] is True
    assert [e.to for e in mail.outbox] == [["pat@example.org"]]
    text = page(http, dosed, 45)
    alert.refresh_from_db()
    assert alert.seen_by == pat
    assert "seen by P. Oncall" in text


def test_an_inactive_team_prescriber_is_passed_over_for_the_on_call_one(dosed, tess, priya, pat):
    type(priya).objects.filter(pk=priya.pk).update(is_active=False)
    assert Practice.objects.filter(pk=1).update(on_call_prescriber=pat) == 1
    high_reading(dosed, tess)
    assert SessionAlert.objects.get().notified_user == pat


def test_with_no_prescriber_at_all_the_runbook_says_to_phone_one(dosed, tess, priya, avery, login):
    CareTeamMember.objects.filter(client=avery, user=priya).delete()
    high_reading(dosed, tess)
    alert = SessionAlert.objects.get()
    assert alert.notified_user is None and alert.notice is None
    assert not Reminder.objects.filter(kind=Reminder.Kind.SESSION_ALERT).exists()
    text = page(login(tess), dosed, 41)
    assert "No prescriber could be told" in text and "Phone a prescriber now" in text


def test_not_yet_seen_until_a_prescriber_opens_the_runbook_not_when_the_therapist_does(
    dosed, tess, priya, login, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        high_reading(dosed, tess)
    alert = SessionAlert.objects.get()
    text = page(login(tess), dosed, 41)
    assert "not yet seen" in text
    alert.refresh_from_db()
    assert alert.seen_at is None
    # The live panel's refresh by the prescriber is not opening the runbook either.
    with time_machine.travel(at(42), tick=False):
        login(priya).get(reverse("dosing:live", args=[dosed.client_id, dosed.pk]))
    alert.refresh_from_db()
    assert alert.seen_at is None
    page(login(priya), dosed, 47)
    alert.refresh_from_db()
    assert alert.seen_by == priya and alert.seen_at == at(47)
    assert AuditEvent.objects.filter(
        action="kapflow.dosing.session_alert.seen", actor=priya, object_id=str(alert.pk)
    ).exists()
    text = page(login(tess), dosed, 48)
    assert "seen by P. Prescriber" in text and "not yet seen" not in text


def test_every_alert_waiting_is_marked_seen_in_one_update(dosed, tess, priya):
    """Three alerts waiting, one prescriber opening the runbook: one UPDATE marks them all (not
    one per alert), and each has its own audit row."""
    for minutes in (40, 45, 50):
        high_reading(dosed, tess, minutes)
    assert SessionAlert.objects.filter(seen_at__isnull=True).count() == 3
    table = SessionAlert._meta.db_table
    with time_machine.travel(at(55), tick=False), CaptureQueriesContext(connection) as queries:
        assert alerts.session_alerts_seen(actor=priya, visit=dosed) == 3
    updates = [q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{table}"')]
    assert len(updates) == 1
    assert set(SessionAlert.objects.values_list("seen_by", "seen_at")) == {(priya.pk, at(55))}
    seen = AuditEvent.objects.filter(action="kapflow.dosing.session_alert.seen", actor=priya)
    assert sorted(seen.values_list("object_id", flat=True)) == sorted(
        str(pk) for pk in SessionAlert.objects.values_list("pk", flat=True)
    )


def test_the_runbook_shows_when_the_prescriber_was_notified(
    dosed, tess, login, django_capture_on_commit_callbacks
):
    with time_machine.travel(at(40), tick=False), django_capture_on_commit_callbacks(execute=True):
        vitals_record(
            actor=tess,
            visit=dosed,
            phase="in_session",
            taken_at=at(40),
            systolic=185,
            diastolic=100,
            heart_rate=72,
            spo2=None,
            practice=Practice.load(),
        )
    shown = timezone.localtime(at(40))
    text = page(login(tess), dosed, 41)
    assert f"Prescriber notified {shown:%H:%M} (P. Prescriber) — " in text and "not yet seen" in text


def test_a_notice_that_failed_says_to_phone_the_prescriber(dosed, tess, login):
    high_reading(dosed, tess)  # on_commit not run: the notice stays queued
    text = page(login(tess), dosed, 41)
    assert "email queued" in text
    Reminder.objects.filter(kind=Reminder.Kind.SESSION_ALERT).update(status=Reminder.Status.FAILED)
    text = page(login(tess), dosed, 42)
    assert "could not be sent" in text and "phone them now" in text


def test_a_notice_is_not_sent_once_the_alert_was_seen(dosed, tess, priya):
    high_reading(dosed, tess)  # queued, not yet sent
    alerts.session_alerts_seen(actor=priya, visit=dosed)
    notice = Reminder.objects.get(kind=Reminder.Kind.SESSION_ALERT)
    send_reminders.call(reminder_ids=[notice.pk])
    notice.refresh_from_db()
    assert notice.status == Reminder.Status.NOT_NEEDED and mail.outbox == []


@pytest.mark.parametrize(
    ("level", "sedation", "raised"), [(3, 2, False), (3, 3, True), (3, 4, True), (4, 3, False)]
)
def test_deep_sedation_at_the_practice_level_notifies(dosed, tess, priya, level, sedation, raised):
    assert Practice.objects.filter(pk=1).update(deep_sedation_level=level) == 1
    rating = rate(dosed, tess, 30, sedation=sedation)
    found = list(SessionAlert.objects.filter(kind="sedation"))
    assert [(a.rating, a.notified_user) for a in found] == ([(rating, priya)] if raised else [])


def test_a_worrying_chaperone_checkin_notifies_and_a_good_one_does_not(dosed, tess, priya):
    for minutes, ok in ((15, True), (30, False)):
        with time_machine.travel(at(minutes), tick=False):
            chaperone_checkin_record(
                actor=tess,
                visit=dosed,
                checked_at=at(minutes),
                chaperone_present=True,
                client_ok=ok,
                note="pale",
            )
    [alert] = SessionAlert.objects.all()
    assert alert.kind == "chaperone" and not alert.checkin.client_ok and "not OK" in alert.summary


@pytest.mark.parametrize(("severity", "raised"), [("mild", False), ("moderate", False), ("severe", True)])
def test_a_severe_adverse_event_notifies(dosed, tess, severity, raised):
    with time_machine.travel(at(20), tick=False):
        adverse_event_record(
            actor=tess, visit=dosed, noted_at=at(20), kind="nausea", severity=severity, action_taken="Basin."
        )
    assert SessionAlert.objects.filter(kind="adverse_event").exists() is raised


def test_a_predose_reading_waiting_for_acknowledgement_notifies_the_prescriber(visit, tess, priya):
    reading = vitals(visit, tess, -10, bp=(145, 85), phase="pre_dose")  # above the 140 caution level
    [alert] = SessionAlert.objects.all()
    assert (alert.kind, alert.vitals, alert.notified_user) == ("caution", reading, priya)
    assert "acknowledgement" in alert.summary


def test_a_predose_reading_that_passes_raises_nothing(visit, tess):
    vitals(visit, tess, -10, bp=(120, 80), phase="pre_dose")
    assert not SessionAlert.objects.exists()


# --- Emergency services ------------------------------------------------------------------------


def emergency(http, visit, minutes, confirmed=True):
    with time_machine.travel(at(minutes), tick=False):
        return http.post(
            reverse("dosing:emergency", args=[visit.client_id, visit.pk]),
            {"confirmed": "1"} if confirmed else {},
            follow=True,
        )


def test_emergency_services_called_records_time_and_the_safety_plan_address(
    dosed, tess, priya, login, django_capture_on_commit_callbacks
):
    http = login(tess)
    with django_capture_on_commit_callbacks(execute=True):
        response = emergency(http, dosed, 51)
    assert response.status_code == 200
    [call] = EmergencyCall.objects.all()
    assert (call.called_by, call.called_at, call.address) == (tess, at(51), "12 Elm St, Springfield")
    assert call.address_from == "safety_plan"
    alert = SessionAlert.objects.get(kind="emergency")
    assert alert.emergency_call == call and alert.notified_user == priya
    assert [e.to for e in mail.outbox] == [["priya@example.org"]]
    assert AuditEvent.objects.filter(action="kapflow.dosing.emergency.called", actor=tess).exists()
    text = page(http, dosed, 52)
    assert f"Emergency services called {timezone.localtime(at(51)):%H:%M} by T. Therapist" in text
    assert "12 Elm St, Springfield" in text


def test_emergency_services_in_the_office_record_the_practice_address(avery, tess, cora, priya):
    practice = Practice.load()
    practice.address = "4 Oak Hill Rd, Springfield"
    practice.save()
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.IN_PERSON,
        room=Room.objects.create(name="Cedar"),
        starts_at=DAY - datetime.timedelta(minutes=30),
        ends_at=DAY + datetime.timedelta(minutes=150),
        clinician=tess,
        created_by=cora,
        status=Visit.Status.IN_PROGRESS,
    )
    with time_machine.travel(at(10), tick=False):
        call = alerts.emergency_call_record(actor=tess, visit=visit, practice=Practice.load())
    assert (call.address, call.address_from) == ("4 Oak Hill Rd, Springfield", "practice")


def discharge_and_sign(visit, who) -> None:
    """Settled vitals and rating at 100 min, discharge at 120, the record signed at 125."""
    vitals(visit, who, 100)
    rate(visit, who, 100)
    with time_machine.travel(at(120), tick=False):
        discharge_record(
            actor=who,
            visit=visit,
            alert_and_oriented=True,
            steady_on_feet=True,
            escort_present=True,
            override_reason="",
            practice=Practice.load(),
        )
    with time_machine.travel(at(125), tick=False):
        runbook_sign(actor=who, visit=visit)


def test_emergency_services_are_refused_on_a_signed_runbook(dosed, tess, login):
    discharge_and_sign(dosed, tess)
    assert Runbook.objects.get(visit=dosed).is_locked
    text = re.sub(r"\s+", " ", emergency(login(tess), dosed, 140).content.decode())
    assert not EmergencyCall.objects.exists()
    assert "signed and locked" in text
    assert "Emergency services called</button>" not in text  # no button on a signed record
    with pytest.raises(RunbookRefused):
        alerts.emergency_call_record(actor=tess, visit=dosed, practice=Practice.load())


def test_emergency_services_are_refused_before_the_client_is_there(avery, tess, cora):
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.IN_PERSON,
        room=Room.objects.create(name="Cedar"),
        starts_at=DAY,
        ends_at=DAY + datetime.timedelta(minutes=150),
        clinician=tess,
        created_by=cora,
    )
    with (
        time_machine.travel(at(-5), tick=False),
        pytest.raises(RunbookRefused, match="not under way"),
    ):
        alerts.emergency_call_record(actor=tess, visit=visit, practice=Practice.load())
    assert not EmergencyCall.objects.exists()


def test_emergency_services_need_the_confirmation(dosed, tess, login):
    text = emergency(login(tess), dosed, 51, confirmed=False).content.decode()
    assert not EmergencyCall.objects.exists() and "Nothing recorded" in text


# --- The prescriber's dashboard and the settings ------------------------------------------------


def test_open_alerts_are_on_the_prescribers_dashboard_until_seen(dosed, tess, priya, login):
    high_reading(dosed, tess)
    http = login(priya)
    dashboard = http.get("/").content.decode()
    assert "A client in session needs you now" in dashboard and runbook_url(dosed) in dashboard
    assert "A client in session needs you now" not in login(tess).get("/").content.decode()
    page(http, dosed, 45)
    assert "A client in session needs you now" not in http.get("/").content.decode()


def test_the_dashboard_shows_the_first_alerts_and_the_whole_list_has_a_page(dosed, tess, priya, login):
    """Alerts nobody opened the runbook for stay until seen; the dashboard shows the oldest few
    with the date and time of each, and "Show all" lists every one, each leading to its runbook."""
    from kapflow.views import SHOWN

    high_reading(dosed, tess)
    runbook = dosed.runbook
    raised = timezone.now() - datetime.timedelta(days=3)
    SessionAlert.objects.bulk_create(
        SessionAlert(
            runbook=runbook, kind=SessionAlert.Kind.SEDATION, raised_at=raised + datetime.timedelta(minutes=n)
        )
        for n in range(SHOWN + 2)
    )
    waiting = SessionAlert.objects.filter(seen_at__isnull=True).count()
    assert waiting == SHOWN + 3
    http = login(priya)
    dashboard = http.get("/").content.decode()
    assert dashboard.count("Open the runbook") == SHOWN
    assert timezone.localtime(raised).strftime("%a %b %-d, %H:%M") in dashboard
    assert reverse("queue_session_alerts") in dashboard
    whole = http.get(reverse("queue_session_alerts"))
    assert whole.status_code == 200
    assert whole.content.decode().count(runbook_url(dosed)) == waiting
    assert login(tess).get(reverse("queue_session_alerts")).status_code == 403
    page(http, dosed, 45)  # the prescriber opens the runbook: every alert of it is seen
    assert "A client in session needs you now" not in http.get("/").content.decode()
    assert runbook_url(dosed) not in http.get(reverse("queue_session_alerts")).content.decode()


def test_the_on_call_prescriber_is_chosen_among_active_prescribers(tess, priya, pat, ada, login):
    choices = set(PracticeForm().fields["on_call_prescriber"].queryset)
    assert choices == {priya, pat}
    type(pat).objects.filter(pk=pat.pk).update(is_active=False)
    assert set(PracticeForm().fields["on_call_prescriber"].queryset) == {priya}
    form = PracticeForm({**PracticeForm(instance=Practice.load()).initial, "on_call_prescriber": tess.pk})
    assert not form.is_valid() and "on_call_prescriber" in form.errors
    assert Practice._meta.get_field("deep_sedation_level").default == 3
    assert "practice default" in Practice._meta.get_field("deep_sedation_level").help_text


def test_a_notice_that_keeps_failing_is_on_the_admins_reminders_page_and_the_runbook_says_phone(
    dosed, tess, priya, ada, login, settings
):
    from kapflow.reminders.services import ATTEMPTS

    settings.EMAIL_BACKEND = "tests.test_reminders.RefusingBackend"
    high_reading(dosed, tess)
    notice = Reminder.objects.get(kind=Reminder.Kind.SESSION_ALERT)
    for _ in range(ATTEMPTS):
        send_reminders.call(reminder_ids=[notice.pk])
    notice.refresh_from_db()
    assert notice.status == Reminder.Status.FAILED
    body = login(ada).get(reverse("reminders:list")).content.decode()
    assert "Staff notice" in body and "Send again" in body
    assert "Session alert" not in body and "Vitals" not in body
    text = page(login(tess), dosed, 45)
    assert "could not be sent" in text and "phone them now" in text


def test_the_on_call_prescribers_access_ends_when_the_record_is_signed(dosed, tess, priya, pat, avery, login):
    CareTeamMember.objects.filter(client=avery, user=priya).delete()
    assert Practice.objects.filter(pk=1).update(on_call_prescriber=pat) == 1
    high_reading(dosed, tess, minutes=40)
    http = login(pat)
    with time_machine.travel(at(60), tick=False):
        assert http.get(runbook_url(dosed)).status_code == 200
    discharge_and_sign(dosed, tess)
    with time_machine.travel(at(125), tick=False):
        assert http.get(runbook_url(dosed)).status_code == 404
    # The access was a grant of its own, opened and ended by the services, each audited.
    [grant] = AccessGrant.objects.filter(client=avery, user=pat)
    assert grant.ended_at is not None and grant.reason == "On-call prescriber told of an in-session alert"
    granted = AuditEvent.objects.get(action="kapflow.clients.access.granted")
    ended = AuditEvent.objects.get(action="kapflow.clients.access.ended")
    assert granted.client == ended.client == avery and granted.detail["user"] == pat.pk
    assert ended.actor == tess


def test_a_prescriber_on_the_team_gets_no_grant_and_a_colleague_none_either(dosed, tess, priya, colin, login):
    high_reading(dosed, tess, minutes=40)
    assert not AccessGrant.objects.exists()
    with time_machine.travel(at(60), tick=False):
        assert login(colin).get(runbook_url(dosed)).status_code == 404


def test_with_no_address_on_record_the_runbook_says_to_tell_the_dispatcher(avery, tess, cora, login):
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=DAY - datetime.timedelta(minutes=30),
        ends_at=DAY + datetime.timedelta(minutes=150),
        clinician=tess,
        created_by=cora,
        status=Visit.Status.CHECKED_IN,
    )
    with time_machine.travel(at(-20), tick=False):
        call = alerts.emergency_call_record(actor=tess, visit=visit, practice=Practice.load())
    assert (call.address, call.address_from) == ("", "safety_plan")
    assert "no address on record: tell the dispatcher where the client is" in page(login(tess), visit, -19)
