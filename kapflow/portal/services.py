"""Writes: portal invitations (sent by staff, accepted by the client or a guardian) and the
therapist's choice to show progress on the portal. Each function is atomic and writes its audit
row in the same transaction."""

import datetime
import secrets

from allauth.mfa.utils import is_mfa_enabled
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth import login
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.audit.services import audit_record
from kapflow.clients.models import Client, Guardian
from kapflow.portal.models import PortalInvitation, token_hash
from kapflow.portal.tasks import send_portal_invitation
from kapflow.practice.models import practice_for


class CannotInvite(Exception):
    """The person cannot be invited now; the message says why and what to do."""


class InvitationUnusable(Exception):
    """The link is unknown, used, replaced or expired (the page does not say which)."""


class AccountConflict(Exception):
    """The invitation's email belongs to an account that cannot take this portal."""


class WrongPassword(AccountConflict):
    """The password typed is not that of the existing account with the invitation's email."""


class AddressChanged(Exception):
    """The invitation was sent to an address the practice has since changed on the client's or
    the guardian's record: whoever holds the old address must not open the portal."""

    message = (
        "This invitation was sent to an address the practice has since changed. "
        "Ask the practice for a new one."
    )

    def __str__(self) -> str:
        return self.message


def _who(client: Client, guardian: Guardian | None) -> dict:
    return {"guardian": guardian.pk} if guardian else {"client": client.pk}


@transaction.atomic
def invitation_send(*, request, client: Client, guardian: Guardian | None = None) -> PortalInvitation:
    """Invite the client (or a guardian of a minor) to the portal by email. Any invitation still
    open for the same person stops working. Only a hash of the link's token is stored."""
    # The client's row first: two invitations sent at once wait for each other here, where the
    # lock on the open invitations below locks nothing when there is none.
    client = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
    if guardian is not None:
        # Read again after the lock: an address corrected meanwhile (contact_save takes the same
        # lock) is the one the invitation goes to.
        guardian = Guardian.objects.filter(pk=guardian.pk).first() or guardian
        if guardian.client_id != client.pk:
            raise CannotInvite("That guardian is not on this client's chart.")
        if not client.is_minor:
            raise CannotInvite(
                f"{client.first_name} is 18 or over: a guardian's portal shows nothing for an adult. "
                "Invite the client instead."
            )
        if guardian.portal_user_id:
            raise CannotInvite(f"{guardian.name} already has a portal account for {client.first_name}.")
        email, name = guardian.email, guardian.name
    else:
        if client.portal_user_id:
            raise CannotInvite(
                f"{client.first_name} already has a portal account. If they forgot their password, "
                "they can reset it from the sign-in page."
            )
        email, name = client.email, client.preferred_name or client.first_name
        shared = _guardian_with_address(client, email)
        if shared is not None:
            raise CannotInvite(
                f"{email} is also the address of {shared.name}, {client.first_name}'s guardian. "
                f"{client.first_name}'s own portal shows their journal and questionnaires, which a "
                f"guardian may not see: put {client.first_name}'s own address on file first."
            )
    if not email:
        raise CannotInvite(f"No email address is on file for {name}. Add one first, then invite.")

    # The one open invitation per person: lock it, then revoke it, before the new one is written.
    open_ones = PortalInvitation.objects.select_for_update(no_key=True).filter(
        client=client, guardian=guardian, accepted_at__isnull=True, revoked_at__isnull=True
    )
    now = timezone.now()
    revoked = list(open_ones.values_list("pk", flat=True))
    if revoked:
        PortalInvitation.objects.filter(pk__in=revoked).update(revoked_at=now)
    practice = practice_for(request)
    token = secrets.token_urlsafe(32)
    invitation = PortalInvitation(
        client=client,
        guardian=guardian,
        email=email,
        token_sha256=token_hash(token),
        created_at=now,
        created_by=request.user,
        expires_at=now + datetime.timedelta(hours=practice.portal_invitation_hours),
    )
    invitation.full_clean()
    invitation.save()
    audit_record(
        request=request,
        action="kapflow.portal.invitation.sent",
        client=client,
        obj=invitation,
        detail={
            **_who(client, guardian),
            "expires_at": invitation.expires_at.isoformat(),
            "revoked": revoked,
        },
    )
    link = settings.SITE_URL + reverse("portal:accept", args=[token])
    practice_name, practice_phone = practice.discreet_name, practice.phone
    hours = practice.portal_invitation_hours
    transaction.on_commit(
        lambda: send_portal_invitation.enqueue(
            to=email,
            name=name,
            practice_name=practice_name,
            practice_phone=practice_phone,
            link=link,
            hours=hours,
        )
    )
    return invitation


