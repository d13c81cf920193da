"""The demo practice's medication-session runbooks (issue 4): a signed record for each completed
medication session (pre-dose and in-session vitals, the dose against the client's order, ratings,
phases, notes, discharge and signature; one with a mild adverse event, one virtual with its
safety plan and chaperone check-ins), an integration record with action items after each, and
one medication session today, checked in and ready to run. Sessions already recorded (here or by
another demo story) are left as they are, so loading twice adds nothing."""

import datetime
import random

from django.db import transaction
from django.utils import timezone

from kapflow.clients.models import ADULT_AGE, Client
from kapflow.dosing import rules
from kapflow.dosing.models import (
    Administration,
    AdverseEvent,
    ChaperoneCheckin,
    DayOfChecklist,
    Note,
    PhaseMark,
    PrescriberOnSite,
    Rating,
    Runbook,
    SafetyPlan,
    VitalsReading,
)
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.medical import routes
from kapflow.medical.models import MedicationOrder
from kapflow.practice.models import Practice
from kapflow.visits.models import DEFAULT_MINUTES, Room, Visit

NOTES = [
    "Opening reflection: revisited the intention, to meet the grief about her father with curiosity.",
    "Eyes shaded, music on. Settled quickly; breathing slow and even.",
    "Spoke of a childhood kitchen, warm light; tearful, then quiet.",
    "Sitting up, oriented, drinking water. Processing: 'I don't have to carry it all at once.'",
]
ACTIONS = [
    "Ten minutes of the morning walk without the phone, three days this week.",
    "Write the letter to her father; no need to send it.",
    "Tell the partner one thing that came up, in his own words.",
]


def _at(start: datetime.datetime, minutes: int) -> datetime.datetime:
    return start + datetime.timedelta(minutes=minutes)


def spravato_room_get() -> Room:
    """The demo's room certified under the Spravato REMS: esketamine sessions are held there."""
    room, _ = Room.objects.get_or_create(
        name="Spravato Room", defaults={"rems_certified": True, "rems_setting_id": "DEMO-SETTING-0001"}
    )
    return room


def before_the_dose(book: Runbook, who, rng, *, transport: str, food: int, liquid: int):
    """A session's record up to its dose, as the demo records it: the day-of checklist (the last
    food and liquid so many minutes before the start), a pre-dose reading and the opening phase.
    Returns the client's usual (systolic, diastolic, heart rate) and that reading."""
    start = book.visit.starts_at
    DayOfChecklist.objects.create(
        runbook=book,
        transport_without_driving=True,
        transport_detail=transport,
        last_food_at=_at(start, -food),
        last_liquid_at=_at(start, -liquid),
        substances=[],
        pregnancy=DayOfChecklist.Pregnancy.NOT_APPLICABLE,
        recorded_by=who,
        recorded_at=_at(start, -15),
    )
    base = (118 + rng.randint(0, 14), 74 + rng.randint(0, 10), 66 + rng.randint(0, 12))
    baseline = VitalsReading.objects.create(
        runbook=book,
        phase=VitalsReading.Phase.PRE_DOSE,
        taken_at=_at(start, 20),
        systolic=base[0],
        diastolic=base[1],
        heart_rate=base[2],
        spo2=98,
        recorded_by=who,
        recorded_at=_at(start, 20),
    )
    PhaseMark.objects.create(
        runbook=book, phase="opening", started_at=start, recorded_by=who, recorded_at=start
    )
    return base, baseline


def after_the_dose(book: Runbook, practice: Practice, who, *, dose_at, base, baseline) -> datetime.datetime:
    """A session's readings after its dose, as the demo records them: vitals from the first
    check on at the practice's interval, rising a little and settling under the alerts, and the
    sedation and dissociation ratings wearing off. Returns when the last vitals were taken."""
    rises = [(18, 9, 6), (10, 6, 3), (4, 2, 0), (1, 0, -2)]
    moments = [practice.first_vitals_minutes + practice.vitals_interval_minutes * n for n in range(4)]
    usual = rules.Reading(baseline.taken_at, *base, 98)
    readings = []
    for (ds, dd, dh), after in zip(rises, moments, strict=True):
        taken = _at(dose_at, after)
        reading = rules.Reading(taken, base[0] + ds, base[1] + dd, base[2] + dh, 97)
        readings.append(
            VitalsReading(
                runbook=book,
                phase=VitalsReading.Phase.IN_SESSION,
                taken_at=taken,
                systolic=reading.systolic,
                diastolic=reading.diastolic,
                heart_rate=reading.heart_rate,
                spo2=97,
                alerts=rules.reading_alerts(reading, baseline=usual, practice=practice),
                recorded_by=who,
                recorded_at=taken,
            )
        )
    # In bulk: the quick demo records over a hundred sessions, and the suite loads it about twenty
    # times.
    VitalsReading.objects.bulk_create(readings)
    Rating.objects.bulk_create(
        Rating(
            runbook=book,
            rated_at=_at(dose_at, after),
            sedation=sedation,
            dissociation=dissociation,
            recorded_by=who,
            recorded_at=_at(dose_at, after),
        )
        for after, sedation, dissociation in ((20, 1, 2), (50, 1, 1), (90, 0, 0), (118, 0, 0))
    )
    return _at(dose_at, moments[-1])


