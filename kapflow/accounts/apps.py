from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kapflow.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from kapflow.lib import checks  # noqa: F401  (registers the system checks)
