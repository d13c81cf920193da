"""Every page each role can reach, photographed by `make screenshots`
(test-artifacts/screenshots/<role>-<page>-<width>.png, at a phone's width and a desktop's) and
checked: one <h1>, a <main> landmark, a label on every visible form control, no console errors,
no sideways scrolling at 375, 768, 1024 and 1440 px, and no axe-core violation
(tests/browser/walk.py says which pages and how).

The staff and the portal are walked on the demo practice, with its session of the day under way
and the demo banner showing (two-factor sign-in switched off, as `make run` does); the way in is
walked as a practice with two-factor sign-in required sees it.

Look at the screenshots after a change to a template or the stylesheet: the checks here catch
what is missing, not what is confusing."""

import re
import time

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser import walk
from tests.browser.conftest import SCREENSHOTS
from tests.browser.pages import PASSWORD, accessibility_problems, sign_in_through_form

pytestmark = pytest.mark.browser

NOT_FOUND_ERROR = "Failed to load resource: the server responded with a status of 404 (Not Found)"


def _check(
    page,
    name: str,
    console_errors: list[str],
    *,
    expected_status: int = 200,
    checked: bool = True,
    width=None,
) -> list[str]:
    """Return what is wrong with the page, each line naming the page; with `checked`, run axe on
    it and photograph it at `width` (the staff's desk by default)."""
    shot = (SCREENSHOTS, width or walk.STAFF_SCREENSHOT_WIDTH) if checked else None
    problems = accessibility_problems(page) + walk.check_widths(page, name, axe=checked, screenshot=shot)
    errors = [e for e in console_errors if not (expected_status == 404 and NOT_FOUND_ERROR in e)]
    problems += [f"console error: {error}" for error in errors]
    console_errors.clear()
    return [f"{name} ({page.url}): {problem}" for problem in problems]


def _walk(page, who: str, pages: list[walk.WalkedPage], console_errors: list[str], width=None) -> list[str]:
    problems = []
    for walked in pages:
        expected = 404 if walked.name == "not-found" else 200
        response = page.goto(walked.path)
        assert response.status == expected, f"{who} {walked.path}: {response.status}"
        problems += _check(
            page,
            f"{who}-{walked.name}",
            console_errors,
            expected_status=expected,
            checked=walked.checked,
            width=width,
        )
    return problems


def test_the_walk_opens_every_page_in_the_access_matrix():
    assert walk.unwalked_page_names() == set(), "add the page to tests/browser/walk.py"


@pytest.mark.parametrize("role", ["admin", "therapist", "prescriber", "coordinator", "portal"])
def test_every_page_a_role_can_reach(role, open_page, console_errors, settings):
    """Staff roles one by one; "portal" is the client's portal, then a guardian's."""
    began = time.monotonic()
    settings.MFA_REQUIRED = False  # the demo's staff have no authenticator; the banner shows
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    demo = walk.demo_practice()
    if role == "portal":
        problems = []
        for who, user in [("client", demo.portal_client), ("guardian", demo.guardian)]:
            pages = walk.portal_pages(who, demo)
            problems += _walk(open_page(user), who, pages, console_errors, width=walk.PORTAL_SCREENSHOT_WIDTH)
    else:
        problems = _walk(open_page(demo.user(role)), role, walk.staff_pages(role, demo), console_errors)
    print(f"{role}: walked in {time.monotonic() - began:.1f} s")
    assert problems == [], "\n".join(problems)


def test_every_page_on_the_way_in(open_page, console_errors):
    """What someone sees before they are signed in: the public pages, the sign-in form, the
    authenticator code, and the first-time set-up of an authenticator."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    secret = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U"
    tess = factories.make_user(
        "Tess Therapist", roles=("is_therapist",), email="tess@example.org", mfa=False, password=PASSWORD
    )
    factories.enrol_totp(tess, secret)
    factories.make_user(
        "Nia Newcomer", roles=("is_therapist",), email="nia@example.org", mfa=False, password=PASSWORD
    )
    page = open_page()
    problems = []
    for name, path, status in [
        ("start", "/start/", 200),
        ("start-thanks", "/start/thanks/", 200),
        ("login", "/accounts/login/", 200),
        ("not-found", "/no-such-page/", 404),
        ("staff-page-signed-out", "/clients/", 200),
        ("staff-welcome-expired", "/staff/welcome/x/expired-key/", 200),
        ("portal-invitation-expired", "/portal/welcome/expired-token/", 200),
        ("portal-access-ended", "/portal/access-ended/", 200),
    ]:
        response = page.goto(path)
        assert response.status == status, f"{path}: {response.status}"
        problems += _check(page, f"visitor-{name}", console_errors, expected_status=status)

    # A start page with mistakes in it.
    page.goto("/start/")
    page.get_by_label("How should we contact you?").select_option(label="Email")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_be_visible()
    problems += _check(page, "visitor-start-errors", console_errors)

    # A wrong password.
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("tess@example.org")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    problems += _check(page, "visitor-login-wrong-password", console_errors)

    # The authenticator code, asked after the password.
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    problems += _check(page, "visitor-two-factor-code", console_errors)

    # A newcomer's first sign-in: set up the app, keep the recovery codes.
    newcomer = open_page()
    sign_in_through_form(newcomer, "nia@example.org")
    expect(newcomer).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    problems += _check(newcomer, "newcomer-totp-activate", console_errors)
    code = factories.totp_code(newcomer.locator("#authenticator_secret").input_value())
    newcomer.get_by_label("Authenticator code").fill(code)
    newcomer.get_by_role("button", name="Activate").click()
    expect(newcomer).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    problems += _check(newcomer, "newcomer-recovery-codes", console_errors)
    assert problems == [], "\n".join(problems)
