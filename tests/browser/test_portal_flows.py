"""The client portal's flows in the browser, end to end: a journal draft saved as the client
types, kept across pages, then saved, shared and read by the therapist (an unshared entry never
reaching them); a portal invitation sent from the chart's Portal card and accepted through the
emailed link; and a minor's consents signed on the portal, the guardian's and the minor's own
assent, the chart's Consent card then showing them in place.

The invitation email is enqueued when the request's transaction commits; the live server's
transactions do commit, and tests/conftest.py runs huey's tasks at once, so the email lands in
Django's locmem outbox before the chart's redirect answers."""

import importlib
import re

import pytest
from django.apps import apps as django_apps
from django.core import mail
from playwright.sync_api import Page, expect

from kapflow.journal.models import JournalEntry
from tests import factories
from tests.browser.conftest import SCREENSHOTS
from tests.browser.pages import accessibility_problems, h1

pytestmark = pytest.mark.browser

PASSWORD = "quiet harbour lantern 42"


@pytest.fixture
def consent_documents(transactional_db):
    """Version 1 of every consent document, as the data migration writes it: the flush after
    every browser test empties the table (see test_pathway_to_ready.py)."""
    migration = importlib.import_module("kapflow.consent.migrations.0002_default_documents")
    migration.create(django_apps, None)


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


def editor(page: Page):
    return page.get_by_role("textbox", name="Your entry")


def draft_state(page: Page):
    return page.locator("#draft-state")


# 1. The journal ------------------------------------------------------------------------------


def draft_saved(page: Page, typing):
    """Runs `typing`, then waits for the draft it causes (htmx posts a second after the last
    keystroke) to come back and show the quiet "Draft saved" line."""
    with page.expect_response(lambda r: r.url.endswith("/journal/draft/") and r.request.method == "POST"):
        typing()
    expect(draft_state(page)).to_contain_text("Draft saved")


def test_a_journal_draft_survives_leaving_the_page_and_only_a_shared_entry_reaches_the_therapist(
    open_page, console_errors, tess, avery, cleo
):
    shared_text = "The light in the garden room felt kind. I want to call my sister this week."
    private_text = "Some of this I am not ready to say to anyone yet."

    page = open_page(cleo)
    page.goto(f"/portal/{avery.pk}/journal/")
    expect(h1(page)).to_have_text("Your journal")
    page.get_by_role("link", name="Write a new entry").click()
    expect(h1(page)).to_have_text("A new entry")
    expect(draft_state(page)).to_have_text("Your draft is saved as you type.")
    assert accessibility_problems(page) == []

    # Typing, then a quiet pause: the draft is saved without pressing anything; more typing goes
    # on with the same draft rather than starting a second one.
    draft_saved(page, lambda: editor(page).press_sequentially(shared_text[:40]))
    draft_saved(page, lambda: editor(page).press_sequentially(shared_text[40:]))
    (entry,) = JournalEntry.objects.filter(client=avery)
    assert entry.draft == shared_text and entry.body == "" and not entry.is_saved

    # A reload shows the draft (the first draft gave the page the entry's own address); away and
    # back, the journal lists the draft, and opening it brings the text back.
    page.reload()
    expect(h1(page)).to_have_text("Your draft")
    expect(editor(page)).to_have_value(shared_text)
    page.get_by_role("link", name="← Your journal").click()
    drafts = page.get_by_role("article").filter(has_text="Draft, not saved")
    expect(drafts).to_have_count(1)
    expect(drafts).to_contain_text(shared_text[:60])
    drafts.get_by_role("link", name=re.compile(r"^Draft begun ")).click()
    expect(h1(page)).to_have_text("Your draft")
    expect(editor(page)).to_have_value(shared_text)
    page.screenshot(path=str(SCREENSHOTS / "portal-journal-draft.png"), full_page=True)

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved. It is private: only you can read it.")).to_be_visible()
    expect(h1(page)).to_have_text(re.compile(r"^Your entry of "))
    expect(page.get_by_text("Private", exact=True)).to_be_visible()
    page.get_by_role("button", name="Share this entry").click()
    expect(
        page.get_by_text("Shared with your therapist. You can stop sharing it at any time.")
    ).to_be_visible()
    expect(page.get_by_text("Shared with your therapist", exact=True)).to_be_visible()

    # A second entry, saved and kept private.
    page.get_by_role("link", name="← Your journal").click()
    page.get_by_role("link", name="Write a new entry").click()
    draft_saved(page, lambda: editor(page).fill(private_text))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved. It is private: only you can read it.")).to_be_visible()
    page.get_by_role("link", name="← Your journal").click()
    expect(page.get_by_role("article").filter(has_text="Shared with your therapist")).to_contain_text(
        shared_text[:60]
    )
    expect(page.get_by_role("article").filter(has_text="Private")).to_contain_text(private_text)
    assert JournalEntry.objects.filter(client=avery).count() == 2

    # Tess, Avery's therapist, reads the shared entry from the chart, and only that one.
    staff = open_page(tess)
    staff.goto(f"/clients/{avery.pk}/")
    staff.get_by_role("link", name="Journal 1 shared").click()
    expect(staff).to_have_url(re.compile(rf"/clients/{avery.pk}/journal/$"))
    expect(staff.get_by_role("heading", name="Journal entries Avery shared")).to_be_visible()
    expect(staff.get_by_role("article")).to_have_count(1)
    expect(staff.get_by_role("article")).to_contain_text(shared_text)
    expect(staff.locator("main")).not_to_contain_text(private_text)
    assert console_errors == []


