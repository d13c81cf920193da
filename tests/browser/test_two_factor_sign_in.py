import re

import pytest
from allauth.mfa.models import Authenticator
from playwright.sync_api import expect

from kapflow.clients.models import CareTeamMember
from tests import factories
from tests.browser.pages import PASSWORD, h1, sign_in_through_form

pytestmark = pytest.mark.browser

TESS_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_a_therapist_signs_in_with_two_factor_and_adds_the_prescriber(open_page, console_errors):
    tess = factories.make_user(
        "Tess Therapist", roles=("is_therapist",), email="tess@example.org", mfa=False, password=PASSWORD
    )
    factories.enrol_totp(tess, TESS_SECRET)
    priya = factories.make_user("Priya Prescriber", roles=("is_prescriber",), email="priya@example.org")
    avery = factories.make_client(first_name="Avery", last_name="Alvarez", therapist=tess)
    factories.make_client(first_name="Bo", last_name="Bishop", therapist=tess)

    page = open_page()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("tess@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    # The password alone is not enough: allauth asks for the authenticator app's code.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    expect(h1(page)).to_have_text("Two-Factor Authentication")
    page.get_by_label("Code").fill(factories.totp_code(TESS_SECRET))
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(h1(page)).to_have_text("Good to see you, Tess Therapist")

    # Find the client by typing in the search box: htmx swaps the rows in, no page load.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    expect(h1(page)).to_have_text("Your clients")
    rows = page.locator("#caseload-rows")
    expect(rows.get_by_role("link", name="Bishop, Bo")).to_be_visible()
    page.evaluate("window.kapflowTestSamePage = true")
    page.get_by_role("searchbox", name="Search clients").press_sequentially("Alva")
    expect(rows.get_by_role("link", name="Bishop, Bo")).to_have_count(0)
    expect(rows.get_by_role("link", name="Alvarez, Avery")).to_be_visible()
    expect(rows).to_contain_text("1 client found.")
    expect(page).to_have_url(re.compile(r"/clients/\?q=Alva"))
    assert page.evaluate("window.kapflowTestSamePage") is True, "the search reloaded the page"

    rows.get_by_role("link", name="Alvarez, Avery").click()
    expect(
        page.get_by_role("region", name="Client", exact=True).get_by_role("heading", level=1)
    ).to_have_text("Avery Alvarez")
    page.get_by_role("link", name="Care team", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/clients/{avery.pk}/care-team/$"))

    page.get_by_label("Staff member").select_option(label="Priya Prescriber")
    page.get_by_label("Role").select_option(label="Prescriber")
    page.get_by_role("button", name="Add to the care team").click()
    # A care-team change is confirmed before it is made, and names who made it.
    expect(page.get_by_role("heading", level=2)).to_have_text(
        "Add Priya Prescriber to Avery Alvarez's care team as prescriber?"
    )
    page.get_by_role("button", name="Yes, add Priya Prescriber").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Priya Prescriber is now on the care team as prescriber."
    )
    team = page.get_by_role("region", name="Care team")
    expect(team.get_by_role("listitem").filter(has_text="Priya Prescriber")).to_contain_text("Prescriber")
    expect(team.get_by_role("listitem").filter(has_text="Priya Prescriber")).to_contain_text(
        "added by Tess Therapist"
    )
    expect(team.get_by_role("listitem").filter(has_text="Primary therapist")).to_contain_text(
        "Tess Therapist"
    )
    assert avery.care_team.get(user=priya).role == CareTeamMember.Role.PRESCRIBER
    assert console_errors == []


def test_first_sign_in_without_an_authenticator_sets_one_up(open_page, console_errors):
    nia = factories.make_user(
        "Nia Newcomer", roles=("is_therapist",), email="nia@example.org", mfa=False, password=PASSWORD
    )

    page = open_page()
    sign_in_through_form(page, "nia@example.org")

    # Every page sends a staff member without an authenticator to set one up, straight away:
    # allauth's "Confirm Access" (the password again) is skipped moments after signing in.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    expect(h1(page)).to_have_text("Activate Authenticator App")
    secret = page.locator("#authenticator_secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{16,}=*", secret), secret
    page.get_by_label("Authenticator code").fill(factories.totp_code(secret))
    page.get_by_role("button", name="Activate").click()
    expect(page).not_to_have_url(re.compile(r"/totp/activate/"))

    # allauth hands out recovery codes with the first authenticator and shows them at once,
    # still without asking for the password again.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    expect(h1(page)).to_have_text("Recovery Codes")
    codes = page.get_by_label("Unused codes").input_value().split()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-z]{8}", code) for code in codes), codes
    assert set(Authenticator.objects.filter(user=nia).values_list("type", flat=True)) == {
        Authenticator.Type.TOTP,
        Authenticator.Type.RECOVERY_CODES,
    }

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    expect(page).to_have_url(re.compile(r"/clients/$"))
    expect(h1(page)).to_have_text("Your clients")
    assert console_errors == []
