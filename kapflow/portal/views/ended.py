"""The page a client or guardian sees on signing in after their practice ended their portal
access (kapflow.portal.services.portal_access_end): that it has ended, and whom to contact."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from kapflow.accounts.adapter import ACCESS_ENDED_ACCOUNT
from kapflow.accounts.models import User
from kapflow.audit.services import audit_record


@require_GET
def access_ended(request):
    """Open to anyone: it shows nothing but the practice's own contact details. Reached from
    sign-in (kapflow.accounts.adapter.AccountAdapter.respond_user_inactive), which remembers
    the account in the session so that the audit row names it; opened any other way the row
    names no one."""
    account_id = request.session.get(ACCESS_ENDED_ACCOUNT)
    account = (
        User.objects.filter(pk=account_id, is_active=False).first() if isinstance(account_id, int) else None
    )
    audit_record(request=request, action="kapflow.portal.access_ended.shown", obj=account)
    return render(request, "portal/access_ended.html")
