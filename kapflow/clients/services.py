"""Writes to client records. Each function is atomic and writes its audit row in the same
transaction as the change."""

import re
from collections.abc import Callable

from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.text import get_text_list

from kapflow.accounts.models import User
from kapflow.audit.services import audit_record, changed_fields
from kapflow.clients.access import Need, clients_for
from kapflow.clients.models import AccessGrant, CareTeamMember, Client, Guardian, StageChange


def digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


class CareTeamRefused(Exception):
    """The person asking may not make this change to the care team; the message says why and who
    can."""


class StageChangeRefused(Exception):
    """The person asking may not move this client's stage; the message says who can."""


# The stages no one sets by hand: each is the effect of a signed record (docs/course.md). A
# discharge record signed discharges the client; a course review signed by the therapist and the
# prescriber moves them to maintenance.
NOT_BY_HAND = {
    Client.Stage.DISCHARGED: "A client is discharged by signing a discharge record (Write the discharge, on "
    "the chart), which ends the course plan and closes the open forms.",
    Client.Stage.MAINTENANCE: "A client moves to maintenance by a course review signed by the therapist and "
    "the prescriber (Course review, on the pathway).",
}


class ContactKept(Exception):
    """A contact that records name (a letter to an outside provider, a transcribed clearance or
    prescription) stays on the chart; the message says why, in words for the page."""


# What apps above this one do when an email address on file changes: the portal revokes the
# invitations sent to the old address. They register from their AppConfig.ready(), because this
# app may not import them (docs/clinical.md, Layout: imports flow one way). Each handler is called as
# handler(request=, client=, guardian=, old_email=, new_email=) inside the transaction of the
# change, so the change and what follows from it are saved together or not at all.
AddressChangedHandler = Callable[..., None]
_address_changed_handlers: list[AddressChangedHandler] = []


def on_address_changed(handler: AddressChangedHandler) -> AddressChangedHandler:
    if handler not in _address_changed_handlers:
        _address_changed_handlers.append(handler)
    return handler


def _address_changed(
    *, request, client: Client, guardian: Guardian | None, old_email: str, new_email: str
) -> None:
    # Addresses are compared as the portal compares them (case-insensitively): "Ann@x" -> "ann@x"
    # reaches the same person, so it ends nothing.
    if (old_email or "").strip().lower() == (new_email or "").strip().lower():
        return
    for handler in _address_changed_handlers:
        handler(request=request, client=client, guardian=guardian, old_email=old_email, new_email=new_email)


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
        _care_team_put(
            request=request, client=client, user=primary_therapist, role=CareTeamMember.Role.PRIMARY_THERAPIST
        )
    creator = request.user
    if creator.is_clinician and creator != primary_therapist:
        # The one way onto a team by one's own hand: the author of a new record, who could not
        # see it otherwise. It opens no existing client to them.
        _care_team_put(
            request=request,
            client=client,
            user=creator,
            role=CareTeamMember.Role.PRESCRIBER if creator.is_prescriber else CareTeamMember.Role.THERAPIST,
        )
    return client


@transaction.atomic
def client_update(*, request, form) -> Client:
    """Save the client's details from a valid ClientForm. A changed email address ends the
    portal invitations sent to the old one (see on_address_changed)."""
    # The row locked before it is written: an invitation being sent at this moment (which locks
    # the same row) either finishes first, and is revoked below, or reads the new address.
    old_email = (
        Client.objects.select_for_update(no_key=True).values_list("email", flat=True).get(pk=form.instance.pk)
    )
    client = form.save(commit=False)
    client.phone_digits = digits(client.phone)
    client.full_clean()
    # Only what the form edits: the record may have changed since the form was shown (a portal
    # invitation accepted meanwhile links the account), and a whole-row save would undo it. The
    # folded names for the search go with the names (Client.save).
    client.save(update_fields=[*form._meta.fields, "phone_digits"])
    # The invitations to revoke are locked before the first audit row (the chain's lock is
    # taken then, and nothing is locked after it: docs/security/audit.md).
    _address_changed(
        request=request, client=client, guardian=None, old_email=old_email, new_email=client.email
    )
    audit_record(
        request=request,
        action="kapflow.clients.client.updated",
        client=client,
        obj=client,
        detail=changed_fields(form),
    )
    return client


