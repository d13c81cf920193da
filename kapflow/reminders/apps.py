from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "kapflow.reminders"
    label = "reminders"
    verbose_name = "Reminders"
