"""The demo practice's clinical story: consultations, preparation, course plans and measures
for the demo clients, matched to where each stands on the pathway. Fictional throughout."""

import datetime

from django.utils import timezone

from kapflow.clients.models import CareTeamMember, Client
from kapflow.demo.outside import file_outside_decisions, outside_client
from kapflow.measures.instruments import GAD7, PHQ9
from kapflow.measures.models import Alert, MeasureTask, Response
from kapflow.measures.schedule import visit_due
from kapflow.measures.scoring import score
from kapflow.pathway.models import Consultation, CoursePlan, PreparationSession, Topic

AFTER_CONSULTATION = {"screening", "consent", "preparation", "course", "maintenance", "discharged"}
PREPARED = {"course", "maintenance", "discharged"}
# How long ago the clients in maintenance came: their course (kapflow.demo.outcomes books its
# sessions from about ten weeks after the consultation) ended about six and about eight weeks
# ago, so that one's first maintenance session is booked this week and the other's is due.
MAINTENANCE_BEGAN_DAYS = (155, 170)

# PHQ-9 and GAD-7 totals over a course that is going well, baseline first.
PHQ9_COURSE = [19, 16, 12, 9, 7, 5]
GAD7_COURSE = [15, 13, 11, 8, 6, 5]


def _answers(instrument, total: int, *, item9: int = 0) -> dict[str, int]:
    """Answers adding up to `total`, spread evenly, with item 9 as given."""
    keys = [item.key for item in instrument.items if item.key not in instrument.alert_items]
    top = max(option.value for option in instrument.options)
    answers = dict.fromkeys(keys, 0)
    remaining = total - item9
    for n in range(remaining):
        key = keys[n % len(keys)]
        if answers[key] < top:
            answers[key] += 1
    for key in instrument.alert_items:
        answers[key] = item9
    return answers


def new_response(client, instrument, total, when, context, entered_by=None, item9=0) -> Response:
    """A questionnaire of `total`, not yet saved: its answers spread evenly (_answers) and scored
    as the product scores them. The group practice writes these in bulk; the stories save each."""
    answers = _answers(instrument, total, item9=item9)
    result = score(instrument, answers)
    return Response(
        client=client,
        instrument=instrument.key,
        version=instrument.version,
        answers=answers,
        total=result.total,
        band=result.band.label,
        context=context,
        completed_at=when,
        entered_by=entered_by,
    )


def _respond(client, instrument, total, when, context, entered_by, item9=0):
    response = new_response(client, instrument, total, when, context, entered_by, item9)
    response.save()
    return response


# The measure schedule makes a session's forms when the session is booked
# (kapflow.measures.schedule); the quick practice's sessions were booked at least this long
# before they began, and their forms are dated this long before them.
BOOKED_AHEAD = datetime.timedelta(days=7)


def answered_before_session(visit, response, *, lead_hours: int) -> MeasureTask:
    """The pre-session form the measure schedule asked for `visit` (made as it was booked, due
    `lead_hours` before it), answered by `response`: kapflow.demo.measures and
    kapflow.demo.alumni write each pre-session answer with the form it answered."""
    return MeasureTask.objects.create(
        client_id=visit.client_id,
        instrument=response.instrument,
        reason=Response.Context.PRE_SESSION,
        visit=visit,
        due_at=visit_due(visit.starts_at, lead_hours),
        created_at=visit.starts_at - BOOKED_AHEAD,
        response=response,
    )


