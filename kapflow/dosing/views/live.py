"""The runbook's live panel, refreshed in place every 30 s (hx-trigger="every 30s" in
dosing/_live.html).

The read is audited once per opening of the runbook: the page's GET writes
"kapflow.dosing.runbook.viewed", and the panel's own refresh (a poll: the page script sends
X-Kapflow-Poll: 1) writes nothing more, unless this person has not opened this client's runbook
since signing in (a poll sent by hand). A poll still goes through the scoping helper: a client
outside the requester's care, or whose on-call grant has ended, is 404.

A poll answers 304 Not Modified, with no body, when the panel is the one the page holds: the page
script sends back the ETag of the last panel it received (If-None-Match), and keeps the panel
on a 304. The tag is a hash of the panel as rendered, not a version of the runbook's rows: the
panel moves with the clock (minutes since the first dose, vitals due, phases) and shows what
other apps write (an open suicidality alert, the integration visit booked, the notice's email
status), so only the rendered panel says for certain that nothing changed."""

import dataclasses
import datetime
import hashlib
import re

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import get_conditional_response

from kapflow.accounts.middleware import SIGNED_IN_AT, is_poll
from kapflow.audit.middleware import note_refused
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, client_for, clients_for
from kapflow.clients.models import CareTeamMember
from kapflow.dosing import alerts, rules, selectors
from kapflow.dosing.forms import PhoneAcknowledgementForm
from kapflow.dosing.models import PhoneAcknowledgement, SafetyReview, SessionAlert
from kapflow.dosing.views.base import VIEWED_ACTION, runbook_view
from kapflow.lib.gates import GateResult, Status
from kapflow.measures.models import Alert
from kapflow.medical.selectors import prescriber_is_outside
from kapflow.practice.models import practice_for
from kapflow.visits.models import Visit

REFRESHED_ACTION = "kapflow.dosing.runbook.refreshed"
# The panel's forms carry a CSRF token masked afresh for every response: left out of the tag, so
# that the same panel has the same tag.
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def _live_context(request, client, visit, record=None, *, reviews=None) -> dict:
    """What the live panel (and the state header) shows. `record` is the runbook's rows, read
    once (selectors.RunbookRecord); the page passes its own, with every row it shows, and the
    prescribers' reviews of its adverse events (`reviews`), so that nothing is read twice."""
    practice = practice_for(request)
    now = timezone.now()
    if record is None:
        record = selectors.RunbookRecord(visit)
    book = record.book
    first_dose_at = record.first_dose_at
    # Read only for a checklist to check it against (the page reads it for its own form).
    open_alert = _open_suicidality_alert(client) if record.checklist is not None else None
    gates = record.day_of_gates(now=now, practice=practice, open_alert=bool(open_alert))
    session_alerts = alerts.runbook_alerts(book) if record.has("session_alerts") else []
    # The pre-dose reading in force (at the first dose, else now), read once: whether the
    # prescriber's acknowledgement is of this very reading (a newer reading needs its own), and
    # which caution alert still waits for one.
    in_force = None
    if book is not None and (
        book.caution_acknowledged_by_id is not None
        or any(alert.kind == SessionAlert.Kind.CAUTION for alert in session_alerts)
    ):
        in_force = record.latest_predose(before=first_dose_at or now)
    in_force_id = in_force.pk if in_force is not None else None
    caution_ack_by = None
    # An outside prescriber's acknowledgement is a telephone call the clinician recorded: the
    # prescriber on the call acknowledged, not the clinician who recorded it. Read when the
    # acknowledged reading is shown (in force, or a caution alert's).
    call = None
    acknowledged_id = book.caution_acknowledged_reading_id if book is not None else None
    if acknowledged_id is not None and (
        acknowledged_id == in_force_id or any(alert.vitals_id == acknowledged_id for alert in session_alerts)
    ):
        call = (
            PhoneAcknowledgement.objects.filter(runbook=book, reading_id=acknowledged_id)
            .select_related("recorded_by")
            .last()
        )
    phone_ack = None
    if in_force_id is not None and acknowledged_id == in_force_id:
        caution_ack_by = book.caution_acknowledged_by
        phone_ack = call
    if first_dose_at is not None:
        # Once the dose is given, the pre-dose vitals are what they were when it was given: the
        # 30-minute window has run out by the monitoring, and "blocked" then is false news.
        gates = [
            _predose_gate_at_the_dose(record, first_dose_at, practice) if gate.key == "vitals" else gate
            for gate in gates
        ]
    vitals_gate = next(gate for gate in gates if gate.key == "vitals")
    locked = bool(book and book.is_locked)
    # The client's prescriber is outside and has no account: their acknowledgement is a call.
    outside = (
        prescriber_is_outside(client) if vitals_gate.status is Status.ACKNOWLEDGE and not locked else None
    )
    checklist = record.checklist
    latest = record.latest_vitals
    phases = record.phase_times(now=now, practice=practice)
    clock = record.session_clock(now=now, practice=practice)
    chaperone_clock = record.chaperone_clock(now=now, practice=practice)
    _who_answers(
        client, book, session_alerts, in_force_id=in_force_id, locked=locked, reviews=reviews, phone_ack=call
    )
    discharged = bool(book and book.discharged_at)
    unmet = []
    if book is not None and not discharged:
        # The objective criteria still unmet; the clinician's observations are ticked on the form.
        unmet = rules.discharge_unmet(record.discharge_state(), now=now, practice=practice)
    return {
        "client": client,
        "visit": visit,
        "book": book,
        "locked": locked,
        # Whether this reader records the session: the clinicians of the practice, while the
        # record is open. An invited outside prescriber reads it and gives only the
        # acknowledgement and reviews that are theirs (kapflow.accounts.access).
        "may_record": not locked and not request.user.outside_practice,
        "discharged": discharged,
        "practice": practice,
        "now": now,
        "gates": gates,
        "needs_ack": vitals_gate.status is Status.ACKNOWLEDGE,
        "caution_ack_by": caution_ack_by,
        "phone_ack": phone_ack,
        # Only when it is shown: the page's forms are built only when they are (test_runbook_reads).
        **(
            {"phone_form": PhoneAcknowledgementForm(initial={"prescriber_name": outside.outside_name})}
            if outside is not None
            else {}
        ),
        "meds_to_review": bool(
            checklist and checklist.new_medication_list() and checklist.medications_reviewed_by_id is None
        ),
        "latest": latest,
        "latest_alerts": latest.alerts if latest else [],
        "first_dose_at": first_dose_at,
        "clock": clock,
        "chaperone_clock": chaperone_clock,
        "phases": phases,
        # The phase that may be marked next: the first not begun, once the one before it has.
        "next_phase": next(
            (
                phase.key
                for before, phase in zip([None, *phases], phases, strict=False)
                if phase.started_at is None and (before is None or before.started_at is not None)
            ),
            None,
        ),
        "started": visit.status == Visit.Status.IN_PROGRESS,
        "unmet": unmet,
        # In-session alerts and who was told (kapflow.dosing.alerts): refreshed with the clock.
        "session_alerts": session_alerts,
        "unseen_alerts": [alert for alert in session_alerts if alert.seen_at is None],
        "emergency_calls": alerts.emergency_calls(book) if record.has("emergency_calls") else [],
        "state": _state(
            visit,
            locked=locked,
            discharged=discharged,
            dosed=first_dose_at is not None,
            unmet=unmet,
            phases=phases,
            book=book,
        ),
    }


