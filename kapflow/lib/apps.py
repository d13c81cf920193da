from django.apps import AppConfig


class LibConfig(AppConfig):
    name = "kapflow.lib"
    label = "kapflow_lib"
    verbose_name = "kapflow helpers"