def add_pathway_story(rng, staff) -> None:
    """Add the story once (safe to call on a practice that already has it: it adds nothing)."""
    if Consultation.objects.exists():
        return
    now = timezone.now()
    primaries = {
        member.client_id: member.user
        for member in CareTeamMember.objects.filter(
            role=CareTeamMember.Role.PRIMARY_THERAPIST
        ).select_related("user")
    }
    clients = list(Client.objects.filter(pk__in=primaries).order_by("pk")[:20])
    alert_given = False
    maintained = 0
    for n, client in enumerate(clients):
        therapist = primaries[client.pk]
        start = now - datetime.timedelta(days=120 - n * 3)
        if client.stage == "maintenance":
            # A whole course behind them before the maintenance review (kapflow.demo.course).
            start = now - datetime.timedelta(days=MAINTENANCE_BEGAN_DAYS[maintained % 2])
            maintained += 1
        if client.stage in AFTER_CONSULTATION or client.stage == "not_proceeding":
            proceed = client.stage != "not_proceeding"
            Consultation.objects.create(
                client=client,
                clinician=therapist,
                held_on=start.date(),
                why_kap="Years of talk therapy and two antidepressants; knows the pattern, still stuck.",
                history="Recurrent depression since university; a harsh inner critic; sleep often poor.",
                previous_treatment="Sertraline, then escitalopram; CBT for a year; currently weekly therapy.",
                supports="A partner and a close friend; an existing therapist who knows about this.",
                expectations="Not a cure. Hopes for some space from the critic to work with.",
                goals="Less self-criticism; to feel more; to re-engage with work and friends.",
                decision="proceed" if proceed else "not_a_fit",
                decision_reason="" if proceed else "Looking for couples work rather than individual KAP.",
                referral_note="" if proceed else "Referred to a couples therapist.",
            )
            _respond(client, PHQ9, PHQ9_COURSE[0] - n % 4, start, Response.Context.BASELINE, therapist)
            _respond(client, GAD7, GAD7_COURSE[0] - n % 3, start, Response.Context.BASELINE, therapist)
        # A client in preparation has had one session: the visit story books it and its signed
        # note records what it covered (kapflow.demo.notes).
        if client.stage in PREPARED:
            # Before the course's first session (about two months after the consultation).
            prepared = start + datetime.timedelta(days=113) if client.stage == "maintenance" else now
            for offset, topics in ((60, Topic.values[:5]), (53, Topic.values[5:])):
                PreparationSession.objects.create(
                    client=client,
                    clinician=therapist,
                    held_on=(prepared - datetime.timedelta(days=offset)).date(),
                    topics=topics,
                    day_of_instructions_given=offset == 53,
                    intentions="To feel more at home in my own life; to be kinder to myself.",
                )
            CoursePlan.objects.create(
                client=client,
                goals="Ease the depression; loosen the inner critic; re-engage with friends.",
                planned_sessions=6,
                cadence=rng.choice(["weekly", "fortnightly"]),
                modality="virtual" if n % 5 == 0 else "in_person",
                review_after="3, 6",
                created_at=prepared - datetime.timedelta(days=53),  # at the second preparation session
                updated_by=therapist,
            )
            for week, (phq, gad) in enumerate(zip(PHQ9_COURSE[1:], GAD7_COURSE[1:], strict=True), 1):
                when = start + datetime.timedelta(days=60 + week * 10)
                if when < now:
                    _respond(client, PHQ9, phq, when, Response.Context.WEEKLY, None)
                    _respond(client, GAD7, gad, when, Response.Context.WEEKLY, None)
        if client.stage == "course" and not alert_given and therapist.email.startswith("owner@"):
            # One open urgent alert, as a practice would meet it on a Monday morning.
            response = _respond(
                client, PHQ9, 11, now - datetime.timedelta(hours=3), Response.Context.WEEKLY, None, item9=1
            )
            Alert.objects.create(
                client=client, kind=Alert.Kind.SUICIDALITY, response=response, assigned_to=therapist
            )
            alert_given = True


MEDICALLY_CLEARED = {"consent", "preparation", "course", "maintenance"}


