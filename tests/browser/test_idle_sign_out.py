"""The idle sign-out: a warning two minutes before, "Stay signed in" keeps the session, and what
was typed into a form survives being signed out. The page's clock is Playwright's fake one."""

import re

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from kapflow.clients.models import Client
from tests import factories
from tests.browser.pages import PASSWORD
from tests.factories import totp_code

pytestmark = pytest.mark.browser


@pytest.fixture
def tess_and_avery(db):
    tess = factories.make_user("Tess Therapist", email="tess@example.org", password=PASSWORD, mfa=False)
    secret = factories.enrol_totp(tess)
    avery = factories.make_client(first_name="Avery", last_name="Alvarez", therapist=tess)
    return tess, secret, avery


def test_it_warns_before_signing_out_and_staying_keeps_the_page(open_page, tess_and_avery):
    tess, _secret, avery = tess_and_avery
    page = open_page(tess)
    page.clock.install()
    page.goto(f"/clients/{avery.pk}/edit/")
    dialog = page.get_by_role("dialog", name="Still there?")
    expect(dialog).to_be_hidden()

    page.clock.fast_forward("28:10")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("signed out in")
    dialog.get_by_role("button", name="Stay signed in").click()
    expect(dialog).to_be_hidden()

    page.clock.fast_forward("05:00")
    expect(page).to_have_url(re.compile(rf"/clients/{avery.pk}/edit/$"))


def test_what_was_typed_comes_back_after_signing_in_again(open_page, tess_and_avery):
    tess, secret, avery = tess_and_avery
    page = open_page(tess)
    page.clock.install()
    page.goto(f"/clients/{avery.pk}/edit/")
    page.get_by_label("Preferred name").fill("Ave")
    page.get_by_label("Pronouns").fill("they/them")

    # Thirty idle minutes: the server has ended the session, and the page leaves for sign-in.
    Session.objects.all().delete()
    page.clock.fast_forward("30:05")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))

    # Sign in on the page it was sent to, which remembers where the person was.
    page.get_by_label("Email").fill(tess.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Code").fill(totp_code(secret))
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/clients/{avery.pk}/edit/$"))
    expect(page.get_by_role("status").filter(has_text="You were signed out")).to_be_visible()
    expect(page.get_by_label("Preferred name")).to_have_value("Ave")
    expect(page.get_by_label("Pronouns")).to_have_value("they/them")

    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(rf"/clients/{avery.pk}/$"))
    avery = Client.objects.get(pk=avery.pk)
    assert (avery.preferred_name, avery.pronouns) == ("Ave", "they/them")
