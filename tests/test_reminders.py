"""Reminders: each kind is created at its moment and not before, once however often the sweep
runs, only for people who may receive it, and its email says nothing about anyone's care. A
send that keeps failing ends up on the admin's page, from where it can be sent again.

The queue here runs tasks at once, in memory (tests/conftest.py); the real huey storages are
driven in tests/test_reminders_queue.py."""

import datetime
import re
import types
import zoneinfo

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from kapflow.accounts.models import User
from kapflow.clients.models import Guardian, OutsideProvider
from kapflow.measures import instruments
from kapflow.measures.models import Alert, MeasureTask, Response
from kapflow.medical.models import Clearance, Screening
from kapflow.practice.models import Practice
from kapflow.reminders import services, sources
from kapflow.reminders.emails import render_reminders
from kapflow.reminders.models import Reminder
from kapflow.reminders.services import ATTEMPTS, sweep
from kapflow.reminders.tasks import send_reminders, sweep_reminders
from kapflow.visits.models import Visit
from tests import factories
from tests.test_outside_prescriber import GOOD_NPI, filed

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
# A Tuesday morning in the practice's time zone.
NOW = datetime.datetime(2026, 3, 10, 9, 0, tzinfo=LA)
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(autouse=True)
def no_measure_schedule(monkeypatch):
    """The measure schedule (another feature) would add questionnaires of its own; each test
    here builds exactly the tasks it is about. `calls` records that the sweep asked for it."""
    calls = []
    monkeypatch.setattr("kapflow.measures.schedule.schedule_measures", calls.append)
    return calls


def at(moment):
    return time_machine.travel(moment, tick=False)


def run_sweep(moment) -> list[Reminder]:
    with at(moment):
        return sweep(timezone.now())


@pytest.fixture
def cleo_is_avery(avery, cleo):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    return avery


def make_visit(
    client, clinician, *, starts_at, kind=Visit.Kind.THERAPY, status=Visit.Status.SCHEDULED, **extra
):
    return Visit.objects.create(
        client=client,
        kind=kind,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=150),
        modality=Visit.Modality.VIRTUAL,
        status=status,
        clinician=clinician,
        created_by=clinician,
        **extra,
    )


def keys(kind=None):
    rows = Reminder.objects.order_by("pk")
    return [(r.key.split(":")[0], r.recipient.email) for r in (rows.filter(kind=kind) if kind else rows)]


# --- appointments -------------------------------------------------------------------------


def test_it_reminds_of_an_appointment_24_hours_before_and_not_sooner(cleo_is_avery, tess):
    starts = NOW + 24 * HOUR
    make_visit(cleo_is_avery, tess, starts_at=starts)
    assert run_sweep(starts - 24 * HOUR - MINUTE) == []
    [reminder] = run_sweep(starts - 23 * HOUR - 59 * MINUTE)
    assert (reminder.kind, reminder.recipient.email, reminder.client) == (
        "appointment",
        "cleo@example.org",
        cleo_is_avery,
    )
    assert reminder.due_at == starts - 24 * HOUR


def test_it_follows_the_practice_setting(cleo_is_avery, tess):
    Practice.objects.filter(pk=Practice.load().pk).update(appointment_reminder_hours=48)
    starts = NOW + 47 * HOUR
    make_visit(cleo_is_avery, tess, starts_at=starts)
    assert len(run_sweep(NOW)) == 1


def test_the_sweep_is_idempotent_one_reminder_one_email(cleo_is_avery, tess, audit_rows):
    make_visit(cleo_is_avery, tess, starts_at=NOW + 2 * HOUR)
    assert len(run_sweep(NOW)) == 1
    assert run_sweep(NOW + 5 * MINUTE) == []
    assert run_sweep(NOW + 10 * MINUTE) == []
    assert Reminder.objects.count() == 1
    [email] = mail.outbox
    assert email.to == ["cleo@example.org"]
    reminder = Reminder.objects.get()
    assert (reminder.status, reminder.attempts) == ("sent", 1) and reminder.sent_at is not None
    [created] = audit_rows("kapflow.reminders.reminder.created")
    [sent] = audit_rows("kapflow.reminders.reminder.sent")
    assert sent.actor is None and sent.client == cleo_is_avery and sent.object_id == str(reminder.pk)


def test_a_rescheduled_visit_is_reminded_again(cleo_is_avery, tess):
    visit = make_visit(cleo_is_avery, tess, starts_at=NOW + 2 * HOUR)
    run_sweep(NOW)
    visit.starts_at, visit.ends_at = NOW + 5 * HOUR, NOW + 6 * HOUR
    visit.save()
    assert len(run_sweep(NOW + 5 * MINUTE)) == 1
    assert len(mail.outbox) == 2


@pytest.mark.parametrize("status", [Visit.Status.CANCELLED, Visit.Status.NO_SHOW, Visit.Status.CHECKED_IN])
def test_a_visit_no_longer_scheduled_gets_no_reminder(cleo_is_avery, tess, status):
    make_visit(
        cleo_is_avery,
        tess,
        starts_at=NOW + 2 * HOUR,
        status=status,
        cancel_reason="Client unwell" if status == Visit.Status.CANCELLED else "",
    )
    assert run_sweep(NOW) == []


def test_a_visit_already_started_gets_no_reminder(cleo_is_avery, tess):
    make_visit(cleo_is_avery, tess, starts_at=NOW - MINUTE)
    assert run_sweep(NOW) == []


def test_a_client_without_a_portal_account_gets_nothing(avery, tess, priya):
    make_visit(avery, tess, starts_at=NOW + 2 * HOUR)
    make_visit(avery, tess, starts_at=NOW + 26 * HOUR, kind=Visit.Kind.MEDICATION)
    MeasureTask.objects.create(client=avery, instrument="phq9", reason="baseline", due_at=NOW - HOUR)
    assert run_sweep(NOW + 3 * HOUR) == []
    assert mail.outbox == []


