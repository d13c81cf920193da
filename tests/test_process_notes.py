"""Issue 15, part 2: psychotherapy process notes (docs/notes.md, "Process notes"). Written by a
therapist on the client's care team, saved once, read by their author alone: every other member
of staff gets 404, and no letter, portal page, chart card or audit row carries their words.
Personas as in tests/conftest.py: Tess is Avery's therapist and Priya her prescriber; Colin is
another therapist (Olive's); Dana, below, is a second therapist on Avery's care team."""

import datetime
import io
import re
from pathlib import Path

import pytest
from django.db import DatabaseError, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from pypdf import PdfReader

import kapflow
from kapflow.audit.models import AuditEvent
from kapflow.clients.models import CareTeamMember
from kapflow.letters import pdf
from kapflow.letters import services as letter_services
from kapflow.letters.models import Letter
from kapflow.notes.models import ProcessNote
from kapflow.notes.process_views import WHO_READS
from kapflow.pathway.models import Consultation
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories
from tests.test_access_matrix import project_url_names
from tests.test_letters import EVERY_CATEGORY, Request, _draft, _release, _session

pytestmark = pytest.mark.django_db

# What Tess writes: it must never be seen anywhere but on her own pages.
PHRASE = "Heron lantern unfolding slowly"


@pytest.fixture
def dana(avery):
    """A second therapist on Avery's care team."""
    dana = factories.make_user("Dana Duo", roles=("is_therapist",), email="dana@example.org")
    CareTeamMember.objects.create(client=avery, user=dana, role=CareTeamMember.Role.THERAPIST)
    return dana


def _visit(client, clinician, *, days_ago=1, status=Visit.Status.COMPLETED, kind=Visit.Kind.THERAPY):
    start = timezone.now() - datetime.timedelta(days=days_ago)
    return Visit.objects.create(
        client=client,
        kind=kind,
        status=status,
        modality=Visit.Modality.VIRTUAL,
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=50),
        clinician=clinician,
        created_by=clinician,
        cancel_reason="Unwell." if status == Visit.Status.CANCELLED else "",
    )


def _write(http, client, text=PHRASE, visit=None):
    data = {"text": text, "visit": visit.pk if visit else ""}
    return http.post(reverse("process_notes:new", args=[client.pk]), data)


@pytest.fixture
def tess_note(avery, tess, login):
    visit = _visit(avery, tess)
    response = _write(login(tess), avery, visit=visit)
    assert response.status_code == 302
    return ProcessNote.objects.get(author=tess)


def test_a_therapist_on_the_care_team_writes_one_tied_to_a_session(tess_note, avery, tess, login, audit_rows):
    assert tess_note.client == avery and tess_note.text == PHRASE and tess_note.visit is not None
    page = login(tess).get(reverse("process_notes:detail", args=[avery.pk, tess_note.pk]))
    assert page.status_code == 200
    assert PHRASE in page.content.decode()
    (written,) = audit_rows("kapflow.notes.process.written")
    assert (written.actor, written.client, written.object_id) == (tess, avery, str(tess_note.pk))
    assert written.detail == {"visit": tess_note.visit_id}


def test_every_page_says_plainly_who_can_read_them(tess_note, avery, tess, login):
    http = login(tess)
    for url in (
        reverse("process_notes:list", args=[avery.pk]),
        reverse("process_notes:new", args=[avery.pk]),
        reverse("process_notes:detail", args=[avery.pk, tess_note.pk]),
    ):
        page = http.get(url).content.decode()
        assert "Only you can read these notes" in page, url
        assert "not the practice admin" in page, url
    assert "never go into a letter, an export or the client's portal" in WHO_READS


def test_a_note_without_a_visit_is_kept_too(avery, tess, login):
    assert _write(login(tess), avery).status_code == 302
    assert ProcessNote.objects.get().visit is None