def signed_runbook(visit: Visit, order: MedicationOrder, practice: Practice, rng, *, event: bool) -> Runbook:
    """One medication session as it was recorded on the day, minute by minute."""
    start = visit.starts_at
    who = visit.clinician
    book = Runbook.objects.create(visit=visit, created_at=_at(start, -25))
    if visit.is_virtual:
        SafetyPlan.objects.create(
            runbook=book,
            address="2231 Laurel Canyon Blvd, Studio City, CA 91604",
            chaperone_name="Chris Alvarez (partner)",
            chaperone_phone="(818) 555-0177",
            chaperone_is_adult=True,
            chaperone_present=True,
            emergency_contact="Rosa Alvarez (sister), (818) 555-0178",
            nearest_emergency_department="Providence Cedars-Sinai Tarzana, 18321 Clark St",
            has_bp_cuff=True,
            recorded_by=who,
            recorded_at=_at(start, -20),
        )
    transport = "Partner drives home" if rng.random() < 0.5 else "Rideshare booked by the client"
    food, liquid = rng.choice([240, 300, 600]), rng.choice([60, 90, 120])
    base, baseline = before_the_dose(book, who, rng, transport=transport, food=food, liquid=liquid)
    dose_at = _at(start, practice.opening_reflection_minutes)
    if order.route == MedicationOrder.Route.INTRANASAL:
        # Esketamine is given with a prescriber on site (kapflow.medical.routes).
        PrescriberOnSite.objects.create(
            runbook=book,
            prescriber=order.prescriber,
            on_site_at=_at(start, 5),
            recorded_by=who,
            recorded_at=_at(start, 5),
        )
    low, high = order.range_mg()
    Administration.objects.create(
        runbook=book,
        order=order,
        given_at=dose_at,
        route=order.route,
        # Esketamine comes in whole 28 mg devices: the order's lowest dose (56 mg, two devices).
        dose_mg=low if order.route == MedicationOrder.Route.INTRANASAL else low + (high - low) / 2,
        lot_number=f"KL{rng.randint(21000, 29999)}",
        given_by=who,
        recorded_by=who,
        recorded_at=dose_at,
    )
    PhaseMark.objects.create(
        runbook=book, phase="medicine", started_at=dose_at, recorded_by=who, recorded_at=dose_at
    )
    last_reading = after_the_dose(book, practice, who, dose_at=dose_at, base=base, baseline=baseline)
    if event:
        AdverseEvent.objects.create(
            runbook=book,
            noted_at=_at(dose_at, 25),
            kind=AdverseEvent.Kind.NAUSEA,
            severity=AdverseEvent.Severity.MILD,
            action_taken="Sat up slowly, sips of water, ginger chew; settled within 15 min.",
            recorded_by=who,
            recorded_at=_at(dose_at, 26),
        )
    if visit.is_virtual:
        every = practice.chaperone_checkin_minutes
        checks = [_at(dose_at, n * every) for n in range(1, practice.min_monitoring_minutes // every + 1)]
        ChaperoneCheckin.objects.bulk_create(
            ChaperoneCheckin(
                runbook=book,
                checked_at=checked,
                chaperone_present=True,
                client_ok=True,
                note="In the next room, door open." if n == 0 else "",
                recorded_by=who,
                recorded_at=checked,
            )
            for n, checked in enumerate(checks)
        )
    integration_at = _at(dose_at, practice.medicine_minutes)
    PhaseMark.objects.create(
        runbook=book,
        phase="integration",
        started_at=integration_at,
        recorded_by=who,
        recorded_at=integration_at,
    )
    written = [_at(start, m) for m in (5, practice.opening_reflection_minutes + 10, 70, 100)]
    Note.objects.bulk_create(
        Note(runbook=book, written_at=at, text=text, author=who, recorded_at=at)
        for at, text in zip(written, NOTES, strict=True)
    )
    # Discharged once the minimum monitoring is over and after the last reading (the one
    # taken before discharge).
    discharged = max(_at(dose_at, practice.min_monitoring_minutes + 5), _at(last_reading, 5))
    book.alert_and_oriented = book.steady_on_feet = book.escort_present = True
    book.discharged_at, book.discharged_by = discharged, who
    if order.route == MedicationOrder.Route.INTRANASAL:
        _rems_answered(book, visit, order, dose_at, practice)
    book.signed_at, book.signed_by = _at(discharged, 10), who
    book.save()
    return book


def _rems_answered(book: Runbook, visit: Visit, order: MedicationOrder, dose_at, practice: Practice) -> None:
    """An esketamine session's Spravato REMS record (docs/spravato-rems.md): the client enrolled
    before the first dose, the clinician's answers, and for a session whose form came due, its
    submission to the REMS; a recent one waits on the list of forms to submit."""
    from kapflow.controlled.models import RemsEnrolment
    from kapflow.dosing.models import RemsReport

    day = timezone.localdate(visit.starts_at)
    if not RemsEnrolment.objects.filter(client=visit.client, enrolled_on__lte=day).exists():
        RemsEnrolment.objects.create(
            client=visit.client,
            enrolled_on=day - datetime.timedelta(days=7),
            patient_rems_id=f"PT-{visit.client_id:06d}",
            prescriber=order.prescriber,
            recorded_by=order.prescriber,
            recorded_at=visit.starts_at - datetime.timedelta(days=7),
        )
    earlier = Administration.objects.filter(
        runbook__visit__client=visit.client, route=MedicationOrder.Route.INTRANASAL, given_at__lt=dose_at
    ).exclude(runbook=book)
    due = day + datetime.timedelta(days=practice.rems_form_days)
    submitted = due < timezone.localdate()
    RemsReport.objects.create(
        runbook=book,
        first_treatment=not earlier.exists(),
        no_concomitant=True,
        sedation=True,
        dissociation=True,
        respiratory_depression=False,
        vitals_ok_before_dosing=True,
        vitals_ok_before_discharge=True,
        ready_to_leave_minutes=practice.min_monitoring_minutes - practice.vitals_interval_minutes,
        answered_by=visit.clinician,
        answered_at=dose_at,
        submitted_on=day + datetime.timedelta(days=2) if submitted else None,
        submitted_by=order.prescriber if submitted else None,
        submission_reference=f"SPR-{visit.pk:07d}" if submitted else "",
    )


def integration_record(visit: Visit, rng) -> None:
    after = (
        Visit.objects.filter(client=visit.client, kind=Visit.Kind.INTEGRATION, starts_at__gt=visit.starts_at)
        .order_by("starts_at")
        .first()
    )
    held = after if after and after.status == Visit.Status.COMPLETED else None
    record = IntegrationRecord.objects.create(
        client=visit.client,
        follows=visit,
        visit=held,
        clinician=visit.clinician,
        themes="Grief and permission to rest; the father's kitchen as a safe place.",
        emotions="Sadness, then relief and tenderness.",
        images_memories="Warm light in a kitchen; a long corridor that opened onto a garden.",
        parts="The 'manager' part that keeps everything running softened for a while.",
        lasting_insight="She does not have to carry it all at once.",
        passing_intensity="The nausea and the heaviness in the first half hour.",
        recorded_at=held.ends_at if held else visit.ends_at + datetime.timedelta(hours=20),
    )
    ActionItem.objects.bulk_create(
        ActionItem(client=visit.client, record=record, text=text, created_at=record.recorded_at)
        for text in rng.sample(ACTIONS, 2)
    )


def _today_session(staff, schedule) -> None:
    """A medication session for a client in a course, already checked in: the runbook's
    check-in is the next step. It is today whatever the day (the one visit the demo may hold on
    a day the practice is closed), at the free time in the practice's hours nearest to now."""
    if Visit.objects.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.CHECKED_IN).exists():
        return
    ordered = MedicationOrder.objects.active(schedule.today).values("client")
    rooms = list(Room.objects.filter(active=True).order_by("pk"))
    # The first client in a course with an order in force who is free today, with their therapist.
    for client in Client.objects.filter(stage="course", pk__in=ordered).order_by("pk"):
        member = client.care_team.filter(role="primary_therapist").select_related("user").first()
        clinician = member.user if member else staff["owner"]
        booking = schedule.book(
            client=client,
            clinician=clinician,
            around=schedule.now,
            minutes=DEFAULT_MINUTES[Visit.Kind.MEDICATION],
            rooms=rooms,
            days=0,
            any_day=True,
            under_way=True,
        )
        if booking is not None:
            break
    else:
        return
    Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        modality=Visit.Modality.IN_PERSON,
        room=booking.room,
        clinician=clinician,
        status=Visit.Status.CHECKED_IN,
        status_changed_at=schedule.now,
        created_by=staff["coordinator"],
    )


