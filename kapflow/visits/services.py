"""Writes on the schedule. Each is atomic, checks what it must (clashes, the allowed status
transition, readiness before a medication session starts) and writes its audit row in the same
transaction."""

import datetime
import secrets
from dataclasses import dataclass, field, replace

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.audit.services import audit_record
from kapflow.clients.models import Client
from kapflow.lib.gates import Status
from kapflow.measures.schedule import schedule_client
from kapflow.visits.calendar import in_range
from kapflow.visits.models import NOTED_KINDS, TRANSITIONS, CalendarFeed, Room, Visit


class VisitRefused(Exception):
    """A write the schedule does not allow; `problems` are sentences for the person asking."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


@dataclass
class Slot:
    """What a booking asks for: one visit's time, place and people."""

    kind: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    clinician: User
    modality: str = Visit.Modality.IN_PERSON
    room: Room | None = None
    video_link: str = ""
    other_clinicians: list[User] = field(default_factory=list)

    @property
    def people(self) -> list[User]:
        return [self.clinician, *[u for u in self.other_clinicians if u.pk != self.clinician.pk]]


def _clock(moment: datetime.datetime) -> str:
    return f"{timezone.localtime(moment):%H:%M}"


def _day(moment: datetime.datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%a %b} {local.day}"


def _when(visit: Visit) -> str:
    return f"from {_clock(visit.starts_at)} to {_clock(visit.ends_at)} on {_day(visit.starts_at)}"


def _lock(client: Client, slots: list[Slot]) -> None:
    """Serialise bookings that could clash: lock the client, the rooms and the clinicians (in
    primary-key order, so two bookings never wait on each other). Another booking for any of them
    waits here until this one commits, and then sees its visit. (SQLite has no row locks; its
    IMMEDIATE transactions already take the one write lock up front.)"""
    list(Client.objects.select_for_update(no_key=True).filter(pk=client.pk).values_list("pk"))
    room_ids = sorted({slot.room.pk for slot in slots if slot.room})
    if room_ids:
        list(
            Room.objects.select_for_update(no_key=True)
            .filter(pk__in=room_ids)
            .order_by("pk")
            .values_list("pk")
        )
    user_ids = sorted({person.pk for slot in slots for person in slot.people})
    list(User.objects.select_for_update(no_key=True).filter(pk__in=user_ids).order_by("pk").values_list("pk"))


def clashes(*, client: Client, slot: Slot, exclude: Visit | None = None) -> list[str]:
    """What this slot would clash with: another visit that still holds its time, with the same
    clinician (primary or joining), the same client or the same room. One sentence each, naming
    the clash. Reads the other visits with their rows locked (call it inside the transaction)."""
    people = slot.people
    person_ids = [person.pk for person in people]
    same = Q(client=client) | Q(clinician__in=person_ids) | Q(other_clinicians__in=person_ids)
    if slot.room is not None:
        same |= Q(room=slot.room)
    # Bounded on the start on both sides (in_range), so each index on (clinician|client|room,
    # start) is read over a few hours, not over everything booked before the slot.
    candidates = in_range(Visit.objects.live(), slot.starts_at, slot.ends_at).filter(same)
    if exclude is not None:
        candidates = candidates.exclude(pk=exclude.pk)
    others = list(
        Visit.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=candidates.values("pk"))
        .select_related("client", "clinician", "room")
        .prefetch_related("other_clinicians")
        .order_by("starts_at", "pk")
    )
    problems = []
    for other in others:
        their_people = {other.clinician, *other.other_clinicians.all()}
        for person in people:
            if person in their_people:
                problems.append(f"{person.full_name} is with {other.client.initials} {_when(other)}.")
        if other.client_id == client.pk:
            problems.append(
                f"{client.initials} already has a {other.get_kind_display().lower()} "
                f"with {other.clinician.full_name} {_when(other)}."
            )
        if slot.room is not None and other.room_id == slot.room.pk:
            problems.append(f"{slot.room.name} is taken by {other.clinician.full_name} {_when(other)}.")
    return list(dict.fromkeys(problems))


