"""Staff accounts: invitation, roles, deactivation. Each writes its audit row."""

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.forms import default_token_generator
from allauth.account.internal.flows.login import record_authentication
from allauth.account.utils import user_pk_to_url_str
from allauth.core import context as allauth_context
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth import login
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from kapflow.accounts.models import STAFF_ROLES, Role, User
from kapflow.accounts.tasks import send_staff_invitation
from kapflow.audit.services import audit_record, changed_fields
from kapflow.practice.models import Practice, practice_for


def set_password_link(user: User) -> str:
    """A single-use link to choose a password. With two-factor sign-in required, it opens the
    staff welcome page, where the password and the authenticator are set together, so that no
    session ever exists on the password alone; otherwise (the demo) allauth's password-reset
    page. Either link stops working once a password is set (the key covers the password)."""
    name = "accounts:staff_welcome" if settings.MFA_REQUIRED else "account_reset_password_from_key"
    path = reverse(
        name,
        kwargs={
            "uidb36": user_pk_to_url_str(user),
            "key": default_token_generator.make_token(user),
        },
    )
    return f"{settings.SITE_URL}{path}"


@transaction.atomic
def staff_invite(*, request, form) -> User:
    """Create a staff account with no password and email the person a link to choose one."""
    user = form.save(commit=False)
    user.set_unusable_password()
    user.save()
    audit_record(
        request=request,
        action="kapflow.accounts.staff.invited",
        obj=user,
        # Whether the account is an outside prescriber's is said when it is one.
        detail={"roles": [role.value for role in user.roles]}
        | ({"outside_practice": True} if user.outside_practice else {}),
    )
    link = set_password_link(user)
    practice_name = practice_for(request).name
    transaction.on_commit(
        lambda: send_staff_invitation.enqueue(
            to=user.email,
            full_name=user.full_name,
            practice_name=practice_name,
            link=link,
        )
    )
    return user


# Roles that open clients' clinical records: an admin never gives one to themselves.
CLINICAL_ROLES = (Role.THERAPIST, Role.PRESCRIBER)


class SelfGrant(Exception):
    """An admin tried to give their own account a clinical role; the message says who can."""


class OnCallPrescriber(Exception):
    """The prescriber to be made an outside one is the practice's on-call prescriber."""


@transaction.atomic
def staff_update(*, request, form) -> User:
    """Save a staff account from a valid StaffForm. An admin editing their own account cannot add
    a clinical role to it (therapist, prescriber): another admin must, or, in a practice with a
    single admin, someone with access to the server (`manage.py staff_roles`). Taking a role
    away from oneself is allowed. Making a prescriber an outside one is refused while they are
    the practice's on-call prescriber (OnCallPrescriber); their calendar feed stops with it
    (kapflow.visits answers no feed of an outside prescriber, as of a deactivated account)."""
    if not form.cleaned_data.get("is_practice_admin") and (
        User.objects.filter(pk=form.instance.pk, is_practice_admin=True).exists()
    ):
        # Taking the admin role away: the admins' rows are locked first, in the order every
        # other admin change locks them, so that two such changes wait rather than deadlock.
        _refuse_if_last_admin(form.instance)
    # The roles as stored, not as the form has already set them on its instance.
    stored = User.objects.select_for_update(no_key=True).get(pk=form.instance.pk)
    if form.instance.pk == request.user.pk:
        granted = [
            role
            for role in CLINICAL_ROLES
            if form.cleaned_data.get(role.flag) and not getattr(stored, role.flag)
        ]
        if granted:
            raise SelfGrant(
                f"You cannot give yourself the {' and '.join(r.label.lower() for r in granted)} "
                f"role{'s' if len(granted) > 1 else ''}. Another practice admin must do it."
            )
    # An outside prescriber is never the on-call prescriber (docs/access.md): another is chosen
    # first. The practice's row is locked whoever is on call (the settings page takes the same
    # lock and checks its choice again under it), so the choice cannot land on them meanwhile.
    if form.cleaned_data.get("outside_practice") and not stored.outside_practice:
        practice = Practice.objects.select_for_update(no_key=True).filter(pk=Practice.load().pk).first()
        if practice is not None and practice.on_call_prescriber_id == stored.pk:
            raise OnCallPrescriber
    user = form.save()
    audit_record(
        request=request, action="kapflow.accounts.staff.updated", obj=user, detail=changed_fields(form)
    )
    if stored.email.lower() != user.email.lower():
        # The old address hears of it, as when the person changes it themselves: an account moved
        # to an address its owner does not hold is how a sign-in is taken over.
        old, new = stored.email, user.email

        def tell_the_old_address() -> None:
            # allauth's adapter reads the request (address, browser) from its own context.
            with allauth_context.request_context(request):
                get_account_adapter(request).send_notification_mail(
                    "account/email/email_changed",
                    user,
                    context={"from_email": old, "to_email": new},
                    email=old,
                )

        transaction.on_commit(tell_the_old_address)
    return user