def test_save_pressed_straight_after_typing_makes_one_entry(open_page, avery, cleo):
    page = open_page(cleo)
    page.goto(f"/portal/{avery.pk}/journal/new/")
    editor(page).fill("Quickly, before I forget.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved. It is private: only you can read it.")).to_be_visible()
    page.get_by_role("link", name="← Your journal").click()
    expect(h1(page)).to_have_text("Your journal")
    assert JournalEntry.objects.filter(client=avery).count() == 1
    expect(page.get_by_role("article")).to_have_count(1)


# 2. An invitation --------------------------------------------------------------------------


def test_an_invitation_from_the_chart_is_accepted_in_the_browser(open_page, console_errors, tess, avery):
    avery.email = "avery@example.org"
    avery.save(update_fields=["email"])
    mail.outbox.clear()

    staff = open_page(tess)
    staff.goto(f"/clients/{avery.pk}/")
    card = staff.get_by_role("region", name="Portal")
    expect(card).to_contain_text("Not invited")
    expect(card).to_contain_text("by email to avery@example.org")
    card.get_by_role("button", name="Invite").click()
    expect(staff.get_by_role("region", name="Portal")).to_contain_text("Invited, link works until")

    (message,) = mail.outbox
    assert message.to == ["avery@example.org"]
    match = re.search(r"https?://\S+?(/portal/welcome/\S+/)", message.body)
    assert match, message.body
    link = match.group(1)

    # Avery, on a browser of her own, signed out.
    page = open_page()
    page.goto(link)
    expect(h1(page)).to_have_text("Open your portal")
    expect(page.get_by_text("Choose a password for avery@example.org.")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "portal-invitation-accept.png"), full_page=True)
    assert accessibility_problems(page) == []

    # Two different passwords: refused, saying what to fix.
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("Type it again").fill(PASSWORD + "x")
    page.get_by_role("button", name="Open my portal").click()
    expect(page.locator("#id_password2_error")).to_have_text(
        "The two passwords are not the same. Type the same password twice."
    )

    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("Type it again").fill(PASSWORD)
    page.get_by_role("button", name="Open my portal").click()
    expect(page).to_have_url(re.compile(rf"/portal/{avery.pk}/$"))
    expect(h1(page)).to_have_text("Hello, Avery")
    expect(page.get_by_text("Welcome. Your portal is ready.")).to_be_visible()
    avery.refresh_from_db()
    assert avery.portal_user.email == "avery@example.org"

    # The link is used up; the chart shows the account active.
    again = open_page()
    again.goto(link)
    expect(h1(again)).not_to_have_text("Open your portal")
    staff.reload()
    expect(staff.get_by_role("region", name="Portal")).to_contain_text("Active")
    assert console_errors == []