def test_an_inactive_or_addressless_account_gets_nothing(cleo_is_avery, cleo, tess):
    make_visit(cleo_is_avery, tess, starts_at=NOW + 2 * HOUR)
    cleo.is_active = False
    cleo.save()
    assert run_sweep(NOW) == []


def test_a_minors_guardian_with_an_account_is_reminded_too(tess, gail, cleo):
    minor = factories.make_client(first_name="Mina", age=15, therapist=tess)
    minor.portal_user = cleo
    minor.save(update_fields=["portal_user"])
    Guardian.objects.create(client=minor, name="Gail", relationship="mother", portal_user=gail)
    Guardian.objects.create(client=minor, name="Pat", relationship="father")  # no account
    make_visit(minor, tess, starts_at=NOW + 2 * HOUR)
    run_sweep(NOW)
    assert sorted(keys()) == [("appointment", "cleo@example.org"), ("appointment", "gail@example.org")]
    assert sorted(e.to[0] for e in mail.outbox) == ["cleo@example.org", "gail@example.org"]


def test_an_adults_guardian_is_not_reminded(cleo_is_avery, tess, gail):
    Guardian.objects.create(client=cleo_is_avery, name="Gail", relationship="mother", portal_user=gail)
    make_visit(cleo_is_avery, tess, starts_at=NOW + 2 * HOUR)
    run_sweep(NOW)
    assert keys() == [("appointment", "cleo@example.org")]


# --- day-before instructions ---------------------------------------------------------------


def dayof(reminders):
    return [r for r in reminders if r.kind == "dayof"]


def test_day_before_instructions_go_out_once_from_late_morning_the_day_before(cleo_is_avery, tess):
    assert Practice.load().dayof_reminder_hour == 11
    tomorrow_10 = datetime.datetime(2026, 3, 11, 10, 0, tzinfo=LA)
    make_visit(cleo_is_avery, tess, starts_at=tomorrow_10, kind=Visit.Kind.MEDICATION)
    make_visit(cleo_is_avery, tess, starts_at=tomorrow_10 + 4 * HOUR, kind=Visit.Kind.THERAPY)
    # (Each visit's appointment reminder comes 24 h before it, at 10:00 and 14:00 today.)
    assert dayof(run_sweep(datetime.datetime(2026, 3, 10, 10, 59, tzinfo=LA))) == []
    [reminder] = dayof(run_sweep(datetime.datetime(2026, 3, 10, 11, 0, tzinfo=LA)))
    assert reminder.recipient.email == "cleo@example.org"
    assert dayof(run_sweep(datetime.datetime(2026, 3, 10, 18, 0, tzinfo=LA))) == []
    assert dayof(run_sweep(datetime.datetime(2026, 3, 11, 8, 0, tzinfo=LA))) == []
    assert Reminder.objects.filter(kind="dayof").count() == 1
    assert Reminder.objects.filter(kind="appointment").count() == 2


def test_day_before_instructions_are_not_sent_two_days_ahead(cleo_is_avery, tess):
    make_visit(
        cleo_is_avery, tess, starts_at=datetime.datetime(2026, 3, 12, 10, 0, tzinfo=LA), kind="medication"
    )
    assert run_sweep(datetime.datetime(2026, 3, 10, 12, 0, tzinfo=LA)) == []


# --- journal prompts -----------------------------------------------------------------------


def test_journal_prompts_are_sent_as_they_fall_to_the_client_alone(tess, cleo, gail):
    minor = factories.make_client(first_name="Mina", age=16, therapist=tess)
    minor.portal_user = cleo
    minor.save(update_fields=["portal_user"])
    Guardian.objects.create(client=minor, name="Gail", relationship="mother", portal_user=gail)
    ended = NOW - 3 * HOUR
    session = make_visit(
        minor, tess, starts_at=ended - 150 * MINUTE, kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED
    )
    # The practice default: 2, 24 and 48 hours after the session ended.
    run_sweep(ended + HOUR)  # the first sweep: looks only a few minutes back
    assert run_sweep(ended + 2 * HOUR - MINUTE) == []
    [reminder] = run_sweep(ended + 2 * HOUR + MINUTE)
    assert reminder.key == f"journal:{session.pk}:2" and reminder.recipient == cleo
    assert run_sweep(ended + 2 * HOUR + 6 * MINUTE) == []
    assert run_sweep(ended + 24 * HOUR - MINUTE) == []
    [reminder] = run_sweep(ended + 24 * HOUR + 4 * MINUTE)
    assert reminder.key == f"journal:{session.pk}:24"
    assert not Reminder.objects.filter(recipient=gail).exists()


def test_a_prompt_that_fell_before_the_session_was_signed_is_still_sent(cleo_is_avery, tess):
    """Prompts count from the discharge, but a session brings prompts only once completed (when
    its record is signed). Signed three hours after discharge, the two-hour prompt used to fall
    outside every sweep's window and was never sent."""
    ended = NOW - 3 * HOUR
    session = make_visit(
        cleo_is_avery,
        tess,
        starts_at=ended - 150 * MINUTE,
        kind=Visit.Kind.MEDICATION,
        status=Visit.Status.IN_PROGRESS,
    )
    for minutes in range(0, 3 * 60 + 1, 5):  # the sweeps while the record waits to be signed
        assert run_sweep(ended + minutes * MINUTE) == []
    Visit.objects.filter(pk=session.pk).update(status=Visit.Status.COMPLETED)
    [reminder] = run_sweep(ended + 3 * HOUR + 5 * MINUTE)
    assert reminder.key == f"journal:{session.pk}:2"
    assert run_sweep(ended + 3 * HOUR + 10 * MINUTE) == []  # and once only
    # A session signed after the integration window brings no late invitations.
    late = make_visit(
        cleo_is_avery,
        tess,
        starts_at=ended - 5 * 24 * HOUR,
        kind=Visit.Kind.MEDICATION,
        status=Visit.Status.COMPLETED,
    )
    assert not [r for r in run_sweep(ended + 3 * HOUR + 15 * MINUTE) if f":{late.pk}:" in r.key]


