"""/healthz, the load balancer's question (docs/health.md): the database answers, every migration
is applied, the task queue answers, and the worker's heartbeat is recent. Anyone may ask, with
no session, and the answer names nothing of the practice's clients."""

import datetime
from unittest import mock

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.db import DatabaseError, OperationalError, connections
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client as HttpClient
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from huey.contrib.djhuey import HUEY
from huey.storage import SqliteStorage

from kapflow.audit.models import AuditEvent
from kapflow.ops import health
from kapflow.ops.models import Heartbeat
from kapflow.ops.tasks import worker_heartbeat

URL = "/healthz"
CHECK_KEYS = {"ok", "reason", "ms"}
FACT_KEYS = {"pending", "age_seconds", "unapplied"}


@pytest.fixture(autouse=True)
def _migrations_asked_afresh():
    health.forget_applied_migrations()
    yield
    health.forget_applied_migrations()


@pytest.fixture
def beat_ago(db):
    """beat_ago(seconds): the worker's heartbeat as if written that long ago."""

    def _beat(seconds: int) -> Heartbeat:
        heartbeat = worker_heartbeat.call_local()
        heartbeat.beat_at = timezone.now() - datetime.timedelta(seconds=seconds)
        heartbeat.save(update_fields=["beat_at"])
        return heartbeat

    return _beat


def probe(method: str = "get"):
    response = getattr(HttpClient(), method)(URL)
    return response, (response.json() if method == "get" and response.content else None)


def test_it_answers_ok_when_every_check_passes(db):
    worker_heartbeat.call_local()
    response, body = probe()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "queue", "worker"}
    for name, check in body["checks"].items():
        assert check["ok"] is True, name
        assert isinstance(check["ms"], float) and check["ms"] >= 0
        assert check["reason"]
    assert body["checks"]["queue"]["pending"] == 0
    assert body["checks"]["worker"]["age_seconds"] < 60  # just written (a loaded machine takes seconds)
    assert "no-store" in response["Cache-Control"]


def test_it_is_degraded_but_serving_when_the_heartbeat_is_stale(beat_ago, settings):
    settings.WORKER_STALE_SECONDS = 180
    with time_machine.travel(timezone.now(), tick=False):
        beat_ago(181)
        response, body = probe()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    worker = body["checks"]["worker"]
    assert worker["ok"] is False
    assert worker["reason"] == "last heartbeat 181 s ago, more than 180 s"
    assert worker["age_seconds"] == 181
    assert all(body["checks"][name]["ok"] for name in ("database", "migrations", "queue"))


def test_it_reads_the_stale_threshold_from_the_setting(beat_ago, settings):
    beat_ago(300)
    settings.WORKER_STALE_SECONDS = 600
    assert probe()[1]["status"] == "ok"
    settings.WORKER_STALE_SECONDS = 240
    assert probe()[1]["status"] == "degraded"


def test_it_is_degraded_when_the_worker_never_beat(db):
    response, body = probe()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["worker"] == {
        "ok": False,
        "reason": "no heartbeat ever: is the worker (manage.py run_huey) running?",
        "ms": body["checks"]["worker"]["ms"],
    }


def test_it_fails_when_a_migration_is_not_applied(db):
    worker_heartbeat.call_local()
    MigrationRecorder.Migration.objects.filter(app="ops", name="0001_initial").delete()
    response, body = probe()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["migrations"]["ok"] is False
    assert body["checks"]["migrations"]["unapplied"] == 1
    assert body["checks"]["migrations"]["reason"] == "1 not applied: run manage.py migrate"


def test_it_asks_about_migrations_once_they_are_all_applied(db, django_assert_max_num_queries):
    worker_heartbeat.call_local()
    assert probe()[1]["checks"]["migrations"]["ok"] is True
    # Taken away after the answer was yes: the process keeps its answer and reads nothing.
    MigrationRecorder.Migration.objects.filter(app="ops", name="0001_initial").delete()
    with django_assert_max_num_queries(2):  # the database check and the heartbeat
        assert probe()[1]["status"] == "ok"
    health.forget_applied_migrations()
    assert probe()[1]["status"] == "fail"


