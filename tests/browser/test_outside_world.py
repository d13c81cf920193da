"""Issue 14 end to end, in the browser: a therapist working alone with an outside psychiatrist
files the psychiatrist's signed clearance letter (a real PDF) on the chart, transcribes it until
the medical page says who cleared the client, writes a post-session summary of a signed session
back to the psychiatrist from the chart's Letters card, signs it, and downloads it to fax. The PDF
that comes down says the dose and the therapist's words and nothing from the client's journal or
the session's free-text notes; the sending is a disclosure, listed on the client's page
(docs/outside-prescriber.md, docs/letters.md).

Running a medication session in the browser has its own tests (test_runbook_session.py): here the
signed session is made in the database, as tests/test_letters.py makes it."""

import datetime
import re

import pytest
import weasyprint
from django.utils import timezone
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from kapflow.clients.models import OutsideProvider
from kapflow.consent import services as consent_services
from kapflow.documents.models import ChartDocument
from kapflow.journal.models import JournalEntry
from kapflow.letters.models import Disclosure, Letter
from kapflow.medical.models import Clearance, Screening
from kapflow.medical.services import CLEARANCE_TRANSCRIBED
from kapflow.practice.models import Practice
from tests import factories
from tests.browser.conftest import SCREENSHOTS, TAKE_SCREENSHOTS
from tests.browser.pages import accessibility_problems
from tests.test_letter_sending import release_document
from tests.test_letters import JOURNAL_PHRASE, NOTE_PHRASE, _session
from tests.test_outside_prescriber import GOOD_NPI, filed
from tests.test_runbook import make_order

pytestmark = pytest.mark.browser

SHOTS = SCREENSHOTS / "outside-world"
PSYCHIATRIST = "Dr Anil Raman"
FAX = "(503) 555-0199"
FREE_TEXT = "She slept well that night and asked to keep the same dose next time."


def shot(page: Page, name: str) -> None:
    """A picture of the whole page, when pictures are asked for (`make screenshots`)."""
    if TAKE_SCREENSHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def clearance_letter_pdf(client_name: str, dated: datetime.date) -> bytes:
    """The psychiatrist's letter as the practice would receive it: a one-page signed PDF."""
    return weasyprint.HTML(
        string=f"""
        <h1>Raman Psychiatry</h1>
        <p>{dated:%B %-d, %Y}</p>
        <p>Re: {client_name}</p>
        <p>I evaluated {client_name} on {dated:%B %-d}. Blood pressure 122/78; no history of
        psychosis; no contraindication to ketamine-assisted psychotherapy. She is cleared for
        treatment for six months from the date of this letter.</p>
        <p>{PSYCHIATRIST}, MD · NPI {GOOD_NPI}</p>
        """
    ).write_pdf()


def pdf_text(path) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


@pytest.fixture
def chart(transactional_db, rf):
    """Tess alone on Avery's care team; Avery's psychiatrist outside the practice, with a release
    (signed in the office) for the two parts of the record a post-session summary carries, an
    outside prescription already on file, a screening, and a journal entry shared with Tess."""
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")
    avery = factories.make_client(first_name="Avery", last_name="Alvarez", therapist=tess)
    raman = OutsideProvider.objects.create(client=avery, name=PSYCHIATRIST, kind="psychiatrist")
    Screening.objects.create(client=avery, answers={}, age=35)
    request = rf.post("/")
    request.user = tess
    document = release_document()
    consent_services.signature_record(
        request=request,
        client=avery,
        document=document,
        signer_key="client",
        typed_name="Avery Alvarez",
        decision="agree",
        shown_sha256=document.sha256,
        provider=raman,
        release_expires_on=timezone.localdate() + datetime.timedelta(days=365),
        categories=["sessions", "adverse_events"],
        purpose="Coordination of care with her psychiatrist",
    )
    today = timezone.localdate()
    make_order(
        avery,
        None,
        outside_provider=raman,
        document=filed(avery, ChartDocument.Kind.PRESCRIPTION, tess, "Prescription from Dr Raman"),
        outside_name=PSYCHIATRIST,
        outside_npi=GOOD_NPI,
        filed_by=tess,
        filed_at=timezone.now(),
        prescribed_on=today - datetime.timedelta(days=21),
        sessions_prescribed=6,
        dose_min=100,
        starts_on=today - datetime.timedelta(days=20),
        ends_on=today + datetime.timedelta(days=70),
    )
    now = timezone.now()
    JournalEntry.objects.create(
        client=avery, body=JOURNAL_PHRASE, written_at=now, updated_at=now, shared_at=now
    )
    return {"tess": tess, "avery": avery, "raman": raman}


