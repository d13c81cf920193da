"""The client's billing profile (docs/billing.md, "The client's account"): how the client pays and
the policy details a superbill carries. Edited in place, by the coordinators and admins, each
change audited with the names of the fields changed, never their values."""

from django.db import transaction

from kapflow.audit.services import audit_record, changed_fields
from kapflow.billing.access import can_bill
from kapflow.billing.models import BillingProfile
from kapflow.billing.services import BillingRefused
from kapflow.clients.models import Client


def profile_of(client: Client) -> BillingProfile:
    """The client's profile, or a new unsaved one (self-pay) where none was recorded yet."""
    return BillingProfile.objects.filter(client=client).first() or BillingProfile(client=client)


@transaction.atomic
def profile_save(*, request, client: Client, form) -> BillingProfile:
    """Save a valid BillingProfileForm for `client`, with the audit row naming the fields it
    changed. Nothing changed: nothing saved, nothing audited."""
    if not can_bill(request.user):
        raise BillingRefused("Only the practice's coordinators and admins change a billing profile.")
    profile = form.instance
    if profile.client_id != client.pk:
        raise BillingRefused("This profile is another client's.")
    creating = profile.pk is None
    if not creating and not form.has_changed():
        return profile
    # One profile a client: the client's row is held, so a profile another coordinator created a
    # moment ago is found here and changed, never created twice.
    Client.objects.select_for_update(no_key=True).filter(pk=client.pk).values_list("pk").get()
    profile = form.save(commit=False)
    if creating:
        held = BillingProfile.objects.filter(client=client).first()
        if held is not None:
            profile.pk = held.pk
            profile._state.adding = False
    profile.updated_by = request.user
    profile.save()
    audit_record(
        request=request,
        action="kapflow.billing.profile.changed",
        client=client,
        obj=profile,
        detail=changed_fields(form),
    )
    return profile
