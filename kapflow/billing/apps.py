from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "kapflow.billing"
    label = "billing"
    verbose_name = "Billing: fees, charges, invoices, payments, Good Faith Estimates and superbills"
