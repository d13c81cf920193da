"""A client's history lists (kapflow.lib.capped): each page shows the newest rows and "Show all",
in the same number of queries however long the history, and `?<param>=all` lists every row."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapflow.clients.models import OutsideProvider
from kapflow.documents.models import ChartDocument
from kapflow.documents.views import DOCUMENTS_SHOWN
from kapflow.journal.models import JournalEntry
from kapflow.journal.views import ENTRIES_SHOWN
from kapflow.letters.models import Letter
from kapflow.letters.views import LETTERS_SHOWN
from kapflow.measures.models import Response
from kapflow.measures.views import RESULTS_SHOWN
from kapflow.notes.models import ProcessNote, ProgressNote
from kapflow.notes.process_views import PROCESS_NOTES_SHOWN
from kapflow.notes.views import NOTES_SHOWN
from kapflow.visits.models import Visit
from kapflow.visits.views.visits import VISITS_SHOWN

pytestmark = pytest.mark.django_db


def _visits(client, clinician, count, *, past=True, kind=Visit.Kind.THERAPY, first=0):
    """`count` video visits of the client, a day apart: before now (`past`) or after it."""
    now = timezone.now()
    visits = []
    for n in range(first, first + count):
        starts = now + (-1 if past else 1) * datetime.timedelta(days=n + 1)
        visits.append(
            Visit(
                client=client,
                kind=kind,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(minutes=50),
                modality=Visit.Modality.VIRTUAL,
                clinician=clinician,
                created_by=clinician,
            )
        )
    return Visit.objects.bulk_create(visits)


def _notes(client, author, count, *, first=0):
    return ProgressNote.objects.bulk_create(
        ProgressNote(visit=visit, client=client, author=author)
        for visit in _visits(client, author, count, first=first)
    )


def _unwritten(client, clinician, count, *, first=0):
    _visits(client, clinician, count, first=first)


def _results(client, _author, count, *, first=0):
    now = timezone.now()
    Response.objects.bulk_create(
        Response(
            client=client,
            instrument="phq9" if n % 2 else "gad7",
            version="1",
            answers={},
            total=5,
            band="Mild",
            context=Response.Context.WEEKLY,
            completed_at=now - datetime.timedelta(days=n + 1),
        )
        for n in range(first, first + count)
    )


def _process_notes(client, author, count, *, first=0):
    now = timezone.now()
    ProcessNote.objects.bulk_create(
        ProcessNote(
            client=client, author=author, text=f"Thought {n}", written_at=now - datetime.timedelta(days=n)
        )
        for n in range(first, first + count)
    )


def _journal(client, _author, count, *, first=0):
    now = timezone.now()
    JournalEntry.objects.bulk_create(
        JournalEntry(
            client=client,
            body=f"Entry {n}",
            written_at=now - datetime.timedelta(days=n + 1),
            shared_at=now - datetime.timedelta(days=n),
        )
        for n in range(first, first + count)
    )


def _documents(client, author, count, *, first=0):
    now = timezone.now()
    ChartDocument.objects.bulk_create(
        ChartDocument(
            client=client,
            kind=ChartDocument.Kind.LAB_RESULTS,
            title=f"Lab {n}",
            file=f"documents/lab{n}.pdf",
            original_name=f"lab{n}.pdf",
            content_type="application/pdf",
            extension="pdf",
            size=10,
            sha256="0" * 64,
            uploaded_by=author,
            uploaded_at=now - datetime.timedelta(days=n),
        )
        for n in range(first, first + count)
    )


def _letters(client, author, count, *, first=0):
    now = timezone.now()
    provider = OutsideProvider.objects.filter(client=client).first() or OutsideProvider.objects.create(
        client=client, kind=OutsideProvider.Kind.PSYCHIATRIST, name="Dr Lane"
    )
    Letter.objects.bulk_create(
        Letter(
            client=client,
            kind=Letter.Kind.COLLABORATION,
            provider=provider,
            created_by=author,
            created_at=now - datetime.timedelta(days=n),
        )
        for n in range(first, first + count)
    )


def _upcoming(client, clinician, count, *, first=0):
    _visits(client, clinician, count, past=False, first=first)


# What each list is called on its page, its page, its query parameter, how many rows it shows,
# which rows it shows first, how to add rows, and how a row shows in the page's HTML.
LISTS = {
    "past visits": ("/visits/", "past", VISITS_SHOWN, "newest", _visits, r"visits/\d+/\">\w{3} \w{3} \d+, "),
    "visits coming up": ("/visits/", "coming", VISITS_SHOWN, "soonest", _upcoming, r"visits/\d+/\">"),
    "notes": ("/notes/", "notes", NOTES_SHOWN, "latest", _notes, r"/notes/\d+/\">"),
    "visits without a note": ("/notes/", "owed", NOTES_SHOWN, "latest", _unwritten, r"/notes/visits/\d+/\">"),
    "results": (
        "/measures/",
        "results",
        RESULTS_SHOWN,
        "newest",
        _results,
        r"<td><a href=\"[^\"]*/measures/\d+/\">",
    ),
    "process notes": (
        "/process-notes/",
        "notes",
        PROCESS_NOTES_SHOWN,
        "newest",
        _process_notes,
        r"process-notes/\d+/\">",
    ),
    "documents": (
        "/documents/",
        "documents",
        DOCUMENTS_SHOWN,
        "newest",
        _documents,
        r"/documents/\d+/\">Lab",
    ),
    "letters": ("/letters/", "letters", LETTERS_SHOWN, "newest", _letters, r"/letters/\d+/\">"),
    "shared entries": (
        "/journal/",
        "entries",
        ENTRIES_SHOWN,
        "newest",
        _journal,
        r"<article class=\"card journal-shared\">",
    ),
}


@pytest.fixture
def history(tess, priya):
    from tests import factories

    return factories.make_client(first_name="Hollis", therapist=tess, prescriber=priya)


def _rows(html: str, pattern: str) -> int:
    return len(re.findall(pattern, html))


def _get(http, url):
    with CaptureQueriesContext(connection) as captured:
        response = http.get(url)
    assert response.status_code == 200, url
    return response.content.decode(), len(captured.captured_queries)


@pytest.mark.parametrize("name", LISTS)
def test_a_long_history_shows_its_first_rows_and_all_of_them_on_asking(name, history, tess, login):
    path, param, shown, first, add, row = LISTS[name]
    http = login(tess)
    url = f"/clients/{history.pk}{path}"
    http.get(url)  # the session's first request looks at the authenticator once
    add(history, tess, shown)
    html, exactly = _get(http, url)
    assert _rows(html, row) == shown, name
    assert "capped-note" not in html, name

    add(history, tess, 5, first=shown)
    html, longer = _get(http, url)
    assert _rows(html, row) == shown, name
    assert f"The {first} {shown} of {shown + 5} {name} are shown" in html
    assert f"?{param}=all#" in html and f"Show all {shown + 5}" in html
    # One query more than a history that fits: the count, asked only when there is more.
    assert longer == exactly + 1, name

    add(history, tess, 3 * shown, first=shown + 5)
    html, grown = _get(http, url)
    assert _rows(html, row) == shown, name
    assert grown == longer, f"{name}: {longer} queries with {shown + 5} rows, {grown} with {4 * shown + 5}"

    whole, _queries = _get(http, f"{url}?{param}=all")
    assert _rows(whole, row) == 4 * shown + 5, name
    assert f"All {4 * shown + 5} {name} are shown" in whole and f"Show only the {first} {shown}" in whole
    # The rows shown are the whole list's first, in its order.
    assert re.findall(row, html) == re.findall(row, whole)[:shown], name


def test_show_all_keeps_the_pages_other_choices(rf):
    from kapflow.lib.capped import capped

    request = rf.get("/clients/1/visits/", {"coming": "all", "past": "x"})
    listed = capped(request, list(range(30)), param="past", limit=10, anchor="past-h")
    assert listed.rows == list(range(10)) and listed.total == 30 and not listed.showing_all
    assert listed.all_url == "?coming=all&past=all#past-h"
    assert listed.first_url == "?coming=all#past-h"
    everything = capped(rf.get("/", {"past": "all"}), list(range(30)), param="past", limit=10)
    assert everything.rows == list(range(30)) and everything.showing_all and everything.first_url == "?"


def test_the_measures_page_shows_each_instruments_latest_even_past_the_newest_rows(history, tess, login):
    """The cards at the top are each instrument's latest, read on their own: a PCL-5 given at the
    start of the course is still shown once weekly PHQ-9s and GAD-7s push it off the list."""
    now = timezone.now()
    Response.objects.create(
        client=history,
        instrument="pcl5",
        version="1",
        answers={},
        total=40,
        band="Probable PTSD",
        context=Response.Context.BASELINE,
        completed_at=now - datetime.timedelta(days=200),
    )
    _results(history, tess, RESULTS_SHOWN + 10)
    response = login(tess).get(f"/clients/{history.pk}/measures/")
    latest = response.context["latest"]
    assert [row["instrument"] for row in latest] == ["gad7", "phq9", "pcl5"]
    assert latest[2]["total"] == 40
    assert 'aria-label="Latest PCL-5"' in response.content.decode()


def test_only_the_journal_entries_shown_are_recorded_as_read(history, tess, login, audit_rows):
    _journal(history, tess, ENTRIES_SHOWN + 4)
    login(tess).get(f"/clients/{history.pk}/journal/")
    read = audit_rows("kapflow.journal.shared.read")[-1]
    newest = JournalEntry.objects.filter(client=history).order_by("-written_at", "-pk")[:ENTRIES_SHOWN]
    assert read.detail["entries"] == [entry.pk for entry in newest]


def test_a_visit_of_another_year_says_which(history, tess, login):
    """Two years of visits hold two of each date: the list writes the year of any visit not in
    this one."""
    now = timezone.localtime()
    [this_year] = _visits(history, tess, 1)
    [last_year] = _visits(history, tess, 1, first=400)
    html = login(tess).get(f"/clients/{history.pk}/visits/").content.decode()
    assert timezone.localtime(last_year.starts_at).strftime("%a %b %-d, %Y, %H:%M") in html
    if timezone.localtime(this_year.starts_at).year == now.year:
        assert timezone.localtime(this_year.starts_at).strftime("%a %b %-d, %H:%M") in html
