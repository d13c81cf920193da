"""Accepting a portal invitation: the link from the email, a password, and in."""

from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kapflow.audit.services import audit_record
from kapflow.portal import services
from kapflow.portal.forms import ExistingPasswordForm, NewPasswordForm


def _unusable(request, *, too_many_tries: bool = False):
    """The same page for an unknown, used, replaced or expired link: it says nothing about
    whether an account or a record exists. The person who has just typed too many wrong
    passwords is told that this is why."""
    audit_record(request=request, action="kapflow.portal.invitation.refused")
    return render(request, "portal/accept_unusable.html", {"too_many_tries": too_many_tries}, status=200)


def _address_changed(request, invitation):
    """The link was sent to an address no longer on the person's record: it is revoked (if the
    change did not already) and the page says to ask for a new one, naming no address."""
    services.invitation_revoke_stale(request=request, invitation=invitation)
    audit_record(
        request=request, action="kapflow.portal.invitation.refused", client=invitation.client, obj=invitation
    )
    return render(request, "portal/accept_address_changed.html", {"message": services.AddressChanged.message})


@require_http_methods(["GET", "POST"])
def accept(request, token):
    invitation = services.invitation_by_token(token)
    if invitation is None:
        return _unusable(request)
    if not services.address_is_current(invitation):
        return _address_changed(request, invitation)
    if request.method == "GET":
        # Whoever holds the link sees the address it was sent to: the practice can tell when (and
        # from where) a link was opened, as for any read of a client's data.
        audit_record(
            request=request,
            action="kapflow.portal.invitation.viewed",
            client=invitation.client,
            obj=invitation,
        )
    existing = services.existing_account(invitation)
    if not services.account_can_take(existing):
        return render(request, "portal/accept_conflict.html")
    guardian = invitation.guardian
    full_name = guardian.name if guardian else f"{invitation.client.first_name} {invitation.client.last_name}"
    if existing is not None and existing.is_active:
        form = ExistingPasswordForm(request.POST or None)
    else:
        form = NewPasswordForm(request.POST or None, email=invitation.email, full_name=full_name)
    if request.method == "POST" and form.is_valid():
        if request.user.is_authenticated and request.user.email.lower() != invitation.email.lower():
            logout(request)  # someone else was signed in on this browser
        password = form.cleaned_data.get("password") or form.cleaned_data["password1"]
        try:
            services.invitation_accept(request=request, token=token, password=password)
        except services.InvitationUnusable:
            return _unusable(request)
        except services.AddressChanged:
            return _address_changed(request, invitation)
        except services.WrongPassword:
            left = services.invitation_password_refused(request=request, invitation=invitation)
            if not left:
                return _unusable(request, too_many_tries=True)
            form.add_error(
                "password",
                "That is not the password of your account. Type it again, or use "
                "“Forgot your password?” on the sign-in page."
                + (
                    f" After {left} more wrong {'try' if left == 1 else 'tries'} this link stops working."
                    if left <= 3
                    else ""
                ),
            )
        except services.AccountConflict:
            # The account exists and is the person's, but already holds another client record.
            return render(request, "portal/accept_conflict.html")
        else:
            if not request.user.is_authenticated:
                messages.success(
                    request,
                    "Your portal is ready. Sign in with your password and the code from your "
                    "authenticator app to open it.",
                )
                return redirect("account_login")
            messages.success(request, "Welcome. Your portal is ready.")
            return redirect("portal:home")
    return render(
        request,
        "portal/accept.html",
        {
            "form": form,
            "invitation": invitation,
            "existing": existing is not None and existing.is_active,
            "email": invitation.email,
        },
    )
