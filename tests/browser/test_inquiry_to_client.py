import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.clients.models import Client, age_on
from kapflow.inquiries.models import Inquiry
from tests import factories
from tests.browser.pages import PASSWORD, h1, sign_in_through_form

pytestmark = pytest.mark.browser

CORA_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_a_coordinator_turns_an_inquiry_into_a_client(page, open_page, console_errors):
    cora = factories.make_user(
        "Cora Coordinator", roles=("is_coordinator",), email="cora@example.org", mfa=False, password=PASSWORD
    )
    factories.enrol_totp(cora, CORA_SECRET)

    # Someone who is not yet a client writes in from the public page.
    visitor = page
    visitor.goto("/start/")
    expect(h1(visitor)).to_have_text("Start with a conversation")
    visitor.get_by_label("First name").fill("Riley")
    visitor.get_by_label("Last name").fill("Rivera")
    visitor.get_by_label("How should we contact you?").select_option(label="Text message")
    visitor.get_by_label("Phone").fill("(818) 555-0123")
    visitor.get_by_label("What brings you to reach out?").fill(
        "My therapist mentioned ketamine-assisted therapy for depression. Could we talk?"
    )
    visitor.get_by_role("button", name="Send").click()
    expect(visitor).to_have_url(re.compile(r"/start/thanks/$"))
    expect(h1(visitor)).to_have_text("Thank you — we have your message")

    # The coordinator signs in, on another computer, and finds it in the inbox.
    page = open_page()
    sign_in_through_form(page, "cora@example.org", totp_secret=CORA_SECRET)
    expect(h1(page)).to_have_text("Good to see you, Cora Coordinator")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inquiries").click()
    expect(h1(page)).to_have_text("Inquiries")
    page.get_by_role("link", name="Riley Rivera").click()
    expect(h1(page)).to_have_text("Riley Rivera")
    expect(page.get_by_role("region", name="Their message")).to_contain_text("ketamine-assisted therapy")
    page.get_by_role("link", name="Make Riley a client").click()

    # What Riley already told us is in the form: nothing to retype.
    expect(h1(page)).to_have_text("Make Riley Rivera a client")
    expect(page.get_by_label("Legal first name")).to_have_value("Riley")
    expect(page.get_by_label("Legal last name")).to_have_value("Rivera")
    expect(page.get_by_label("Phone")).to_have_value("(818) 555-0123")
    expect(page.get_by_label("Preferred way to be contacted")).to_have_value("text")
    expect(page.get_by_label("Date of birth")).to_have_value("")
    page.get_by_label("Date of birth").fill("1990-04-12")
    page.get_by_role("button", name="Create the client").click()

    # The chart opens on the new client, with the banner a clinician checks first.
    expect(page).to_have_url(re.compile(r"/clients/\d+/$"))
    banner = page.get_by_role("region", name="Client", exact=True)
    expect(banner.get_by_role("heading", level=1)).to_have_text("Riley Rivera")
    age = age_on(datetime.date(1990, 4, 12), timezone.localdate())
    expect(banner.locator("dt:text-is('Age') + dd")).to_have_text(str(age))
    expect(banner.locator("dt:text-is('Date of birth') + dd")).to_have_text("Apr 12, 1990")
    expect(page.get_by_role("status")).to_contain_text("Riley Rivera is now a client.")
    expect(page.get_by_role("region", name="First message")).to_contain_text("ketamine-assisted therapy")

    client = Client.objects.get()
    assert (client.first_name, client.last_name, client.phone, client.preferred_contact) == (
        "Riley",
        "Rivera",
        "(818) 555-0123",
        "text",
    )
    inquiry = Inquiry.objects.get()
    assert (inquiry.status, inquiry.client, inquiry.handled_by) == (Inquiry.Status.CONVERTED, client, cora)
    assert console_errors == []
