"""Discharge, and the integration session booked or its absence acknowledged."""

from django.contrib import messages
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.dosing import forms
from kapflow.dosing.services import discharge as discharge_services
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import _refused, _target, runbook_view
from kapflow.dosing.views.page import _back, _simple_entry
from kapflow.integration.window import INTEGRATION_MINUTES
from kapflow.practice.models import practice_for


@require_POST
@runbook_view
def discharge(request, client_id, visit_id):
    def save(form, visit):
        data = form.cleaned_data
        discharge_services.discharge_record(
            request=request,
            actor=request.user,
            visit=visit,
            alert_and_oriented=data["alert_and_oriented"],
            steady_on_feet=data["steady_on_feet"],
            escort_present=data["escort_present"],
            override_reason=data["override_reason"],
            practice=practice_for(request),
        )

    return _simple_entry(
        request, client_id, visit_id, forms.DischargeForm, save, "Discharge recorded.", key="discharge_form"
    )


@require_POST
@runbook_view
def integration_book(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.IntegrationBookForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the proposed times.")
        return _back(request, client, visit)
    try:
        booked = discharge_services.integration_book(
            request=request,
            actor=request.user,
            visit=visit,
            starts_at=form.cleaned_data["starts_at"],
            minutes=INTEGRATION_MINUTES,
        )
    except RunbookRefused as refused:
        _refused(request, refused)
    else:
        when = timezone.localtime(booked.starts_at)
        messages.success(request, f"Integration session booked for {when:%a %b} {when.day}, {when:%H:%M}.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def integration_ack(request, client_id, visit_id):
    def save(form, visit):
        discharge_services.integration_acknowledge(
            request=request,
            actor=request.user,
            visit=visit,
            reason=form.cleaned_data["reason"],
            practice=practice_for(request),
        )

    return _simple_entry(
        request,
        client_id,
        visit_id,
        forms.IntegrationAckForm,
        save,
        "Acknowledged: the session may go ahead; book the integration after it.",
        key="integration_ack_form",
    )
