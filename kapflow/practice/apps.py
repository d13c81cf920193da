from django.apps import AppConfig


class PracticeConfig(AppConfig):
    name = "kapflow.practice"
    label = "practice"
    verbose_name = "Practice"
