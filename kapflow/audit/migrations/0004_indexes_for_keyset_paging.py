"""The audit page pages by the key (at, id) and filters by date, client, person and action: one
index for each, each ending in at, id (kapflow.audit.models, Meta.indexes, says which query each
serves). Dropped: the three indexes on `at` alone, (client, at) and (actor, at) that these
replace, and the single-column indexes Django had made for the two foreign keys, which nothing
needs once an index starts with the same column.

On PostgreSQL, where the table may hold many millions of rows, each index is built and dropped
CONCURRENTLY: audit rows go on being written while it runs (every write of client data writes
one). That cannot run inside a transaction, hence `atomic = False`; each step is a statement on
its own. If a concurrent build fails half-way, PostgreSQL leaves an INVALID index of that name:
drop it (DROP INDEX CONCURRENTLY name) and run `migrate` again.

No table is rebuilt, on SQLite either (the foreign keys' indexes are dropped by name, not by an
AlterField that SQLite would carry out by copying the table), so the append-only triggers stay.
"""

from django.conf import settings
from django.db import migrations, models

NEW = [
    models.Index(fields=["-at", "-id"], name="audit_at_id_idx"),
    models.Index(fields=["client", "-at", "-id"], name="audit_client_at_id_idx"),
    models.Index(fields=["actor", "-at", "-id"], name="audit_actor_at_id_idx"),
    models.Index(fields=["action", "-at", "-id"], name="audit_action_at_id_idx"),
]
OLD = [
    models.Index(fields=["-at"], name="audit_at_idx"),
    models.Index(fields=["client", "-at"], name="audit_client_at_idx"),
    models.Index(fields=["actor", "-at"], name="audit_actor_at_idx"),
]


def _concurrently(schema_editor) -> dict:
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def _add(index):
    def add(apps, schema_editor):
        model = apps.get_model("audit", "AuditEvent")
        schema_editor.add_index(model, index, **_concurrently(schema_editor))

    def remove(apps, schema_editor):
        model = apps.get_model("audit", "AuditEvent")
        schema_editor.remove_index(model, index, **_concurrently(schema_editor))

    return add, remove


def add_index(index):
    forwards, backwards = _add(index)
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddIndex(model_name="auditevent", index=index)],
        database_operations=[migrations.RunPython(forwards, backwards)],
    )


def remove_index(index):
    backwards, forwards = _add(index)
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.RemoveIndex(model_name="auditevent", name=index.name)],
        database_operations=[migrations.RunPython(forwards, backwards)],
    )


def _foreign_key_indexes(schema_editor, column: str) -> list[str]:
    """The names of the plain one-column indexes on `column` (Django names them with a hash)."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "audit_auditevent")
    return [
        name
        for name, info in constraints.items()
        if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == [column]
    ]


def drop_foreign_key_index(field_name: str, field: models.ForeignKey):
    column = f"{field_name}_id"

    def forwards(apps, schema_editor):
        concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
        for name in _foreign_key_indexes(schema_editor, column):
            schema_editor.execute(f"DROP INDEX {concurrently}{schema_editor.quote_name(name)}")

    def backwards(apps, schema_editor):
        model = apps.get_model("audit", "AuditEvent")
        if not _foreign_key_indexes(schema_editor, column):
            schema_editor.execute(
                schema_editor._create_index_sql(model, fields=[model._meta.get_field(field_name)])
            )

    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name="auditevent", name=field_name, field=field)],
        database_operations=[migrations.RunPython(forwards, backwards)],
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0003_hash_chain")]

    operations = [
        # The new indexes first, so that every query has one at every step.
        *(add_index(index) for index in NEW),
        *(remove_index(index) for index in OLD),
        drop_foreign_key_index(
            "actor",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        drop_foreign_key_index(
            "client",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="+",
                to="clients.client",
            ),
        ),
    ]
