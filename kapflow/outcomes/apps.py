from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "kapflow.outcomes"
    label = "outcomes"
    verbose_name = "Practice outcomes"

    def ready(self):
        # A cached report or income is dropped as soon as one of its inputs is saved or deleted.
        from kapflow.outcomes.cached import connect_signals

        connect_signals()
