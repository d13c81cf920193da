"""Denied requests for client data are audited (issue 11, item 8).

A 403 or 404 answered on a client URL (one whose resolved arguments name a `client_id`), or one
where a scoping helper refused the client asked for (kapflow.clients.access, kapflow.portal.access:
they note the id on the request), writes `kapflow.audit.access.denied` with the person, the path,
the status and the client asked for: the client itself when it exists, and always its id in the
detail (a probe for ids that do not exist is worth seeing too).

It is written here, after the view has returned, in a transaction of its own: whatever the view
rolled back on its way to the 404, this row stays."""

from collections.abc import Callable

from django.apps import apps
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from kapflow.audit.services import audit_record

DENIED = (403, 404)
# The attribute the scoping helpers set on the request when they refuse a client.
REFUSED_ATTR = "_kapflow_refused_client"


def note_refused(request, client_id) -> None:
    """Called by a scoping helper as it refuses `client_id`."""
    if request is not None:
        setattr(request, REFUSED_ATTR, client_id)


def _requested_client_id(request: HttpRequest):
    if hasattr(request, REFUSED_ATTR):
        return getattr(request, REFUSED_ATTR)
    match = getattr(request, "resolver_match", None)
    if match is not None and "client_id" in match.kwargs:
        return match.kwargs["client_id"]
    return None


def _existing_client(client_id):
    Client = apps.get_model("clients", "Client")
    try:
        return Client.objects.filter(pk=int(client_id)).first()
    except (TypeError, ValueError, OverflowError):
        return None


def audit_denied(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if response.status_code in DENIED:
            client_id = _requested_client_id(request)
            if client_id is not None:
                with transaction.atomic():
                    audit_record(
                        request=request,
                        action="kapflow.audit.access.denied",
                        client=_existing_client(client_id),
                        detail={
                            "path": request.path[:500],
                            "method": request.method,
                            "status": response.status_code,
                            "client_id": str(client_id)[:40],
                        },
                    )
        return response

    return middleware
