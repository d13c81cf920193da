from django.conf import settings
from django.db import models
from django.utils import timezone


class ReminderQuerySet(models.QuerySet):
    def for_admin(self):
        """The admin page's rows: with the recipient and the client (for initials)."""
        return self.select_related("recipient", "client")


class Reminder(models.Model):
    """One email inviting one person to open the portal (or kapflow, for staff), created by the
    sweep when its moment comes (an urgent alert's, the moment the alert is raised) and sent by
    the worker.

    `key` names what the reminder is about ("appointment:<visit>:<start>", "alert:<alert>", …);
    with the recipient it is unique, so a sweep that runs twice, or two sweeps at once, never
    create (and so never send) the same reminder twice."""

    class Kind(models.TextChoices):
        URGENT = "urgent", "Urgent alert (clinician)"
        APPOINTMENT = "appointment", "Appointment"
        DAYOF = "dayof", "Day-before instructions"
        JOURNAL = "journal", "Journal prompt"
        MEASURE = "measure", "Questionnaire due"
        CLEARANCE = "clearance", "Clearance expiring (prescriber)"
        # Something in a medication session a prescriber must hear of now (kapflow.dosing.alerts).
        SESSION_ALERT = "session_alert", "Session alert (prescriber)"
        # A maintenance session comes due and none is booked (kapflow.course.maintenance).
        MAINTENANCE = "maintenance", "Maintenance session due"
        # An inventory, a loss report's notice or form, or a REMS monitoring form coming due
        # (kapflow.controlled): for the DEA registrant and the practice admins.
        CONTROLLED = "controlled", "Controlled-substance record due (registrant)"
        # A statement or a Good Faith Estimate is ready on the portal (kapflow.billing): the email
        # says only that, never a code, a diagnosis or an amount.
        STATEMENT = "statement", "Statement or estimate ready"
        # A self-pay client's Good Faith Estimate is due and could not be given (kapflow.billing):
        # for the coordinators and the practice admins.
        ESTIMATE_DUE = "estimate_due", "Good Faith Estimate due (coordinator)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        # Its reason passed before it could go (the visit was cancelled or moved, the form
        # answered, the clearance renewed): nothing was sent and nothing needs sending.
        NOT_NEEDED = "not_needed", "Not needed"

    key = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The address at the time of creating: the email goes where the account pointed then.
    address = models.EmailField()
    # Whom the reminder is about, for the audit trail (none for a reminder about no one client).
    client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    due_at = models.DateTimeField("due")
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = ReminderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["key", "recipient"], name="reminder_once_per_key_and_person"),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False),
                name="reminder_sent_has_time",
            ),
        ]
        indexes = [
            # The admin page: counts by status and the newest rows of each status.
            models.Index(fields=["status", "-created_at"], name="reminder_status_idx"),
            # Its newest rows of every status ("All"), without sorting every reminder.
            models.Index(fields=["-created_at", "-id"], name="reminder_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.address} ({self.get_status_display().lower()})"

    # What the practice admin's page calls each kind. The admin sees the schedule but not
    # measures, the journal or clearances (docs/access.md), and the page names
    # the recipient, who for a portal reminder is the client: "Questionnaire due" beside a
    # client's name would tell the admin what they may not know.
    ADMIN_LABELS = {
        Kind.APPOINTMENT: "Appointment",
        Kind.DAYOF: "Day-before instructions",
        Kind.JOURNAL: "Portal notice",
        Kind.MEASURE: "Portal notice",
        Kind.CLEARANCE: "Staff notice",
        Kind.URGENT: "Staff notice",
        Kind.SESSION_ALERT: "Staff notice",
        Kind.MAINTENANCE: "Portal notice",
        Kind.STATEMENT: "Portal notice",
        Kind.ESTIMATE_DUE: "Staff notice",
    }

    @property
    def admin_label(self) -> str:
        return self.ADMIN_LABELS.get(self.kind, "Notice")


class SweepMark(models.Model):
    """When the sweep last ran: the journal source asks for the prompts that fell since then.
    One row per sweep name, updated in place (a row per run would grow without end)."""

    name = models.CharField(max_length=40, unique=True)
    ran_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.ran_at:%Y-%m-%d %H:%M}"
