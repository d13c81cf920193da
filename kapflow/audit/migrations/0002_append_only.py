from django.db import migrations


def install(apps, schema_editor):
    from kapflow.audit.db import install_triggers

    install_triggers(schema_editor.connection, signed_records=False)


def remove(apps, schema_editor):
    from kapflow.audit.db import drop_triggers

    drop_triggers(schema_editor.connection, signed_records=False)


class Migration(migrations.Migration):
    """The database itself refuses UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on the
    audit log."""

    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
