from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def staff(self):
        return self.filter(models.Q(*[(role.flag, True) for role in STAFF_ROLES], _connector="OR"))

    def clinicians(self):
        return self.filter(is_active=True).filter(models.Q(is_therapist=True) | models.Q(is_prescriber=True))

    def on_call_candidates(self):
        """Who may be the practice's on-call prescriber: an active prescriber of the practice. An
        invited outside prescriber never is (they answer for their own clients alone)."""
        return self.filter(is_active=True, is_prescriber=True, outside_practice=False)


class Role(models.TextChoices):
    PRACTICE_ADMIN = "practice_admin", "Practice admin"
    THERAPIST = "therapist", "Therapist"
    PRESCRIBER = "prescriber", "Prescriber"
    COORDINATOR = "coordinator", "Coordinator"
    CLIENT = "client", "Client"
    GUARDIAN = "guardian", "Guardian"

    @property
    def flag(self) -> str:
        return f"is_{self.value}"


STAFF_ROLES = (Role.PRACTICE_ADMIN, Role.THERAPIST, Role.PRESCRIBER, Role.COORDINATOR)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. Roles are flags because one person often holds several: the solo
    therapist who owns the practice is admin and therapist at once."""

    email = models.EmailField("email", unique=True)
    full_name = models.CharField("full name", max_length=150)
    credentials = models.CharField(
        "credentials", max_length=60, blank=True, help_text="Shown after the name, e.g. LCSW or PMHNP."
    )
    # What a superbill and a Good Faith Estimate print for a clinician (docs/billing.md).
    npi = models.CharField(
        "NPI",
        max_length=10,
        blank=True,
        help_text="The clinician's own (type 1) National Provider Identifier.",
    )
    taxonomy_code = models.CharField(
        "taxonomy code",
        max_length=10,
        blank=True,
        help_text="The NUCC provider taxonomy code, e.g. 1041C0700X.",
    )
    license_type = models.CharField("licence", max_length=40, blank=True, help_text="e.g. LCSW, MD, PMHNP.")
    license_number = models.CharField("licence number", max_length=40, blank=True)
    license_state = models.CharField(
        "licence state", max_length=2, blank=True, help_text="Two letters, e.g. CA."
    )
    is_practice_admin = models.BooleanField("practice admin", default=False)
    is_therapist = models.BooleanField("therapist", default=False)
    is_prescriber = models.BooleanField("prescriber", default=False)
    is_coordinator = models.BooleanField("coordinator", default=False)
    is_client = models.BooleanField("client", default=False)
    is_guardian = models.BooleanField("guardian", default=False)
    # docs/access.md, "The invited outside prescriber".
    outside_practice = models.BooleanField(
        "outside prescriber",
        default=False,
        help_text="A prescriber from outside the practice: sees only the medical pages of the clients on "
        "whose care team they are, and nothing else of the practice.",
    )
    is_active = models.BooleanField("active", default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name"]
        constraints = [
            # An outside prescriber is a prescriber and nothing else: any other staff role would
            # open pages of the practice that the account exists to keep closed.
            models.CheckConstraint(
                condition=models.Q(outside_practice=False)
                | models.Q(
                    is_prescriber=True, is_practice_admin=False, is_therapist=False, is_coordinator=False
                ),
                name="outside_practice_is_a_prescriber_only",
                violation_error_message="An outside prescriber holds the prescriber role and no other.",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return f"{self.full_name}, {self.credentials}" if self.credentials else self.full_name

    @property
    def roles(self) -> list[Role]:
        return [role for role in Role if getattr(self, role.flag)]

    def has_role(self, *roles: Role) -> bool:
        return any(getattr(self, role.flag) for role in roles)

    @property
    def is_staff_member(self) -> bool:
        return self.has_role(*STAFF_ROLES)

    @property
    def is_clinician(self) -> bool:
        return self.is_therapist or self.is_prescriber

    # Django's own admin site is not installed: client data is only reachable through kapflow's
    # scoped, audited views. is_staff exists for the few contrib pieces that still ask for it.
    @property
    def is_staff(self) -> bool:
        return False
