from django.db import models

from kapflow.audit.models import AuditEvent

ACTION_PREFIX = "kapflow."


def audit_record(
    *,
    request=None,
    actor=None,
    action: str,
    client=None,
    obj: models.Model | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    """Write one audit row. Call it inside the same transaction as the change it records, so
    that the change and its row are saved or lost together.

    `action` is a namespaced code, `kapflow.<app>.<object>.<verb>` (e.g.
    `kapflow.clients.client.viewed`). `actor` defaults to the request's user."""
    if not action.startswith(ACTION_PREFIX):
        raise ValueError(f"audit action codes start with {ACTION_PREFIX!r}: {action!r}")
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    # Its place in the hash chain is filled in as it is saved (AuditEvent.save).
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.email if actor is not None else "",
        action=action,
        client=client,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        ip_address=getattr(request, "client_ip", None),
        request_id=getattr(request, "request_id", ""),
        detail=detail or {},
    )


def changed_fields(form) -> dict:
    """The detail for an edit: which fields changed, never their values."""
    return {"changed": sorted(form.changed_data)}
