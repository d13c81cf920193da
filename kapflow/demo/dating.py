"""When the quick practice's charts were made. Its stories write their rows as the load runs and
date what happened in them; `date_the_charts`, run once they are told, dates back what was dated
too late (docs/demo.md, "Charts dated before what they hold")."""

import datetime
from collections.abc import Iterable

from django.db.models import F, Min
from django.utils import timezone

from kapflow.clients.models import CareTeamMember, Client
from kapflow.consent.models import Signature
from kapflow.measures.models import MeasureTask, Response
from kapflow.pathway.models import Consultation
from kapflow.visits.models import Visit


def earliest(*rows: Iterable[tuple[int, datetime.datetime]]) -> dict[int, datetime.datetime]:
    """Client id -> the earliest moment of that client among (client id, moment) rows."""
    firsts: dict[int, datetime.datetime] = {}
    for pairs in rows:
        for client_id, moment in pairs:
            firsts[client_id] = min(moment, firsts.get(client_id, moment))
    return firsts


def first_records() -> dict[int, datetime.datetime]:
    """Client id -> the first moment anything happened with the client at the practice: a
    visit, a questionnaire of their own (not one a referrer's system sent), a consultation, a
    signature."""
    return earliest(
        Visit.objects.values_list("client").annotate(first=Min("starts_at")),
        Response.objects.filter(import_source__isnull=True)
        .values_list("client")
        .annotate(first=Min("completed_at")),
        Signature.objects.values_list("client").annotate(first=Min("signed_at")),
        [
            (client_id, timezone.make_aware(datetime.datetime.combine(held_on, datetime.time())))
            for client_id, held_on in Consultation.objects.values_list("client").annotate(
                first=Min("held_on")
            )
        ],
    )


def date_the_charts(rng) -> None:
    """The stories write their rows as the load runs and date what happened in them, so a
    client's chart, care team and bookings would be dated after what they hold. Each client is
    registered days before their first record (when the care team is formed), each visit
    booked days before it starts, not after, and the forms answered before a session made when
    it was booked. Only what is dated too late moves (and a form, to its session's booking):
    loading again moves nothing."""
    firsts = first_records()
    clients = [c for c in Client.objects.filter(pk__in=firsts) if c.created_at > firsts[c.pk]]
    for client in clients:
        ahead = datetime.timedelta(days=rng.randint(3, 14), hours=rng.randint(0, 6))
        client.created_at = firsts[client.pk] - ahead
    Client.objects.bulk_update(clients, ["created_at"])
    joined = dict(Client.objects.values_list("pk", "created_at"))
    members = [
        m for m in CareTeamMember.objects.filter(client__in=firsts) if m.added_at > firsts[m.client_id]
    ]
    for member in members:
        member.added_at = joined[member.client_id]
    CareTeamMember.objects.bulk_update(members, ["added_at"])
    visits = list(
        Visit.objects.filter(created_at__gt=F("starts_at")).only("client_id", "starts_at", "created_at")
    )
    for visit in visits:
        ahead = datetime.timedelta(days=rng.randint(2, 21))
        visit.created_at = max(joined[visit.client_id], visit.starts_at - ahead)
    Visit.objects.bulk_update(visits, ["created_at"], batch_size=500)
    # The schedule makes a session's forms when the session is booked (kapflow.measures.schedule):
    # the forms answered before the stories' sessions are dated at their booking.
    tasks = list(
        MeasureTask.objects.filter(visit__isnull=False, response__isnull=False)
        .exclude(created_at=F("visit__created_at"))
        .annotate(booked_at=F("visit__created_at"))
        .only("created_at")
    )
    for task in tasks:
        task.created_at = task.booked_at
    MeasureTask.objects.bulk_update(tasks, ["created_at"], batch_size=500)
