"""The runbook at the bedside (issue 13): the session's state held at the top of the page and
refreshed with the clock, the pre-dose vitals as they stood at the dose (defect 3), the
clearance's conditions on the day (defect 4), and each in-session alert with who was told, who
has not yet seen it and the prescriber's acknowledgement or review (defect 5). The layout at
each width is tested in the browser (tests/browser/test_runbook_bedside.py)."""

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kapflow.clients.models import CareTeamMember
from kapflow.dosing.services.reviews import adverse_event_review
from kapflow.dosing.services.session import adverse_event_record
from kapflow.dosing.services.vitals import caution_acknowledge
from kapflow.medical.models import Clearance, Screening
from kapflow.practice.models import Practice
from tests import factories, test_session_alerts
from tests.test_runbook import DAY, at, dose, make_order, vitals

pytestmark = pytest.mark.usefixtures("pathway_ready")


# The session alerts' fixtures: a virtual medication session in progress, its checklist and
# safety plan passing (`visit`), and the same after its first dose (`dosed`).
visit = test_session_alerts.visit
dosed = test_session_alerts.dosed


def runbook_url(visit) -> str:
    return reverse("dosing:runbook", args=[visit.client_id, visit.pk])


def page(http, visit, minutes: float) -> str:
    with time_machine.travel(at(minutes), tick=False):
        response = http.get(runbook_url(visit))
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def gate_row(html: str, label: str) -> str:
    """The readiness strip's row of one gate."""
    rows = re.findall(r'<li class="gate [^"]*">.*?</li>', html)
    [row] = [row for row in rows if f"<strong>{label}</strong>" in row]
    return row


def state_header(html: str) -> str:
    match = re.search(r'<section id="runbook-state".*?</section>', html)
    assert match, "no state header"
    return match.group(0)


# --- Defect 3: the pre-dose vitals during the session -------------------------------------------


def test_the_predose_vitals_acknowledged_still_pass_long_after_the_dose(visit, tess, priya, avery, login):
    vitals(visit, tess, -10, bp=(150, 95), phase="pre_dose")  # above the caution level
    with time_machine.travel(at(-8), tick=False):
        caution_acknowledge(actor=priya, visit=visit, practice=Practice.load())
    dose(visit, tess, make_order(avery, priya), 0)
    row = gate_row(page(login(tess), visit, 45), "Pre-dose vitals")  # 55 min after the reading
    assert "gate--pass" in row and "Passes" in row and "Blocked" not in row
    assert "At the first dose" in row and "Acknowledged by Priya Prescriber" in row


def test_the_predose_vitals_before_the_dose_still_go_stale(visit, tess, login):
    vitals(visit, tess, -40, phase="pre_dose")
    row = gate_row(page(login(tess), visit, 0), "Pre-dose vitals")
    assert "Blocked" in row and "more than 30 min old" in row


# --- Defect 4: the clearance's conditions on the day ---------------------------------------------


def test_the_conditions_of_the_clearance_are_on_the_runbook(visit, tess, priya, avery, login):
    Clearance.objects.create(
        client=avery,
        screening=Screening.objects.create(client=avery, answers={}, age=34),
        prescriber=priya,
        decision=Clearance.Decision.CONDITIONS,
        conditions="Hold lorazepam the night before the session.",
        findings="Well.",
        valid_until=DAY.date() + datetime.timedelta(days=90),
    )
    html = page(login(tess), visit, -5)
    assert "Conditions of the medical clearance" in html
    assert "Hold lorazepam the night before the session." in html
    assert "Cleared with conditions by Priya Prescriber" in html


def test_the_conditions_of_a_revoked_clearance_are_not_shown_as_ones_to_check(
    visit, tess, priya, avery, login
):
    clearance = Clearance.objects.create(
        client=avery,
        screening=Screening.objects.create(client=avery, answers={}, age=34),
        prescriber=priya,
        decision=Clearance.Decision.CONDITIONS,
        conditions="Hold lorazepam the night before the session.",
        findings="Well.",
        valid_until=DAY.date() + datetime.timedelta(days=90),
    )
    Clearance.objects.filter(pk=clearance.pk).update(
        revoked_at=at(-60), revoked_by=priya, revoke_reason="New cardiac finding."
    )
    html = page(login(tess), visit, -5)
    assert "Conditions of the medical clearance" not in html
    assert "Check them with the client before the dose" not in html


def test_a_clearance_without_conditions_shows_no_conditions(visit, tess, priya, avery, login):
    Clearance.objects.create(
        client=avery,
        screening=Screening.objects.create(client=avery, answers={}, age=34),
        prescriber=priya,
        decision=Clearance.Decision.CLEARED,
        findings="Well.",
        valid_until=DAY.date() + datetime.timedelta(days=90),
    )
    assert "Conditions of the medical clearance" not in page(login(tess), visit, -5)


# --- Defect 5: who was told, who has not yet seen it, who acknowledged ---------------------------