# 3. A minor's consents -----------------------------------------------------------------------


def sign(page: Page, client, *, kind: str, link: str, name: str):
    page.goto(f"/portal/{client.pk}/consents/")
    expect(h1(page)).to_have_text("Consents")
    page.locator(f'a[href$="/consents/{kind}/"]').filter(has_text=link).click()
    expect(page.get_by_role("heading", level=2, name=re.compile("^Your (decision|assent)$"))).to_be_visible()
    assert accessibility_problems(page) == []
    page.get_by_role("radio", name="I agree").check()
    page.get_by_label("Type your full name to sign").fill(name)
    page.get_by_role("button", name="Save my decision").click()
    # The browser keeps the form's "#decision" across the redirect; no harm, the list has no such spot.
    expect(page).to_have_url(re.compile(rf"/portal/{client.pk}/consents/(#decision)?$"))
    expect(page.get_by_text(re.compile(r"^Thank you. Your signature on .* is recorded\.$"))).to_be_visible()


def test_a_guardian_signs_for_a_minor_who_gives_her_assent_and_the_chart_shows_both(
    open_page, console_errors, consent_documents, tess
):
    tia = factories.make_client(first_name="Tia", last_name="Reyes", age=16, therapist=tess)
    tia_user = factories.make_user("Tia Reyes", roles=("is_client",), email="tia@example.org", mfa=False)
    tia.portal_user = tia_user
    tia.save(update_fields=["portal_user"])
    gail = factories.make_user("Gail Guardian", roles=("is_guardian",), email="gail@example.org", mfa=False)
    guardian = factories.add_guardian(tia)
    guardian.name = "Gail Guardian"
    guardian.portal_user = gail
    guardian.save(update_fields=["name", "portal_user"])

    staff = open_page(tess)
    staff.goto(f"/clients/{tia.pk}/")
    consent_card = staff.get_by_role("region", name="Consent", exact=True)
    expect(consent_card.locator(".notice--error")).to_be_visible()

    # Gail signs the guardian consent; the assent is Tia's to give, not hers.
    page = open_page(gail)
    page.goto(f"/portal/{tia.pk}/consents/")
    expect(page.get_by_text("Tia gives this one themselves.")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "portal-consents-guardian.png"), full_page=True)
    sign(page, tia, kind="guardian", link="Read and sign", name="gail guardian")

    staff.reload()
    consent_card = staff.get_by_role("region", name="Consent", exact=True)
    expect(consent_card.locator(".notice--error")).to_be_visible()

    # A wrongly typed name comes back with what was typed and what to fix.
    minor = open_page(tia_user)
    minor.goto(f"/portal/{tia.pk}/consents/")
    expect(minor.get_by_text("A parent or guardian signs this one.").first).to_be_visible()
    minor.get_by_role("link", name="Read and give assent").click()
    minor.get_by_role("radio", name="I agree").check()
    minor.get_by_label("Type your full name to sign").fill("Tina Reyes")
    minor.get_by_role("button", name="Save my decision").click()
    expect(minor.locator("#id_typed_name_error")).to_contain_text(
        "“Tina Reyes” is not the name the practice has for you, “Tia Reyes”."
    )
    expect(minor.get_by_role("radio", name="I agree")).to_be_checked()
    expect(minor.get_by_label("Type your full name to sign")).to_have_value("Tina Reyes")
    sign(minor, tia, kind="assent", link="Read and give assent", name="Tia Reyes")

    staff.reload()
    consent_card = staff.get_by_role("region", name="Consent", exact=True)
    expect(consent_card.locator(".notice--success")).to_have_text("In place for an in-person session.")
    assert console_errors == []
