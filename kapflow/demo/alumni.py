"""The demo practice's alumni: clients who came through a whole course earlier in the year and
were discharged, so that the outcome report has a year's worth of finished courses to count
(the clients still in a course have had two or three sessions so far) and the breakdowns by
route and modality have enough clients to show their figures.

Each alumnus has the records a practice would hold: the consultation with its baseline measures,
a screening and the prescriber's clearance, the signed consents, two preparation sessions, the
course plan and the order, six to eight signed medication-session runbooks with the
questionnaires answered before each, an integration session and its record the next day (action
items reviewed at the next one), the odd adverse event (reviewed by the prescriber), and the
discharge questionnaires. Their scores follow the shapes of real courses: most improve a good
deal, some a little, a couple not at all, one gets worse. Fictional throughout."""

import datetime
import math
from decimal import Decimal

from django.utils import timezone

# Per alumnus, the share of the baseline PHQ-9 left at discharge: about six in ten respond
# (halve their score), about a third remit, two barely move and one ends worse off.
END_SHARE = [
    0.2, 0.55, 0.15, 0.42, 0.3, 0.9, 0.25, 0.6, 0.12,
    0.4, 1.15, 0.28, 0.65, 0.18, 0.45, 0.8, 0.2, 0.38,
]  # fmt: skip
# The alumni's ages: adults, from their twenties to their sixties.
AGES = [29, 41, 35, 52, 24, 63, 38, 46, 31, 57, 27, 44, 36, 49, 33, 60, 42, 26]
DONE = "Course complete; discharged to the referring therapist."
# The discharge forms were answered this long after the course finished: past its final review
# (kapflow.demo.course.FINAL_REVIEW_DAYS after the last session, give or take its booking) and the
# discharge signed after it, which asks them.
DISCHARGE_FORMS_ANSWERED_AFTER = datetime.timedelta(days=6)
# The last alumnus finished this long ago: the latest discharges are a few weeks old.
LAST_FINISHED_DAYS = 21
# The outcome report shows only whole quarters that have ended (kapflow.outcomes.report,
# Periods): the alumni finish at least this long before the end of the latest one, so that
# their discharge questionnaires (ten days after the last session) fall inside it too, and a
# newcomer opening the report on any day of the year sees a practice's quarter.
QUARTER_END_MARGIN_DAYS = 20
# Days between one alumnus's last session and the next one's.
FINISH_SPACING_DAYS = 3
SESSION_HOUR = datetime.time(12, 30)
INTEGRATION_HOUR = datetime.time(15, 30)
PORTAL_LEAD = datetime.timedelta(hours=18)  # when before a session the client answered
# Days tried, one after the other, for a session (and its integration the next day) to fit.
BOOKING_TRIES = 30


def _book_session(schedule, client, therapist, day, session_rooms, integration_rooms, window):
    """A medication session on `day` near SESSION_HOUR and its integration session near
    INTEGRATION_HOUR the next day, inside the integration window, from the demo's diary
    (kapflow.demo.schedule); None when either does not fit."""
    from kapflow.visits.models import DEFAULT_MINUTES, Visit

    def at(day, time):
        return schedule.at(day, time.hour * 60 + time.minute)

    session = schedule.book(
        client=client,
        clinician=therapist,
        around=at(day, SESSION_HOUR),
        minutes=DEFAULT_MINUTES[Visit.Kind.MEDICATION],
        rooms=session_rooms,
        days=0,
    )
    if session is None:
        return None
    integration = schedule.book(
        client=client,
        clinician=therapist,
        around=at(day + datetime.timedelta(days=1), INTEGRATION_HOUR),
        minutes=DEFAULT_MINUTES[Visit.Kind.INTEGRATION],
        rooms=integration_rooms,
        earliest=session.ends_at,
        latest=session.ends_at + window,
    )
    if integration is None:
        schedule.release(session, client=client, clinician=therapist)
        return None
    return session, integration


def _score(baseline: int, share: float, step: int, steps: int, wobble: int, top: int) -> int:
    """The score `step` sessions into a course of `steps`, on the way from the baseline to its
    share at the end: most of the change comes early, and real scores wobble a point or two."""
    progress = (1 - math.exp(-2.5 * step / steps)) / (1 - math.exp(-2.5))
    return max(0, min(top, round(baseline * (1 - (1 - share) * progress)) + wobble))


