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
from kapflow.dosing import alerts, selectors
from kapflow.dosing.views.base import VIEWED_ACTION, _medication_visit, runbook_view
from kapflow.lib.gates import Status
from kapflow.practice.models import practice_for
from kapflow.visits.models import Visit

REFRESHED_ACTION = "kapflow.dosing.runbook.refreshed"
# The panel's forms carry a CSRF token masked afresh for every response: left out of the tag, so
# that the same panel has the same tag.
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def _live_context(request, client, visit, book=None, *, fetched: bool = False) -> dict:
    practice = practice_for(request)
    now = timezone.now()
    if not fetched:
        book = selectors.runbook_of(visit)
    gates = selectors.day_of_gates(visit, book, now=now, practice=practice)
    vitals_gate = next(gate for gate in gates if gate.key == "vitals")
    checklist = selectors.latest_checklist(book)
    latest = book.vitals.order_by("-taken_at", "-pk").first() if book else None
    phases = selectors.phase_times(book, now=now, practice=practice)
    return {
        "client": client,
        "visit": visit,
        "book": book,
        "locked": bool(book and book.is_locked),
        "discharged": bool(book and book.discharged_at),
        "practice": practice,
        "now": now,
        "gates": gates,
        "needs_ack": vitals_gate.status is Status.ACKNOWLEDGE,
        "meds_to_review": bool(
            checklist and checklist.new_medication_list() and checklist.medications_reviewed_by_id is None
        ),
        "latest": latest,
        "latest_alerts": latest.alerts if latest else [],
        "clock": selectors.session_clock(book, now=now, practice=practice),
        "chaperone_clock": selectors.chaperone_clock(visit, book, now=now, practice=practice),
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
        # In-session alerts and who was told (kapflow.dosing.alerts): refreshed with the clock.
        "session_alerts": alerts.runbook_alerts(book),
        "emergency_calls": alerts.emergency_calls(book),
    }


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
    visit = _medication_visit(client, visit_id)
    response = render(request, "dosing/_live.html", _live_context(request, client, visit))
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
