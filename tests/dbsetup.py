"""One migrated test database per run, copied for each pytest-xdist worker.

pytest-django has every worker create its own test database by running all of kapflow's
migrations: about eight seconds of a core each on SQLite, more on PostgreSQL, paid once per
worker. Here the first worker to get there migrates a template database and every worker,
the first included, takes a copy of it: a file copy on SQLite, CREATE DATABASE … TEMPLATE on
PostgreSQL (what Django's own parallel test runner does). A file lock orders the workers: no
copy is taken while the template is being built or while another worker holds a connection to
it (PostgreSQL refuses to copy a database somebody is connected to).

The template is named after the run (tests/conftest.py gives the controller a run id that the
workers inherit), so two runs on one machine never share one, and the controller removes it
when the run ends, with any worker's copy that its own teardown could not drop (a live
server's thread still connected). Runs without xdist, with --reuse-db, or with tests that need the database's
contents serialized for rollback take pytest-django's own set-up unchanged.
"""

import fcntl
import os
import tempfile
import uuid
from pathlib import Path

import pytest

RUN_ENV = "KAPFLOW_TEST_RUN"


def name_the_run() -> None:
    """In the controller (pytest_configure): the run id the workers' templates are named by.
    Workers inherit the environment they are started with."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ[RUN_ENV] = uuid.uuid4().hex[:12]


def _folder() -> Path:
    return Path(tempfile.gettempdir())


def _template_name(connection, run: str) -> str:
    if connection.vendor == "sqlite":
        return str(_folder() / f"test_kapflow_template_{run}.sqlite3")
    return f"test_kapflow_template_{run}"


def _ready_marker(run: str) -> Path:
    return _folder() / f"kapflow-test-template-{run}.ready"


def _lock_file(run: str) -> Path:
    return _folder() / f"kapflow-test-template-{run}.lock"


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
    template = _template_name(connection, run)
    with django_db_blocker.unblock(), open(_lock_file(run), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _ready_marker(run).exists():
            connection.settings_dict["TEST"]["NAME"] = template
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            connection.close()  # a copy is refused while anyone is connected to the template
            _ready_marker(run).touch()
        connection.settings_dict["NAME"] = template
        connection.creation.clone_test_db(suffix=worker, verbosity=0)
        own = connection.creation.get_test_db_clone_settings(worker)["NAME"]
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
            # whatever copies are left when the run ends (remove_the_template).
            request.node.warn(pytest.PytestWarning(f"test database not removed yet: {error!r}"))


def remove_the_template(config) -> None:
    """In the controller (pytest_unconfigure): remove this run's template, if a worker made one."""
    run = os.environ.get(RUN_ENV)
    if os.environ.get("PYTEST_XDIST_WORKER") or not run or not _ready_marker(run).exists():
        return
    from django.db import connection
    from pytest_django.plugin import blocking_manager_key

    template = _template_name(connection, run)
    with config.stash[blocking_manager_key].unblock():
        if connection.vendor == "sqlite":
            # The template and any worker's copy its teardown could not remove.
            root = Path(template)
            for path in [root, *root.parent.glob(f"{root.stem}_gw*")]:
                path.unlink(missing_ok=True)
        else:
            with connection.creation._nodb_cursor() as cursor:
                cursor.execute(
                    "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                    [template, f"{template}\\_gw%"],
                )
                for (name,) in cursor.fetchall():
                    # FORCE: a connection a worker's live-server thread left open (PostgreSQL 13+).
                    cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")
    _ready_marker(run).unlink(missing_ok=True)
    _lock_file(run).unlink(missing_ok=True)
