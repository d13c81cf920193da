"""What has come due: one function per kind of reminder, each `source(now, since, practice)
-> list[Due]`, reading the database in a constant number of queries whatever the number of
clients. The sweep (kapflow.reminders.services.sweep) turns each Due into a Reminder row.

Who receives what (docs/access.md): a client's own portal account gets every
kind about them; a guardian's portal account gets the schedule (appointments, day-before
instructions) of a minor only, never the journal or measures; the prescribers on the care team
get clearance warnings, by staff email, and never the client; a clearance filed from an outside
prescriber's letter warns the therapists on the care team as well, since they ask the outside
prescriber for the next letter. Someone without an active account
or without an email address gets nothing."""

import datetime
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.clients.models import ADULT_AGE, LEFT_CARE, CareTeamMember, Client, Guardian, age_on
from kapflow.measures.models import Alert, MeasureTask
from kapflow.medical.models import Clearance
from kapflow.practice.models import Practice
from kapflow.reminders.models import Reminder
from kapflow.visits.models import Visit


@dataclass(frozen=True)
class Due:
    key: str
    kind: str
    recipient: User
    client: Client | None
    due_at: datetime.datetime


def _reachable(user: User | None) -> bool:
    return user is not None and user.is_active and bool(user.email)


def _guardian_prefetch() -> Prefetch:
    return Prefetch(
        "client__guardians",
        queryset=Guardian.objects.filter(portal_user__isnull=False).select_related("portal_user"),
        to_attr="portal_guardians",
    )


def _schedule_recipients(client: Client, today: datetime.date) -> list[User]:
    """The client's portal account and, for a minor, each guardian's (the schedule is theirs to
    see too). Reads `client.portal_guardians` (prefetched)."""
    people = [client.portal_user] if _reachable(client.portal_user) else []
    if age_on(client.date_of_birth, today) < ADULT_AGE:
        for guardian in client.portal_guardians:
            if _reachable(guardian.portal_user) and guardian.portal_user not in people:
                people.append(guardian.portal_user)
    return people


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _stamp(moment: datetime.datetime) -> str:
    """A moment as it appears in a key: a rescheduled visit is a new reminder."""
    return moment.astimezone(datetime.UTC).strftime("%Y%m%d%H%M")


def appointment_key(visit: Visit) -> str:
    """The key of a visit's appointment reminder (kapflow.demo.group writes the same ones)."""
    return f"appointment:{visit.pk}:{_stamp(visit.starts_at)}"


def dayof_key(visit: Visit) -> str:
    """The key of a medication session's day-before instructions."""
    return f"dayof:{visit.pk}:{_stamp(visit.starts_at)}"


def appointments(now: datetime.datetime, since: datetime.datetime, practice: Practice) -> list[Due]:
    """Visits still scheduled that start within the practice's reminder time (default 24 h).
    Cancelled visits, no-shows and visits already under way get none. Two queries."""
    ahead = datetime.timedelta(hours=practice.appointment_reminder_hours)
    visits = (
        Visit.objects.filter(status=Visit.Status.SCHEDULED, starts_at__gt=now, starts_at__lte=now + ahead)
        .select_related("client__portal_user")
        .prefetch_related(_guardian_prefetch())
    )
    today = timezone.localdate(now)
    return [
        Due(
            appointment_key(visit),
            Reminder.Kind.APPOINTMENT,
            person,
            visit.client,
            visit.starts_at - ahead,
        )
        for visit in visits
        for person in _schedule_recipients(visit.client, today)
    ]


def day_before(now: datetime.datetime, since: datetime.datetime, practice: Practice) -> list[Due]:
    """Medication sessions starting tomorrow (local date): the instructions for the day go out
    once, from the practice's dayof_reminder_hour (local time) today. Two queries (none before that hour)."""
    local = timezone.localtime(now)
    opens = local.replace(hour=practice.dayof_reminder_hour, minute=0, second=0, microsecond=0)
    if local < opens:
        return []
    tomorrow = local.date() + datetime.timedelta(days=1)
    start, end = _day_start(tomorrow), _day_start(tomorrow + datetime.timedelta(days=1))
    visits = (
        Visit.objects.filter(
            kind=Visit.Kind.MEDICATION, status=Visit.Status.SCHEDULED, starts_at__gte=start, starts_at__lt=end
        )
        .select_related("client__portal_user")
        .prefetch_related(_guardian_prefetch())
    )
    return [
        Due(
            dayof_key(visit),
            Reminder.Kind.DAYOF,
            person,
            visit.client,
            opens,
        )
        for visit in visits
        for person in _schedule_recipients(visit.client, local.date())
    ]


