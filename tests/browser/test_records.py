"""Issue 16 in the browser: a record leaving the practice and coming back (docs/import.md,
docs/right-of-access.md, docs/export.md).

A clinician imports a PHQ-9 answered in another system from the client's measures: a file about
someone else shows "Check" beside the chart, the right one "Same", and once confirmed the score
is in the measures with where it came from; a file whose stated total disagrees with its answers
is refused with both figures. The client downloads their record on the portal as a PDF and as a
FHIR bundle (a guardian is told to ask in writing), and the clinician finds both copies on the
disclosures page. A clinician answers a written request with the copy page's form. The practice
admin confirms who they are and downloads the practice's archive.

Each new page is checked by axe-core for serious problems; with `make screenshots` each is
photographed into test-artifacts/screenshots/records/."""

import datetime
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from kapflow.clients.models import Guardian
from kapflow.measures.instruments import PHQ9
from kapflow.measures.models import Response
from kapflow.records import fhir
from tests import factories
from tests.browser import walk
from tests.browser.conftest import SCREENSHOTS, TAKE_SCREENSHOTS
from tests.browser.pages import accessibility_problems

pytestmark = pytest.mark.browser

SHOTS = SCREENSHOTS / "records"
PHONE = {"width": 390, "height": 844}
SOURCE = "Riverside Clinic"


def shot(page: Page, name: str) -> None:
    """A picture of the whole page, when pictures are asked for (`make screenshots`)."""
    if TAKE_SCREENSHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def serious_problems(page: Page) -> list[str]:
    return accessibility_problems(page) + [
        problem for problem in walk.axe_problems(page) if re.search(r"\((serious|critical)\)", problem)
    ]


@pytest.fixture
def tess(transactional_db):
    return factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")


@pytest.fixture
def avery(tess):
    return factories.make_client(first_name="Avery", last_name="Alvarez", therapist=tess, stage="course")


@pytest.fixture
def cleo(avery):
    """Avery's portal account."""
    user = factories.make_user("Cleo Client", roles=("is_client",), email="cleo@example.org", mfa=False)
    avery.portal_user = user
    avery.save(update_fields=["portal_user"])
    return user


def phq9_file(tmp_path, name: str, *, values: list[int], person: tuple[str, str, str], total_off: int = 0):
    """A PHQ-9 as another system exports it: kapflow's own QuestionnaireResponse of a response
    made for a client of another practice (here, a throwaway client), with that system's name
    as author, bundled with a Patient naming `person` (given, family, birth date). `total_off`
    makes the stated total disagree with the answers."""
    elsewhere = factories.make_client(first_name="Someone", last_name="Elsewhere")
    answers = {item.key: value for item, value in zip(PHQ9.items, values, strict=True)}
    result = PHQ9.band_for(sum(values))
    response = Response.objects.create(
        client=elsewhere,
        instrument=PHQ9.key,
        version="1",
        answers=answers,
        total=sum(values) + total_off,
        band=result.label,
        completed_at=timezone.now() - datetime.timedelta(days=3),
    )
    questionnaire_response = fhir.questionnaire_response(response) | {"author": {"display": SOURCE}}
    given, family, born = person
    patient = {"resourceType": "Patient", "name": [{"given": [given], "family": family}], "birthDate": born}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient}, {"resource": questionnaire_response}],
    }
    path = tmp_path / name
    path.write_text(json.dumps(bundle, indent=2))
    return path


def preview(page: Page, path) -> None:
    page.get_by_label("A .json file").set_input_files(path)
    page.get_by_role("button", name="Preview").click()


def test_a_phq9_from_another_system_is_imported_after_the_match_is_checked(
    open_page, console_errors, tess, avery, tmp_path
):
    born = avery.date_of_birth.isoformat()
    someone_else = phq9_file(tmp_path, "other.json", values=[1] * 9, person=("Ava", "Alvares", "1990-01-01"))
    averys = phq9_file(
        tmp_path, "avery.json", values=[2, 2, 1, 2, 1, 1, 2, 1, 0], person=("Avery", "Alvarez", born)
    )
    miscounted = phq9_file(
        tmp_path, "bad.json", values=[1] * 9, person=("Avery", "Alvarez", born), total_off=3
    )
    page = open_page(tess)
    page.goto(reverse("measures:list", args=[avery.pk]))
    page.get_by_role("link", name="Import from another system").click()
    expect(page).to_have_url(re.compile(re.escape(reverse("records_import:start", args=[avery.pk])) + "$"))
    shot(page, "1-import-start")
    assert serious_problems(page) == []

    # A stated total that disagrees with the answers: refused, both figures named.
    preview(page, miscounted)
    expect(page.get_by_text("The file states a total of 12, but its answers add up to 9.")).to_be_visible()
    shot(page, "2-import-refused")
    assert serious_problems(page) == []

    # Someone else's file: both rows say Check.
    preview(page, someone_else)
    whose = page.get_by_role("table", name="Whose answers")
    expect(whose.get_by_text("Check", exact=True)).to_have_count(2)
    shot(page, "3-import-preview-check")
    page.get_by_role("link", name="Choose another file").click()

    # Avery's: both rows say Same; unconfirmed, the import asks for the tick.
    preview(page, averys)
    expect(whose.get_by_text("Same", exact=True)).to_have_count(2)
    expect(page.get_by_role("table").nth(1).get_by_role("row").last).to_contain_text("12")
    shot(page, "4-import-preview-same")
    assert serious_problems(page) == []
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".field-error")).to_have_text(
        "Tick this box once you have checked that the file is about this client."
    )
    page.get_by_label(re.compile(r"^These are Avery.*'s answers$")).check()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("PHQ-9 imported: 12, moderate.")).to_be_visible()

    page.goto(reverse("measures:list", args=[avery.pk]))
    row = page.get_by_role("row").filter(has_text=f"Imported from {SOURCE}")
    expect(row).to_contain_text("12")
    expect(row).to_contain_text("by Tess Therapist")
    shot(page, "5-measures-imported")
    assert console_errors == []


