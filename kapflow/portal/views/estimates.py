"""The client's Good Faith Estimates on the portal (docs/good-faith-estimate.md): the list, one
estimate, and its PDF to print or save. The client, or a guardian with legal authority for a
minor (PortalNeed.BILLING); anyone else gets 404."""

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from kapflow.billing import estimates
from kapflow.billing.estimate_views import estimate_context, estimate_pdf_response
from kapflow.portal.access import PortalNeed, is_guardian_view, portal_client_for, portal_view
from kapflow.practice.models import practice_for


def _client(request, client_id, action: str):
    return portal_client_for(request, client_id, action=action, need=PortalNeed.BILLING)


def _estimate(client, estimate_id):
    return get_object_or_404(client.estimates.all(), pk=estimate_id)


@require_GET
@portal_view
def estimate_list(request, client_id):
    client = _client(request, client_id, "kapflow.portal.estimates.viewed")
    current = estimates.current_estimate(client)
    return render(
        request,
        "portal/estimates.html",
        {
            "client": client,
            "guardian_view": is_guardian_view(request.user, client),
            "estimates": estimates.estimates_of(client),
            "current": current,
            "dispute": estimates.dispute(client, practice_for(request)) if current else None,
            "nav": "estimates",
        },
    )


@require_GET
@portal_view
def estimate_detail(request, client_id, estimate_id):
    client = _client(request, client_id, "kapflow.portal.estimate.viewed")
    estimate = _estimate(client, estimate_id)
    return render(
        request,
        "portal/estimate.html",
        {
            **estimate_context(request, client, estimate),
            "guardian_view": is_guardian_view(request.user, client),
            "nav": "estimates",
        },
    )


@require_GET
@portal_view
def estimate_pdf(request, client_id, estimate_id):
    client = _client(request, client_id, "kapflow.portal.estimate.downloaded")
    return estimate_pdf_response(request, client, _estimate(client, estimate_id))