def journal_prompts(now: datetime.datetime, since: datetime.datetime, practice: Practice) -> list[Due]:
    """The journal prompts that have fallen within the integration window (the practice's latest
    prompt offset) and not been sent yet (kapflow.journal.selectors), to the client alone. The
    journal's queries plus one for the clients' portal accounts.

    Not only those since the last sweep: prompts count from the client's discharge, but a session
    brings prompts only once it is completed, which is when its record is signed, often hours
    later. A prompt whose time passed before that would otherwise never be sent. The reminders'
    unique keys keep one that was sent from being sent again."""
    from kapflow.journal.selectors import prompt_times_due

    offsets = practice.journal_prompt_offsets
    if offsets:
        since = min(since, now - datetime.timedelta(hours=max(offsets)))
    due = prompt_times_due(now, since)
    users = User.objects.in_bulk({client.portal_user_id for client, _ in due if client.portal_user_id})
    reminders = []
    for client, time in due:
        person = users.get(client.portal_user_id)
        if _reachable(person):
            reminders.append(Due(time.key, Reminder.Kind.JOURNAL, person, client, time.due_at))
    return reminders


def measures(now: datetime.datetime, since: datetime.datetime, practice: Practice) -> list[Due]:
    """Open measure tasks (no response, not withdrawn) whose due time has come, to the client
    alone. One query."""
    tasks = MeasureTask.objects.filter(
        response__isnull=True, withdrawn_at__isnull=True, due_at__lte=now, client__portal_user__isnull=False
    ).select_related("client__portal_user")
    return [
        Due(f"measure:{task.pk}", Reminder.Kind.MEASURE, task.client.portal_user, task.client, task.due_at)
        for task in tasks
        if _reachable(task.client.portal_user)
    ]


def _current_clearances(today: datetime.date):
    """Clearances in force for clients still in care: granted, not revoked, not superseded by a
    later grant, not past."""
    later_grant = Clearance.objects.filter(
        client=OuterRef("client"), decision__in=Clearance.GRANTING, decided_at__gt=OuterRef("decided_at")
    )
    return (
        Clearance.objects.filter(
            decision__in=Clearance.GRANTING, revoked_at__isnull=True, valid_until__gte=today
        )
        .filter(~Q(Exists(later_grant)))
        # A client who has left care needs no renewal.
        .exclude(client__stage__in=LEFT_CARE)
    )


def clearances(now: datetime.datetime, since: datetime.datetime, practice: Practice) -> list[Due]:
    """Current clearances (granted, not revoked, not superseded by a later grant) whose last
    valid day falls within the practice's warning time (default 30 days), to each prescriber on
    the client's care team, and for a clearance transcribed from an outside prescriber's letter
    (docs/outside-prescriber.md) to each therapist on it too. Two queries."""
    today = timezone.localdate(now)
    days = practice.clearance_warning_days
    found = (
        _current_clearances(today)
        .filter(valid_until__lte=today + datetime.timedelta(days=days))
        .select_related("client")
        .prefetch_related(
            Prefetch(
                "client__care_team",
                queryset=CareTeamMember.objects.exclude(role=CareTeamMember.Role.OTHER)
                .select_related("user")
                .order_by("pk"),
                to_attr="clinicians",
            )
        )
    )
    return [
        Due(
            f"clearance:{clearance.pk}:{days}",
            Reminder.Kind.CLEARANCE,
            user,
            clearance.client,
            _day_start(clearance.valid_until - datetime.timedelta(days=days)),
        )
        for clearance in found
        for user in _warned_of(clearance)
    ]


def _warned_of(clearance: Clearance) -> list[User]:
    """Who is warned of this clearance's end: the prescribers on the care team; for an outside
    prescriber's letter, the therapists too. Each once, and only those who can be reached."""
    roles = {CareTeamMember.Role.PRESCRIBER}
    if clearance.is_outside:
        roles |= {CareTeamMember.Role.PRIMARY_THERAPIST, CareTeamMember.Role.THERAPIST}
    users = {m.user.pk: m.user for m in clearance.client.clinicians if m.role in roles and _reachable(m.user)}
    return list(users.values())