def _guardian_with_address(client: Client, email: str) -> Guardian | None:
    """A guardian of the client whose email, or whose portal account's, is `email`: a client's
    own invitation must never reach (or be taken by) a guardian."""
    if not email:
        return None
    return (
        client.guardians.filter(Q(email__iexact=email) | Q(portal_user__email__iexact=email))
        .order_by("pk")
        .first()
    )


def address_is_current(
    invitation: PortalInvitation, *, guardian: Guardian | None = None, client: Client | None = None
) -> bool:
    """Whether the invitation's address is still the one on file for the person it was sent to
    (compared case-insensitively, as accounts are). `client`/`guardian` may be passed freshly
    read and locked; otherwise the invitation's own (already loaded) ones are used."""
    if invitation.guardian_id is not None:
        current = (guardian or invitation.guardian).email
    else:
        current = (client or invitation.client).email
    return bool(current) and current.strip().lower() == invitation.email.strip().lower()


def invitations_revoke_for_address(
    *, request, client: Client, guardian: Guardian | None, old_email: str, new_email: str
) -> list[int]:
    """Revoke the open invitations of the client (or of the guardian) that were sent to an
    address other than `new_email`, the one now on file. Called by kapflow.clients.services in
    the transaction that changes the address (registered in PortalConfig.ready). Returns the
    ids revoked."""
    new = (new_email or "").strip().lower()
    open_ones = PortalInvitation.objects.select_for_update(no_key=True).filter(
        client=client, guardian=guardian, accepted_at__isnull=True, revoked_at__isnull=True
    )
    stale = [invitation for invitation in open_ones if invitation.email.strip().lower() != new]
    if not stale:
        return []
    PortalInvitation.objects.filter(pk__in=[i.pk for i in stale]).update(revoked_at=timezone.now())
    for invitation in stale:
        audit_record(
            request=request,
            action="kapflow.portal.invitation.revoked",
            client=client,
            obj=invitation,
            detail={**_who(client, guardian), "why": "address changed"},
        )
    return [invitation.pk for invitation in stale]


@transaction.atomic
def invitation_revoke_stale(*, request, invitation: PortalInvitation) -> None:
    """Revoke an invitation found, when someone opened it, to be for an address no longer on
    file (changed without going through the form, e.g. by a data fix): it can never work now."""
    _lock_client_first(invitation.client_id)
    # of=self: PostgreSQL locks the invitation, not the outer join's side.
    invitation = (
        PortalInvitation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("client", "guardian")
        .get(pk=invitation.pk)
    )
    if not invitation.is_live or address_is_current(invitation):
        return
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        request=request,
        action="kapflow.portal.invitation.revoked",
        client=invitation.client,
        obj=invitation,
        detail={**_who(invitation.client, invitation.guardian), "why": "address changed"},
    )


def _lock_client_first(client_id: int) -> Client:
    """Lock the client's row before any of their invitations: every service that writes both
    takes them in this order (an address correction locks the client, then revokes the
    invitations sent to the old address), so that two of them wait rather than deadlock."""
    return Client.objects.select_for_update(no_key=True).get(pk=client_id)


