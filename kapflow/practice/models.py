from decimal import Decimal

from django.db import models

SPRAVATO = "Source: esketamine (Spravato) label"


class Practice(models.Model):
    """The practice's own details and the settings its admin decides. There is one row."""

    name = models.CharField(max_length=120, default="Our practice")
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    address = models.CharField(max_length=250, blank=True)
    inquiry_intro = models.TextField(
        "words above the inquiry form",
        blank=True,
        default=(
            "You do not need to decide anything before reaching out. Tell us a little about "
            "what brings you here and how you would like us to contact you, and we will be in "
            "touch to arrange a conversation."
        ),
    )
    open_caseload = models.BooleanField(
        "every clinician sees every client",
        default=False,
        help_text=(
            "Off: therapists and prescribers see only the clients on whose care team they are. "
            "On: every therapist and prescriber in the practice sees every client."
        ),
    )

    # Clinical defaults (CLINICAL.md). Each is the practice's decision; the help text names the
    # source of the default so the admin can see where a number came from before changing it.
    bp_caution_systolic = models.PositiveSmallIntegerField(
        "caution above systolic (mmHg)",
        default=140,
        help_text=f"{SPRAVATO}: weigh risk if baseline BP is elevated. Above it, a prescriber acknowledges.",
    )
    bp_caution_diastolic = models.PositiveSmallIntegerField(
        "caution above diastolic (mmHg)",
        default=90,
        help_text=f"{SPRAVATO}: weigh risk if baseline BP is elevated.",
    )
    bp_hold_systolic = models.PositiveSmallIntegerField(
        "hold at or above systolic (mmHg)",
        default=160,
        help_text="Source: practice default, conservative; not from a guideline. At or above this, no dose.",
    )
    bp_hold_diastolic = models.PositiveSmallIntegerField(
        "hold at or above diastolic (mmHg)",
        default=100,
        help_text="Source: practice default, conservative; not from a guideline.",
    )
    hr_hold_above = models.PositiveSmallIntegerField(
        "hold above heart rate (bpm)", default=110, help_text="Source: practice default."
    )
    hr_hold_below = models.PositiveSmallIntegerField(
        "hold below heart rate (bpm)", default=50, help_text="Source: practice default."
    )
    predose_vitals_minutes = models.PositiveSmallIntegerField(
        "pre-dose vitals taken within (minutes)", default=30, help_text="Source: practice default."
    )
    fasting_food_hours = models.PositiveSmallIntegerField(
        "no food for (hours)", default=2, help_text=f"{SPRAVATO} (some practices use 4 h)."
    )
    fasting_liquid_minutes = models.PositiveSmallIntegerField(
        "no liquids for (minutes)", default=30, help_text=f"{SPRAVATO} (some practices use 2 h)."
    )
    avoid_substances = models.CharField(
        "substances to avoid in the prior 24 h",
        max_length=300,
        default="alcohol, benzodiazepines, cannabis, opioids, sedative-hypnotics, stimulants",
        help_text="Source: clinic consent forms. Separate with commas.",
    )

    first_vitals_minutes = models.PositiveSmallIntegerField(
        "first vitals after dosing (minutes)",
        default=40,
        help_text=f"{SPRAVATO}: BP peaks about 40 min after dosing.",
    )
    vitals_interval_minutes = models.PositiveSmallIntegerField(
        "then vitals every (minutes)", default=30, help_text=SPRAVATO
    )
    alert_systolic = models.PositiveSmallIntegerField(
        "in-session alert at systolic (mmHg)", default=180, help_text=SPRAVATO
    )
    alert_diastolic = models.PositiveSmallIntegerField(
        "in-session alert at diastolic (mmHg)", default=110, help_text=SPRAVATO
    )
    alert_rise_systolic = models.PositiveSmallIntegerField(
        "alert on a systolic rise of (mmHg)",
        default=40,
        help_text=f"{SPRAVATO}: 8–19 % of patients had that rise from baseline.",
    )
    alert_rise_diastolic = models.PositiveSmallIntegerField(
        "alert on a diastolic rise of (mmHg)", default=25, help_text=SPRAVATO
    )
    spo2_alert_below = models.PositiveSmallIntegerField(
        "SpO2 alert below (%)", default=92, help_text="Source: practice default."
    )
    min_monitoring_minutes = models.PositiveSmallIntegerField(
        "minimum monitoring after the last dose (minutes)",
        default=120,
        help_text="Source: Spravato REMS (at least 2 h), and until sedation and dissociation have resolved.",
    )
    chaperone_checkin_minutes = models.PositiveSmallIntegerField(
        "virtual sessions: chaperone check-in every (minutes)",
        default=15,
        help_text="Source: Journey Clinical and Mindbloom published rules (adult, physically present).",
    )

    screening_valid_days = models.PositiveSmallIntegerField(
        "contraindication screening valid for (days)",
        default=90,
        help_text="Source: practice default. After this a new screening is needed before dosing.",
    )
    clearance_valid_months = models.PositiveSmallIntegerField(
        "medical clearance valid for (months)",
        default=12,
        help_text="Source: practice default; the prescriber may set an earlier date.",
    )
    integration_window_hours = models.PositiveSmallIntegerField(
        "integration window after a session (hours)",
        default=48,
        help_text="Source: seed 002 — the 36–48 h after a session are for journaling and reflection.",
    )
    integration_expected_hours = models.PositiveSmallIntegerField(
        "integration session expected within (hours)", default=72, help_text="Source: practice default."
    )
    default_planned_sessions = models.PositiveSmallIntegerField(
        "medication sessions in a course plan",
        default=6,
        help_text="Source: seed 002 — a course is typically 6–12 medication sessions.",
    )

    typical_sublingual_min_mg = models.PositiveSmallIntegerField(
        "sublingual lozenge: typical lowest (mg)",
        default=100,
        help_text="Source: published KAP lozenge method (Wolfson).",
    )
    typical_sublingual_max_mg = models.PositiveSmallIntegerField(
        "sublingual lozenge: typical highest (mg)", default=400, help_text="Source: Wolfson lozenge method."
    )
    typical_im_min_mg_per_kg = models.DecimalField(
        "intramuscular: typical lowest (mg/kg)",
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.20"),
        help_text="Source: Krupitsky 2002 (0.2–2.0 mg/kg studied).",
    )
    typical_im_max_mg_per_kg = models.DecimalField(
        "intramuscular: typical highest (mg/kg)",
        max_digits=4,
        decimal_places=2,
        default=Decimal("2.00"),
        help_text="Source: Krupitsky 2002.",
    )
    typical_iv_min_mg_per_kg = models.DecimalField(
        "intravenous: typical lowest (mg/kg)",
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.10"),
        help_text="Source: APA consensus 2017 (0.5 mg/kg over 40 min; 0.1–0.75 studied).",
    )
    typical_iv_max_mg_per_kg = models.DecimalField(
        "intravenous: typical highest (mg/kg)",
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.75"),
        help_text="Source: APA consensus 2017.",
    )
    typical_intranasal_min_mg = models.PositiveSmallIntegerField(
        "intranasal esketamine: typical lowest (mg)",
        default=56,
        help_text="Source: Spravato label (56 or 84 mg; 28 mg a device).",
    )
    typical_intranasal_max_mg = models.PositiveSmallIntegerField(
        "intranasal esketamine: typical highest (mg)", default=84, help_text="Source: Spravato label."
    )

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="practice_single_row"),
            models.CheckConstraint(
                condition=models.Q(bp_caution_systolic__lt=models.F("bp_hold_systolic"))
                & models.Q(bp_caution_diastolic__lt=models.F("bp_hold_diastolic"))
                & models.Q(hr_hold_below__lt=models.F("hr_hold_above")),
                name="practice_caution_below_hold",
            ),
            models.CheckConstraint(
                condition=models.Q(typical_sublingual_min_mg__lte=models.F("typical_sublingual_max_mg"))
                & models.Q(typical_im_min_mg_per_kg__lte=models.F("typical_im_max_mg_per_kg"))
                & models.Q(typical_iv_min_mg_per_kg__lte=models.F("typical_iv_max_mg_per_kg"))
                & models.Q(typical_intranasal_min_mg__lte=models.F("typical_intranasal_max_mg")),
                name="practice_typical_ranges_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def load(cls) -> "Practice":
        """The practice's settings row (one query), created with its defaults on first use."""
        practice, _ = cls.objects.get_or_create(pk=1)
        return practice


def practice_for(request) -> Practice:
    """The practice settings, read once per request."""
    if not hasattr(request, "_kapflow_practice"):
        request._kapflow_practice = Practice.load()
    return request._kapflow_practice