@pytest.fixture
def quinn(avery):
    """A second prescriber on Avery's care team (not the one the alert goes to)."""
    quinn = factories.make_user("Quinn Second", roles=("is_prescriber",), email="quinn@example.org")
    CareTeamMember.objects.create(client=avery, user=quinn, role=CareTeamMember.Role.PRESCRIBER)
    return quinn


def test_an_alert_says_who_has_not_yet_seen_it_until_one_of_them_opens_the_runbook(
    dosed, tess, priya, quinn, login
):
    vitals(dosed, tess, 40, bp=(185, 100))
    html = page(login(tess), dosed, 41)
    assert "Not yet seen by:</strong> P. Prescriber (told), Q. Second (care team)" in html
    header = state_header(html)
    assert "1 not seen yet" in header and "told P. Prescriber" in header
    page(login(quinn), dosed, 43)  # the colleague opens it: seen for the team
    html = page(login(tess), dosed, 44)
    assert "Not yet seen by" not in html and "seen by Q. Second" in html
    assert "None open" in state_header(html)


def test_a_caution_reading_shows_the_prescribers_acknowledgement(visit, tess, priya, login):
    vitals(visit, tess, -10, bp=(150, 95), phase="pre_dose")
    html = page(login(tess), visit, -9)
    assert "Pre-dose reading waits for a prescriber&#x27;s acknowledgement" in html
    assert "Waiting for the prescriber's acknowledgement" in html
    with time_machine.travel(at(-8), tick=False):
        caution_acknowledge(actor=priya, visit=visit, practice=Practice.load())
    html = page(login(tess), visit, -7)
    assert "Acknowledged by P. Prescriber" in html
    assert "Waiting for the prescriber's acknowledgement" not in html


def test_a_caution_reading_replaced_by_a_later_one_waits_for_nobody(visit, tess, priya, login):
    vitals(visit, tess, -12, bp=(150, 95), phase="pre_dose")  # caution: the prescriber is asked
    vitals(visit, tess, -6, bp=(124, 80), phase="pre_dose")  # a later, normal reading replaces it
    html = page(login(tess), visit, -5)
    assert "Waiting for the prescriber's acknowledgement" not in html
    assert "Replaced by a later pre-dose reading" in html


def test_a_severe_adverse_event_shows_the_prescribers_review(dosed, tess, priya, login):
    with time_machine.travel(at(30), tick=False):
        event = adverse_event_record(
            actor=tess,
            visit=dosed,
            noted_at=at(30),
            kind="nausea",
            severity="severe",
            action_taken="Bowl, sips of water",
        )
    assert "Reviewed by" not in page(login(tess), dosed, 31)
    with time_machine.travel(at(35), tick=False):
        adverse_event_review(actor=priya, event=event)
    assert "Reviewed by P. Prescriber" in page(login(tess), dosed, 36)


# --- The state header ----------------------------------------------------------------------------


def test_the_state_header_says_phase_time_since_dose_next_reading_and_alerts(dosed, tess, login):
    header = state_header(page(login(tess), dosed, 45))
    assert "Medicine" in header and "45 min" in header
    assert "overdue 5 min" in header  # due 40 min after the dose
    assert "Open alerts" in header and "None" in header


def test_the_state_header_is_refreshed_with_the_live_panel(dosed, tess, login):
    http = login(tess)
    page(http, dosed, 45)
    with time_machine.travel(at(46), tick=False):
        polled = http.get(reverse("dosing:live", args=[dosed.client_id, dosed.pk]))
    text = polled.content.decode()
    assert 'id="runbook-state"' in text and 'hx-swap-oob="true"' in text and "46 min" in text
    # On the page itself the header is not swapped out of band (htmx would pull it out).
    assert "hx-swap-oob" not in state_header(page(http, dosed, 47))


def test_the_state_header_before_the_dose_and_after_the_signature(visit, tess, login):
    header = state_header(page(login(tess), visit, -5))
    assert "No dose yet" in header and "Pre-dose" in header


def test_the_page_costs_the_same_queries_with_one_alert_or_many(dosed, tess, priya, quinn, login):
    def severe_event(minutes):
        with time_machine.travel(at(minutes), tick=False):
            adverse_event_record(
                actor=tess,
                visit=dosed,
                noted_at=at(minutes),
                kind="nausea",
                severity="severe",
                action_taken="Rest",
            )

    vitals(dosed, tess, 40, bp=(185, 100))
    severe_event(40.5)
    http = login(tess)
    page(http, dosed, 41)

    def count(minutes):
        with time_machine.travel(at(minutes), tick=False), CaptureQueriesContext(connection) as queries:
            assert http.get(runbook_url(dosed)).status_code == 200
        return len(queries)

    one = count(42)
    for minutes in (50, 60, 70):
        vitals(dosed, tess, minutes, bp=(186, 101))
    severe_event(71)
    assert count(72) == one
