"""Reads for the journal: the prompts that have come due for a client, their entries, what a
therapist may read, and the prompt times the reminders send invitations for. Each answers in a
fixed number of queries."""

import datetime
from dataclasses import dataclass, field

from django.db.models import DateTimeField, Exists, F, OuterRef, QuerySet
from django.db.models.functions import Coalesce

from kapflow.clients.models import CareTeamMember, Client
from kapflow.journal.models import JournalEntry
from kapflow.journal.prompts import PromptTime, prompt_text, prompt_times
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit

THERAPIST_ROLES = (CareTeamMember.Role.PRIMARY_THERAPIST, CareTeamMember.Role.THERAPIST)


def completed_sessions() -> QuerySet[Visit]:
    """Completed medication sessions, each with `ended`: when the client left (the runbook's
    discharge, when recorded), else the session's planned end."""
    return Visit.objects.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED).annotate(
        ended=Coalesce(F("runbook__discharged_at"), F("ends_at"), output_field=DateTimeField())
    )


@dataclass
class Prompt:
    """A prompt that has come due after one medication session."""

    session: Visit
    hours: int
    due_at: datetime.datetime
    text: str
    entries: list[JournalEntry] = field(default_factory=list)  # the entries that answer it

    @property
    def answered(self) -> bool:
        return any(entry.is_saved for entry in self.entries)

    @property
    def draft(self) -> JournalEntry | None:
        """An entry begun for this prompt and never saved: "Write about this" reopens it."""
        return next((entry for entry in self.entries if not entry.is_saved), None)


def _prompts(
    sessions: list[Visit], *, offsets: list[int], now: datetime.datetime, entries: list[JournalEntry]
) -> list[Prompt]:
    """The prompts of `sessions` due by `now`, newest first, with the entries answering each."""
    prompts = []
    for session in sessions:
        for time in prompt_times(visit_id=session.pk, session_ended_at=session.ended, offsets=offsets):
            if time.due_at <= now:
                prompts.append(
                    Prompt(
                        session=session,
                        hours=time.hours,
                        due_at=time.due_at,
                        text=prompt_text(hours=time.hours, offsets=offsets),
                    )
                )
    by_key = {(p.session.pk, p.hours): p for p in prompts}
    for entry in entries:
        prompt = by_key.get((entry.visit_id, entry.prompt_hours))
        if prompt is not None:
            prompt.entries.append(entry)
    return sorted(prompts, key=lambda p: p.due_at, reverse=True)


@dataclass
class Journal:
    """A client's journal as their portal shows it."""

    entries: list[JournalEntry]
    waiting: list[Prompt]  # due, not yet written about, after the latest session
    earlier: list[Prompt]  # every other prompt that has come due, newest first


def journal_for(client: Client, *, practice: Practice, now: datetime.datetime) -> Journal:
    """The client's entries, newest first, and the prompts that have come due for them. Two
    queries. Prompts after the latest completed session wait for the client until answered;
    earlier ones stay reachable, so nothing the client might still want to answer is lost."""
    entries = list(client.journal_entries.all())
    sessions = list(completed_sessions().filter(client=client))
    prompts = _prompts(sessions, offsets=practice.journal_prompt_offsets, now=now, entries=entries)
    latest = max((s.ended for s in sessions), default=None)
    waiting = [p for p in prompts if p.session.ended == latest and not p.answered]
    earlier = [p for p in prompts if all(p is not w for w in waiting)]
    return Journal(entries=entries, waiting=waiting, earlier=earlier)


def prompt_for(
    client: Client, *, visit_id, hours, practice: Practice, now: datetime.datetime
) -> Prompt | None:
    """The client's prompt at `hours` after session `visit_id`, if it is one of the practice's
    offsets and has come due; else None. One query (none when the numbers are not plausible)."""
    try:
        visit_id, hours = int(visit_id), int(hours)
    except (TypeError, ValueError, OverflowError):
        return None
    offsets = practice.journal_prompt_offsets
    if hours not in offsets or not 0 < visit_id < 2**31:
        return None
    session = completed_sessions().filter(client=client, pk=visit_id).first()
    if session is None:
        return None
    prompts = _prompts([session], offsets=offsets, now=now, entries=[])
    return next((p for p in prompts if p.hours == hours), None)


def prompt_times_due(now: datetime.datetime, since: datetime.datetime) -> list[tuple[Client, PromptTime]]:
    """The journal prompt times that fell in (since, now], after completed medication sessions,
    each with its client, soonest first: what the reminders invite clients to write about. Two
    queries whatever the number of sessions (the practice row, then the sessions whose prompts
    could fall in the interval, with their clients)."""
    offsets = Practice.load().journal_prompt_offsets
    if not offsets or now <= since:
        return []
    earliest = since - datetime.timedelta(hours=max(offsets))
    latest = now - datetime.timedelta(hours=min(offsets))
    sessions = completed_sessions().filter(ended__gt=earliest, ended__lte=latest).select_related("client")
    due = []
    for session in sessions:
        for time in prompt_times(visit_id=session.pk, session_ended_at=session.ended, offsets=offsets):
            if since < time.due_at <= now:
                due.append((session.client, time))
    return sorted(due, key=lambda pair: (pair[1].due_at, pair[1].visit_id))


def therapist_clients(user) -> QuerySet[Client]:
    """The clients of whom `user` is a therapist on the care team: the only staff who may read
    a client's shared journal entries (not prescribers, coordinators or admins, and not a
    clinician who sees the client only because the practice opened the caseload). The staff page
    intersects it with the scoped lookup of kapflow.clients.access."""
    from kapflow.clients.selectors import chart_queryset

    if not (user.is_authenticated and user.is_active and user.is_therapist):
        return Client.objects.none()
    on_team = CareTeamMember.objects.filter(client=OuterRef("pk"), user=user, role__in=THERAPIST_ROLES)
    return chart_queryset().filter(Exists(on_team))


def is_journal_therapist(user, client: Client) -> bool:
    """`therapist_clients` for one client whose care team is prefetched (no query)."""
    return bool(
        user.is_authenticated
        and user.is_therapist
        and any(m.user_id == user.pk and m.role in THERAPIST_ROLES for m in client.care_team.all())
    )


def shared_entries(client: Client) -> QuerySet[JournalEntry]:
    """The entries the client has shared, newest first, with the session each answers. One query."""
    return client.journal_entries.shared().select_related("visit").order_by("-written_at", "-pk")


def shared_count(client: Client) -> int:
    return client.journal_entries.shared().count()