def _route_problems(client: Client, slot: Slot) -> list[str]:
    """A medication session booked where the client's orders in force may not be given (an
    intramuscular order and a virtual visit, esketamine in a room not REMS-certified, a minor):
    the refusal, naming the rule and how to resolve it (kapflow.medical.routes). Nothing for other
    kinds of visit, or before there is an order."""
    if slot.kind != Visit.Kind.MEDICATION:
        return []
    from kapflow.medical.gates import route_gate

    gate = route_gate(
        client,
        virtual=slot.modality == Visit.Modality.VIRTUAL,
        room=slot.room if slot.modality == Visit.Modality.IN_PERSON else None,
        today=timezone.localdate(slot.starts_at),
    )
    return [] if gate.passed else [gate.reason]


def _build(*, request, client: Client, slot: Slot) -> Visit:
    visit = Visit(
        client=client,
        kind=slot.kind,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        modality=slot.modality,
        room=slot.room if slot.modality == Visit.Modality.IN_PERSON else None,
        video_link=slot.video_link if slot.modality == Visit.Modality.VIRTUAL else "",
        clinician=slot.clinician,
        created_by=request.user,
    )
    try:
        visit.full_clean()
    except ValidationError as error:
        raise VisitRefused(error.messages) from None
    return visit


def _save_new(*, request, client: Client, slot: Slot, visit: Visit, series: bool) -> Visit:
    visit.save()
    visit.other_clinicians.set([u for u in slot.other_clinicians if u.pk != slot.clinician.pk])
    audit_record(
        request=request,
        action="kapflow.visits.visit.booked",
        client=client,
        obj=visit,
        detail={"kind": visit.kind, "starts_at": visit.starts_at.isoformat(), "series": series},
    )
    schedule_client(client=client, request=request)  # the forms this visit asks for
    return visit


@transaction.atomic
def visit_book(*, request, client: Client, slot: Slot) -> Visit:
    """Book one visit, refused (VisitRefused, naming each clash) if the clinician, the client or
    the room is already taken at that time."""
    visit = _build(request=request, client=client, slot=slot)
    _lock(client, [slot])
    problems = clashes(client=client, slot=slot) + _route_problems(client, slot)
    if problems:
        raise VisitRefused(problems)
    return _save_new(request=request, client=client, slot=slot, visit=visit, series=False)


@transaction.atomic
def series_book(*, request, client: Client, slots: list[Slot]) -> list[Visit]:
    """Book a series (the course plan's proposal, as edited): all of it or none. Each slot is
    checked against the schedule and against the other slots of the series; every clash is
    named, prefixed with the slot's label."""
    if not slots:
        raise VisitRefused(["Nothing to book: every row is unticked."])
    visits = [_build(request=request, client=client, slot=slot) for slot in slots]
    _lock(client, slots)
    problems = []
    for index, slot in enumerate(slots):
        label = f"{Visit.Kind(slot.kind).label}, {_day(slot.starts_at)} {_clock(slot.starts_at)}"
        for sentence in clashes(client=client, slot=slot) + _route_problems(client, slot):
            problems.append(f"{label}: {sentence}")
        for earlier in slots[:index]:
            if earlier.starts_at < slot.ends_at and slot.starts_at < earlier.ends_at:
                problems.append(f"{label}: overlaps another visit of this series.")
    if problems:
        raise VisitRefused(problems)
    return [
        _save_new(request=request, client=client, slot=slot, visit=visit, series=True)
        for slot, visit in zip(slots, visits, strict=True)
    ]


