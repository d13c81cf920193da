"""Fills Client.search_name for every client saved before the column existed, in batches, each
committed on its own (not atomic): on PostgreSQL the column's own migration (0005) holds the
table's lock only for the ALTER, and a practice with many clients is not locked out of the
caseload while this runs. The folding is copied here as it was written, so that a later change
to kapflow.clients.models.fold cannot change what this migration did."""

import unicodedata

from django.db import migrations

_PLAIN_LETTERS = str.maketrans(
    {
        "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i",
        "ħ": "h", "ŧ": "t", "ŋ": "ng", "·": "",
    }
)  # fmt: skip
BATCH = 500


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char)).translate(_PLAIN_LETTERS)


def fill_search_names(apps, schema_editor) -> None:
    Client = apps.get_model("clients", "Client")
    last = 0
    while True:
        batch = list(
            Client.objects.filter(pk__gt=last)
            .only("pk", "first_name", "last_name", "preferred_name")
            .order_by("pk")[:BATCH]
        )
        if not batch:
            return
        for client in batch:
            client.search_name = " ".join(
                _fold(name) for name in (client.first_name, client.last_name, client.preferred_name) if name
            )
        Client.objects.bulk_update(batch, ["search_name"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("clients", "0005_client_search_name"),
    ]

    operations = [
        migrations.RunPython(fill_search_names, migrations.RunPython.noop),
    ]
