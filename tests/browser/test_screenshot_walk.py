"""Every page each role can reach, photographed (test-artifacts/screenshots/<role>-<page>.png)
and checked for the basics: one <h1>, a <main> landmark, a label on every visible form
control, no sideways scrolling at 1280 px, and no console errors.

Look at the screenshots after a change to a template or the stylesheet: the checks here catch
what is missing, not what is confusing."""

import datetime
import re
from dataclasses import dataclass

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.clients.models import OutsideProvider
from kapflow.inquiries.models import Inquiry
from tests import factories
from tests.browser.conftest import SCREENSHOTS
from tests.browser.pages import PASSWORD, accessibility_problems, sign_in_through_form

pytestmark = pytest.mark.browser

NOT_FOUND_ERROR = "Failed to load resource: the server responded with a status of 404 (Not Found)"


@dataclass
class Practice:
    """A small practice with something on every page."""

    ada: object
    tess: object
    priya: object
    cora: object
    avery: object
    mia: object
    riley: Inquiry


def _practice() -> Practice:
    ada = factories.make_user("Ada Admin", roles=("is_practice_admin",), email="ada@example.org")
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")
    tess.credentials = "LMFT"
    tess.save(update_fields=["credentials"])
    priya = factories.make_user("Priya Prescriber", roles=("is_prescriber",), email="priya@example.org")
    priya.credentials = "PMHNP"
    priya.save(update_fields=["credentials"])
    cora = factories.make_user("Cora Coordinator", roles=("is_coordinator",), email="cora@example.org")
    colin = factories.make_user("Colin Colleague", roles=("is_therapist",), email="colin@example.org")
    factories.make_user("Ivy Invited", roles=("is_therapist",), email="ivy@example.org", mfa=False)

    today = timezone.localdate()
    avery = factories.make_client(
        first_name="Avery",
        last_name="Alvarez",
        preferred_name="Ave",
        pronouns="they/them",
        therapist=tess,
        prescriber=priya,
        email="avery@example.org",
        stage="preparation",
        address_line="12 Elm Street",
        city="Pasadena",
        region="CA",
        postal_code="91101",
    )
    factories.add_emergency_contact(avery)
    OutsideProvider.objects.create(
        client=avery,
        name="Dr. Lee Park",
        kind=OutsideProvider.Kind.PSYCHIATRIST,
        organisation="Valley Psychiatry",
        phone="(818) 555-0177",
        release=OutsideProvider.Release.SIGNED,
        release_expires_on=today + datetime.timedelta(days=180),
    )
    OutsideProvider.objects.create(
        client=avery, name="Sam Ortiz", kind=OutsideProvider.Kind.THERAPIST, release="requested"
    )
    mia = factories.make_client(first_name="Mia", last_name="Moreno", age=16, therapist=tess)
    factories.make_client(first_name="Bo", last_name="Bishop", therapist=tess, stage="course")
    factories.make_client(first_name="Cam", last_name="Castillo", therapist=tess, stage="discharged")
    factories.make_client(first_name="Olive", last_name="Okafor", therapist=colin)

    Inquiry.objects.create(
        first_name="Avery",
        last_name="Alvarez",
        email="avery@example.org",
        preferred_contact="email",
        message="I have tried two antidepressants and would like to hear about ketamine-assisted therapy.",
        status=Inquiry.Status.CONVERTED,
        client=avery,
        handled_by=cora,
        received_at=timezone.now() - datetime.timedelta(days=20),
    )
    Inquiry.objects.create(
        first_name="Jordan",
        last_name="Jones",
        phone="(626) 555-0150",
        preferred_time="evening",
        message="Asking for my partner: do you work with couples?",
        status=Inquiry.Status.CONTACTED,
        triage_note="Left a voicemail on Monday.",
        handled_by=cora,
        received_at=timezone.now() - datetime.timedelta(days=2),
    )
    riley = Inquiry.objects.create(
        first_name="Riley",
        last_name="Rivera",
        phone="(818) 555-0123",
        preferred_contact="text",
        source="provider",
        message="My therapist mentioned ketamine-assisted therapy for depression. Could we talk?",
    )
    return Practice(ada=ada, tess=tess, priya=priya, cora=cora, avery=avery, mia=mia, riley=riley)


def _client_pages(client, prefix: str = "") -> list[tuple[str, str]]:
    return [
        (f"{prefix}chart", f"/clients/{client.pk}/"),
        (f"{prefix}client-edit", f"/clients/{client.pk}/edit/"),
        (f"{prefix}care-team", f"/clients/{client.pk}/care-team/"),
        (f"{prefix}add-guardian", f"/clients/{client.pk}/guardians/new/"),
        (f"{prefix}add-emergency-contact", f"/clients/{client.pk}/emergency-contacts/new/"),
        (f"{prefix}add-provider", f"/clients/{client.pk}/providers/new/"),
    ]


def _pages(role: str, practice: Practice) -> list[tuple[str, str]]:
    """(name, path) for every page `role` can reach, in the order a person might open them."""
    pages = [("dashboard", "/"), ("clients", "/clients/"), ("client-new", "/clients/new/")]
    pages += _client_pages(practice.avery)
    if role != "prescriber":  # Mia's care team is her therapist alone
        pages.append(("chart-minor", f"/clients/{practice.mia.pk}/"))
    if role in ("admin", "coordinator"):
        riley = practice.riley.pk
        pages += [
            ("inquiries", "/inquiries/"),
            ("inquiry", f"/inquiries/{riley}/"),
            ("inquiry-convert", f"/inquiries/{riley}/convert/"),
        ]
    if role == "admin":
        pages += [
            ("staff", "/staff/"),
            ("staff-invite", "/staff/invite/"),
            ("staff-edit", f"/staff/{practice.tess.pk}/"),
            ("settings", "/settings/"),
            ("audit", "/audit/"),
        ]
    pages += [
        ("two-factor", "/accounts/2fa/"),
        ("start", "/start/"),
        ("start-thanks", "/start/thanks/"),
        ("not-found", "/no-such-page/"),
    ]
    return pages


def _check(page, name: str, console_errors: list[str], *, expected_status: int = 200) -> list[str]:
    """Photograph the page and return what is wrong with it, each line naming the page."""
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    problems = accessibility_problems(page)
    errors = [e for e in console_errors if not (expected_status == 404 and NOT_FOUND_ERROR in e)]
    problems += [f"console error: {error}" for error in errors]
    console_errors.clear()
    return [f"{name} ({page.url}): {problem}" for problem in problems]


@pytest.mark.parametrize("role", ["admin", "therapist", "prescriber", "coordinator"])
def test_every_page_a_role_can_reach(role, open_page, console_errors):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    practice = _practice()
    user = {"admin": practice.ada, "therapist": practice.tess, "prescriber": practice.priya}.get(
        role, practice.cora
    )
    page = open_page(user)
    problems = []
    for name, path in _pages(role, practice):
        expected = 404 if name == "not-found" else 200
        response = page.goto(path)
        assert response.status == expected, f"{role} {path}: {response.status}"
        problems += _check(page, f"{role}-{name}", console_errors, expected_status=expected)
    assert problems == [], "\n".join(problems)


def test_every_page_on_the_way_in(open_page, console_errors, totp_tolerance):
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
