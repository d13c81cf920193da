"""The page a client or guardian sees on signing in after their practice ended their portal
access (kapflow.portal.services.portal_access_end): that it has ended, and whom to contact."""

from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def access_ended(request):
    """Open to anyone: it shows nothing but the practice's own contact details, so it reads and
    writes nothing of anyone's. Sign-in sends a refused account here and audits that refusal
    (kapflow.accounts.adapter.AccountAdapter.respond_user_inactive)."""
    return render(request, "portal/access_ended.html")
