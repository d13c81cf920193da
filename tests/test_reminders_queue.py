"""Reminders through a real huey storage (a SQLite file; Redis too when REDIS_URL is set), the
way tests/test_tasks.py drives the queue: the sweep writes to the queue, a worker takes the task
off it and runs it, and only then is the email sent."""

import datetime
import os
import uuid

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from huey.contrib.djhuey import HUEY
from huey.storage import RedisStorage, SqliteStorage

from kapflow.reminders.models import Reminder
from kapflow.reminders.services import ATTEMPTS, RETRY_AFTER, sweep
from kapflow.visits.models import Visit
from tests.test_reminders import RefusingBackend  # noqa: F401 (named in settings below)

STORAGES = ["sqlite"] + (["redis"] if os.environ.get("REDIS_URL") else [])


@pytest.fixture(params=STORAGES)
def real_queue(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        storage = SqliteStorage("kapflow-test", filename=str(tmp_path / "tasks.sqlite3"))
    else:
        storage = RedisStorage(f"kapflow-test-{uuid.uuid4().hex}", url=os.environ["REDIS_URL"])
    monkeypatch.setattr(HUEY, "_immediate", False)
    monkeypatch.setattr(HUEY, "storage", storage)
    monkeypatch.setattr("kapflow.measures.schedule.schedule_measures", lambda now: 0)
    # The worker closes stale database connections around each task. Here the connection holds
    # the test's own transaction, and closing it would lose the test's rows (on PostgreSQL).
    monkeypatch.setattr("huey.contrib.djhuey.close_old_connections", lambda: None)
    yield HUEY
    storage.flush_all()


def naive_utc(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(datetime.UTC).replace(tzinfo=None)


def run_worker(huey, when: datetime.datetime | None = None) -> int:
    """Run what a worker would run at `when` (now by default): each queued task, the ones whose
    time has not come going to the schedule, as the worker does. Returns how many were taken."""
    timestamp = naive_utc(when or timezone.now())
    ran = 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task, timestamp=timestamp)
        ran += 1
    return ran


def run_due_retries(huey, when: datetime.datetime) -> None:
    """The worker's scheduler at `when`: the tasks whose time has come go back on the queue."""
    for task in huey.read_schedule(naive_utc(when)):
        huey.enqueue(task)


@pytest.fixture
def appointment_soon(avery, cleo, tess):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    starts = timezone.now() + datetime.timedelta(hours=3)
    # A therapy visit brings one reminder whenever the test runs. A medication session would
    # bring the day-before instructions too, on an evening when three hours ahead is tomorrow.
    return Visit.objects.create(
        client=avery,
        kind=Visit.Kind.THERAPY,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=2),
        modality=Visit.Modality.VIRTUAL,
        clinician=tess,
        created_by=tess,
    )


def test_the_sweep_queues_and_the_worker_delivers(real_queue, appointment_soon):
    [reminder] = sweep(timezone.now())
    assert real_queue.pending_count() == 1
    assert mail.outbox == []
    assert run_worker(real_queue) == 1
    [email] = mail.outbox
    assert email.to == ["cleo@example.org"] and "/portal/" in email.body
    reminder.refresh_from_db()
    assert reminder.status == "sent"
    # A second sweep finds nothing new: nothing is queued, nothing is sent again.
    assert sweep(timezone.now()) == []
    assert real_queue.pending_count() == 0 and run_worker(real_queue) == 0
    assert len(mail.outbox) == 1


def test_a_failing_mail_server_is_retried_through_the_queue_then_failed(
    real_queue, appointment_soon, settings
):
    settings.EMAIL_BACKEND = "tests.test_reminders.RefusingBackend"
    [reminder] = sweep(timezone.now())
    run_worker(real_queue)
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == ("queued", 1)
    assert real_queue.scheduled_count() == 1  # waiting for its retry, not lost
    when = timezone.now()
    for attempt, wait in enumerate(RETRY_AFTER, start=2):
        run_due_retries(real_queue, when + wait - datetime.timedelta(seconds=5))
        assert real_queue.pending_count() == 0  # not before its time
        when += wait + datetime.timedelta(seconds=1)
        # The worker's and the task's clock. A timestamp, not an aware datetime: time-machine
        # would switch the process's time zone too, and huey keeps its schedule in local time.
        with time_machine.travel(when.timestamp(), tick=False):
            run_due_retries(real_queue, when)
            run_worker(real_queue, when)
        reminder.refresh_from_db()
        assert reminder.attempts == attempt
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == ("failed", ATTEMPTS)
    assert "mail server down" in reminder.last_error
    assert real_queue.scheduled_count() == 0 and real_queue.pending_count() == 0
    assert Reminder.objects.filter(status="failed").count() == 1
    assert mail.outbox == []