def invitation_by_token(token: str, *, lock: bool = False) -> PortalInvitation | None:
    """The live invitation this token opens, or None (unknown, used, replaced or expired)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    invitations = PortalInvitation.objects.live().select_related("client", "guardian")
    if lock:
        invitations = invitations.select_for_update(of=("self",), no_key=True)
    return invitations.filter(token_sha256=token_hash(token)).first()


# Wrong passwords typed for an existing account on one invitation before the link stops working:
# the accept page checks a password outside the sign-in page's rate limit, so it has its own.
PASSWORD_TRIES = 5
PASSWORD_REFUSED = "kapflow.portal.invitation.password_refused"


@transaction.atomic
def invitation_password_refused(*, request, invitation: PortalInvitation) -> int:
    """Record a wrong password typed on the invitation's page for the existing account. After
    PASSWORD_TRIES of them the invitation is revoked (the practice sends a new one). Returns how
    many tries are left (0: the link no longer works)."""
    from kapflow.audit.models import AuditEvent

    _lock_client_first(invitation.client_id)
    invitation = PortalInvitation.objects.select_for_update(no_key=True).get(pk=invitation.pk)
    audit_record(request=request, action=PASSWORD_REFUSED, client=invitation.client, obj=invitation)
    tries = AuditEvent.objects.filter(
        action=PASSWORD_REFUSED, object_type=invitation._meta.label_lower, object_id=str(invitation.pk)
    ).count()
    if not invitation.is_live:
        return 0
    if tries < PASSWORD_TRIES:
        return PASSWORD_TRIES - tries
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        request=request,
        action="kapflow.portal.invitation.revoked",
        client=invitation.client,
        obj=invitation,
        detail={"why": "too many wrong passwords", "tries": tries},
    )
    return 0


def existing_account(invitation: PortalInvitation) -> User | None:
    """An account already holding the invitation's email (a guardian of a sibling, a client who
    is also a parent): accepting then adds this portal to it, with its own password."""
    return User.objects.filter(email__iexact=invitation.email).first()


def holds_nothing(user: User) -> bool:
    """The account opens no portal: no client record and no guardianship."""
    return not (
        Client.objects.filter(portal_user=user).exists() or Guardian.objects.filter(portal_user=user).exists()
    )


def is_reopenable(user: User | None) -> bool:
    """A portal account whose access the practice ended (`portal_access_end`): a new invitation
    opens it again, with a password chosen then, as for a new account."""
    return user is not None and not user.is_active and not user.is_staff_member and holds_nothing(user)


def account_can_take(user: User | None) -> bool:
    return user is None or (not user.is_staff_member and (user.is_active or is_reopenable(user)))


@transaction.atomic
def invitation_accept(*, request, token: str, password: str) -> User:
    """Use the invitation: create the portal account with this password (or, when one exists
    with the same email, add this portal to it — `password` is then that account's), link it to
    the client or the guardian, mark the invitation used and sign the person in."""
    found = invitation_by_token(token)
    if found is None:
        raise InvitationUnusable
    client = _lock_client_first(found.client_id)
    invitation = invitation_by_token(token, lock=True)
    if invitation is None or invitation.pk != found.pk:
        raise InvitationUnusable
    guardian = invitation.guardian
    if guardian is not None:
        guardian = Guardian.objects.select_for_update(no_key=True).get(pk=guardian.pk)
    # Read again under the locks: the address may have been corrected since the link was sent
    # (even by a way that did not revoke it), and the old address must not open the portal.
    if not address_is_current(invitation, client=client, guardian=guardian):
        raise AddressChanged
    if guardian is None and client.portal_user_id:
        raise InvitationUnusable
    if guardian is not None and (guardian.portal_user_id or not client.is_minor):
        raise InvitationUnusable

    if guardian is None and _guardian_with_address(client, invitation.email) is not None:
        raise AccountConflict  # a guardian's address: the client's own portal is not theirs
    user = existing_account(invitation)
    created = user is None
    if not account_can_take(user):
        raise AccountConflict
    if created:
        user = User.objects.create_user(
            invitation.email,
            password,
            full_name=guardian.name if guardian else f"{client.first_name} {client.last_name}",
            is_client=guardian is None,
            is_guardian=guardian is not None,
        )
    elif not user.is_active:
        # Reopened (account_can_take checked it holds nothing): the link proves the address.
        user.set_password(password)
        user.is_active = True
        user.is_client, user.is_guardian = guardian is None, guardian is not None
        user.save(update_fields=["password", "is_active", "is_client", "is_guardian"])
    else:
        if not user.check_password(password):
            raise WrongPassword
        flag = "is_guardian" if guardian else "is_client"
        if guardian is None and Client.objects.filter(portal_user=user).exists():
            raise AccountConflict  # one client record per portal account
        if guardian is None and client.guardians.filter(portal_user=user).exists():
            raise AccountConflict  # the guardian's own account never becomes the minor's
        setattr(user, flag, True)
        user.save(update_fields=[flag])

    if guardian is not None:
        guardian.portal_user = user
        guardian.save(update_fields=["portal_user"])
    else:
        client.portal_user = user
        client.save(update_fields=["portal_user"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        request=request,
        actor=user,
        action="kapflow.portal.invitation.accepted",
        client=client,
        obj=invitation,
        detail={**_who(client, guardian), "account": "created" if created else "existing"},
    )
    if created or not is_mfa_enabled(user):
        login(request, user, backend="allauth.account.auth_backends.AuthenticationBackend")
    # An account with two-factor sign-in set up signs in through the sign-in page, code and all:
    # the password typed here is not enough to open it.
    return user


@transaction.atomic
def portal_access_end(*, request, client: Client, guardian: Guardian | None = None) -> User | None:
    """End the client's (or a guardian's) portal access at once: the record is unlinked from the
    account, every session of the account ends, any open invitation for the person stops
    working, and an account left opening no portal is deactivated. The person can be invited
    again later. Returns the account that lost access, or None if there was none."""
    if guardian is not None and guardian.client_id != client.pk:
        raise CannotInvite("That guardian is not on this client's chart.")
    holder = Guardian.objects.select_for_update(no_key=True).get(pk=guardian.pk) if guardian else None
    record = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
    user = holder.portal_user if holder else record.portal_user
    now = timezone.now()
    revoked = list(
        PortalInvitation.objects.select_for_update(no_key=True)
        .filter(client=client, guardian=guardian, accepted_at__isnull=True, revoked_at__isnull=True)
        .values_list("pk", flat=True)
    )
    PortalInvitation.objects.filter(pk__in=revoked).update(revoked_at=now)
    if user is None and not revoked:
        return None
    if holder is not None:
        holder.portal_user = None
        holder.save(update_fields=["portal_user"])
    elif user is not None:
        record.portal_user = None
        record.save(update_fields=["portal_user"])
    deactivated = False
    if user is not None:
        for session in UserSession.objects.filter(user=user):
            session.end()
        if holds_nothing(user) and not user.is_staff_member:
            user.is_active = False
            user.save(update_fields=["is_active"])
            deactivated = True
    audit_record(
        request=request,
        action="kapflow.portal.access.ended",
        client=client,
        obj=user or client,
        detail={**_who(client, guardian), "revoked": revoked, "deactivated": deactivated},
    )
    return user


@transaction.atomic
def progress_visibility_set(*, request, client: Client, show: bool) -> Client:
    """The therapist's decision to show the client their scores and chart on the portal."""
    client = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
    if client.portal_shows_progress == show:
        return client
    client.portal_shows_progress = show
    client.save(update_fields=["portal_shows_progress"])
    audit_record(
        request=request,
        action="kapflow.portal.progress.shown" if show else "kapflow.portal.progress.hidden",
        client=client,
        obj=client,
    )
    return client