# --- measures ------------------------------------------------------------------------------


def test_a_measure_is_reminded_when_due_and_only_while_open(cleo_is_avery, tess):
    due = NOW + HOUR
    task = MeasureTask.objects.create(client=cleo_is_avery, instrument="phq9", reason="weekly", due_at=due)
    done = MeasureTask.objects.create(
        client=cleo_is_avery,
        instrument="gad7",
        reason="weekly",
        due_at=due,
        response=Response.objects.create(
            client=cleo_is_avery, instrument="gad7", version="1", answers={}, total=3
        ),
    )
    MeasureTask.objects.create(
        client=cleo_is_avery, instrument="pcl5", reason="weekly", due_at=due, withdrawn_at=NOW
    )
    assert run_sweep(due - MINUTE) == []
    [reminder] = run_sweep(due)
    assert reminder.key == f"measure:{task.pk}" and done.pk != task.pk
    assert run_sweep(due + 5 * MINUTE) == []


def test_a_measure_is_never_sent_to_a_guardian(tess, gail):
    minor = factories.make_client(first_name="Mina", age=15, therapist=tess)
    Guardian.objects.create(client=minor, name="Gail", relationship="mother", portal_user=gail)
    MeasureTask.objects.create(client=minor, instrument="phq9", reason="weekly", due_at=NOW)
    assert run_sweep(NOW) == []


def test_the_sweep_brings_the_measure_schedule_up_to_date_first(db, no_measure_schedule):
    run_sweep(NOW)
    assert no_measure_schedule == [NOW]


# --- clearances ----------------------------------------------------------------------------


def make_clearance(client, prescriber, *, valid_until, decided_at=None, **extra):
    screening = Screening.objects.create(client=client, answers={}, age=35)
    return Clearance.objects.create(
        client=client,
        screening=screening,
        prescriber=prescriber,
        decision=Clearance.Decision.CLEARED,
        findings="Examined; well.",
        valid_until=valid_until,
        decided_at=decided_at or NOW - datetime.timedelta(days=300),
        **extra,
    )


# Far enough ahead that a reminder about it is still due whenever the test sends it.
LATER = datetime.datetime(2030, 1, 7, 10, 0, tzinfo=LA)


def standing_key(kind, client, *, clinician=None, prescriber=None) -> str:
    """A key whose reason still holds when the reminder is sent (sources.still_due): a visit
    still scheduled, a form still open, a clearance still current."""
    clinician = clinician or User.objects.get(email="tess@example.org")
    prescriber = prescriber or User.objects.get(email="priya@example.org")
    if kind in ("appointment", "dayof"):
        starts = LATER + Visit.objects.count() * 3 * HOUR
        visit = make_visit(client, clinician, starts_at=starts, kind=Visit.Kind.MEDICATION)
        return f"{kind}:{visit.pk}:{sources._stamp(starts)}"
    if kind == "measure":
        instrument = ("phq9", "gad7", "pcl5")[MeasureTask.objects.filter(client=client).count()]
        task = MeasureTask.objects.create(client=client, instrument=instrument, reason="baseline", due_at=NOW)
        return f"measure:{task.pk}"
    if kind == "clearance":
        return f"clearance:{make_clearance(client, prescriber, valid_until=LATER.date()).pk}:30"
    if kind == "urgent":
        phq9 = instruments.PHQ9
        answers = {item.key: 0 for item in phq9.items} | dict.fromkeys(phq9.alert_items, 1)
        response = Response.objects.create(
            client=client, instrument=phq9.key, version=phq9.version, answers=answers, total=1, band="Minimal"
        )
        alert = Alert.objects.create(client=client, kind=Alert.Kind.SUICIDALITY, response=response)
        return f"alert:{alert.pk}"
    if kind == "session_alert":
        # An in-session alert no prescriber has seen yet (kapflow.dosing.alerts).
        from kapflow.dosing.models import EmergencyCall, Runbook, SessionAlert

        visit = make_visit(client, clinician, starts_at=NOW, kind=Visit.Kind.MEDICATION)
        book = Runbook.objects.create(visit=visit)
        call = EmergencyCall.objects.create(runbook=book, called_by=clinician, address_from="practice")
        alert = SessionAlert.objects.create(
            runbook=book, kind=SessionAlert.Kind.EMERGENCY, emergency_call=call, notified_user=prescriber
        )
        return f"session_alert:{alert.pk}"
    if kind == "maintenance":
        # A maintenance session overdue with none booked (kapflow.course.maintenance). The plan
        # is another client's: the test's other kinds book this client's medication sessions,
        # and a booked session is what makes a maintenance reminder not needed.
        from kapflow.pathway.models import CoursePlan

        other = factories.make_client(first_name="Morgan", therapist=clinician)
        plan = CoursePlan.objects.create(
            client=other,
            goals="g",
            kind="maintenance",
            maintenance_weeks=6,
            planned_sessions=3,
            updated_by=clinician,
        )
        held = make_visit(
            other,
            clinician,
            starts_at=NOW - 10 * 7 * 24 * HOUR,
            kind=Visit.Kind.MEDICATION,
            status="completed",
        )
        return f"maintenance:{plan.pk}:{held.pk}"
    if kind == "estimate_due":
        # A self-pay client's plan with no Good Faith Estimate (kapflow.billing.estimates).
        from kapflow.billing.estimates import due_reminder_keys
        from kapflow.pathway.models import CoursePlan

        plan = CoursePlan.objects.current().filter(client=client).first() or CoursePlan.objects.create(
            client=client, goals="g", planned_sessions=6, updated_by=clinician
        )
        return next(key for key in due_reminder_keys(NOW) if key.startswith(f"estimate_due:plan{plan.pk}:"))
    if kind == "statement":
        return f"statement:invoice:{Reminder.objects.count() + 1}"
    return f"journal:{client.pk}:2"


