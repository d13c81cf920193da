"""The prescriber's reviews of adverse events and discharge overrides."""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_POST

from kapflow.dosing import forms
from kapflow.dosing.models import AdverseEvent
from kapflow.dosing.services import reviews
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import _refused, _target, prescriber_view
from kapflow.dosing.views.page import _back
from kapflow.visits.views.visits import safe_next


def _after_review(request, client, visit):
    """Back where the review was made: the dashboard (a safe `next`) or the runbook."""
    target = safe_next(request)
    if target and not request.htmx:
        return HttpResponseRedirect(target)
    return _back(request, client, visit)


@require_POST
@prescriber_view
def adverse_event_review(request, client_id, visit_id, event_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    event = get_object_or_404(AdverseEvent, pk=event_id, runbook__visit=visit)
    form = forms.ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The review note is too long (at most 1000 characters).")
        return _after_review(request, client, visit)
    try:
        reviews.adverse_event_review(
            request=request, actor=request.user, event=event, note=form.cleaned_data["note"]
        )
    except RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, f"Adverse event reviewed: {event} in {client.display_name}'s session.")
    return _after_review(request, client, visit)


@require_POST
@prescriber_view
def discharge_override_review(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The review note is too long (at most 1000 characters).")
        return _after_review(request, client, visit)
    try:
        reviews.discharge_override_review(
            request=request, actor=request.user, visit=visit, note=form.cleaned_data["note"]
        )
    except RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, f"Discharge override reviewed for {client.display_name}'s session.")
    return _after_review(request, client, visit)
