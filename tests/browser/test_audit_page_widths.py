"""The audit page in a real browser (issue 13, item 3): no sideways scrolling at 375, 768, 1024
and 1440 pixels wide, with long values in the rows (paths, request ids, many clients), one h1,
a label on every filter, and each row's technical record folded away until asked for.

With AUDIT_SHOTS=<folder> set, a full-page screenshot at each width is saved there."""

import datetime
import os
from pathlib import Path

import pytest
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record
from tests import factories
from tests.browser.pages import accessibility_problems

pytestmark = pytest.mark.browser
WIDTHS = (375, 768, 1024, 1440)
# Any element of the page's content that scrolls sideways inside itself (a table in a scrolling
# wrapper is a sideways scroll too, only a smaller one).
SIDEWAYS_SCROLLERS = """
() => [...document.querySelectorAll("main *")]
  .filter((el) => el.scrollWidth > el.clientWidth + 1)
  .filter((el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX))
  .map((el) => el.tagName.toLowerCase() + "." + el.className + " " + el.scrollWidth + ">" + el.clientWidth)
"""


@pytest.fixture
def log(transactional_db):
    ada = factories.make_user("Ada Admin", roles=("is_practice_admin",), email="ada@example.org")
    dana = factories.make_user("Dana Whitfield", roles=("is_therapist",), email="dana.whitfield@example.org")
    priya = factories.make_user("Priya Raman", roles=("is_prescriber",), email="priya@example.org")
    maria = factories.make_client(first_name="Maria", last_name="Alvarez", therapist=dana, prescriber=priya)
    others = [factories.make_client(first_name=f"Client{n}", last_name=f"Longname{n}") for n in range(6)]
    now = timezone.now() - datetime.timedelta(minutes=5)
    audit_record(actor=dana, action="kapflow.dosing.runbook.viewed", client=maria, obj=maria)
    audit_record(actor=priya, action="kapflow.clients.chart.viewed", client=maria, obj=maria)
    audit_record(
        action="kapflow.accounts.signin.failed", obj=dana, detail={"step": "password", "account_exists": True}
    )
    audit_record(
        actor=dana, action="kapflow.dashboard.viewed", detail={"clients": [maria.pk, *(c.pk for c in others)]}
    )
    audit_record(
        actor=priya,
        action="kapflow.audit.access.denied",
        detail={
            "path": "/clients/987654321/runbook/123456789/entries/vitals/aVeryLongSegmentWithoutAnyBreaks/",
            "method": "GET",
            "status": 404,
            "client_id": "987654321",
        },
    )
    AuditEvent.objects.create(
        at=now,
        actor=dana,
        action="kapflow.clients.client.updated",
        client=maria,
        request_id="b7c1e9f0a2d34c5e8f7a6b5c4d3e2f1a",
        ip_address="2001:db8:85a3::8a2e:370:7334",
        detail={"changed": ["address", "date_of_birth", "email", "phone", "preferred_contact", "pronouns"]},
    )
    return ada


@pytest.mark.parametrize("width", WIDTHS)
def test_the_audit_page_fits_every_width(open_page, log, width):
    page = open_page(log)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/audit/")
    assert page.locator("main table tbody tr").count() >= 6
    assert accessibility_problems(page) == []
    assert page.evaluate(SIDEWAYS_SCROLLERS) == []
    # The technical record opens, and the page still does not scroll sideways.
    page.locator("table.audit-log details summary").nth(2).click()
    assert page.locator("table.audit-log details[open] code").first.is_visible()
    assert accessibility_problems(page) == []
    assert page.evaluate(SIDEWAYS_SCROLLERS) == []
    shots = os.environ.get("AUDIT_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / f"audit-{width}.png"), full_page=True)
