"""The medication-session runbook (DESIGN.md): one record per medication visit, with the vitals,
doses, ratings, adverse events and notes entered on the day, each saved the moment it is entered.
Entries are never edited; once the record is signed nothing is added, and corrections are
addenda."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Runbook(models.Model):
    """The session record of one medication visit: discharge and signature live here."""

    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="runbook")
    created_at = models.DateTimeField(default=timezone.now)
    # A prescriber acknowledged this pre-dose reading above the caution level (it is tied to the
    # reading: a newer reading needs its own acknowledgement).
    caution_acknowledged_reading = models.ForeignKey(
        "dosing.VitalsReading", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    caution_acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Discharge: the clinician's observations, recorded with the discharge.
    alert_and_oriented = models.BooleanField("alert and oriented", default=False)
    steady_on_feet = models.BooleanField("steady on feet", default=False)
    escort_present = models.BooleanField("escort or transport present", default=False)
    discharged_at = models.DateTimeField(null=True, blank=True)
    discharged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A prescriber discharged although criteria were unmet: why, in writing.
    override_reason = models.TextField("reason for discharging with criteria unmet", blank=True)
    override_unmet = models.JSONField(default=list, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signed_at__isnull=True) | models.Q(discharged_at__isnull=False),
                name="runbook_signed_after_discharge",
            ),
            models.CheckConstraint(
                condition=models.Q(signed_at__isnull=True, signed_by__isnull=True)
                | models.Q(signed_at__isnull=False, signed_by__isnull=False),
                name="runbook_signed_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"Runbook of {self.visit}"

    @property
    def is_locked(self) -> bool:
        return self.signed_at is not None


class VitalsReading(models.Model):
    class Phase(models.TextChoices):
        PRE_DOSE = "pre_dose", "Pre-dose"
        IN_SESSION = "in_session", "In session"

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="vitals")
    phase = models.CharField(max_length=12, choices=Phase)
    taken_at = models.DateTimeField("taken at")
    systolic = models.PositiveSmallIntegerField("systolic (mmHg)")
    diastolic = models.PositiveSmallIntegerField("diastolic (mmHg)")
    heart_rate = models.PositiveSmallIntegerField("heart rate (bpm)")
    spo2 = models.PositiveSmallIntegerField("SpO2 (%)", null=True, blank=True)
    # The alerts computed when the reading was saved, in words, kept with it (the thresholds
    # may change later; what the clinician was shown may not).
    alerts = models.JSONField(default=list, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["taken_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(systolic__gt=models.F("diastolic")), name="vitals_systolic_above_diastolic"
            ),
            models.CheckConstraint(
                condition=models.Q(spo2__isnull=True) | models.Q(spo2__lte=100), name="vitals_spo2_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.systolic}/{self.diastolic}, HR {self.heart_rate}"


class Administration(models.Model):
    """A dose given, against the order it was given under. The first in a session is the dose;
    any after it are boosters."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="administrations")
    order = models.ForeignKey(
        "medical.MedicationOrder", on_delete=models.PROTECT, related_name="administrations"
    )
    given_at = models.DateTimeField("given at")
    route = models.CharField(max_length=20)
    dose_mg = models.DecimalField("dose (mg)", max_digits=7, decimal_places=2)
    lot_number = models.CharField("lot number", max_length=40)
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    is_booster = models.BooleanField(default=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["given_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(dose_mg__gt=0), name="administration_dose_positive"),
            # One first dose per session; the others are boosters.
            models.UniqueConstraint(
                fields=["runbook"], condition=models.Q(is_booster=False), name="one_first_dose_per_session"
            ),
        ]

    def __str__(self) -> str:
        return f"{'Booster' if self.is_booster else 'Dose'} {self.dose_mg} mg {self.route}"


class Rating(models.Model):
    """Sedation on the University of Michigan Sedation Scale (UMSS, 0–4) and dissociation on a
    single clinician-rated item (0–4: none, mild, moderate, severe, extreme). The dissociation
    item is the practice's bedside shorthand, not a validated instrument such as the CADSS."""

    class Sedation(models.IntegerChoices):
        AWAKE = 0, "0 — awake and alert"
        MINIMAL = 1, "1 — minimally sedated (tired, responds to voice)"
        MODERATE = 2, "2 — moderately sedated (roused by light touch)"
        DEEP = 3, "3 — deeply sedated (roused only by strong physical stimulus)"
        UNROUSABLE = 4, "4 — unrousable"

    class Dissociation(models.IntegerChoices):
        NONE = 0, "0 — none"
        MILD = 1, "1 — mild"
        MODERATE = 2, "2 — moderate"
        SEVERE = 3, "3 — severe"
        EXTREME = 4, "4 — extreme"

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="ratings")
    rated_at = models.DateTimeField("rated at")
    sedation = models.PositiveSmallIntegerField(choices=Sedation)
    dissociation = models.PositiveSmallIntegerField(choices=Dissociation)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rated_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(sedation__lte=4), name="rating_sedation_0_4"),
            models.CheckConstraint(condition=models.Q(dissociation__lte=4), name="rating_dissociation_0_4"),
        ]

    def __str__(self) -> str:
        return f"Sedation {self.sedation}, dissociation {self.dissociation}"


class AdverseEvent(models.Model):
    """An adverse effect noticed during the session (seed 001's list, CLINICAL.md)."""

    class Kind(models.TextChoices):
        DIZZINESS = "dizziness", "Dizziness"
        NAUSEA = "nausea", "Nausea or vomiting"
        SEDATION = "sedation", "Sedation"
        DISSOCIATION = "dissociation", "Dissociation"
        CONFUSION = "confusion", "Temporary confusion"
        ANXIETY = "anxiety", "Anxiety or emotional discomfort"
        COORDINATION = "coordination", "Changes in coordination"
        DRY_MOUTH = "dry_mouth", "Dry mouth"
        BP_HR_RISE = "bp_hr_rise", "Temporary increase in blood pressure or heart rate"
        PERCEPTION = "perception", "Changes in perception or physical sensation"

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="adverse_events")
    noted_at = models.DateTimeField("noted at")
    kind = models.CharField(max_length=20, choices=Kind)
    severity = models.CharField(max_length=10, choices=Severity)
    action_taken = models.TextField("action taken")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["noted_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_severity_display().lower()})"


class Note(models.Model):
    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="notes")
    written_at = models.DateTimeField("time")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["written_at", "pk"]

    def __str__(self) -> str:
        return self.text[:60]


class Addendum(models.Model):
    """A correction or addition to a signed record: the record itself never changes."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="addenda")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "addenda"

    def __str__(self) -> str:
        return f"Addendum by {self.author}"
