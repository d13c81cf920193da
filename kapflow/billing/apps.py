from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "kapflow.billing"
    label = "billing"
    verbose_name = "Billing: fees, charges, invoices, payments, Good Faith Estimates and superbills"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, pre_migrate

        # The triggers that keep what each invoice owes (kapflow.billing.db): lifted on SQLite
        # while migrations may rebuild the tables they name, put back after every migrate and flush.
        pre_migrate.connect(_lift_triggers, sender=self, dispatch_uid="kapflow.billing.lift_triggers")
        post_migrate.connect(_install_triggers, sender=self, dispatch_uid="kapflow.billing.triggers")


def _lift_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from kapflow.billing.db import drop_triggers

    if connections[using].vendor == "sqlite":
        drop_triggers(connections[using])


def _install_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from kapflow.billing.db import install_triggers

    install_triggers(connections[using])