def maintenance(now: datetime.datetime, since: datetime.datetime, practice: Practice) -> list[Due]:
    """Maintenance sessions coming due with none booked (kapflow.course.maintenance), to the
    client and, for a minor, each guardian: once for each interval (the key names the plan and
    the session the interval counts from). Two queries."""
    from kapflow.course.maintenance import DUE_AHEAD_DAYS, due

    found = due(now=now)
    clients = (
        Client.objects.filter(pk__in=[item.client.pk for item in found])
        .select_related("portal_user")
        .prefetch_related(
            Prefetch(
                "guardians",
                queryset=Guardian.objects.filter(portal_user__isnull=False).select_related("portal_user"),
                to_attr="portal_guardians",
            )
        )
        .in_bulk()
        if found
        else {}
    )
    today = timezone.localdate(now)
    return [
        Due(
            f"maintenance:{item.plan.pk}:{item.after_visit_id or 0}",
            Reminder.Kind.MAINTENANCE,
            person,
            clients[item.client.pk],
            max(item.due_at - datetime.timedelta(days=DUE_AHEAD_DAYS), item.since),
        )
        for item in found
        for person in _schedule_recipients(clients[item.client.pk], today)
    ]


def controlled(now: datetime.datetime, since: datetime.datetime, practice: Practice) -> list[Due]:
    """The controlled-substance record's dates (kapflow.controlled.inventory.reminders_due): the
    biennial inventory coming due and once more when overdue, and a loss report's notice or
    Form 106 due with its step not recorded; to the DEA registrant and every practice admin,
    naming no client. Four queries."""
    from kapflow.controlled.inventory import reminders_due

    return [
        Due(key, Reminder.Kind.CONTROLLED, person, None, due_at)
        for key, person, due_at in reminders_due(now, practice)
    ]


def rems_forms(now: datetime.datetime, since: datetime.datetime, practice: Practice) -> list[Due]:
    """Spravato REMS monitoring forms not yet recorded as submitted (docs/spravato-rems.md): on
    the morning of the day the form is due (the session's day plus the practice's days) and once
    more the morning after, when it is overdue; to the prescriber who signed the session's record
    and to the DEA registrant (the setting's). Naming the client for the audit trail, never in
    the email. Two queries (the reports, the registrant)."""
    from kapflow.dosing.models import RemsReport

    today = timezone.localdate(now)
    days = datetime.timedelta(days=practice.rems_form_days)
    # Sessions whose due day has begun: starts_at before the start of (today - days + 1 day).
    latest = _day_start(today - days + datetime.timedelta(days=1))
    found = RemsReport.objects.filter(
        submitted_on__isnull=True, runbook__signed_at__isnull=False, runbook__visit__starts_at__lt=latest
    ).select_related("runbook__visit__client", "runbook__signed_by")
    registrant = practice.dea_registrant
    due = []
    for report in found:
        due_on = timezone.localdate(report.runbook.visit.starts_at) + days
        signer = report.runbook.signed_by
        people = [signer] if signer is not None and signer.is_prescriber else []
        if registrant is not None and registrant not in people:
            people.append(registrant)
        stages = [("due", due_on)]
        if today > due_on:
            stages.append(("overdue", due_on + datetime.timedelta(days=1)))
        for stage, day in stages:
            for person in people:
                if _reachable(person):
                    due.append(
                        Due(
                            f"rems:{report.pk}:{stage}",
                            Reminder.Kind.CONTROLLED,
                            person,
                            report.runbook.visit.client,
                            _day_start(day),
                        )
                    )
    return due


def estimates_due(now: datetime.datetime, since: datetime.datetime, practice: Practice) -> list[Due]:
    """Good Faith Estimates due and not given (kapflow.billing.estimates.estimates_due): to every
    active coordinator and practice admin, by staff email, naming the client for the audit trail
    and never in the email. Once for each plan version and the day it became due."""
    from kapflow.billing.estimates import due_reminders

    return [
        Due(key, Reminder.Kind.ESTIMATE_DUE, person, client, due_at)
        for key, person, client, due_at in due_reminders(now)
    ]


SOURCES = [
    appointments,
    day_before,
    journal_prompts,
    measures,
    clearances,
    maintenance,
    controlled,
    rems_forms,
    estimates_due,
]


def _key_parts(reminder: Reminder) -> tuple[int | None, str]:
    """The object id and the stamp a reminder's key names ("appointment:<visit>:<start>")."""
    _, object_id, stamp = (reminder.key.split(":") + ["", ""])[:3]
    return (int(object_id) if object_id.isdigit() else None), stamp


