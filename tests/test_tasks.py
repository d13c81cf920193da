"""Background work goes through the django-tasks API onto huey. These tests put a real huey
storage (a SQLite file; Redis when REDIS_URL is set) under the queue, enqueue through the API,
and run what a worker would run."""

import os
import uuid

import pytest
from django.core import mail
from huey.contrib.djhuey import HUEY
from huey.storage import RedisStorage, SqliteStorage

from kapflow.inquiries.tasks import send_inquiry_confirmation

STORAGES = ["sqlite"] + (["redis"] if os.environ.get("REDIS_URL") else [])


@pytest.fixture(params=STORAGES)
def real_queue(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        storage = SqliteStorage("kapflow-test", filename=str(tmp_path / "tasks.sqlite3"))
    else:
        storage = RedisStorage(f"kapflow-test-{uuid.uuid4().hex}", url=os.environ["REDIS_URL"])
    monkeypatch.setattr(HUEY, "_immediate", False)
    monkeypatch.setattr(HUEY, "storage", storage)
    yield HUEY
    storage.flush_all()


def run_worker_once(huey):
    task = huey.dequeue()
    assert task is not None, "nothing was queued"
    huey.execute(task)


def test_enqueueing_writes_to_the_queue_and_the_worker_sends_the_email(real_queue, db):
    result = send_inquiry_confirmation.enqueue(
        to="rowan@example.com", first_name="Rowan", practice_name="Oak Hill", practice_phone="(818) 555-0100"
    )
    assert result.id and real_queue.pending_count() == 1
    assert mail.outbox == []
    run_worker_once(real_queue)
    assert real_queue.pending_count() == 0
    [email] = mail.outbox
    assert email.subject == "Thank you for contacting Oak Hill"


def test_a_failing_task_is_kept_for_retry(real_queue, db, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("kapflow.inquiries.tasks.send_mail", refuse)
    send_inquiry_confirmation.enqueue(
        to="rowan@example.com", first_name="Rowan", practice_name="Oak Hill", practice_phone=""
    )
    run_worker_once(real_queue)
    # huey puts the task back with a delay: it is scheduled, not lost.
    assert real_queue.scheduled_count() == 1


def test_the_worker_sets_start_up_objects_aside_once_for_its_threads(monkeypatch):
    """huey's consumer calls the startup hooks in each worker thread as it starts
    (settings.HUEY: two threads); the process's start-up objects are set aside once
    (kapflow.lib.heap, as kapflow/wsgi.py does for a web process)."""
    import threading

    from huey.consumer import Worker

    from kapflow.lib import heap, tasks

    calls = []
    monkeypatch.setattr(heap, "freeze_startup_objects", lambda: calls.append(threading.get_ident()) or 0)
    monkeypatch.setattr(tasks, "_set_aside_done", False)
    assert HUEY._startup["set_startup_objects_aside"] is tasks.set_startup_objects_aside
    workers = [Worker(HUEY, threading.Event(), 0.1, 1.0, 1.15) for _ in range(2)]
    threads = [threading.Thread(target=worker.initialize) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
