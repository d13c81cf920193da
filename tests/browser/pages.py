"""What the browser tests do the same way more than once: signing in through the real form, and
the basic accessibility checks run on every page of the screenshot walk."""

import re

from playwright.sync_api import Page, expect

from tests.factories import totp_code

PASSWORD = "a long test password 123"


def h1(page: Page):
    return page.get_by_role("heading", level=1)


def sign_in_through_form(page: Page, email: str, *, password: str = PASSWORD, totp_secret: str | None = None):
    """Sign in at /accounts/login/ as a person would; with `totp_secret`, answer allauth's
    request for the authenticator code too."""
    page.goto("/accounts/login/")
    expect(h1(page)).to_have_text("Sign in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    if totp_secret is not None:
        expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
        expect(h1(page)).to_have_text("Two-Factor Authentication")
        page.get_by_label("Code").fill(totp_code(totp_secret))
        page.get_by_role("button", name="Sign In", exact=True).click()


# Run in the page: what a screen-reader or keyboard user would trip over first.
_ACCESSIBILITY_SCRIPT = """
() => {
  const visible = (el) => {
    const style = getComputedStyle(el);
    return el.getClientRects().length > 0 && style.visibility !== "hidden" && style.display !== "none";
  };
  const describe = (el) => el.outerHTML.replace(/\\s+/g, " ").slice(0, 160);
  const unlabelled = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (["hidden", "submit", "button", "reset", "image"].includes(el.type) || !visible(el)) continue;
    const byLabel = Array.from(el.labels || []).some((label) => label.textContent.trim() !== "");
    const byAria = (el.getAttribute("aria-label") || "").trim() !== "" ||
      (el.getAttribute("aria-labelledby") || "").split(/\\s+/).some(
        (id) => id && document.getElementById(id) && document.getElementById(id).textContent.trim() !== "");
    if (!byLabel && !byAria) unlabelled.push(describe(el));
  }
  const root = document.documentElement;
  return {
    h1: Array.from(document.querySelectorAll("h1")).map((el) => el.textContent.trim()),
    main: document.querySelectorAll("main, [role=main]").length,
    unlabelled,
    overflow: root.scrollWidth > root.clientWidth ? root.scrollWidth - root.clientWidth : 0,
  };
}
"""


def accessibility_problems(page: Page) -> list[str]:
    """Exactly one <h1>, a <main> landmark, a label for every visible form control, and no
    sideways scrolling at the test's viewport width."""
    found = page.evaluate(_ACCESSIBILITY_SCRIPT)
    problems = []
    if len(found["h1"]) != 1:
        problems.append(f"{len(found['h1'])} <h1> elements, not one: {found['h1']}")
    if found["main"] != 1:
        problems.append(f"{found['main']} <main> landmarks, not one")
    problems += [f"no label for {control}" for control in found["unlabelled"]]
    if found["overflow"]:
        problems.append(f"the page scrolls sideways by {found['overflow']}px")
    return problems