def still_due(reminders: list[Reminder], now: datetime.datetime) -> set[int]:
    """Of these reminders, the ones whose reason still holds at the moment of sending (a retry,
    or the admin's "Send again", can come hours or days after the sweep made them): the visit
    is still scheduled at the time the key names and has not started, the questionnaire is
    still open, the clearance is still current and not past, the urgent alert still open.
    Journal prompts stay due: the session they follow happened. One query per kind present."""
    by_kind: dict[str, list[Reminder]] = {}
    for reminder in reminders:
        by_kind.setdefault(reminder.kind, []).append(reminder)
    keep = {r.pk for r in by_kind.get(Reminder.Kind.JOURNAL, [])}

    def ids(*kinds: str) -> set[int | None]:
        return {_key_parts(r)[0] for kind in kinds for r in by_kind.get(kind, [])} - {None}

    def kept(kinds: tuple[str, ...], holds) -> set[int]:
        return {r.pk for kind in kinds for r in by_kind.get(kind, []) if holds(*_key_parts(r))}

    schedule = (Reminder.Kind.APPOINTMENT, Reminder.Kind.DAYOF)
    if ids(*schedule):
        visits = Visit.objects.filter(
            pk__in=ids(*schedule), status=Visit.Status.SCHEDULED, starts_at__gt=now
        ).in_bulk()
        keep |= kept(schedule, lambda pk, stamp: pk in visits and _stamp(visits[pk].starts_at) == stamp)
    if ids(Reminder.Kind.MEASURE):
        open_tasks = set(
            MeasureTask.objects.filter(
                pk__in=ids(Reminder.Kind.MEASURE), response__isnull=True, withdrawn_at__isnull=True
            ).values_list("pk", flat=True)
        )
        keep |= kept((Reminder.Kind.MEASURE,), lambda pk, _: pk in open_tasks)
    if ids(Reminder.Kind.CLEARANCE):
        current = set(
            _current_clearances(timezone.localdate(now))
            .filter(pk__in=ids(Reminder.Kind.CLEARANCE))
            .values_list("pk", flat=True)
        )
        keep |= kept((Reminder.Kind.CLEARANCE,), lambda pk, _: pk in current)
    if ids(Reminder.Kind.URGENT):
        still_open = set(
            Alert.objects.filter(pk__in=ids(Reminder.Kind.URGENT), closed_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        keep |= kept((Reminder.Kind.URGENT,), lambda pk, _: pk in still_open)
    if by_kind.get(Reminder.Kind.ESTIMATE_DUE):
        from kapflow.billing.estimates import due_reminder_keys

        # Still worth sending while that plan's estimate is still due.
        held = due_reminder_keys(now)
        keep |= {r.pk for r in by_kind[Reminder.Kind.ESTIMATE_DUE] if r.key in held}
    # A statement or an estimate once ready stays ready (kapflow.billing.services.statement_notice).
    keep |= {r.pk for r in by_kind.get(Reminder.Kind.STATEMENT, [])}
    if ids(Reminder.Kind.MAINTENANCE):
        from kapflow.course.maintenance import due

        # Still worth sending while the plan is in force, its interval is the same and no
        # session is booked.
        waiting = {(item.plan.pk, str(item.after_visit_id or 0)) for item in due(now=now)}
        keep |= kept((Reminder.Kind.MAINTENANCE,), lambda pk, stamp: (pk, stamp) in waiting)
    if ids(Reminder.Kind.SESSION_ALERT):
        from kapflow.dosing.models import SessionAlert

        # Still worth sending until a prescriber has opened the runbook and seen it.
        unseen = set(
            SessionAlert.objects.filter(
                pk__in=ids(Reminder.Kind.SESSION_ALERT), seen_at__isnull=True
            ).values_list("pk", flat=True)
        )
        keep |= kept((Reminder.Kind.SESSION_ALERT,), lambda pk, _: pk in unseen)
    if controlled_keys := {r.key for r in by_kind.get(Reminder.Kind.CONTROLLED, [])}:
        from kapflow.controlled.inventory import still_due_keys

        # Still worth sending while the inventory is not taken, or the loss report's step not
        # recorded; controlled reminders of other kinds are kept.
        held = still_due_keys(controlled_keys, now)
        keep |= {r.pk for r in by_kind[Reminder.Kind.CONTROLLED] if r.key in held}
    if rems := {
        r.pk: _key_parts(r)[0] for r in by_kind.get(Reminder.Kind.CONTROLLED, []) if r.key.startswith("rems:")
    }:
        from kapflow.dosing.models import RemsReport

        # A REMS form recorded as submitted since needs no reminder.
        submitted = set(
            RemsReport.objects.filter(pk__in=set(rems.values()), submitted_on__isnull=False).values_list(
                "pk", flat=True
            )
        )
        keep -= {pk for pk, report in rems.items() if report in submitted}
    return keep
