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


def add_outcomes_story(staff) -> None:
    """Add the story once (safe to call again: it adds nothing the second time)."""
    from kapflow.clients.models import CareTeamMember, Client
    from kapflow.dosing.models import AdverseEvent
    from kapflow.measures.instruments import PCL5
    from kapflow.measures.models import Response
    from kapflow.measures.scoring import score
    from kapflow.medical.models import MedicationOrder
    from kapflow.practice.demo_pathway import PREPARED, _answers
    from kapflow.practice.demo_runbook import integration_record, signed_runbook, spravato_room_get
    from kapflow.practice.models import Practice
    from kapflow.visits.models import Room, Visit

    if MedicationOrder.objects.filter(discontinue_reason=COURSE_DONE).exists():
        return
    rng = random.Random(606)  # noqa: S311  (made-up demo data, not secrets)
    practice = Practice.load()
    now = timezone.now()
    today = timezone.localdate()
    prescriber = staff["prescriber"]
    room = Room.objects.get_or_create(name="Garden Room")[0]
    spravato_room = spravato_room_get()
    primaries = {
        member.client_id: member.user
        for member in CareTeamMember.objects.filter(
            role=CareTeamMember.Role.PRIMARY_THERAPIST
        ).select_related("user")
    }
    clients = [c for c in Client.objects.filter(pk__in=primaries).order_by("pk")[:20] if c.stage in PREPARED]
    for n, client in enumerate(clients):
        therapist = primaries[client.pk]
        first_response = client.responses.order_by("completed_at").first()
        if first_response is None:
            continue
        intranasal = n % 4 == 3 and not client.is_minor
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
        # Esketamine only in the office, in the REMS-certified room (kapflow.medical.routes).
        virtual = not intranasal and n % 5 == 2
        # Sessions two days before each of the story's weekly measures (start + 60 + 10w days).
        for week in range(1, 6):
            starts = first_response.completed_at + datetime.timedelta(days=58 + week * 10)
            starts = starts.replace(hour=17, minute=0, second=0, microsecond=0)
            if starts > now - datetime.timedelta(days=4):
                break
            visit = Visit.objects.create(
                client=client,
                kind=Visit.Kind.MEDICATION,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(minutes=150),
                modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
                room=None if virtual else spravato_room if intranasal else room,
                status=Visit.Status.COMPLETED,
                clinician=therapist,
                created_by=staff["coordinator"],
            )
            runbook = signed_runbook(visit, order, practice, rng, event=False)
            # Its integration session the next morning, held and written up; the first client's
            # last one is still owed, so the dashboard has an overdue integration to show.
            if not (n == 0 and starts + datetime.timedelta(days=10) > now - datetime.timedelta(days=4)):
                held = timezone.make_aware(
                    datetime.datetime.combine(
                        timezone.localtime(starts).date() + datetime.timedelta(days=1), datetime.time(10)
                    )
                )
                Visit.objects.create(
                    client=client,
                    kind=Visit.Kind.INTEGRATION,
                    starts_at=held,
                    ends_at=held + datetime.timedelta(minutes=50),
                    modality=visit.modality,
                    room=visit.room,
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
            # One client also tracks post-traumatic stress: a PCL-5 at baseline and every 10 days.
            for step, total in enumerate(PCL5_COURSE):
                when = first_response.completed_at + datetime.timedelta(days=step * 10 + (60 if step else 0))
                if when > now:
                    break
                answers = _answers(PCL5, total)
                Response.objects.create(
                    client=client,
                    instrument=PCL5.key,
                    version=PCL5.version,
                    answers=answers,
                    total=score(PCL5, answers).total,
                    band=score(PCL5, answers).band.label,
                    context=Response.Context.BASELINE if step == 0 else Response.Context.WEEKLY,
                    completed_at=when,
                    entered_by=None,
                )
