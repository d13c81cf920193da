"""/healthz, for a load balancer or an uptime monitor (docs/health.md).

Open to anyone, signed in or not: it answers from the checks alone, never reads the person or
the session, sets no cookie and names nothing of the practice's clients, so it is not audited.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from kapflow.ops.health import FAIL, health_report


# csrf_exempt so that a POST is answered 405 by require_safe rather than 403 by the CSRF check.
@csrf_exempt
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when ok or degraded (this node can serve pages), 503 when it cannot."""
    report = health_report()
    return JsonResponse(report.as_json(), status=503 if report.status == FAIL else 200)
