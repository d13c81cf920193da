"""Issue 18 in the browser: from a completed session to a paid invoice and a downloaded superbill
(docs/billing.md, docs/superbills.md, docs/good-faith-estimate.md).

The practice's fee schedule, its tax ID and NPI, and its clinicians' NPIs are set; the therapist
has recorded a diagnosis and signs the progress note of a therapy session, which charges and
invoices it. The coordinator opens Billing, sees what the client owes, opens the invoice, is
told what to fix when the amount is more than is owed, and records a card payment: the invoice
says Paid. The client signs in to the portal, sees the statement paid, and downloads the
superbill (the code, the fee, the diagnosis, the NPIs and the amount paid in its text) and their
Good Faith Estimate, given when the course plan was written.

Each page is checked for console errors, for the basic accessibility rules and by axe-core for
serious problems; with `make screenshots` each is photographed into
test-artifacts/screenshots/billing/."""

import datetime
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from kapflow.billing import diagnoses
from kapflow.billing.models import Diagnosis, Estimate, Fee, Invoice
from kapflow.pathway import services as pathway_services
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories
from tests.browser import walk
from tests.browser.conftest import SCREENSHOTS, TAKE_SCREENSHOTS
from tests.browser.pages import accessibility_problems, h1
from tests.test_estimates import plan_form

pytestmark = pytest.mark.browser

SHOTS = SCREENSHOTS / "billing"
PRACTICE_NPI, TESS_NPI, PRIYA_NPI, TIN = "1558598797", "1234567893", "1245319599", "12-3456789"
# What each kind of visit bills (a medication session: the prescriber's E/M code and two hours of
# monitoring); a therapy session of 53 minutes or more bills 90837 at $180.00.
FEES = [
    ("consultation", 0, "90791", 1, "300.00", "Psychiatric diagnostic evaluation"),
    ("medical_evaluation", 0, "99204", 1, "350.00", "Medical evaluation, new patient"),
    ("preparation", 0, "90837", 1, "200.00", "Preparation session, 60 minutes"),
    ("medication", 0, "99214", 1, "250.00", "Prescriber's visit on the day"),
    ("medication", 0, "0820T", 2, "400.00", "Monitoring during the session, 2 hours"),
    ("integration", 0, "90837", 1, "200.00", "Integration session, 60 minutes"),
    ("progress_review", 0, "90834", 1, "150.00", "Progress review"),
    ("therapy", 0, "90834", 1, "160.00", "Psychotherapy, 45 minutes"),
    ("therapy", 53, "90837", 1, "180.00", "Psychotherapy, 60 minutes"),
]


def shot(page: Page, name: str) -> None:
    """A picture of the whole page, when pictures are asked for (`make screenshots`)."""
    if TAKE_SCREENSHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def serious_problems(page: Page) -> list[str]:
    return accessibility_problems(page) + [
        problem for problem in walk.axe_problems(page) if re.search(r"\((serious|critical)\)", problem)
    ]


def downloaded(page: Page, link) -> bytes:
    """What following `link` downloads."""
    with page.expect_download() as download:
        link.click()
    return Path(download.value.path()).read_bytes()


def pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def people(transactional_db):
    make = factories.make_user
    return {
        "tess": make("Tess Therapist", roles=("is_therapist",), email="tess@example.org"),
        "priya": make("Priya Prescriber", roles=("is_prescriber",), email="priya@example.org"),
        "cora": make("Cora Coordinator", roles=("is_coordinator",), email="cora@example.org"),
        "ada": make("Ada Admin", roles=("is_practice_admin",), email="ada@example.org"),
        "cleo": make("Cleo Client", roles=("is_client",), email="cleo@example.org", mfa=False),
    }


@pytest.fixture
def practice_ready(people):
    """The fee schedule from a month ago, the practice's and the clinicians' identifiers. The lines
    are written straight to the table, since fee_set refuses a past day: dated today, a session
    that began before midnight in the practice's time zone (the test's session began 75 minutes
    ago) had no fee."""
    ada, tess, priya = people["ada"], people["tess"], people["priya"]
    for kind, minutes, code, units, amount, words in FEES:
        Fee.objects.create(
            kind=kind,
            minutes_from=minutes,
            code=code,
            units=units,
            description=words,
            amount=Decimal(amount),
            payer_dependent=code == "0820T",
            effective_from=timezone.localdate() - datetime.timedelta(days=30),
            created_by=ada,
        )
    Practice.objects.filter(pk=Practice.load().pk).update(
        name="Cedar KAP Clinic",
        address="12 Cedar Street, Pasadena, CA 91101",
        phone="(626) 555-0100",
        tax_id=TIN,
        npi=PRACTICE_NPI,
        taxonomy_code="261QM0801X",
    )
    for user, npi in ((tess, TESS_NPI), (priya, PRIYA_NPI)):
        user.npi = npi
        user.save(update_fields=["npi"])


@pytest.fixture
def avery(people, practice_ready):
    """Tess and Priya's client, with Cleo's portal account, an address (a superbill carries it),
    a diagnosis Tess recorded a month ago, and a course plan (which gives the estimate)."""
    tess = people["tess"]
    client = factories.make_client(
        first_name="Avery",
        last_name="Alvarez",
        therapist=tess,
        prescriber=people["priya"],
        stage="course",
        portal_user=people["cleo"],
        address_line="4 Elm Road",
        city="Glendale",
        region="CA",
        postal_code="91201",
        sex="female",
    )
    diagnoses.diagnosis_record(
        request=factories.ServiceRequest(tess),
        client=client,
        code="F33.1",
        description="Major depressive disorder, recurrent, moderate",
        diagnosed_on=timezone.localdate() - datetime.timedelta(days=30),
    )
    request = factories.ServiceRequest(tess)
    pathway_services.course_plan_save(request=request, client=client, form=plan_form())
    return client


