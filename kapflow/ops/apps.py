from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "kapflow.ops"
    label = "ops"
    verbose_name = "Keeping the practice's data: backup, export and health"
