"""A progress note signed while the editor's autosave is on its way (docs/notes.md, "Signing, and
what cannot happen after"): what is signed is what the Sign button sent, never an older draft that
an autosave wrote between the sign's save and its signature.

Each test commits (two requests, each on its own database connection), so the audit table's
append-only triggers are lifted for the flush after it and put back at the end, as in
tests/test_concurrency.py."""

import threading
import time

import pytest
from django.db import connection
from django.urls import reverse

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.notes import services
from kapflow.notes.models import ProgressNote
from tests.matrix_notes import held_visit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

PAUSE = 0.5  # seconds between the sign's save and its signature: time for the autosave to land


@pytest.fixture(scope="module", autouse=True)
def _audit_triggers_back_at_the_end(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture(autouse=True)
def _audit_triggers_lifted_for_the_flush(db):
    install_triggers(connection)
    yield
    drop_triggers(connection)


def _form(**fields) -> dict:
    return {"format": "", "subjective": "Slept better.", "objective": "", "assessment": "", **fields}


def test_an_autosave_landing_while_the_note_is_signed_never_changes_what_is_signed(
    monkeypatch, login, tess, avery
):
    visit = held_visit(avery, tess)
    http_sign, http_autosave = login(tess), login(tess)
    # A draft exists already: the editor was typed into before Sign was pressed.
    assert http_autosave.post(
        reverse("notes:autosave", args=[avery.pk, visit.pk]), _form(plan="Old plan")
    ).json()["saved"]
    saved = threading.Event()
    original = services.note_sign

    def paused_sign(**kwargs):
        saved.set()  # the sign's save is done: the autosave goes now
        time.sleep(PAUSE)
        return original(**kwargs)

    monkeypatch.setattr(services, "note_sign", paused_sign)
    answers = {}

    def sign():
        try:
            answers["sign"] = http_sign.post(
                reverse("notes:sign", args=[avery.pk, visit.pk]), _form(plan="Final plan")
            )
        finally:
            saved.set()
            connection.close()

    def autosave():
        try:
            saved.wait(timeout=10)
            # An autosave sent before Sign was pressed, holding the older words.
            answers["autosave"] = http_autosave.post(
                reverse("notes:autosave", args=[avery.pk, visit.pk]), _form(plan="Old plan")
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=sign), threading.Thread(target=autosave)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request is still waiting: a deadlock?"
    assert answers["sign"].status_code == 302
    note = ProgressNote.objects.get(visit=visit)
    assert note.is_signed
    assert note.sections["plan"] == "Final plan"
    # The autosave came second: refused, the note being signed.
    assert answers["autosave"].status_code == 409