@pytest.mark.parametrize("which", ["cancelled", "no-show", "future", "another client's", "not a number"])
def test_it_refuses_a_visit_that_is_not_one_of_the_client_s_sessions(which, avery, olive, tess, colin, login):
    visit = {
        "cancelled": lambda: _visit(avery, tess, status=Visit.Status.CANCELLED),
        "no-show": lambda: _visit(avery, tess, status=Visit.Status.NO_SHOW),
        "future": lambda: _visit(avery, tess, days_ago=-2, status=Visit.Status.SCHEDULED),
        "another client's": lambda: _visit(olive, colin),
        "not a number": lambda: None,
    }[which]()
    data = {"text": PHRASE, "visit": visit.pk if visit else "x'; DROP"}
    response = login(tess).post(reverse("process_notes:new", args=[avery.pk]), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose one of this client&#x27;s visits that has taken place." in page
    assert PHRASE in page  # what was typed comes back
    assert not ProcessNote.objects.exists()


@pytest.mark.parametrize("text", ["", "   \n  "])
def test_it_refuses_an_empty_note_with_a_message(text, avery, tess, login):
    response = _write(login(tess), avery, text=text)
    assert response.status_code == 200
    assert "Write the note before saving it." in response.content.decode()
    assert not ProcessNote.objects.exists()


def test_the_database_refuses_any_change_or_deletion(tess_note):
    for change in (
        lambda: ProcessNote.objects.filter(pk=tess_note.pk).update(text="Rewritten afterwards."),
        lambda: ProcessNote.objects.filter(pk=tess_note.pk).update(visit=None),
        lambda: ProcessNote.objects.filter(pk=tess_note.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    tess_note.refresh_from_db()
    assert tess_note.text == PHRASE


def test_the_list_shows_only_the_signed_in_author_s_own_notes(
    tess_note, avery, olive, tess, colin, dana, login
):
    _write(login(dana), avery, text="Dana's own words about the session.")
    dana_note = ProcessNote.objects.get(author=dana)
    _write(login(colin), olive, text="Colin's own words about Olive.")
    tess_page = login(tess).get(reverse("process_notes:list", args=[avery.pk])).content.decode()
    assert PHRASE[:40] in tess_page and "Dana&#x27;s own words" not in tess_page
    assert reverse("process_notes:detail", args=[avery.pk, dana_note.pk]) not in tess_page
    dana_page = login(dana).get(reverse("process_notes:list", args=[avery.pk])).content.decode()
    assert "Dana&#x27;s own words" in dana_page and PHRASE[:40] not in dana_page
    # Another therapist of the same client cannot open Tess's note, nor Tess Dana's.
    assert login(dana).get(reverse("process_notes:detail", args=[avery.pk, tess_note.pk])).status_code == 404
    assert login(tess).get(reverse("process_notes:detail", args=[avery.pk, dana_note.pk])).status_code == 404


@pytest.mark.parametrize("who", ["priya", "ada", "cora", "colin", "owner", "dana"])
def test_nobody_but_the_author_reaches_the_note(who, tess_note, avery, dana, login, request):
    """The prescriber, the practice admin, the coordinator, a therapist outside the care team,
    an admin who is also a therapist (not on the team), even with every clinician seeing every
    client: 404 for the note; and for the pages of the client's notes, all but Dana (a
    therapist on the care team, who sees only her own)."""
    practice = Practice.load()
    practice.open_caseload = True
    practice.save()
    if who == "owner":
        user = factories.make_user("Olga Owner", roles=("is_practice_admin", "is_therapist"))
    else:
        user = dana if who == "dana" else request.getfixturevalue(who)
    http = login(user)
    assert http.get(reverse("process_notes:detail", args=[avery.pk, tess_note.pk])).status_code == 404
    for name in ("process_notes:list", "process_notes:new"):
        response = http.get(reverse(name, args=[avery.pk]))
        assert response.status_code == (200 if who == "dana" else 404), name
        assert PHRASE not in response.content.decode()
    assert _write(http, avery, text="Slipped in.").status_code == (302 if who == "dana" else 404)
    assert ProcessNote.objects.filter(author=user).count() == (1 if who == "dana" else 0)


def test_a_portal_account_is_refused(tess_note, avery, cleo, login):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    response = login(cleo).get(reverse("process_notes:detail", args=[avery.pk, tess_note.pk]))
    assert response.status_code == 403
    assert PHRASE not in response.content.decode()


def test_a_therapist_taken_off_the_care_team_can_no_longer_read_their_notes(tess_note, avery, tess, login):
    CareTeamMember.objects.filter(client=avery, user=tess).delete()
    assert login(tess).get(reverse("process_notes:detail", args=[avery.pk, tess_note.pk])).status_code == 404
    assert login(tess).get(reverse("process_notes:list", args=[avery.pk])).status_code == 404


def test_the_audit_log_never_carries_the_words(tess_note, avery, tess, ada, login):
    http = login(tess)
    http.get(reverse("process_notes:list", args=[avery.pk]))
    http.get(reverse("process_notes:detail", args=[avery.pk, tess_note.pk]))
    actions = set(AuditEvent.objects.filter(client=avery).values_list("action", flat=True))
    assert {
        "kapflow.notes.process.written",
        "kapflow.notes.process.listed",
        "kapflow.notes.process.viewed",
    } <= actions
    for event in AuditEvent.objects.all():
        assert PHRASE not in str(event.detail) and PHRASE not in event.object_id, event.action
    page = login(ada).get(reverse("audit_log")).content.decode()
    assert "wrote a process note of" in page
    assert PHRASE not in page


def test_the_chart_links_the_author_to_them_and_never_shows_them(tess_note, avery, tess, priya, login):
    chart = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert "Process notes (only you can read these)" in chart
    assert reverse("process_notes:list", args=[avery.pk]) in chart
    assert PHRASE not in chart
    chart = login(priya).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert "Process notes" not in chart and PHRASE not in chart


def test_they_never_appear_on_the_client_s_portal(tess_note, avery, cleo, login):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    http = login(cleo)
    candidates = {"client_id": avery.pk, "visit_id": tess_note.visit_id}
    opened = 0
    for name in sorted(n for n in project_url_names() if n.startswith("portal")):
        url = None
        for kwargs in ({}, {"client_id": avery.pk}, candidates):
            try:
                url = reverse(name, kwargs=kwargs)
                break
            except NoReverseMatch:
                continue
        if url is None:
            continue
        response = http.get(url)
        assert response.status_code < 500, url
        assert PHRASE.encode() not in response.content, url
        opened += response.status_code == 200
    assert opened >= 5  # the walk did reach the portal's pages


def _pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


@pytest.mark.parametrize("kind", list(Letter.Kind))
def test_they_never_appear_in_a_letter(kind, avery, tess, priya):
    """Every kind of letter, with every category its release allows, about a session the notes
    are tied to: neither the signed PDF nor the facts it was made from carries them."""
    from kapflow.clients.models import OutsideProvider

    practice = Practice.load()
    Consultation.objects.create(
        client=avery,
        held_on=timezone.localdate() - datetime.timedelta(days=40),
        clinician=tess,
        why_kap="Low mood for years",
        history="h",
        previous_treatment="Talk therapy",
        supports="s",
        expectations="e",
        goals="Work again",
        decision=Consultation.Decision.PROCEED,
    )
    runbook = _session(avery, therapist=tess, prescriber=priya, days_ago=5, practice=practice)
    ProcessNote.objects.create(client=avery, author=tess, visit=runbook.visit, text=PHRASE)
    ProcessNote.objects.create(client=avery, author=tess, text=f"{PHRASE}, again")
    provider = OutsideProvider.objects.create(client=avery, name="Dr. Rowan Reyes", kind="psychiatrist")
    _release(avery, provider, EVERY_CATEGORY, by=tess)
    letter = _draft(
        tess,
        avery,
        provider,
        kind,
        runbook=runbook if kind == Letter.Kind.POST_SESSION else None,
        body="Hello.",
    )
    letter = letter_services.letter_sign(request=Request(tess), letter=letter, practice=practice)
    assert letter.is_signed
    assert PHRASE not in str(letter.facts)
    assert "Heron lantern" not in _pdf_text(pdf.signed_pdf_bytes(letter))


def test_nothing_but_the_process_notes_module_reads_the_table():
    """The structural proof behind "never in a letter, an export or the portal": no module of
    kapflow names the model but its own, its pages' and the migrations."""
    root = Path(kapflow.__file__).parent
    allowed = {"notes/models.py", "notes/process.py", "notes/process_views.py"}
    readers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "migrations" not in path.parts
        and re.search(r"\bProcessNote\b", path.read_text())
        and str(path.relative_to(root)) not in allowed
    )
    assert readers == []
