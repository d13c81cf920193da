import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.pages import h1

pytestmark = pytest.mark.browser


def test_a_therapist_outside_the_care_team_gets_not_found(open_page):
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")
    colin = factories.make_user("Colin Colleague", roles=("is_therapist",), email="colin@example.org")
    avery = factories.make_client(first_name="Avery", last_name="Alvarez", therapist=tess)

    page = open_page(colin)
    for path in (f"/clients/{avery.pk}/", f"/clients/{avery.pk}/edit/", f"/clients/{avery.pk}/care-team/"):
        response = page.goto(path)
        assert response.status == 404, path
        expect(h1(page)).to_have_text("We could not find that page")
        expect(page).to_have_title("Not found · Our practice")
        html = page.content()
        assert "Avery" not in html and "Alvarez" not in html, path

    # Nor is she on his caseload.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    expect(h1(page)).to_have_text("Your clients")
    expect(page.locator("#caseload-rows")).to_contain_text("No clients yet.")
    assert "Alvarez" not in page.content()