def add_alumni_story(alumni, staff, rng, schedule) -> None:
    """The records of `alumni` (freshly created discharged clients with their care teams), their
    visits booked through the demo's diary (kapflow.demo.schedule)."""
    from kapflow.clients.models import CareTeamMember, Client
    from kapflow.consent.models import ConsentDocument, Kind, Signature
    from kapflow.consent.selectors import name_on_file
    from kapflow.demo.controlled import ledger_kept_from
    from kapflow.demo.pathway import _respond, answered_before_session
    from kapflow.demo.runbook import integration_record, signed_runbook, spravato_room_get
    from kapflow.dosing.models import AdverseEvent, SafetyReview
    from kapflow.integration.models import ActionItem
    from kapflow.measures.instruments import GAD7, PCL5, PHQ9
    from kapflow.measures.models import Response
    from kapflow.medical import screening as findings
    from kapflow.medical.models import Clearance, MedicationOrder, Screening
    from kapflow.outcomes.report import last_ended_quarter
    from kapflow.pathway.models import Consultation, CoursePlan, PreparationSession, Topic
    from kapflow.practice.models import Practice
    from kapflow.visits.models import Room, Visit

    practice = Practice.load()
    window = datetime.timedelta(hours=practice.integration_window_hours)
    prescriber = staff["prescriber"]
    documents = {doc.kind: doc for doc in ConsentDocument.objects.published().order_by("kind", "version")}
    rooms = [Room.objects.get_or_create(name=name)[0] for name in ("Garden Room", "Studio")]
    spravato_room = spravato_room_get()
    therapists = {
        m.client_id: m.user
        for m in CareTeamMember.objects.filter(
            client__in=alumni, role=CareTeamMember.Role.PRIMARY_THERAPIST
        ).select_related("user")
    }
    today = timezone.localdate()
    _start, quarter_end = last_ended_quarter(today)
    finished_by = min(
        today - datetime.timedelta(days=LAST_FINISHED_DAYS),
        quarter_end - datetime.timedelta(days=QUARTER_END_MARGIN_DAYS),
    )
    ledger_from = ledger_kept_from(today)
    booked: set[tuple[int, datetime.date]] = set()  # (therapist, day): one alumnus's session a day

    def at(day: datetime.date, time: datetime.time) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(day, time))

    for k, client in enumerate(alumni):
        therapist = therapists[client.pk]
        steps = 6 + k % 3
        # Fortnightly for the six-session courses of every other alumnus, weekly otherwise: no
        # course is longer than ten weeks, so most fit whole in one quarter.
        every = 14 if k % 2 == 0 and steps == 6 else 7
        # Later alumni finished more recently, a few days apart.
        last = finished_by - datetime.timedelta(days=(len(alumni) - 1 - k) * FINISH_SPACING_DAYS)
        # Esketamine for every fourth adult whose course ends before the stock ledger begins
        # (kapflow.demo.controlled.ledger_kept_from): the doses after it are the ledger's stories'.
        intranasal = k % 4 == 1 and not client.is_minor and last < ledger_from
        # Esketamine only in the office, in the REMS-certified room (kapflow.medical.routes).
        virtual = not intranasal and k % 3 == 2
        regular = None if virtual else [rooms[k % 2], rooms[(k + 1) % 2]]
        session_rooms = [spravato_room] if intranasal and not virtual else regular
        share = END_SHARE[k % len(END_SHARE)]
        days, bookings = [], []
        for step in range(steps):
            day = last - datetime.timedelta(days=(steps - 1 - step) * every)
            found = None
            for _tries in range(BOOKING_TRIES):
                if intranasal and day >= ledger_from:
                    break
                # Monday to Thursday, so that the integration the next day is a working day too.
                if (therapist.pk, day) not in booked and day.weekday() < 4:
                    found = _book_session(schedule, client, therapist, day, session_rooms, regular, window)
                    if found is not None:
                        break
                day += datetime.timedelta(days=1)
            if found is not None:
                booked.add((therapist.pk, day))
                days.append(day)
                bookings.append(found)
        if not bookings:
            continue  # no free time for this course at all: the alumnus keeps no records
        steps = len(days)
        first = bookings[0][0].starts_at
        consulted = first - datetime.timedelta(days=42)
        phq0, gad0 = 15 + (k * 5) % 9, 11 + (k * 3) % 8
        pcl0 = 38 + (k * 7) % 20 if k % 3 == 0 else None

        Client.objects.filter(pk=client.pk).update(created_at=consulted - datetime.timedelta(days=10))
        Consultation.objects.create(
            client=client,
            clinician=therapist,
            held_on=timezone.localdate(consulted),
            why_kap="Several years of depression that medication and talk therapy have only dented.",
            history="Low mood most days since a bereavement; poor sleep; withdrawn from friends.",
            previous_treatment="Two antidepressants; a year of CBT; weekly therapy at present.",
            supports="A partner or a close friend; an outside therapist who knows about this.",
            expectations="Not a cure: some room to move, and a way back into the work of therapy.",
            goals="Lift the mood; sleep better; be back in touch with friends.",
            decision="proceed",
            recorded_at=consulted + datetime.timedelta(hours=1),
        )
        _respond(client, PHQ9, phq0, consulted, Response.Context.BASELINE, therapist)
        _respond(client, GAD7, gad0, consulted, Response.Context.BASELINE, therapist)
        if pcl0 is not None:
            _respond(client, PCL5, pcl0, consulted, Response.Context.BASELINE, therapist)
        age = client.age(timezone.localdate(consulted))
        answers = {finding.key: False for finding in findings.FINDINGS}
        medications = [{"name": "Escitalopram 10 mg", "class": "other"}]
        screened = consulted + datetime.timedelta(days=7)
        screening = Screening.objects.create(
            client=client,
            answers=answers,
            medications=medications,
            flags=[
                f.as_dict() for f in findings.flags_for(answers=answers, medications=medications, age=age)
            ],
            age=age,
            completed_at=screened,
            entered_by=therapist,
        )
        cleared = screened + datetime.timedelta(days=7)
        Clearance.objects.create(
            client=client,
            screening=screening,
            prescriber=prescriber,
            decided_at=cleared,
            decision=Clearance.Decision.CLEARED,
            systolic=116 + k % 14,
            diastolic=72 + k % 9,
            heart_rate=64 + k % 12,
            weight_kg=58 + k * 2,
            findings="Well; no cardiovascular findings. BP within range.",
            valid_until=timezone.localdate(cleared) + datetime.timedelta(days=365),
        )
        signed = cleared + datetime.timedelta(days=3)
        for kind in (Kind.KAP, Kind.TELEHEALTH) if virtual else (Kind.KAP,):
            if kind in documents:
                name = name_on_file(client)
                Signature.objects.create(
                    document=documents[kind],
                    kind=kind,
                    client=client,
                    signer=Signature.Signer.CLIENT,
                    signer_name=name,
                    typed_name=name,
                    decision=Signature.Decision.AGREE,
                    signed_at=signed,
                    ip_address="127.0.0.1",
                    text_sha256=documents[kind].sha256,
                    presented_by=therapist,
                )
        for before, topics in ((20, Topic.values[:5]), (10, Topic.values[5:])):
            held = first - datetime.timedelta(days=before)
            PreparationSession.objects.create(
                client=client,
                clinician=therapist,
                held_on=timezone.localdate(held),
                topics=topics,
                day_of_instructions_given=before == 10,
                intentions="To meet the low mood with some curiosity rather than a fight.",
                recorded_at=held,
            )
        CoursePlan.objects.create(
            client=client,
            goals="Lift the depression; sleep better; re-engage with friends and work.",
            planned_sessions=steps,
            cadence=CoursePlan.Cadence.FORTNIGHTLY if every == 14 else CoursePlan.Cadence.WEEKLY,
            modality=CoursePlan.Modality.VIRTUAL if virtual else CoursePlan.Modality.IN_PERSON,
            review_after="3, 6",
            created_at=first - datetime.timedelta(days=10),  # at the second preparation session
            updated_by=therapist,
        )
        finished = at(days[-1] + datetime.timedelta(days=10), datetime.time(9))
        order = MedicationOrder.objects.create(
            client=client,
            prescriber=prescriber,
            created_at=cleared,
            drug=MedicationOrder.Drug.ESKETAMINE if intranasal else MedicationOrder.Drug.KETAMINE,
            route=MedicationOrder.Route.INTRANASAL if intranasal else MedicationOrder.Route.SUBLINGUAL,
            unit=MedicationOrder.Unit.MG,
            dose_min=Decimal(56 if intranasal else 200),
            dose_max=Decimal(84 if intranasal else 300),
            sessions_authorised=steps,
            starts_on=timezone.localdate(cleared),
            ends_on=timezone.localdate(cleared) + datetime.timedelta(days=180),
            discontinued_at=finished,
            discontinued_by=prescriber,
            discontinue_reason=DONE,
        )
        for step, (session, integration) in enumerate(bookings):
            starts = session.starts_at
            answered = starts - PORTAL_LEAD
            wobble = rng.choice((-1, 0, 0, 1))
            forms = [
                _respond(
                    client, PHQ9, _score(phq0, share, step, steps, wobble, 27), answered, "pre_session", None
                )
            ]
            gad_share = min(1.2, share + rng.choice((-0.05, 0, 0.05, 0.1)))
            forms.append(
                _respond(
                    client,
                    GAD7,
                    _score(gad0, gad_share, step, steps, wobble, 21),
                    answered,
                    "pre_session",
                    None,
                )
            )
            visit = Visit.objects.create(
                client=client,
                kind=Visit.Kind.MEDICATION,
                starts_at=starts,
                ends_at=session.ends_at,
                modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
                room=session.room,
                status=Visit.Status.COMPLETED,
                clinician=therapist,
                created_by=staff["coordinator"],
            )
            # Each answered the form the measure schedule asked before the session
            # (kapflow.measures.schedule), as in kapflow.demo.measures.
            for response in forms:
                answered_before_session(visit, response, lead_hours=practice.appointment_reminder_hours)
            book = signed_runbook(visit, order, practice, rng, event=False)
            if (k + step) % 7 == 3:
                event = AdverseEvent.objects.create(
                    runbook=book,
                    noted_at=starts + datetime.timedelta(minutes=50),
                    kind=AdverseEvent.Kind.DIZZINESS if step % 2 else AdverseEvent.Kind.NAUSEA,
                    severity=AdverseEvent.Severity.MILD,
                    action_taken="Lay back, sips of water; settled within 15 minutes.",
                    recorded_by=therapist,
                    recorded_at=starts + datetime.timedelta(minutes=51),
                )
                SafetyReview.objects.create(
                    adverse_event=event,
                    note="Reviewed; expected and self-limiting. No change to the order.",
                    reviewed_by=prescriber,
                    reviewed_at=starts + datetime.timedelta(days=1),
                )
            Visit.objects.create(
                client=client,
                kind=Visit.Kind.INTEGRATION,
                starts_at=integration.starts_at,
                ends_at=integration.ends_at,
                modality=visit.modality,
                room=integration.room,
                video_link="https://video.demo.kapflow.test/integration" if virtual else "",
                status=Visit.Status.COMPLETED,
                clinician=therapist,
                created_by=staff["coordinator"],
            )
            integration_record(visit, rng)
        # Each record's action items were reviewed at the next integration, the last ones at
        # the discharge: the first carried out, the rest let go.
        items = list(
            ActionItem.objects.filter(client=client).select_related("record").order_by("created_at", "pk")
        )
        for item in items:
            later = [i.record.recorded_at for i in items if i.record.recorded_at > item.record.recorded_at]
            item.status = ActionItem.Status.DONE if item.pk % 2 else ActionItem.Status.LET_GO
            item.reviewed_at = min(later) if later else finished
        ActionItem.objects.bulk_update(items, ["status", "reviewed_at"])
        # The discharge questionnaires, answered on the portal once the discharge after the final
        # review was signed (kapflow.demo.course writes both, and the forms these answer).
        answered = finished + DISCHARGE_FORMS_ANSWERED_AFTER
        _respond(client, PHQ9, _score(phq0, share, steps, steps, 0, 27), answered, "discharge", None)
        _respond(client, GAD7, _score(gad0, share, steps, steps, 0, 21), answered, "discharge", None)
        if pcl0 is not None:
            _respond(client, PCL5, _score(pcl0, share, steps, steps, 0, 80), answered, "discharge", None)
