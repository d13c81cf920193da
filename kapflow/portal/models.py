import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone


def token_hash(token: str) -> str:
    """What is stored of an invitation's token: its sha256. The token itself exists only in the
    email, so a copy of the database opens no portal."""
    return hashlib.sha256(token.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def live(self, now=None):
        """Invitations that may still be accepted: not used, not replaced, not expired."""
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now or timezone.now()
        )


class PortalInvitation(models.Model):
    """An invitation to open the portal, sent by email to the client or to a guardian of a minor.
    It works once, until it expires (the practice's portal_invitation_hours), and a newer
    invitation for the same person revokes it."""

    class State(models.TextChoices):
        PENDING = "pending", "Invited"
        ACCEPTED = "accepted", "Accepted"
        # Replaced by a newer one, sent to an address since corrected, or too many wrong passwords.
        REVOKED = "revoked", "Withdrawn"
        EXPIRED = "expired", "Expired"

    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE, related_name="portal_invitations")
    # Empty for the client's own invitation; the guardian invited otherwise.
    guardian = models.ForeignKey(
        "clients.Guardian", null=True, blank=True, on_delete=models.CASCADE, related_name="portal_invitations"
    )
    email = models.EmailField()
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The chart's portal card: the latest invitation of the client and their guardians.
            models.Index(fields=["client", "created_at"], name="portal_invitation_client_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="portal_invitation_expires_later",
            ),
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True) | models.Q(revoked_at__isnull=True),
                name="portal_invitation_accepted_or_revoked",
            ),
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True, accepted_by__isnull=True)
                | models.Q(accepted_at__isnull=False, accepted_by__isnull=False),
                name="portal_invitation_accepted_by_someone",
            ),
            # One open invitation per person: a newer one revokes the older in the same transaction.
            models.UniqueConstraint(
                fields=["client"],
                condition=models.Q(guardian__isnull=True, accepted_at__isnull=True, revoked_at__isnull=True),
                name="portal_invitation_one_open_for_the_client",
            ),
            models.UniqueConstraint(
                fields=["guardian"],
                condition=models.Q(guardian__isnull=False, accepted_at__isnull=True, revoked_at__isnull=True),
                name="portal_invitation_one_open_per_guardian",
            ),
        ]

    def __str__(self) -> str:
        return f"Portal invitation to {self.email}"

    def state(self, now=None) -> str:
        if self.accepted_at:
            return self.State.ACCEPTED
        if self.revoked_at:
            return self.State.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return self.State.EXPIRED
        return self.State.PENDING

    @property
    def is_live(self) -> bool:
        return self.state() == self.State.PENDING

    @property
    def for_guardian(self) -> bool:
        return self.guardian_id is not None
