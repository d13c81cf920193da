from django.core.mail import send_mail
from django.template.loader import render_to_string
from django_tasks import task


@task()
def send_portal_invitation(
    *, to: str, name: str, practice_name: str, practice_phone: str, link: str, hours: int
):
    """Invite a client or a guardian to their portal. Whoever reads the mailbox learns only that
    the practice offers them a portal: no appointment, no treatment, not even whose record it is."""
    context = {
        "name": name,
        "practice_name": practice_name,
        "practice_phone": practice_phone,
        "link": link,
        "hours": hours,
    }
    send_mail(
        # One line: a line break in the practice name would make send_mail refuse the header.
        subject=" ".join(render_to_string("portal/email/invitation_subject.txt", context).split()),
        message=render_to_string("portal/email/invitation.txt", context),
        from_email=None,
        recipient_list=[to],
    )
