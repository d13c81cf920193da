from importlib import import_module

from django.apps import AppConfig

# The migration that first wrote the starting documents, and holds their texts.
STARTING_DOCUMENTS = "kapflow.consent.migrations.0002_default_documents"


class ConsentConfig(AppConfig):
    name = "kapflow.consent"
    label = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # After every migrate and every flush (which sends the same signal): a database emptied
        # by `manage.py flush` gets the starting consent documents back, as a new one has them.
        post_migrate.connect(_starting_documents, sender=self, dispatch_uid="kapflow.consent.documents")


def _starting_documents(sender, using: str = "default", **kwargs) -> None:
    """Version 1 of each consent document whose kind has none, written by the migration that
    first wrote them (its texts never change, so they live there), once that migration is
    applied: not on a database migrated back before it."""
    from django.apps import apps
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connections[using])
    name = STARTING_DOCUMENTS.rpartition(".")[2]
    applied = recorder.has_table() and recorder.migration_qs.filter(app="consent", name=name)
    if not applied or not applied.exists():
        return
    import_module(STARTING_DOCUMENTS).create(apps, None)
