from django.apps import AppConfig


class PathwayConfig(AppConfig):
    name = "kapflow.pathway"
    label = "pathway"
    verbose_name = "Pathway"
