"""The progress note's draft is saved as it is typed (docs/notes.md): in a real browser, typing
into the editor and pausing saves the draft through the autosave endpoint and says when; with the
connection gone it says it did not save, and saves once the connection is back. Signing asks
first; the signed note then takes an addendum, and the visit's page leads to it."""

import re

from playwright.sync_api import expect

from kapflow.notes.models import ProgressNote
from tests import factories
from tests.browser.conftest import SCREENSHOTS
from tests.matrix_notes import held_visit


def test_the_draft_is_saved_as_it_is_typed(open_page, console_errors):
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",))
    avery = factories.make_client(first_name="Avery", last_name="Alvarez", therapist=tess)
    visit = held_visit(avery, tess)
    page = open_page(tess)
    page.goto(f"/clients/{avery.pk}/notes/visits/{visit.pk}/")
    status = page.locator("#note-saved")
    expect(status).to_have_text("Not saved yet")

    page.get_by_role("textbox", name="Subjective").fill("Slept better since the last session.")
    expect(status).to_have_text(re.compile(r"Saved at \d\d:\d\d"), timeout=10_000)
    note = ProgressNote.objects.get(visit=visit)
    assert note.sections["subjective"] == "Slept better since the last session."

    page.context.set_offline(True)
    page.get_by_role("textbox", name="Plan").fill("Weekly, same time.")
    expect(status).to_contain_text("Not saved — check your connection")
    page.context.set_offline(False)
    expect(status).to_contain_text("Saved at", timeout=20_000)
    note.refresh_from_db()
    assert note.sections["plan"] == "Weekly, same time."
    page.screenshot(path=SCREENSHOTS / "notes-editor.png", full_page=True)

    # Signing asks first; declined, nothing is signed.
    answers, asked = [False, True], []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    page.on("dialog", answer)
    page.get_by_role("button", name="Sign the note").click()
    expect(page.get_by_role("button", name="Sign the note")).to_be_visible()
    note.refresh_from_db()
    assert not note.is_signed and asked[0].startswith("Sign the note?")
    page.get_by_role("button", name="Sign the note").click()
    expect(page.get_by_text("Signed: Tess Therapist", exact=False).first).to_be_visible()
    note.refresh_from_db()
    assert note.is_signed
    page.get_by_label("Reason").fill("A detail remembered later")
    page.get_by_role("textbox", name="Addendum").fill("The client also mentioned a new walking routine.")
    page.get_by_role("button", name="Add the addendum").click()
    expect(page.get_by_text("The client also mentioned a new walking routine.")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "notes-signed.png", full_page=True)
    page.goto(f"/clients/{avery.pk}/visits/{visit.pk}/")
    expect(page.get_by_role("link", name="Signed note")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "notes-visit.png", full_page=True)
    # The failed request while offline is the browser's own console line; nothing else.
    assert [e for e in console_errors if "ERR_INTERNET_DISCONNECTED" not in e] == []
