from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kapflow.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from kapflow.accounts import receivers  # noqa: F401  (audits sign-in, MFA, email, password)
        from kapflow.lib import checks  # noqa: F401  (registers the system checks)
