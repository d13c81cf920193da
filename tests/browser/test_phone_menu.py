"""On a phone the staff menu folds behind a "Menu" button, so that the page starts on the first
screen (the header with ten links took 450 px before it); on a desk it is always open."""

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = pytest.mark.browser


def test_the_menu_folds_on_a_phone_and_opens_with_one_tap(open_page):
    ada = factories.make_user("Ada Admin", roles=("is_practice_admin",), email="ada@example.org")
    page = open_page(ada)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/")
    menu = page.get_by_role("button", name="Menu")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(main_nav).to_be_hidden()
    assert page.locator("main").bounding_box()["y"] < 200  # the page starts on the first screen

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(main_nav.get_by_role("link", name="Audit log")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    box = main_nav.get_by_role("link", name="Audit log").bounding_box()
    assert box["height"] >= 44  # a target for a thumb

    page.set_viewport_size({"width": 1024, "height": 800})
    expect(menu).to_be_hidden()
    expect(main_nav.get_by_role("link", name="Clients")).to_be_visible()