@transaction.atomic
def add_runbook_story(staff, schedule) -> None:
    rng = random.Random(404)  # noqa: S311  (made-up demo data, not secrets)
    practice = Practice.load()
    sessions = list(
        # Completed sessions with no record yet: a second load adds nothing.
        Visit.objects.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED, runbook__isnull=True)
        .select_related("client", "clinician")
        .order_by("starts_at", "pk")
    )
    orders: dict[int, list[MedicationOrder]] = {}
    for order in MedicationOrder.objects.filter(client__in={v.client_id for v in sessions}).order_by(
        "created_at"
    ):
        orders.setdefault(order.client_id, []).append(order)
    recent = timezone.now() - datetime.timedelta(days=14)
    made, virtual = 0, False
    for visit in sessions:
        if not orders.get(visit.client_id):
            continue
        if made and not virtual and _telehealth_signed(visit):
            # One virtual session (the client at home with a chaperone).
            Visit.objects.filter(pk=visit.pk).update(modality=Visit.Modality.VIRTUAL, room=None)
            visit.refresh_from_db()
            virtual = True
        order = _order_for(visit, orders[visit.client_id], practice)
        if order is None:
            continue
        signed_runbook(visit, order, practice, rng, event=made == 0)
        if visit.starts_at >= recent:
            integration_record(visit, rng)
        made += 1
    _review_earlier_action_items()
    _today_session(staff, schedule)


