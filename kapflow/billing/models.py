"""The practice's money, kept as a ledger (docs/billing.md).

Every row here is written once (kapflow.audit.immutable): a fee changes by a new line from a
date, a wrong charge is written off, a payment returned is a refund entry. Every balance is
derived from the rows, never stored. Amounts are Decimal dollars with two places (cents).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from kapflow.lib.kept import KeptByDatabase
from kapflow.visits.models import Visit

CENT = Decimal("0.01")


class Fee(models.Model):
    """One line of the fee schedule, in force from `effective_from` until a later line for the
    same visit kind, length band and code replaces it (docs/billing.md, "The fee schedule").

    A visit kind may have several lines (a prescriber's E/M code and a monitoring code for one
    medication session), and lines by length (a therapy hour of 53 minutes or more bills
    90837, a shorter one 90834): the band of a visit is the longest `minutes_from` it reaches.
    A line with no code and no amount is a free visit (the discovery call). A withdrawn line
    says the code no longer applies from its date."""

    kind = models.CharField("visit kind", max_length=20, choices=Visit.Kind)
    minutes_from = models.PositiveSmallIntegerField(
        "for visits of at least (minutes)",
        default=0,
        help_text="0 for any length. Give a second line with a higher figure where a longer visit bills "
        "another code or fee.",
    )
    code = models.CharField(
        "billing code",
        max_length=5,
        blank=True,
        help_text="The CPT or HCPCS code, e.g. 90837. Leave empty for a free visit.",
    )
    modifiers = models.CharField(
        max_length=11, blank=True, help_text="Up to four two-character modifiers, separated by spaces."
    )
    units = models.PositiveSmallIntegerField(
        default=1, help_text="How many units of the code one visit is billed as (0820T is billed per hour)."
    )
    description = models.CharField(
        max_length=120,
        help_text='What the client sees on the invoice, e.g. "Integration session, 60 minutes".',
    )
    amount = models.DecimalField("fee", max_digits=9, decimal_places=2, default=Decimal("0.00"))
    payer_dependent = models.BooleanField(
        "coverage depends on the payer",
        default=False,
        help_text="Category III codes such as 0820T–0822T: each insurer decides whether it pays. The "
        "superbill says so beside the line.",
    )
    withdrawn = models.BooleanField(
        default=False,
        help_text="From this date the line no longer applies: visits of this kind stop billing it.",
    )
    effective_from = models.DateField("in force from")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["kind", "minutes_from", "code", "-effective_from", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="fee_not_negative"),
            models.CheckConstraint(condition=Q(units__gte=1), name="fee_at_least_one_unit"),
            # A line without a code charges nothing: a charge with no code could not be claimed.
            models.CheckConstraint(condition=~Q(code="") | Q(amount=0), name="fee_free_has_no_code"),
        ]
        indexes = [models.Index(fields=["kind", "effective_from"], name="fee_kind_from_idx")]

    def __str__(self) -> str:
        what = self.code or "free"
        return f"{self.get_kind_display()} ({what}) from {self.effective_from:%Y-%m-%d}"

    @property
    def is_free(self) -> bool:
        return not self.code

    @property
    def line(self) -> tuple[str, int, str]:
        """What a later line must share to replace this one."""
        return (self.kind, self.minutes_from, self.code)


class Diagnosis(models.Model):
    """A diagnosis a licensed clinician made, as an ICD-10-CM code and its words: written once.
    It ends (no longer current, or entered in error) by setting the end once; a superbill
    lists the diagnoses current on its dates of service."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="diagnoses")
    code = models.CharField("ICD-10-CM code", max_length=8)
    description = models.CharField(max_length=200)
    diagnosed_on = models.DateField("diagnosed on", default=timezone.localdate)
    diagnosed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    ended_on = models.DateField("no longer current from", null=True, blank=True)
    in_error = models.BooleanField("entered in error", default=False)
    end_reason = models.CharField(max_length=200, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["diagnosed_on", "pk"]
        verbose_name_plural = "diagnoses"
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | (Q(ended_on__isnull=False) & Q(ended_by__isnull=False)),
                name="diagnosis_end_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"

    def current_on(self, day) -> bool:
        return (
            not self.in_error and self.diagnosed_on <= day and (self.ended_on is None or self.ended_on > day)
        )


class BillingProfile(models.Model):
    """How a client pays: self-pay (the Good Faith Estimate is theirs) or through insurance, and
    the policy details a superbill carries when the client gives them. Edited in place, audited."""

    client = models.OneToOneField("clients.Client", on_delete=models.PROTECT, related_name="billing_profile")
    self_pay = models.BooleanField(
        "pays for their own care",
        default=True,
        help_text="Uninsured, or insured but not having the practice bill the insurer (a superbill "
        "the client claims with counts as self-pay). A self-pay client is given a Good Faith Estimate.",
    )
    insurer = models.CharField("insurer", max_length=120, blank=True)
    member_id = models.CharField("insured's ID", max_length=40, blank=True)
    group_number = models.CharField("group number", max_length=40, blank=True)
    policy_holder = models.CharField(
        "insured's name", max_length=150, blank=True, help_text="Leave empty when the client is the insured."
    )
    policy_holder_address = models.CharField("insured's address", max_length=250, blank=True)
    referring_name = models.CharField("referring provider", max_length=150, blank=True)
    referring_npi = models.CharField("referring provider's NPI", max_length=10, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"Billing profile of {self.client}"


class Charge(KeptByDatabase):
    """What one visit costs under one line of the fee schedule, at the fee in force on the day
    of service: a later fee change never reaches it."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="charges")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="charges")
    fee = models.ForeignKey(Fee, on_delete=models.PROTECT, related_name="charges")
    service_date = models.DateField("date of service")
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="rendering clinician",
    )
    code = models.CharField(max_length=5)
    modifiers = models.CharField(max_length=11, blank=True)
    units = models.PositiveSmallIntegerField(default=1)
    description = models.CharField(max_length=120)
    amount = models.DecimalField(max_digits=9, decimal_places=2)
    place_of_service = models.CharField("place of service", max_length=2)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Whether the charge is on an invoice: set by the database as the invoice line is written
    # (kapflow.billing.db). The billing page's charges waiting for an invoice read the few
    # without one through the partial index below.
    invoiced = models.BooleanField(default=False, editable=False)

    kept_by_database = ("invoiced",)

    class Meta:
        ordering = ["service_date", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="charge_positive"),
            models.UniqueConstraint(fields=["visit", "code"], name="charge_once_per_visit_and_code"),
        ]
        indexes = [
            models.Index(fields=["client", "service_date"], name="charge_client_date_idx"),
            models.Index(fields=["service_date"], name="charge_date_idx"),
            models.Index(fields=["client"], condition=Q(invoiced=False), name="charge_waiting_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.code} on {self.service_date:%Y-%m-%d}: {self.amount}"


class Invoice(KeptByDatabase):
    """A numbered bill to a client for charges not yet billed (each charge is on one invoice).
    Its balance is its charges less what was paid and written off, plus what was refunded."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="invoices")
    number = models.PositiveIntegerField(unique=True)
    issued_on = models.DateField("issued on")
    due_on = models.DateField("due on")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # What is still owed, in whole cents: kept by the database itself as lines and entries are
    # written (kapflow.billing.db), never by code. "What is owed" reads only the invoices above
    # zero through the partial index below, not every invoice of the practice's years.
    owed_cents = models.IntegerField(default=0, editable=False)

    kept_by_database = ("owed_cents",)

    class Meta:
        ordering = ["-issued_on", "-number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(due_on__gte=models.F("issued_on")), name="invoice_due_after_issue"
            ),
            # Nothing is paid or written off beyond what is owed (entry_record refuses it first).
            models.CheckConstraint(condition=Q(owed_cents__gte=0), name="invoice_owed_not_negative"),
        ]
        indexes = [
            models.Index(fields=["client", "issued_on"], name="invoice_client_issued_idx"),
            models.Index(fields=["issued_on"], name="invoice_issued_idx"),
            models.Index(fields=["due_on"], condition=Q(owed_cents__gt=0), name="invoice_owed_idx"),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.number}"

    @property
    def owed(self) -> Decimal:
        """What is still owed, as the database keeps it (owed_cents)."""
        return self.owed_cents * CENT


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    charge = models.OneToOneField(Charge, on_delete=models.PROTECT, related_name="invoice_line")

    class Meta:
        ordering = ["charge__service_date", "charge_id"]

    def __str__(self) -> str:
        return f"{self.charge} on {self.invoice}"


class Entry(models.Model):
    """Money against an invoice: a payment received (taken outside kapflow), a refund of part or
    all of a payment, or a write-off of what will not be collected. Never edited: a payment
    recorded in error is refunded with that reason."""

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment"
        REFUND = "refund", "Refund"
        WRITE_OFF = "write_off", "Write-off"

    class Method(models.TextChoices):
        CARD = "card", "Card (taken outside kapflow)"
        CASH = "cash", "Cash"
        HSA_FSA = "hsa_fsa", "HSA or FSA card"
        CHEQUE = "cheque", "Cheque"
        BANK = "bank", "Bank transfer"
        OTHER = "other", "Other"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="entries")
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind)
    amount = models.DecimalField(max_digits=9, decimal_places=2)
    method = models.CharField(max_length=10, choices=Method, blank=True)
    reference = models.CharField(
        max_length=80, blank=True, help_text="A receipt, cheque or card-terminal reference, if there is one."
    )
    received_on = models.DateField("date")
    reason = models.CharField(max_length=250, blank=True)
    refund_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    # The form's own key (kapflow.lib.forms.SentOnce): a payment sent twice is recorded once.
    entry_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["received_on", "pk"]
        verbose_name_plural = "entries"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_entry_positive"),
            models.CheckConstraint(
                condition=Q(kind="write_off", method="") | (~Q(kind="write_off") & ~Q(method="")),
                name="billing_entry_method_for_money",
            ),
            models.CheckConstraint(
                condition=(Q(kind="refund") & Q(refund_of__isnull=False) & ~Q(reason=""))
                | (~Q(kind="refund") & Q(refund_of__isnull=True)),
                name="billing_refund_of_a_payment",
            ),
            models.CheckConstraint(
                condition=~Q(kind="write_off") | ~Q(reason=""), name="billing_write_off_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["client", "received_on"], name="billing_entry_client_idx"),
            models.Index(fields=["kind", "received_on"], name="billing_entry_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.amount} on {self.received_on:%Y-%m-%d}"

    @property
    def effect(self) -> Decimal:
        """What the entry does to the invoice's balance."""
        return self.amount if self.kind == self.Kind.REFUND else -self.amount


class Estimate(models.Model):
    """A Good Faith Estimate given to a self-pay client (docs/good-faith-estimate.md): what the
    course in the plan is expected to cost, line by line, at the fees in force when it was
    made. Written once with everything it shows (`content`), so the copy the client saved and
    the one printed years later are the same; superseded once, by the next one."""

    class Reason(models.TextChoices):
        PLAN = "plan", "The course plan was made"
        PLAN_CHANGED = "plan_changed", "The course plan changed"
        ASKED = "asked", "The client asked"
        RENEWED = "renewed", "The last estimate ran out"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="estimates")
    plan = models.ForeignKey(
        "pathway.CoursePlan", null=True, blank=True, on_delete=models.PROTECT, related_name="estimates"
    )
    reason = models.CharField(max_length=14, choices=Reason)
    issued_at = models.DateTimeField(default=timezone.now)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The services it covers from this day (a re-issued estimate keeps its course's first day).
    covers_from = models.DateField()
    valid_until = models.DateField()
    total = models.DecimalField(max_digits=10, decimal_places=2)
    # Everything the estimate says, as it said it: lines, providers, identifiers, disclaimers.
    content = models.JSONField()
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="estimate_not_negative"),
            models.CheckConstraint(
                condition=Q(valid_until__gte=models.F("covers_from")), name="estimate_valid_after_start"
            ),
            models.UniqueConstraint(
                fields=["client"], condition=Q(superseded_at__isnull=True), name="one_estimate_in_force"
            ),
        ]

    def __str__(self) -> str:
        return f"Good Faith Estimate of {timezone.localtime(self.issued_at):%Y-%m-%d}"