def test_no_renewal_warning_for_a_client_who_has_left_care(cleo_is_avery, priya):
    make_clearance(cleo_is_avery, priya, valid_until=datetime.date(2026, 3, 20))
    for stage in ("discharged", "not_proceeding"):
        type(cleo_is_avery).objects.filter(pk=cleo_is_avery.pk).update(stage=stage)
        assert run_sweep(NOW) == []
    type(cleo_is_avery).objects.filter(pk=cleo_is_avery.pk).update(stage="maintenance")
    [reminder] = run_sweep(NOW)
    assert reminder.kind == "clearance"


def test_the_prescriber_is_warned_of_a_clearance_expiring_within_30_days(cleo_is_avery, priya, tess):
    clearance = make_clearance(cleo_is_avery, priya, valid_until=datetime.date(2026, 4, 10))
    assert run_sweep(datetime.datetime(2026, 3, 10, 23, 59, tzinfo=LA)) == []  # 31 days left
    [reminder] = run_sweep(datetime.datetime(2026, 3, 11, 0, 1, tzinfo=LA))  # 30 days left
    assert reminder.key == f"clearance:{clearance.pk}:30"
    assert reminder.recipient == priya and reminder.address == "priya@example.org"
    assert run_sweep(datetime.datetime(2026, 3, 20, 9, 0, tzinfo=LA)) == []
    assert not Reminder.objects.exclude(recipient=priya).exists()  # never the client nor Tess


def test_no_warning_for_a_revoked_expired_or_superseded_clearance(avery, priya):
    make_clearance(
        avery,
        priya,
        valid_until=datetime.date(2026, 3, 20),
        revoked_at=NOW,
        revoke_reason="New finding",
        revoked_by=priya,
    )
    make_clearance(avery, priya, valid_until=datetime.date(2026, 3, 9))
    make_clearance(avery, priya, valid_until=datetime.date(2026, 3, 25), decided_at=NOW - 20 * HOUR * 24)
    make_clearance(avery, priya, valid_until=datetime.date(2027, 3, 1), decided_at=NOW - HOUR)
    assert run_sweep(NOW) == []


def test_only_prescribers_on_the_care_team_are_warned(olive, priya):
    make_clearance(olive, priya, valid_until=datetime.date(2026, 3, 20))
    assert run_sweep(NOW) == []  # Colin's client: Priya is not on the care team, and there is no prescriber


def test_a_clearance_from_an_outside_letter_warns_the_therapists_who_ask_for_the_next(avery, tess, priya):
    """Avery's care team: Tess (therapist) and Priya (prescriber). The clearance came from an
    outside psychiatrist's letter, so the therapist who asks for the renewal is told as well."""
    raman = OutsideProvider.objects.create(client=avery, name="Dr Anil Raman", kind="psychiatrist")
    make_clearance(
        avery,
        None,
        valid_until=datetime.date(2026, 3, 20),
        outside_provider=raman,
        document=filed(avery, "clearance", tess, "Letter from Dr Raman"),
        outside_name="Dr Anil Raman",
        outside_npi=GOOD_NPI,
        letter_dated=datetime.date(2025, 3, 20),
        filed_by=tess,
        filed_at=NOW - datetime.timedelta(days=300),
    )
    reminders = run_sweep(NOW)
    assert {r.kind for r in reminders} == {"clearance"}
    assert sorted(r.recipient.email for r in reminders) == ["priya@example.org", "tess@example.org"]


# --- the emails ----------------------------------------------------------------------------

FORBIDDEN_WORDS = [
    "ketamine",
    "esketamine",
    "dose",
    "dosing",
    "mg",
    "medication",
    "medicine",
    "lozenge",
    "phq",
    "gad",
    "pcl",
    "depression",
    "anxiety",
    "ptsd",
    "score",
    "alvarez",
    "avery",
    "screening",
    "diagnos",
]
FORBIDDEN_WORDS += [label.lower() for label in Visit.Kind.labels]
FORBIDDEN_WORDS += [i.name.lower() for i in instruments.INSTRUMENTS.values()]
FORBIDDEN_WORDS += [label.lower() for label in Response.Context.labels if label != "Other"]


STAFF_KINDS = ["clearance", "urgent", "session_alert", "controlled", "estimate_due"]
PORTAL_KINDS = [k for k in Reminder.Kind.values if k not in STAFF_KINDS]


@pytest.mark.parametrize("kinds", [[kind] for kind in Reminder.Kind.values] + [PORTAL_KINDS], ids=str)
def test_no_email_carries_clinical_detail(kinds, cleo_is_avery, cleo, priya, settings):
    settings.SITE_URL = "https://kap.example.org"
    recipient = priya if kinds[0] in STAFF_KINDS else cleo
    reminders = [
        Reminder.objects.create(
            key=standing_key(kind, cleo_is_avery),
            kind=kind,
            recipient=recipient,
            address=recipient.email,
            client=cleo_is_avery,
            due_at=NOW,
        )
        for kind in kinds
    ]
    send_reminders.call(reminder_ids=[r.pk for r in reminders])
    [email] = mail.outbox
    html = email.alternatives[0][0]
    for text in (email.subject, email.body, html):
        found = [w for w in FORBIDDEN_WORDS if re.search(rf"\b{re.escape(w)}", text.lower())]
        assert found == [], f"{kinds}: {found} in {text!r}"
    expected_link = "https://kap.example.org/" if recipient == priya else "https://kap.example.org/portal/"
    assert expected_link in email.body and f'href="{expected_link}"' in html
    assert f"Dear {recipient.full_name}" in email.body
    if recipient != priya:
        assert "clearance" not in email.body.lower()


