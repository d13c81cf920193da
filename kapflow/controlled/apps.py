from django.apps import AppConfig


class ControlledConfig(AppConfig):
    name = "kapflow.controlled"
    label = "controlled"
    verbose_name = "Controlled substances: the stock ledger, client-held medicine and the Spravato REMS"
