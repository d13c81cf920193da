"""The words of each reminder email. They carry no clinical detail: not the kind of visit, the
questionnaire, the medicine or anything the client wrote, and no client's name beyond the
recipient's own; only an invitation to sign in (the portal for clients and guardians, kapflow
for staff), where the details are shown to whoever may see them."""

from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from kapflow.practice.models import Practice
from kapflow.reminders.models import Reminder

STAFF_KINDS = {
    Reminder.Kind.CLEARANCE,
    Reminder.Kind.URGENT,
    Reminder.Kind.SESSION_ALERT,
    Reminder.Kind.CONTROLLED,
    Reminder.Kind.ESTIMATE_DUE,
}
# Kinds sent alone, under their own subject, never folded into "a few reminders".
ALONE = {Reminder.Kind.URGENT, Reminder.Kind.SESSION_ALERT}


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def render_reminders(reminders: list[Reminder], practice: Practice) -> Email:
    """One email for what came due for one person at one sweep: each kind's sentence once, in a
    list when there are several, so that three questionnaires and an appointment make one
    email, not four. All for the same recipient, staff kinds never mixed with the portal's (the
    sweep groups them so). Reads reminder.recipient: select_related it."""
    first = reminders[0]
    staff = first.kind in STAFF_KINDS
    context = {
        "name": first.recipient.full_name,
        "practice_name": practice.discreet_name,
        "practice_phone": practice.phone,
        "link": settings.SITE_URL + reverse("home" if staff else "portal:home"),
        "staff": staff,
    }
    kinds = [kind for kind in Reminder.Kind.values if any(r.kind == kind for r in reminders)]
    context["lines"] = [render_to_string(f"reminders/email/{kind}.txt", context).strip() for kind in kinds]
    subject = f"reminders/email/{kinds[0]}_subject.txt" if len(kinds) == 1 else "reminders/email/subject.txt"
    return Email(
        # One line: a line break in the practice name would make send_mail refuse the header.
        subject=" ".join(render_to_string(subject, context).split()),
        text=render_to_string("reminders/email/message.txt", context),
        html=render_to_string("reminders/email/message.html", context),
    )


def group_key(reminder: Reminder) -> tuple[int, bool, str]:
    """Reminders sent together in one email: same person, same place to sign in. An urgent
    alert's notice, or a session alert's, goes alone, under its own subject, never folded into
    "a few reminders"."""
    alone = reminder.kind if reminder.kind in ALONE else ""
    return reminder.recipient_id, reminder.kind in STAFF_KINDS, alone
