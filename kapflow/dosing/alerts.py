"""In-session danger that must reach a prescriber at once (issue 11, item 6).

Each runbook entry that is alarming raises one SessionAlert in the same transaction as the
entry: a reading over an alert threshold, a pre-dose reading waiting for a prescriber's
acknowledgement, sedation at or above the practice's deep-sedation level, a chaperone check-in
saying the client is not OK (or the chaperone is not there), a severe adverse event, and the
"emergency services called" record. The alert is emailed to a prescriber on the care team, else
to the practice's on-call prescriber, through the reminders' outbox (retried, listed on the
admin's Reminders page when it fails, no clinical detail in the email). Its unique constraints
keep it to one alert, and so one email, per entry however often a form is sent or the runbook
refreshed. A prescriber of the care team, or the one notified, opening the runbook marks it seen.

The runbook's writes (kapflow.dosing.services) call this module; it uses only their shared base
(kapflow.dosing.services.runbook), which does not call it."""

import logging

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.audit.services import audit_record
from kapflow.clients.models import CareTeamMember, Client
from kapflow.clients.services import access_grant_open
from kapflow.dosing import selectors
from kapflow.dosing.models import (
    AdverseEvent,
    ChaperoneCheckin,
    EmergencyCall,
    Rating,
    Runbook,
    SessionAlert,
    VitalsReading,
)
from kapflow.dosing.services.runbook import RunbookRefused, _audit, _open_runbook
from kapflow.lib.gates import Status
from kapflow.practice.models import Practice
from kapflow.reminders.models import Reminder
from kapflow.reminders.services import queue_send, reminder_create
from kapflow.reminders.sources import Due
from kapflow.visits.models import Visit

logger = logging.getLogger(__name__)

SUMMARY_LENGTH = 500


def _reachable(user: User | None) -> bool:
    """Whether the practice's on-call prescriber can be told. One named before they became an
    invited outside prescriber is not (nor let in): they answer for their own clients alone
    (docs/access.md)."""
    return (
        user is not None
        and user.is_active
        and user.is_prescriber
        and not user.outside_practice
        and bool(user.email)
    )


def prescriber_to_notify(client: Client, practice) -> tuple[User | None, bool]:
    """Whom an alert about this client goes to, and whether that is the on-call prescriber: the
    first active prescriber of the care team (the earliest added), else the practice's on-call
    prescriber, else nobody."""
    member = (
        CareTeamMember.objects.filter(
            client=client, role=CareTeamMember.Role.PRESCRIBER, user__is_active=True, user__is_prescriber=True
        )
        .exclude(user__email="")
        .select_related("user")
        .order_by("pk")
        .first()
    )
    if member is not None:
        return member.user, False
    on_call = practice.on_call_prescriber
    return (on_call, True) if _reachable(on_call) else (None, False)


def _queue_notice(notice: Reminder) -> None:
    try:
        queue_send(reminder_ids=[notice.pk])
    except Exception:
        # The queue is unreachable: the next sweep finds the notice waiting and queues it.
        logger.exception("The session alert notice %s could not be queued.", notice.pk)


def runbook_grant_source(runbook: Runbook) -> str:
    """What an on-call prescriber's access grant is for: this session, until its record is signed."""
    return f"dosing.runbook:{runbook.pk}"


def session_alert_raise(
    *,
    runbook: Runbook,
    kind: str,
    source: dict,
    summary: str,
    practice=None,
    request=None,
    actor=None,
) -> SessionAlert | None:
    """Raise one alert about `source` (one of SessionAlert.SOURCES: the entry it came from) and
    notify the prescriber. None when this entry already raised it (a form sent again, two
    requests at once): nothing is notified twice. Call it inside the entry's transaction."""
    ((name, entry),) = source.items()
    practice = practice or Practice.load()
    if SessionAlert.objects.filter(kind=kind, **{name: entry}).exists():
        return None
    client = runbook.visit.client
    prescriber, on_call = prescriber_to_notify(client, practice)
    try:
        with transaction.atomic():
            alert = SessionAlert.objects.create(
                runbook=runbook,
                kind=kind,
                summary=summary[:SUMMARY_LENGTH],
                notified_user=prescriber,
                **{name: entry},
            )
    except IntegrityError:
        return None
    audit_record(
        request=request,
        actor=actor,
        action="kapflow.dosing.session_alert.raised",
        client=client,
        obj=alert,
        detail={
            "kind": kind,
            "notified": prescriber.pk if prescriber else None,
            "on_call": on_call,
        },
    )
    if prescriber is not None and on_call:
        # Not on the care team: let in until the session's record is signed, so that the email
        # leads to the runbook and not to a 404 (kapflow.clients.access).
        access_grant_open(
            client=client,
            user=prescriber,
            reason="On-call prescriber told of an in-session alert",
            source=runbook_grant_source(runbook),
            request=request,
            actor=actor,
        )
    if prescriber is not None:
        notice = reminder_create(
            due=Due(
                f"session_alert:{alert.pk}", Reminder.Kind.SESSION_ALERT, prescriber, client, alert.raised_at
            )
        )
        if notice is not None:
            alert.notice = notice
            alert.save(update_fields=["notice"])
            transaction.on_commit(lambda: _queue_notice(notice))
    return alert


