"""The audit log is whole and tamper-evident (issue 11, item 8): INSERT OR REPLACE cannot rewrite
a row on SQLite, each row is chained to the one before by hash, `manage.py audit_verify` names
the first row that breaks the chain even when the triggers were dropped to break it, and every
trigger is back after `migrate`."""

import hashlib
import io
import json
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.sql import emit_pre_migrate_signal
from django.db import DatabaseError, OperationalError, connection, transaction

from kapflow.audit import chain
from kapflow.audit.db import drop_triggers, expected_triggers, install_triggers
from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record
from kapflow.billing import db as billing_db


def _rows(n: int, actor=None, client=None) -> list[AuditEvent]:
    return [
        audit_record(
            actor=actor, client=client, action="kapflow.tests.row.written", detail={"n": i, "é": [1, 2]}
        )
        for i in range(n)
    ]


def _verify() -> str:
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="INSERT OR REPLACE is SQLite's")
def test_insert_or_replace_cannot_rewrite_a_row_on_sqlite(db, tess):
    row = audit_record(actor=tess, action="kapflow.clients.chart.viewed")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as c:
        c.execute(
            "INSERT OR REPLACE INTO audit_auditevent (id, at, actor_label, action, object_type, object_id,"
            " request_id, detail, prev_hash, row_hash) VALUES (%s, '2026-01-01 00:00:00', '', "
            "'kapflow.nothing.happened', '', '', '', '{}', '', '')",
            [row.pk],
        )
    row.refresh_from_db()
    assert row.action == "kapflow.clients.chart.viewed"
    assert _verify().startswith("1 rows verified")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's pragma")
def test_kapflows_sqlite_connections_fire_delete_triggers_for_a_replace(db):
    # The second guard: with recursive_triggers on, a REPLACE's implicit delete is seen by the
    # append-only delete trigger even where the insert trigger is missing.
    with connection.cursor() as c:
        c.execute("PRAGMA recursive_triggers")
        assert c.fetchone()[0] == 1


