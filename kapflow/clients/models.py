import datetime
import unicodedata

from django.conf import settings
from django.db import models
from django.utils import timezone

ADULT_AGE = 18


def age_on(born: datetime.date, day: datetime.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


# Letters with no separate accent mark to take off, spelled in plain letters once the marks that
# can be taken off are gone ("Ǿ" is "ø" with an acute: the acute goes first, then "ø" is "o");
# the middle dot of the Catalan "l·l" goes too.
_PLAIN_LETTERS = str.maketrans(
    {
        "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i",
        "ħ": "h", "ŧ": "t", "ŋ": "ng", "·": "",
    }
)  # fmt: skip


def fold(text: str) -> str:
    """`text` as the client search compares it: case folded and without accents, so that "José",
    "JOSE" and "jose" are the same word ("ß" becomes "ss", "ø" "o"). The same in Python for the
    stored names and for what is typed, so it needs nothing of the database (SQLite folds the
    case of ASCII letters only, and PostgreSQL's unaccent is an extension)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return bare.translate(_PLAIN_LETTERS)


class ContactMethod(models.TextChoices):
    PHONE = "phone", "Phone call"
    TEXT = "text", "Text message"
    EMAIL = "email", "Email"


class ClientQuerySet(models.QuerySet):
    def for_list(self):
        """What a list of clients shows: the primary therapist in the same query."""
        primary = CareTeamMember.objects.filter(
            client=models.OuterRef("pk"), role=CareTeamMember.Role.PRIMARY_THERAPIST
        )
        # Exists, not Count: no GROUP BY, and the paginator's COUNT(*) can drop both annotations.
        return self.annotate(
            primary_therapist_name=models.Subquery(primary.values("user__full_name")[:1]),
            has_emergency_contact=models.Exists(
                EmergencyContact.objects.filter(client=models.OuterRef("pk"))
            ),
            has_consenting_guardian=models.Exists(
                Guardian.objects.filter(client=models.OuterRef("pk"), has_legal_authority=True)
            ),
        ).order_by("last_name", "first_name", "pk")


class Client(models.Model):
    class Stage(models.TextChoices):
        CONSULTATION = "consultation", "Consultation"
        SCREENING = "screening", "Screening and medical evaluation"
        CONSENT = "consent", "Consent"
        PREPARATION = "preparation", "Preparation"
        COURSE = "course", "In a course of medication sessions"
        MAINTENANCE = "maintenance", "Maintenance"
        DISCHARGED = "discharged", "Discharged"
        NOT_PROCEEDING = "not_proceeding", "Not proceeding"

    first_name = models.CharField("legal first name", max_length=80)
    last_name = models.CharField("legal last name", max_length=80)
    preferred_name = models.CharField(
        "preferred name", max_length=80, blank=True, help_text="What the client likes to be called."
    )
    pronouns = models.CharField(
        max_length=40, blank=True, help_text="For example she/her, he/him, they/them."
    )
    date_of_birth = models.DateField("date of birth")
    # As medical forms ask for it (the Spravato REMS monitoring form among them); its values are
    # FHIR's administrative gender, which the record's export uses (docs/fhir.md).
    sex = models.CharField(
        "sex",
        max_length=10,
        blank=True,
        choices=[("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Unknown")],
        help_text="As on medical forms (the Spravato REMS monitoring form asks for it). "
        "Leave empty if not known.",
    )
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    # The phone's digits alone, so that "(818) 555-0101" is found by "8185550101".
    phone_digits = models.CharField(max_length=40, blank=True, editable=False)
    # The legal first and last names and the preferred name, folded (`fold`), so that the search
    # finds "José" by "jose". Kept by save() whenever a name is saved (bulk_create, which skips
    # save(), sets it by hand: the demo); migration 0006 filled it for the clients from before.
    search_name = models.TextField(blank=True, editable=False)
    preferred_contact = models.CharField(
        "preferred way to be contacted", max_length=10, choices=ContactMethod, default=ContactMethod.PHONE
    )
    address_line = models.CharField("street address", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField("state", max_length=60, blank=True)
    postal_code = models.CharField("ZIP code", max_length=20, blank=True)
    stage = models.CharField(max_length=20, choices=Stage, default=Stage.CONSULTATION)
    # The client's own portal account, once they have accepted an invitation.
    portal_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="portal_client",
        editable=False,
    )
    portal_shows_progress = models.BooleanField(
        "show progress on the portal",
        default=False,
        help_text="The client sees their scores and chart on the portal (their therapist decides).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        indexes = [
            # The caseload list's order (id included: it breaks ties, and the order is then the
            # index's whole). With search_name in it, a search by name (a substring of
            # search_name, which no index can seek) reads this index in the list's order and
            # fetches only the clients whose names match, rather than every client's row.
            models.Index(
                fields=["last_name", "first_name", "id", "search_name"], name="client_name_search_idx"
            ),
            # Search by date of birth.
            models.Index(fields=["date_of_birth"], name="client_dob_idx"),
            # Search by phone.
            models.Index(fields=["phone_digits"], name="client_phone_idx"),
        ]

    NAMES = ("first_name", "last_name", "preferred_name")

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, update_fields=None, **kwargs):
        """The folded names go with the names, however the client is saved: a new path that
        changes a name cannot leave the client unfindable."""
        if update_fields is not None:
            update_fields = frozenset(update_fields)  # read twice below: a generator would not be
        if update_fields is None or update_fields & set(self.NAMES):
            self.search_name = self.folded_names()
            if update_fields is not None:
                update_fields = {*update_fields, "search_name"}
        super().save(*args, update_fields=update_fields, **kwargs)

    def folded_names(self) -> str:
        """What `search_name` holds for the names as they are now."""
        return " ".join(fold(name) for name in (self.first_name, self.last_name, self.preferred_name) if name)

    @property
    def display_name(self) -> str:
        if self.preferred_name and self.preferred_name != self.first_name:
            return f"{self.preferred_name} ({self.first_name}) {self.last_name}"
        return f"{self.first_name} {self.last_name}"

    @property
    def initials(self) -> str:
        return f"{self.first_name[:1]}{self.last_name[:1]}".upper()

    def age(self, today: datetime.date | None = None) -> int:
        return age_on(self.date_of_birth, today or timezone.localdate())

    @property
    def is_minor(self) -> bool:
        return self.age() < ADULT_AGE

    @property
    def has_left_care(self) -> bool:
        """Discharged, or not going on with treatment: nothing waits on them."""
        return self.stage in LEFT_CARE


LEFT_CARE = (Client.Stage.DISCHARGED, Client.Stage.NOT_PROCEEDING)


class Guardian(models.Model):
    """A parent or legal guardian of a client under 18."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="guardians")
    name = models.CharField(max_length=150)
    relationship = models.CharField(max_length=60, help_text="For example mother, father, legal guardian.")
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    has_legal_authority = models.BooleanField(
        "can give consent", default=True, help_text="This person may sign consent for the client."
    )
    # The guardian's portal account (one person may be the guardian of several clients).
    portal_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="guardianships",
        editable=False,
    )

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.relationship})"


