"""Writes on integration. Each is atomic and writes its audit row in the same transaction."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.models import Client
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.integration.window import record_lateness
from kapflow.notes.intentions import latest_intention
from kapflow.practice.models import practice_for


@transaction.atomic
def record_save(*, request, client: Client, form) -> IntegrationRecord:
    """Save an integration record, signed by the clinician who saves it, with the action items
    typed into it (one per line), and how late it is (IntegrationRecord.late_by, by the
    practice's window now: set here once, since a saved record is never changed). Audited with
    which fields were filled, never their text."""
    record = form.save(commit=False)
    record.client = client
    record.clinician = request.user
    # What the client hoped for from the session it follows, as it stood when the record was
    # saved (docs/intentions.md): the record is never changed, so neither is this.
    intention = latest_intention(record.follows) if record.follows_id is not None else None
    record.intention = intention.text if intention is not None else ""
    record.late_by = record_lateness(record, practice=practice_for(request))
    record.full_clean()
    record.save()
    audit_record(
        request=request,
        action="kapflow.integration.record.recorded",
        client=client,
        obj=record,
        detail={
            "follows": record.follows_id,
            "late_by_minutes": round(record.late_by.total_seconds() / 60) if record.late_by else None,
            "with_intention": bool(record.intention),
            "filled": sorted(name for name in form.CONTENT if getattr(record, name).strip()),
        },
    )
    for text in form.cleaned_data.get("action_items", []):
        item = ActionItem(client=client, record=record, text=text)
        item.full_clean()
        item.save()
        audit_record(request=request, action="kapflow.integration.action_item.added", client=client, obj=item)
    return record


@transaction.atomic
def action_item_review(*, request, item: ActionItem, status: str) -> ActionItem:
    """Review an action item at a later session: set its status (the same status again records
    that it was reviewed and still stands). The audit row keeps the status it moved from and to,
    which is the item's history."""
    item = ActionItem.objects.select_for_update(no_key=True).get(pk=item.pk)
    if status not in ActionItem.Status.values:
        raise ValidationError(f"Unknown status: {status!r}.")
    before = item.status
    item.status = status
    item.reviewed_at = timezone.now()
    item.full_clean()
    item.save(update_fields=["status", "reviewed_at"])
    audit_record(
        request=request,
        action=f"kapflow.integration.action_item.{'status_changed' if before != status else 'reviewed'}",
        client=item.client,
        obj=item,
        detail={"from": before, "to": status},
    )
    return item