def vitals_alerts_raise(*, reading: VitalsReading, practice, request=None, actor=None) -> list[SessionAlert]:
    """A reading's alerts: over an in-session threshold (its `alerts`, computed when it was
    saved), and for a pre-dose reading, the caution state a prescriber must acknowledge."""
    raised = []
    runbook = reading.runbook
    if reading.alerts:
        raised.append(
            session_alert_raise(
                runbook=runbook,
                kind=SessionAlert.Kind.VITALS,
                source={"vitals": reading},
                summary=f"Vitals {reading}: " + " ".join(reading.alerts),
                practice=practice,
                request=request,
                actor=actor,
            )
        )
    if reading.phase == VitalsReading.Phase.PRE_DOSE:
        gate = selectors.predose_gate(runbook, now=timezone.now(), practice=practice)
        latest = selectors.latest_predose(runbook, before=timezone.now())
        if gate.status is Status.ACKNOWLEDGE and latest is not None and latest.pk == reading.pk:
            raised.append(
                session_alert_raise(
                    runbook=runbook,
                    kind=SessionAlert.Kind.CAUTION,
                    source={"vitals": reading},
                    summary=f"Pre-dose vitals {reading} wait for a prescriber's acknowledgement: "
                    + gate.reason,
                    practice=practice,
                    request=request,
                    actor=actor,
                )
            )
    return [alert for alert in raised if alert is not None]


def rating_alerts_raise(*, rating: Rating, practice=None, request=None, actor=None) -> SessionAlert | None:
    """Sedation at or above the practice's deep-sedation level (UMSS, default 3)."""
    practice = practice or Practice.load()
    if rating.sedation < practice.deep_sedation_level:
        return None
    return session_alert_raise(
        runbook=rating.runbook,
        kind=SessionAlert.Kind.SEDATION,
        source={"rating": rating},
        summary=f"Sedation {rating.get_sedation_display()}.",
        practice=practice,
        request=request,
        actor=actor,
    )


def checkin_alerts_raise(
    *, checkin: ChaperoneCheckin, practice=None, request=None, actor=None
) -> SessionAlert | None:
    """A check-in saying the client is not OK, or that the chaperone is not with them."""
    if not checkin.concerning:
        return None
    problems = []
    if not checkin.client_ok:
        problems.append("the client is not OK")
    if not checkin.chaperone_present:
        problems.append("the chaperone is not present")
    return session_alert_raise(
        runbook=checkin.runbook,
        kind=SessionAlert.Kind.CHAPERONE,
        source={"checkin": checkin},
        summary="Chaperone check-in: "
        + " and ".join(problems)
        + (f" ({checkin.note})" if checkin.note else "."),
        practice=practice,
        request=request,
        actor=actor,
    )


def adverse_event_alerts_raise(
    *, event: AdverseEvent, practice=None, request=None, actor=None
) -> SessionAlert | None:
    """A severe adverse event."""
    if event.severity != AdverseEvent.Severity.SEVERE:
        return None
    return session_alert_raise(
        runbook=event.runbook,
        kind=SessionAlert.Kind.ADVERSE_EVENT,
        source={"adverse_event": event},
        summary=f"Severe adverse event: {event.get_kind_display()}. Action taken: {event.action_taken}",
        practice=practice,
        request=request,
        actor=actor,
    )


# Emergency services may be recorded as called while the client is there for the session.
UNDER_WAY = (Visit.Status.CHECKED_IN, Visit.Status.IN_PROGRESS)


