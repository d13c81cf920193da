"""The integration window: for each completed medication session, whether its integration is
done, booked in the window, booked late or missing, and when it could be booked.

`standings` is pure (visits and records in, answers out; the clock is passed in): the client's
integration page uses it through `client_standings`, which reads what it needs in a fixed number
of queries, and the dashboard through `caseload_standings`, which feeds it the plain rows of a
whole caseload's last three weeks (a few dozen: one person's sessions). The dashboard's whole
list ("Show all", a page at a time) asks the database the same question (`overdue_sessions`,
written by the same rules and tested against `standings` on random caseloads), so that each page
reads only the sessions it lists.

The window runs from the end of the medication session: `integration_window_hours` (36–48 h,
seed 002) is when the integration session should be held; the integration counts as done when a
record or a completed integration session falls within `integration_expected_hours`. An
integration session or record belongs to the latest medication session that ended before it, so
one integration never answers for two medication sessions.

Done late: an integration done after the window closed (a record written, or an integration
session held, between the window's end and the expected hours; or a record that names the
session it follows, whenever it is written) is done, no longer overdue, and says how late it
was: "Completed late (3 days)". A record keeps its lateness from the moment it is saved
(`record_lateness`, stored in IntegrationRecord.late_by), so that a later change to the
practice's window does not rewrite it; a held integration session's is worked out from its
start. When several answer for one session, the earliest done counts.
"""

import datetime
import enum
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from kapflow.visits.calendar import in_range
from kapflow.visits.models import DEFAULT_MINUTES, Visit

# Where proposals are looked for: whole hours in the practice's ordinary day, local time.
DAY_STARTS, LAST_START = 9, 16
PROPOSALS = 3
INTEGRATION_MINUTES = DEFAULT_MINUTES[Visit.Kind.INTEGRATION]
# How far back the dashboard looks for medication sessions still owed an integration.
LOOKBACK = datetime.timedelta(days=21)


class Standing(enum.Enum):
    DONE = "done"
    BOOKED = "booked"
    LATE = "late"
    MISSING = "missing"

    @property
    def label(self) -> str:
        return {
            "done": "Done",
            "booked": "Booked in the window",
            "late": "Booked late",
            "missing": "Not booked",
        }[self.value]


@dataclass
class SessionIntegration:
    """One completed medication session and how its integration stands."""

    session: Visit
    standing: Standing
    window_ends_at: datetime.datetime
    expected_by: datetime.datetime
    now: datetime.datetime
    booked: Visit | None = None
    done_by: object = None  # the record or the completed integration visit
    done_at: datetime.datetime | None = None
    late_by: datetime.timedelta | None = None  # done after the window closed, by this much
    proposals: list[datetime.datetime] = field(default_factory=list)

    @property
    def window_open(self) -> bool:
        return self.now < self.window_ends_at

    @property
    def overdue(self) -> bool:
        """Missing once the window has closed, or booked after it."""
        return self.standing is Standing.LATE or (self.standing is Standing.MISSING and not self.window_open)

    @property
    def needs_attention(self) -> bool:
        return self.standing in (Standing.LATE, Standing.MISSING)

    @property
    def label(self) -> str:
        """The standing in words: "Completed late (3 days)" for an integration done late."""
        if self.standing is Standing.DONE and self.late_by:
            from kapflow.integration.models import late_words

            return f"Completed late ({late_words(self.late_by)})"
        return self.standing.label


def lateness(*, window_ends_at: datetime.datetime, done_at: datetime.datetime) -> datetime.timedelta | None:
    """How long after the window closed an integration was done; None when it was in time."""
    late = done_at - window_ends_at
    return late if late > datetime.timedelta(0) else None


def record_done_at(record) -> datetime.datetime:
    """When a record's integration was done: the start of the integration session it was
    written in, else the moment it was written."""
    visit = getattr(record, "visit", None) if getattr(record, "visit_id", None) else None
    return visit.starts_at if visit is not None else record.recorded_at


def _mark_done(answer: "SessionIntegration", by, at: datetime.datetime, late_by) -> None:
    """`by` answers for the session: it counts when it is the first to (earliest done)."""
    if answer.standing is Standing.DONE and answer.done_at is not None and answer.done_at <= at:
        return
    answer.standing, answer.done_by, answer.done_at, answer.late_by = Standing.DONE, by, at, late_by


def _owner(moment: datetime.datetime, sessions: list[Visit]) -> Visit | None:
    """The latest medication session that ended at or before `moment`."""
    owner = None
    for session in sessions:
        if session.ends_at <= moment:
            owner = session
    return owner


