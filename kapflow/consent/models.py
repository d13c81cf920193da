import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone


class Kind(models.TextChoices):
    KAP = "kap", "KAP informed consent"
    TELEHEALTH = "telehealth", "Telehealth consent"
    GUARDIAN = "guardian", "Guardian consent"
    ASSENT = "assent", "Minor's assent"
    RELEASE = "release", "Release of information"


def text_hash(title: str, body: str) -> str:
    """The sha256 of exactly what a signer is shown: the title, a blank line, the body."""
    return hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest()


class ConsentDocumentQuerySet(models.QuerySet):
    def published(self):
        return self.filter(published_at__isnull=False)

    def drafts(self):
        return self.filter(published_at__isnull=True)


class ConsentDocument(models.Model):
    """One version of one kind of consent document. A version is written as a draft and becomes
    current when published; a published version is never edited (signatures point at it and
    record its hash), so a change is always a new version."""

    Kind = Kind

    kind = models.CharField(max_length=20, choices=Kind)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=150)
    body = models.TextField()
    requires_reconsent = models.BooleanField(
        "everyone must sign again",
        default=False,
        help_text="Signatures on earlier versions stop counting once this version is published.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = ConsentDocumentQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="consent_document_version_once"),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(published_at__isnull=True),
                name="consent_document_one_draft",
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="consent_document_version_1_up"),
        ]

    def __str__(self) -> str:
        return f"{self.title}, version {self.version}"

    @property
    def is_draft(self) -> bool:
        return self.published_at is None

    @property
    def sha256(self) -> str:
        return text_hash(self.title, self.body)


class Signature(models.Model):
    """One decision on one version of a consent document, made by the client or a guardian in
    the office and recorded by the staff member who presented it, or made on the portal by the
    signer themselves. Never edited or deleted: a
    later decision on the same kind of document (and, for a release, the same provider)
    supersedes it."""

    class Signer(models.TextChoices):
        CLIENT = "client", "The client"
        GUARDIAN = "guardian", "A guardian"

    class Decision(models.TextChoices):
        AGREE = "agree", "Agreed"
        REFUSE = "refuse", "Did not agree"
        REVOKE = "revoke", "Withdrew an earlier agreement"

    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="signatures")
    # Denormalised from the document so that "the latest decision of this kind" is one indexed query.
    kind = models.CharField(max_length=20, choices=Kind)
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="consent_signatures")
    signer = models.CharField(max_length=10, choices=Signer)
    # A guardian taken off the chart no longer speaks for the client: their signature stops
    # counting, and the record keeps their name.
    guardian = models.ForeignKey(
        "clients.Guardian",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="consent_signatures",
    )
    provider = models.ForeignKey(
        "clients.OutsideProvider",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="consent_signatures",
    )
    signer_name = models.CharField("name on file", max_length=150)
    provider_name = models.CharField(max_length=150, blank=True)
    typed_name = models.CharField(max_length=150)
    decision = models.CharField(max_length=10, choices=Decision)
    release_expires_on = models.DateField(null=True, blank=True)
    # A release's scope (kapflow.consent.categories.Category values) and purpose, as signed.
    categories = models.JSONField(default=list, blank=True)
    purpose = models.CharField(max_length=200, blank=True)
    signed_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    text_sha256 = models.CharField("sha256 of the text signed", max_length=64)
    # Either a staff member presented the document in the office, or the signer signed it on the
    # portal themselves, signed in to their own account: exactly one of the two is recorded.
    presented_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    portal_account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The portal account the signer was signed in to, when they signed on the portal.",
    )

    class Meta:
        ordering = ["-signed_at", "-pk"]
        indexes = [
            # The status page and the gate: a client's latest decision on each kind.
            models.Index(fields=["client", "kind", "signed_at"], name="signature_latest_idx"),
            # The documents page: how many clients signed each version.
            models.Index(fields=["document", "decision"], name="signature_document_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signer="guardian") | models.Q(guardian__isnull=True),
                name="signature_guardian_only_for_guardian",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="release") | models.Q(provider__isnull=True, provider_name=""),
                name="signature_provider_only_for_release",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="assent") | models.Q(signer="client"),
                name="signature_assent_by_the_client",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="guardian") | models.Q(signer="guardian"),
                name="signature_guardian_consent_by_a_guardian",
            ),
            models.CheckConstraint(
                condition=models.Q(release_expires_on__isnull=True)
                | models.Q(kind="release", decision="agree"),
                name="signature_expiry_only_on_an_agreed_release",
            ),
            models.CheckConstraint(
                condition=models.Q(decision__in=["agree", "refuse", "revoke"]),
                name="signature_decision_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(typed_name="") & ~models.Q(text_sha256=""),
                name="signature_typed_name_and_hash",
            ),
            models.CheckConstraint(
                condition=models.Q(presented_by__isnull=False, portal_account__isnull=True)
                | models.Q(presented_by__isnull=True, portal_account__isnull=False),
                name="signature_presented_or_signed_on_portal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()}: {self.document} by {self.signer_name}"

    @property
    def agreed(self) -> bool:
        return self.decision == self.Decision.AGREE

    @property
    def signed_on_portal(self) -> bool:
        return self.portal_account_id is not None
