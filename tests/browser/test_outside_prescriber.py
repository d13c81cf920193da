"""The outside prescriber's clearance letter filed in the browser (docs/outside-prescriber.md):
the transcription form sent with a confirmation missing comes back with what was typed and the
error beside the field; sent whole, the medical page's clearance gate names the outside
prescriber, the letter's date and who filed it. Screenshots go to /tmp/shots/outside/."""

from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.clients.models import OutsideProvider
from kapflow.documents.models import ChartDocument
from kapflow.medical.models import Screening
from kapflow.medical.services import CLEARANCE_TRANSCRIBED
from tests import factories
from tests.browser.walk import check_widths
from tests.test_outside_prescriber import GOOD_NPI, filed

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots/outside")


def test_a_clearance_letter_is_transcribed_and_the_gate_names_the_outside_prescriber(open_page):
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",))
    avery = factories.make_client(therapist=tess)
    OutsideProvider.objects.create(client=avery, name="Dr Anil Raman", kind="psychiatrist")
    Screening.objects.create(client=avery, answers={}, age=35)
    filed(avery, ChartDocument.Kind.CLEARANCE, tess, "Clearance letter from Dr Raman")
    today = timezone.localdate()
    page = open_page(tess)
    page.goto(f"/clients/{avery.pk}/medical/clearance/outside/")
    page.locator("#id_provider").select_option(label="Dr Anil Raman (Psychiatrist)")
    page.locator("#id_document").select_option(index=1)
    page.locator("#id_outside_name").fill("Dr Anil Raman")
    page.locator("#id_outside_credentials").fill("MD")
    page.locator("#id_outside_npi").fill(GOOD_NPI)
    page.locator("#id_letter_dated").fill(f"{today:%Y-%m-%d}")
    page.locator("#id_valid_until").fill(f"{today.replace(year=today.year + 1, day=1):%Y-%m-%d}")
    page.get_by_label("Cleared", exact=True).check()
    page.locator("#id_findings").fill("No contraindication found.")
    for name in CLEARANCE_TRANSCRIBED:
        if name != "outside_npi":
            page.locator(f"#id_confirm_{name}").check()
    page.get_by_role("button", name="File the clearance letter").click()
    expect(page.get_by_text("Check “NPI” against the document and tick to confirm it.").first).to_be_visible()
    expect(page.locator("#id_outside_name")).to_have_value("Dr Anil Raman")
    # The form with its errors fits every width and passes axe-core, as every page must.
    assert check_widths(page, "clearance_transcribe") == []
    page.set_viewport_size({"width": 1280, "height": 900})
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#id_outside_npi").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "transcription-error.png"), full_page=False)
    page.locator("#id_confirm_outside_npi").check()
    for name in CLEARANCE_TRANSCRIBED:
        page.locator(f"#id_confirm_{name}").check()
    page.get_by_role("button", name="File the clearance letter").click()
    page.goto(f"/clients/{avery.pk}/medical/")
    gate = page.locator(".gate", has_text="Medical clearance")
    expect(gate).to_contain_text("Cleared by Dr Anil Raman (outside)")
    expect(gate).to_contain_text(f"filed by {tess.display_name}")
    page.screenshot(path=str(SHOTS / "gate-outside-clearance.png"), full_page=False)
    page.goto(f"/clients/{avery.pk}/medical/orders/outside/")
    assert check_widths(page, "order_transcribe") == []
