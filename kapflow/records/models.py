from django.conf import settings
from django.db import models
from django.utils import timezone


class ImportedResponse(models.Model):
    """Where a questionnaire response that came from another system came from: the FHIR
    QuestionnaireResponse a clinician imported into the client's measures after confirming it
    was this client's (kapflow.records.importing). The response itself is an ordinary
    measures.Response; this is its provenance, written once with it and never changed. The same
    file is never imported twice (its SHA-256 is unique)."""

    response = models.OneToOneField(
        "measures.Response", on_delete=models.PROTECT, related_name="import_source"
    )
    # What the file says about its origin: QuestionnaireResponse.identifier (system|value) or id,
    # and the author or source it names. Shown on the chart beside the scores.
    source_identifier = models.CharField(max_length=300, blank=True)
    source_name = models.CharField(max_length=200, blank=True)
    # Who the file says the answers are about (subject.display, or the name and birth date of a
    # Patient in the same bundle), kept as the clinician saw it when confirming the match.
    subject_as_stated = models.CharField(max_length=300, blank=True)
    file_sha256 = models.CharField(max_length=64, unique=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Imported {self.response} ({self.source_name or self.source_identifier or 'unknown source'})"


class RecordCopy(models.Model):
    """A copy of a client's record given to the client (or, on their signed request, to a person
    they name) under their right of access (45 CFR 164.524): downloaded by the client on the
    portal, or produced by a clinician for a request made on paper. Written once, with the
    disclosure it is listed as (letters.Disclosure), and never changed (kapflow.records.access)."""

    class Channel(models.TextChoices):
        PORTAL = "portal", "Downloaded by the client on the portal"
        PAPER = "paper", "Produced by the practice for a written request"

    class Format(models.TextChoices):
        PDF = "pdf", "Readable PDF"
        FHIR = "fhir", "FHIR R4 bundle (JSON)"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="record_copies")
    channel = models.CharField(max_length=10, choices=Channel)
    format = models.CharField(max_length=10, choices=Format)
    # A written request: the day it was received (the 30 days to act run from it), who made it,
    # and who the copy goes to (the client, or a person named in the client's signed request).
    requested_on = models.DateField(null=True, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    delivered_to = models.CharField(max_length=150, blank=True)
    # The file exactly as it was given: its size and hash, so a copy can later be recognised.
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    disclosure = models.OneToOneField("letters.Disclosure", on_delete=models.PROTECT, related_name="+")
    produced_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    produced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-produced_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(channel="paper") | models.Q(requested_on__isnull=False),
                name="record_copy_paper_request_dated",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_format_display()} for {self.client} ({self.get_channel_display()})"
