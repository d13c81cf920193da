from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django_tasks import task


@task()
def send_staff_invitation(*, to: str, full_name: str, practice_name: str, link: str) -> None:
    context = {
        "full_name": full_name,
        "practice_name": practice_name,
        "link": link,
        "idle_minutes": settings.IDLE_MINUTES,
        "mfa_required": settings.MFA_REQUIRED,
    }
    send_mail(
        # One line: a line break in the practice name would make send_mail refuse the header.
        subject=" ".join(render_to_string("accounts/email/invitation_subject.txt", context).split()),
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[to],
    )