def emergency_call_record(*, actor, visit: Visit, practice, request=None) -> EmergencyCall:
    """Record that emergency services were called now, by `actor`, to where the client is: a
    virtual session's latest safety plan address, else the practice's address (copied, as it was
    told). Refused on a signed record and on a visit not under way (checked in or started).
    Notifies the prescriber like any session alert."""
    if not actor.is_clinician:
        raise RunbookRefused("Only a clinician records that emergency services were called.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if visit.status not in UNDER_WAY:
            raise RunbookRefused(
                f"The session is not under way ({visit.get_status_display().lower()}): emergency services "
                "are recorded during a session."
            )
        if visit.is_virtual:
            plan = selectors.latest_safety_plan(runbook)
            address, origin = (plan.address if plan else ""), EmergencyCall.AddressFrom.SAFETY_PLAN
        else:
            address, origin = practice.address, EmergencyCall.AddressFrom.PRACTICE
        call = EmergencyCall.objects.create(
            runbook=runbook, called_by=actor, address=address.strip(), address_from=origin
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.emergency.called",
            visit=visit,
            obj=call,
            detail={"address_from": origin, "address_known": bool(call.address)},
        )
        session_alert_raise(
            runbook=runbook,
            kind=SessionAlert.Kind.EMERGENCY,
            source={"emergency_call": call},
            summary=f"Emergency services called by {actor.full_name}"
            + (f" to {call.address}." if call.address else "; no address on record."),
            practice=practice,
            request=request,
            actor=actor,
        )
    return call


def _sees_for_the_team(actor: User, alert_filter: QuerySet) -> QuerySet:
    """Of these alerts, those `actor` answers for: the one notified, or any prescriber on the
    client's care team."""
    on_team = CareTeamMember.objects.filter(
        client=OuterRef("runbook__visit__client"), user=actor, role=CareTeamMember.Role.PRESCRIBER
    )
    return alert_filter.filter(Q(notified_user=actor) | Q(Exists(on_team)))


def session_alerts_seen(*, actor, visit: Visit, request=None) -> int:
    """A prescriber opened the runbook: the alerts they answer for that no one has seen yet are
    seen by them now, each audited. A therapist opening it sees nothing on the prescriber's
    behalf. Returns how many were marked. One query when there is nothing to mark; otherwise
    the same three (look, lock, mark) however many are marked, and an audit row for each."""
    if not (actor.is_authenticated and actor.is_prescriber):
        return 0
    mine = _sees_for_the_team(actor, SessionAlert.objects.filter(runbook__visit=visit, seen_at__isnull=True))
    # Looked at first without a lock: most openings have nothing to mark, and a write
    # transaction (on SQLite, the database's one write lock) would be taken for nothing.
    ids = list(mine.values_list("pk", flat=True))
    if not ids:
        return 0
    with transaction.atomic():
        # Locked and read again: two prescribers opening it at once mark each alert once.
        waiting = list(
            SessionAlert.objects.filter(pk__in=ids, seen_at__isnull=True)
            .select_for_update(no_key=True)
            .order_by("pk")
        )
        now = timezone.now()
        # One UPDATE for them all, of the rows locked above (not one per alert).
        SessionAlert.objects.filter(pk__in=[alert.pk for alert in waiting]).update(seen_by=actor, seen_at=now)
        for alert in waiting:
            alert.seen_by, alert.seen_at = actor, now
            audit_record(
                request=request,
                actor=actor,
                action="kapflow.dosing.session_alert.seen",
                client=visit.client,
                obj=alert,
                detail={"kind": alert.kind},
            )
    return len(waiting)


def session_alert_notified(*, reminder: Reminder) -> None:
    """The notice's email went: the runbook shows the time. Called by the reminders' "sent" step
    (registered in kapflow/dosing/apps.py), in its transaction; that step's audit row records the
    sending."""
    SessionAlert.objects.filter(notice=reminder, notified_at__isnull=True).update(
        notified_at=reminder.sent_at
    )


# --- Reads -------------------------------------------------------------------------------------


def runbook_alerts(runbook: Runbook | None) -> list[SessionAlert]:
    """The session's alerts, oldest first, with whom they went to and who saw them: one query."""
    if runbook is None:
        return []
    return list(runbook.session_alerts.select_related("notified_user", "seen_by", "notice"))


def emergency_calls(runbook: Runbook | None) -> list[EmergencyCall]:
    if runbook is None:
        return []
    return list(runbook.emergency_calls.select_related("called_by"))


def open_alerts_for(actor: User, clients: QuerySet) -> QuerySet[SessionAlert]:
    """The prescriber's dashboard: alerts not yet seen that they answer for, among `clients`
    (the ones they may see), oldest first. One query; the dashboard shows its first rows and
    the whole list is a page of its own (kapflow.views, "session-alerts")."""
    return (
        _sees_for_the_team(
            actor,
            SessionAlert.objects.filter(seen_at__isnull=True, runbook__visit__client__in=clients),
        )
        .select_related("runbook__visit__client")
        # What the lists show of each (the client's name, the kind, when): fewer columns to
        # compile and read.
        .only(
            "runbook__visit__client__first_name",
            "runbook__visit__client__last_name",
            "runbook__visit__client__preferred_name",
            "kind",
            "raised_at",
        )
        .order_by("raised_at", "pk")
    )