def _predose_gate_at_the_dose(record, first_dose_at, practice) -> GateResult:
    """The pre-dose vitals gate as it stood when the first dose was given."""
    gate = record.predose_gate(now=first_dose_at, practice=practice)
    when = timezone.localtime(first_dose_at)
    return dataclasses.replace(gate, reason=f"At the first dose ({when:%H:%M}): {gate.reason}")


def _open_suicidality_alert(client) -> bool:
    """Whether the client has an open suicidality alert: from the open alerts the banner's
    queryset read with the client (client_banner_for: `open_alerts`, the same
    Alert.objects.open()), else one query (a poll's client is read without them)."""
    open_alerts = getattr(client, "open_alerts", None)
    if open_alerts is None:
        return selectors.open_suicidality_alert(client)
    return any(alert.kind == Alert.Kind.SUICIDALITY for alert in open_alerts)


def _prescribers_of(client) -> list:
    """The care team's active prescribers, in the order they joined it (pk): from the care team
    when it was read with the client (client_chart_for), else one query (the runbook reads the
    client without it: only an in-session alert needs it)."""
    prefetched = getattr(client, "_prefetched_objects_cache", {}).get("care_team")
    if prefetched is None:
        return [
            member.user
            for member in client.care_team.filter(
                role=CareTeamMember.Role.PRESCRIBER, user__is_active=True, user__is_prescriber=True
            )
            .select_related("user")
            .order_by("pk")
        ]
    return [
        member.user
        for member in sorted(prefetched, key=lambda member: member.pk)
        if member.role == CareTeamMember.Role.PRESCRIBER
        and member.user.is_active
        and member.user.is_prescriber
    ]


