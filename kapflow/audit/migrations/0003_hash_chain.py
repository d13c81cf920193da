from django.db import migrations, models


def chain_existing_rows(apps, schema_editor):
    """Computes the hash chain for the rows written before it existed, in id order.

    The table's own triggers refuse every UPDATE (that is their point), so they are lifted for
    the length of this function and put back at its end. On PostgreSQL the migration runs in one
    transaction, so no other connection ever sees the table without them; on SQLite the
    migration holds the database's write lock for as long. Nothing else may update this table."""
    from kapflow.audit import chain
    from kapflow.audit.db import drop_triggers, install_triggers

    connection = schema_editor.connection
    AuditEvent = apps.get_model("audit", "AuditEvent")
    drop_triggers(connection, signed_records=False)
    prev_hash = chain.GENESIS
    fields = [name for name in chain.HASHED if name not in ("seq", "prev_hash")]
    seq, last_pk = 0, 0
    while True:
        # A batch at a time, by primary key, so that no cursor is open while the rows change.
        batch = list(AuditEvent.objects.filter(pk__gt=last_pk).order_by("pk").values("pk", *fields)[:2000])
        if not batch:
            break
        for row in batch:
            seq += 1
            values = {**row, "seq": seq, "prev_hash": prev_hash}
            digest = chain.row_hash(values)
            AuditEvent.objects.filter(pk=row["pk"]).update(seq=seq, prev_hash=prev_hash, row_hash=digest)
            prev_hash = digest
        last_pk = batch[-1]["pk"]
    install_triggers(connection, signed_records=False)


def reinstall_triggers(apps, schema_editor):
    """The SQLite schema editor rebuilt the table for the fields above, which drops its triggers;
    every migrate also reinstalls them afterwards (kapflow.audit.apps), this keeps the migration
    whole on its own."""
    from kapflow.audit.db import install_triggers

    install_triggers(schema_editor.connection, signed_records=False)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="row_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(chain_existing_rows, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("seq__isnull", False)), fields=("seq",), name="audit_seq_unique"
            ),
        ),
        migrations.RunPython(reinstall_triggers, migrations.RunPython.noop),
    ]
