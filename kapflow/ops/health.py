"""What /healthz reports: can this web process do its work right now?

Four checks, each answering ok or not with a short reason and the milliseconds it took:

- database: a trivial query answers;
- migrations: the database has every migration this code expects;
- queue: the task queue's storage (SQLite file or Redis) answers, and how many tasks wait in it;
- worker: the task worker wrote its heartbeat (kapflow.ops.tasks) recently.

Without the database or with migrations missing, this process cannot serve a page: the answer
is "fail" and the balancer takes the node out. Without the queue or the worker, pages still
work but reminders and emails wait: "degraded", and the node stays in (docs/health.md).

No answer names a client, counts clients or says anything of the practice's records; an error
is reported by its kind only (its message can name hosts), the whole of it going to the log."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from kapflow.ops.models import Heartbeat

logger = logging.getLogger(__name__)

# The Heartbeat row the task worker writes (kapflow.ops.tasks).
WORKER = "worker"
# Without these the web process cannot serve: the answer is "fail" (HTTP 503).
ESSENTIAL = ("database", "migrations")
# These need the database: when it does not answer they are not tried (each would wait out the
# same connection timeout again).
NEEDS_DATABASE = ("migrations", "worker")

OK, DEGRADED, FAIL = "ok", "degraded", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str
    ms: float = 0.0
    # Numbers worth seeing beside the reason: tasks waiting, seconds since the heartbeat.
    facts: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "ms": self.ms, **self.facts}


@dataclass(frozen=True)
class Report:
    status: str
    checks: list[Check]

    def as_json(self) -> dict:
        return {"status": self.status, "checks": {check.name: check.as_json() for check in self.checks}}


class _Verdict(Exception):
    """A check's "not ok" with its reason, raised from inside it."""

    def __init__(self, reason: str, **facts: int):
        super().__init__(reason)
        self.reason = reason
        self.facts = facts


def check_database() -> tuple[str, dict]:
    """One round trip to the database."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "answered", {}


# Once every migration is found applied, this process never asks again: building the
# migration graph reads every app's migration files (tens of milliseconds), and migrations are
# applied before a new version's processes start, not under a running one.
_migrations_applied = False


def forget_applied_migrations() -> None:
    """Ask the database again at the next check (tests; nothing else needs it)."""
    global _migrations_applied
    _migrations_applied = False


def check_migrations() -> tuple[str, dict]:
    """Reads django_migrations and the migration files: the plan to the latest is empty."""
    global _migrations_applied
    if _migrations_applied:
        return "all applied", {}
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        logger.warning("Unapplied migrations: %s", ", ".join(str(migration) for migration, _ in plan))
        raise _Verdict(f"{len(plan)} not applied: run manage.py migrate", unapplied=len(plan))
    _migrations_applied = True
    return "all applied", {}


def check_queue() -> tuple[str, dict]:
    """Asks the queue's storage how many tasks wait to be run now (scheduled ones not counted)."""
    pending = HUEY.pending_count()
    return f"answered, {pending} waiting", {"pending": pending}


def check_worker(now: datetime | None = None) -> tuple[str, dict]:
    """Reads the worker's Heartbeat row: stale past settings.WORKER_STALE_SECONDS."""
    beat = Heartbeat.objects.filter(name=WORKER).first()
    if beat is None:
        raise _Verdict("no heartbeat ever: is the worker (manage.py run_huey) running?")
    # A worker on another machine whose clock runs ahead writes a time in the future: fresh.
    age = max(0, round(((now or timezone.now()) - beat.beat_at).total_seconds()))
    limit = settings.WORKER_STALE_SECONDS
    if age > limit:
        # Where the last beat came from is for the log, not for whoever can reach /healthz.
        logger.warning("Worker's last heartbeat %s s ago, from %s (pid %s).", age, beat.hostname, beat.pid)
        raise _Verdict(f"last heartbeat {age} s ago, more than {limit} s", age_seconds=age)
    return f"last heartbeat {age} s ago", {"age_seconds": age}


CHECKS: dict[str, Callable[[], tuple[str, dict]]] = {
    "database": check_database,
    "migrations": check_migrations,
    "queue": check_queue,
    "worker": check_worker,
}


def _run(name: str, check: Callable[[], tuple[str, dict]]) -> Check:
    started = time.perf_counter()
    try:
        reason, facts = check()
        ok = True
    except _Verdict as verdict:
        ok, reason, facts = False, verdict.reason, verdict.facts
    except Exception as error:
        # A probe answers whatever breaks; the kind of error only, as its message may name hosts.
        logger.warning("Health check %s failed.", name, exc_info=True)
        ok, reason, facts = False, f"did not answer ({type(error).__name__})", {}
    ms = round((time.perf_counter() - started) * 1000, 1)
    return Check(name=name, ok=ok, reason=reason, ms=ms, facts=facts)


def overall(checks: list[Check]) -> str:
    """fail when an essential check failed, degraded when another did, ok otherwise."""
    failed = {check.name for check in checks if not check.ok}
    if failed & set(ESSENTIAL):
        return FAIL
    return DEGRADED if failed else OK


def health_report() -> Report:
    """Runs every check (the database ones only if the database answered) and judges them."""
    checks = []
    database_ok = True
    for name, check in CHECKS.items():
        if name in NEEDS_DATABASE and not database_ok:
            checks.append(Check(name=name, ok=False, reason="not checked: the database did not answer"))
            continue
        result = _run(name, check)
        if name == "database":
            database_ok = result.ok
        checks.append(result)
    return Report(status=overall(checks), checks=checks)
