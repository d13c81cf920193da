"""The runbook's "emergency services called" button (kapflow.dosing.alerts). The client is
reached through client_for like every runbook view: 404 for anyone outside the client's care,
the read audited."""

from django.contrib import messages
from django.views.decorators.http import require_POST

from kapflow.dosing import alerts
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import _refused, _target, runbook_view
from kapflow.dosing.views.page import _back
from kapflow.practice.models import practice_for


@require_POST
@runbook_view
def emergency_call(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    if request.POST.get("confirmed") != "1":
        messages.error(request, "Nothing recorded: use the “Emergency services called” button and confirm.")
        return _back(request, client, visit)
    try:
        call = alerts.emergency_call_record(
            request=request, actor=request.user, visit=visit, practice=practice_for(request)
        )
    except RunbookRefused as refused:
        _refused(request, refused)
    else:
        where = f"to {call.address}" if call.address else "no address on record: tell the dispatcher where"
        messages.warning(
            request, f"Emergency services call recorded ({where}). The prescriber is being told."
        )
    return _back(request, client, visit)
