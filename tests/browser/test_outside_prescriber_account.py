"""The invited outside prescriber in the browser (docs/access.md, "The invited outside
prescriber"): their dashboard lists their own client and the prescriber's lists, the navigation
offers "Today" alone, the client's medical summary opens, and the client's chart is refused as
"not found". Screenshots (with KAPFLOW_SCREENSHOTS=1) go to test-artifacts/screenshots/."""

import pytest
from playwright.sync_api import expect

from kapflow.clients.models import CareTeamMember
from kapflow.medical.models import Screening
from tests import factories
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


def test_an_outside_prescriber_sees_their_clients_medical_pages_and_nothing_else(open_page):
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",))
    oscar = factories.make_user("Oscar Outside", roles=("is_prescriber", "outside_practice"))
    avery = factories.make_client(therapist=tess)
    olive = factories.make_client(first_name="Olive", last_name="Okafor", therapist=tess)
    CareTeamMember.objects.create(client=avery, user=oscar, role=CareTeamMember.Role.PRESCRIBER)
    for client in (avery, olive):
        Screening.objects.create(client=client, answers={}, age=35)

    page = open_page(oscar)
    page.goto("/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_count(1)
    expect(nav.get_by_role("link", name="Today")).to_be_visible()
    clients = page.locator("section", has=page.get_by_role("heading", name="Your clients"))
    expect(clients.get_by_role("link", name=avery.display_name)).to_be_visible()
    expect(page.get_by_role("heading", name="Clearances waiting")).to_be_visible()
    expect(page.get_by_text("Olive")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "outside-prescriber-dashboard.png"), full_page=True)

    clients.get_by_role("link", name=avery.display_name).click()
    expect(page).to_have_url(f"{page.url.split('/clients/')[0]}/clients/{avery.pk}/medical/")

    response = page.goto(f"/clients/{avery.pk}/")
    assert response.status == 404
    page.screenshot(path=str(SCREENSHOTS / "outside-prescriber-chart-refused.png"), full_page=True)
    response = page.goto("/calendar/")
    assert response.status == 403
    page.screenshot(path=str(SCREENSHOTS / "outside-prescriber-calendar-refused.png"), full_page=True)
