import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from kapflow.lib.kept import KeptByDatabase


class Room(models.Model):
    """A room where in-person visits happen. Retired rooms stay for the visits already held in
    them but are no longer offered for booking."""

    name = models.CharField(max_length=80, unique=True)
    active = models.BooleanField(default=True)
    # Intranasal esketamine is given only in a healthcare setting certified under the Spravato
    # REMS (kapflow.medical.routes): the practice marks which rooms are.
    rems_certified = models.BooleanField(
        "certified under the Spravato REMS",
        default=False,
        help_text="Tick only if this setting is certified under the Spravato (esketamine) REMS: intranasal "
        "esketamine is given only in a certified room.",
    )
    rems_setting_id = models.CharField(
        "REMS setting ID",
        max_length=40,
        blank=True,
        help_text="The healthcare setting's ID in the Spravato REMS, from its certification. A room marked "
        "certified without it is not treated as certified.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VisitQuerySet(models.QuerySet):
    def live(self):
        """Visits that still hold their time: everything but cancelled ones (Visit.holds_time,
        of a visit in hand)."""
        return self.exclude(status=Visit.Status.CANCELLED)

    def overlapping(self, starts_at: datetime.datetime, ends_at: datetime.datetime):
        """Visits that share any minute with [starts_at, ends_at): touching ends do not clash."""
        return self.filter(starts_at__lt=ends_at, ends_at__gt=starts_at)

    def for_calendar(self):
        return self.select_related("client", "clinician", "room").prefetch_related("other_clinicians")


# The longest visit that can be booked: the look-back of every range query on visits
# (kapflow.visits.calendar.in_range), so that one reaching into a range is found.
LONGEST_VISIT = datetime.timedelta(hours=12)


class Visit(KeptByDatabase):
    """One appointment of any kind along the pathway, with its clinicians, where it happens and
    how far it has got."""

    class Kind(models.TextChoices):
        DISCOVERY_CALL = "discovery_call", "Discovery call"
        CONSULTATION = "consultation", "Consultation"
        MEDICAL_EVALUATION = "medical_evaluation", "Medical evaluation"
        PREPARATION = "preparation", "Preparation session"
        MEDICATION = "medication", "Medication session"
        INTEGRATION = "integration", "Integration session"
        THERAPY = "therapy", "Therapy session"
        PROGRESS_REVIEW = "progress_review", "Progress review"

    class Modality(models.TextChoices):
        IN_PERSON = "in_person", "In person"
        VIRTUAL = "virtual", "Virtual (video)"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        CHECKED_IN = "checked_in", "Checked in"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="visits")
    kind = models.CharField(max_length=20, choices=Kind)
    starts_at = models.DateTimeField("starts at")
    ends_at = models.DateTimeField("ends at")
    modality = models.CharField(max_length=10, choices=Modality, default=Modality.IN_PERSON)
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.PROTECT, related_name="visits")
    video_link = models.URLField("video link", max_length=500, blank=True)
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visits", verbose_name="clinician"
    )
    other_clinicians = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="joined_visits", verbose_name="other clinicians"
    )
    status = models.CharField(max_length=12, choices=Status, default=Status.SCHEDULED)
    cancel_reason = models.TextField("reason for cancelling", blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    # Whether a charge has been written for the visit: set by the database as the charge is
    # written (kapflow.billing.db), never by code. The billing page's "completed visits not
    # charged" reads the few completed visits without one through the index below.
    charged = models.BooleanField(default=False, editable=False)

    objects = VisitQuerySet.as_manager()
    kept_by_database = ("charged",)

    class Meta:
        ordering = ["starts_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="visit_ends_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(modality="in_person", room__isnull=False)
                | models.Q(modality="virtual", room__isnull=True),
                name="visit_room_only_in_person",
            ),
            models.CheckConstraint(
                condition=models.Q(modality="virtual") | models.Q(video_link=""),
                name="visit_video_link_only_virtual",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | ~models.Q(cancel_reason=""),
                name="visit_cancel_has_reason",
            ),
        ]
        indexes = [
            # The calendars and the clash check: a clinician's visits in a time range.
            models.Index(fields=["clinician", "starts_at"], name="visit_clinician_start_idx"),
            # The client's visits list and the client clash check.
            models.Index(fields=["client", "starts_at"], name="visit_client_start_idx"),
            # A clinician's visits in a status: the few still open that have begun, whose notes
            # are owed (kapflow.notes.owed), found without walking the clinician's history.
            models.Index(fields=["clinician", "status", "starts_at"], name="visit_clinician_status_idx"),
            # A client's visits of one kind by start: the latest medication session held and the
            # next booked, asked for each maintenance plan of a caseload (kapflow.course.
            # maintenance), and a course's sessions (kapflow.pathway.course.position), without
            # walking past the client's other kinds of visit.
            models.Index(fields=["client", "kind", "starts_at"], name="visit_client_kind_start_idx"),
            # The room clash check.
            models.Index(fields=["room", "starts_at"], name="visit_room_start_idx"),
            # The practice calendar: every visit in a time range.
            models.Index(fields=["starts_at"], name="visit_start_idx"),
            # The billing page: completed visits with no charge, of the kinds the schedule bills
            # (kapflow.billing.accounts). Not a partial index: PostgreSQL estimates a partial
            # index's rows from the whole table's statistics (every completed visit), and reads
            # the table instead. With the statistics migration 0004 adds, it knows how few match.
            models.Index(fields=["charged", "status", "kind", "starts_at"], name="visit_uncharged_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {timezone.localtime(self.starts_at):%Y-%m-%d %H:%M}"

    def clean(self):
        # Every range query (calendars, the clash check, today's visits) looks back LONGEST_VISIT
        # for visits reaching into the range: a longer one would slip past the clash check. The
        # booking and moving services call full_clean, so this holds below the forms too.
        super().clean()
        if self.starts_at and self.ends_at and self.ends_at - self.starts_at > LONGEST_VISIT:
            raise ValidationError(
                {"ends_at": f"A visit can be at most {LONGEST_VISIT.seconds // 3600} hours long."}
            )

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    @property
    def holds_time(self) -> bool:
        """As VisitQuerySet.live(), of this visit: everything but a cancelled one."""
        return self.status != self.Status.CANCELLED

    @property
    def is_virtual(self) -> bool:
        return self.modality == self.Modality.VIRTUAL

    @property
    def is_medication(self) -> bool:
        return self.kind == self.Kind.MEDICATION

    @property
    def place(self) -> str:
        """Where it happens, as the calendars and the feed say it."""
        return self.room.name if self.room_id else "Video"


# How long each kind of visit usually runs, in minutes: the booking form's default. A medication
# session is about 2–2.5 h (seed 002: 15–30 min reflection, about 45 min medicine, about 45 min
# integration); the others are an ordinary clinical hour.
DEFAULT_MINUTES = {
    Visit.Kind.DISCOVERY_CALL: 50,
    Visit.Kind.CONSULTATION: 60,
    Visit.Kind.MEDICAL_EVALUATION: 60,
    Visit.Kind.PREPARATION: 60,
    Visit.Kind.MEDICATION: 150,
    Visit.Kind.INTEGRATION: 60,
    Visit.Kind.THERAPY: 50,
    Visit.Kind.PROGRESS_REVIEW: 50,
}

# The kinds of visit whose record is a progress note (kapflow.notes): such a visit is completed by
# signing its note. A medication session's record is its runbook; a discovery call is not a
# clinical visit.
NOTED_KINDS = (
    Visit.Kind.CONSULTATION,
    Visit.Kind.MEDICAL_EVALUATION,
    Visit.Kind.PREPARATION,
    Visit.Kind.INTEGRATION,
    Visit.Kind.THERAPY,
    Visit.Kind.PROGRESS_REVIEW,
)

# Which status may follow which. A virtual visit may start without a check-in; only a visit
# that has not begun can be cancelled or marked a no-show.
TRANSITIONS = {
    Visit.Status.SCHEDULED: {
        Visit.Status.CHECKED_IN,
        Visit.Status.IN_PROGRESS,
        Visit.Status.CANCELLED,
        Visit.Status.NO_SHOW,
    },
    Visit.Status.CHECKED_IN: {Visit.Status.IN_PROGRESS, Visit.Status.CANCELLED},
    Visit.Status.IN_PROGRESS: {Visit.Status.COMPLETED},
    Visit.Status.COMPLETED: set(),
    Visit.Status.CANCELLED: set(),
    Visit.Status.NO_SHOW: set(),
}


class CalendarFeed(models.Model):
    """A clinician's private iCalendar feed: whoever holds the URL can read it, so it carries
    no clinical detail, and revoking it turns the URL off for good."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calendar_feeds"
    )
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(revoked_at__isnull=True), name="one_live_feed_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"
