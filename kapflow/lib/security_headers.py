"""The response headers that keep a browser from doing more than kapflow asks of it.

- Content-Security-Policy: scripts and styles from our own origin only, no inline script or
  style, no plugins, no framing, forms posting only to ourselves. An injected <script> or
  onerror= that escaped the templates' escaping would not run. Images may also be data: URIs,
  which the authenticator QR code of allauth's MFA page is.
- Permissions-Policy: no camera, microphone, location, payment, USB and the like; kapflow uses
  none of them, so a script that got in could not either.
- Cache-Control: no-store on every response to a signed-in person, so that a chart or a report
  is not kept on a shared computer's disk or shown again by the Back button after signing out.

Applied in DEBUG too, so the tests and the demo run under the same rules as a practice. Static
files never reach this middleware: WhiteNoise answers them earlier in MIDDLEWARE, with their own
long-lived caching."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in [
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    ]
)


def security_headers(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        # A view that needs a different policy sets its own; none does today.
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response

    return middleware
