"""The practice's settings row, made as the database is made: a new installation's first
requests would otherwise each try to insert it at once (Practice.load makes it on first use only
for a database emptied since, such as a test's), and on PostgreSQL two such inserts inside
larger transactions can deadlock. A database emptied by `flush` gets it back from the app's
post_migrate handler (kapflow/practice/apps.py)."""

from django.db import migrations


def make_the_row(apps, schema_editor):
    Practice = apps.get_model("practice", "Practice")
    Practice.objects.using(schema_editor.connection.alias).get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("practice", "0014_billing_settings")]

    operations = [migrations.RunPython(make_the_row, migrations.RunPython.noop, elidable=False)]
