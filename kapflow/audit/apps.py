from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "kapflow.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # After every migrate (and every flush, which sends the same signal): the SQLite schema
        # editor drops a table's triggers whenever it rebuilds the table (kapflow.audit.db).
        post_migrate.connect(_install_triggers, sender=self, dispatch_uid="kapflow.audit.triggers")


def _install_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from kapflow.audit.db import install_triggers

    install_triggers(connections[using])
