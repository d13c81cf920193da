"""The reminders page in the access matrix (tests/test_access_matrix.py): the practice admin's
alone, as the audit log is."""

from django.utils import timezone

from kapflow.reminders.models import Reminder
from tests.access_rules import admin_page

MATRIX = {
    "reminders:list": ("get", admin_page, None),
    "reminders:send_again": ("post", admin_page, lambda w, c: {"reminder_id": w["failed_reminder"].pk}),
}


def build(world):
    world["failed_reminder"] = Reminder.objects.create(
        key=f"appointment:0:{world['avery'].pk}",
        kind=Reminder.Kind.APPOINTMENT,
        recipient=world["cleo"],
        address=world["cleo"].email,
        client=world["avery"],
        due_at=timezone.now(),
        status=Reminder.Status.FAILED,
        attempts=4,
        last_error="ConnectionRefusedError: mail server down",
        last_attempt_at=timezone.now(),
    )
