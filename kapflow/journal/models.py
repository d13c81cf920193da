from django.db import models
from django.utils import timezone


class JournalEntryQuerySet(models.QuerySet):
    def shared(self):
        """What the client's therapists may read: saved entries the client chose to share."""
        return self.filter(shared_at__isnull=False)


class JournalEntry(models.Model):
    """One entry in a client's journal. Private to the client unless they share it, one entry at
    a time; sharing can be withdrawn.

    What the client types is kept as a draft (`draft`, saved as they type) until they save it
    into `body`: the saved text changes only when they press Save, never by typing alone. A
    shared entry cannot be changed: the client stops sharing it first, so what a therapist read
    is always exactly what was shared."""

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="journal_entries")
    # The prompt it answers, if any: the medication session, the offset and the text as shown.
    visit = models.ForeignKey(
        "visits.Visit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="the medication session whose prompt it answers",
    )
    prompt_hours = models.PositiveSmallIntegerField("hours after the session", null=True, blank=True)
    prompt_text = models.TextField("the prompt as shown", blank=True)
    # Set by the editor page that began the entry: a draft sent while typing and a Save pressed a
    # moment later (both before either answer arrives) find the same entry instead of making two.
    key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    body = models.TextField("the saved entry", blank=True)
    draft = models.TextField("text typed and not yet saved", blank=True)
    draft_saved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    written_at = models.DateTimeField("first saved", null=True, blank=True)
    updated_at = models.DateTimeField("last saved", null=True, blank=True)
    shared_at = models.DateTimeField("shared with the therapist", null=True, blank=True)

    objects = JournalEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(visit__isnull=True, prompt_hours__isnull=True, prompt_text="")
                | models.Q(visit__isnull=False, prompt_hours__isnull=False),
                name="journal_prompt_complete",
            ),
            models.CheckConstraint(
                condition=models.Q(shared_at__isnull=True) | models.Q(written_at__isnull=False),
                name="journal_shared_only_when_saved",
            ),
            models.CheckConstraint(
                condition=models.Q(written_at__isnull=True) | ~models.Q(body=""),
                name="journal_saved_has_text",
            ),
            models.CheckConstraint(
                condition=models.Q(shared_at__isnull=True) | models.Q(draft_saved_at__isnull=True),
                name="journal_shared_is_not_being_edited",
            ),
        ]
        indexes = [
            # The client's portal journal: their entries, newest first.
            models.Index(fields=["client", "created_at"], name="journal_client_created_idx"),
            # The therapist's page and the chart's count: a client's shared entries.
            models.Index(fields=["client", "shared_at"], name="journal_client_shared_idx"),
        ]

    def __str__(self) -> str:
        return f"Journal entry of {timezone.localtime(self.created_at):%Y-%m-%d}"

    @property
    def is_saved(self) -> bool:
        return self.written_at is not None

    @property
    def is_shared(self) -> bool:
        return self.shared_at is not None

    @property
    def has_unsaved_changes(self) -> bool:
        return self.draft_saved_at is not None

    @property
    def text(self) -> str:
        """What the editor shows: the draft if there is one, else the saved text."""
        return self.draft if self.has_unsaved_changes else self.body
