"""The medication-session runbook (docs/clinical.md): one record per medication visit, with the vitals,
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
    # The form's own key, as a dose's (Administration.entry_key): sent twice, saved once.
    entry_key = models.UUIDField(null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["taken_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "entry_key"], name="one_reading_per_form_sent"),
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
    # The practice's stock lot the dose came from (kapflow.controlled), once the practice keeps a
    # stock ledger; the dose is posted to that lot's ledger in the same transaction. Empty for a
    # dose from the client's own pharmacy-filled medicine, and for doses before the ledger began.
    lot = models.ForeignKey(
        "controlled.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="administrations"
    )
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # A sublingual dose the client took themselves under a named clinician's observation
    # (docs/clinical.md). `given_by` keeps its meaning, the clinician answerable for the dose; for a
    # self-administered dose that is the observer, so `observed_by` is always `given_by`.
    self_administered = models.BooleanField("self-administered under observation", default=False)
    observed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_booster = models.BooleanField(default=False)
    # The form's own key: the same form sent twice (a connection that dropped after the save,
    # a double click) records one dose, not a dose and a booster.
    entry_key = models.UUIDField(null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["given_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(dose_mg__gt=0), name="administration_dose_positive"),
            models.UniqueConstraint(fields=["runbook", "entry_key"], name="one_dose_per_form_sent"),
            # One first dose per session; the others are boosters.
            models.UniqueConstraint(
                fields=["runbook"], condition=models.Q(is_booster=False), name="one_first_dose_per_session"
            ),
            models.CheckConstraint(
                condition=models.Q(self_administered=False, observed_by__isnull=True)
                | models.Q(
                    self_administered=True,
                    route="sublingual",
                    observed_by__isnull=False,
                    observed_by=models.F("given_by"),
                ),
                name="administration_self_only_sublingual_observed",
            ),
        ]

    def __str__(self) -> str:
        return f"{'Booster' if self.is_booster else 'Dose'} {self.dose_mg} mg {self.route}"


class PrescriberOnSite(models.Model):
    """A prescriber recorded as on site for the session: intranasal esketamine is given only with
    one there (Spravato REMS; kapflow.medical.routes). Never edited: a later record is one more
    row (a different prescriber taking over)."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="prescribers_on_site")
    prescriber = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    on_site_at = models.DateTimeField("on site from")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["on_site_at", "pk"]

    def __str__(self) -> str:
        return f"Prescriber on site from {timezone.localtime(self.on_site_at):%H:%M}"


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
    # The form's own key, as a dose's (Administration.entry_key): sent twice, saved once.
    entry_key = models.UUIDField(null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rated_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "entry_key"], name="one_rating_per_form_sent"),
            models.CheckConstraint(condition=models.Q(sedation__lte=4), name="rating_sedation_0_4"),
            models.CheckConstraint(condition=models.Q(dissociation__lte=4), name="rating_dissociation_0_4"),
        ]

    def __str__(self) -> str:
        return f"Sedation {self.sedation}, dissociation {self.dissociation}"


class AdverseEvent(models.Model):
    """An adverse effect noticed during the session (seed 001's list, docs/clinical.md)."""

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
    # The form's own key, as a dose's (Administration.entry_key): sent twice, saved once.
    entry_key = models.UUIDField(null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["noted_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "entry_key"], name="one_event_per_form_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_severity_display().lower()})"