@transaction.atomic
def staff_roles_set(*, user: User, add: list[Role], remove: list[Role], by: str) -> User:
    """Give or take staff roles from the server's command line (`manage.py staff_roles`), for
    what no admin may do from the staff page: give a clinical role to the practice's only
    admin. Audited with no actor and `by` (who ran it, as they typed it)."""
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    before = {role.value for role in user.roles}
    for role in add:
        setattr(user, role.flag, True)
    for role in remove:
        setattr(user, role.flag, False)
    if not any(getattr(user, role.flag) for role in STAFF_ROLES):
        raise ValueError("A staff account needs at least one staff role.")
    user.save(update_fields=[role.flag for role in STAFF_ROLES])
    audit_record(
        action="kapflow.accounts.staff.roles_set_from_command",
        obj=user,
        detail={
            "added": sorted({role.value for role in user.roles} - before),
            "removed": sorted(before - {role.value for role in user.roles}),
            "by": by,
        },
    )
    return user


class LastAdmin(Exception):
    """The practice would be left without an active admin."""


def _refuse_if_last_admin(user: User) -> None:
    """Raise LastAdmin unless an active admin other than `user` remains. Every active admin's
    row is locked first (in primary-key order), so two admins taking each other's role or
    account away at the same moment cannot both pass: the second counts after the first has
    committed, and finds nobody else left."""
    admins = (
        User.objects.select_for_update(no_key=True)
        .filter(is_active=True, is_practice_admin=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not any(pk != user.pk for pk in admins):
        raise LastAdmin


@transaction.atomic
def staff_deactivate(*, request, user: User) -> User:
    """Stop the person signing in and end every session they have open, at once."""
    if user.is_practice_admin:
        _refuse_if_last_admin(user)
    user.is_active = False
    user.deactivated_at = timezone.now()
    user.save(update_fields=["is_active", "deactivated_at"])
    for session in UserSession.objects.filter(user=user):
        session.end()
    audit_record(request=request, action="kapflow.accounts.staff.deactivated", obj=user)
    return user


@transaction.atomic
def staff_reactivate(*, request, user: User) -> User:
    user.is_active = True
    user.deactivated_at = None
    user.save(update_fields=["is_active", "deactivated_at"])
    audit_record(request=request, action="kapflow.accounts.staff.reactivated", obj=user)
    return user


class InvitationUsed(Exception):
    """The invitation was accepted (a password set) since the page was opened."""


@transaction.atomic
def staff_welcome_accept(*, request, user: User, password: str, totp_secret: str | None) -> User:
    """The invited staff member's first visit: their password and their authenticator (the
    secret they have just proved with a code) are saved together, with recovery codes, and
    audited; then they are signed in, with both factors recorded as just used. With
    `totp_secret` None the person already has an authenticator (proved on the form) and only
    the password is set."""
    # Two sends of the page at once (a double click) both found the link unused; the second
    # to get the lock finds the password already set and stops here.
    locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    if locked.password != user.password:
        raise InvitationUsed
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(request=request, actor=user, action="kapflow.accounts.invitation.accepted", obj=user)
    if totp_secret is not None:
        TOTP.activate(user, totp_secret)
        audit_record(
            request=request,
            actor=user,
            action="kapflow.accounts.mfa.enrolled",
            obj=user,
            detail={"type": Authenticator.Type.TOTP},
        )
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists():
        RecoveryCodes.activate(user)
        audit_record(
            request=request,
            actor=user,
            action="kapflow.accounts.mfa.enrolled",
            obj=user,
            detail={"type": Authenticator.Type.RECOVERY_CODES},
        )
    login(request, user, backend="allauth.account.auth_backends.AuthenticationBackend")
    # allauth's record of how this session was authenticated: both factors, just now.
    record_authentication(request, user, method="password")
    record_authentication(request, user, method="mfa", type=Authenticator.Type.TOTP)
    audit_record(
        request=request,
        actor=user,
        action="kapflow.accounts.signin.succeeded",
        obj=user,
        detail={"via": "invitation"},
    )
    return user