def standings(
    *,
    medication: list[Visit],
    integration: list[Visit],
    records: list,
    window_hours: int,
    expected_hours: int,
    now: datetime.datetime,
) -> list[SessionIntegration]:
    """How each completed medication session's integration stands at `now`, newest first.

    `medication`: the client's completed medication sessions; `integration`: their integration
    visits that still hold their time or were held (not cancelled, not no-shows); `records`:
    their integration records. Pure: reads nothing from the database."""
    sessions = sorted(medication, key=lambda v: v.ends_at)
    answers = {
        s.pk: SessionIntegration(
            session=s,
            standing=Standing.MISSING,
            window_ends_at=s.ends_at + datetime.timedelta(hours=window_hours),
            expected_by=s.ends_at + datetime.timedelta(hours=expected_hours),
            now=now,
        )
        for s in sessions
    }
    for record in records:
        owner = answers.get(record.follows_id) if record.follows_id else None
        if owner is None and not record.follows_id:
            found = _owner(record.recorded_at, sessions)
            owner = answers[found.pk] if found else None
            if owner and record.recorded_at > owner.expected_by:
                owner = None
        if owner is not None:
            _mark_done(owner, record, record.recorded_at, getattr(record, "late_by", None))
    for visit in sorted(integration, key=lambda v: v.starts_at):
        found = _owner(visit.starts_at, sessions)
        if found is None:
            continue
        answer = answers[found.pk]
        if visit.status == Visit.Status.COMPLETED:
            if visit.starts_at <= answer.expected_by:
                late_by = lateness(window_ends_at=answer.window_ends_at, done_at=visit.starts_at)
                _mark_done(answer, visit, visit.starts_at, late_by)
            continue
        if answer.standing is Standing.DONE:
            continue
        if visit.starts_at <= answer.window_ends_at:
            answer.standing, answer.booked = Standing.BOOKED, visit
        elif answer.standing is Standing.MISSING:
            answer.standing, answer.booked = Standing.LATE, visit
    return sorted(answers.values(), key=lambda a: a.session.ends_at, reverse=True)


def free_hours(
    *, busy: list[Visit], start: datetime.datetime, end: datetime.datetime, count: int = PROPOSALS
) -> list[datetime.datetime]:
    """The first `count` whole hours from `start` up to `end` (local time, DAY_STARTS to
    LAST_START) where an hour-long visit clashes with none of `busy`. Pure. The clash rule is
    the visits app's (kapflow.visits.services.clashes): any shared minute, touching ends do not
    clash; `busy` holds the visits of the clinician, of the client and of the room."""
    local = timezone.localtime(start)
    moment = local.replace(minute=0, second=0, microsecond=0)
    if moment < local:
        moment += datetime.timedelta(hours=1)
    length = datetime.timedelta(minutes=INTEGRATION_MINUTES)
    found = []
    while moment <= end and len(found) < count:
        if DAY_STARTS <= moment.hour <= LAST_START and not any(
            v.starts_at < moment + length and v.ends_at > moment for v in busy
        ):
            found.append(moment)
        moment = timezone.localtime(moment + datetime.timedelta(hours=1))
    return found


def _integration_visits():
    return Visit.objects.filter(kind=Visit.Kind.INTEGRATION).exclude(
        status__in=[Visit.Status.CANCELLED, Visit.Status.NO_SHOW]
    )


def client_standings(
    client, *, practice, now: datetime.datetime | None = None, records: list | None = None
) -> list[SessionIntegration]:
    """Every completed medication session of the client with its integration standing, and up
    to three proposed hours for each still open in its window and not yet booked: hours free
    for the session's clinician, the client and (in person) the session's room, which is how
    the runbook books it (kapflow.dosing.services.discharge.integration_book). Three queries, and one more
    per session needing proposals (at most a couple: the window is two days). `records`: the
    client's integration records when the caller has read them already (each with its pk,
    follows_id, recorded_at and late_by), one query fewer."""
    from kapflow.integration.models import IntegrationRecord

    now = now or timezone.now()
    medication = list(
        client.visits.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED).select_related(
            "clinician"
        )
    )
    integration = list(_integration_visits().filter(client=client).select_related("clinician"))
    if records is None:
        records = list(
            IntegrationRecord.objects.filter(client=client).only("pk", "follows_id", "recorded_at", "late_by")
        )
    answers = standings(
        medication=medication,
        integration=integration,
        records=records,
        window_hours=practice.integration_window_hours,
        expected_hours=practice.integration_expected_hours,
        now=now,
    )
    for answer in answers:
        if answer.standing is Standing.MISSING and answer.window_open:
            session = answer.session
            start = max(now, session.ends_at)
            holds = Q(client=client) | Q(clinician=session.clinician) | Q(other_clinicians=session.clinician)
            if session.room_id:
                holds |= Q(room=session.room_id)
            busy = list(
                in_range(Visit.objects.live(), start, answer.window_ends_at + datetime.timedelta(hours=1))
                .filter(holds)
                .distinct()
            )
            answer.proposals = free_hours(busy=busy, start=start, end=answer.window_ends_at)
    return answers


