from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "kapflow.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, pre_migrate

        # After every migrate (and every flush, which sends the same signal): the SQLite schema
        # editor drops a table's triggers whenever it rebuilds the table (kapflow.audit.db).
        post_migrate.connect(_install_triggers, sender=self, dispatch_uid="kapflow.audit.triggers")
        # Before every migrate on SQLite: a signed record's trigger names another table (an entry
        # names its runbook), and SQLite refuses to rename a rebuilt copy of that table into place
        # while such a trigger names it ("error in trigger …: no such table").
        pre_migrate.connect(_lift_triggers, sender=self, dispatch_uid="kapflow.audit.lift_triggers")


def _install_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from kapflow.audit.db import install_triggers

    install_triggers(connections[using])


def _lift_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from kapflow.audit.db import drop_triggers

    if connections[using].vendor == "sqlite":
        drop_triggers(connections[using])
