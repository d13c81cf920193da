from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from kapflow.accounts import services
from kapflow.accounts.access import staff_view
from kapflow.accounts.forms import StaffForm
from kapflow.accounts.models import Role, User
from kapflow.audit.services import audit_record

admin_view = staff_view(Role.PRACTICE_ADMIN)


def _staff():
    totp = Authenticator.objects.filter(user=OuterRef("pk"), type=Authenticator.Type.TOTP)
    return User.objects.staff().annotate(has_mfa=Exists(totp)).order_by("-is_active", "full_name")


@admin_view
def staff_list(request):
    return render(request, "accounts/staff_list.html", {"staff": _staff(), "form": StaffForm()})


@admin_view
def staff_invite(request):
    form = StaffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.staff_invite(request=request, form=form)
        messages.success(request, f"An invitation was sent to {user.email}.")
        return redirect("accounts:staff")
    return render(request, "accounts/staff_form.html", {"form": form, "member": None})


@admin_view
def staff_edit(request, user_id):
    member = get_object_or_404(User.objects.staff(), pk=user_id)
    form = StaffForm(request.POST or None, instance=member)
    if request.method == "POST" and form.is_valid():
        if member == request.user and not form.cleaned_data["is_practice_admin"]:
            form.add_error("is_practice_admin", "You cannot remove your own admin role. Ask another admin.")
        else:
            try:
                services.staff_update(request=request, form=form)
            except services.SelfGrant as refusal:
                # Written here, after the service's transaction was rolled back with the refusal.
                audit_record(request=request, action="kapflow.accounts.staff.self_grant_refused", obj=member)
                form.add_error(None, str(refusal))
            except services.LastAdmin:
                form.add_error("is_practice_admin", "The practice needs at least one active admin.")
            except services.OnCallPrescriber:
                form.add_error(
                    "outside_practice",
                    f"{member.full_name} is the practice's on-call prescriber: choose another on-call "
                    "prescriber first in Settings, then make them an outside prescriber.",
                )
            else:
                messages.success(request, f"{member.full_name}'s account was saved.")
                return redirect("accounts:staff")
    return render(request, "accounts/staff_form.html", {"form": form, "member": member})


@require_POST
@admin_view
def staff_deactivate(request, user_id):
    member = get_object_or_404(User.objects.staff(), pk=user_id, is_active=True)
    if member == request.user:
        messages.error(request, "You cannot deactivate your own account.")
        return redirect("accounts:staff")
    try:
        services.staff_deactivate(request=request, user=member)
    except services.LastAdmin:
        messages.error(request, "The practice needs at least one active admin.")
    else:
        messages.success(
            request, f"{member.full_name} can no longer sign in; their open sessions were ended."
        )
    return redirect("accounts:staff")


@require_POST
@admin_view
def staff_reactivate(request, user_id):
    member = get_object_or_404(User.objects.staff(), pk=user_id, is_active=False)
    services.staff_reactivate(request=request, user=member)
    messages.success(request, f"{member.full_name} can sign in again.")
    return redirect("accounts:staff")