def record_lateness(record, *, practice) -> datetime.timedelta | None:
    """How late the integration that `record` (not yet saved) answers for is done, for
    IntegrationRecord.late_by: the medication session it follows, or, when it names none, the
    one `standings` would give it (the latest that ended before it, within the expected hours).
    None when done in time, when that session's integration was already done before it (an
    earlier record, or an integration session held), or when it answers for no session. The
    moment it is done is record_done_at's. Three queries."""
    from kapflow.integration.models import IntegrationRecord

    medication = list(
        Visit.objects.filter(client=record.client, kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED)
    )
    answers = standings(
        medication=medication,
        integration=list(_integration_visits().filter(client=record.client)),
        records=list(
            IntegrationRecord.objects.filter(client=record.client).only(
                "pk", "follows_id", "recorded_at", "late_by"
            )
        ),
        window_hours=practice.integration_window_hours,
        expected_hours=practice.integration_expected_hours,
        now=record.recorded_at,
    )
    by_session = {answer.session.pk: answer for answer in answers}
    if record.follows_id:
        answer = by_session.get(record.follows_id)
    else:
        found = _owner(record.recorded_at, sorted(medication, key=lambda v: v.ends_at))
        answer = by_session.get(found.pk) if found else None
        if answer is not None and record.recorded_at > answer.expected_by:
            answer = None
    if answer is None:
        return None
    done_at = record_done_at(record)
    if answer.standing is Standing.DONE and answer.done_at is not None and answer.done_at <= done_at:
        return None
    return lateness(window_ends_at=answer.window_ends_at, done_at=done_at)


def _owned_by_outer_session(moment: str, since: datetime.datetime) -> Q:
    """For a row inside a subquery on a medication session (the outer query): its `moment` falls
    at or after the session's end, and no other completed medication session of the client
    since `since` ended between the two, so the session is the latest that ended before it
    (_owner)."""
    session = {name: OuterRef(OuterRef(name)) for name in ("ends_at", "starts_at", "pk")}
    between = Visit.objects.filter(
        client=OuterRef(OuterRef("client")),
        kind=Visit.Kind.MEDICATION,
        status=Visit.Status.COMPLETED,
        starts_at__gte=since,
        ends_at__lte=OuterRef(moment),
    ).filter(
        # Later in _owner's order: by end, then (two ending together) as the visits are listed.
        Q(ends_at__gt=session["ends_at"])
        | Q(ends_at=session["ends_at"], starts_at__gt=session["starts_at"])
        | Q(ends_at=session["ends_at"], starts_at=session["starts_at"], pk__gt=session["pk"])
    )
    return Q(**{f"{moment}__gte": OuterRef("ends_at")}) & ~Exists(between)


def _after_end(hours: int) -> ExpressionWrapper:
    return ExpressionWrapper(
        OuterRef("ends_at") + datetime.timedelta(hours=hours), output_field=DateTimeField()
    )


# How far an integration session owned by a medication session got it (`overdue_sessions`):
# the best one counts, as in `standings`, where done outranks booked and booked outranks late.
NOTHING, LATE_RANK, BOOKED_RANK, DONE_RANK = 0, 1, 2, 3


