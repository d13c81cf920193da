from django.apps import AppConfig


class LettersConfig(AppConfig):
    name = "kapflow.letters"
    label = "letters"
    verbose_name = "Letters and disclosures"
