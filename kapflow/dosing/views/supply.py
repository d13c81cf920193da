"""Client-held medicine on the runbook (docs/client-held-medicine.md): the section's context for
the page, and the count's form sent from it (kapflow.dosing.services.supply)."""

from decimal import Decimal

from django.contrib import messages
from django.views.decorators.http import require_POST

from kapflow.dosing import forms
from kapflow.dosing.services import supply
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views import page  # its helpers are read when called: page imports this module
from kapflow.dosing.views.base import _target, runbook_view
from kapflow.practice.models import practice_for


def supply_context(*, visit, record, session_alerts, locked: bool, may_record: bool) -> dict:
    """The section (None: not shown) and, on a record still open, its empty form. One query for
    a client with no pharmacy fill in force."""
    section = supply.supply_section(
        visit=visit,
        runbook=record.book,
        doses=record.doses,
        session_alerts=session_alerts,
        locked=locked,
        # The kinds of row the record read with the runbook: a signed record without a count reads
        # nothing more (kapflow.dosing.selectors._KINDS must name "supply_counts" for it to know).
        counted=record.has("supply_counts"),
    )
    context = {"supply": section}
    if section is not None and may_record and not locked:
        context["supply_form"] = forms.SupplyCountForm(strengths=section.strengths)
    return context


@require_POST
@runbook_view
def supply_count(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    strengths = supply.count_strengths(visit)
    if not strengths:
        messages.error(
            request,
            "No pharmacy fill of a sublingual order in force is recorded for this client: nothing to "
            "count. A prescriber or the practice's admin records the fill on the client's medicine page.",
        )
        return page._back(request, client, visit)
    form = forms.SupplyCountForm(request.POST, strengths=strengths)
    if not form.is_valid():
        return page._again(request, client_id, visit_id, "supply_form", form)
    data = form.cleaned_data
    try:
        count = supply.supply_count_record(
            request=request,
            actor=request.user,
            visit=visit,
            strength_mg=Decimal(data["strength_mg"]),
            brought=data["brought"],
            taken=data["taken"],
            counted_at=form.moment(),
            practice=practice_for(request),
            entry_key=data["entry_key"],
        )
    except RunbookRefused as refused:
        return page._again(request, client_id, visit_id, "supply_form", form, refused=refused)
    if count.mismatches:
        for mismatch in count.mismatches:
            messages.error(request, f"Count does not match: {mismatch}")
        messages.warning(request, "The prescriber is told (see the alerts above).")
    else:
        messages.success(request, f"Count saved: {count}, as expected.")
    return page._back(request, client, visit)