def test_from_the_outside_clearance_to_the_post_session_summary_faxed(open_page, chart, console_errors):
    tess, avery, raman = chart["tess"], chart["avery"], chart["raman"]
    today = timezone.localdate()
    dated = today - datetime.timedelta(days=3)
    page = open_page(tess)

    # 1. The psychiatrist's signed letter, filed from the chart's Documents card.
    page.goto(f"/clients/{avery.pk}/")
    page.locator("#documents-h").locator("..").get_by_role("link", name="Upload").click()
    page.get_by_label("Prescriber's clearance letter").check()
    page.get_by_label("Title").fill("Clearance letter from Dr Raman")
    page.get_by_label("Outside provider who sent it").select_option(label=f"{PSYCHIATRIST} (psychiatrist)")
    page.get_by_label("Date on the document").fill(f"{dated:%Y-%m-%d}")
    page.get_by_label("File", exact=True).set_input_files(
        files=[
            {
                "name": "raman-clearance.pdf",
                "mimeType": "application/pdf",
                "buffer": clearance_letter_pdf("Avery Alvarez", dated),
            }
        ]
    )
    shot(page, "1-upload")
    page.get_by_role("button", name="File the document").click()
    expect(page.get_by_text("“Clearance letter from Dr Raman” is filed on the chart.")).to_be_visible()
    letter_file = ChartDocument.objects.get(client=avery, kind=ChartDocument.Kind.CLEARANCE)
    assert letter_file.content_type == "application/pdf" and letter_file.provider == raman

    # 2. Transcribed on the medical page, each field confirmed against the letter.
    page.goto(f"/clients/{avery.pk}/")
    page.get_by_role("link", name="Medical", exact=True).click()
    page.get_by_role("link", name="File an outside clearance letter").click()
    page.get_by_label("Outside prescriber", exact=True).select_option(label=f"{PSYCHIATRIST} (Psychiatrist)")
    page.get_by_label("Clearance letter filed on the chart").select_option(index=1)
    page.get_by_label("Prescriber's name", exact=True).fill(PSYCHIATRIST)
    page.get_by_label("Credentials", exact=True).fill("MD")
    page.get_by_label("NPI", exact=True).fill(GOOD_NPI)
    page.get_by_label("Date of the letter", exact=True).fill(f"{dated:%Y-%m-%d}")
    page.get_by_label("Valid until", exact=True).fill(f"{dated + datetime.timedelta(days=180):%Y-%m-%d}")
    page.get_by_label("Cleared", exact=True).check()
    page.get_by_label("What the letter says of the evaluation", exact=True).fill(
        "Blood pressure 122/78; no history of psychosis; no contraindication."
    )
    confirmations = page.get_by_label(re.compile("^Matches the document: "))
    expect(confirmations).to_have_count(len(CLEARANCE_TRANSCRIBED))
    for index in range(len(CLEARANCE_TRANSCRIBED)):
        confirmations.nth(index).check()
    shot(page, "2-transcription")
    page.get_by_role("button", name="File the clearance letter").click()
    expect(page.get_by_text("Outside clearance filed: cleared.")).to_be_visible()
    page.get_by_role("link", name="← Medical").click()
    gate = page.locator(".gate", has_text="Medical clearance")
    expect(gate).to_contain_text(f"Cleared by {PSYCHIATRIST} (outside)")
    expect(gate).to_contain_text(f"filed by {tess.display_name}")
    shot(page, "3-medical-gate")
    assert Clearance.objects.get(client=avery).document == letter_file

    # 3. A medication session, signed (made here; the runbook in the browser is tested elsewhere).
    session = _session(avery, therapist=tess, prescriber=tess, days_ago=2, practice=Practice.load())

    # 4. A post-session summary to the psychiatrist, from the chart's Letters card.
    page.goto(f"/clients/{avery.pk}/")
    page.locator("#letters-h").locator("..").get_by_role("link", name="Write a letter").click()
    page.get_by_role("link", name="Post-session summary").click()
    page.get_by_label(f"{PSYCHIATRIST} (Psychiatrist)").check()
    page.get_by_label(re.compile(r"\bMedication session of ")).check()
    for category in ("Medication sessions: doses", "Adverse events and how they were handled"):
        expect(page.get_by_label(category)).to_be_checked()
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Draft saved. Read it through, then sign it.")).to_be_visible()
    expect(
        page.get_by_text(f"The client's release for {PSYCHIATRIST} covers what this letter carries")
    ).to_be_visible()
    preview = page.locator("section", has=page.locator("#preview-h"))
    expect(preview.get_by_role("heading", level=3)).to_have_text(["The session", "Adverse events"])
    expect(preview).to_contain_text("175 mg")
    expect(preview).to_contain_text("Nausea or vomiting")
    expect(preview).not_to_contain_text(NOTE_PHRASE)
    page.get_by_role("textbox", name="Letter").fill(FREE_TEXT)
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Draft saved.", exact=True)).to_be_visible()
    expect(page.get_by_role("textbox", name="Letter")).to_have_value(FREE_TEXT)
    shot(page, "4-draft")
    assert accessibility_problems(page) == []
    page.get_by_role("button", name="Sign the letter").click()
    expect(page.get_by_text("Signed. The letter is locked; its PDF is kept as signed.")).to_be_visible()
    letter = Letter.objects.get(client=avery)
    assert letter.is_signed and letter.runbook == session and letter.body == FREE_TEXT

    # 5. Downloaded to fax from the letter's send section: a disclosure, listed on the chart.
    page.get_by_label("Fax number").fill(FAX)
    shot(page, "5-signed-send")
    assert accessibility_problems(page) == []
    with page.expect_download() as download:
        page.get_by_role("button", name="Download to fax").click()
    assert download.value.suggested_filename == f"letter-{letter.pk}-fax.pdf"
    text = pdf_text(download.value.path())
    assert "Post-session summary" in text and "175 mg" in text and FREE_TEXT in text
    assert JOURNAL_PHRASE not in text and NOTE_PHRASE not in text
    disclosure = Disclosure.objects.get(client=avery)
    assert (disclosure.letter, disclosure.provider, disclosure.method, disclosure.recipient_address) == (
        letter,
        raman,
        "fax",
        FAX,
    )
    assert disclosure.release.provider == raman and disclosure.disclosed_by == tess

    page.goto(f"/clients/{avery.pk}/")
    page.get_by_role("link", name="Disclosures", exact=True).click()
    row = page.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(PSYCHIATRIST)
    expect(row).to_contain_text(FAX)
    expect(row).to_contain_text("Post-session summary")
    expect(row).to_contain_text("Downloaded to fax")
    shot(page, "6-disclosures")
    assert accessibility_problems(page) == []
    assert console_errors == []
