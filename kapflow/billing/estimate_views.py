"""The client's Good Faith Estimates (docs/good-faith-estimate.md): the list, one estimate, its
PDF, and "give a new estimate now" when the client asks. The coordinators and practice admins
read and give them; the client's own clinicians may read them (a clinician outside the care team
gets 404, as for any client they cannot see)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.billing import estimates
from kapflow.billing.access import can_bill
from kapflow.billing.models import Estimate
from kapflow.billing.services import BillingRefused
from kapflow.clients.access import client_banner_for, client_for
from kapflow.practice.models import practice_for

BILLING_ROLES = (Role.COORDINATOR, Role.PRACTICE_ADMIN)


def _reader(request, client_id, *, action: str, banner: bool = True):
    """The client, for a reader of their estimates: a coordinator or admin (any client), or a
    clinician of the client (their care team's scope); 403 for anyone else on the staff."""
    if not (can_bill(request.user) or request.user.is_clinician):
        raise PermissionDenied
    if banner:
        return client_banner_for(request, client_id, action=action)
    return client_for(request, client_id, action=action)


def _estimate(client, estimate_id) -> Estimate:
    return get_object_or_404(Estimate.objects.select_related("issued_by"), client=client, pk=estimate_id)


def estimate_context(request, client, estimate: Estimate) -> dict:
    """What the estimate pages (staff and portal) and the PDF show of one estimate."""
    practice = practice_for(request)
    return {
        "client": client,
        "estimate": estimate,
        "content": estimate.content,
        "dispute": estimates.dispute(client, practice, estimate=estimate)
        if estimate.superseded_at is None
        else None,
        "practice": practice,
    }


def estimate_pdf_response(request, client, estimate: Estimate) -> HttpResponse:
    """The estimate as a PDF the client can print and save (WeasyPrint), from its content as it
    was given."""
    from weasyprint import HTML

    html = render_to_string(
        "billing/estimate_pdf.html",
        {**estimate_context(request, client, estimate), "produced_at": timezone.localtime()},
    )
    response = HttpResponse(HTML(string=html).write_pdf(), content_type="application/pdf")
    issued = timezone.localtime(estimate.issued_at)
    response["Content-Disposition"] = (
        f'attachment; filename="good-faith-estimate-{issued:%Y-%m-%d}-{estimate.pk}.pdf"'
    )
    return response


@require_GET
@staff_view(*BILLING_ROLES, Role.THERAPIST, Role.PRESCRIBER)
def estimate_list(request, client_id):
    client = _reader(request, client_id, action="kapflow.billing.estimates.viewed")
    practice = practice_for(request)
    current = estimates.current_estimate(client)
    plan = estimates.plan_in_force(client)
    self_pay = estimates.is_self_pay(client)
    return render(
        request,
        "billing/estimate_list.html",
        {
            "client": client,
            "estimates": estimates.estimates_of(client),
            "current": current,
            "self_pay": self_pay,
            "answers_plan": estimates.is_current_for(current, plan, timezone.localdate()),
            "plan": plan,
            "may_issue": can_bill(request.user),
            "dispute": estimates.dispute(client, practice) if current else None,
        },
    )


@require_GET
@staff_view(*BILLING_ROLES, Role.THERAPIST, Role.PRESCRIBER)
def estimate_detail(request, client_id, estimate_id):
    client = _reader(request, client_id, action="kapflow.billing.estimate.viewed")
    estimate = _estimate(client, estimate_id)
    return render(
        request,
        "billing/estimate_detail.html",
        {**estimate_context(request, client, estimate), "may_issue": can_bill(request.user)},
    )


@require_GET
@staff_view(*BILLING_ROLES, Role.THERAPIST, Role.PRESCRIBER)
def estimate_pdf(request, client_id, estimate_id):
    client = _reader(request, client_id, action="kapflow.billing.estimate.downloaded", banner=False)
    return estimate_pdf_response(request, client, _estimate(client, estimate_id))


@require_http_methods(["GET", "POST"])
@staff_view(*BILLING_ROLES)
def estimate_new(request, client_id):
    """Give a new estimate now, because the client asked (45 CFR 149.610: within 3 business
    days of a request)."""
    client = client_banner_for(request, client_id, action="kapflow.billing.estimate.opened")
    practice = practice_for(request)
    problems = []
    if not estimates.is_self_pay(client):
        problems.append(
            "The client's care is billed to their insurer: a Good Faith Estimate is for self-pay clients."
        )
    problems += estimates.estimate_problems(client, practice)
    if request.method == "POST" and not problems:
        try:
            estimate = estimates.estimate_issue(request=request, client=client, reason=Estimate.Reason.ASKED)
        except BillingRefused as refused:
            problems = refused.problems
        else:
            messages.success(
                request, "The new estimate is given. The client is told it is ready on the portal."
            )
            return redirect("estimates:detail", client.pk, estimate.pk)
    return render(
        request,
        "billing/estimate_new.html",
        {"client": client, "problems": problems, "current": estimates.current_estimate(client)},
        status=400 if request.method == "POST" and problems else 200,
    )
