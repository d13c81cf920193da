import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.utils import timezone


def stored_name(document: "ChartDocument", filename: str) -> str:
    """Where a file is kept in the storage (KAPFLOW_MEDIA_DIR by default): under the client's
    number and a random name, so no path carries a name, a diagnosis or what the person called
    the file. The extension is the one the content was found to be (kapflow.documents.files)."""
    return f"documents/{document.client_id}/{uuid.uuid4().hex}{document.extension}"


class ChartDocument(models.Model):
    """A file filed on a client's chart: records from outside the practice, lab results, an ECG,
    a letter received, an outside prescriber's signed clearance letter or prescription. Kept
    through Django's storage API (settings.STORAGES["default"]). A filed document is never
    changed or deleted (kapflow.audit.immutable); what it says is transcribed elsewhere (an
    outside clearance or order points at the document it was transcribed from)."""

    class Kind(models.TextChoices):
        OUTSIDE_RECORDS = "outside_records", "Records from another provider"
        LAB_RESULTS = "lab_results", "Lab results"
        ECG = "ecg", "ECG"
        LETTER = "letter", "Letter received"
        CLEARANCE = "clearance", "Prescriber's clearance letter"
        PRESCRIPTION = "prescription", "Prescription"
        OTHER = "other", "Other"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=20, choices=Kind)
    title = models.CharField(max_length=150, help_text="What the document is, as the chart should list it.")
    received_from = models.CharField("from", max_length=150, blank=True)
    provider = models.ForeignKey(
        "clients.OutsideProvider",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="documents",
        help_text="The outside provider who sent it, when they are on the chart.",
    )
    dated = models.DateField("date on the document", null=True, blank=True)
    file = models.FileField(upload_to=stored_name, max_length=200)
    original_name = models.CharField("file name as uploaded", max_length=255)
    content_type = models.CharField(max_length=80)
    extension = models.CharField(max_length=10)
    size = models.PositiveIntegerField("size in bytes")
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        indexes = [models.Index(fields=["client", "uploaded_at"], name="document_client_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(size__gt=0), name="document_not_empty"),
            models.CheckConstraint(condition=~models.Q(sha256=""), name="document_has_hash"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def download_name(self) -> str:
        """The name a downloaded copy is saved under: the name it was uploaded with, its ending
        replaced by the one its content was found to be, so that a file is never saved with an
        ending that would open it as something else (a PDF named .html opened as a web page)."""
        stem = PurePosixPath(self.original_name).stem.strip(". ") or "document"
        return f"{stem}{self.extension}"
