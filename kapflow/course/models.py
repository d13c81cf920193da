"""The life of a course after its plan (docs/course.md): the course reviews that decide whether
it goes on, and the discharge that ends it.

A review is written by a clinician, then signed by the therapist and by the prescriber; its
decision takes effect with the second signature (a new plan version for an extension or for
maintenance). A discharge is written as a draft and signed; signing sets the client's stage,
closes their open measure schedules and freezes the summary drawn from the course's data. Both
are locked at the database once signed (kapflow/audit/immutable.py)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class CourseReview(models.Model):
    class Decision(models.TextChoices):
        CONTINUE = "continue", "Continue the course as planned"
        EXTEND = "extend", "Extend the course"
        MAINTENANCE = "maintenance", "Move to maintenance"
        END = "end", "End the course (discharge)"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="course_reviews")
    plan = models.ForeignKey(
        "pathway.CoursePlan",
        on_delete=models.PROTECT,
        related_name="reviews",
        verbose_name="the plan reviewed",
    )
    # The progress-review visit it was held in, if any.
    visit = models.ForeignKey(
        "visits.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    held_on = models.DateField("held on", default=timezone.localdate)
    # What the reviewers saw, frozen when the review is written: sessions held of those planned,
    # adverse events, and the measures from baseline to now (kapflow.course.facts).
    facts = models.JSONField(default=dict, blank=True)
    summary = models.TextField("progress, in the reviewers' words")
    decision = models.CharField(max_length=12, choices=Decision)
    extend_to = models.PositiveSmallIntegerField(
        "medication sessions in the course, in all", null=True, blank=True
    )
    maintenance_weeks = models.PositiveSmallIntegerField("a session every (weeks)", null=True, blank=True)
    maintenance_sessions = models.PositiveSmallIntegerField(
        "maintenance sessions before the next review", null=True, blank=True
    )
    written_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField(default=timezone.now)
    therapist_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    therapist_signed_at = models.DateTimeField(null=True, blank=True)
    prescriber_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    prescriber_signed_at = models.DateTimeField(null=True, blank=True)
    # Both signed: the decision took effect, and the plan version it wrote, if it wrote one.
    decided_at = models.DateTimeField(null=True, blank=True)
    new_plan = models.ForeignKey(
        "pathway.CoursePlan", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-held_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(decision="extend") | models.Q(extend_to__gte=1),
                name="review_extend_has_count",
            ),
            models.CheckConstraint(
                condition=~models.Q(decision="maintenance")
                | models.Q(maintenance_weeks__gte=1, maintenance_sessions__gte=1),
                name="review_maintenance_has_cadence",
            ),
            models.CheckConstraint(
                condition=models.Q(therapist_signed_at__isnull=True, therapist_signed_by__isnull=True)
                | models.Q(therapist_signed_at__isnull=False, therapist_signed_by__isnull=False),
                name="review_therapist_signature_whole",
            ),
            models.CheckConstraint(
                condition=models.Q(prescriber_signed_at__isnull=True, prescriber_signed_by__isnull=True)
                | models.Q(prescriber_signed_at__isnull=False, prescriber_signed_by__isnull=False),
                name="review_prescriber_signature_whole",
            ),
            models.CheckConstraint(
                condition=models.Q(decided_at__isnull=True)
                | models.Q(therapist_signed_at__isnull=False, prescriber_signed_at__isnull=False),
                name="review_decided_when_both_signed",
            ),
            # One review waiting for its signatures per client at a time: a second would race
            # the first to change the plan.
            models.UniqueConstraint(
                fields=["client"], condition=models.Q(decided_at__isnull=True), name="one_open_review"
            ),
        ]

    def __str__(self) -> str:
        return f"Course review of {self.held_on:%Y-%m-%d}: {self.get_decision_display()}"

    @property
    def is_decided(self) -> bool:
        return self.decided_at is not None


class Discharge(models.Model):
    """The end of a course (docs/course.md): why, when, what is recommended and to whom the client
    is referred, and the discharge summary drawn from the course's data."""

    class Reason(models.TextChoices):
        COMPLETED = "completed", "Completed the course"
        WITHDREW = "withdrew", "The client chose to stop"
        REFERRED = "referred", "Referred elsewhere"
        CLINICAL = "clinical", "Stopped for clinical reasons"
        LOST = "lost", "Lost to follow-up"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="discharges")
    plan = models.ForeignKey(
        "pathway.CoursePlan", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review = models.ForeignKey(
        CourseReview, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name="the review that decided to end the course",
    )  # fmt: skip
    reason = models.CharField(max_length=12, choices=Reason)
    reason_detail = models.TextField("about the reason", blank=True)
    discharged_on = models.DateField("discharged on", default=timezone.localdate)
    condition = models.TextField("condition and risk at discharge")
    recommendations = models.TextField("aftercare recommendations")
    referrals = models.TextField("referrals", blank=True)
    # The summary's facts (kapflow.course.facts), drawn afresh while a draft and frozen at signing.
    facts = models.JSONField(default=dict, blank=True)
    written_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField(default=timezone.now)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    signature = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-discharged_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signed_at__isnull=True, signed_by__isnull=True)
                | models.Q(signed_at__isnull=False, signed_by__isnull=False),
                name="discharge_signed_by_someone",
            ),
            models.CheckConstraint(
                condition=models.Q(reason__in=["completed", "withdrew", "referred", "clinical", "lost"]),
                name="discharge_reason_known",
            ),
            # One draft at a time per client.
            models.UniqueConstraint(
                fields=["client"], condition=models.Q(signed_at__isnull=True), name="one_draft_discharge"
            ),
        ]

    def __str__(self) -> str:
        return f"Discharge of {self.discharged_on:%Y-%m-%d}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None