@transaction.atomic
def visit_reschedule(*, request, visit: Visit, slot: Slot) -> Visit:
    """Move a visit that has not begun, refused on a clash as booking is."""
    visit = Visit.objects.select_for_update(no_key=True).get(pk=visit.pk)
    if visit.status != Visit.Status.SCHEDULED:
        raise VisitRefused(
            [f"Only a scheduled visit can be moved; this one is {visit.get_status_display().lower()}."]
        )
    before = (visit.starts_at, visit.ends_at, visit.room_id, visit.clinician_id, visit.modality)
    visit.starts_at, visit.ends_at = slot.starts_at, slot.ends_at
    visit.modality, visit.clinician = slot.modality, slot.clinician
    visit.room = slot.room if slot.modality == Visit.Modality.IN_PERSON else None
    visit.video_link = slot.video_link if slot.modality == Visit.Modality.VIRTUAL else ""
    try:
        visit.full_clean()
    except ValidationError as error:
        raise VisitRefused(error.messages) from None
    _lock(visit.client, [slot])
    problems = clashes(client=visit.client, slot=slot, exclude=visit) + _route_problems(
        visit.client, replace(slot, kind=visit.kind)
    )
    if problems:
        raise VisitRefused(problems)
    visit.save(update_fields=["starts_at", "ends_at", "modality", "clinician", "room", "video_link"])
    visit.other_clinicians.set([u for u in slot.other_clinicians if u.pk != slot.clinician.pk])
    after = (visit.starts_at, visit.ends_at, visit.room_id, visit.clinician_id, visit.modality)
    names = ["starts_at", "ends_at", "room", "clinician", "modality"]
    audit_record(
        request=request,
        action="kapflow.visits.visit.rescheduled",
        client=visit.client,
        obj=visit,
        detail={"changed": [n for n, a, b in zip(names, before, after, strict=True) if a != b]},
    )
    schedule_client(client=visit.client, request=request)  # its forms follow the new time
    return visit


_VERB = {
    Visit.Status.CHECKED_IN: "checked_in",
    Visit.Status.IN_PROGRESS: "started",
    Visit.Status.COMPLETED: "completed",
    Visit.Status.CANCELLED: "cancelled",
    Visit.Status.NO_SHOW: "no_show",
}


def start_blockers(visit: Visit, *, practice=None) -> list:
    """The readiness gates that keep a medication session from starting: every failing hard gate
    of the pathway and, for a virtual session, the safety plan recorded on its runbook (a soft
    gate waiting for an acknowledgement does not block the start; the runbook asks for it). The
    day-of checklist and the pre-dose vitals are checked at the first dose. No other kind of
    visit has gates."""
    if not visit.is_medication:
        return []
    from kapflow.dosing.selectors import safety_plan_gate
    from kapflow.medical.gates import route_gate
    from kapflow.pathway.readiness import Gate, readiness

    gates = readiness(visit.client, virtual=visit.is_virtual, practice=practice, visit=visit)
    if visit.is_virtual:
        gates.append(Gate(safety_plan_gate(visit)))
    # The orders' routes against where the session happens and who receives it (the room's
    # REMS certification, the client's age on the day): a setting that changed since booking.
    gates.append(
        Gate(
            route_gate(
                visit.client,
                virtual=visit.is_virtual,
                room=visit.room,
                today=timezone.localdate(visit.starts_at),
                practice=practice,
            )
        )
    )
    return [gate for gate in gates if not gate.passed and gate.result.status is Status.FAIL]


@transaction.atomic
def visit_transition(*, request, visit: Visit, to: str, reason: str = "", practice=None) -> Visit:
    """Move a visit to status `to` if the current status allows it. Cancelling needs a reason;
    starting a medication session needs every hard readiness gate to pass; a medication session
    is completed by signing its runbook, and a clinical visit (NOTED_KINDS) by signing its note."""
    visit = (
        Visit.objects.select_for_update(of=("self",), no_key=True).select_related("client").get(pk=visit.pk)
    )
    to = Visit.Status(to)
    allowed = TRANSITIONS[visit.status]
    if to == Visit.Status.COMPLETED and visit.kind in NOTED_KINDS:
        # A clinical visit is completed by signing its note (kapflow.notes.services.note_sign),
        # which may follow a visit never marked started: the signed note says it happened.
        if not _note_signed(visit):
            raise VisitRefused(["A visit is completed by signing its note."])
        if visit.status in (Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN):
            allowed = allowed | {Visit.Status.COMPLETED}
    if to not in allowed:
        raise VisitRefused(
            [f"A visit that is {visit.get_status_display().lower()} cannot be marked {to.label.lower()}."]
        )
    if to == Visit.Status.CANCELLED:
        reason = reason.strip()
        if not reason:
            raise VisitRefused(["Say why the visit is cancelled."])
        visit.cancel_reason = reason
    if to == Visit.Status.COMPLETED and visit.is_medication and not _runbook_signed(visit):
        raise VisitRefused(
            [
                "A medication session is completed by discharging the client and signing its record "
                "on the runbook."
            ]
        )
    if to == Visit.Status.IN_PROGRESS:
        if visit.is_medication:
            _lock_plan(visit.client)
        blockers = start_blockers(visit, practice=practice)
        if blockers:
            names = ", ".join(gate.result.label.lower() for gate in blockers)
            raise VisitRefused(
                [f"The medication session cannot start: not ready ({names})."]
                + [f"{gate.result.label}: {gate.result.reason}" for gate in blockers]
            )
    visit.status = to
    visit.status_changed_at = timezone.now()
    visit.full_clean()
    visit.save(update_fields=["status", "cancel_reason", "status_changed_at"])
    audit_record(
        request=request,
        action=f"kapflow.visits.visit.{_VERB[to]}",
        client=visit.client,
        obj=visit,
        detail={"status": to.value},
    )
    if to == Visit.Status.IN_PROGRESS and visit.is_medication:
        _course_begun(request, visit.client)
    if to == Visit.Status.COMPLETED:
        _charge(request, visit, practice)
    schedule_client(client=visit.client, request=request)  # withdraws its forms once cancelled or begun
    return visit