def overdue_sessions(clients, *, practice, now: datetime.datetime):
    """The completed medication sessions of `clients` (a queryset) since LOOKBACK whose
    integration is late or missing at `now` (SessionIntegration.overdue), oldest first, each
    annotated `best`: LATE_RANK when it is booked after the window, else missing with its window
    closed. One query, asked of the database, by the rules of `standings` (which the client's own
    page uses): done by a record that follows the session, or by an unattached record or a completed
    integration session it owns within `integration_expected_hours`; else booked by an
    integration session it owns within `integration_window_hours`; else late when one it owns
    is after that. Two subqueries per session whatever the caseload: its records, and its best
    integration session."""
    from kapflow.integration.models import IntegrationRecord

    since = now - LOOKBACK
    expected = _after_end(practice.integration_expected_hours)
    window = _after_end(practice.integration_window_hours)
    recorded = IntegrationRecord.objects.filter(client=OuterRef("client"), recorded_at__gte=since).filter(
        Q(follows=OuterRef("pk"))
        | (Q(follows__isnull=True, recorded_at__lte=expected) & _owned_by_outer_session("recorded_at", since))
    )
    held = ~Q(status=Visit.Status.COMPLETED)
    best_integration = (
        _integration_visits()
        .filter(client=OuterRef("client"), starts_at__gte=since)
        .filter(_owned_by_outer_session("starts_at", since))
        .annotate(
            rank=Case(
                When(Q(status=Visit.Status.COMPLETED, starts_at__lte=expected), then=Value(DONE_RANK)),
                When(held & Q(starts_at__lte=window), then=Value(BOOKED_RANK)),
                When(held, then=Value(LATE_RANK)),
                default=Value(NOTHING),
            )
        )
        .order_by("-rank")
        .values("rank")[:1]
    )
    window_closed = Q(ends_at__lte=now - datetime.timedelta(hours=practice.integration_window_hours))
    return (
        Visit.objects.filter(
            client__in=clients,
            kind=Visit.Kind.MEDICATION,
            status=Visit.Status.COMPLETED,
            starts_at__gte=since,
        )
        .exclude(Exists(recorded))
        .annotate(best=Coalesce(Subquery(best_integration), Value(NOTHING)))
        .filter(Q(best=LATE_RANK) | Q(best=NOTHING) & window_closed)
        .order_by("ends_at", "pk")
    )


class _VisitRow(NamedTuple):
    """What `standings` reads of a visit, for `caseload_standings`."""

    pk: int
    status: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime


class _RecordRow(NamedTuple):
    """What `standings` reads of an integration record, for `caseload_standings`."""

    follows_id: int | None
    recorded_at: datetime.datetime


def caseload_standings(
    clients, *, practice, now: datetime.datetime | None = None, limit: int | None = None
) -> list[SessionIntegration]:
    """The integrations late or missing across `clients` (a queryset), for medication sessions
    of the last three weeks, oldest first (the first `limit` of them, when given): the sessions
    `overdue_sessions` finds, worked out by `standings` itself over plain rows.

    The dashboard asks for these on every visit, and Django assembling and compiling
    overdue_sessions' nested subqueries costs far more than running them (about 10 ms of Python
    for a 1-2 ms query). The rows of three weeks are few whatever the caseload's size (one
    person's sessions, their integration sessions and records: a few dozen), so flat queries
    read them: the medication and integration sessions, then (when there are sessions) the
    records of their clients, then (when some are overdue) the sessions listed with their
    clients. Three queries at most."""
    from kapflow.integration.models import IntegrationRecord

    now = now or timezone.now()
    since = now - LOOKBACK
    medication, integration, records = defaultdict(list), defaultdict(list), defaultdict(list)
    visits = (
        Visit.objects.filter(client__in=clients, starts_at__gte=since)
        .filter(
            Q(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED)
            | Q(kind=Visit.Kind.INTEGRATION) & ~Q(status__in=[Visit.Status.CANCELLED, Visit.Status.NO_SHOW])
        )
        .order_by()
        .values_list("client_id", "kind", "pk", "status", "starts_at", "ends_at")
    )
    for client_id, kind, *row in visits:
        (medication if kind == Visit.Kind.MEDICATION else integration)[client_id].append(_VisitRow(*row))
    if not medication:
        return []
    # Only the clients with a session to answer for (all among `clients`: read just above).
    for client_id, *row in (
        IntegrationRecord.objects.filter(client__in=list(medication), recorded_at__gte=since)
        .order_by()
        .values_list("client_id", "follows_id", "recorded_at")
    ):
        records[client_id].append(_RecordRow(*row))
    overdue = []
    for client_id, sessions in medication.items():
        answers = standings(
            # Two sessions ending together: in overdue_sessions' order (start, then pk).
            medication=sorted(sessions, key=lambda s: (s.ends_at, s.starts_at, s.pk)),
            integration=integration[client_id],
            records=records[client_id],
            window_hours=practice.integration_window_hours,
            expected_hours=practice.integration_expected_hours,
            now=now,
        )
        overdue.extend(answer for answer in answers if answer.overdue)
    overdue.sort(key=lambda a: (a.session.ends_at, a.session.pk))
    if limit is not None:
        overdue = overdue[:limit]
    if not overdue:
        return []
    loaded = Visit.objects.select_related("client").in_bulk([a.session.pk for a in overdue])
    return [
        SessionIntegration(
            session=loaded[answer.session.pk],
            standing=answer.standing,
            window_ends_at=answer.window_ends_at,
            expected_by=answer.expected_by,
            now=now,
        )
        for answer in overdue
        if answer.session.pk in loaded
    ]
