"""The clients' folded names for the search (Client.search_name), filled for every client saved
before the column existed. The folding is copied here as it was written, so that a later change
to kapflow.clients.models.fold cannot change what this migration did."""

import unicodedata

from django.db import migrations, models

_PLAIN_LETTERS = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"}
)
BATCH = 500


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_PLAIN_LETTERS))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def fill_search_names(apps, schema_editor) -> None:
    Client = apps.get_model("clients", "Client")
    rows = Client.objects.only("pk", "first_name", "last_name", "preferred_name").order_by("pk")
    batch = []
    for client in rows.iterator(chunk_size=BATCH):
        client.search_name = " ".join(
            _fold(name) for name in (client.first_name, client.last_name, client.preferred_name) if name
        )
        batch.append(client)
        if len(batch) == BATCH:
            Client.objects.bulk_update(batch, ["search_name"])
            batch = []
    if batch:
        Client.objects.bulk_update(batch, ["search_name"])


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
        migrations.RunPython(fill_search_names, migrations.RunPython.noop),
    ]