def add_medical_story(staff) -> None:
    """Screenings for everyone past the consultation, clearances and orders for those further on,
    and a few screenings still waiting for the prescriber. Added once."""
    from kapflow.medical import screening as findings
    from kapflow.medical.models import Clearance, MedicationOrder, Screening

    if Screening.objects.exists():
        return
    now = timezone.now()
    today = timezone.localdate()
    prescriber = staff["prescriber"]
    clients = Client.objects.filter(stage__in=AFTER_CONSULTATION - {"discharged"}).order_by("pk")
    outside = outside_client()
    for n, client in enumerate(clients):
        answers = {finding.key: False for finding in findings.FINDINGS}
        medications = [{"name": "Sertraline 100 mg", "class": "other"}]
        if n % 4 == 1:
            answers["bipolar_stable"] = True
            medications.append({"name": "Lorazepam 0.5 mg as needed", "class": "benzodiazepine"})
        age = client.age(today)
        flags = findings.flags_for(answers=answers, medications=medications, age=age)
        screening = Screening.objects.create(
            client=client,
            answers=answers,
            medications=medications,
            flags=[flag.as_dict() for flag in flags],
            age=age,
            completed_at=now - datetime.timedelta(days=30),
            entered_by=staff["owner"],
        )
        if client.stage not in MEDICALLY_CLEARED:
            continue  # waiting for the prescriber's review
        if outside is not None and client.pk == outside.pk:
            # Cleared by an outside psychiatrist's letter instead (kapflow.demo.outside).
            file_outside_decisions(client, screening, staff, decided_at=now - datetime.timedelta(days=25))
            continue
        if client.stage == "maintenance":
            _course_clearance(client, screening, prescriber)
        review = [flag.key for flag in flags if flag.level == findings.REVIEW]
        Clearance.objects.create(
            client=client,
            screening=screening,
            prescriber=prescriber,
            decided_at=now - datetime.timedelta(days=25),
            decision=Clearance.Decision.CONDITIONS if review else Clearance.Decision.CLEARED,
            conditions="Hold lorazepam for 24 h before each session; recheck mood at each review."
            if review
            else "",
            acknowledged=review,
            systolic=118 + n % 12,
            diastolic=74 + n % 8,
            heart_rate=68 + n % 10,
            weight_kg=60 + n * 2,
            findings="Well; no cardiovascular findings. BP within range.",
            valid_until=today + datetime.timedelta(days=335),
        )
        MedicationOrder.objects.create(
            client=client,
            prescriber=prescriber,
            created_at=now - datetime.timedelta(days=25),
            drug=MedicationOrder.Drug.KETAMINE,
            route=MedicationOrder.Route.SUBLINGUAL,
            unit=MedicationOrder.Unit.MG,
            dose_min=200,
            dose_max=300,
            boosters_allowed=1,
            booster_max_mg=100,
            sessions_authorised=6,
            starts_on=today - datetime.timedelta(days=25),
            ends_on=today + datetime.timedelta(days=150),
            instructions="Hold the lozenge under the tongue; spit, do not swallow, after 15 minutes.",
            # A teenager's order is signed off for a client under 18 (kapflow.medical.routes).
            minor_signoff=client.is_minor,
        )


def _course_clearance(client, latest, prescriber) -> None:
    """A client in maintenance was screened and cleared before their course, months before the
    screening repeated for maintenance (`latest`): the screening valid through the course and a
    clearance for a year, a week before the first preparation session."""
    from kapflow.medical.models import Clearance, Screening

    first = client.preparation_sessions.order_by("held_on").values_list("held_on", flat=True).first()
    if first is None:
        return
    screened = timezone.make_aware(
        datetime.datetime.combine(first - datetime.timedelta(days=10), datetime.time(10))
    )
    screening = Screening.objects.create(
        client=client,
        answers=latest.answers,
        medications=latest.medications,
        flags=latest.flags,
        age=latest.age,
        completed_at=screened,
        entered_by=latest.entered_by,
    )
    Clearance.objects.create(
        client=client,
        screening=screening,
        prescriber=prescriber,
        decided_at=screened + datetime.timedelta(days=3),
        decision=Clearance.Decision.CLEARED,
        systolic=120,
        diastolic=76,
        heart_rate=70,
        weight_kg=72,
        findings="Well; no cardiovascular findings. BP within range.",
        valid_until=first + datetime.timedelta(days=355),
    )


CONSENTED = {"preparation", "course", "maintenance", "discharged"}


def add_consent_story(staff) -> None:
    """Signed consents for clients past the consent step, a telehealth consent where the course
    is virtual, and one teenager whose guardian has signed but who has not yet given her own
    assent (so her readiness panel shows exactly that). Added once."""
    from kapflow.consent.models import ConsentDocument, Kind, Signature
    from kapflow.consent.selectors import name_on_file

    # Releases are signed with the providers (kapflow.demo.quick): they do not mean this ran.
    if Signature.objects.exclude(kind=Kind.RELEASE).exists():
        return
    documents = {doc.kind: doc for doc in ConsentDocument.objects.published().order_by("kind", "version")}
    if not documents:
        return
    now = timezone.now()

    def sign(client, kind, *, guardian=None, when):
        document = documents[kind]
        name = guardian.name if guardian else name_on_file(client)
        Signature.objects.create(
            document=document,
            kind=kind,
            client=client,
            signer=Signature.Signer.GUARDIAN if guardian else Signature.Signer.CLIENT,
            guardian=guardian,
            signer_name=name,
            typed_name=name,
            decision=Signature.Decision.AGREE,
            signed_at=when,
            ip_address="127.0.0.1",
            text_sha256=document.sha256,
            presented_by=staff["owner"],
        )

    for client in Client.objects.filter(stage__in=CONSENTED | {"consent"}).prefetch_related("guardians"):
        when = now - datetime.timedelta(days=20)
        if client.stage == "maintenance":
            # Signed at the first preparation session, before their course months ago.
            first = client.preparation_sessions.order_by("held_on").values_list("held_on", flat=True).first()
            if first is not None:
                when = timezone.make_aware(datetime.datetime.combine(first, datetime.time(9)))
        guardian = next((g for g in client.guardians.all() if g.has_legal_authority), None)
        if client.is_minor:
            if guardian is None:
                continue
            sign(client, Kind.GUARDIAN, guardian=guardian, when=when)
            if client.stage != "consent":
                sign(client, Kind.ASSENT, when=when)
        elif client.stage in CONSENTED:
            sign(client, Kind.KAP, when=when)
        plan = CoursePlan.objects.current().filter(client=client).first()
        if plan and plan.has_virtual_sessions and Kind.TELEHEALTH in documents:
            sign(client, Kind.TELEHEALTH, guardian=guardian if client.is_minor else None, when=when)


