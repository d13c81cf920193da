"""Writes to client records. Each function is atomic and writes its audit row in the same
transaction as the change."""

import re

from django.db import transaction

from kapflow.audit.services import audit_record, changed_fields
from kapflow.clients.models import CareTeamMember, Client


def digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


@transaction.atomic
def client_create(*, request, form, primary_therapist=None) -> Client:
    """Create a client from a valid ClientForm; the primary therapist, when given, joins the
    care team, and so does the clinician creating the record (else they could not see it)."""
    client = form.save(commit=False)
    client.phone_digits = digits(client.phone)
    client.created_by = request.user
    client.full_clean()
    client.save()
    audit_record(request=request, action="kapflow.clients.client.created", client=client, obj=client)
    if primary_therapist is not None:
        care_team_add(
            request=request, client=client, user=primary_therapist, role=CareTeamMember.Role.PRIMARY_THERAPIST
        )
    creator = request.user
    if creator.is_clinician and creator != primary_therapist:
        care_team_add(
            request=request,
            client=client,
            user=creator,
            role=CareTeamMember.Role.PRESCRIBER if creator.is_prescriber else CareTeamMember.Role.THERAPIST,
        )
    return client


@transaction.atomic
def client_update(*, request, form) -> Client:
    client = form.save(commit=False)
    client.phone_digits = digits(client.phone)
    client.full_clean()
    client.save()
    audit_record(
        request=request,
        action="kapflow.clients.client.updated",
        client=client,
        obj=client,
        detail=changed_fields(form),
    )
    return client


@transaction.atomic
def care_team_add(*, request, client: Client, user, role: str) -> CareTeamMember:
    """Put a staff member on the care team. A new primary therapist takes the place of the old
    one, who stays on the team as a therapist."""
    if role == CareTeamMember.Role.PRIMARY_THERAPIST:
        client.care_team.filter(role=CareTeamMember.Role.PRIMARY_THERAPIST).exclude(user=user).update(
            role=CareTeamMember.Role.THERAPIST
        )
    member, created = CareTeamMember.objects.update_or_create(
        client=client, user=user, defaults={"role": role}
    )
    audit_record(
        request=request,
        action="kapflow.clients.care_team.added" if created else "kapflow.clients.care_team.changed",
        client=client,
        obj=member,
        detail={"user": user.email, "role": role},
    )
    return member


@transaction.atomic
def care_team_remove(*, request, member: CareTeamMember) -> None:
    audit_record(
        request=request,
        action="kapflow.clients.care_team.removed",
        client=member.client,
        obj=member,
        detail={"user": member.user.email, "role": member.role},
    )
    member.delete()


@transaction.atomic
def contact_save(*, request, client: Client, form, noun: str):
    """Add or edit a guardian, emergency contact or outside provider from a valid form."""
    created = form.instance.pk is None
    contact = form.save(commit=False)
    contact.client = client
    contact.full_clean()
    contact.save()
    audit_record(
        request=request,
        action=f"kapflow.clients.{noun}.{'added' if created else 'updated'}",
        client=client,
        obj=contact,
        detail={} if created else changed_fields(form),
    )
    return contact


@transaction.atomic
def contact_remove(*, request, contact, noun: str) -> None:
    audit_record(
        request=request,
        action=f"kapflow.clients.{noun}.removed",
        client=contact.client,
        obj=contact,
        detail={"name": str(contact)},
    )
    contact.delete()