def test_it_fails_when_the_database_does_not_answer(db):
    worker_heartbeat.call_local()
    outage = OperationalError("could not connect to server at db.internal (10.0.0.7)")
    with mock.patch.object(connections["default"], "cursor", side_effect=outage):
        response, body = probe()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["reason"] == "did not answer (OperationalError)"
    for name in ("migrations", "worker"):
        assert body["checks"][name] == {
            "ok": False,
            "reason": "not checked: the database did not answer",
            "ms": 0.0,
        }
    # The error's message names a host: it goes to the log, not to whoever asked.
    assert "10.0.0.7" not in response.content.decode()


def test_it_is_degraded_when_the_queue_does_not_answer(db):
    worker_heartbeat.call_local()
    with mock.patch.object(HUEY.storage, "queue_size", side_effect=ConnectionError("redis:6379 refused")):
        response, body = probe()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["queue"] == {
        "ok": False,
        "reason": "did not answer (ConnectionError)",
        "ms": body["checks"]["queue"]["ms"],
    }


def test_it_counts_the_tasks_waiting_in_a_real_queue(db, tmp_path, monkeypatch):
    storage = SqliteStorage("kapflow-test", filename=str(tmp_path / "tasks.sqlite3"))
    monkeypatch.setattr(HUEY, "_immediate", False)
    monkeypatch.setattr(HUEY, "storage", storage)
    worker_heartbeat()  # called as the scheduler calls it: queued for the worker, not run
    worker_heartbeat()
    queue = probe()[1]["checks"]["queue"]
    assert queue == {"ok": True, "reason": "answered, 2 waiting", "ms": queue["ms"], "pending": 2}


def test_it_sets_no_cookie_and_writes_no_session(db):
    worker_heartbeat.call_local()
    response, _body = probe()
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert not response.cookies
    assert Session.objects.count() == 0


def test_it_names_no_client_and_writes_no_audit_row(avery, olive):
    worker_heartbeat.call_local()
    before = AuditEvent.objects.count()
    response, body = probe()
    text = response.content.decode()
    for word in ("Avery", "Alvarez", "Olive", "Okafor", avery.phone):
        assert word not in text
    assert set(body) == {"status", "checks"}
    for check in body["checks"].values():
        assert set(check) - CHECK_KEYS <= FACT_KEYS
    assert AuditEvent.objects.count() == before


def test_it_answers_head_and_refuses_other_methods(db):
    worker_heartbeat.call_local()
    head = HttpClient().head(URL)
    assert head.status_code == 200
    assert head.content == b""
    for method in ("post", "put", "patch", "delete"):
        response = getattr(HttpClient(enforce_csrf_checks=True), method)(URL)
        assert response.status_code == 405, method
        assert response["Allow"] == "GET, HEAD"


def test_it_is_not_redirected_to_https(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert HttpClient().get("/start/").status_code == 301  # every other page is
    response, body = probe()
    assert response.status_code == 200 and body["status"] == "degraded"


def test_the_heartbeat_task_writes_one_row_for_the_worker(db):
    first = worker_heartbeat.call_local()
    assert first.name == health.WORKER
    assert first.hostname and first.pid
    assert timezone.now() - first.beat_at < datetime.timedelta(seconds=5)
    second = worker_heartbeat.call_local()
    assert Heartbeat.objects.get().pk == first.pk
    assert second.beat_at >= first.beat_at


def test_the_worker_finds_the_heartbeat_and_runs_it_every_minute():
    autodiscover_modules("tasks")  # what manage.py run_huey does at start
    for minute in (0, 1, 37):
        at = datetime.datetime(2026, 12, 5, 6, minute)
        assert "kapflow.ops.heartbeat" in {task.name for task in HUEY.read_periodic(at)}


@pytest.mark.parametrize(
    ("failed", "status"),
    [
        ((), "ok"),
        (("worker",), "degraded"),
        (("queue", "worker"), "degraded"),
        (("migrations",), "fail"),
        (("database", "queue"), "fail"),
    ],
)
def test_it_judges_the_checks(failed, status):
    checks = [health.Check(name=name, ok=name not in failed, reason="") for name in health.CHECKS]
    assert health.overall(checks) == status


def test_a_database_error_in_the_heartbeat_read_is_reported_not_raised(db):
    with mock.patch.object(Heartbeat.objects, "filter", side_effect=DatabaseError("disk I/O error")):
        response, body = probe()
    assert response.status_code == 200
    assert body["checks"]["worker"]["reason"] == "did not answer (DatabaseError)"