def downloaded(page: Page, button) -> bytes:
    """What pressing `button` downloads."""
    with page.expect_download() as download:
        button.click()
    return Path(download.value.path()).read_bytes()


def test_the_client_downloads_their_record_and_the_clinician_sees_the_copies(
    open_page, console_errors, tess, avery, cleo
):
    portal = open_page(cleo)
    portal.goto(reverse("portal:client_home", args=[avery.pk]))
    portal.get_by_role("link", name="Download a copy of your record").click()
    expect(portal.get_by_role("heading", name="Your record", level=1)).to_be_visible()
    shot(portal, "6-portal-record")
    assert serious_problems(portal) == []
    pdf = downloaded(portal, portal.get_by_role("button", name="Download as a PDF (to read or print)"))
    assert pdf.startswith(b"%PDF")
    bundle = json.loads(
        downloaded(portal, portal.get_by_role("button", name=re.compile(r"^Download as FHIR")))
    )
    assert bundle["resourceType"] == "Bundle"
    portal.set_viewport_size(PHONE)
    shot(portal, "7-portal-record-phone")
    assert serious_problems(portal) == []

    # A guardian of a minor is told to ask in writing, and is offered no download.
    gail = factories.make_user("Gail Guardian", roles=("is_guardian",), email="gail@example.org", mfa=False)
    mina = factories.make_client(first_name="Mina", last_name="Alvarez", age=15, therapist=tess)
    Guardian.objects.create(
        client=mina, name="Gail Guardian", relationship="mother", portal_user=gail, has_legal_authority=True
    )
    guardian = open_page(gail)
    guardian.goto(reverse("portal:record", args=[mina.pk]))
    expect(guardian.get_by_text("Ask in writing")).to_be_visible()
    expect(guardian.get_by_role("button", name=re.compile("^Download"))).to_have_count(0)
    shot(guardian, "8-portal-record-guardian")
    assert serious_problems(guardian) == []

    page = open_page(tess)
    page.goto(reverse("disclosures:list", args=[avery.pk]))
    copies = page.get_by_role("region", name="Copies of the record given at the client's request")
    expect(copies.get_by_role("row").filter(has_text="Copy of the record")).to_have_count(2)
    shot(page, "9-disclosures-copies")
    assert serious_problems(page) == []
    assert console_errors == []


def test_a_clinician_answers_a_written_request_with_a_pdf(open_page, console_errors, tess, avery):
    page = open_page(tess)
    page.goto(reverse("clients:chart", args=[avery.pk]))
    page.get_by_role("link", name="Copy of the record").click()
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    page.get_by_label("Request received on").fill(tomorrow.isoformat())
    page.get_by_label("Requested by").fill("Avery Alvarez")
    page.get_by_label("By post").check()
    page.get_by_label("Their address").fill("12 Elm Street, Pasadena, CA 91101")
    page.get_by_label("Readable PDF").check()
    page.get_by_role("button", name="Produce and download the copy").click()
    expect(page.locator("#id_requested_on_error")).to_have_text(
        "The request cannot have been received in the future: check the date."
    )
    expect(page.get_by_label("Requested by")).to_have_value("Avery Alvarez")
    expect(page.get_by_label("Their address")).to_have_value("12 Elm Street, Pasadena, CA 91101")
    expect(page.get_by_label("By post")).to_be_checked()
    shot(page, "10-copy-page-error")
    assert serious_problems(page) == []

    page.get_by_label("Request received on").fill((tomorrow - datetime.timedelta(days=3)).isoformat())
    pdf = downloaded(page, page.get_by_role("button", name="Produce and download the copy"))
    assert pdf.startswith(b"%PDF")
    page.goto(reverse("records_copy:page", args=[avery.pk]))
    expect(page.get_by_role("region", name="Copies given so far").get_by_role("row")).to_have_count(2)
    shot(page, "11-copy-page-given")
    assert console_errors == []


def test_the_admin_confirms_who_they_are_and_downloads_the_practice_archive(open_page, console_errors, avery):
    ada = factories.make_user("Ada Admin", roles=("is_practice_admin",), email="ada@example.org", mfa=False)
    secret = factories.enrol_totp(ada)
    page = open_page(ada)
    page.goto(reverse("practice_settings"))
    page.get_by_role("link", name="Export the practice's records").click()
    # The click starts the navigation; the checks below must run in the page it arrives at.
    expect(page.get_by_role("heading", name="Export the practice's records", level=1)).to_be_visible()
    shot(page, "12-export")
    assert serious_problems(page) == []
    page.get_by_role("button", name="Download the archive").click()
    page.get_by_label("Code").fill(factories.totp_code(secret))
    archive = downloaded(page, page.get_by_role("button", name="Confirm"))
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert console_errors == []
