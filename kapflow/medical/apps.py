from django.apps import AppConfig


class MedicalConfig(AppConfig):
    name = "kapflow.medical"
    label = "medical"
    verbose_name = "Medical"
