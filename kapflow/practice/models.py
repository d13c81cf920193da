from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from kapflow.lib.rows import read_by_pk

SPRAVATO = "Source: esketamine (Spravato) label"


def parse_hours(text: str) -> list[int]:
    """ "2, 24, 48" -> [2, 24, 48]: whole hours, sorted, without repeats. ValueError otherwise."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    hours = sorted({int(part) for part in parts})
    if not hours or hours[0] < 0 or hours[-1] > 24 * 14:
        raise ValueError(text)
    return hours


def validate_hours_list(text: str) -> None:
    try:
        parse_hours(text)
    except ValueError:
        raise ValidationError(
            "Give whole hours between 0 and 336, separated by commas, for example 2, 24, 48."
        ) from None


class Practice(models.Model):
    """The practice's own details and the settings its admin decides. There is one row."""

    name = models.CharField(max_length=120, default="Our practice")
    phone = models.CharField(max_length=40, blank=True)
    outward_name = models.CharField(
        "name in emails and calendar files",
        max_length=120,
        blank=True,
        help_text="Shown where others may see it: email subjects and senders' lines, a phone's lock screen, "
        "a shared calendar. Leave out words such as “ketamine” if clients would rather keep their "
        "treatment private. Empty: the practice's name.",
    )
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
    portal_mfa_required = models.BooleanField(
        "clients and guardians must use two-factor sign-in",
        default=False,
        help_text=(
            "Off: a client or guardian may add an authenticator app to their portal account if "
            "they wish. On: anyone signing in to the portal without one is sent to set one up "
            "before any other page opens. Staff always need one."
        ),
    )

    # Clinical defaults (docs/clinical.md). Each is the practice's decision; the help text names the
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
        "pre-dose vitals taken within (minutes)",
        default=30,
        help_text="Source: practice default.",
        validators=[MinValueValidator(1)],
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
        validators=[MinValueValidator(1)],
    )
    vitals_interval_minutes = models.PositiveSmallIntegerField(
        "then vitals every (minutes)", default=30, help_text=SPRAVATO, validators=[MinValueValidator(1)]
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
    alert_hr_above = models.PositiveSmallIntegerField(
        "in-session alert at heart rate above (bpm)",
        default=110,
        help_text="Source: practice default, as the pre-dose hold (a rise in heart rate is among "
        "ketamine's common effects, seed 001).",
    )
    alert_hr_below = models.PositiveSmallIntegerField(
        "in-session alert at heart rate below (bpm)", default=50, help_text="Source: practice default."
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
        validators=[MinValueValidator(1)],
    )
    # In-session alerts that reach a prescriber (kapflow.dosing.alerts).
    deep_sedation_level = models.PositiveSmallIntegerField(
        "alert the prescriber at sedation (UMSS) of",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(4)],
        help_text="Source: practice default. 3 on the University of Michigan Sedation Scale is “deeply "
        "sedated (roused only by strong physical stimulus)”, 4 “unrousable”: a rating at or above it "
        "notifies the prescriber at once.",
    )
    on_call_prescriber = models.ForeignKey(
        "accounts.User",
        verbose_name="on-call prescriber",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Source: practice default (none). Told of an in-session alert when the client's care "
        "team has no active prescriber. With neither, the runbook says to phone a prescriber.",
    )

    opening_reflection_minutes = models.PositiveSmallIntegerField(
        "session phase: opening reflection (minutes)",
        default=30,
        help_text="Source: seed 002 — 15–30 min of guided reflection before the medicine.",
    )
    medicine_minutes = models.PositiveSmallIntegerField(
        "session phase: medicine experience (minutes)",
        default=45,
        help_text="Source: seed 002 — about 45 min of medicine experience.",
    )
    integration_processing_minutes = models.PositiveSmallIntegerField(
        "session phase: integration processing (minutes)",
        default=45,
        help_text="Source: seed 002 — about 45 min of integration processing before the client leaves.",
    )

    screening_valid_days = models.PositiveSmallIntegerField(
        "contraindication screening valid for (days)",
        default=90,
        help_text="Source: practice default. After this a new screening is needed before dosing.",
        validators=[MinValueValidator(1)],
    )
    clearance_valid_months = models.PositiveSmallIntegerField(
        "medical clearance valid for (months)",
        default=12,
        help_text="Source: practice default; the prescriber may set an earlier date.",
        validators=[MinValueValidator(1)],
    )
    integration_window_hours = models.PositiveSmallIntegerField(
        "integration window after a session (hours)",
        default=48,
        help_text="Source: seed 002 — the 36–48 h after a session are for journaling and reflection.",
        validators=[MinValueValidator(1)],
    )
    integration_expected_hours = models.PositiveSmallIntegerField(
        "integration session expected within (hours)",
        default=72,
        help_text="Source: practice default.",
        validators=[MinValueValidator(1)],
    )
    default_planned_sessions = models.PositiveSmallIntegerField(
        "medication sessions in a course plan",
        default=6,
        help_text="Source: seed 002 — a course is typically 6–12 medication sessions.",
        validators=[MinValueValidator(1)],
    )
    maintenance_every_weeks = models.PositiveSmallIntegerField(
        "maintenance: a session every (weeks), to begin with",
        default=6,
        help_text="Source: seed 002 and practice default — maintenance sessions every 4–8 weeks. A course "
        "review sets each client's own.",
        validators=[MinValueValidator(1), MaxValueValidator(52)],
    )
    note_format = models.CharField(
        "progress notes are written as",
        max_length=4,
        choices=[("soap", "SOAP"), ("dap", "DAP"), ("birp", "BIRP")],
        default="soap",
        help_text="Source: practice choice. A clinician may choose another format for one note.",
    )
    note_due_hours = models.PositiveSmallIntegerField(
        "a visit's note is due within (hours after it ends)",
        default=72,
        help_text="Source: practice default — commonly 24–72 hours. A note signed later is labelled a late "
        "entry.",
        validators=[MinValueValidator(1)],
    )

    portal_invitation_hours = models.PositiveSmallIntegerField(
        "portal invitation link valid for (hours)",
        default=72,
        help_text="Source: practice default. The link works once, within this time.",
        validators=[MinValueValidator(1)],
    )
    journal_prompt_hours = models.CharField(
        "journal prompts after a medication session (hours after it ends)",
        max_length=60,
        default="2, 24, 48",
        validators=[validate_hours_list],
        help_text="Source: seed 002 — the 36–48 h after a session are for journaling and reflection. "
        "Whole hours, separated by commas.",
    )
    measures_weekly_days = models.PositiveSmallIntegerField(
        "during a course: measures every (days)",
        default=7,
        help_text="Source: practice default — measures weekly during a course, before each medication "
        "session, at review and at discharge.",
        validators=[MinValueValidator(1)],
    )
    appointment_reminder_hours = models.PositiveSmallIntegerField(
        "appointment reminder (hours before)",
        default=24,
        help_text="Source: practice default.",
        validators=[MinValueValidator(1)],
    )
    dayof_reminder_hour = models.PositiveSmallIntegerField(
        "day-before instructions sent from (hour of the day, 0–23)",
        default=11,
        validators=[MaxValueValidator(23)],
        help_text="Source: practice default. Late morning on the day before a medication session, "
        "never in the night.",
    )
    clearance_warning_days = models.PositiveSmallIntegerField(
        "warn the prescriber of a clearance expiring within (days)",
        default=30,
        help_text="Source: practice default.",
        validators=[MinValueValidator(1)],
    )
    crisis_resources = models.TextField(
        "crisis resources shown to a client",
        default="If you are thinking about harming yourself, or you are in crisis, call or text 988 "
        "(the 988 Suicide & Crisis Lifeline, US), any time of day. If you are in danger now, call 911 "
        "or go to the nearest emergency department.",
        help_text="Source: 988 Suicide & Crisis Lifeline (US). Shown at once when a PHQ-9 item 9 answer "
        "is above 0, and on every page of the portal.",
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

    # Route × setting × person (docs/clinical.md), judged by kapflow.medical.routes. Safe by default:
    # only the sublingual lozenge at home. Esketamine is not here: the Spravato REMS allows it
    # only in a certified setting (a room marked certified) and the label only for adults.
    virtual_sublingual_allowed = models.BooleanField(
        "sublingual lozenge may be given in a virtual session",
        default=True,
        help_text="Source: Journey Clinical and Mindbloom published rules: at-home KAP is sublingual or "
        "oral ketamine, with the virtual safety plan and an adult chaperone present.",
    )
    virtual_intramuscular_allowed = models.BooleanField(
        "intramuscular ketamine may be given in a virtual session",
        default=False,
        help_text="Source: practice default, safe by default (at-home KAP services give only sublingual or "
        "oral ketamine at home): office only, with SpO2 and a clinician able to manage the airway on site.",
    )
    virtual_intravenous_allowed = models.BooleanField(
        "intravenous ketamine may be given in a virtual session",
        default=False,
        help_text="Source: practice default, safe by default: office only, with continuous monitoring.",
    )
    minors_injected_allowed = models.BooleanField(
        "clients under 18 may receive intramuscular or intravenous ketamine",
        default=False,
        help_text="Source: practice default, safe by default: adults only. Sublingual ketamine for a client "
        "under 18 always needs the guardian's consent, the client's assent and the prescriber's sign-off "
        "on the order; esketamine is never given under 18 (Spravato label).",
    )
    spo2_required_sublingual = models.BooleanField(
        "SpO2 required with every reading: sublingual",
        default=False,
        help_text="Source: practice default (a pulse oximeter is still recommended).",
    )
    spo2_required_intramuscular = models.BooleanField(
        "SpO2 required with every reading: intramuscular",
        default=True,
        help_text="Source: practice default, safe by default (intramuscular: SpO2 with every reading).",
    )
    spo2_required_intravenous = models.BooleanField(
        "SpO2 required with every reading: intravenous",
        default=True,
        help_text="Source: practice default, safe by default (intravenous: SpO2 with every reading, "
        "continuous monitoring).",
    )
    spo2_required_intranasal = models.BooleanField(
        "SpO2 required with every reading: intranasal esketamine",
        default=True,
        help_text="Source: Spravato REMS (pulse oximeter on site).",
    )

    # The controlled-substance record (docs/controlled-substances.md).
    dea_registrant = models.ForeignKey(
        "accounts.User",
        verbose_name="DEA registrant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The prescriber under whose DEA registration the practice holds ketamine or esketamine. "
        "Explains inventory discrepancies, and is told of inventories and loss reports coming due.",
    )
    dea_registration_number = models.CharField(
        "DEA registration number",
        max_length=9,
        blank=True,
        help_text="Two letters and seven digits, as on DEA Form 224. Printed on the ledger's reports.",
    )
    dea_registration_expires_on = models.DateField(
        "DEA registration expires on",
        null=True,
        blank=True,
        help_text="Source: 21 CFR 1301.13 — a practitioner's registration is renewed every 3 years.",
    )
    controlled_retention_years = models.PositiveSmallIntegerField(
        "keep controlled-substance records for (years)",
        default=2,
        help_text="Source: 21 CFR 1304.04 — at least 2 years from the date of each record; some states ask "
        "for more. kapflow never deletes a ledger entry; the reports say from when records are required.",
        validators=[MinValueValidator(2), MaxValueValidator(50)],
    )
    inventory_reminder_days = models.PositiveSmallIntegerField(
        "remind of the biennial inventory (days before it is due)",
        default=30,
        help_text="Source: practice default. The inventory is due at least every 2 years "
        "(21 CFR 1304.11(c)); the registrant and the practice admins are told.",
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )
    loss_notice_business_days = models.PositiveSmallIntegerField(
        "theft or significant loss: written notice to the DEA within (business days)",
        default=1,
        help_text="Source: 21 CFR 1301.76(b) — the DEA Field Division Office, in writing, within one "
        "business day of discovery.",
        validators=[MinValueValidator(1), MaxValueValidator(10)],
    )
    loss_form_days = models.PositiveSmallIntegerField(
        "theft or significant loss: DEA Form 106 within (days)",
        default=45,
        help_text="Source: 21 CFR 1301.76(b) as amended in 2023 (88 FR 40707) — filed electronically within "
        "45 days of discovery.",
        validators=[MinValueValidator(1), MaxValueValidator(90)],
    )
    rems_form_days = models.PositiveSmallIntegerField(
        "Spravato REMS patient monitoring form due within (days)",
        default=7,
        help_text="Source: Spravato REMS — the form is submitted after every session, within 7 days.",
        validators=[MinValueValidator(1), MaxValueValidator(30)],
    )

    # Billing (docs/billing.md, docs/good-faith-estimate.md).
    tax_id = models.CharField(
        "tax ID (EIN)",
        max_length=10,
        blank=True,
        help_text="The practice's employer identification number, NN-NNNNNNN: printed on superbills and "
        "estimates (never a social security number).",
    )
    npi = models.CharField(
        "practice NPI", max_length=10, blank=True, help_text="The practice's own (type 2, organisation) NPI."
    )
    taxonomy_code = models.CharField(
        "practice taxonomy code",
        max_length=10,
        blank=True,
        help_text="The NUCC taxonomy code the practice bills under.",
    )
    invoice_each_visit = models.BooleanField(
        "invoice each visit when it is completed",
        default=True,
        help_text="Source: practice default. Untick to collect a client's charges and invoice them together "
        "(the billing page lists what is not yet invoiced).",
    )
    payment_due_days = models.PositiveSmallIntegerField(
        "an invoice is due within (days)",
        default=30,
        help_text="Source: practice default.",
        validators=[MinValueValidator(0), MaxValueValidator(365)],
    )
    place_of_service_in_person = models.CharField(
        "place of service, in person",
        max_length=2,
        default="11",
        help_text="Source: CMS place-of-service codes — 11 is an office.",
    )
    place_of_service_virtual = models.CharField(
        "place of service, by video",
        max_length=2,
        default="10",
        help_text="Source: CMS place-of-service codes — 10 is telehealth with the client at home (02 "
        "when not at home).",
    )
    virtual_modifier = models.CharField(
        "modifier for a video visit",
        max_length=2,
        default="95",
        blank=True,
        help_text="Source: CPT — 95 marks a synchronous video visit.",
    )
    estimate_dispute_threshold = models.DecimalField(
        "a bill this far above the Good Faith Estimate may be disputed ($)",
        max_digits=7,
        decimal_places=2,
        default=Decimal("400.00"),
        help_text="Source: 45 CFR 149.620 — the patient-provider dispute process opens at $400 or more above "
        "the estimate.",
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    estimate_dispute_days = models.PositiveSmallIntegerField(
        "the client may start a dispute within (days of the first bill)",
        default=120,
        help_text="Source: 45 CFR 149.620 — within 120 calendar days of receiving the bill.",
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )
    estimate_months = models.PositiveSmallIntegerField(
        "a Good Faith Estimate covers at most (months)",
        default=12,
        help_text="Source: 45 CFR 149.610 — one estimate may cover recurring services for up to 12 months.",
        validators=[MinValueValidator(1), MaxValueValidator(12)],
    )
    estimate_preparation_sessions = models.PositiveSmallIntegerField(
        "preparation sessions an estimate counts",
        default=1,
        help_text="Source: practice default — one or more preparation sessions come before the first "
        "medication session.",
        validators=[MinValueValidator(0), MaxValueValidator(10)],
    )
    estimate_keep_years = models.PositiveSmallIntegerField(
        "keep Good Faith Estimates for (years)",
        default=6,
        help_text="Source: 45 CFR 149.610 — a client may ask for a copy of any estimate from the last 6 "
        "years. kapflow never deletes one.",
        validators=[MinValueValidator(6), MaxValueValidator(50)],
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
            models.CheckConstraint(
                condition=models.Q(alert_hr_below__lt=models.F("alert_hr_above")),
                name="practice_heart_rate_alerts_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def discreet_name(self) -> str:
        """The name for what leaves the practice: emails and calendar files."""
        return self.outward_name.strip() or self.name

    @property
    def journal_prompt_offsets(self) -> list[int]:
        """The journal prompt hours as numbers (the field's validator keeps them parseable)."""
        return parse_hours(self.journal_prompt_hours)

    @classmethod
    def load(cls) -> "Practice":
        """The practice's settings row (one query). A migration makes it with the database
        (practice/migrations/0015_the_practice_row.py), and the app puts it back after a flush
        (apps.py); a row deleted otherwise is made again, with its defaults, on first use. Read
        on almost every request, so its SELECT is compiled once (kapflow.lib.rows)."""
        practice = read_by_pk(cls, 1)
        if practice is None:
            practice, _ = cls.objects.get_or_create(pk=1)
        return practice


def practice_for(request) -> Practice:
    """The practice settings, read once per request."""
    if not hasattr(request, "_kapflow_practice"):
        request._kapflow_practice = Practice.load()
    return request._kapflow_practice
