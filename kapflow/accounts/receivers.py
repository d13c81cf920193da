"""Authentication events written to the audit log, from allauth's and Django's signals.

Each row names the account (as actor once signed in, as the object otherwise) and never what
was typed: a failed sign-in records the account it was aimed at only when that account exists,
because the text typed into the email box is sometimes someone's password. Email events record
that an address was added, removed or made primary, not the address itself (the audit log keeps
which fields changed, never their values)."""

from allauth.account import signals as account_signals
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.models import EmailAddress
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.auth import signals as auth_signals
from django.db.models.signals import pre_save
from django.dispatch import receiver

from kapflow.accounts.middleware import MFA_ENROLLED_FLAG, stamp_sign_in
from kapflow.accounts.models import User
from kapflow.audit.services import audit_record


def _record(request, action: str, user, detail: dict | None = None, *, as_actor: bool = True) -> None:
    actor = user if as_actor and user is not None and user.pk is not None else None
    audit_record(request=request, actor=actor, action=action, obj=user, detail=detail)


@receiver(auth_signals.user_logged_in, dispatch_uid="kapflow.accounts.stamp_sign_in")
def _stamp_sign_in(sender, request, user, **kwargs) -> None:
    """Every way of signing in (allauth's form, the staff welcome page, a test's force_login)
    starts the session's clocks: the absolute lifetime and the idle time."""
    if request is not None and hasattr(request, "session"):
        stamp_sign_in(request.session)


@receiver(account_signals.user_logged_in, dispatch_uid="kapflow.accounts.audit_sign_in")
def _signed_in(sender, request, user, **kwargs) -> None:
    _record(request, "kapflow.accounts.signin.succeeded", user)


@receiver(auth_signals.user_login_failed, dispatch_uid="kapflow.accounts.audit_sign_in_failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    typed = credentials.get("email") or credentials.get("username") or ""
    user = User.objects.filter(email__iexact=typed).first() if typed else None
    # An inactive account fails here whatever was typed (Django's backend refuses it); when the
    # password was right, sign-in goes on to record the refusal (signin.refused_inactive).
    step = "inactive_account" if user is not None and not user.is_active else "password"
    audit_record(
        request=request,
        actor=None,
        action="kapflow.accounts.signin.failed",
        obj=user,
        detail={"step": step, "account_exists": user is not None},
    )


@receiver(auth_signals.user_logged_out, dispatch_uid="kapflow.accounts.audit_sign_out")
def _signed_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    reason = getattr(request, "kapflow_sign_out_reason", "signed_out")
    _record(request, "kapflow.accounts.signout.succeeded", user, {"reason": reason})


@receiver(mfa_signals.authentication_failed, dispatch_uid="kapflow.accounts.audit_mfa_failed")
def _second_factor_failed(sender, request, user, authenticator=None, reauthentication=False, **kwargs):
    step = "reauthentication" if reauthentication else "second_factor"
    _record(request, "kapflow.accounts.signin.failed", user, {"step": step}, as_actor=False)


@receiver(mfa_signals.authenticator_used, dispatch_uid="kapflow.accounts.audit_recovery_code")
def _authenticator_used(sender, request, user, authenticator, **kwargs) -> None:
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        _record(request, "kapflow.accounts.mfa.recovery_code_used", user, as_actor=False)


@receiver(mfa_signals.authenticator_added, dispatch_uid="kapflow.accounts.audit_mfa_added")
def _authenticator_added(sender, request, user, authenticator, **kwargs) -> None:
    _record(request, "kapflow.accounts.mfa.enrolled", user, {"type": authenticator.type})


@receiver(mfa_signals.authenticator_removed, dispatch_uid="kapflow.accounts.audit_mfa_removed")
def _authenticator_removed(sender, request, user, authenticator, **kwargs) -> None:
    # The session remembered that this person had enrolled; without the authenticator they
    # must enrol again before any other page opens.
    if request is not None and hasattr(request, "session"):
        request.session.pop(MFA_ENROLLED_FLAG, None)
    _record(request, "kapflow.accounts.mfa.removed", user, {"type": authenticator.type})


@receiver(mfa_signals.authenticator_reset, dispatch_uid="kapflow.accounts.audit_mfa_reset")
def _authenticator_reset(sender, request, user, authenticator, **kwargs) -> None:
    _record(request, "kapflow.accounts.mfa.reset", user, {"type": authenticator.type})


@receiver(account_signals.email_added, dispatch_uid="kapflow.accounts.audit_email_added")
def _email_added(sender, request, user, email_address, **kwargs) -> None:
    _record(request, "kapflow.accounts.email.added", user)


@receiver(account_signals.email_removed, dispatch_uid="kapflow.accounts.audit_email_removed")
def _email_removed(sender, request, user, email_address, **kwargs) -> None:
    _record(request, "kapflow.accounts.email.removed", user)


@receiver(pre_save, sender=EmailAddress, dispatch_uid="kapflow.accounts.remember_sign_in_email")
def _remember_sign_in_email(sender, instance: EmailAddress, **kwargs) -> None:
    """allauth tells the old address of a change only when the old address had its own
    EmailAddress row; a kapflow account's sign-in email often has none (accounts are made by
    invitation). Remember it as the new address becomes primary, for _email_changed below."""
    if instance.primary:
        instance._kapflow_previous_email = (
            User.objects.filter(pk=instance.user_id).values_list("email", flat=True).first()
        )


@receiver(account_signals.email_changed, dispatch_uid="kapflow.accounts.audit_email_changed")
def _email_changed(sender, request, user, from_email_address, to_email_address, **kwargs) -> None:
    _record(request, "kapflow.accounts.email.changed", user, {"changed": ["primary_email"]})
    previous = getattr(to_email_address, "_kapflow_previous_email", None)
    if from_email_address is None and previous and previous.lower() != to_email_address.email.lower():
        # The same notice allauth sends when it knows the old address (account/email/email_changed).
        get_account_adapter(request).send_notification_mail(
            "account/email/email_changed",
            user,
            context={"from_email": previous, "to_email": to_email_address.email},
            email=previous,
        )


@receiver(account_signals.email_confirmed, dispatch_uid="kapflow.accounts.audit_email_confirmed")
def _email_confirmed(sender, request, email_address, **kwargs) -> None:
    _record(request, "kapflow.accounts.email.confirmed", email_address.user)


@receiver(account_signals.password_changed, dispatch_uid="kapflow.accounts.audit_password_changed")
def _password_changed(sender, request, user, **kwargs) -> None:
    _record(request, "kapflow.accounts.password.changed", user)


@receiver(account_signals.password_set, dispatch_uid="kapflow.accounts.audit_password_set")
def _password_set(sender, request, user, **kwargs) -> None:
    _record(request, "kapflow.accounts.password.set", user)


@receiver(account_signals.password_reset, dispatch_uid="kapflow.accounts.audit_password_reset")
def _password_reset(sender, request, user, **kwargs) -> None:
    _record(request, "kapflow.accounts.password.reset", user, as_actor=False)
