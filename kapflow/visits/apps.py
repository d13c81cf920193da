from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "kapflow.visits"
    label = "visits"
    verbose_name = "Visits"
