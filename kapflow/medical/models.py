"""The medical side of the pathway: contraindication screening, the prescriber's clearance, and
medication orders. None of these records is edited once saved: a correction is a new record
(a new screening, a new clearance), or a recorded state change (revoking a clearance,
discontinuing an order) made by the services in kapflow.medical.services."""

import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from kapflow.medical import doses
from kapflow.medical.screening import (
    EXCLUSION,
    FINDINGS,
    REVIEW,
    VERSION,
    Finding,
    Flag,
    MedicationClass,
    medication_class,
)


class ScreeningQuerySet(models.QuerySet):
    def latest_first(self):
        return self.order_by("-completed_at", "-pk")


class Screening(models.Model):
    """One contraindication screening: every finding's answer, the current medications, and the
    flags they raised when it was saved (kapflow.medical.screening.flags_for)."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="screenings")
    version = models.CharField(max_length=10, default=VERSION)
    answers = models.JSONField(help_text="Every finding's answer (true: present), by finding key.")
    medications = models.JSONField(default=list, blank=True, help_text='[{"name": ..., "class": ...}]')
    flags = models.JSONField(default=list, blank=True, help_text="The flags raised, as saved.")
    age = models.PositiveSmallIntegerField(help_text="The client's age on the day of the screening.")
    notes = models.TextField(blank=True)
    completed_at = models.DateTimeField(default=timezone.now)
    # Staff who entered the answers on the client's behalf; empty when the client answered.
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = ScreeningQuerySet.as_manager()

    class Meta:
        ordering = ["-completed_at", "-pk"]
        indexes = [
            # A client's latest screening (the gate, the summary).
            models.Index(fields=["client", "completed_at"], name="screening_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"Screening of {self.completed_at:%Y-%m-%d}"

    def flag_list(self) -> list[Flag]:
        return [Flag(**flag) for flag in self.flags]

    @property
    def exclusion_flags(self) -> list[Flag]:
        return [flag for flag in self.flag_list() if flag.level == EXCLUSION]

    @property
    def review_flags(self) -> list[Flag]:
        return [flag for flag in self.flag_list() if flag.level == REVIEW]

    @property
    def interaction_flags(self) -> list[Flag]:
        return [flag for flag in self.flag_list() if flag.kind == "medication"]

    def medication_rows(self) -> list[tuple[str, MedicationClass | None]]:
        return [(m["name"], medication_class(m["class"])) for m in self.medications]

    def answer_rows(self) -> list[tuple[Finding, bool | None]]:
        return [(finding, self.answers.get(finding.key)) for finding in FINDINGS]

    def valid_through(self, days: int) -> datetime.date:
        return timezone.localdate(self.completed_at) + datetime.timedelta(days=days)


def staff_or_outside() -> models.Q:
    """Exactly one of: a prescriber of the practice, or an outside transcription (the outside
    provider, the document, who filed it and when, the prescriber's name and NPI). The date the
    document was written is each model's own constraint (a clearance's `letter_dated`, an
    order's `prescribed_on`: outside_dated below)."""
    staff = models.Q(
        prescriber__isnull=False,
        outside_provider__isnull=True,
        document__isnull=True,
        filed_by__isnull=True,
        filed_at__isnull=True,
        outside_name="",
        outside_npi="",
    )
    outside = (
        models.Q(
            prescriber__isnull=True,
            outside_provider__isnull=False,
            document__isnull=False,
            filed_by__isnull=False,
            filed_at__isnull=False,
        )
        & ~models.Q(outside_name="")
        & ~models.Q(outside_npi="")
    )
    return staff | outside


def outside_dated(field: str) -> models.Q:
    """An outside transcription carries the date its document was written (`field`): the gates
    and pages say "letter of …" from it."""
    return models.Q(prescriber__isnull=False) | models.Q(**{f"{field}__isnull": False})


class ClearanceQuerySet(models.QuerySet):
    def latest_first(self):
        return self.order_by("-decided_at", "-pk")


class Clearance(models.Model):
    """A prescriber's medical evaluation and decision, reviewing one screening. It resolves each
    exclusion flag of that screening in writing and acknowledges each review flag.

    Made one of two ways (docs/outside-prescriber.md): by a prescriber of the practice
    (`prescriber`), or transcribed by a clinician from an outside prescriber's signed letter filed
    on the chart (`outside_provider`, `document`, `filed_by`, `outside_name`: an outside
    transcription). A database constraint keeps exactly one of the two."""

    class Decision(models.TextChoices):
        CLEARED = "cleared", "Cleared"
        CONDITIONS = "conditions", "Cleared with conditions"
        NOT_CLEARED = "not_cleared", "Not cleared"
        DEFERRED = "deferred", "Deferred"

    GRANTING = (Decision.CLEARED, Decision.CONDITIONS)

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="clearances")
    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="clearances")
    # The practice's prescriber who decided; empty for an outside transcription.
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(max_length=20, choices=Decision)
    conditions = models.TextField(blank=True)
    # {flag key: the prescriber's written resolution} for the screening's exclusion flags.
    resolutions = models.JSONField(default=dict, blank=True)
    # The keys of the screening's review flags the prescriber acknowledged.
    acknowledged = models.JSONField(default=list, blank=True)
    systolic = models.PositiveSmallIntegerField(
        "systolic (mmHg)", null=True, blank=True, validators=[MinValueValidator(50), MaxValueValidator(300)]
    )
    diastolic = models.PositiveSmallIntegerField(
        "diastolic (mmHg)", null=True, blank=True, validators=[MinValueValidator(20), MaxValueValidator(200)]
    )
    heart_rate = models.PositiveSmallIntegerField(
        "heart rate (bpm)", null=True, blank=True, validators=[MinValueValidator(20), MaxValueValidator(250)]
    )
    weight_kg = models.DecimalField(
        "weight (kg)",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("2")), MaxValueValidator(Decimal("400"))],
    )
    findings = models.TextField("evaluation findings")
    valid_until = models.DateField("valid until", null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoke_reason = models.TextField("reason for revoking", blank=True)
    # An outside transcription: what the letter says, and who filed it (OutsideTranscription).
    outside_provider = models.ForeignKey(
        "clients.OutsideProvider", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    document = models.ForeignKey(
        "documents.ChartDocument", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outside_name = models.CharField("prescriber's name", max_length=150, blank=True)
    outside_credentials = models.CharField("credentials", max_length=60, blank=True)
    outside_npi = models.CharField("NPI", max_length=10, blank=True)
    letter_dated = models.DateField("date of the letter", null=True, blank=True)
    # The transcribed fields the person filing checked against the document, one by one.
    confirmed_fields = models.JSONField(default=list, blank=True)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    filed_at = models.DateTimeField(null=True, blank=True)

    objects = ClearanceQuerySet.as_manager()

    class Meta:
        ordering = ["-decided_at", "-pk"]
        indexes = [
            # A client's current clearance, and its history (the gate, the summary).
            models.Index(fields=["client", "decided_at"], name="clearance_latest_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(decision__in=["cleared", "conditions"])
                | models.Q(valid_until__isnull=False),
                name="clearance_granted_has_end",
            ),
            models.CheckConstraint(
                condition=~models.Q(decision="conditions") | ~models.Q(conditions=""),
                name="clearance_conditions_written",
            ),
            models.CheckConstraint(
                condition=(models.Q(revoked_at__isnull=True) & models.Q(revoke_reason=""))
                | (models.Q(revoked_at__isnull=False) & ~models.Q(revoke_reason="")),
                name="clearance_revoked_with_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True)
                | models.Q(decision__in=["cleared", "conditions"]),
                name="clearance_only_grant_revoked",
            ),
            models.CheckConstraint(condition=staff_or_outside(), name="clearance_staff_or_outside"),
            models.CheckConstraint(
                condition=outside_dated("letter_dated"),
                name="clearance_outside_letter_dated",
                violation_error_message="Give the date of the letter.",
            ),
            models.UniqueConstraint(
                fields=["document"],
                condition=models.Q(document__isnull=False),
                name="clearance_one_per_letter",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} on {self.decided_at:%Y-%m-%d}"

    @property
    def is_outside(self) -> bool:
        return self.prescriber_id is None

    def decided_by(self) -> str:
        """Who decided, as the pages name them: the practice's prescriber (read with
        select_related("prescriber")), or the outside prescriber named on the letter."""
        if self.is_outside:
            return f"{self.outside_name} (outside)"
        return self.prescriber.display_name

    def reviewed_flags(self) -> list[tuple[Flag, str, bool]]:
        """Each flag of the reviewed screening with its written resolution and whether it was
        acknowledged (reads the screening: select_related it)."""
        return [
            (flag, self.resolutions.get(flag.key, ""), flag.key in self.acknowledged)
            for flag in self.screening.flag_list()
        ]

    @property
    def grants(self) -> bool:
        return self.decision in self.GRANTING

    def is_expired(self, today: datetime.date | None = None) -> bool:
        return self.valid_until is not None and self.valid_until < (today or timezone.localdate())

    def is_current(self, today: datetime.date | None = None) -> bool:
        """Cleared (with or without conditions), not revoked, not expired."""
        return self.grants and self.revoked_at is None and not self.is_expired(today)

    def status(self, today: datetime.date | None = None) -> tuple[str, str]:
        """(words, level) for a badge: how this clearance stands today."""
        if self.revoked_at is not None:
            return "Revoked", "danger"
        if not self.grants:
            return (
                self.get_decision_display(),
                "danger" if self.decision == self.Decision.NOT_CLEARED else "warn",
            )
        if self.is_expired(today):
            return "Expired", "danger"
        return self.get_decision_display(), "ok" if self.decision == self.Decision.CLEARED else "warn"


class MedicationOrderQuerySet(models.QuerySet):
    def active(self, today: datetime.date, *other_days: datetime.date):
        """Orders in force on `today` (or on any of `other_days`): not discontinued, within their
        dates. (Sessions remaining is checked on each order: see
        MedicationOrder.sessions_remaining.)"""
        within = models.Q()
        for day in {today, *other_days}:
            within |= models.Q(starts_on__lte=day, ends_on__gte=day)
        return self.filter(within, discontinued_at__isnull=True)

    def with_dosed_sessions(self):
        """Each order with its dosed-session count read in the same query: is_active(),
        sessions_remaining() and status() each ask MedicationOrder.administrations_count, one
        COUNT per order and call otherwise. The count is the method's own (first doses, boosters
        not counted), and the method answers it from the annotation."""
        return self.annotate(
            dosed_sessions=models.Count("administrations", filter=models.Q(administrations__is_booster=False))
        )


class MedicationOrder(models.Model):
    """A prescriber's order for ketamine (DEA Schedule III) or esketamine: route, dose or range,
    boosters, sessions authorised, dates. The system checks doses against it; it never chooses
    one."""

    class Drug(models.TextChoices):
        KETAMINE = "ketamine", "Ketamine (racemic), DEA Schedule III"
        ESKETAMINE = "esketamine", "Esketamine (Spravato), DEA Schedule III"

    class Route(models.TextChoices):
        SUBLINGUAL = doses.SUBLINGUAL, "Sublingual / oral lozenge"
        INTRANASAL = doses.INTRANASAL, "Intranasal esketamine"
        INTRAMUSCULAR = doses.INTRAMUSCULAR, "Intramuscular"
        INTRAVENOUS = doses.INTRAVENOUS, "Intravenous"

    class Unit(models.TextChoices):
        MG = doses.MG, "mg"
        MG_PER_KG = doses.MG_PER_KG, "mg/kg"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="medication_orders")
    # The practice's prescriber who wrote it; empty for an order transcribed from a prescription.
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    drug = models.CharField(max_length=20, choices=Drug)
    route = models.CharField(max_length=20, choices=Route)
    unit = models.CharField(max_length=10, choices=Unit, default=Unit.MG)
    dose_min = models.DecimalField(
        "lowest dose", max_digits=7, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    dose_max = models.DecimalField(
        "highest dose", max_digits=7, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    weight_kg = models.DecimalField(
        "weight used (kg)",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("2")), MaxValueValidator(Decimal("400"))],
    )
    boosters_allowed = models.PositiveSmallIntegerField(
        "boosters allowed per session", default=0, validators=[MaxValueValidator(5)]
    )
    booster_max_mg = models.DecimalField(
        "highest booster dose (mg)",
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    sessions_authorised = models.PositiveSmallIntegerField(
        "medication sessions authorised", validators=[MinValueValidator(1), MaxValueValidator(52)]
    )
    starts_on = models.DateField("valid from")
    ends_on = models.DateField("valid until")
    instructions = models.TextField(blank=True)
    # The prescriber saw that the range lies outside the practice's typical range and confirmed it.
    confirmed_outside_typical = models.BooleanField(default=False)
    # The prescriber's sign-off for a client under 18 (docs/clinical.md: sublingual under 18 only with
    # guardian consent, assent and the prescriber's sign-off), given when the order is written.
    minor_signoff = models.BooleanField("signed off for a client under 18", default=False)
    discontinued_at = models.DateTimeField(null=True, blank=True)
    discontinued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    discontinue_reason = models.TextField("reason for discontinuing", blank=True)
    # An order transcribed from an outside prescriber's prescription (docs/outside-prescriber.md):
    # what the prescription says, beside the fields above that the dose rules read.
    outside_provider = models.ForeignKey(
        "clients.OutsideProvider", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    document = models.ForeignKey(
        "documents.ChartDocument", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outside_name = models.CharField("prescriber's name", max_length=150, blank=True)
    outside_npi = models.CharField("NPI", max_length=10, blank=True)
    prescribed_on = models.DateField("date of the prescription", null=True, blank=True)
    strength_form = models.CharField("strength and form", max_length=150, blank=True)
    strength_mg = models.DecimalField(
        "mg in each unit",
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    quantity = models.PositiveIntegerField("quantity (units)", null=True, blank=True)
    directions = models.TextField("directions (sig)", blank=True)
    sessions_prescribed = models.PositiveSmallIntegerField(
        "sessions on the prescription", null=True, blank=True
    )
    pharmacy = models.CharField(max_length=200, blank=True)
    fill_date = models.DateField("fill date", null=True, blank=True)
    confirmed_fields = models.JSONField(default=list, blank=True)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    filed_at = models.DateTimeField(null=True, blank=True)

    objects = MedicationOrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # A client's orders in force (the order gate, the summary).
            models.Index(fields=["client", "discontinued_at", "ends_on"], name="order_active_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(dose_min__lte=models.F("dose_max")), name="order_range_ordered"
            ),
            models.CheckConstraint(
                condition=models.Q(starts_on__lte=models.F("ends_on")), name="order_dates_ordered"
            ),
            models.CheckConstraint(
                condition=~models.Q(unit="mg_per_kg") | models.Q(weight_kg__isnull=False),
                name="order_mg_per_kg_has_weight",
            ),
            models.CheckConstraint(
                condition=models.Q(boosters_allowed=0) | models.Q(booster_max_mg__isnull=False),
                name="order_booster_has_dose",
            ),
            models.CheckConstraint(
                condition=(models.Q(discontinued_at__isnull=True) & models.Q(discontinue_reason=""))
                | (models.Q(discontinued_at__isnull=False) & ~models.Q(discontinue_reason="")),
                name="order_discontinued_with_reason",
            ),
            models.CheckConstraint(condition=staff_or_outside(), name="order_staff_or_outside"),
            models.CheckConstraint(
                condition=outside_dated("prescribed_on"),
                name="order_outside_prescribed_on",
                violation_error_message="Give the date of the prescription.",
            ),
            # A transcribed order is no wider than its prescription.
            models.CheckConstraint(
                condition=models.Q(sessions_prescribed__isnull=True)
                | models.Q(sessions_authorised__lte=models.F("sessions_prescribed")),
                name="order_sessions_within_prescription",
                violation_error_message="Authorise no more sessions than the prescription is for.",
            ),
            models.UniqueConstraint(
                fields=["document"],
                condition=models.Q(document__isnull=False),
                name="order_one_per_prescription",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_route_display()} {self.dose_text}"

    @property
    def is_outside(self) -> bool:
        return self.prescriber_id is None

    def ordered_by(self) -> str:
        """Who wrote the order (read with select_related("prescriber")), or the outside
        prescriber named on the prescription it was transcribed from."""
        if self.is_outside:
            return f"{self.outside_name} (outside)"
        return self.prescriber.display_name

    @property
    def dose_text(self) -> str:
        unit = doses.unit_label(self.unit)
        if self.dose_min == self.dose_max:
            text = f"{doses.number(self.dose_min)} {unit}"
        else:
            text = f"{doses.number(self.dose_min)}–{doses.number(self.dose_max)} {unit}"
        if self.unit == self.Unit.MG_PER_KG and self.weight_kg:
            low, high = self.range_mg()
            mg = f"{doses.number(low)}" + ("" if low == high else f"–{doses.number(high)}")
            text += f" ({mg} mg at {doses.number(self.weight_kg)} kg)"
        return text

    def range_mg(self) -> tuple[Decimal, Decimal]:
        return doses.range_mg(
            unit=self.unit, dose_min=self.dose_min, dose_max=self.dose_max, weight_kg=self.weight_kg
        )

    def administrations_count(self) -> int:
        """Medication sessions dosed under this order: the sessions whose first dose was given
        against it (boosters not counted; kapflow.dosing allows one first dose a session).
        One query, or none for an order read with the count (kapflow.medical.selectors'
        `dosed_sessions` annotation: a page's list, not a write, which reads its order afresh)."""
        counted = self.__dict__.get("dosed_sessions")
        if counted is not None:
            return counted
        return self.administrations.filter(is_booster=False).count()

    def sessions_remaining(self) -> int:
        return max(self.sessions_authorised - self.administrations_count(), 0)

    def is_active(self, today: datetime.date | None = None) -> bool:
        today = today or timezone.localdate()
        return (
            self.discontinued_at is None
            and self.starts_on <= today <= self.ends_on
            and self.sessions_remaining() > 0
        )

    def status(self, today: datetime.date | None = None) -> tuple[str, str]:
        today = today or timezone.localdate()
        if self.discontinued_at is not None:
            return "Discontinued", "danger"
        if today < self.starts_on:
            return "Not started", "warn"
        if today > self.ends_on:
            return "Ended", "quiet"
        if self.sessions_remaining() <= 0:
            return "No sessions left", "quiet"
        return "Active", "ok"
