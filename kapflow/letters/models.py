from django.conf import settings
from django.db import models
from django.utils import timezone


class Letter(models.Model):
    """A letter or summary about one client to one outside provider, made from the chart as a
    PDF (kapflow.letters.pdf). A draft is previewed and its free-text parts edited; signing fixes
    what it says (`facts`, the PDF and its hash) and locks the row (kapflow.audit.immutable). It
    may only be made, and only sent, while the provider's release covers its `categories`."""

    class Kind(models.TextChoices):
        REFERRAL = "referral", "Referral for a medical evaluation"
        POST_SESSION = "post_session", "Post-session summary for the prescriber"
        COLLABORATION = "collaboration", "Collaboration letter to the client's therapist"
        DISCHARGE = "discharge", "Discharge summary at the end of a course"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="letters")
    kind = models.CharField(max_length=20, choices=Kind)
    provider = models.ForeignKey(
        "clients.OutsideProvider", on_delete=models.PROTECT, related_name="letters", verbose_name="to"
    )
    # The medication session a post-session summary is about.
    runbook = models.ForeignKey(
        "dosing.Runbook", null=True, blank=True, on_delete=models.PROTECT, related_name="letters"
    )
    # kapflow.consent.categories.Category values: what the letter contains, chosen by its author
    # from those its kind can carry.
    categories = models.JSONField(default=list)
    body = models.TextField("letter", blank=True, help_text="The author's own words, above the summary.")
    recommendations = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # Set once, at signing: what the letter says, as read from the chart then, and its PDF.
    facts = models.JSONField(null=True, blank=True, editable=False)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    pdf = models.FileField(max_length=200, blank=True, editable=False)
    pdf_sha256 = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["client", "created_at"], name="letter_client_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signed_at__isnull=True, signed_by__isnull=True, pdf_sha256="")
                | models.Q(signed_at__isnull=False, signed_by__isnull=False)
                & ~models.Q(pdf_sha256="")
                & models.Q(facts__isnull=False),
                name="letter_signed_whole",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="post_session") | models.Q(runbook__isnull=False),
                name="letter_post_session_has_session",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.provider.name}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class Disclosure(models.Model):
    """One disclosure of a client's information outside the practice: what, to whom, when, why,
    on what basis (the release, or another legal basis), by whom and how. Written by the service
    that discloses, never edited or deleted (kapflow.audit.immutable). The chart lists them all;
    the accounting a client may ask for (45 CFR 164.528) is built from them (docs/letters.md)."""

    class Method(models.TextChoices):
        LINK = "link", "Emailed a one-time download link"
        FAX = "fax", "Downloaded to fax"
        POST = "post", "Downloaded to post"
        PORTAL = "portal", "Downloaded by the client on the portal"
        IN_PERSON = "in_person", "Handed to the person in person"
        OTHER = "other", "Other (recorded by hand)"

    class Basis(models.TextChoices):
        RELEASE = "release", "The client's signed release of information"
        RIGHT_OF_ACCESS = "right_of_access", "The client's right of access to their record (45 CFR 164.524)"
        TREATMENT = "treatment", "Treatment, payment or operations"
        REQUIRED_BY_LAW = "required_by_law", "Required by law (court order, subpoena, mandated report)"
        PUBLIC_HEALTH = "public_health", "Public health or health oversight"
        SERIOUS_THREAT = "serious_threat", "To avert a serious threat to health or safety"
        OTHER = "other", "Other"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="disclosures")
    letter = models.ForeignKey(
        Letter, null=True, blank=True, on_delete=models.PROTECT, related_name="disclosures"
    )
    what = models.CharField("information disclosed", max_length=300)
    provider = models.ForeignKey(
        "clients.OutsideProvider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipient_name = models.CharField("to", max_length=150)
    # As long as the longest email address (RFC 5321), which an emailed link records here.
    recipient_address = models.CharField("their address", max_length=254, blank=True)
    purpose = models.CharField(max_length=200)
    basis = models.CharField(max_length=20, choices=Basis)
    # The release the disclosure was made under, when its basis is a release.
    release = models.ForeignKey(
        "consent.Signature", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    method = models.CharField(max_length=10, choices=Method)
    # Whether HIPAA asks for it in an accounting of disclosures (45 CFR 164.528(a)): not for
    # treatment, payment and operations, nor under a release.
    accountable = models.BooleanField()
    disclosed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    disclosed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-disclosed_at", "-pk"]
        indexes = [models.Index(fields=["client", "disclosed_at"], name="disclosure_client_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(basis="release") | models.Q(release__isnull=False),
                name="disclosure_release_named",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.what} to {self.recipient_name}"


class DownloadLink(models.Model):
    """An expiring, one-time link to a signed letter's PDF, emailed to the provider (the email
    carries no clinical detail). Only the token's hash is kept."""

    letter = models.ForeignKey(Letter, on_delete=models.PROTECT, related_name="download_links")
    disclosure = models.OneToOneField(Disclosure, on_delete=models.PROTECT, related_name="download_link")
    token_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_from = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Link to {self.letter} for {self.email}"
