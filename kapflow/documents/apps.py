from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "kapflow.documents"
    label = "documents"
    verbose_name = "Documents"
