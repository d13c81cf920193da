from django.conf import settings
from django.db import models
from django.utils import timezone

from kapflow.measures import instruments


class Response(models.Model):
    """One completed instrument: every item's answer, and the score they make."""

    class Context(models.TextChoices):
        BASELINE = "baseline", "Baseline"
        PRE_SESSION = "pre_session", "Before a medication session"
        WEEKLY = "weekly", "Weekly during the course"
        REVIEW = "review", "Progress review"
        DISCHARGE = "discharge", "Discharge"
        OTHER = "other", "Other"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="responses")
    instrument = models.CharField(
        max_length=20, choices=[(i.key, i.name) for i in instruments.INSTRUMENTS.values()]
    )
    version = models.CharField(max_length=10)
    answers = models.JSONField(help_text="Every item's answer, by item key.")
    total = models.PositiveSmallIntegerField()
    band = models.CharField(max_length=80)
    context = models.CharField(max_length=20, choices=Context, default=Context.OTHER)
    completed_at = models.DateTimeField(default=timezone.now)
    # Staff who entered the answers on the client's behalf; empty when the client answered.
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The staff form's own key (kapflow.lib.forms.SentOnce): the same form sent twice is one
    # response, one alert and one email. Empty for the client's own answers, which answer a task.
    entry_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-completed_at", "-pk"]
        indexes = [
            # A client's results for one instrument over time (progress, baseline, latest).
            models.Index(fields=["client", "instrument", "completed_at"], name="response_series_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_instrument_display()} {self.total} on {self.completed_at:%Y-%m-%d}"

    @property
    def definition(self) -> instruments.Instrument:
        return instruments.INSTRUMENTS[self.instrument]


class AlertQuerySet(models.QuerySet):
    def open(self):
        return self.filter(closed_at__isnull=True)


class Alert(models.Model):
    """Something that needs a clinician the same day, open until a follow-up is written."""

    class Kind(models.TextChoices):
        SUICIDALITY = "suicidality", "Thoughts of death or self-harm reported (PHQ-9 item 9)"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind)
    response = models.ForeignKey(
        Response, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    raised_at = models.DateTimeField(default=timezone.now)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    follow_up = models.TextField("follow-up", blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-pk"]
        indexes = [
            # A clinician's open alerts, for the dashboard.
            models.Index(fields=["assigned_to", "closed_at"], name="alert_inbox_idx"),
            # A client's open alerts, for the chart and the banner.
            models.Index(fields=["client", "closed_at"], name="alert_client_idx"),
            # The open alerts in the order they were raised: the dashboard reads the first few
            # of a clinician's from here, however many alerts the practice has closed.
            models.Index(
                fields=["raised_at"], condition=models.Q(closed_at__isnull=True), name="alert_open_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closed_at__isnull=True) | ~models.Q(follow_up=""),
                name="alert_closed_with_follow_up",
            )
        ]

    def __str__(self) -> str:
        return self.get_kind_display()


class MeasureTask(models.Model):
    """A measure the client is asked to complete on the portal: at baseline, before a medication
    session, weekly during a course, at review and at discharge (docs/clinical.md). Done when a
    response is attached; withdrawn (never deleted) when no longer wanted."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="measure_tasks")
    instrument = models.CharField(
        max_length=20, choices=[(i.key, i.name) for i in instruments.INSTRUMENTS.values()]
    )
    reason = models.CharField(max_length=20, choices=Response.Context)
    # The medication session a pre-session measure is for.
    visit = models.ForeignKey(
        "visits.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="measure_tasks"
    )
    due_at = models.DateTimeField("due")
    created_at = models.DateTimeField(default=timezone.now)
    response = models.OneToOneField(
        Response, null=True, blank=True, on_delete=models.PROTECT, related_name="task"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [models.Index(fields=["client", "due_at"], name="measure_task_client_idx")]
        # The schedule (kapflow.measures.schedule) locks the client while it decides, so these
        # only back it up: never two live tasks for one instrument of one visit, never two
        # baselines of one instrument.
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "instrument"],
                condition=models.Q(visit__isnull=False, withdrawn_at__isnull=True),
                name="measure_task_once_per_visit",
            ),
            models.UniqueConstraint(
                fields=["client", "instrument"],
                condition=models.Q(reason="baseline", withdrawn_at__isnull=True),
                name="measure_task_one_baseline",
            ),
        ]

    def __str__(self) -> str:
        reason = self.get_reason_display().lower()
        return f"{self.get_instrument_display()} ({reason}), due {self.due_at:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.response_id is None and self.withdrawn_at is None
