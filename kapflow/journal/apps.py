from django.apps import AppConfig


class JournalConfig(AppConfig):
    name = "kapflow.journal"
    label = "journal"
    verbose_name = "Journal"
