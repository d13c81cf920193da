"""Staff accounts: invitation, roles, deactivation. Each writes its audit row."""

from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.accounts.tasks import send_staff_invitation
from kapflow.audit.services import audit_record, changed_fields
from kapflow.practice.models import practice_for


def set_password_link(user: User) -> str:
    """A single-use link to choose a password (allauth's password-reset page)."""
    path = reverse(
        "account_reset_password_from_key",
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
        detail={"roles": [role.value for role in user.roles]},
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


@transaction.atomic
def staff_update(*, request, form) -> User:
    user = form.save()
    audit_record(
        request=request, action="kapflow.accounts.staff.updated", obj=user, detail=changed_fields(form)
    )
    return user


class LastAdmin(Exception):
    """The practice would be left without an active admin."""


@transaction.atomic
def staff_deactivate(*, request, user: User) -> User:
    """Stop the person signing in and end every session they have open, at once."""
    if (
        user.is_practice_admin
        and not User.objects.filter(is_active=True, is_practice_admin=True).exclude(pk=user.pk).exists()
    ):
        raise LastAdmin
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
