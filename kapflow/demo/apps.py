from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "kapflow.demo"
    label = "demo"
    verbose_name = "Demo practice"
