"""Vitals readings and the prescriber's acknowledgement of a caution reading (by an outside
prescriber: on the telephone, recorded by the clinician)."""

from django.contrib import messages
from django.views.decorators.http import require_POST

from kapflow.dosing import forms
from kapflow.dosing.services import vitals
from kapflow.dosing.services.runbook import RunbookRefused, SpO2Required
from kapflow.dosing.views.base import _refused, _target, runbook_view
from kapflow.dosing.views.page import _again, _back
from kapflow.practice.models import practice_for


@require_POST
@runbook_view
def vitals_add(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    prefix = "pre" if "pre-phase" in request.POST else None
    key = "predose_form" if prefix else "vitals_form"
    form = forms.VitalsForm(request.POST, prefix=prefix)
    if not form.is_valid():
        return _again(request, client_id, visit_id, key, form)
    data = form.cleaned_data
    try:
        reading = vitals.vitals_record(
            request=request,
            actor=request.user,
            visit=visit,
            phase=data["phase"],
            taken_at=form.moment(),
            systolic=data["systolic"],
            diastolic=data["diastolic"],
            heart_rate=data["heart_rate"],
            spo2=data["spo2"],
            practice=practice_for(request),
            entry_key=data["entry_key"],
        )
    except SpO2Required as refused:
        form.add_error("spo2", refused.problems[0])
        return _again(request, client_id, visit_id, key, form)
    except RunbookRefused as refused:
        return _again(request, client_id, visit_id, key, form, refused=refused)
    else:
        if reading.alerts:
            for alert in reading.alerts:
                messages.error(request, f"ALERT: {alert}")
        else:
            messages.success(request, f"Vitals {reading} saved.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def caution_ack(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    try:
        vitals.caution_acknowledge(
            request=request, actor=request.user, visit=visit, practice=practice_for(request)
        )
    except RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, "Caution reading acknowledged: the dose may be given.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def caution_phone(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.PhoneAcknowledgementForm(request.POST)
    if not form.is_valid():
        return _again(request, client_id, visit_id, "phone_form", form)
    try:
        call = vitals.caution_acknowledge_by_phone(
            request=request,
            actor=request.user,
            visit=visit,
            practice=practice_for(request),
            prescriber_name=form.cleaned_data["prescriber_name"],
            called_at=form.moment(),
            read_back=form.cleaned_data["read_back"],
        )
    except RunbookRefused as refused:
        return _again(request, client_id, visit_id, "phone_form", form, refused=refused)
    messages.success(request, f"Caution reading acknowledged by {call.prescriber_name} on the telephone.")
    return _back(request, client, visit)
