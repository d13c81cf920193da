"""The clients' folded names for the search (Client.search_name); 0006 fills it for the clients
saved before it existed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0004_access_grants"),
    ]

    operations = [
        migrations.AddField(
            model_name="client",
            name="search_name",
            field=models.TextField(blank=True, editable=False),
        ),
    ]
