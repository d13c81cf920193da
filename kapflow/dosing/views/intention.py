"""The client's intention for the session, recorded in the runbook's opening phase (or before the
day, while the visit is scheduled): kapflow.notes.intentions, docs/intentions.md."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.views.decorators.http import require_POST

from kapflow.dosing.views.base import _target, runbook_view
from kapflow.dosing.views.page import _again, _back
from kapflow.notes import intentions
from kapflow.notes.intention_forms import STAFF_HELP, STAFF_LABEL, IntentionForm


@require_POST
@runbook_view
def intention(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = IntentionForm(request.POST, label=STAFF_LABEL, help_text=STAFF_HELP)
    if not form.is_valid():
        return _again(request, client_id, visit_id, "intention_form", form)
    try:
        intentions.intention_enter(
            request=request,
            visit=visit,
            text=form.cleaned_data["text"],
            source=intentions.staff_source(visit),
        )
    except ValidationError as error:
        problem = " ".join(error.messages)
        messages.error(request, problem)
        form.add_error("text", problem)
        return _again(request, client_id, visit_id, "intention_form", form)
    messages.success(request, "Intention saved.")
    return _back(request, client, visit)