class Note(models.Model):
    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="notes")
    written_at = models.DateTimeField("time")
    text = models.TextField()
    # The form's own key, as a dose's (Administration.entry_key): sent twice, saved once.
    entry_key = models.UUIDField(null=True, blank=True, editable=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["written_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "entry_key"], name="one_note_per_form_sent"),
        ]

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


class DayOfChecklist(models.Model):
    """The day-of checklist, asked at check-in (docs/clinical.md's readiness table). Never edited: a
    newer checklist supersedes the older, which is kept. The open suicidality alert is read from
    the measures when the gate is judged; whether it was reviewed with the client is recorded
    here."""

    class Pregnancy(models.TextChoices):
        NO = "no", "Asked: not pregnant"
        NOT_APPLICABLE = "not_applicable", "Asked: not applicable"
        POSSIBLE = "possible", "Asked: possibly pregnant"

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="checklists")
    transport_without_driving = models.BooleanField("ride home arranged, no driving today", default=False)
    transport_detail = models.CharField("who takes the client home", max_length=120, blank=True)
    last_food_at = models.DateTimeField("last food")
    last_liquid_at = models.DateTimeField("last liquid")
    substances = models.JSONField("substances taken in the prior 24 h", default=list, blank=True)
    pregnancy = models.CharField(max_length=20, choices=Pregnancy)
    new_medications = models.CharField("new medications since clearance", max_length=300, blank=True)
    # The prescriber who reviewed the new medications listed here (a therapist cannot).
    medications_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    suicidality_alert_reviewed = models.BooleanField("open suicidality alert reviewed today", default=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["recorded_at", "pk"]
        get_latest_by = ["recorded_at", "pk"]

    def __str__(self) -> str:
        return f"Day-of checklist at {timezone.localtime(self.recorded_at):%H:%M}"

    def new_medication_list(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.new_medications.split(",") if part.strip())


class SafetyPlan(models.Model):
    """A virtual session's safety plan: where the client is and who is with them. Never edited:
    a newer plan supersedes the older. A plan may be saved incomplete (nothing typed is lost);
    the safety plan gate says what is missing."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="safety_plans")
    address = models.CharField("address during the session", max_length=250, blank=True)
    chaperone_name = models.CharField("chaperone's name", max_length=120, blank=True)
    chaperone_phone = models.CharField("chaperone's phone", max_length=40, blank=True)
    chaperone_is_adult = models.BooleanField("chaperone is an adult (18 or over)", default=False)
    chaperone_present = models.BooleanField("chaperone physically present with the client", default=False)
    emergency_contact = models.CharField("emergency contact (name and phone)", max_length=160, blank=True)
    nearest_emergency_department = models.CharField(
        "nearest emergency department", max_length=200, blank=True
    )
    has_bp_cuff = models.BooleanField("blood-pressure cuff at hand", default=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["recorded_at", "pk"]

    def __str__(self) -> str:
        return f"Safety plan with {self.chaperone_name}"


class PhaseMark(models.Model):
    """When a phase of the session began (seed 002: opening reflection, medicine, integration
    processing). One mark a phase; the first dose marks the medicine phase if nobody did."""

    class Phase(models.TextChoices):
        OPENING = "opening", "Opening reflection"
        MEDICINE = "medicine", "Medicine"
        INTEGRATION = "integration", "Integration processing"

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="phase_marks")
    phase = models.CharField(max_length=12, choices=Phase)
    started_at = models.DateTimeField("began at")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["started_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "phase"], name="one_mark_per_phase"),
        ]

    def __str__(self) -> str:
        return f"{self.get_phase_display()} from {timezone.localtime(self.started_at):%H:%M}"


class ChaperoneCheckin(models.Model):
    """A virtual session's check-in with the chaperone, due every practice interval after the
    first dose."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="chaperone_checkins")
    checked_at = models.DateTimeField("checked at")
    chaperone_present = models.BooleanField("chaperone present", default=False)
    client_ok = models.BooleanField("client OK", default=False)
    note = models.CharField(max_length=300, blank=True)
    # The form's own key, as a dose's (Administration.entry_key): sent twice, saved once.
    entry_key = models.UUIDField(null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["checked_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "entry_key"], name="one_checkin_per_form_sent"),
        ]

    def __str__(self) -> str:
        return f"Chaperone check-in at {timezone.localtime(self.checked_at):%H:%M}"

    @property
    def concerning(self) -> bool:
        return not (self.chaperone_present and self.client_ok)


class IntegrationAcknowledgement(models.Model):
    """The soft "integration booked" gate acknowledged in writing: the session goes ahead
    although no integration session is booked within the practice's window, with who decided,
    when and why. Never edited; a later acknowledgement is one more row."""

    runbook = models.ForeignKey(
        Runbook, on_delete=models.PROTECT, related_name="integration_acknowledgements"
    )
    reason = models.TextField("why the session goes ahead without an integration booked")
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["acknowledged_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(reason=""), name="integration_acknowledgement_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"Integration acknowledged by {self.acknowledged_by}"


class SafetyReview(models.Model):
    """A prescriber's review of what happened in a session that a prescriber must see: an adverse
    event, or a discharge with criteria unmet. One review per item, never edited; once reviewed
    the item leaves the prescriber's queue."""

    adverse_event = models.OneToOneField(
        AdverseEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="review"
    )
    # A runbook whose discharge overrode unmet criteria (Runbook.override_reason).
    discharge_override = models.OneToOneField(
        Runbook, null=True, blank=True, on_delete=models.PROTECT, related_name="override_review"
    )
    note = models.TextField("review note", blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["reviewed_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(adverse_event__isnull=False, discharge_override__isnull=True)
                | models.Q(adverse_event__isnull=True, discharge_override__isnull=False),
                name="safety_review_one_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"Reviewed by {self.reviewed_by}"


class EmergencyCall(models.Model):
    """Emergency services were called during the session: who pressed the button, when, and the
    address the client was at, copied at that moment (a virtual session's safety plan, else the
    practice's own address) so that a later safety plan or a changed practice address does not
    rewrite what was told to the dispatcher. Never edited."""

    class AddressFrom(models.TextChoices):
        SAFETY_PLAN = "safety_plan", "the safety plan"
        PRACTICE = "practice", "the practice's address"

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="emergency_calls")
    called_at = models.DateTimeField("called at", default=timezone.now)
    called_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Empty when none was on record: the runbook then says so, for the caller to tell the
    # dispatcher where the client is.
    address = models.CharField("address", max_length=250, blank=True)
    address_from = models.CharField(max_length=12, choices=AddressFrom)

    class Meta:
        ordering = ["called_at", "pk"]

    def __str__(self) -> str:
        return f"Emergency services called at {timezone.localtime(self.called_at):%H:%M}"


class SessionAlert(models.Model):
    """Something in a session that a prescriber must hear of at once (kapflow.dosing.alerts): one
    row per entry that raised it, so that it is notified once however often the page is
    refreshed or the form sent. The notified prescriber's email goes through the reminders'
    outbox (`notice`); `notified_at` is when it went. Seen once a prescriber of the care team
    (or the one notified) opens the runbook."""

    class Kind(models.TextChoices):
        VITALS = "vitals", "Vitals over an alert threshold"
        CAUTION = "caution", "Pre-dose reading waits for a prescriber's acknowledgement"
        SEDATION = "sedation", "Deep sedation"
        CHAPERONE = "chaperone", "Chaperone check-in: client not OK or chaperone not present"
        ADVERSE_EVENT = "adverse_event", "Severe adverse event"
        EMERGENCY = "emergency", "Emergency services called"
        SUPPLY_COUNT = "supply_count", "Client-held medicine: the count does not match"

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="session_alerts")
    kind = models.CharField(max_length=16, choices=Kind)
    # The entry it came from: exactly one of these.
    vitals = models.ForeignKey(
        VitalsReading, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rating = models.ForeignKey(Rating, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    checkin = models.ForeignKey(
        ChaperoneCheckin, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    adverse_event = models.ForeignKey(
        AdverseEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    emergency_call = models.ForeignKey(
        EmergencyCall, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    supply_count = models.ForeignKey(
        "dosing.SupplyCount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What the runbook shows (the reading's alerts in words): for the clinicians on the runbook
    # only, never in the email.
    summary = models.CharField(max_length=500, blank=True)
    raised_at = models.DateTimeField(default=timezone.now)
    # Whom the email went to: a prescriber on the care team, else the practice's on-call
    # prescriber; none when neither could be found (the runbook says to phone one).
    notified_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notice = models.OneToOneField(
        "reminders.Reminder", null=True, blank=True, on_delete=models.PROTECT, related_name="session_alert"
    )
    notified_at = models.DateTimeField(null=True, blank=True)
    seen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    seen_at = models.DateTimeField(null=True, blank=True)

    SOURCES = ("vitals", "rating", "checkin", "adverse_event", "emergency_call", "supply_count")

    class Meta:
        ordering = ["raised_at", "pk"]
        constraints = [
            # NULLs are distinct in a unique constraint (SQLite and PostgreSQL alike): each pair
            # binds only the alerts that name that kind of entry.
            *[
                models.UniqueConstraint(fields=["kind", source], name=f"session_alert_once_per_{source}")
                for source in (
                    "vitals",
                    "rating",
                    "checkin",
                    "adverse_event",
                    "emergency_call",
                    "supply_count",
                )
            ],
            models.CheckConstraint(
                condition=models.Q(seen_at__isnull=True, seen_by__isnull=True)
                | models.Q(seen_at__isnull=False, seen_by__isnull=False),
                name="session_alert_seen_by_someone",
            ),
        ]
        indexes = [
            # The prescriber's dashboard: the alerts not yet seen.
            models.Index(fields=["seen_at", "raised_at"], name="session_alert_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {timezone.localtime(self.raised_at):%H:%M}"


class PhoneAcknowledgement(models.Model):
    """A prescriber's acknowledgement given by telephone, for a client whose prescriber is outside
    the practice and has no account (docs/outside-prescriber.md): who was called and when, and
    what the clinician read back and the prescriber confirmed. Today: the acknowledgement of a
    pre-dose reading above the caution level (the runbook then points at the reading as a
    prescriber's acknowledgement would)."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="phone_acknowledgements")
    reading = models.ForeignKey("dosing.VitalsReading", on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey("clients.OutsideProvider", on_delete=models.PROTECT, related_name="+")
    prescriber_name = models.CharField("prescriber's name", max_length=150)
    called_at = models.DateTimeField("time of the call")
    read_back = models.TextField("read back and confirmed")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["called_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(prescriber_name=""), name="phone_ack_names_prescriber"
            ),
            models.CheckConstraint(condition=~models.Q(read_back=""), name="phone_ack_has_read_back"),
        ]

    def __str__(self) -> str:
        return f"Telephone acknowledgement by {self.prescriber_name}"


class SupplyCount(models.Model):
    """Client-held medicine counted at a session (kapflow.controlled.PharmacyFill): the units the
    client brought, those taken in the session, and what the client should have held by the
    pharmacy's fills less what earlier sessions recorded as taken. What did not match is kept in
    words with the count (`mismatches`), and raises an alert to the prescriber. Never edited: a
    recount is one more row."""

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="supply_counts")
    counted_at = models.DateTimeField("counted at")
    brought = models.DecimalField("units brought", max_digits=8, decimal_places=2)
    taken = models.DecimalField("units taken in the session", max_digits=8, decimal_places=2)
    expected = models.DecimalField("units the client should hold", max_digits=8, decimal_places=2)
    strength_mg = models.DecimalField("mg in each unit", max_digits=8, decimal_places=2)
    mismatches = models.JSONField(default=list, blank=True)
    entry_key = models.UUIDField(null=True, blank=True, editable=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["counted_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "entry_key"], name="one_count_per_form_sent"),
            models.CheckConstraint(
                condition=models.Q(brought__gte=0, taken__gte=0, taken__lte=models.F("brought")),
                name="supply_count_taken_from_brought",
            ),
        ]

    def __str__(self) -> str:
        return f"Brought {self.brought}, took {self.taken}"

    @property
    def left(self):
        return self.brought - self.taken


class RemsReport(models.Model):
    """The answers the Spravato REMS patient monitoring form needs that the runbook does not hold
    already (kapflow.dosing.rems reads the rest from the session: dose, devices, lot, the three
    blood pressures, monitoring time). Answered while the session runs; the record cannot be
    signed while any is missing; once signed the answers are fixed, and the form is due to the
    REMS within the practice's days (default 7). Submitting it is recorded once."""

    class Concomitant(models.TextChoices):
        BENZODIAZEPINES = "benzodiazepines", "Benzodiazepines"
        HYPNOTICS = "hypnotics", "Non-benzodiazepine sleep medicines (hypnotics)"
        PSYCHOSTIMULANTS = "psychostimulants", "Psychostimulants"
        MAOIS = "maois", "Monoamine oxidase inhibitors (MAOIs)"
        OPIOIDS = "opioids", "Opioids"

    runbook = models.OneToOneField(Runbook, on_delete=models.PROTECT, related_name="rems_report")
    first_treatment = models.BooleanField("first Spravato treatment", null=True, blank=True)
    # The classes taken, by value; `no_concomitant` says "none" was answered (an empty list alone
    # could be a question not yet asked).
    concomitant = models.JSONField("concomitant medicines", default=list, blank=True)
    no_concomitant = models.BooleanField("none of these", default=False)
    sedation = models.BooleanField("sedation", null=True, blank=True)
    dissociation = models.BooleanField("dissociation", null=True, blank=True)
    respiratory_depression = models.BooleanField("respiratory depression", null=True, blank=True)
    other_adverse_events = models.TextField("other adverse events", blank=True)
    vitals_ok_before_dosing = models.BooleanField(
        "vital signs acceptable before dosing", null=True, blank=True
    )
    vitals_ok_before_discharge = models.BooleanField(
        "vital signs acceptable before discharge", null=True, blank=True
    )
    ready_to_leave_minutes = models.PositiveSmallIntegerField(
        "minutes after the first device when the client could have left, but for the 2-hour rule",
        null=True,
        blank=True,
    )
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField(default=timezone.now)
    submitted_on = models.DateField("submitted to the REMS on", null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submission_reference = models.CharField("confirmation number", max_length=80, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(submitted_on__isnull=True, submitted_by__isnull=True)
                | models.Q(submitted_on__isnull=False, submitted_by__isnull=False),
                name="rems_report_submitted_by_someone",
            ),
            models.CheckConstraint(
                condition=~models.Q(no_concomitant=True) | models.Q(concomitant=[]),
                name="rems_report_none_means_none",
            ),
        ]
        indexes = [
            # The list of forms still to submit.
            models.Index(fields=["submitted_on"], name="rems_report_open_idx"),
        ]

    def __str__(self) -> str:
        return f"REMS monitoring form of {self.runbook.visit}"
