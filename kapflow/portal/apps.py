from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "kapflow.portal"
    label = "portal"
    verbose_name = "Client portal"
