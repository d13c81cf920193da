"""Signing the record, and addenda after."""

from django.contrib import messages
from django.views.decorators.http import require_POST

from kapflow.dosing import forms
from kapflow.dosing.services import signing
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import _refused, _target, runbook_view
from kapflow.dosing.views.page import _back, _simple_entry


@require_POST
@runbook_view
def sign(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    try:
        signing.runbook_sign(request=request, actor=request.user, visit=visit)
    except RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, "Session record signed and locked.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def addendum(request, client_id, visit_id):
    def save(form, visit):
        signing.addendum_add(request=request, actor=request.user, visit=visit, text=form.cleaned_data["text"])

    return _simple_entry(
        request, client_id, visit_id, forms.AddendumForm, save, "Addendum added.", key="addendum_form"
    )
