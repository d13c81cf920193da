from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "kapflow.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from kapflow.audit.db import drop_triggers, install_triggers
        from kapflow.lib.triggers import keep_across_migrate

        # The audit log's and the signed records' triggers (kapflow.audit.db), kept in place
        # across every migrate and flush.
        keep_across_migrate(self, install=install_triggers, drop=drop_triggers)
