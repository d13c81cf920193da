"""The demo practice's clinical story: consultations, preparation, course plans and measures
for the demo clients, matched to where each stands on the pathway. Fictional throughout."""

import datetime

from django.utils import timezone

from kapflow.clients.models import CareTeamMember, Client
from kapflow.measures.instruments import GAD7, PHQ9
from kapflow.measures.models import Alert, Response
from kapflow.measures.scoring import score
from kapflow.pathway.models import Consultation, CoursePlan, PreparationSession, Topic

AFTER_CONSULTATION = {"screening", "consent", "preparation", "course", "maintenance", "discharged"}
PREPARED = {"course", "maintenance", "discharged"}

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


def _respond(client, instrument, total, when, context, entered_by, item9=0):
    answers = _answers(instrument, total, item9=item9)
    result = score(instrument, answers)
    return Response.objects.create(
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
    for n, client in enumerate(clients):
        therapist = primaries[client.pk]
        start = now - datetime.timedelta(days=120 - n * 3)
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
        if client.stage == "preparation":
            PreparationSession.objects.create(
                client=client,
                clinician=therapist,
                held_on=(now - datetime.timedelta(days=3)).date(),
                topics=Topic.values[:6],
                intentions="To meet the critical voice with some curiosity.",
            )
        if client.stage in PREPARED:
            for offset, topics in ((60, Topic.values[:5]), (53, Topic.values[5:])):
                PreparationSession.objects.create(
                    client=client,
                    clinician=therapist,
                    held_on=(now - datetime.timedelta(days=offset)).date(),
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
