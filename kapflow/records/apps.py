from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "kapflow.records"
    label = "records"
    verbose_name = "A client's record, leaving and coming back"
