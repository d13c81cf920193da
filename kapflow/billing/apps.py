from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "kapflow.billing"
    label = "billing"
    verbose_name = "Billing: fees, charges, invoices, payments, Good Faith Estimates and superbills"

    def ready(self) -> None:
        from kapflow.billing.db import drop_triggers, install_triggers
        from kapflow.lib.triggers import keep_across_migrate

        # The triggers that keep what each invoice owes (kapflow.billing.db), kept in place across
        # every migrate and flush.
        keep_across_migrate(self, install=install_triggers, drop=drop_triggers)
