"""The main pages under the Content-Security-Policy (issue 11, item 10), in a real browser: the
dashboard, a chart, the runbook, the calendar, the outcome report and the portal's home load with
no inline script or style refused, no console error and nothing uncaught. A violation shows up
twice: as a console error ("Refused to execute inline script…") and as a securitypolicyviolation
event, which a script added before every page's own records."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from kapflow.medical.models import MedicationOrder
from kapflow.visits.models import CalendarFeed, Room, Visit
from tests import factories

pytestmark = pytest.mark.browser

# Added to every document before its own scripts (Playwright's init scripts are not subject to
# the page's policy), so that even a violation the console does not report is counted.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(
    event.violatedDirective + " " + (event.blockedURI || "inline") + " " +
    event.sourceFile + ":" + event.lineNumber
  );
});
"""


@pytest.fixture
def people(transactional_db):
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")
    priya = factories.make_user("Priya Prescriber", roles=("is_prescriber",), email="priya@example.org")
    cleo = factories.make_user("Cleo Client", roles=("is_client",), email="cleo@example.org", mfa=False)
    client = factories.make_client(first_name="Robin", therapist=tess, prescriber=priya)
    client.portal_user = cleo
    client.save(update_fields=["portal_user"])
    today = timezone.localdate()
    MedicationOrder.objects.create(
        client=client,
        prescriber=priya,
        drug="ketamine",
        route="sublingual",
        unit="mg",
        dose_min=Decimal(200),
        dose_max=Decimal(300),
        sessions_authorised=6,
        starts_on=today - datetime.timedelta(days=5),
        ends_on=today + datetime.timedelta(days=60),
    )
    start = timezone.now() - datetime.timedelta(minutes=10)
    visit = Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.IN_PERSON,
        room=Room.objects.create(name="Garden Room"),
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=150),
        clinician=tess,
        created_by=tess,
    )
    return {"tess": tess, "cleo": cleo, "client": client, "visit": visit}


def _watched(open_page, user) -> Page:
    page = open_page(user)
    page.context.add_init_script(RECORD_VIOLATIONS)
    return page


def _violations(page: Page) -> list[str]:
    return page.evaluate("window.__cspViolations || []")


def test_the_main_pages_run_under_the_policy(open_page, people, console_errors):
    client, visit = people["client"], people["visit"]
    staff = _watched(open_page, people["tess"])
    found = []
    for path, heading in [
        ("/", None),
        (f"/clients/{client.pk}/", "Robin"),
        (f"/clients/{client.pk}/visits/{visit.pk}/runbook/", None),
        ("/calendar/", None),
        ("/outcomes/", "Practice outcomes"),
        # allauth's own pages that the project uses (their scripts are static files).
        ("/accounts/email/", None),
        ("/accounts/2fa/", None),
        ("/accounts/sessions/", None),
    ]:
        response = staff.goto(path)
        assert response is not None and response.ok, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        if heading:
            expect(staff.locator("h1")).to_contain_text(heading)
        staff.wait_for_load_state("networkidle")
        found += [f"{path}: {v}" for v in _violations(staff)]
    # The runbook's live panel and the idle timer run from kapflow.js: a page that works with
    # them is the proof that moving scripts out of the templates kept them working.
    staff.goto(f"/clients/{client.pk}/visits/{visit.pk}/runbook/")
    expect(staff.locator("body")).to_have_attribute("data-idle-minutes", "30")

    visitor = _watched(open_page, None)
    for path in ("/accounts/login/", "/accounts/password/reset/", "/start/"):
        response = visitor.goto(path)
        assert response is not None and response.ok, path
        visitor.wait_for_load_state("networkidle")
        found += [f"{path}: {v}" for v in _violations(visitor)]

    portal = _watched(open_page, people["cleo"])
    response = portal.goto("/portal/")
    assert response is not None and response.ok
    portal.wait_for_load_state("networkidle")
    found += [f"/portal/: {v}" for v in _violations(portal)]

    assert found == []
    assert console_errors == []


def test_the_feed_address_is_still_selected_on_focus(open_page, people, console_errors):
    """What the template's onfocus attribute did, now done by kapflow.js."""
    CalendarFeed.objects.create(user=people["tess"], token="t" * 43)
    page = _watched(open_page, people["tess"])
    page.goto("/calendar/feed/")
    address = page.locator("#feed-url")
    address.focus()
    assert page.evaluate("document.activeElement.selectionEnd - document.activeElement.selectionStart") > 40
    assert _violations(page) == [] and console_errors == []


def test_the_watch_would_see_an_inline_script(open_page, people):
    """The check above can fail: an inline script put into a page is refused and recorded."""
    page = _watched(open_page, people["tess"])
    page.goto("/")
    page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.ran = 1";
        document.body.appendChild(s); }"""
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.ran") is None
    assert any("script-src" in v for v in _violations(page))