class EmergencyContact(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="emergency_contacts")
    name = models.CharField(max_length=150)
    relationship = models.CharField(max_length=60)
    phone = models.CharField(max_length=40)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.relationship})"


class CareTeamMember(models.Model):
    """A member of the practice's staff who cares for this client. Being on the care team is
    what lets a therapist or prescriber see the client (unless the practice opens the caseload
    to every clinician)."""

    class Role(models.TextChoices):
        PRIMARY_THERAPIST = "primary_therapist", "Primary therapist"
        THERAPIST = "therapist", "Therapist"
        PRESCRIBER = "prescriber", "Prescriber"
        OTHER = "other", "Other staff"

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="care_team")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="care_teams")
    role = models.CharField(max_length=20, choices=Role)
    added_at = models.DateTimeField(default=timezone.now)
    # Who put the person on the team (or last changed their role), shown on the chart's care-team
    # card. Empty for members added before this was recorded, and by the demo's loader.
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    # The roles on the team whose members write and sign the client's clinical records: progress
    # notes, letters, a discharge (everyone but "other staff"; kapflow.clients.access.writes_for).
    WRITING_ROLES = (Role.PRIMARY_THERAPIST, Role.THERAPIST, Role.PRESCRIBER)

    class Meta:
        ordering = ["role", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["client", "user"], name="care_team_once_per_person"),
            models.UniqueConstraint(
                fields=["client"],
                condition=models.Q(role="primary_therapist"),
                name="care_team_one_primary_therapist",
            ),
        ]
        indexes = [
            # The scoping helper's question: "is this user on this client's care team?"
            models.Index(fields=["user", "client"], name="care_team_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()}"


class StageChange(models.Model):
    """A clinician's decision to move a client to another stage by hand (not proceeding, left
    care, resuming treatment...), with the reason. The stage is otherwise moved only by the
    records that show the client got there (a consultation's decision, a preparation session);
    the demographics form cannot set it. The reason is kept here, not in the audit log, which
    records that a change happened but never free text."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=20, choices=Client.Stage)
    to_stage = models.CharField("new stage", max_length=20, choices=Client.Stage)
    reason = models.TextField(help_text="Why the client moves to this stage, as the chart should record it.")
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(from_stage=models.F("to_stage")), name="stage_change_changes_something"
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="stage_change_has_a_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.get_from_stage_display()} → {self.get_to_stage_display()}"


class OutsideProvider(models.Model):
    """Someone outside the practice who cares for the client and may receive letters: their
    existing therapist, a referring psychiatrist, their primary-care doctor. No login."""

    class Kind(models.TextChoices):
        THERAPIST = "therapist", "Existing therapist"
        PSYCHIATRIST = "psychiatrist", "Psychiatrist"
        PRIMARY_CARE = "primary_care", "Primary-care provider"
        OTHER = "other", "Other provider"

    class Release(models.TextChoices):
        NOT_REQUESTED = "not_requested", "Not requested"
        REQUESTED = "requested", "Requested, not yet signed"
        SIGNED = "signed", "Signed"
        REVOKED = "revoked", "Revoked by the client"

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="outside_providers")
    name = models.CharField(max_length=150)
    kind = models.CharField("role", max_length=20, choices=Kind)
    organisation = models.CharField("practice or organisation", max_length=150, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    release = models.CharField(
        "release of information", max_length=20, choices=Release, default=Release.NOT_REQUESTED
    )
    release_expires_on = models.DateField("release expires on", null=True, blank=True)
    # What the current release covers (kapflow.consent.categories.Category values), kept in step
    # with the latest decision on a release by kapflow.consent.services, as `release` is.
    release_categories = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(release="signed") | models.Q(release_expires_on__isnull=True),
                name="provider_expiry_only_when_signed",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def release_is_current(self, today: datetime.date | None = None) -> bool:
        if self.release != self.Release.SIGNED:
            return False
        return self.release_expires_on is None or self.release_expires_on >= (today or timezone.localdate())


class AccessGrant(models.Model):
    """A clinician outside the care team let into one client's record, for a reason and for a
    while, by the service that needed it (an in-session alert sent to the practice's on-call
    prescriber, kapflow.dosing.alerts) and ended by the service that closes the reason (signing
    the session's record). kapflow.clients.access reads it; no form writes it. Kept after it
    ends, so the chart's history shows who was let in, why and until when."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="access_grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=200)
    # What the grant is for, "<app>.<model>:<pk>", so that the service closing it finds it.
    source = models.CharField(max_length=80)
    granted_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "user", "source"],
                condition=models.Q(ended_at__isnull=True),
                name="access_grant_one_open",
            )
        ]
        indexes = [
            # clients_for: the clients of one person's open grants (user first, then client).
            models.Index(
                fields=["user", "client"],
                condition=models.Q(ended_at__isnull=True),
                name="access_grant_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.client} ({self.reason})"
