from django.conf import settings
from django.core.mail import send_mail
from django_tasks import task


@task()
def send_urgent_alert_notice(*, to: str, full_name: str) -> None:
    """Tell a clinician an urgent alert is waiting. The email names neither the client nor what
    they reported: those are only shown after signing in."""
    send_mail(
        subject="Urgent: a client needs same-day follow-up",
        message=(
            f"Dear {full_name},\n\nA client on your caseload has an urgent alert that needs follow-up "
            f"today. Please sign in to see it:\n\n{settings.SITE_URL}/\n"
        ),
        from_email=None,
        recipient_list=[to],
    )