def _telehealth_signed(visit: Visit) -> bool:
    """Whether the client had signed the telehealth consent before the visit (a virtual session
    needs it: kapflow.consent.gates)."""
    from kapflow.consent.models import Kind, Signature

    return Signature.objects.filter(
        client=visit.client_id, kind=Kind.TELEHEALTH, signed_at__lt=visit.starts_at
    ).exists()


def _order_for(visit: Visit, orders: list[MedicationOrder], practice: Practice) -> MedicationOrder | None:
    """The client's earliest order that may be given in this visit's setting to this client
    (kapflow.medical.routes: no esketamine at home or in a room not REMS-certified), so that the
    demo teaches the rules it keeps; None when none may."""
    place = routes.Place(
        virtual=visit.is_virtual,
        room=visit.room.name if visit.room_id else "",
        rems_certified=bool(visit.room_id and visit.room.rems_certified),
        rems_setting_id=visit.room.rems_setting_id if visit.room_id else None,
    )
    minor = visit.client.age(timezone.localdate(visit.starts_at)) < ADULT_AGE
    for order in orders:
        problems = routes.route_problems(
            order.route, place=place, minor=minor, minor_signoff=order.minor_signoff, practice=practice
        )
        if not problems:
            return order
    return None


def _review_earlier_action_items() -> None:
    """Each record's action items were reviewed at the client's next integration: the first
    carried out, the rest let go. The open ones are then the latest record's."""
    records = IntegrationRecord.objects.order_by("client_id", "recorded_at", "pk")
    previous = None
    for record in records:
        if previous is not None and previous.client_id == record.client_id:
            items = list(
                previous.action_items.filter(status=ActionItem.Status.OPEN)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            ActionItem.objects.filter(pk__in=items[:1]).update(
                status=ActionItem.Status.DONE, reviewed_at=record.recorded_at
            )
            ActionItem.objects.filter(pk__in=items[1:]).update(
                status=ActionItem.Status.LET_GO, reviewed_at=record.recorded_at
            )
        previous = record
