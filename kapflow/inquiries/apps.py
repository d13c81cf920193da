from django.apps import AppConfig


class InquiriesConfig(AppConfig):
    name = "kapflow.inquiries"
    label = "inquiries"
    verbose_name = "Inquiries"
