"""The runbook at the bedside (issue 13, item 1; defect 9): a session taken through each phase
(checked in before the dose; dosed and monitored with an alert open; ready for discharge;
signed), and at each phase the page looked at on a phone (375 px), a tablet held upright
(768 x 1024) and on its side (1024 x 768), and laptops (1280, 1440): nothing scrolls sideways,
the session's state stays at the top of the screen when the page is scrolled down, and every
target is at least 44 px. One browser context; the viewport is resized, not reopened.

Screenshots go to /tmp/shots/runbook/ (one per phase and width, scrolled half way down)."""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from kapflow.dosing.services.administration import dose_record
from kapflow.dosing.services.checkin import checklist_record, safety_plan_record, session_start
from kapflow.dosing.services.discharge import discharge_record
from kapflow.dosing.services.session import rating_record
from kapflow.dosing.services.signing import runbook_sign
from kapflow.dosing.services.vitals import vitals_record
from kapflow.medical.models import Clearance, Screening
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories
from tests.browser.test_runbook_session import people, session  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots/runbook")
WIDTHS = {
    "375": {"width": 375, "height": 740},
    "768-portrait": {"width": 768, "height": 1024},
    "1024-landscape": {"width": 1024, "height": 768},
    "1280": {"width": 1280, "height": 800},
    "1440": {"width": 1440, "height": 900},
}

# Run in the page: what scrolls sideways, where the state header is, and what is too small.
_MEASURE = """
() => {
  const root = document.documentElement;
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const wide = [];
  for (const el of document.querySelectorAll("#runbook *")) {
    if (!visible(el)) continue;
    const box = el.getBoundingClientRect();
    const name = el.tagName + "." + el.className;
    if (box.right > root.clientWidth + 1 || box.left < -1) {
      wide.push(name + " " + Math.round(box.left) + "–" + Math.round(box.right));
    }
    const around = el.parentElement;
    if (el.tagName === "TABLE" && around.scrollWidth > around.clientWidth + 1) wide.push(name + " too wide");
  }
  const small = [];
  const targets = [
    "button", "summary", "select", "textarea", "a.button", ".state-fact--alerts a",
    "input:not([type=hidden]):not([type=checkbox]):not([type=radio])",
  ].map((target) => "#runbook " + target).join(", ");
  for (const el of document.querySelectorAll(targets)) {
    if (!visible(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.height < 44 || box.width < 44) {
      small.push(el.outerHTML.slice(0, 90) + " " + Math.round(box.width) + "x" + Math.round(box.height));
    }
  }
  for (const el of document.querySelectorAll("#runbook input[type=checkbox], #runbook input[type=radio]")) {
    if (!visible(el)) continue;
    const label = el.labels && el.labels[0];
    const row = (label && label.closest(".check, li")) || label;
    if (!row || row.getBoundingClientRect().height < 44) small.push("the row of " + el.id);
  }
  const state = document.getElementById("runbook-state").getBoundingClientRect();
  return {
    overflow: root.scrollWidth - root.clientWidth,
    wide: wide.slice(0, 5),
    small: small.slice(0, 5),
    stateTop: state.top,
    stateHeight: state.height,
    scrolled: window.scrollY,
  };
}
"""


def look(page: Page, phase: str, *, expect_in_state: list[str]) -> None:
    """At each width: no sideways scroll, targets of 44 px, the state header on top once the
    page is scrolled half way down; a screenshot of what a clinician sees there."""
    state = page.locator("#runbook-state")
    for name, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.evaluate("window.scrollTo(0, 0)")
        for words in expect_in_state:
            expect(state).to_contain_text(words)
        page.screenshot(path=str(SHOTS / f"{phase}-{name}-top.png"))
        page.evaluate(
            "window.scrollTo(0, Math.max(0, (document.documentElement.scrollHeight - innerHeight) / 2))"
        )
        found = page.evaluate(_MEASURE)
        where = f"{phase} at {name}"
        assert found["overflow"] <= 0, f"{where}: scrolls sideways by {found['overflow']}px: {found['wide']}"
        assert found["wide"] == [], f"{where}: wider than the screen: {found['wide']}"
        assert found["small"] == [], f"{where}: targets under 44 px: {found['small']}"
        assert found["scrolled"] > 0, f"{where}: the page did not scroll"
        assert -1 <= found["stateTop"] <= 1, (
            f"{where}: the state header is at {found['stateTop']}px, not on top"
        )
        assert found["stateHeight"] < size["height"] / 3, (
            f"{where}: the header takes {found['stateHeight']}px"
        )
        expect(state).to_be_in_viewport()
        page.screenshot(path=str(SHOTS / f"{phase}-{name}.png"))
    page.set_viewport_size(WIDTHS["768-portrait"])


