"""The database's own refusal to change the audit log, and signed clinical records
(kapflow.audit.immutable).

The triggers are installed by a migration, and again after every `migrate` (and every flush)
by a `post_migrate` handler (kapflow.audit.apps): Django's SQLite schema editor rebuilds a table
(copy, drop, rename) for many ALTERs, and the rebuilt table has lost its triggers. Installing is
idempotent; on SQLite it writes only the triggers that are missing or whose text differs from
what the table's columns now call for (a flush leaves them all in place). Tests that empty the
whole database between runs (the browser tests, through Django's flush) lift them for that
moment with `drop_triggers` and put them back with `install_triggers`; nothing else calls
these."""

from kapflow.audit import immutable

TABLE = "audit_auditevent"
MESSAGE = "the audit log is append-only"

_SQLITE = [
    # INSERT OR REPLACE (and REPLACE INTO) deletes the row it conflicts with, and SQLite fires
    # delete triggers for that only with PRAGMA recursive_triggers on (settings.py turns it on
    # for kapflow's connections, but not every connection to the file is kapflow's): an insert
    # that reuses an existing id is refused outright.
    f"""CREATE TRIGGER IF NOT EXISTS audit_no_replace BEFORE INSERT ON {TABLE}
        FOR EACH ROW WHEN EXISTS (SELECT 1 FROM {TABLE} WHERE id = NEW.id)
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",  # noqa: S608 (constants only)
    f"""CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_no_replace",
    "DROP TRIGGER IF EXISTS audit_no_update",
    "DROP TRIGGER IF EXISTS audit_no_delete",
]
SQLITE_TRIGGERS = ["audit_no_replace", "audit_no_update", "audit_no_delete"]
POSTGRES_TRIGGERS = ["audit_no_change", "audit_no_truncate"]

_POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql""",
    f"DROP TRIGGER IF EXISTS audit_no_change ON {TABLE}",
    f"""CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    f"DROP TRIGGER IF EXISTS audit_no_truncate ON {TABLE}",
    f"""CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
]
_POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS audit_no_change ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_no_truncate ON {TABLE}",
]


def _run(connection, statements):
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _tables(connection) -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def _sqlite_schema(connection) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Every table's columns in order, and every trigger's text by name, in two queries. (Django's
    introspection reads one table at a time and parses each table's SQL for its collations: most
    of a flush's time in the tests, where post_migrate runs after every flush.)"""
    columns: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
            "WHERE m.type = 'table' ORDER BY m.name, p.cid"
        )
        for table, column in cursor.fetchall():
            columns.setdefault(table, []).append(column)
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        installed = {name: _words(sql) for name, sql in cursor.fetchall()}
    return columns, installed


def _words(sql: str) -> str:
    return " ".join(sql.split())


def _sqlite_in_place(statements: list[str], installed: dict[str, str]) -> bool:
    """Whether every trigger these statements create is already there with exactly this text (a
    table rebuilt by a migration has lost its triggers; a table given a column needs new ones).
    SQLite keeps a trigger's CREATE statement as it was written; any difference, even of
    spelling, installs it again."""
    created = [
        _words(statement) for statement in statements if statement.lstrip().startswith("CREATE TRIGGER")
    ]
    return all(installed.get(statement.split()[2]) == statement for statement in created)


def install_triggers(connection, *, signed_records: bool = True) -> None:
    """The audit log's triggers and every signed-record trigger, on the tables that exist (a
    partial `migrate` may not have made them all yet). Idempotent. The audit app's migrations
    pass `signed_records=False`: they may run before another app's data migration, and the
    post_migrate handler installs those once every migration has run."""
    tables = _tables(connection)
    rules = [rule for rule in immutable.RULES if rule.table in tables and signed_records]
    if connection.vendor == "sqlite":
        if TABLE in tables:
            _run(connection, _SQLITE)
        columns, installed = _sqlite_schema(connection)
        for rule in rules:
            statements = immutable.sqlite_install(rule, columns[rule.table])
            if not _sqlite_in_place(statements, installed):
                _run(connection, statements)
    elif connection.vendor == "postgresql":
        if TABLE in tables:
            _run(connection, _POSTGRES)
        for rule in rules:
            _run(connection, immutable.postgres_install(rule))
    else:
        raise NotImplementedError(f"no append-only triggers for {connection.vendor}")


def drop_triggers(connection, *, signed_records: bool = True) -> None:
    tables = _tables(connection)
    rules = [rule for rule in immutable.RULES if rule.table in tables and signed_records]
    if connection.vendor == "sqlite":
        _run(connection, _SQLITE_DROP)
        for rule in rules:
            _run(connection, immutable.sqlite_drop(rule))
    elif connection.vendor == "postgresql":
        _run(connection, _POSTGRES_DROP)
        for rule in rules:
            _run(connection, immutable.postgres_drop(rule))


def expected_triggers(connection) -> dict[str, list[str]]:
    """Every trigger `install_triggers` leaves, by table (the tests check them after migrate)."""
    names = SQLITE_TRIGGERS if connection.vendor == "sqlite" else POSTGRES_TRIGGERS
    expected = {TABLE: list(names)}
    for rule in immutable.RULES:
        expected[rule.table] = immutable.trigger_names(rule, connection.vendor)
    return expected
