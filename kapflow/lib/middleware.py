import ipaddress
import re
import uuid

from django.conf import settings

_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{8,64}$")


def client_ip(request) -> str | None:
    """The address the request came from. Behind our own TLS proxy that is the last address the
    proxy appended to X-Forwarded-For; anything earlier in that header was written by the client
    and proves nothing."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops and _is_address(hops[-1]):
            return hops[-1]
    return request.META.get("REMOTE_ADDR") or None


def _is_address(text: str) -> bool:
    """Our proxy only ever appends an address; anything else in the last hop was not written by
    it (the proxy was bypassed), and would not fit the address columns it is saved in."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def request_context(get_response):
    """Give every request an id (the proxy's, when it sends a well-formed one) and the caller's
    address, so that audit rows written during the request can be tied together."""

    def middleware(request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        if settings.BEHIND_PROXY and _REQUEST_ID.match(incoming):
            request.request_id = incoming
        else:
            request.request_id = uuid.uuid4().hex
        request.client_ip = client_ip(request)
        response = get_response(request)
        response["X-Request-ID"] = request.request_id
        return response

    return middleware