def _who_answers(client, book, session_alerts, *, in_force_id, locked, reviews=None, phone_ack=None) -> None:
    """Each alert with who answers for it (`waiting_for`: the prescriber told, and every active
    prescriber of the care team: any of them opening the runbook marks it seen) and who acted
    on it (`acknowledged_by`, `acknowledged_at`): the prescriber's acknowledgement of a caution
    reading (or `phone_ack`: the call recorded for the acknowledged reading, which names the
    outside prescriber), the prescriber's review of a severe adverse event. A caution reading
    waits for its acknowledgement only while it is the pre-dose reading in force (`in_force_id`) and the
    record is open; one a later reading replaced is `superseded`. Two queries at most, whatever
    the number of alerts: the care team's prescribers, and the reviews of the session's adverse
    events unless the caller passes them (`reviews`, {event pk: review}; the page does)."""
    if not session_alerts:
        return
    team = _prescribers_of(client)
    event_ids = [alert.adverse_event_id for alert in session_alerts if alert.adverse_event_id]
    if reviews is None:
        reviews = {}
        if event_ids:
            reviews = {
                review.adverse_event_id: review
                for review in SafetyReview.objects.filter(adverse_event_id__in=event_ids).select_related(
                    "reviewed_by"
                )
            }
    for alert in session_alerts:
        told = [alert.notified_user] if alert.notified_user else []
        alert.waiting_for = (
            [] if alert.seen_at else told + [user for user in team if user.pk != alert.notified_user_id]
        )
        alert.acknowledged_by = alert.acknowledged_at = alert.phone_ack = None
        alert.awaits_acknowledgement = alert.superseded = False
        if alert.kind == SessionAlert.Kind.CAUTION:
            if book.caution_acknowledged_reading_id == alert.vitals_id and phone_ack is not None:
                alert.phone_ack = phone_ack
            elif book.caution_acknowledged_reading_id == alert.vitals_id:
                alert.acknowledged_by = book.caution_acknowledged_by
            elif alert.vitals_id != in_force_id:
                alert.superseded = True
            elif not locked:
                alert.awaits_acknowledgement = True
        elif alert.adverse_event_id in reviews:
            review = reviews[alert.adverse_event_id]
            alert.acknowledged_by, alert.acknowledged_at = review.reviewed_by, review.reviewed_at


def _state(visit, *, locked, discharged, dosed, unmet, phases, book) -> dict:
    """The session's state in a few words, for the header that stays at the top of the runbook:
    where the session is, and its tone (calm, waiting, done)."""
    current = next((phase for phase in phases if phase.current), None)
    if locked:
        return {"phase": "Signed", "detail": "record locked", "key": "signed"}
    if discharged:
        return {
            "phase": "Discharged",
            "detail": f"at {timezone.localtime(book.discharged_at):%H:%M}: sign the record",
            "key": "discharged",
        }
    if dosed and not unmet:
        # Only the timed and measured criteria: orientation, gait and the escort are the
        # clinician's to check on the discharge form.
        return {
            "phase": "Discharge possible",
            "detail": "time and vitals met; check orientation, gait and escort",
            "key": "ready",
        }
    if current is not None:
        return {
            "phase": current.label,
            "detail": f"{current.elapsed_minutes} of {current.planned_minutes} min",
            "key": "dosed" if dosed else "started",
        }
    if visit.status == Visit.Status.IN_PROGRESS:
        return {"phase": "Started", "detail": "no dose yet", "key": "started"}
    if visit.status == Visit.Status.CHECKED_IN:
        return {"phase": "Checked in", "detail": "before the dose", "key": "checked_in"}
    return {"phase": visit.get_status_display(), "detail": "not checked in yet", "key": "scheduled"}


def _polled_client(request, client_id):
    """The client for a poll: scoped as client_for scopes (404 for anyone outside the client's
    care; the refusal audited by kapflow.audit.middleware), without a read row of its own."""
    client = clients_for(request, need=Need.CLINICAL).filter(pk=client_id).first()
    if client is None:
        note_refused(request, client_id)
        raise Http404("No such client.")
    return client


def _panel_etag(html: str) -> str:
    return '"' + hashlib.sha256(_CSRF_INPUT.sub("", html).encode()).hexdigest()[:32] + '"'


@runbook_view
def live(request, client_id, visit_id):
    """The parts of the runbook that move with the clock (the readiness strip, alerts, the clock,
    the phases), refreshed in place every 30 s; they hold no typed input."""
    poll = is_poll(request)
    if poll:
        client = _polled_client(request, client_id)
    else:
        client = client_for(request, client_id, need=Need.CLINICAL, action=REFRESHED_ACTION)
    visit = selectors.medication_visit(client, visit_id)  # with its runbook, for _live_context
    context = _live_context(request, client, visit)
    # The state header at the top of the page rides along, swapped in by its id (hx-swap-oob).
    context["state_oob"] = True
    response = render(request, "dosing/_live.html", context)
    # A poll with no opening on record (sent by hand) is a read like any other, 304 or not.
    if poll and not _opened_since_sign_in(request, client):
        audit_record(request=request, action=REFRESHED_ACTION, client=client, obj=client)
    response["ETag"] = _panel_etag(response.content.decode())
    not_modified = get_conditional_response(request, etag=response["ETag"], response=response)
    if not_modified is not response:
        return not_modified  # 304: nothing shown that the page does not already show
    return response


def _opened_since_sign_in(request, client) -> bool:
    """Whether this person's opening of the client's runbook since signing in is on record: it
    covers the polls of the page it opened."""
    signed_in_at = request.session.get(SIGNED_IN_AT)
    if signed_in_at is None:
        return False
    since = datetime.datetime.fromtimestamp(signed_in_at, tz=datetime.UTC)
    return selectors.runbook_viewed_since(user=request.user, client=client, action=VIEWED_ACTION, since=since)