def _course_begun(request, client: Client) -> None:
    """A medication session beginning puts a client not yet in their course into it (a client
    in maintenance stays there), through the same audited move as the pathway's records."""
    from kapflow.pathway.services import client_move_on

    client_move_on(
        request,
        client,
        to=Client.Stage.COURSE,
        only_from=[
            Client.Stage.CONSULTATION,
            Client.Stage.SCREENING,
            Client.Stage.CONSENT,
            Client.Stage.PREPARATION,
            Client.Stage.DISCHARGED,
        ],
    )


def _charge(request, visit: Visit, practice) -> None:
    """A completed visit is charged at the fees in force on its day (docs/billing.md), in the
    same transaction: the visit's row is already locked here."""
    from kapflow.billing.services import visit_charge

    visit_charge(request=request, visit=visit, practice=practice)


def _lock_plan(client: Client) -> None:
    """The course gate counts the sessions begun against the plan in force (kapflow.pathway.course):
    lock that plan, so that two sessions starting at once at the last planned one do not both
    pass, and a course review changing the plan (kapflow.course.reviews) waits or is waited for."""
    from kapflow.course.reviews import lock_plan_in_force

    lock_plan_in_force(client)


def _note_signed(visit: Visit) -> bool:
    from kapflow.notes.models import ProgressNote

    return ProgressNote.objects.filter(visit=visit, signed_at__isnull=False).exists()


def _runbook_signed(visit: Visit) -> bool:
    from kapflow.dosing.models import Runbook

    return Runbook.objects.filter(visit=visit, signed_at__isnull=False).exists()


@transaction.atomic
def room_save(*, request, room: Room) -> Room:
    created = room.pk is None
    room.full_clean()
    room.save()
    audit_record(
        request=request,
        action=f"kapflow.visits.room.{'created' if created else 'updated'}",
        obj=room,
        detail={"active": room.active, "rems_certified": room.rems_certified},
    )
    return room


@transaction.atomic
def feed_create(*, request) -> CalendarFeed:
    """A new private feed URL for the requesting clinician; the old one, if any, stops working."""
    for old in CalendarFeed.objects.select_for_update(no_key=True).filter(
        user=request.user, revoked_at__isnull=True
    ):
        _revoke(request, old)
    feed = CalendarFeed.objects.create(user=request.user, token=secrets.token_urlsafe(32))
    audit_record(request=request, action="kapflow.visits.feed.created", obj=feed)
    return feed


def _revoke(request, feed: CalendarFeed) -> None:
    feed.revoked_at = timezone.now()
    feed.save(update_fields=["revoked_at"])
    audit_record(request=request, action="kapflow.visits.feed.revoked", obj=feed)


@transaction.atomic
def feed_revoke(*, request) -> int:
    """Turn off the requesting clinician's feed URL. Returns how many were live (0 or 1)."""
    live = list(
        CalendarFeed.objects.select_for_update(no_key=True).filter(user=request.user, revoked_at__isnull=True)
    )
    for feed in live:
        _revoke(request, feed)
    return len(live)
