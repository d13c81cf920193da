"""The controlled-substance record (docs/controlled-substances.md). Ketamine and esketamine are
DEA Schedule III: a practice that stocks them keeps a record of every receipt, administration and
disposal, inventories them at the start and at least every two years, and reports theft or
significant loss. It also records what it knows of medicine a pharmacy filled for a client to hold
(sublingual troches), and each client's enrolment in the Spravato REMS.

Nothing here is edited or deleted once saved (kapflow.audit.immutable): a wrong ledger entry is
reversed by a correction entry, with its reason; a lot's balance is never stored apart from the
entries, each of which carries the balance it left (`balance_after`), written under the lot's
row lock and checked by the database never to fall below zero."""

import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from kapflow.medical.models import MedicationOrder

ZERO = Decimal("0")


class Lot(models.Model):
    """One lot of one product: drug, finished form and strength, as its label gives them. The
    stock ledger is kept per lot; its balance is the `balance_after` of its latest entry."""

    class Form(models.TextChoices):
        VIAL = "vial", "Injection solution (vial)"
        NASAL_DEVICE = "nasal_device", "Nasal spray device"
        TABLET = "tablet", "Tablet or troche"

    # The unit each form is counted in, and the routes a dose from it may take.
    UNITS = {Form.VIAL: "mL", Form.NASAL_DEVICE: "device", Form.TABLET: "tablet"}
    ROUTES = {
        Form.VIAL: ("intramuscular", "intravenous"),
        Form.NASAL_DEVICE: ("intranasal",),
        Form.TABLET: ("sublingual",),
    }

    drug = models.CharField(max_length=20, choices=MedicationOrder.Drug)
    product = models.CharField(
        "product",
        max_length=150,
        help_text="As on the label, e.g. “Ketamine HCl injection, 10 mL multi-dose vial”.",
    )
    form = models.CharField("finished form", max_length=20, choices=Form)
    strength_mg = models.DecimalField(
        "strength (mg in each mL, device or tablet)",
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    container_quantity = models.DecimalField(
        "each container holds (mL, devices or tablets)",
        max_digits=10,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0.0001"))],
    )
    # Empty for a compounded product, which has none.
    ndc = models.CharField("NDC", max_length=13, blank=True)
    lot_number = models.CharField("lot number", max_length=40)
    expires_on = models.DateField("expiry date")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["drug", "form", "strength_mg", "expires_on", "lot_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["drug", "form", "strength_mg", "lot_number"], name="lot_once_per_product"
            ),
            models.CheckConstraint(condition=models.Q(strength_mg__gt=0), name="lot_strength_positive"),
            models.CheckConstraint(
                condition=models.Q(container_quantity__gt=0), name="lot_container_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_drug_display().split(',')[0]} {self.strength_text}, lot {self.lot_number}"

    @property
    def unit(self) -> str:
        return self.UNITS[self.form]

    @property
    def strength_text(self) -> str:
        from kapflow.medical.doses import number

        return f"{number(self.strength_mg)} mg/{self.unit}"

    @property
    def routes(self) -> tuple[str, ...]:
        return self.ROUTES[self.form]

    @property
    def whole_units(self) -> bool:
        """Devices are counted whole; mL and tablets (which may be halved) are not."""
        return self.form == self.Form.NASAL_DEVICE

    def is_expired(self, day: datetime.date) -> bool:
        return self.expires_on < day


class Entry(models.Model):
    """One line of a lot's ledger: what came in or went out, when, by whom, and the balance it
    left. Quantities are in the lot's unit (mL, devices or tablets), exact to 0.0001, positive in
    and negative out."""

    class Kind(models.TextChoices):
        OPENING = "opening", "Stock on hand at the initial inventory"
        RECEIPT = "receipt", "Receipt"
        ADMINISTRATION = "administration", "Administration"
        WASTE = "waste", "Waste (witnessed)"
        TRANSFER = "transfer", "Transfer to another registrant"
        RETURN = "return", "Return to the supplier"
        DESTRUCTION = "destruction", "Destruction"
        LOSS = "loss", "Loss or theft"
        CORRECTION = "correction", "Correction"

    INCOMING = (Kind.OPENING, Kind.RECEIPT)
    # Kinds that name the other registrant or business (supplier, recipient, reverse distributor).
    WITH_PARTY = (Kind.RECEIPT, Kind.TRANSFER, Kind.RETURN)

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="entries")
    # 1, 2, 3… within the lot: two writers that read the same latest entry cannot both write
    # the next (unique), besides the lot's row lock every writer takes.
    sequence = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind)
    quantity = models.DecimalField(max_digits=12, decimal_places=4)
    balance_after = models.DecimalField("balance", max_digits=12, decimal_places=4)
    occurred_at = models.DateTimeField("date")
    # Who received, gave, wasted, sent or destroyed it.
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The supplier, the receiving registrant or the reverse distributor.
    party_name = models.CharField("name", max_length=150, blank=True)
    party_address = models.CharField("address", max_length=250, blank=True)
    party_dea_number = models.CharField("DEA number", max_length=9, blank=True)
    document_reference = models.CharField("invoice, packing slip or form number", max_length=100, blank=True)
    containers = models.PositiveIntegerField("containers", null=True, blank=True)
    # An administration: the dose, and the client (the DEA record names them).
    administration = models.ForeignKey(
        "dosing.Administration",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A waste or an on-site destruction: the witness, who confirmed who they are at the time.
    witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    witness_confirmed_at = models.DateTimeField(null=True, blank=True)
    second_witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    second_witness_confirmed_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # A correction reverses exactly one entry, once.
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversal"
    )
    loss_report = models.ForeignKey(
        "controlled.LossReport", null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["lot", "sequence"]
        verbose_name_plural = "entries"
        constraints = [
            models.UniqueConstraint(fields=["lot", "sequence"], name="ledger_entry_sequence"),
            models.CheckConstraint(condition=models.Q(balance_after__gte=0), name="ledger_never_below_zero"),
            models.CheckConstraint(condition=~models.Q(quantity=0), name="ledger_entry_not_zero"),
            models.CheckConstraint(
                condition=models.Q(kind__in=["opening", "receipt"], quantity__gt=0)
                | models.Q(kind="correction")
                | (~models.Q(kind__in=["opening", "receipt", "correction"]) & models.Q(quantity__lt=0)),
                name="ledger_entry_direction",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="correction") & models.Q(reverses__isnull=False) & ~models.Q(reason="")
                )
                | (~models.Q(kind="correction") & models.Q(reverses__isnull=True)),
                name="ledger_correction_reverses_with_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="receipt")
                | (~models.Q(party_name="") & ~models.Q(party_dea_number="")),
                name="ledger_receipt_names_supplier",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="administration")
                | models.Q(administration__isnull=False, client__isnull=False),
                name="ledger_administration_names_dose",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="waste")
                | (
                    models.Q(witness__isnull=False, witness_confirmed_at__isnull=False)
                    & ~models.Q(witness=models.F("person"))
                    & ~models.Q(reason="")
                ),
                name="ledger_waste_witnessed_by_another",
            ),
            models.CheckConstraint(
                condition=models.Q(second_witness__isnull=True)
                | (
                    models.Q(second_witness_confirmed_at__isnull=False, witness__isnull=False)
                    & ~models.Q(second_witness=models.F("witness"))
                    & ~models.Q(second_witness=models.F("person"))
                ),
                name="ledger_second_witness_distinct",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="loss") | models.Q(loss_report__isnull=False),
                name="ledger_loss_has_report",
            ),
            # One posting per dose per lot (a correction reverses it; a dose put right is posted to
            # the right lot).
            models.UniqueConstraint(
                fields=["administration", "lot"],
                condition=models.Q(kind="administration"),
                name="ledger_one_posting_per_dose_and_lot",
            ),
        ]
        indexes = [
            # The report by period: every entry of every lot between two dates.
            models.Index(fields=["occurred_at"], name="ledger_entry_date_idx"),
            # One lot's entries in a period (the report's balances at its start and end), and one
            # kind's in a period (the dispensing record: administrations).
            models.Index(fields=["lot", "occurred_at"], name="ledger_entry_lot_date_idx"),
            models.Index(fields=["kind", "occurred_at"], name="ledger_entry_kind_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity} {self.lot.unit}"

    @property
    def mg(self) -> Decimal:
        return self.quantity * self.lot.strength_mg


class Inventory(models.Model):
    """A count of every lot on hand (21 CFR 1304.11): the initial one on the first day of handling
    stock (zero if there is none), then at least every two years. Saved once with its counts."""

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial inventory"
        BIENNIAL = "biennial", "Biennial inventory"
        OTHER = "other", "Other inventory (new registrant, new substance, or on request)"

    class TimeOfDay(models.TextChoices):
        OPENING = "opening", "At the opening of business"
        CLOSE = "close", "At the close of business"

    kind = models.CharField(max_length=10, choices=Kind)
    taken_on = models.DateField("date taken")
    time_of_day = models.CharField("taken", max_length=10, choices=TimeOfDay)
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-taken_on", "-pk"]
        verbose_name_plural = "inventories"
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(kind="initial"), name="inventory_one_initial"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.taken_on:%Y-%m-%d}"


class InventoryCount(models.Model):
    """One lot's count in an inventory, beside what the ledger said at that moment."""

    inventory = models.ForeignKey(Inventory, on_delete=models.PROTECT, related_name="counts")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="counts")
    full_containers = models.PositiveIntegerField("unopened containers", default=0)
    open_quantity = models.DecimalField(
        "in opened containers",
        max_digits=12,
        decimal_places=4,
        default=ZERO,
        validators=[MinValueValidator(ZERO)],
    )
    counted = models.DecimalField("counted", max_digits=12, decimal_places=4)
    expected = models.DecimalField("the ledger's balance", max_digits=12, decimal_places=4)
    # Damaged or expired stock awaiting disposal is counted too, and marked.
    awaiting_disposal = models.BooleanField("damaged or expired, awaiting disposal", default=False)

    class Meta:
        ordering = ["inventory", "lot"]
        constraints = [
            models.UniqueConstraint(fields=["inventory", "lot"], name="inventory_count_once_per_lot"),
            models.CheckConstraint(condition=models.Q(counted__gte=0), name="inventory_count_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.lot}: {self.counted}"

    @property
    def difference(self) -> Decimal:
        return self.counted - self.expected


class Discrepancy(models.Model):
    """A count that differs from the ledger, for the practice's DEA registrant to explain. The
    explanation is written once; a loss it finds is posted to the ledger (kind "loss") and, when
    theft or significant, starts a loss report."""

    class Outcome(models.TextChoices):
        COUNTING_ERROR = "counting_error", "A counting error: recounted and found to match"
        LEDGER_ERROR = "ledger_error", "An error in the ledger, put right by a correction"
        LOSS = "loss", "A loss, posted to the ledger"
        THEFT_OR_SIGNIFICANT = "theft", "Theft or significant loss, reported to the DEA"

    count = models.OneToOneField(InventoryCount, on_delete=models.PROTECT, related_name="discrepancy")
    difference = models.DecimalField(max_digits=12, decimal_places=4)
    raised_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=20, choices=Outcome, blank=True)
    explanation = models.TextField(blank=True)
    explained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    explained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-pk"]
        verbose_name_plural = "discrepancies"
        constraints = [
            models.CheckConstraint(condition=~models.Q(difference=0), name="discrepancy_differs"),
            models.CheckConstraint(
                condition=models.Q(
                    explained_at__isnull=True, explained_by__isnull=True, explanation="", outcome=""
                )
                | (
                    models.Q(explained_at__isnull=False, explained_by__isnull=False)
                    & ~models.Q(explanation="")
                    & ~models.Q(outcome="")
                ),
                name="discrepancy_explained_in_full",
            ),
        ]

    def __str__(self) -> str:
        return f"Discrepancy of {self.difference} in {self.count.lot}"


class LossReport(models.Model):
    """Theft or significant loss (21 CFR 1301.76(b)): written notice to the DEA Field Division
    Office within one business day of discovery, and DEA Form 106 within 45 days. The dates due
    are fixed when the report is started, from the practice's settings of the day; each step
    taken is a LossReportStep."""

    class Kind(models.TextChoices):
        THEFT = "theft", "Theft"
        LOSS = "loss", "Significant loss"
        IN_TRANSIT = "in_transit", "Lost in transit"
        # A discrepancy the registrant found to be neither theft nor significant: posted to the
        # ledger through a report closed at once, never told to the DEA.
        MINOR = "minor", "Loss, not significant (not reported to the DEA)"

    # What a person reports by hand: the kinds the DEA must hear of.
    REPORTED = (Kind.THEFT, Kind.LOSS, Kind.IN_TRANSIT)

    kind = models.CharField(max_length=12, choices=Kind)
    discovered_at = models.DateTimeField("discovered")
    discovered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    description = models.TextField("what happened")
    notice_due_on = models.DateField("notice to the DEA due")
    form_due_on = models.DateField("DEA Form 106 due")
    discrepancy = models.OneToOneField(
        Discrepancy, null=True, blank=True, on_delete=models.PROTECT, related_name="loss_report"
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-discovered_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(description=""), name="loss_report_described"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} discovered {timezone.localdate(self.discovered_at):%Y-%m-%d}"


class LossReportStep(models.Model):
    """One step of a loss report, recorded once: the notice sent, the form filed, or the report
    closed by the registrant."""

    class Step(models.TextChoices):
        NOTICE = "notice", "Written notice sent to the DEA Field Division Office"
        FORM_106 = "form_106", "DEA Form 106 filed"
        CLOSED = "closed", "Closed"

    report = models.ForeignKey(LossReport, on_delete=models.PROTECT, related_name="steps")
    step = models.CharField(max_length=10, choices=Step)
    done_on = models.DateField("date")
    reference = models.CharField("reference (confirmation or form number)", max_length=100, blank=True)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["done_on", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["report", "step"], name="loss_report_step_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_step_display()} on {self.done_on:%Y-%m-%d}"


class PharmacyFill(models.Model):
    """A prescription filled by a pharmacy for the client to hold and bring to sessions
    (compounded sublingual troches or tablets): one row per fill, the original or a refill."""

    class Form(models.TextChoices):
        TROCHE = "troche", "Troche (lozenge)"
        RAPID_DISSOLVE = "rapid_dissolve", "Rapid-dissolve tablet"
        TABLET = "tablet", "Tablet"

    order = models.ForeignKey(MedicationOrder, on_delete=models.PROTECT, related_name="fills")
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="pharmacy_fills")
    pharmacy = models.CharField("pharmacy", max_length=200)
    pharmacy_phone = models.CharField("pharmacy's phone", max_length=40, blank=True)
    rx_number = models.CharField("prescription number", max_length=40, blank=True)
    form = models.CharField(max_length=20, choices=Form)
    strength_mg = models.DecimalField(
        "strength (mg in each unit)",
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    quantity = models.DecimalField(
        "quantity filled (units)",
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.5"))],
    )
    refills_authorised = models.PositiveSmallIntegerField(
        "refills on the prescription", default=0, validators=[MaxValueValidator(5)]
    )
    refill_number = models.PositiveSmallIntegerField(
        "this fill", default=0, help_text="0 for the original fill, 1 for the first refill, and so on."
    )
    filled_on = models.DateField("fill date")
    lot_number = models.CharField("lot number on the label", max_length=40, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    # A fill recorded in error (a wrong quantity, the wrong order) is marked so, once, with the
    # reason: it stays on the record, no longer counts, and the right one is recorded beside it.
    voided_at = models.DateTimeField("marked entered in error", null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.TextField("why it was entered in error", blank=True)

    class Meta:
        ordering = ["filled_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(voided_at__isnull=True, voided_by__isnull=True, void_reason="")
                | (models.Q(voided_at__isnull=False, voided_by__isnull=False) & ~models.Q(void_reason="")),
                name="fill_voided_with_reason",
            ),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="fill_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(refills_authorised__lte=5)
                & models.Q(refill_number__lte=models.F("refills_authorised")),
                name="fill_within_refills",
            ),
            models.UniqueConstraint(
                fields=["order", "refill_number"],
                condition=models.Q(voided_at__isnull=True),
                name="fill_once_per_refill",
            ),
        ]

    def __str__(self) -> str:
        form = self.get_form_display().lower()
        return f"{self.quantity} × {self.strength_mg} mg {form}, {self.filled_on:%Y-%m-%d}"


class RemsEnrolment(models.Model):
    """The client's enrolment in the Spravato REMS (outpatient settings enrol each patient before
    the first dose; the client and prescriber sign the enrolment form). Checked before every
    intranasal esketamine dose."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="rems_enrolments")
    enrolled_on = models.DateField("enrolled on")
    patient_rems_id = models.CharField("patient's REMS ID", max_length=40)
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The prescriber who signed the enrolment form with the client.",
    )
    document = models.ForeignKey(
        "documents.ChartDocument", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-enrolled_on", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(patient_rems_id=""), name="rems_enrolment_has_id"),
        ]

    def __str__(self) -> str:
        return f"Enrolled in the Spravato REMS on {self.enrolled_on:%Y-%m-%d}"
