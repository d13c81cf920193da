"""A search by name reads the caseload's index (last name, first name, id), now with the
folded names in it, rather than every client's row (kapflow.clients.models.Client.Meta)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0006_fill_client_search_name"),
    ]

    operations = [
        # The wider index first, so that the caseload's order always has one.
        migrations.AddIndex(
            model_name="client",
            index=models.Index(
                fields=["last_name", "first_name", "id", "search_name"], name="client_name_search_idx"
            ),
        ),
        migrations.RemoveIndex(
            model_name="client",
            name="client_name_idx",
        ),
    ]
