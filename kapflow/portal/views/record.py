"""The client's own record on the portal (docs/right-of-access.md): what a copy holds and what it
does not, and two buttons that download it as a readable PDF or a FHIR R4 bundle, each copy
recorded as given (kapflow.records.access). The download is the client's alone (PortalNeed.OWN):
a guardian sees the page, which tells them to ask the practice in writing, so that a clinician
decides what of a minor's record is given."""

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from kapflow.letters.models import Disclosure
from kapflow.portal.access import PortalNeed, portal_client_for, portal_view
from kapflow.portal.views.pages import _context
from kapflow.records import access
from kapflow.records.access_forms import ACT_WITHIN_DAYS
from kapflow.records.access_views import download
from kapflow.records.models import RecordCopy


@require_http_methods(["GET", "POST"])
@portal_view
def record(request, client_id):
    """GET: the page. POST (the client alone): the copy in the format asked for, as a download."""
    if request.method == "POST":
        client = portal_client_for(
            request, client_id, action="kapflow.portal.record.requested", need=PortalNeed.OWN
        )
        format = request.POST.get("format", "")
        if format in RecordCopy.Format.values:
            try:
                copy, content = access.record_copy_give(
                    request=request,
                    client=client,
                    format=format,
                    channel=RecordCopy.Channel.PORTAL,
                    method=Disclosure.Method.PORTAL,
                )
            except ValidationError:
                pass
            else:
                return download(copy, content)
        return _page(request, client, problem="Choose one of the two buttons below.", status=400)
    client = portal_client_for(request, client_id, action="kapflow.portal.record.viewed")
    return _page(request, client)


def _page(request, client, *, problem: str = "", status: int = 200):
    return render(
        request,
        "portal/record.html",
        _context(
            request,
            client,
            nav="home",
            problem=problem,
            formats=RecordCopy.Format,
            act_within_days=ACT_WITHIN_DAYS,
        ),
        status=status,
    )
