from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "kapflow.reminders"
    label = "reminders"
    verbose_name = "Reminders"

    def ready(self) -> None:
        # The services queue sends through the task without importing this module, which
        # imports them (kapflow.reminders.services.queue_send).
        from kapflow.reminders import services, tasks

        services.send_task_register(tasks.send_reminders)
