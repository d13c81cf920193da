"""The demo practice's completed courses, so the progress charts and the outcome report have
something to show: for each demo client in a course, in maintenance or discharged, fortnightly
medication sessions in the past (signed runbooks with a first dose, now and then an adverse
event) between the measures the pathway story already recorded, and a PCL-5 history for one
client. Fictional throughout."""

import datetime
import random
from decimal import Decimal

from django.utils import timezone

COURSE_DONE = "Demo: the course is done; the prescriber's newer order is the current one."
PCL5_COURSE = [52, 49, 44, 40, 35, 31, 28]
# The sessions here end a week before the loading day; the visit story's begin a few days ago.
RECENT = datetime.timedelta(days=7)
SESSION_AT = 9 * 60  # 9:00, the practice's time
INTEGRATION_AT = 10 * 60  # the next morning


def add_outcomes_story(staff, schedule) -> None:
    """Add the story once (safe to call again: it adds nothing the second time), booking through
    the demo's diary (kapflow.demo.schedule)."""
    from kapflow.clients.models import CareTeamMember, Client
    from kapflow.consent.models import Kind
    from kapflow.demo.controlled import ledger_kept_from
    from kapflow.demo.outside import outside_client
    from kapflow.demo.pathway import PREPARED, _respond
    from kapflow.demo.runbook import integration_record, signed_runbook, spravato_room_get
    from kapflow.dosing.models import AdverseEvent
    from kapflow.measures.instruments import PCL5
    from kapflow.measures.models import Response
    from kapflow.medical.models import MedicationOrder
    from kapflow.practice.models import Practice
    from kapflow.visits.models import DEFAULT_MINUTES, Room, Visit

    if MedicationOrder.objects.filter(discontinue_reason=COURSE_DONE).exists():
        return
    rng = random.Random(606)  # noqa: S311  (made-up demo data, not secrets)
    practice = Practice.load()
    now = timezone.now()
    today = timezone.localdate()
    ledger_from = ledger_kept_from(today)
    prescriber = staff["prescriber"]
    rooms = [Room.objects.get_or_create(name=name)[0] for name in ("Garden Room", "Studio")]
    spravato_room = spravato_room_get()
    window = datetime.timedelta(hours=practice.integration_window_hours)
    primaries = {
        member.client_id: member.user
        for member in CareTeamMember.objects.filter(
            role=CareTeamMember.Role.PRIMARY_THERAPIST
        ).select_related("user")
    }
    # The client cleared by an outside psychiatrist's letter has had no course with the practice's
    # own prescriber (kapflow.demo.outside).
    outside = outside_client()
    clients = [
        c
        for c in Client.objects.filter(pk__in=primaries).order_by("pk")[:20]
        if c.stage in PREPARED and (outside is None or c.pk != outside.pk)
    ]
    for n, client in enumerate(clients):
        therapist = primaries[client.pk]
        first_response = client.responses.order_by("completed_at").first()
        if first_response is None:
            continue
        # Sessions two days before each of the story's weekly measures (start + 60 + 10w days),
        # until a week ago: the visit story (kapflow.demo.pathway) books the latest ones.
        began = timezone.localdate(first_response.completed_at)
        days = [began + datetime.timedelta(days=58 + week * 10) for week in range(1, 6)]
        days = [day for day in days if day <= today - RECENT]
        # Esketamine for every fourth adult whose course here ends before the stock ledger begins
        # (kapflow.demo.controlled.ledger_kept_from): the doses after it are the ledger's stories'.
        intranasal = n % 4 == 3 and not client.is_minor and bool(days) and days[-1] < ledger_from
        order = MedicationOrder.objects.create(
            client=client,
            prescriber=prescriber,
            created_at=first_response.completed_at,
            drug=MedicationOrder.Drug.ESKETAMINE if intranasal else MedicationOrder.Drug.KETAMINE,
            route=MedicationOrder.Route.INTRANASAL if intranasal else MedicationOrder.Route.SUBLINGUAL,
            unit=MedicationOrder.Unit.MG,
            dose_min=Decimal(56 if intranasal else 200),
            dose_max=Decimal(84 if intranasal else 300),
            sessions_authorised=8,
            starts_on=timezone.localtime(first_response.completed_at).date(),
            ends_on=today + datetime.timedelta(days=90),
            discontinued_at=now,
            discontinued_by=prescriber,
            discontinue_reason=COURSE_DONE,
            minor_signoff=client.is_minor,
        )
        # Esketamine only in the office, in the REMS-certified room (kapflow.medical.routes); at
        # home only for a client who signed the telehealth consent (kapflow.consent.gates).
        virtual = not intranasal and client.consent_signatures.filter(kind=Kind.TELEHEALTH).exists()
        # An esketamine session no later than the day before the ledger begins.
        latest = ledger_from if intranasal else today - RECENT + datetime.timedelta(days=1)
        for week, day in enumerate(days, 1):
            booking = schedule.book(
                client=client,
                clinician=therapist,
                around=schedule.at(day, SESSION_AT),
                minutes=DEFAULT_MINUTES[Visit.Kind.MEDICATION],
                rooms=None if virtual else [spravato_room] if intranasal else rooms,
                # Later, so that it follows the consents, but still before the recent sessions.
                direction=1,
                latest=schedule.at(latest, 0),
            )
            if booking is None:
                continue
            visit = Visit.objects.create(
                client=client,
                kind=Visit.Kind.MEDICATION,
                starts_at=booking.starts_at,
                ends_at=booking.ends_at,
                modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
                room=booking.room,
                status=Visit.Status.COMPLETED,
                clinician=therapist,
                created_by=staff["coordinator"],
            )
            starts = visit.starts_at
            next_day = timezone.localdate(starts) + datetime.timedelta(days=1)
            runbook = signed_runbook(visit, order, practice, rng, event=False)
            # Its integration session the next morning, within the integration window, held and
            # written up; the first client's last one is still owed, so the dashboard has an
            # overdue integration to show.
            held = None
            if not (n == 0 and week == len(days)):
                held = schedule.book(
                    client=client,
                    clinician=therapist,
                    around=schedule.at(next_day, INTEGRATION_AT),
                    minutes=DEFAULT_MINUTES[Visit.Kind.INTEGRATION],
                    rooms=None if virtual else rooms,
                    earliest=visit.ends_at,
                    latest=visit.ends_at + window,
                )
            if held is not None:
                Visit.objects.create(
                    client=client,
                    kind=Visit.Kind.INTEGRATION,
                    starts_at=held.starts_at,
                    ends_at=held.ends_at,
                    modality=visit.modality,
                    room=held.room,
                    video_link="https://video.demo.kapflow.test/integration" if virtual else "",
                    status=Visit.Status.COMPLETED,
                    clinician=therapist,
                    created_by=staff["coordinator"],
                )
                integration_record(visit, rng)
            if (n + week) % 4 == 0:
                AdverseEvent.objects.create(
                    runbook=runbook,
                    noted_at=starts + datetime.timedelta(minutes=55),
                    kind=AdverseEvent.Kind.NAUSEA if week % 2 else AdverseEvent.Kind.DIZZINESS,
                    severity=AdverseEvent.Severity.MODERATE if n == 2 else AdverseEvent.Severity.MILD,
                    action_taken="Sat with the client; settled within 20 minutes.",
                    recorded_by=therapist,
                    recorded_at=starts + datetime.timedelta(minutes=56),
                )
        if n == 0:
            # One client also tracks post-traumatic stress: a PCL-5 at baseline, entered by the
            # therapist with the other baselines (a staff entry answers no form), and every 10 days.
            for step, total in enumerate(PCL5_COURSE):
                when = first_response.completed_at + datetime.timedelta(days=step * 10 + (60 if step else 0))
                if when > now:
                    break
                if step == 0:
                    _respond(client, PCL5, total, when, Response.Context.BASELINE, therapist)
                else:
                    _respond(client, PCL5, total, when, Response.Context.WEEKLY, None)
