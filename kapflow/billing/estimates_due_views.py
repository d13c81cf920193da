"""The practice's estimates due (docs/good-faith-estimate.md, "When it is due"): self-pay clients
whose plan has no estimate answering for it, with the last day to give it and what stops
kapflow giving it. For the coordinators and the practice admins."""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.billing.estimates import estimates_due, with_problems
from kapflow.controlled.clocks import days_text
from kapflow.lib.capped import capped
from kapflow.practice.models import practice_for

# The page lists this many clients, the soonest due first, then "Show all".
DUE_SHOWN = 50


@require_GET
@staff_view(Role.COORDINATOR, Role.PRACTICE_ADMIN)
def due_list(request):
    today = timezone.localdate()
    due = capped(request, estimates_due(today), param="clients", limit=DUE_SHOWN)
    # What stops each being given, for the rows shown only: the page costs the same queries
    # however many are due.
    with_problems(due.rows, practice_for(request))
    # The clients on the page, as the page shows them.
    audit_record(
        request=request,
        action="kapflow.billing.estimates_due.viewed",
        detail={"clients": [row.client.pk for row in due.rows]},
    )
    return render(
        request,
        "billing/estimates_due.html",
        {"rows": [(row, days_text(row.due_on, today)) for row in due.rows], "due": due, "today": today},
    )
