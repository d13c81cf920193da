"""One migrated test database, kept from run to run, copied for each pytest-xdist worker.

pytest-django has every worker create its own test database by running all of kapflow's
migrations: over twenty seconds on this machine, paid by every worker of every run. Here one
template database is migrated and every worker takes a copy of it: a file copy on SQLite,
CREATE DATABASE … TEMPLATE on PostgreSQL (what Django's own parallel test runner does).

The template is kept for the next run and named by a fingerprint of everything it is built
from (`schema_files`): every installed app's migrations, kapflow's models, app configs and
the modules that its migrations and post_migrate handlers run (the triggers, the audit chain),
with Django's and SQLite's versions and the database server. A run whose fingerprint matches
a template already built copies it at once; a change to any of those files builds a new one,
and the run that builds it removes the templates of other fingerprints. `--create-db` builds it
again. One file lock orders every run on the machine: no copy is taken while a template is
being built or removed, or while another worker holds a connection to it (PostgreSQL refuses
to copy a database somebody is connected to).

Each worker's copy is named after the run as well (tests/conftest.py gives the controller a run
id that the workers inherit), so two runs on one machine never share one, and the controller
removes any copy a worker's own teardown could not drop (a live server's thread still
connected). Runs without xdist, with --reuse-db, or with tests that need the database's
contents serialized for rollback take pytest-django's own set-up unchanged.
"""

import fcntl
import hashlib
import os
import re
import sqlite3
import tempfile
import uuid
from pathlib import Path

import pytest

RUN_ENV = "KAPFLOW_TEST_RUN"
# kapflow's files, besides the migrations themselves, whose code decides what a migrated
# database holds: the models (and the content types and permissions Django writes for them),
# each app's ready() (the post_migrate handlers), and what those and the migrations call.
_APP_SCHEMA_FILES = ("apps.py", "models.py", "models/*.py", "db.py", "chain.py")
_KAPFLOW_SCHEMA_FILES = ("lib/triggers.py", "settings.py")
# A kept template's name; a worker's copy has the run and the worker after it.
_TEMPLATE = re.compile(r"^test_kapflow_template_[0-9a-f]{16}$")


