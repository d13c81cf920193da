from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "kapflow.clients"
    label = "clients"
    verbose_name = "Clients"
