"""The clinician's notes of every clinical visit but the medication session (whose record is its
runbook), the psychotherapy process notes kept apart from them, and the client's intention for
each medication session (docs/notes.md).

A progress note is written as a draft, saved as it is typed, then signed; signing locks it at the
database (kapflow/audit/immutable.py) and corrections are addenda. A process note, an addendum
and an intention are saved once and never changed."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class NoteFormat(models.TextChoices):
    SOAP = "soap", "SOAP (subjective, objective, assessment, plan)"
    DAP = "dap", "DAP (data, assessment, plan)"
    BIRP = "birp", "BIRP (behaviour, intervention, response, plan)"


# The sections of each format, in order: (key, heading, what it holds). docs/notes.md.
SECTIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    NoteFormat.SOAP: (
        ("subjective", "Subjective", "What the client reported, in their words where it matters."),
        ("objective", "Objective", "What you observed: presentation, vitals, scores."),
        ("assessment", "Assessment", "Your clinical judgement and the progress made."),
        ("plan", "Plan", "What happens next."),
    ),
    NoteFormat.DAP: (
        ("data", "Data", "What was said and observed."),
        ("assessment", "Assessment", "Your clinical judgement and the progress made."),
        ("plan", "Plan", "What happens next."),
    ),
    NoteFormat.BIRP: (
        ("behaviour", "Behaviour", "How the client presented."),
        ("intervention", "Intervention", "What you did."),
        ("response", "Response", "How the client responded."),
        ("plan", "Plan", "What happens next."),
    ),
}


class ProgressNote(models.Model):
    """The note of one clinical visit (consultation, medical evaluation, preparation, integration,
    therapy or progress review). The visit is completed by signing it."""

    visit = models.OneToOneField("visits.Visit", on_delete=models.PROTECT, related_name="progress_note")
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="progress_notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=4, choices=NoteFormat, default=NoteFormat.SOAP)
    # The format's sections, by key (SECTIONS); a key of another format is never kept.
    sections = models.JSONField(default=dict, blank=True)
    present = models.CharField(
        "who was present", max_length=300, blank=True, help_text="Anyone besides the client and you."
    )
    risk = models.TextField("risk assessment", blank=True)
    progress = models.TextField("progress toward the goals", blank=True)
    # KAP sections, where the visit's kind has them (kapflow.notes.kinds).
    topics = models.JSONField("preparation topics covered", default=list, blank=True)
    intentions = models.TextField("intentions, in the client's own words", blank=True)
    themes = models.TextField("integration themes", blank=True)
    # The medication session an integration visit follows, and the client's intention for it,
    # copied when the note is begun so the integration starts from what the client hoped for.
    follows = models.ForeignKey(
        "visits.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    session_intention = models.TextField("the client's intention for that session", blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The signature as it reads: name and credentials at the time of signing.
    signature = models.CharField(max_length=200, blank=True)
    # Signed after the practice's deadline for notes: labelled a late entry (docs/notes.md).
    late_entry = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signed_at__isnull=True, signed_by__isnull=True)
                | models.Q(signed_at__isnull=False, signed_by__isnull=False),
                name="progress_note_signed_by_someone",
            ),
            models.CheckConstraint(
                condition=models.Q(format__in=["soap", "dap", "birp"]), name="progress_note_format_known"
            ),
        ]
        indexes = [
            models.Index(fields=["client", "created_at"], name="progress_note_client_idx"),
        ]

    def __str__(self) -> str:
        return f"Note of the {self.visit}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    def section_rows(self) -> list[tuple[str, str, str, str]]:
        """(key, heading, hint, text) for each section of the note's format."""
        return [
            (key, heading, hint, self.sections.get(key, "")) for key, heading, hint in SECTIONS[self.format]
        ]


class NoteAddendum(models.Model):
    """A correction or addition to a signed note, with its reason: the note never changes."""

    note = models.ForeignKey(ProgressNote, on_delete=models.PROTECT, related_name="addenda")
    reason = models.CharField("reason", max_length=200)
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signature = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "note addenda"
        constraints = [
            models.CheckConstraint(condition=~models.Q(text=""), name="note_addendum_has_text"),
            models.CheckConstraint(condition=~models.Q(reason=""), name="note_addendum_has_reason"),
        ]

    def __str__(self) -> str:
        return f"Addendum by {self.author}"


class ProcessNote(models.Model):
    """A psychotherapy process note (45 CFR 164.501): the author's own notes of what was said,
    kept apart from the record. Read by its author only; never in a letter, an export or the
    portal. Saved once; a later thought is another note."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey(
        "visits.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField()
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-written_at", "-pk"]
        constraints = [models.CheckConstraint(condition=~models.Q(text=""), name="process_note_has_text")]
        indexes = [models.Index(fields=["author", "client", "written_at"], name="process_note_author_idx")]

    def __str__(self) -> str:
        return f"Process note of {timezone.localtime(self.written_at):%Y-%m-%d}"


class SessionIntention(models.Model):
    """The client's intention for one medication session: entered on the portal before the day,
    or by the therapist in the opening reflection. Never edited: a newer entry supersedes the
    older, which is kept, and the latest is the intention."""

    class Source(models.TextChoices):
        PORTAL = "portal", "On the portal"
        OPENING = "opening", "In the opening reflection"
        CLINICIAN = "clinician", "By the clinician before the day"

    visit = models.ForeignKey("visits.Visit", on_delete=models.PROTECT, related_name="intentions")
    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    source = models.CharField(max_length=10, choices=Source)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-entered_at", "-pk"]
        constraints = [models.CheckConstraint(condition=~models.Q(text=""), name="intention_has_text")]
        indexes = [models.Index(fields=["visit", "entered_at"], name="intention_visit_idx")]

    def __str__(self) -> str:
        return self.text[:60]