def test_each_phase_reads_at_a_glance_at_every_width(open_page, people, pathway_ready, console_errors):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    tess, priya, client = people["tess"], people["priya"], people["client"]
    practice = Practice.load()
    practice.min_monitoring_minutes = 0
    practice.save()
    screening = Screening.objects.create(client=client, answers={}, age=34)
    Clearance.objects.create(
        client=client,
        screening=screening,
        prescriber=priya,
        decision=Clearance.Decision.CONDITIONS,
        conditions="Hold lorazepam the night before the session.",
        findings="Well.",
        valid_until=timezone.localdate() + datetime.timedelta(days=90),
    )
    visit = session(people, virtual=True, status=Visit.Status.CHECKED_IN)
    now = timezone.now()
    safety_plan_record(
        actor=tess,
        visit=visit,
        address="2231 Laurel Canyon Blvd, Studio City",
        chaperone_name="Chris Alvarez (partner)",
        chaperone_phone="(818) 555-0177",
        chaperone_is_adult=True,
        chaperone_present=True,
        emergency_contact="Rosa Alvarez (818) 555-0178",
        nearest_emergency_department="Providence Tarzana, 18321 Clark St",
        has_bp_cuff=True,
    )
    checklist_record(
        actor=tess,
        visit=visit,
        transport_without_driving=True,
        transport_detail="Partner drives home",
        last_food_at=now - datetime.timedelta(hours=6),
        last_liquid_at=now - datetime.timedelta(hours=3),
        substances=[],
        pregnancy="not_applicable",
        practice=practice,
    )
    factories.acknowledge_integration(visit, tess)

    def reading(systolic, diastolic, heart_rate, phase="in_session", spo2=97):
        vitals_record(
            actor=tess,
            visit=visit,
            phase=phase,
            taken_at=timezone.now(),
            systolic=systolic,
            diastolic=diastolic,
            heart_rate=heart_rate,
            spo2=spo2,
            practice=practice,
        )

    reading(124, 78, 72, phase="pre_dose")
    page = open_page(tess)
    page.set_viewport_size(WIDTHS["768-portrait"])
    url = f"/clients/{client.pk}/visits/{visit.pk}/runbook/"
    page.goto(url)
    expect(page.locator(".runbook-conditions")).to_contain_text("Hold lorazepam the night before")
    look(page, "1-checked-in", expect_in_state=["Checked in", "No dose yet", "Pre-dose"])

    session_start(actor=tess, visit=visit, practice=practice)
    dose_record(
        actor=tess,
        visit=visit,
        order=people["order"],
        given_at=timezone.now(),
        route="sublingual",
        dose_mg=Decimal(250),
        lot_number="KL23001",
        given_by=tess,
        practice=practice,
    )
    reading(186, 102, 96)  # over the alert level: the prescriber is told
    page.goto(url)
    expect(page.locator(".session-alerts")).to_contain_text("Not yet seen by: P. Prescriber (told)")
    look(
        page,
        "2-monitoring-alert",
        expect_in_state=["Medicine", "0 min", "1 not seen yet", "told P. Prescriber"],
    )

    reading(128, 80, 74)
    rating_record(actor=tess, visit=visit, rated_at=timezone.now(), sedation=0, dissociation=0)
    page.goto(url)
    look(page, "3-discharge-ready", expect_in_state=["Discharge possible"])

    discharge_record(
        actor=tess,
        visit=visit,
        alert_and_oriented=True,
        steady_on_feet=True,
        escort_present=True,
        practice=practice,
        override_reason="",
    )
    runbook_sign(actor=tess, visit=visit)
    page.goto(url)
    look(page, "4-signed", expect_in_state=["Signed"])
    assert not console_errors
