from django.apps import AppConfig


class DosingConfig(AppConfig):
    name = "kapflow.dosing"
    label = "dosing"
    verbose_name = "Dosing (medication-session runbook)"

    def ready(self) -> None:
        # The runbook shows when the prescriber was told of an in-session alert: the moment its
        # notice went out. The reminders app sends it and may not import this one.
        from kapflow.dosing.alerts import session_alert_notified
        from kapflow.reminders.models import Reminder
        from kapflow.reminders.services import on_reminder_sent

        on_reminder_sent(Reminder.Kind.SESSION_ALERT, session_alert_notified)
