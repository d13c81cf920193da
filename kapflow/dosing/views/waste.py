"""The waste of what is left of a dose from one of the practice's lots, witnessed by a second
clinician who types their own sign-in on this screen (docs/runbook-ledger.md)."""

from django.contrib import messages
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.witness import WitnessRefused, witness_confirm
from kapflow.audit.services import audit_record
from kapflow.controlled.ledger import quantity_text
from kapflow.dosing import forms
from kapflow.dosing.services import waste
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import _target, runbook_view
from kapflow.dosing.views.page import _again, _back


def _refused(request, client, visit, step: str) -> None:
    # A refused waste of a controlled substance leaves a trace naming the client.
    audit_record(
        request=request,
        action="kapflow.dosing.waste.refused",
        client=client,
        obj=visit,
        detail={"step": step},
    )


@require_POST
@runbook_view
def waste_add(request, client_id, visit_id):
    """Record a waste: the witness is confirmed first (their password and code, each try
    audited), then the waste is posted to the lot's ledger with the dose. A form that comes back
    keeps what was typed, but never the witness's password."""
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.WasteForm(request.POST, visit=visit)
    if not form.is_valid():
        return _again(request, client_id, visit_id, "waste_form", form)
    data = form.cleaned_data
    try:
        witness = witness_confirm(
            request=request,
            email=data["witness_email"],
            password=data["witness_password"],
            code=data["witness_code"],
            purpose="waste",
        )
    except WitnessRefused as refused:
        _refused(request, client, visit, "witness")
        return _again(request, client_id, visit_id, "waste_form", form, refused=RunbookRefused(str(refused)))
    try:
        entry = waste.waste_record(
            request=request,
            actor=request.user,
            visit=visit,
            administration=data["administration"],
            quantity=data["quantity"],
            reason=data["reason"],
            wasted_at=form.moment(),
            witness=witness,
            witness_confirmed_at=timezone.now(),
        )
    except RunbookRefused as refused:
        _refused(request, client, visit, "waste")
        return _again(request, client_id, visit_id, "waste_form", form, refused=refused)
    messages.success(
        request,
        f"Waste of {quantity_text(-entry.quantity, entry.lot)} of lot {entry.lot.lot_number} recorded, "
        f"witnessed by {witness.full_name}.",
    )
    return _back(request, client, visit)
