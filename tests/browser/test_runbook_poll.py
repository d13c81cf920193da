"""The runbook's live panel in the browser (issue 12, item 4): its 30-second poll sends back the
ETag of the panel it holds, a 304 Not Modified keeps the panel as it is (htmx would otherwise
swap in the empty body and the panel would vanish), and a change on the server reaches the page
at the next poll. The page's clock is Playwright's, so that a poll is 30 s away, not 30 s of
waiting."""

import datetime

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.dosing.services.checkin import checklist_record
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests import factories

pytestmark = pytest.mark.browser


def _next_minute() -> datetime.datetime:
    now = timezone.now()
    return now.replace(second=1, microsecond=0) + datetime.timedelta(minutes=1)


def test_the_live_panel_is_kept_on_304_and_refreshed_when_the_runbook_changes(transactional_db, open_page):
    # The panel shows the time to the minute: the server's clock starts a fresh minute, so that
    # the test's polls (a few seconds of real time) fall within it.
    with time_machine.travel(_next_minute(), tick=True):
        tess = factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")
        priya = factories.make_user("Priya Prescriber", roles=("is_prescriber",), email="priya@example.org")
        cora = factories.make_user("Cora Coordinator", roles=("is_coordinator",), email="cora@example.org")
        client = factories.make_client(first_name="Robin", therapist=tess, prescriber=priya)
        start = timezone.now() - datetime.timedelta(minutes=10)
        visit = Visit.objects.create(
            client=client,
            kind=Visit.Kind.MEDICATION,
            modality=Visit.Modality.IN_PERSON,
            room=Room.objects.create(name="Garden Room"),
            starts_at=start,
            ends_at=start + datetime.timedelta(minutes=150),
            clinician=tess,
            created_by=cora,
            status=Visit.Status.SCHEDULED,
        )
        page = open_page(tess)
        page.clock.install()
        page.goto(f"/clients/{client.pk}/visits/{visit.pk}/runbook/")
        checklist = page.locator("#runbook-live .runbook-strip li").filter(has_text="Day-of checklist")
        expect(checklist).to_contain_text("Blocked")

        # Each poll's answer is handled by the page (htmx:afterRequest) before the clock jumps
        # again: under load the answer can arrive after the response event, and a jump taken
        # before htmx has set up the swapped panel's next 30 s would pass over it.
        page.evaluate(
            "() => { window.kapflowPolls = 0;"
            " document.addEventListener('htmx:afterRequest', () => { window.kapflowPolls += 1; }); }"
        )
        polls = [0]

        def next_poll():
            with page.expect_response(lambda r: "/runbook/live/" in r.url) as answer:
                page.clock.run_for(30_000)
            polls[0] += 1
            for _ in range(100):  # real time: up to 10 s for the page to handle the answer
                if page.evaluate("() => window.kapflowPolls") >= polls[0]:
                    break
                page.wait_for_timeout(100)
            page.clock.run_for(100)  # htmx's settle step, on the faked timers
            return answer.value

        first = next_poll()
        assert first.status == 200 and first.headers["etag"]
        assert first.request.headers.get("x-kapflow-poll") == "1"
        second = next_poll()
        assert second.request.headers.get("if-none-match") == first.headers["etag"]
        assert second.status == 304
        # Kept as it was: still there, still polling.
        expect(checklist).to_contain_text("Blocked")
        expect(page.locator("#runbook-live")).to_have_attribute("hx-trigger", "every 30s")

        now = timezone.now()
        checklist_record(
            actor=tess,
            visit=visit,
            transport_without_driving=True,
            transport_detail="Partner drives",
            last_food_at=now - datetime.timedelta(hours=8),
            last_liquid_at=now - datetime.timedelta(hours=3),
            substances=[],
            pregnancy="not_applicable",
            practice=Practice.load(),
        )
        third = next_poll()
        assert third.status == 200 and third.headers["etag"] != first.headers["etag"]
        expect(checklist).to_contain_text("Passes")
        fourth = next_poll()
        assert fourth.status == 304
        expect(checklist).to_contain_text("Passes")