def test_what_falls_due_together_for_one_person_is_one_email(cleo_is_avery, tess, priya):
    make_visit(cleo_is_avery, tess, starts_at=NOW + 2 * HOUR)
    make_visit(cleo_is_avery, tess, starts_at=NOW + 5 * HOUR)
    for instrument in ("phq9", "gad7", "pcl5"):
        MeasureTask.objects.create(client=cleo_is_avery, instrument=instrument, reason="baseline", due_at=NOW)
    make_clearance(cleo_is_avery, priya, valid_until=datetime.date(2026, 3, 20))
    assert len(run_sweep(NOW)) == 6
    by_person = {email.to[0]: email for email in mail.outbox}
    assert len(mail.outbox) == 2 and set(by_person) == {"cleo@example.org", "priya@example.org"}
    cleo_email = by_person["cleo@example.org"].body
    assert "There are a few things for you:" in cleo_email
    assert cleo_email.count("appointment coming up") == 1 and cleo_email.count("short form") == 1
    assert "clearance" not in cleo_email.lower()
    assert set(Reminder.objects.values_list("status", flat=True)) == {"sent"}


def test_every_kind_has_its_own_words():
    practice = Practice(name="Oak Hill & Co")
    texts = set()
    for kind in Reminder.Kind.values:
        user = User(full_name="Rowan Reyes", email="r@example.org")
        email = render_reminders([Reminder(kind=kind, recipient=user, address=user.email)], practice)
        assert "\n" not in email.subject and "&amp;" not in email.text and "&amp;" in email.html
        texts.add(email.text)
    assert len(texts) == len(Reminder.Kind.values)


# --- failures, retries and the admin's page -------------------------------------------------


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


def queued_reminder(cleo_is_avery, cleo) -> Reminder:
    return Reminder.objects.create(
        key=standing_key("appointment", cleo_is_avery),
        kind="appointment",
        recipient=cleo,
        address=cleo.email,
        client=cleo_is_avery,
        due_at=NOW,
    )


def test_a_failing_send_is_retried_with_backoff_then_marked_failed(cleo_is_avery, cleo, settings, audit_rows):
    settings.EMAIL_BACKEND = "tests.test_reminders.RefusingBackend"
    reminder = queued_reminder(cleo_is_avery, cleo)
    scheduled_before = len(HUEY.scheduled())
    with at(NOW):
        assert send_reminders.call(reminder_ids=[reminder.pk]) == "retrying"
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == ("queued", 1)
    assert reminder.last_error == "ConnectionRefusedError: mail server down"
    # The retry waits in the queue's schedule (the worker runs it when its time comes).
    assert len(HUEY.scheduled()) == scheduled_before + 1
    for _ in range(ATTEMPTS - 2):
        assert send_reminders.call(reminder_ids=[reminder.pk]) == "retrying"
    assert send_reminders.call(reminder_ids=[reminder.pk]) == "failed"
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == ("failed", ATTEMPTS)
    assert len(audit_rows("kapflow.reminders.reminder.attempt_failed")) == ATTEMPTS - 1
    [failed] = audit_rows("kapflow.reminders.reminder.failed")
    assert failed.client == cleo_is_avery and failed.actor is None
    # A failed reminder is not sent by a stray task.
    assert send_reminders.call(reminder_ids=[reminder.pk]) == "not queued"
    assert mail.outbox == []


def test_the_admin_sees_failed_reminders_first_and_can_send_one_again(
    cleo_is_avery, cleo, ada, login, settings, audit_rows
):
    settings.EMAIL_BACKEND = "tests.test_reminders.RefusingBackend"
    reminder = queued_reminder(cleo_is_avery, cleo)
    for _ in range(ATTEMPTS):
        send_reminders.call(reminder_ids=[reminder.pk])
    http = login(ada)
    page = http.get(reverse("reminders:list"))
    body = page.content.decode()
    assert page.status_code == 200
    assert "ConnectionRefusedError: mail server down" in body and "Send again" in body
    assert "Alvarez" not in body and "Avery" not in body and cleo_is_avery.initials in body
    assert audit_rows("kapflow.reminders.list.viewed")[0].actor == ada

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    response = http.post(reverse("reminders:send_again", args=[reminder.pk]), follow=True)
    assert "queued to be sent again" in response.content.decode()
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == ("sent", 1)
    [email] = mail.outbox
    assert email.to == ["cleo@example.org"]
    [requeued] = audit_rows("kapflow.reminders.reminder.requeued")
    assert requeued.actor == ada and requeued.detail["previous_attempts"] == ATTEMPTS

    # Sending again what is not failed changes nothing and says so.
    response = http.post(reverse("reminders:send_again", args=[reminder.pk]), follow=True)
    assert "not failed" in response.content.decode()
    assert len(mail.outbox) == 1


def test_the_page_filters_by_status(cleo_is_avery, cleo, ada, login):
    queued_reminder(cleo_is_avery, cleo)
    http = login(ada)
    assert (
        "No reminders with this status yet."
        in http.get(reverse("reminders:list") + "?status=sent").content.decode()
    )
    assert http.get(reverse("reminders:list") + "?status=garbage").status_code == 200


