from django.conf import settings
from django.db import models
from django.utils import timezone

from kapflow.clients.models import ContactMethod


class InquiryQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=[Inquiry.Status.NEW, Inquiry.Status.CONTACTED])


class Inquiry(models.Model):
    """A message from someone who is not yet a client, sent from the public page."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        CONVERTED = "converted", "Became a client"
        DECLINED = "declined", "Declined"

    class Source(models.TextChoices):
        SEARCH = "search", "Searching online"
        REFERRAL_PROVIDER = "provider", "My therapist or doctor"
        REFERRAL_FRIEND = "friend", "A friend or family member"
        DIRECTORY = "directory", "A therapist directory"
        OTHER = "other", "Somewhere else"

    class ContactTime(models.TextChoices):
        ANY = "any", "Any time"
        MORNING = "morning", "Mornings"
        AFTERNOON = "afternoon", "Afternoons"
        EVENING = "evening", "Evenings"

    first_name = models.CharField("first name", max_length=80)
    last_name = models.CharField("last name", max_length=80)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    preferred_contact = models.CharField(
        "how should we contact you?", max_length=10, choices=ContactMethod, default=ContactMethod.PHONE
    )
    preferred_time = models.CharField(
        "when is a good time?", max_length=10, choices=ContactTime, default=ContactTime.ANY
    )
    message = models.TextField("what brings you to reach out?", max_length=4000)
    source = models.CharField("how did you hear about us?", max_length=20, choices=Source, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    status = models.CharField(max_length=10, choices=Status, default=Status.NEW)
    triage_note = models.TextField("triage notes", blank=True)
    declined_reason = models.TextField("reason for declining", blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    client = models.OneToOneField(
        "clients.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="inquiry"
    )

    objects = InquiryQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [
            # The inbox: open inquiries, newest first.
            models.Index(fields=["status", "-received_at"], name="inquiry_inbox_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="converted") | models.Q(client__isnull=False),
                name="inquiry_converted_has_client",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="declined") | ~models.Q(declined_reason=""),
                name="inquiry_declined_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.NEW, self.Status.CONTACTED)