def name_the_run() -> None:
    """In the controller (pytest_configure): the run id the workers' copies are named by.
    Workers inherit the environment they are started with."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ[RUN_ENV] = uuid.uuid4().hex[:12]


def schema_files() -> dict[str, Path]:
    """The files a migrated database is built from (see the module's docstring), each under a
    name that does not depend on where the checkout or the virtualenv is (the app's label and
    the path within the app), so that two checkouts of the same code share one template."""
    from django.apps import apps

    import kapflow

    files: dict[str, Path] = {}
    for config in apps.get_app_configs():
        root = Path(config.path)
        patterns = ("migrations/**/*.py", *(_APP_SCHEMA_FILES if config.name.startswith("kapflow.") else ()))
        for pattern in patterns:
            files.update((f"{config.label}:{path.relative_to(root)}", path) for path in root.glob(pattern))
    kapflow_root = Path(kapflow.__file__).parent
    files.update((f"kapflow:{name}", kapflow_root / name) for name in _KAPFLOW_SCHEMA_FILES)
    return dict(sorted(files.items()))


def schema_fingerprint(connection) -> str:
    """What the template database is built from, as 16 hex digits: the contents of
    schema_files, the versions of Django and SQLite, and the database server."""
    import django

    digest = hashlib.sha256()
    server = connection.settings_dict
    versions = (django.get_version(), sqlite3.sqlite_version)
    for part in (*versions, connection.vendor, server["HOST"], server["PORT"]):
        digest.update(f"{part}\0".encode())
    for name, path in schema_files().items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _folder() -> Path:
    return Path(tempfile.gettempdir())


def _template_name(connection, fingerprint: str) -> str:
    if connection.vendor == "sqlite":
        return str(_folder() / f"test_kapflow_template_{fingerprint}.sqlite3")
    return f"test_kapflow_template_{fingerprint}"


def _ready_marker(fingerprint: str) -> Path:
    return _folder() / f"kapflow-test-template-{fingerprint}.ready"


def _lock_file() -> Path:
    """One lock for every run's templates on this machine, never removed (a run holding it open
    after it was removed would lock a file that no later run can see)."""
    return _folder() / "kapflow-test-templates.lock"


def _built_by(connection, fingerprint: str) -> str | None:
    """The run that built the template of this fingerprint (its marker holds the run's id), or
    None when none was built to the end or it is no longer there."""
    marker = _ready_marker(fingerprint)
    if not marker.exists():
        return None
    name = _template_name(connection, fingerprint)
    if connection.vendor == "sqlite":
        there = Path(name).exists()
    else:
        with connection.creation._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            there = cursor.fetchone() is not None
    return marker.read_text() if there else None


def _remove_templates(connection) -> None:
    """Every kept template on this machine, with its marker (under the lock, so nobody is
    copying one). The workers' copies, which other runs may be using, are left alone."""
    if connection.vendor == "sqlite":
        names = [path.stem for path in _folder().glob("test_kapflow_template_*.sqlite3")]
    else:
        with connection.creation._nodb_cursor() as cursor:
            kept = "test\\_kapflow\\_template\\_%"
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [kept])
            names = [name for (name,) in cursor.fetchall()]
    for name in filter(_TEMPLATE.match, names):
        fingerprint = name.rpartition("_")[2]
        _ready_marker(fingerprint).unlink(missing_ok=True)
        if connection.vendor == "sqlite":
            Path(_template_name(connection, fingerprint)).unlink(missing_ok=True)
        else:
            with connection.creation._nodb_cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)}")


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_use_migrations,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    from django.conf import settings
    from django.db import connection, connections
    from django.test.utils import setup_databases, teardown_databases
    from pytest_django.fixtures import _get_databases_for_setup

    aliases, serialized_aliases = _get_databases_for_setup(request.session.items)
    worker, run = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get(RUN_ENV)
    test_name = connection.settings_dict["TEST"].get("NAME") or ":memory:"
    in_memory = connection.vendor == "sqlite" and connection.creation.is_in_memory_db(test_name)
    copied = bool(
        worker
        and run
        and django_db_use_migrations
        and not (django_db_keepdb and not django_db_createdb)  # --reuse-db keeps pytest-django's way
        and not serialized_aliases
        and set(aliases) <= {"default"}
        and not in_memory  # an in-memory database cannot be copied by file
    )
    if not copied:
        with django_db_blocker.unblock():
            config = setup_databases(
                verbosity=0,
                interactive=False,
                aliases=aliases,
                serialized_aliases=serialized_aliases,
                keepdb=django_db_keepdb and not django_db_createdb,
            )
        yield
        if not django_db_keepdb:
            with django_db_blocker.unblock():
                teardown_databases(config, verbosity=0)
        return

    original_name = connection.settings_dict["NAME"]
    with django_db_blocker.unblock(), open(_lock_file(), "a") as lock:
        fingerprint = schema_fingerprint(connection)
        template = _template_name(connection, fingerprint)
        fcntl.flock(lock, fcntl.LOCK_EX)
        built_by = _built_by(connection, fingerprint)
        # --create-db: built again once in this run, by its first worker, not by each.
        if built_by is None or (django_db_createdb and built_by != run):
            # The first worker of the first run since a change: the others wait for the lock.
            _remove_templates(connection)
            connection.settings_dict["TEST"]["NAME"] = template
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            connection.close()  # a copy is refused while anyone is connected to the template
            _ready_marker(fingerprint).write_text(run)
        connection.settings_dict["NAME"] = template
        # Named after the run too: another run on this machine may be copying the same template.
        copy = f"{run}_{worker}"
        connection.creation.clone_test_db(suffix=copy, verbosity=0)
        own = connection.creation.get_test_db_clone_settings(copy)["NAME"]
        connection.close()
        connection.settings_dict["NAME"] = own
        settings.DATABASES[connection.alias]["NAME"] = own
    yield
    with django_db_blocker.unblock():
        connections.close_all()
        try:
            connection.creation.destroy_test_db(original_name, verbosity=0)
        except Exception as error:  # noqa: BLE001 (as pytest-django's own teardown: a warning)
            # A live server's thread may still hold a connection to it; the controller drops
            # whatever copies are left when the run ends (remove_the_workers_copies).
            request.node.warn(pytest.PytestWarning(f"test database not removed yet: {error!r}"))


def run_file(name: str) -> Path:
    """A file of this test run's, shared by its workers, in the temporary folder: removed by the
    controller when the run ends (remove_the_workers_copies)."""
    return _folder() / f"kapflow-test-run-{os.environ[RUN_ENV]}-{name}"


def remove_the_workers_copies(config) -> None:
    """In the controller (pytest_unconfigure): the copies of this run's workers that their own
    teardown could not remove, and the run's own files (run_file). The template is kept for the
    next run."""
    run = os.environ.get(RUN_ENV)
    if os.environ.get("PYTEST_XDIST_WORKER") or not run:
        return
    from django.db import connection
    from pytest_django.plugin import blocking_manager_key

    for path in _folder().glob(f"kapflow-test-run-{run}-*"):
        path.unlink(missing_ok=True)
    with config.stash[blocking_manager_key].unblock():
        if connection.vendor == "sqlite":
            for path in _folder().glob(f"test_kapflow_template_*_{run}_gw*"):
                path.unlink(missing_ok=True)
            return
        with connection.creation._nodb_cursor() as cursor:
            copies = f"test\\_kapflow\\_template\\_%\\_{run}\\_gw%"
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [copies])
            for (name,) in cursor.fetchall():
                # FORCE: a connection a worker's live-server thread left open (PostgreSQL 13+).
                cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")
