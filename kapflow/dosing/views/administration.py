"""Doses, and the prescriber on site."""

from functools import partial

from django.contrib import messages
from django.views.decorators.http import require_POST

from kapflow.audit.services import audit_record
from kapflow.dosing import forms
from kapflow.dosing.services import administration
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import _target, runbook_view
from kapflow.dosing.views.page import _again, _back, _simple_entry
from kapflow.practice.models import practice_for


@require_POST
@runbook_view
def dose_add(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.DoseForm(request.POST, client=client, visit=visit)
    if not form.is_valid():
        return _again(request, client_id, visit_id, "dose_form", form)
    data = form.cleaned_data
    try:
        given = administration.dose_record(
            request=request,
            actor=request.user,
            visit=visit,
            order=data["order"],
            given_at=form.moment(),
            route=data["route"],
            dose_mg=data["dose_mg"],
            lot_number=data["lot_number"],
            given_by=data["given_by"],
            self_administered=data["self_administered"],
            practice=practice_for(request),
            # Once the stock ledger is kept: the practice's lot (None: the client's own medicine).
            lot=data.get("lot"),
            entry_key=data["entry_key"],
        )
    except RunbookRefused as refused:
        # A refused dose of a controlled substance leaves a trace of its own.
        audit_record(
            request=request,
            action="kapflow.dosing.dose.refused",
            client=client,
            obj=visit,
            detail={"order": data["order"].pk},
        )
        form.explain_refusal()  # a lot that holds too little is named at the lot, too
        return _again(request, client_id, visit_id, "dose_form", form, refused=refused)
    else:
        messages.success(request, f"{'Booster' if given.is_booster else 'Dose'} recorded.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def prescriber_on_site(request, client_id, visit_id):
    """Record which prescriber is on site (intranasal esketamine needs one)."""

    def save(form, visit):
        administration.prescriber_on_site_record(
            request=request,
            actor=request.user,
            visit=visit,
            prescriber=form.cleaned_data["prescriber"],
            on_site_at=form.moment(),
        )

    return _simple_entry(
        request,
        client_id,
        visit_id,
        partial(forms.PrescriberOnSiteForm, client_id=client_id),
        save,
        "Prescriber on site recorded.",
        key="onsite_form",
    )