def may_change_care_team(user: User, client: Client) -> bool:
    """Who may change a client's care team: the coordinator and the practice admin (who assign
    care), and a clinician already on the team (who brings in a colleague). A clinician not on
    the team may not, even where the practice opens every chart to every clinician: joining a
    team is how a clinician comes to see a client, so it is never their own decision."""
    if not (user.is_active and user.is_staff_member):
        return False
    if user.is_coordinator or user.is_practice_admin:
        return True
    # Through the prefetched team when the chart has it (no query), else one small query.
    return user.is_clinician and any(member.user_id == user.pk for member in client.care_team.all())


def _care_team_put(*, request, client: Client, user: User, role: str) -> CareTeamMember:
    """Write a membership (no permission check: the callers make it). A new primary therapist
    takes the place of the old one, who stays on the team as a therapist."""
    if role == CareTeamMember.Role.PRIMARY_THERAPIST:
        client.care_team.filter(role=CareTeamMember.Role.PRIMARY_THERAPIST).exclude(user=user).update(
            role=CareTeamMember.Role.THERAPIST
        )
    member, created = CareTeamMember.objects.update_or_create(
        client=client,
        user=user,
        defaults={"role": role, "added_by": request.user, "added_at": timezone.now()},
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
def care_team_add(*, request, client: Client, user: User, role: str) -> CareTeamMember:
    """Put a staff member on the care team (or change their role on it), as the person asking.
    Nobody adds themselves or changes their own place on a team, and only those who
    may_change_care_team() change it at all: both are refused here, whatever the view allowed."""
    actor = request.user
    if user.pk == actor.pk:
        raise CareTeamRefused(
            "You cannot add yourself to a care team or change your own role on it. "
            "Ask the coordinator, a practice admin or a clinician on the team."
        )
    if not may_change_care_team(actor, client):
        raise CareTeamRefused(
            "Only the coordinator, a practice admin or a clinician on this client's care team can change it."
        )
    return _care_team_put(request=request, client=client, user=user, role=role)


@transaction.atomic
def care_team_remove(*, request, member: CareTeamMember) -> None:
    """Take someone off the care team. Anyone who may_change_care_team() may, and a clinician may
    always step off a team themselves (that takes access away, never gives it)."""
    if member.user_id != request.user.pk and not may_change_care_team(request.user, member.client):
        raise CareTeamRefused(
            "Only the coordinator, a practice admin or a clinician on this client's care team can change it."
        )
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
    """Add or edit a guardian, emergency contact or outside provider from a valid form. A
    guardian's changed email address ends the portal invitations sent to the old one."""
    created = form.instance.pk is None
    old_email = None
    if isinstance(form.instance, Guardian) and not created:
        Client.objects.select_for_update(no_key=True).filter(pk=client.pk).first()  # as in client_update
        old_email = Guardian.objects.values_list("email", flat=True).get(pk=form.instance.pk)
    contact = form.save(commit=False)
    contact.client = client
    contact.full_clean()
    # An edit saves only what the form edits, as in client_update (a guardian's portal account
    # linked since the form was shown stays linked).
    contact.save(update_fields=None if created else list(form._meta.fields))
    if old_email is not None:  # before the audit row, as in client_update
        _address_changed(
            request=request, client=client, guardian=contact, old_email=old_email, new_email=contact.email
        )
    audit_record(
        request=request,
        action=f"kapflow.clients.{noun}.{'added' if created else 'updated'}",
        client=client,
        obj=contact,
        detail={} if created else changed_fields(form),
    )
    return contact


def contact_remove(*, request, contact, noun: str) -> None:
    """Take a guardian, emergency contact or outside provider off the chart. Refused (ContactKept)
    while a record that must keep naming them points at them (their foreign keys PROTECT: a
    letter to the provider, a clearance or prescription transcribed from them); records that only
    link to them (a consent signature, a filed document, a disclosure) lose the link and keep the
    name (ON DELETE SET NULL, kapflow/audit/immutable.py)."""
    try:
        _contact_delete(request=request, contact=contact, noun=noun)
    except (ProtectedError, RestrictedError) as kept:
        blockers = kept.protected_objects if isinstance(kept, ProtectedError) else kept.restricted_objects
        raise ContactKept(
            f"{contact.name} has letters or records that name them ({_named_in(blockers)}), so they stay "
            "on the chart; those records must keep pointing at them. Edit their details instead if "
            "they have changed."
        ) from None


def _named_in(records) -> str:
    """ "2 letters and a clearance": the records that keep a contact on the chart, by kind."""
    counts: dict[str, list] = {}
    for record in records:
        meta = record._meta
        counts.setdefault(str(meta.verbose_name), [0, str(meta.verbose_name_plural)])[0] += 1
    parts = [
        f"{count} {plural}" if count > 1 else f"a {name}" for name, (count, plural) in sorted(counts.items())
    ]
    return get_text_list(parts, "and")


@transaction.atomic
def _contact_delete(*, request, contact, noun: str) -> None:
    audit_record(
        request=request,
        action=f"kapflow.clients.{noun}.removed",
        client=contact.client,
        obj=contact,
        detail={"name": str(contact)},
    )
    contact.delete()


@transaction.atomic
def stage_change(*, request, client: Client, to_stage: str, reason: str) -> StageChange:
    """A clinician moves the client to another stage by hand (not proceeding, left care, back in
    treatment...), with the reason. Only a therapist or prescriber who may see the client's
    clinical record may; the coordinator and the admin cannot (they see no clinical content to
    decide it on). Everything else moves the stage through the record that shows the client got
    there (kapflow.pathway.services); discharge and maintenance never move by hand (NOT_BY_HAND)."""
    actor = request.user
    if not actor.is_clinician or not clients_for(request, need=Need.CLINICAL).filter(pk=client.pk).exists():
        raise StageChangeRefused("Only a therapist or prescriber caring for the client can change the stage.")
    if to_stage in NOT_BY_HAND:
        raise StageChangeRefused(NOT_BY_HAND[to_stage])
    client = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
    change = StageChange(
        client=client, from_stage=client.stage, to_stage=to_stage, reason=reason, changed_by=actor
    )
    change.full_clean()
    change.save()
    client.stage = to_stage
    client.save(update_fields=["stage"])
    audit_record(
        request=request,
        action="kapflow.clients.client.stage_changed",
        client=client,
        obj=change,
        detail={"from": change.from_stage, "stage": to_stage, "by_hand": True},
    )
    return change


def access_grant_open(*, client: Client, user: User, reason: str, source: str, request=None, actor=None):
    """Let `user` into `client`'s record for `reason` until access_grants_end(source=...) is
    called; the open grant when there is one already. Audited, with the reason. Call it inside
    the transaction of the change that needs it. Never for an invited outside prescriber: they
    see the clients on whose care team they are and no other (docs/access.md)."""
    if user.outside_practice:
        raise ValueError("An outside prescriber is never let into another client's record.")
    grant = AccessGrant.objects.filter(client=client, user=user, source=source, ended_at__isnull=True).first()
    if grant is not None:
        return grant
    grant = AccessGrant.objects.create(client=client, user=user, reason=reason, source=source)
    audit_record(
        request=request,
        actor=actor,
        action="kapflow.clients.access.granted",
        client=client,
        obj=grant,
        detail={"user": user.pk, "source": source},
    )
    return grant


def access_grants_end(*, source: str, request=None, actor=None) -> int:
    """End every open grant made for `source`, each with its audit row; how many ended."""
    grants = list(
        AccessGrant.objects.select_for_update(no_key=True).filter(source=source, ended_at__isnull=True)
    )
    now = timezone.now()
    for grant in grants:
        grant.ended_at = now
        grant.save(update_fields=["ended_at"])
    for grant in grants:
        audit_record(
            request=request,
            actor=actor,
            action="kapflow.clients.access.ended",
            client=grant.client,
            obj=grant,
            detail={"user": grant.user_id, "source": source},
        )
    return len(grants)