def add_visit_story(staff, schedule) -> None:
    """Two rooms and a realistic fortnight: medication sessions with an integration session
    within the integration window after them for clients in a course, preparation and
    consultations for those earlier on, and a few past visits completed. Each is booked through
    the demo's diary (kapflow.demo.schedule) near the day and hour the story gives it: past
    visits on that day or earlier, coming ones on that day or later. Added once."""
    from kapflow.practice.models import Practice
    from kapflow.visits.models import DEFAULT_MINUTES, Room, Visit

    if Visit.objects.exists():
        return
    garden, studio = (Room.objects.get_or_create(name=name)[0] for name in ("Garden Room", "Studio"))
    primaries = {
        member.client_id: member.user
        for member in CareTeamMember.objects.filter(
            role=CareTeamMember.Role.PRIMARY_THERAPIST
        ).select_related("user")
    }
    window = datetime.timedelta(hours=Practice.load().integration_window_hours)
    # Days from today: a few already past (completed), most in the coming week.
    kinds_by_stage = {
        "consultation": [(Visit.Kind.CONSULTATION, 1)],
        "screening": [(Visit.Kind.MEDICAL_EVALUATION, 2)],
        "consent": [(Visit.Kind.PREPARATION, 3)],
        "preparation": [(Visit.Kind.PREPARATION, -2), (Visit.Kind.MEDICATION, 5)],
        "course": [
            (Visit.Kind.MEDICATION, -3),
            (Visit.Kind.INTEGRATION, -2),
            (Visit.Kind.MEDICATION, 4),
            (Visit.Kind.INTEGRATION, 5),
        ],
        "maintenance": [(Visit.Kind.THERAPY, 2)],
    }
    rooms, slot = [garden, studio], 0
    for client in Client.objects.filter(pk__in=primaries).order_by("pk"):
        session = None  # the medication session an integration follows
        for kind, day in kinds_by_stage.get(client.stage, []):
            slot += 1
            clinician = staff["prescriber"] if kind == Visit.Kind.MEDICAL_EVALUATION else primaries[client.pk]
            follows = session if kind == Visit.Kind.INTEGRATION else None
            if kind == Visit.Kind.INTEGRATION and follows is None:
                continue  # its session could not be booked
            booking = schedule.book(
                client=client,
                clinician=clinician,
                around=schedule.at(schedule.today + datetime.timedelta(days=day), (9 + (slot * 2) % 8) * 60),
                minutes=DEFAULT_MINUTES[kind],
                rooms=[rooms[slot % 2], rooms[(slot + 1) % 2]],
                # An integration session within the integration window after its session.
                earliest=follows.ends_at if follows else None,
                latest=follows.ends_at + window if follows else None,
                direction=0 if follows else 1 if day > 0 else -1,
            )
            if booking is None:
                continue
            visit = Visit.objects.create(
                client=client,
                kind=kind,
                starts_at=booking.starts_at,
                ends_at=booking.ends_at,
                modality=Visit.Modality.IN_PERSON,
                room=booking.room,
                clinician=clinician,
                status=Visit.Status.COMPLETED if booking.ends_at <= schedule.now else Visit.Status.SCHEDULED,
                created_by=staff["coordinator"],
            )
            session = visit if kind == Visit.Kind.MEDICATION else None