def test_each_row_is_chained_to_the_one_before(db, tess, avery):
    first, second = (
        audit_record(actor=tess, action="kapflow.a.b.c", client=avery),
        audit_record(action="kapflow.a.b.d", detail={"z": 1, "a": ("x", "y")}),
    )
    assert (first.seq, first.prev_hash) == (1, chain.GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.row_hash)
    second.refresh_from_db()
    # Recomputed by hand from the documented canonical form, as an outside auditor would.
    canonical = json.dumps(
        {
            "action": "kapflow.a.b.d",
            "actor_id": None,
            "actor_label": "",
            "at": chain.utc_iso(second.at),
            "client_id": None,
            "detail": {"a": ["x", "y"], "z": 1},
            "ip_address": None,
            "object_id": "",
            "object_type": "",
            "prev_hash": first.row_hash,
            "request_id": "",
            "seq": 2,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert second.row_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert chain.utc_iso(second.at).endswith("Z") and len(chain.utc_iso(second.at)) == 27


def test_a_clean_log_verifies(db, tess, avery):
    _rows(5, actor=tess, client=avery)
    assert _verify().startswith("5 rows verified")


def test_verification_walks_in_batches(db, tess):
    from kapflow.audit.management.commands.audit_verify import verify

    rows = _rows(7, actor=tess)
    verdict = verify(batch=3)
    assert (verdict.rows, verdict.head_seq, verdict.head_hash, verdict.problem) == (
        7,
        7,
        rows[-1].row_hash,
        None,
    )


def test_a_row_rewritten_with_the_triggers_dropped_is_named(db, tess):
    rows = _rows(4, actor=tess)
    drop_triggers(connection)
    with connection.cursor() as c:
        c.execute("UPDATE audit_auditevent SET actor_label = 'someone@else' WHERE id = %s", [rows[2].pk])
    install_triggers(connection)
    with pytest.raises(CommandError, match=rf"audit row {rows[2].pk} \(.*Z\): hash mismatch"):
        _verify()


def test_a_row_deleted_in_the_middle_is_detected(db, tess):
    rows = _rows(4, actor=tess)
    drop_triggers(connection)
    with connection.cursor() as c:
        c.execute("DELETE FROM audit_auditevent WHERE id = %s", [rows[1].pk])
    install_triggers(connection)
    with pytest.raises(CommandError, match=rf"audit row {rows[2].pk} .*gap: chain position 3 follows 1"):
        _verify()


def test_a_row_whose_link_was_rewritten_is_detected(db, tess):
    rows = _rows(3, actor=tess)
    drop_triggers(connection)
    with connection.cursor() as c:
        c.execute("UPDATE audit_auditevent SET prev_hash = %s WHERE id = %s", ["f" * 64, rows[1].pk])
    install_triggers(connection)
    with pytest.raises(CommandError, match=rf"audit row {rows[1].pk} .*broken link"):
        _verify()


def test_a_noted_head_that_is_no_longer_in_the_chain_is_reported(db, tess):
    _rows(2, actor=tess)
    with pytest.raises(CommandError, match="does not contain the hash"):
        call_command("audit_verify", head="ab" * 32, stdout=io.StringIO())


def _every_trigger() -> set[tuple[str, str]]:
    """The append-only and signed-record triggers, and those keeping what each invoice owes."""
    expected = {(table, name) for table, names in expected_triggers(connection).items() for name in names}
    return expected | set(billing_db.trigger_names().items())


def test_every_trigger_is_in_place_after_migrate(db):
    call_command("migrate", verbosity=0)
    with connection.cursor() as c:
        if connection.vendor == "sqlite":
            c.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
        else:
            c.execute("SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal")
        present = set(c.fetchall())
    assert _every_trigger() - present == set()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite schema editor's table rebuild")
def test_a_table_rebuilt_by_the_schema_editor_gets_its_triggers_back_at_the_next_migrate(db):
    # What Django's SQLite schema editor does for many ALTERs: copy, drop, rename. The copy has
    # no triggers until the post_migrate handler puts them back.
    with connection.cursor() as c:
        c.execute("CREATE TABLE medical_clearance_copy AS SELECT * FROM medical_clearance")
        c.execute("DROP TABLE medical_clearance")
        c.execute("ALTER TABLE medical_clearance_copy RENAME TO medical_clearance")
        c.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'medical_clearance'"
        )
        assert c.fetchone()[0] == 0
    call_command("migrate", verbosity=0)
    with connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'medical_clearance'"
        )
        assert c.fetchone()[0] == 2


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite schema editor's table rebuild")
@pytest.mark.parametrize("table", ["dosing_runbook", "billing_invoice"])
def test_before_a_migrate_the_triggers_naming_a_table_a_migration_may_rebuild_are_lifted(db, table):
    """A runbook's entries' triggers name the runbook; the triggers keeping an invoice's amount
    owed name the invoice. SQLite refuses to rename a rebuilt copy into place while a trigger
    names the table dropped, so every migrate lifts them first (pre_migrate) and puts them back."""

    def rebuild() -> None:
        # As the schema editor does: the same table under a new name, the rows, drop, rename.
        with connection.cursor() as c:
            c.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
            c.execute(c.fetchone()[0].replace(f'"{table}"', f'"new__{table}"', 1))
            c.execute(f"INSERT INTO new__{table} SELECT * FROM {table}")
            c.execute(f"DROP TABLE {table}")
            c.execute(f"ALTER TABLE new__{table} RENAME TO {table}")

    with pytest.raises(OperationalError, match="no such table"), transaction.atomic():
        rebuild()
    emit_pre_migrate_signal(verbosity=0, interactive=False, db=connection.alias)
    rebuild()
    call_command("migrate", verbosity=0)
    with connection.cursor() as c:
        c.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
        present = set(c.fetchall())
    assert _every_trigger() - present == set()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_the_chain_linear(django_db_blocker):
    """PostgreSQL: the advisory lock serialises the append. SQLite (a file in tests too): every
    transaction is IMMEDIATE, so the second writer waits for the first's commit."""
    writers, per_writer = 6, 5
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(per_writer):
                with transaction.atomic():
                    audit_record(action="kapflow.tests.concurrent.written")
        except BaseException as error:  # noqa: BLE001 (reported by the test below)
            errors.append(error)
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=write) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        rows = list(AuditEvent.objects.order_by("pk").values_list("seq", "prev_hash", "row_hash"))
        assert [seq for seq, _, _ in rows] == list(range(1, writers * per_writer + 1))
        assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))
        assert _verify().startswith(f"{writers * per_writer} rows verified")
    finally:
        # This test committed: Django empties the database with flush afterwards, which the
        # append-only triggers refuse; the post_migrate handler puts them back after the flush.
        drop_triggers(connection)


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_the_rows_written_before_the_chain_existed(tess):
    from django.db.migrations.executor import MigrationExecutor

    from kapflow.audit.management.commands.audit_verify import verify

    before, chained = [("audit", "0002_append_only")], [("audit", "0003_hash_chain")]
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        Old = executor.loader.project_state(before).apps.get_model("audit", "AuditEvent")
        for n in range(3):
            Old.objects.create(
                action="kapflow.tests.old.row", actor_id=tess.pk, actor_label=tess.email, detail={"n": n}
            )
        executor = MigrationExecutor(connection)
        executor.migrate(chained)
        verdict = verify()
        assert (verdict.rows, verdict.problem) == (3, None)
        # And the table refuses changes again once the migration is done.
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.filter(action="kapflow.tests.old.row").update(action="kapflow.x.y.z")
        assert audit_record(action="kapflow.tests.new.row").seq == 4
    finally:
        call_command("migrate", verbosity=0)
        drop_triggers(connection)  # for the flush after this committed test
