from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django_tasks import task


@task()
def send_inquiry_confirmation(*, to: str, first_name: str, practice_name: str, practice_phone: str) -> None:
    """Tell the person their message arrived. It repeats nothing of what they wrote."""
    context = {
        "first_name": first_name,
        "practice_name": practice_name,
        "practice_phone": practice_phone,
        "site_url": settings.SITE_URL,
    }
    send_mail(
        # One line: a line break in the practice name would make send_mail refuse the header.
        subject=" ".join(render_to_string("inquiries/email/confirmation_subject.txt", context).split()),
        message=render_to_string("inquiries/email/confirmation.txt", context),
        html_message=render_to_string("inquiries/email/confirmation.html", context),
        from_email=None,
        recipient_list=[to],
    )
