"""Personas, as in healthchecks' test base: Tess is the therapist who owns the client, Colin a
colleague outside the care team, Priya the client's prescriber, Cora the coordinator, Ada the
practice admin; Cleo is a client with a portal account and Gail a guardian."""

import os

import pytest
from django.test import Client as HttpClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from kapflow.audit.models import AuditEvent
from tests import factories
from tests.dbsetup import django_db_setup as django_db_setup  # noqa: F401  (pytest finds it by name)
from tests.dbsetup import name_the_run, remove_the_workers_copies

# Property-based fuzzing is sized by a Hypothesis profile: "quick" by default, so `make test`
# stays near two minutes, and "ci" (HYPOTHESIS_PROFILE=ci, which .ci/run sets) for the long run.
# Tests never name a number of examples of their own: they take the profile's, or a share of it
# (tests.fuzzing.examples) when one example is itself dozens of requests.
_FUZZING = {
    "deadline": None,  # a request's time depends on the machine, not on the input
    "database": None,  # no example database left in the checkout
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
hypothesis_settings.register_profile("quick", max_examples=6, **_FUZZING)
hypothesis_settings.register_profile("ci", max_examples=50, **_FUZZING)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


def pytest_configure(config):
    # The browser tests' live server answers from threads of its own; a connection kept open
    # between requests (CONN_MAX_AGE) outlives its thread and keeps PostgreSQL from dropping the
    # test database at the end. Tests close each connection when its request ends.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    _own_redis_database_per_worker(settings)
    name_the_run()
    _run_at_the_moment_asked(os.environ.get("KAPFLOW_TEST_AT"))


def _run_at_the_moment_asked(moment: str | None):
    """KAPFLOW_TEST_AT=2026-12-08T07:57:00+00:00 runs the suite (each worker) as if it began at
    that moment, the clock then going on: CI runs at whatever hour someone stops, and a test that
    depends on the hour (a demo signed "now", a date read when the module was) fails only at some.
    The browser's own clock is not moved: run it with `-m "not browser"`."""
    if not moment:
        return None
    import datetime

    import time_machine

    traveller = time_machine.travel(datetime.datetime.fromisoformat(moment), tick=True)
    traveller.start()
    return traveller


def pytest_unconfigure(config):
    remove_the_workers_copies(config)


def _own_redis_database_per_worker(settings):
    """Each pytest-xdist worker clears the cache between tests (FLUSHDB on Redis), so two
    workers sharing one Redis database would wipe each other's sign-in throttles, and the real
    queues of tests/test_tasks.py, mid-test. Give each worker its own database, counting down
    from the one REDIS_URL names, for the cache and for the tests that read REDIS_URL."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    location = settings.CACHES["default"].get("LOCATION", "")
    if not worker.startswith("gw") or not location.startswith("redis"):
        return
    base, _, number = location.rpartition("/")
    own = f"{base}/{(int(number or 0) - int(worker[2:])) % 16}"
    settings.CACHES["default"]["LOCATION"] = own
    os.environ["REDIS_URL"] = own


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    """Where the run's filed documents and letters' PDFs go: a temporary folder, not var/media."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, media_dir):
    # Argon2 is slow on purpose; tests that are about passwords switch it back on.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(media_dir)}},
    }
    from django.core.cache import cache

    cache.clear()
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True  # tasks run at once, in memory; tests/test_tasks.py drives the real queue
    yield
    cache.clear()


@pytest.fixture
def tess(db):
    return factories.make_persona("tess")


@pytest.fixture
def colin(db):
    return factories.make_persona("colin")


@pytest.fixture
def priya(db):
    return factories.make_persona("priya")


@pytest.fixture
def cora(db):
    return factories.make_persona("cora")


@pytest.fixture
def ada(db):
    return factories.make_persona("ada")


@pytest.fixture
def cleo(db):
    return factories.make_persona("cleo")


@pytest.fixture
def gail(db):
    return factories.make_persona("gail")


@pytest.fixture
def avery(tess, priya):
    """Tess's client, with Priya as prescriber."""
    return factories.make_avery(tess, priya)


@pytest.fixture
def olive(colin):
    """Colin's client, outside Tess's care."""
    return factories.make_olive(colin)


@pytest.fixture
def matrix_world(db):
    """The access matrix's world (tests/test_access_matrix.py builds it once for its own tests),
    built for this test alone: for tests that also make personas of their own."""
    from tests.test_access_matrix import build_world

    return build_world()


@pytest.fixture
def login():
    """login(user) -> a test client signed in as that user."""

    def _login(user):
        http = HttpClient()
        if user is not None:
            http.force_login(user)
        return http

    return _login


@pytest.fixture
def audit_rows():
    """audit_rows(action) -> the audit rows written with that action code, oldest first."""

    def _rows(action=None):
        rows = AuditEvent.objects.order_by("pk")
        return list(rows.filter(action=action) if action else rows)

    return _rows


@pytest.fixture
def pathway_ready(monkeypatch):
    """Every pathway gate passes (they have their own tests): what is left is the day of. The
    readiness gates are checked at the start and again at the first dose."""
    import kapflow.urls  # noqa: F401 (every view module imported first: see below)
    from kapflow.lib.gates import GateResult, Status
    from kapflow.pathway.readiness import Gate

    # A module that imports `readiness` by name while this patch is in place would keep the
    # stand-in after the test; the URLconf (loaded at the first request) imports them all.
    def ready(client, **kwargs):
        return [Gate(GateResult("consultation", "Consultation", Status.PASS, "ok", "therapist"))]

    monkeypatch.setattr("kapflow.pathway.readiness.readiness", ready)
