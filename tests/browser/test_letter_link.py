"""The provider's side of an emailed letter (docs/letters.md, "Sending"), in a real browser: the
page the link opens shows a button and nothing else of the letter; pressing it downloads the PDF;
the same link then gets the page that says it cannot be used. The page is checked as every page
of the screenshot walk is (one <h1>, <main>, labels, no sideways scrolling)."""

from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.clients.models import OutsideProvider
from kapflow.letters import sending
from kapflow.letters.models import DownloadLink
from tests.browser.conftest import SCREENSHOTS
from tests.browser.pages import accessibility_problems, h1
from tests.test_letter_sending import given_release, pdf_bytes, signed_letter, token_from


def test_a_provider_downloads_the_letter_once(
    open_page, rf, tess, avery, console_errors, django_capture_on_commit_callbacks
):
    provider = OutsideProvider.objects.create(
        client=avery, name="Dr. Reyes", kind="psychiatrist", email="reyes@clinic.example"
    )
    given_release(provider, by=tess)
    letter = signed_letter(provider, by=tess)
    request = rf.post("/")
    request.user = tess
    with django_capture_on_commit_callbacks(execute=True):
        sending.letter_send_link(request=request, letter=letter)
    path = f"/shared/{token_from(mail.outbox[0])}/"

    staff = open_page(tess)
    staff.goto(f"/clients/{avery.pk}/letters/{letter.pk}/send/")
    expect(staff.get_by_role("button", name="Download to fax")).to_be_visible()
    assert accessibility_problems(staff) == []
    staff.screenshot(path=SCREENSHOTS / "therapist-letter-send.png", full_page=True)

    page = open_page()
    page.goto(path)
    expect(h1(page)).to_have_text("A document from Our practice")
    assert "Avery" not in page.content() and accessibility_problems(page) == []
    page.screenshot(path=SCREENSHOTS / "visitor-letter-link.png", full_page=True)
    assert DownloadLink.objects.get().used_at is None
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the document (PDF)").click()
    with open(download.value.path(), "rb") as file:
        assert file.read() == pdf_bytes()
    assert DownloadLink.objects.get().used_at <= timezone.now()

    page.goto(path)
    expect(h1(page)).to_have_text("This link cannot be used")
    assert accessibility_problems(page) == []
    page.screenshot(path=SCREENSHOTS / "visitor-letter-link-used.png", full_page=True)
    assert console_errors == []
