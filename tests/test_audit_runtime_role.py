"""The PostgreSQL runtime role (issue 11, item 8): the web and worker processes connect as a
role that may read and write every table but only SELECT and INSERT on the audit log, so that
even with the triggers dropped it cannot change a row. `manage.py audit_grant_runtime_role`."""

import io
import os

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.audit.services import audit_record

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="database roles and grants are PostgreSQL's"
)

# Roles belong to the whole cluster, which other test runs may share: one name per process.
ROLE = f"kapflow_runtime_test_{os.getpid()}"


@pytest.fixture
def runtime_role(transactional_db):
    """A throwaway LOGIN role, granted by the command, and a connection as it (the test server
    trusts local connections). This test commits (another connection must see the grants), so
    the database is flushed afterwards: the triggers are lifted for that and put back by the
    post_migrate handler after it."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {ROLE} LOGIN")
    out = io.StringIO()
    try:
        call_command("audit_grant_runtime_role", ROLE, stdout=out)
        settings = connection.settings_dict
        runtime = psycopg.connect(
            host=settings["HOST"] or "127.0.0.1",
            port=settings["PORT"] or 5432,
            dbname=settings["NAME"],
            user=ROLE,
            autocommit=True,
        )
        yield runtime, out.getvalue()
        runtime.close()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {ROLE}")
            cursor.execute(f"DROP ROLE {ROLE}")
        drop_triggers(connection)


@postgresql_only
def test_the_runtime_role_may_add_to_the_audit_log_but_never_change_it(runtime_role, avery):
    runtime, printed = runtime_role
    assert "GRANT SELECT, INSERT ON " in printed and '"audit_auditevent" TO' in printed
    row = audit_record(action="kapflow.tests.role.checked")
    with runtime.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (at, actor_label, action, object_type, object_id, request_id,"
            " detail, prev_hash, row_hash) VALUES (now(), '', 'kapflow.tests.role.inserted', '', '', '',"
            " '{}', '', '') RETURNING id"
        )
        assert cursor.fetchone()[0] > row.pk
        cursor.execute("SELECT count(*) FROM audit_auditevent")
        assert cursor.fetchone()[0] == 2
        # The rest of the database is the runtime's to write.
        cursor.execute("UPDATE clients_client SET phone = phone WHERE id = %s", [avery.pk])
        assert cursor.rowcount == 1
    # Nor can it lift the triggers: only the table's owner may.
    with pytest.raises(psycopg.errors.InsufficientPrivilege), runtime.cursor() as cursor:
        cursor.execute("DROP TRIGGER audit_no_change ON audit_auditevent")
    # Even with the triggers gone (dropped by the owner), PostgreSQL's permissions refuse.
    drop_triggers(connection)
    try:
        for statement in (
            f"UPDATE audit_auditevent SET action = 'kapflow.x.y.z' WHERE id = {row.pk}",
            f"DELETE FROM audit_auditevent WHERE id = {row.pk}",
            "TRUNCATE audit_auditevent",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), runtime.cursor() as cursor:
                cursor.execute(statement)
    finally:
        install_triggers(connection)
    row.refresh_from_db()
    assert row.action == "kapflow.tests.role.checked"


@postgresql_only
def test_it_refuses_a_role_that_could_change_the_log_anyway(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
    try:
        with pytest.raises(CommandError, match="owns the tables or is a superuser"):
            call_command("audit_grant_runtime_role", owner, stdout=io.StringIO())
        with pytest.raises(CommandError, match="no role"):
            call_command("audit_grant_runtime_role", "kapflow_nobody_at_all", stdout=io.StringIO())
    finally:
        drop_triggers(connection)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's answer")
def test_on_sqlite_it_explains_that_roles_are_postgresqls(db):
    with pytest.raises(CommandError, match="is for PostgreSQL"):
        call_command("audit_grant_runtime_role", "anyone", stdout=io.StringIO())
