"""Issue 13, item 6: an appointment reminder went out for a visit the client had already checked
in to. The sweep may have queued it before the check-in, so whether it still goes is decided
when it is sent."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.core import mail
from django.test import RequestFactory

from kapflow.reminders import sources
from kapflow.reminders.models import Reminder
from kapflow.reminders.services import sweep
from kapflow.reminders.tasks import send_reminders
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
NOW = datetime.datetime(2026, 3, 10, 9, 0, tzinfo=LA)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(autouse=True)
def no_measure_schedule(monkeypatch):
    monkeypatch.setattr("kapflow.measures.schedule.schedule_measures", lambda now: None)


@pytest.fixture
def cleo_is_avery(avery, cleo):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    return avery


def _visit(client, clinician, starts_at):
    return Visit.objects.create(
        client=client,
        kind=Visit.Kind.THERAPY,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=50),
        modality=Visit.Modality.VIRTUAL,
        clinician=clinician,
        created_by=clinician,
    )


def _check_in(visit, tess):
    request = RequestFactory().post("/")
    request.user = tess
    visit_services.visit_transition(request=request, visit=visit, to=Visit.Status.CHECKED_IN)


def test_a_reminder_queued_before_the_client_checked_in_is_not_sent(cleo_is_avery, tess, audit_rows):
    starts = NOW + 3 * HOUR
    visit = _visit(cleo_is_avery, tess, starts)
    with time_machine.travel(NOW, tick=False):
        # Made by the sweep while the visit was still only scheduled...
        reminder = Reminder.objects.create(
            key=f"appointment:{visit.pk}:{sources._stamp(starts)}",
            kind=Reminder.Kind.APPOINTMENT,
            recipient=cleo_is_avery.portal_user,
            address=cleo_is_avery.portal_user.email,
            client=cleo_is_avery,
            due_at=NOW,
        )
        # ...then the client arrived early and was checked in before the queue got to it.
        _check_in(visit, tess)
        assert send_reminders.call(reminder_ids=[reminder.pk]) == "not needed"
    reminder.refresh_from_db()
    assert mail.outbox == [] and reminder.status == Reminder.Status.NOT_NEEDED
    assert len(audit_rows("kapflow.reminders.reminder.not_needed")) == 1


def test_the_sweep_makes_no_reminder_for_a_visit_already_checked_in(cleo_is_avery, tess):
    visit = _visit(cleo_is_avery, tess, NOW + 3 * HOUR)
    with time_machine.travel(NOW, tick=False):
        _check_in(visit, tess)
        sweep(NOW)
    assert not Reminder.objects.filter(kind=Reminder.Kind.APPOINTMENT).exists()
    assert mail.outbox == []


def test_of_one_persons_reminders_only_the_checked_in_visits_drops_out(cleo_is_avery, tess):
    """The appointment she has checked in to is not in the email; another visit's still is."""
    first, second = NOW + 3 * HOUR, NOW + 30 * HOUR
    checked_in, later = _visit(cleo_is_avery, tess, first), _visit(cleo_is_avery, tess, second)
    with time_machine.travel(NOW, tick=False):
        reminders = [
            Reminder.objects.create(
                key=f"{kind}:{visit.pk}:{sources._stamp(visit.starts_at)}",
                kind=kind,
                recipient=cleo_is_avery.portal_user,
                address=cleo_is_avery.portal_user.email,
                client=cleo_is_avery,
                due_at=NOW,
            )
            for kind, visit in ((Reminder.Kind.APPOINTMENT, checked_in), (Reminder.Kind.DAYOF, later))
        ]
        _check_in(checked_in, tess)
        assert send_reminders.call(reminder_ids=[r.pk for r in reminders]) == "sent"
    statuses = dict(Reminder.objects.values_list("kind", "status"))
    assert statuses == {Reminder.Kind.APPOINTMENT: "not_needed", Reminder.Kind.DAYOF: "sent"}
    assert len(mail.outbox) == 1