def test_every_reminder_can_be_reached_a_page_at_a_time_by_key(cleo_is_avery, cleo, ada, login, audit_rows):
    """The list below the failed ones shows the newest RECENT of a status; "Older" continues from
    the last one shown (by its time and id, never by counting what it skips), until the oldest.
    Several reminders made at the same moment are neither skipped nor shown twice."""
    from kapflow.reminders.selectors import RECENT

    moment = timezone.now() - datetime.timedelta(days=3)
    made = Reminder.objects.bulk_create(
        Reminder(
            key=f"test:{n}",
            kind="appointment",
            recipient=cleo,
            address=cleo.email,
            client=cleo_is_avery,
            due_at=NOW,
            status=Reminder.Status.FAILED,
            last_error="mail server down",
            # Ten at each moment, an hour apart.
            created_at=moment - datetime.timedelta(hours=n // 10),
        )
        for n in range(2 * RECENT + 7)
    )
    newest_first = sorted(made, key=lambda r: (r.created_at, r.pk), reverse=True)
    http = login(ada)
    seen, url = [], reverse("reminders:list") + "?status=failed"
    for _page in range(3):
        page = http.get(url)
        assert page.status_code == 200
        rows = page.context["overview"].recent
        seen += [r.pk for r in rows]
        older = page.context["overview"].older_than
        if older is None:
            break
        assert f"before={older}" in page.content.decode()
        # The links keep the status asked for (and "Newest" drops only where the page began).
        assert f'href="?status=failed&amp;before={older}#recent-h">Older' in page.content.decode()
        if _page:
            assert 'href="?status=failed#recent-h">Newest' in page.content.decode()
        url = reverse("reminders:list") + f"?status=failed&before={older}"
    assert seen == [r.pk for r in newest_first]
    assert "Newest" in page.content.decode() and "Failed: older" in page.content.decode()
    assert audit_rows("kapflow.reminders.list.viewed")[-1].detail == {
        "status": "failed",
        "before": newest_first[2 * RECENT - 1].pk,
    }
    # A link to no reminder, or not a number, starts at the newest.
    for bad in ("99999999", "x", "-1", str(2**70)):
        first = http.get(reverse("reminders:list") + f"?status=failed&before={bad}")
        assert first.status_code == 200
        assert [r.pk for r in first.context["overview"].recent] == [r.pk for r in newest_first[:RECENT]]
        assert "Failed: most recent" in first.content.decode()


@pytest.mark.parametrize("reminder_id", ["0", "99999999", str(2**63), str(10**30)])
def test_send_again_of_a_missing_reminder_is_a_404(ada, login, reminder_id):
    assert login(ada).post(f"/reminders/{reminder_id}/send-again/").status_code == 404


def test_send_again_needs_a_post(ada, login, cleo_is_avery, cleo):
    reminder = queued_reminder(cleo_is_avery, cleo)
    assert login(ada).get(reverse("reminders:send_again", args=[reminder.pk])).status_code == 405


def test_only_the_admin_may_open_the_page(tess, cora, cleo, login):
    for user in (tess, cora, cleo):
        assert login(user).get(reverse("reminders:list")).status_code == 403


def test_the_admin_nav_links_the_page(ada, tess, login):
    assert 'href="/reminders/"' in login(ada).get("/").content.decode()
    assert 'href="/reminders/"' not in login(tess).get("/").content.decode()


def test_the_page_runs_the_same_queries_however_many_reminders(cleo_is_avery, cleo, ada, login, settings):
    http = login(ada)
    http.get(reverse("reminders:list"))

    def grow(n, status):
        for i in range(n):
            Reminder.objects.create(
                key=f"measure:{status}:{Reminder.objects.count()}:{i}",
                sent_at=NOW if status == "sent" else None,
                kind="measure",
                recipient=cleo,
                address=cleo.email,
                client=cleo_is_avery,
                due_at=NOW,
                status=status,
                last_error="x",
                last_attempt_at=NOW,
            )

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert http.get(reverse("reminders:list")).status_code == 200
        return len(queries)

    grow(2, "failed")
    grow(2, "sent")
    small = count()
    grow(30, "failed")
    grow(60, "sent")
    assert count() == small


# --- the worker's schedule -----------------------------------------------------------------


def test_the_sweep_is_a_registered_periodic_task():
    # What the worker's scheduler asks huey each minute: which periodic tasks run now?
    assert "kapflow.reminders.sweep" in {
        t.name for t in HUEY.read_periodic(datetime.datetime(2026, 3, 10, 9, 5))
    }
    assert "kapflow.reminders.sweep" not in {
        t.name for t in HUEY.read_periodic(datetime.datetime(2026, 3, 10, 9, 7))
    }


def test_the_periodic_task_runs_the_sweep(cleo_is_avery, tess):
    make_visit(cleo_is_avery, tess, starts_at=timezone.now() + 2 * HOUR)
    sweep_reminders.call_local()
    assert Reminder.objects.count() == 1 and len(mail.outbox) == 1


def test_one_failing_source_does_not_silence_the_others(cleo_is_avery, tess, monkeypatch):
    def broken(now, since, practice):
        raise RuntimeError("bug")

    monkeypatch.setattr(sources, "SOURCES", [broken, *sources.SOURCES])
    monkeypatch.setattr(services, "SOURCES", [broken, *sources.SOURCES])
    make_visit(cleo_is_avery, tess, starts_at=NOW + 2 * HOUR)
    assert len(run_sweep(NOW)) == 1


# --- reminders the queue left behind (issue 5 review) ------------------------------------------


def test_a_reminder_the_queue_never_took_is_sent_by_a_later_sweep(cleo_is_avery, tess, monkeypatch):
    """The sweep created the reminder, then the queue refused the send task: the sweep raised,
    the reminder stayed "queued" for ever, and every later sweep skipped it as already made."""
    make_visit(cleo_is_avery, tess, starts_at=NOW + 2 * HOUR)

    def down(**kwargs):
        raise ConnectionError("queue down")

    with monkeypatch.context() as patched:
        patched.setattr(services, "_send_task", types.SimpleNamespace(enqueue=down))
        [reminder] = run_sweep(NOW)  # no exception: the queue's fault is logged
    assert mail.outbox == []
    assert run_sweep(NOW + 5 * MINUTE) == [] and mail.outbox == []  # too soon to call it lost
    run_sweep(NOW + 15 * MINUTE)
    assert len(mail.outbox) == 1
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT
    run_sweep(NOW + 30 * MINUTE)
    assert len(mail.outbox) == 1  # once only


def test_a_reminder_whose_worker_died_while_sending_is_sent_again(cleo_is_avery, cleo, audit_rows):
    reminder = Reminder.objects.create(
        key=standing_key("appointment", cleo_is_avery),
        kind="appointment",
        recipient=cleo,
        address=cleo.email,
        client=cleo_is_avery,
        due_at=NOW,
        created_at=NOW - 3 * HOUR,
        status=Reminder.Status.SENDING,
        attempts=1,
        last_attempt_at=NOW - 2 * HOUR,
    )
    run_sweep(NOW)
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT and reminder.attempts == 2
    assert len(mail.outbox) == 1
    [row] = audit_rows("kapflow.reminders.reminder.attempt_failed")
    assert row.object_id == str(reminder.pk)


def test_a_reminder_waiting_for_its_retry_is_left_to_it(cleo_is_avery, cleo):
    Reminder.objects.create(
        key=standing_key("appointment", cleo_is_avery),
        kind="appointment",
        recipient=cleo,
        address=cleo.email,
        client=cleo_is_avery,
        due_at=NOW,
        created_at=NOW - HOUR,
        status=Reminder.Status.QUEUED,
        attempts=2,
        last_attempt_at=NOW - 10 * MINUTE,  # the second wait is 15 minutes
    )
    run_sweep(NOW)
    assert mail.outbox == []


def test_a_reminder_still_waiting_a_day_after_it_fell_due_is_failed_not_sent(cleo_is_avery, cleo):
    reminder = Reminder.objects.create(
        key=standing_key("appointment", cleo_is_avery),
        kind="appointment",
        recipient=cleo,
        address=cleo.email,
        client=cleo_is_avery,
        due_at=NOW - 26 * HOUR,
        created_at=NOW - 26 * HOUR,
        status=Reminder.Status.QUEUED,
    )
    run_sweep(NOW)
    reminder.refresh_from_db()
    assert mail.outbox == [] and reminder.status == Reminder.Status.FAILED
    assert "a day after it fell due" in reminder.last_error


def test_a_reminder_to_an_account_deactivated_since_is_not_sent(cleo_is_avery, cleo):
    """A retry or "Send again" hours later still emailed an account deactivated meanwhile."""
    reminder = Reminder.objects.create(
        key=standing_key("appointment", cleo_is_avery),
        kind="appointment",
        recipient=cleo,
        address=cleo.email,
        client=cleo_is_avery,
        due_at=NOW,
    )
    cleo.is_active = False
    cleo.save(update_fields=["is_active"])
    assert send_reminders.call(reminder_ids=[reminder.pk]) == "inactive"
    reminder.refresh_from_db()
    assert mail.outbox == [] and reminder.status == Reminder.Status.FAILED
    assert "no longer active" in reminder.last_error


def test_the_admins_page_does_not_say_what_a_client_is_reminded_of(cleo_is_avery, cleo, priya, ada, login):
    """The page names the recipient (for a portal reminder, the client) beside the kind: the
    admin, who may not see measures, the journal or clearances, read "Questionnaire due" and
    "Journal prompt" beside the client's name."""
    for n, kind in enumerate(("measure", "journal", "appointment")):
        Reminder.objects.create(
            key=f"{kind}:{n}", kind=kind, recipient=cleo, address=cleo.email, client=cleo_is_avery, due_at=NOW
        )
    Reminder.objects.create(
        key="clearance:1:30",
        kind="clearance",
        recipient=priya,
        address=priya.email,
        client=cleo_is_avery,
        due_at=NOW,
    )
    Reminder.objects.filter(kind="measure").update(status="failed", last_error="SMTP down")
    page = login(ada).get(reverse("reminders:list")).content.decode()
    page = page[page.index("<table") :]  # the rows (the page's introduction names every kind)
    for label in ("Questionnaire", "Journal", "Clearance", "clearance"):
        assert label not in page, label
    assert "Portal notice" in page and "Staff notice" in page and "Appointment" in page


def test_emails_carry_the_practices_outward_name_not_its_full_name(cleo_is_avery, tess):
    practice = Practice.load()
    practice.name = "Oak Hill Ketamine-Assisted Therapy"
    practice.outward_name = "Oak Hill Therapy"
    practice.save()
    now = datetime.datetime(2026, 3, 10, 9, 0, tzinfo=LA)
    make_visit(cleo_is_avery, tess, starts_at=now + 2 * HOUR)
    run_sweep(now)
    message = mail.outbox[-1]
    text = " ".join([message.subject, message.body, *(alt[0] for alt in message.alternatives)])
    assert "Oak Hill Therapy" in text and "Ketamine" not in text


# --- checked again when sent ------------------------------------------------------------


def test_a_reminder_for_a_visit_cancelled_before_it_went_is_not_sent(
    cleo_is_avery, cleo, ada, login, audit_rows
):
    """The sweep made it while the visit stood; by the time the queue (or a retry, or "Send
    again") got to it the visit was cancelled, and the email still invited the client in."""
    reminder = queued_reminder(cleo_is_avery, cleo)
    Visit.objects.filter(client=cleo_is_avery).update(status=Visit.Status.CANCELLED, cancel_reason="Unwell")
    assert send_reminders.call(reminder_ids=[reminder.pk]) == "not needed"
    reminder.refresh_from_db()
    assert mail.outbox == [] and reminder.status == Reminder.Status.NOT_NEEDED
    assert reminder.attempts == 0  # nothing was tried; the page shows no attempt
    [row] = audit_rows("kapflow.reminders.reminder.not_needed")
    assert row.client == cleo_is_avery and row.actor is None
    # A stray task later sends nothing either, and the sweep does not pick it up again.
    assert send_reminders.call(reminder_ids=[reminder.pk]) == "not queued"
    run_sweep(NOW + HOUR)
    assert mail.outbox == []
    page = login(ada).get(reverse("reminders:list") + "?status=not_needed").content.decode()
    assert "Not needed" in page and cleo_is_avery.initials in page and "Unwell" not in page


def test_a_reminder_for_a_visit_moved_since_is_not_sent_the_new_time_gets_its_own(cleo_is_avery, cleo, tess):
    starts = NOW + 3 * HOUR
    visit = make_visit(cleo_is_avery, tess, starts_at=starts)
    with at(NOW):
        old = Reminder.objects.create(
            key=f"appointment:{visit.pk}:{sources._stamp(starts)}",
            kind="appointment",
            recipient=cleo,
            address=cleo.email,
            client=cleo_is_avery,
            due_at=NOW,
        )
    Visit.objects.filter(pk=visit.pk).update(starts_at=starts + HOUR, ends_at=starts + 3 * HOUR)
    with at(NOW):
        assert send_reminders.call(reminder_ids=[old.pk]) == "not needed"
    [new] = run_sweep(NOW + MINUTE)
    assert new.key == f"appointment:{visit.pk}:{sources._stamp(starts + HOUR)}"
    assert len(mail.outbox) == 1


def test_a_visit_already_started_gets_no_late_reminder(cleo_is_avery, cleo):
    reminder = queued_reminder(cleo_is_avery, cleo)
    with at(LATER + MINUTE):
        assert send_reminders.call(reminder_ids=[reminder.pk]) == "not needed"
    assert mail.outbox == []


def test_a_form_answered_and_a_clearance_renewed_before_sending_drop_out_of_the_email(
    cleo_is_avery, cleo, priya
):
    keys = {kind: standing_key(kind, cleo_is_avery) for kind in ("measure", "appointment", "clearance")}
    make = {"client": cleo_is_avery, "due_at": NOW}
    measure = Reminder.objects.create(
        key=keys["measure"], kind="measure", recipient=cleo, address=cleo.email, **make
    )
    visit = Reminder.objects.create(
        key=keys["appointment"], kind="appointment", recipient=cleo, address=cleo.email, **make
    )
    clearance = Reminder.objects.create(
        key=keys["clearance"], kind="clearance", recipient=priya, address=priya.email, **make
    )
    MeasureTask.objects.filter(pk=int(keys["measure"].split(":")[1])).update(withdrawn_at=timezone.now())
    make_clearance(cleo_is_avery, priya, valid_until=LATER.date(), decided_at=timezone.now())  # renewed

    assert send_reminders.call(reminder_ids=[measure.pk, visit.pk]) == "sent"
    assert send_reminders.call(reminder_ids=[clearance.pk]) == "not needed"
    statuses = dict(Reminder.objects.values_list("kind", "status"))
    assert statuses == {"measure": "not_needed", "appointment": "sent", "clearance": "not_needed"}
    [email] = mail.outbox
    assert email.to == ["cleo@example.org"]
    assert email.subject == render_reminders([visit], Practice.load()).subject


def test_checking_what_is_still_due_takes_one_query_per_kind(cleo_is_avery, cleo, priya):
    reminders = [
        Reminder.objects.create(
            key=standing_key(kind, cleo_is_avery),
            kind=kind,
            recipient=cleo,
            address=cleo.email,
            client=cleo_is_avery,
            due_at=NOW,
        )
        for kind in ("appointment", "dayof", "measure", "measure", "clearance", "journal", "appointment")
    ]
    with CaptureQueriesContext(connection) as queries:
        due = sources.still_due(reminders, timezone.now())
    assert due == {r.pk for r in reminders}
    assert len(queries) == 3  # the visits, the forms, the clearances


def test_an_urgent_notice_the_queue_lost_is_sent_by_the_sweep_alone_under_its_own_subject(
    cleo_is_avery, priya
):
    """Queued when the alert was raised but never taken (the queue was down): the next sweep
    sends it, not folded into the same prescriber's clearance warning."""
    with at(NOW - HOUR):
        Reminder.objects.create(
            key=standing_key("urgent", cleo_is_avery),
            kind="urgent",
            recipient=priya,
            address=priya.email,
            client=cleo_is_avery,
            due_at=timezone.now(),
        )
    make_clearance(cleo_is_avery, priya, valid_until=datetime.date(2026, 3, 20))
    run_sweep(NOW)
    subjects = sorted(email.subject for email in mail.outbox)
    assert [email.to for email in mail.outbox] == [[priya.email], [priya.email]]
    assert subjects == ["A clearance on your list expires soon", "Urgent: a client needs same-day follow-up"]


def test_each_status_is_counted_only_so_far(cleo_is_avery, cleo, ada, login, monkeypatch):
    """The sent reminders grow for as long as the practice runs: each tab counts up to
    selectors.COUNTED and then says "more than" (here at 3), never reading every row; the
    statuses under it, the failed ones among them, are counted exactly."""
    from kapflow.reminders import selectors

    monkeypatch.setattr(selectors, "COUNTED", 3)
    for i, status in enumerate(["sent"] * 5 + ["failed"] * 2):
        Reminder.objects.create(
            key=f"appointment:{i}:202612041000",
            kind="appointment",
            recipient=cleo,
            address=cleo.email,
            client=cleo_is_avery,
            due_at=NOW,
            status=status,
            sent_at=NOW if status == "sent" else None,
            last_attempt_at=NOW,
        )
    overview = selectors.overview()
    assert overview.shown_counts == {
        "queued": "0",
        "sending": "0",
        "sent": "3+",
        "failed": "2",
        "not_needed": "0",
    }
    body = login(ada).get(reverse("reminders:list")).content.decode()
    assert "Sent <strong>3+</strong>" in body and "Failed <strong>2</strong>" in body
    assert "2 need attention" in body
