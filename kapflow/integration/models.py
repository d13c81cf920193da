import datetime
import math

from django.conf import settings
from django.db import models
from django.utils import timezone


def late_words(late_by: datetime.timedelta) -> str:
    """How late, as the pages say it: whole hours (counted up) under a day, else the nearest
    whole number of days ("5 hours", "1 day", "3 days")."""
    if late_by < datetime.timedelta(days=1):
        hours = max(1, math.ceil(late_by / datetime.timedelta(hours=1)))
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days = math.floor(late_by / datetime.timedelta(days=1) + 0.5)
    return f"{days} day{'s' if days != 1 else ''}"


class IntegrationRecord(models.Model):
    """What came up after a medication session (seed 002): themes, emotions, images or memories,
    parts, what feels like lasting insight and what was passing intensity. Saved once and signed
    by saving; a later thought is a new record, never an edit."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="integration_records")
    follows = models.ForeignKey(
        "visits.Visit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="integration_records",
        verbose_name="the medication session it follows",
    )
    visit = models.ForeignKey(
        "visits.Visit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="the integration session it was written in",
    )
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The client's intention for the session it follows (kapflow.notes.SessionIntention), copied
    # when the record is saved: the integration starts from what the client hoped for.
    intention = models.TextField("the client's intention for the session", blank=True)
    themes = models.TextField(blank=True)
    emotions = models.TextField(blank=True)
    images_memories = models.TextField("images or memories", blank=True)
    parts = models.TextField(blank=True)
    lasting_insight = models.TextField("what feels like lasting insight", blank=True)
    passing_intensity = models.TextField("what feels like passing intensity", blank=True)
    note = models.TextField("clinician's note", blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    # How long after the integration window closed (the practice's window when the record was
    # saved) the integration this record answers for was done: set once, when it is saved
    # (kapflow.integration.services.record_save), and never recomputed, so that a later change
    # to the practice's window does not rewrite what the record says. Empty when in time, when
    # the session's integration was already done, or when the record answers for no session.
    late_by = models.DurationField(
        "late by", null=True, blank=True, editable=False, help_text="After the integration window closed."
    )

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        indexes = [
            # The client's integration page and the window check: a client's records by time.
            models.Index(fields=["client", "recorded_at"], name="integration_client_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(late_by__isnull=True) | models.Q(late_by__gt=datetime.timedelta(0)),
                name="integration_record_late_by_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Integration record of {timezone.localtime(self.recorded_at):%Y-%m-%d}"

    @property
    def late_label(self) -> str:
        """ "completed late (3 days)", or "" when it was in time."""
        return f"completed late ({late_words(self.late_by)})" if self.late_by else ""


class ActionItem(models.Model):
    """A practical change to carry forward from an integration record, whose status is reviewed
    at later sessions. Each status change is an audit row (kapflow.integration.services)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        LET_GO = "let_go", "Let go"

    STILL_OPEN = (Status.OPEN, Status.IN_PROGRESS)

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="action_items")
    record = models.ForeignKey(IntegrationRecord, on_delete=models.PROTECT, related_name="action_items")
    text = models.CharField(max_length=300)
    status = models.CharField(max_length=12, choices=Status, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "in_progress", "done", "let_go"]),
                name="action_item_status_known",
            ),
            models.CheckConstraint(condition=~models.Q(text=""), name="action_item_has_text"),
        ]
        indexes = [
            # The open items of a client (integration page) or of a caseload (dashboard).
            models.Index(fields=["client", "status"], name="action_item_client_status_idx"),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def is_open(self) -> bool:
        return self.status in self.STILL_OPEN
