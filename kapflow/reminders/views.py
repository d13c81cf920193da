from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.lib.params import MAX_ID, int_param
from kapflow.reminders import selectors, services
from kapflow.reminders.models import Reminder


@require_GET
@staff_view(Role.PRACTICE_ADMIN)
def reminder_list(request):
    """The practice admin's view of the reminder emails: how many are queued, sent and failed,
    the failed ones first with their error. Clients appear by initials and record number only:
    the admin keeps the emails flowing and need not learn who is due for what."""
    status = request.GET.get("status", "")
    status = status if status in Reminder.Status.values else ""
    before = int_param(request, "before", None)
    overview = selectors.overview(status=status, before=before)
    detail = {"status": status} if status else {}
    if before is not None:
        detail["before"] = before
    audit_record(request=request, action="kapflow.reminders.list.viewed", detail=detail)
    return render(
        request,
        "reminders/list.html",
        {
            "overview": overview,
            "status": status,
            "older_page": overview.continued,
            "recent_heading": _recent_heading(status, continued=overview.continued),
            "tabs": [
                (value, label, overview.shown_counts[value]) for value, label in Reminder.Status.choices
            ],
        },
    )


def _recent_heading(status: str, *, continued: bool) -> str:
    """ "Most recent", "Older", "Sent: most recent", "Failed: older"…"""
    which = "older" if continued else "most recent"
    return f"{Reminder.Status(status).label}: {which}" if status else which.capitalize()


@require_POST
@staff_view(Role.PRACTICE_ADMIN)
def reminder_send_again(request, reminder_id):
    """Put a failed reminder back in the queue."""
    reminder = Reminder.objects.filter(pk=reminder_id).first() if 0 < reminder_id <= MAX_ID else None
    if reminder is None:
        raise Http404("No such reminder.")
    try:
        services.reminder_requeue(reminder=reminder, actor=request.user, request=request)
    except services.NotFailed:
        messages.info(
            request,
            f"Reminder {reminder.pk} is {reminder.get_status_display().lower()}, not failed: "
            "there is nothing to send again.",
        )
        return redirect("reminders:list")
    services.queue_send(reminder_ids=[reminder.pk])
    messages.success(request, f"Reminder {reminder.pk} to {reminder.address} is queued to be sent again.")
    return redirect("reminders:list")
