from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "kapflow.integration"
    label = "integration"
    verbose_name = "Integration"
