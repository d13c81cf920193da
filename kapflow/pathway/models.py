from django.conf import settings
from django.db import models
from django.utils import timezone


class Consultation(models.Model):
    """The first conversation (seed 001): why KAP, history, previous treatment, supports,
    expectations and goals, and the decision whether to go on to screening. Saved once and
    signed by saving; a later view of things is a new consultation, never an edit."""

    class Decision(models.TextChoices):
        PROCEED = "proceed", "Go on to screening"
        NOT_A_FIT = "not_a_fit", "Not a fit for KAP"
        DEFER = "defer", "Defer the decision"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="consultations")
    held_on = models.DateField("held on", default=timezone.localdate)
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    why_kap = models.TextField("why KAP, and why now")
    history = models.TextField("what they have been experiencing; history")
    previous_treatment = models.TextField("previous treatment")
    supports = models.TextField("current supports")
    expectations = models.TextField("expectations and hopes")
    goals = models.TextField("goals for the work")
    note = models.TextField("clinician's note", blank=True)
    decision = models.CharField(max_length=10, choices=Decision)
    decision_reason = models.TextField("reason", blank=True)
    referral_note = models.TextField("referral", blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-held_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decision="proceed") | ~models.Q(decision_reason=""),
                name="consultation_reason_unless_proceeding",
            )
        ]

    def __str__(self) -> str:
        return f"Consultation on {self.held_on:%Y-%m-%d}: {self.get_decision_display()}"


class Topic(models.TextChoices):
    """The preparation topics of seed 001, covered over one or more sessions."""

    AWARENESS = "awareness", "How the medicine may affect awareness and perception"
    FEELING = "feeling", "What a session may feel like"
    FEARS = "fears", "Fears or concerns about altered states"
    EXPECTATIONS = "expectations", "Expectations and common misconceptions"
    INTENTIONS = "intentions", "Their intentions for the work"
    SUPPORT = "support", "How the therapist will support them"
    DAY_OF = "day_of", "Practical instructions for the day"
    DIFFICULT = "difficult", "What happens if difficult material arises"
    INTEGRATION = "integration", "Plans for integration afterward"


class PreparationSession(models.Model):
    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="preparation_sessions"
    )
    held_on = models.DateField("held on", default=timezone.localdate)
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # May be empty: a session can be all intentions or a note (PreparationForm asks for one of them).
    topics = models.JSONField("topics covered", default=list, blank=True)
    intentions = models.TextField("intentions, in the client's own words", blank=True)
    day_of_instructions_given = models.BooleanField("day-of instructions given", default=False)
    note = models.TextField(blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-held_on", "-pk"]

    def __str__(self) -> str:
        return f"Preparation on {self.held_on:%Y-%m-%d}"


class CoursePlanQuerySet(models.QuerySet):
    def current(self):
        """Each client's plan in force: the latest version (a superseded one is kept)."""
        return self.filter(superseded_at__isnull=True)


class CoursePlan(models.Model):
    """The plan for a course of medication sessions: its goals, how many, how often, where.

    Versioned (docs/course.md): a course review that extends the course or moves the client to
    maintenance, and a second course, each write a new version and supersede the one in force,
    which is kept as it was. Sessions count towards the plan from `counts_from` (an extension
    keeps its course's; a new course or a maintenance plan starts its own)."""

    class Kind(models.TextChoices):
        COURSE = "course", "Course"
        MAINTENANCE = "maintenance", "Maintenance"

    class Cadence(models.TextChoices):
        TWICE_WEEKLY = "twice_weekly", "About twice a week"
        WEEKLY = "weekly", "Weekly"
        FORTNIGHTLY = "fortnightly", "Every two weeks"
        CUSTOM = "custom", "Custom"

    class Modality(models.TextChoices):
        IN_PERSON = "in_person", "In person"
        VIRTUAL = "virtual", "Virtual (telehealth)"
        MIXED = "mixed", "Some in person, some virtual"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="course_plans")
    kind = models.CharField(max_length=12, choices=Kind, default=Kind.COURSE)
    course_number = models.PositiveSmallIntegerField("course", default=1)
    goals = models.TextField("goals of the course")
    planned_sessions = models.PositiveSmallIntegerField("medication sessions planned")
    cadence = models.CharField(max_length=20, choices=Cadence, default=Cadence.FORTNIGHTLY)
    cadence_note = models.CharField("custom cadence", max_length=200, blank=True)
    # Maintenance: a session every so many weeks (the reminders say when one is due).
    maintenance_weeks = models.PositiveSmallIntegerField(
        "a maintenance session every (weeks)", null=True, blank=True
    )
    modality = models.CharField(
        "where sessions happen", max_length=10, choices=Modality, default=Modality.IN_PERSON
    )
    integration_after_each = models.BooleanField("an integration session after each", default=True)
    review_after = models.CharField(
        "progress reviews after sessions", max_length=60, blank=True, help_text="Session numbers, e.g. 3, 6."
    )
    # Medication sessions that start at or after this count towards the plan; empty: all of the
    # client's (the first course).
    counts_from = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    superseded_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The discharge that ended the course.
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = CoursePlanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(planned_sessions__gte=1), name="plan_at_least_one_session"
            ),
            models.CheckConstraint(
                condition=~models.Q(cadence="custom") | ~models.Q(cadence_note=""),
                name="plan_custom_cadence_described",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="course") | models.Q(maintenance_weeks__gte=1),
                name="plan_maintenance_has_interval",
            ),
            models.UniqueConstraint(
                fields=["client"], condition=models.Q(superseded_at__isnull=True), name="one_plan_in_force"
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.MAINTENANCE:
            return f"Maintenance, a session every {self.maintenance_weeks} weeks"
        sessions = "session" if self.planned_sessions == 1 else "sessions"
        return f"{self.planned_sessions} {sessions}, {self.cadence_words}"

    @property
    def cadence_words(self) -> str:
        """How often, as "Session 4 of 8 (fortnightly)" says it."""
        if self.kind == self.Kind.MAINTENANCE:
            return f"every {self.maintenance_weeks} weeks"
        if self.cadence == self.Cadence.CUSTOM:
            return self.cadence_note
        return {
            self.Cadence.TWICE_WEEKLY: "twice weekly",
            self.Cadence.WEEKLY: "weekly",
            self.Cadence.FORTNIGHTLY: "fortnightly",
        }[self.cadence]

    @property
    def has_virtual_sessions(self) -> bool:
        return self.modality in (self.Modality.VIRTUAL, self.Modality.MIXED)

    @property
    def review_points(self) -> list[int]:
        return sorted({int(part) for part in self.review_after.replace(",", " ").split() if part.isdecimal()})


class GateOverride(models.Model):
    """A prescriber's written decision to let a medical gate pass although its check fails."""

    class Gate(models.TextChoices):
        SCREENING = "screening", "Contraindication screening"
        CLEARANCE = "clearance", "Medical clearance"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="gate_overrides")
    gate = models.CharField(max_length=20, choices=Gate)
    prescriber = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "gate"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="one_active_override",
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="override_has_reason"),
        ]

    def __str__(self) -> str:
        return f"Override of {self.get_gate_display()}"
