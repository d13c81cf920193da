from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEventQuerySet(models.QuerySet):
    def for_review(self):
        return self.select_related("actor", "client").order_by("-at", "-pk")


class AuditEvent(models.Model):
    """One read or write of client data, or one change to who may see it.

    Rows are only ever inserted: database triggers (see `kapflow.audit.db`) refuse UPDATE and
    DELETE on this table, whoever asks. Values that were changed are not copied here, only the
    names of the fields, so the log does not become a second copy of the record."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The actor's email at the time: a later change of address must not rewrite history.
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=100)
    client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        indexes = [
            # The audit page's default listing, newest first.
            models.Index(fields=["-at"], name="audit_at_idx"),
            # "Everything that happened to this client", newest first.
            models.Index(fields=["client", "-at"], name="audit_client_at_idx"),
            # "Everything this person did", newest first.
            models.Index(fields=["actor", "-at"], name="audit_actor_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label or 'system'} {self.action}"