def test_a_completed_session_is_paid_and_the_client_downloads_the_superbill(
    open_page, console_errors, people, avery
):
    tess, cora, cleo = people["tess"], people["cora"], people["cleo"]
    assert Diagnosis.objects.filter(client=avery, code="F33.1").exists()
    assert Estimate.objects.filter(client=avery, superseded_at__isnull=True).count() == 1

    # The therapist signs the note of today's 60-minute session: completed, charged, invoiced.
    starts = timezone.now() - datetime.timedelta(minutes=75)
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.THERAPY,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=60),
        modality=Visit.Modality.VIRTUAL,
        clinician=tess,
        created_by=tess,
    )
    factories.sign_note(visit, tess)
    invoice = Invoice.objects.get(client=avery)

    # The coordinator: Billing shows what Avery owes.
    page = open_page(cora)
    page.goto("/")
    page.get_by_role("navigation").get_by_role("link", name="Billing", exact=True).first.click()
    expect(h1(page)).to_have_text("Billing")
    expect(page.get_by_role("heading", name="Owed: $180.00")).to_be_visible()
    shot(page, "1-billing")
    assert serious_problems(page) == []
    page.get_by_role("link", name="Avery Alvarez").first.click()
    expect(page.get_by_role("heading", name="Billing: the client's account")).to_be_visible()
    invoice_link = page.get_by_role("link", name=f"Invoice {invoice.number}", exact=True)
    expect(invoice_link.locator("xpath=ancestor::tr")).to_contain_text("Owed")
    shot(page, "2-account")
    assert serious_problems(page) == []

    # The invoice: 90837 at $180.00; more than is owed comes back with what to fix.
    invoice_link.click()
    expect(page.get_by_role("heading", name=re.compile(rf"^Invoice {invoice.number}\b"))).to_be_visible()
    expect(page.get_by_role("table").first).to_contain_text("90837")
    payment = page.locator("form", has=page.get_by_role("button", name="Record the payment"))
    payment.get_by_label("Amount ($)").fill("200.00")
    payment.get_by_label("Card (taken outside kapflow)").check()
    payment.get_by_label("Reference").fill("Terminal 0042")
    payment.get_by_role("button", name="Record the payment").click()
    expect(page.get_by_text("$200.00 cannot be paid on it")).to_be_visible()
    expect(page.get_by_label("Amount ($)").first).to_have_value("200.00")
    shot(page, "3-invoice-payment-refused")
    assert serious_problems(page) == []

    payment = page.locator("form", has=page.get_by_role("button", name="Record the payment"))
    payment.get_by_label("Amount ($)").fill("180.00")
    payment.get_by_label("Card (taken outside kapflow)").check()
    payment.get_by_role("button", name="Record the payment").click()
    expect(page.get_by_role("heading", name=re.compile(rf"^Invoice {invoice.number}\b"))).to_contain_text(
        "Paid"
    )
    expect(page.get_by_role("table").nth(1)).to_contain_text("Card (taken outside kapflow)")
    shot(page, "4-invoice-paid")
    assert serious_problems(page) == []

    # The client: the statement is paid; the superbill carries everything an insurer matches.
    portal = open_page(cleo)
    portal.goto(reverse("portal:client_home", args=[avery.pk]))
    portal.get_by_role("link", name="Statements and superbills").click()
    expect(h1(portal)).to_have_text("Statements and superbills")
    row = portal.get_by_role("row", name=re.compile(rf"Invoice {invoice.number}\b"))
    expect(row).to_contain_text("Paid")
    expect(row).to_contain_text("$180.00")
    shot(portal, "5-portal-statements")
    assert serious_problems(portal) == []
    text = pdf_text(downloaded(portal, portal.get_by_role("link", name=re.compile("^Download PDF")).first))
    for expected in ("90837", "$180.00", "F33.1", PRACTICE_NPI, TESS_NPI, TIN):
        assert expected in text, expected
    assert re.search(r"Amount paid.*\$180\.00", text)

    portal.get_by_role("link", name=f"Invoice {invoice.number}", exact=True).click()
    expect(h1(portal)).to_contain_text("Paid")
    shot(portal, "6-portal-invoice")
    assert serious_problems(portal) == []

    # The Good Faith Estimate given when the plan was written: on the portal and as a PDF.
    portal.get_by_role("link", name="← Statements and superbills").click()
    expect(h1(portal)).to_have_text("Statements and superbills")
    portal.get_by_role("link", name=re.compile("care is expected to cost")).click()
    expect(h1(portal)).to_have_text("Good Faith Estimates")
    shot(portal, "7-portal-estimates")
    assert serious_problems(portal) == []
    portal.get_by_role("link", name=re.compile("^Estimate of")).first.click()
    expect(h1(portal)).to_have_text("Good Faith Estimate")
    expect(portal.get_by_text("0820T").first).to_be_visible()
    shot(portal, "8-portal-estimate")
    assert serious_problems(portal) == []
    estimate = pdf_text(downloaded(portal, portal.get_by_role("link", name=re.compile("^Download to print"))))
    for expected in ("Good Faith Estimate", "90791", "0820T", "F33.1", PRACTICE_NPI, TIN, "Alvarez"):
        assert expected in estimate, expected
    assert console_errors == []
