from django.apps import AppConfig

# The migration that made the practice's settings row.
THE_PRACTICE_ROW = "0015_the_practice_row"


class PracticeConfig(AppConfig):
    name = "kapflow.practice"
    label = "practice"
    verbose_name = "Practice"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # After every migrate and every flush (which sends the same signal): a database emptied
        # by `manage.py flush` gets the settings row back, as a new one has it.
        post_migrate.connect(_the_practice_row, sender=self, dispatch_uid="kapflow.practice.row")


def _the_practice_row(sender, using: str = "default", apps=None, **kwargs) -> None:
    """The practice's settings row, with its defaults, when there is none, once the migration
    that first made it is applied (not on a database migrated back before it)."""
    from django.apps import apps as global_apps
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connections[using])
    if (
        not recorder.has_table()
        or not recorder.migration_qs.filter(app="practice", name=THE_PRACTICE_ROW).exists()
    ):
        return
    Practice = (apps or global_apps).get_model("practice", "Practice")
    Practice.objects.using(using).get_or_create(pk=1)
