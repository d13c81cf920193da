"""Hostile and malformed input on issue 5's client-facing code: the portal (invitations, consents,
calendar files), the portal's measures, the journal (editor and the draft saved as one types),
and the staff pages beside them (invitations and the progress switch, the shared journal, the
outcome report, the reminders page). The same standard as tests/test_hostile_input.py, whose
helpers this file uses: no request ever gives a 500, and a form with errors comes back saying
what to fix with what was typed still in it. Meant to run on SQLite and on PostgreSQL."""

import datetime
import secrets

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.urls.converters import IntConverter
from django.utils import timezone
from django.utils.html import escape
from hypothesis import example, given
from hypothesis import strategies as st

from kapflow.consent.models import ConsentDocument, Kind
from kapflow.journal.models import JournalEntry
from kapflow.journal.services import MAX_CHARS
from kapflow.measures.models import MeasureTask
from kapflow.portal.models import PortalInvitation, token_hash
from kapflow.visits.models import Visit
from tests import factories, test_hostile_input
from tests.test_hostile_input import (
    HOSTILE,
    HUGE_IDS,
    INT_PATTERNS,
    _errors_shown,
    _no_500,
    _typed_values_kept,
    hostile_text,
    hostile_value,
)

pytestmark = pytest.mark.django_db

FUZZ = HOSTILE

browser = test_hostile_input.browser

# The URL names this work added (the portal's, and the staff pages beside it).
PORTAL_NAMESPACES = ("portal", "portal_measures", "portal_journal", "portal_staff")
STAFF_NAMES = {"journal:list", "measures:progress", "reminders:send_again"}
NEW_PATTERNS = [
    (name, converters)
    for name, converters in INT_PATTERNS
    if name.split(":")[0] in PORTAL_NAMESPACES or name in STAFF_NAMES
]
SLUGS = {"kind": Kind.KAP, "topic": "the-session"}


@pytest.fixture
def world(avery, cleo, tess, gail):
    """Avery with Cleo as her portal account, one of everything a portal URL points at, and a
    16-year-old with Gail as her guardian."""
    avery.portal_user = cleo
    avery.portal_shows_progress = True
    avery.save(update_fields=["portal_user", "portal_shows_progress"])
    start = timezone.now() + datetime.timedelta(days=3)
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=150),
        modality=Visit.Modality.VIRTUAL,
        video_link="https://video.example.org/room/abc",
        clinician=tess,
        created_by=tess,
    )
    task = MeasureTask.objects.create(
        client=avery, instrument="phq9", reason="weekly", due_at=timezone.now() - datetime.timedelta(hours=1)
    )
    now = timezone.now()
    entry = JournalEntry.objects.create(client=avery, body="Kept.", written_at=now, updated_at=now)
    teen = factories.make_client(first_name="Tia", age=16, therapist=tess)
    guardian = factories.add_guardian(teen)
    guardian.portal_user = gail
    guardian.save(update_fields=["portal_user"])
    return {
        "avery": avery,
        "teen": teen,
        "client_id": avery.pk,
        "visit_id": visit.pk,
        "task_id": task.pk,
        "entry_id": entry.pk,
        "provider_id": avery.outside_providers.create(name="Dr. Reyes", kind="psychiatrist").pk,
        "reminder_id": 1,
        "task": task,
        "entry": entry,
    }


def _urls_with_one_huge_id(world, huge):
    for name, converters in NEW_PATTERNS:
        real = {
            key: (world.get(key, huge) if isinstance(converter, IntConverter) else SLUGS.get(key, "x"))
            for key, converter in converters.items()
        }
        for key, converter in converters.items():
            if isinstance(converter, IntConverter):
                yield reverse(name, kwargs={**real, key: huge})


def test_every_new_int_pattern_is_tried():
    names = {name for name, _ in NEW_PATTERNS}
    assert {
        "portal:visit_ics",
        "portal_measures:task",
        "portal_journal:draft",
        "portal_journal:discard",
        "portal_staff:invite",
        "journal:list",
    } <= names


def test_a_huge_id_in_any_portal_url_is_not_found(world, cleo, gail, tess, login):
    """Each int parameter of each new pattern in turn set to a number no row can have, as the
    client, the guardian and the therapist, by GET and by POST: never a 500, never a page."""
    failures = []
    people = {"cleo": login(cleo), "gail": login(gail), "tess": login(tess)}
    for huge in HUGE_IDS:
        for url in _urls_with_one_huge_id(world, huge):
            for who, http in people.items():
                for method in (http.get, http.post):
                    response = method(url)
                    if response.status_code not in (403, 404, 405):
                        failures.append(f"{who} {method.__name__.upper()} {url}: {response.status_code}")
    assert not failures, "\n".join(failures)


WRONG_METHODS = ("put", "patch", "delete", "options")


def test_wrong_methods_on_every_portal_url_are_refused(world, cleo, tess, ada, login):
    http = login(cleo)
    failures = []
    for name, converters in NEW_PATTERNS:
        kwargs = {
            key: (world.get(key) if isinstance(converter, IntConverter) else SLUGS.get(key, "x"))
            for key, converter in converters.items()
        }
        url = reverse(name, kwargs=kwargs)
        for method in WRONG_METHODS:
            response = getattr(http, method)(url)
            if response.status_code >= 500 or response.status_code == 200 and method != "options":
                failures.append(f"{method.upper()} {url}: {response.status_code}")
    for who, url in ((tess, reverse("outcomes:report")), (tess, reverse("outcomes:report_csv"))):
        for method in WRONG_METHODS[:3]:
            if getattr(login(who), method)(url).status_code != 405:
                failures.append(f"{method.upper()} {url}")
    for method in WRONG_METHODS[:3]:
        if getattr(login(ada), method)(reverse("reminders:list")).status_code != 405:
            failures.append(f"{method.upper()} reminders:list")
    assert not failures, "\n".join(failures)
    # Nothing was changed by any of them.
    world["entry"].refresh_from_db()
    world["task"].refresh_from_db()
    assert world["entry"].body == "Kept." and world["task"].is_open


# --- The portal's measure form ---------------------------------------------------------------

PHQ9_VALID = {f"item_{n}": "1" for n in range(1, 10)}


@FUZZ
@given(
    data=st.fixed_dictionaries({}, optional=dict.fromkeys([*PHQ9_VALID, "context", "task"], hostile_value))
)
@example(data={"item_1": "9" * 5000})
@example(data={"item_9": ["0", "3"]})
@example(data={"item_1": "\x00"})
def test_the_portal_measure_form_takes_anything(browser, world, cleo, data):
    body = {**PHQ9_VALID, **data}
    url = reverse("portal_measures:task", args=[world["client_id"], world["task_id"]])
    response = browser(cleo).post(url, body)
    _no_500(response)
    task = MeasureTask.objects.get(pk=world["task_id"])
    if response.status_code == 302:
        # Saved: the answers recorded are exactly the ones sent, each 0-3.
        assert task.response is not None
        assert all(0 <= value <= 3 for value in task.response.answers.values())
        MeasureTask.objects.filter(pk=task.pk).update(response=None)
    else:
        assert response.status_code == 200
        _errors_shown(response)
        assert task.response is None


# --- The journal -----------------------------------------------------------------------------

JOURNAL_FIELDS = ["body", "entry", "visit", "hours", "csrfmiddlewaretoken", "shared_at", "client"]
journal_body = st.fixed_dictionaries({}, optional=dict.fromkeys(JOURNAL_FIELDS, hostile_value))


@FUZZ
@given(data=journal_body)
@example(data={"body": "x" * (MAX_CHARS + 1)})
@example(data={"body": "   "})
@example(data={"body": "Mine.", "entry": str(2**63)})
@example(data={"body": "Mine.", "visit": "1", "hours": "2"})
@example(data={"body": ["one", "two"]})
@example(data={"body": "Nul\x00here"})
def test_the_journal_editor_takes_anything(browser, world, cleo, data):
    """A new entry and the saved one, by Save: a save redirects to the entry, whose saved text is
    exactly what was typed; anything else comes back with the error and the text typed."""
    for url in (
        reverse("portal_journal:new", args=[world["client_id"]]),
        reverse("portal_journal:entry", args=[world["client_id"], world["entry_id"]]),
    ):
        response = browser(cleo).post(url, data)
        _no_500(response)
        if response.status_code == 302:
            saved = JournalEntry.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
            typed = data.get("body")
            typed = typed[-1] if isinstance(typed, list) else typed
            assert saved.body == typed and saved.client_id == world["client_id"]
            assert saved.draft == ""
        else:
            assert response.status_code == 200
            _errors_shown(response)
            typed = data.get("body", "")
            typed = typed[-1] if isinstance(typed, list) else typed
            if "\x00" not in typed and typed.strip():
                assert escape(typed) in response.content.decode(), "the text typed was lost"
    # Whatever happened, no other client's journal gained an entry.
    assert not JournalEntry.objects.exclude(client_id=world["client_id"]).exists()


@FUZZ
@given(data=journal_body)
@example(data={"body": "x" * (MAX_CHARS + 1), "entry": "1"})
@example(data={"entry": "-1", "body": "a"})
@example(data={"entry": ["1", "2"], "body": "a"})
def test_the_draft_endpoint_takes_anything(browser, world, cleo, data):
    response = browser(cleo).post(reverse("portal_journal:draft", args=[world["client_id"]]), data)
    _no_500(response)
    assert response.status_code == 200
    assert 'id="draft-state"' in response.content.decode()
    world["entry"].refresh_from_db()
    assert world["entry"].body == "Kept."  # a draft never changes the saved text
    assert not JournalEntry.objects.exclude(client_id=world["client_id"]).exists()


@FUZZ
@given(query=st.fixed_dictionaries({}, optional={"visit": hostile_value, "hours": hostile_value}))
def test_the_new_entry_page_takes_any_query(browser, world, cleo, query):
    response = browser(cleo).get(reverse("portal_journal:new", args=[world["client_id"]]), query)
    _no_500(response)
    assert response.status_code == 200


# --- Consents on the portal -------------------------------------------------------------------


@FUZZ
@given(
    data=st.fixed_dictionaries(
        {}, optional=dict.fromkeys(["typed_name", "decision", "sha256", "signer", "client"], hostile_value)
    )
)
@example(data={"typed_name": "Avery Alvarez", "decision": "agree", "sha256": "0" * 64})
@example(data={"typed_name": "a" * 5000, "decision": "maybe"})
@example(data={"sha256": "x" * 500})
def test_the_portal_signature_form_takes_anything(browser, world, cleo, data):
    assert ConsentDocument.objects.published().filter(kind=Kind.KAP).exists()
    url = reverse("portal:consent_sign", args=[world["client_id"], Kind.KAP])
    response = browser(cleo).post(url, data)
    _no_500(response)
    if response.status_code == 200:
        _errors_shown(response)
        typed = data.get("typed_name", "")
        if isinstance(typed, str) and "\x00" not in typed and len(typed) <= 150:
            _typed_values_kept(response, {"typed_name": typed}, ["typed_name"])
    else:
        assert response.status_code == 302


# --- Invitations -------------------------------------------------------------------------------


def _token(staff, client) -> str:
    """A live invitation for the client, and its token as the email would carry it."""
    token = secrets.token_urlsafe(32)
    PortalInvitation.objects.filter(client=client).delete()
    PortalInvitation.objects.create(
        client=client,
        email=client.email,
        token_sha256=token_hash(token),
        created_by=staff,
        expires_at=timezone.now() + datetime.timedelta(days=1),
    )
    return token


@FUZZ
@given(
    data=st.fixed_dictionaries(
        {}, optional=dict.fromkeys(["password1", "password2", "password", "email"], hostile_value)
    )
)
@example(data={"password1": "a" * 5000, "password2": "a" * 5000})
@example(data={"password1": "short", "password2": "short"})
@example(data={"password1": ["one-long-password-here", "two"], "password2": "two"})
def test_the_accept_form_takes_anything(db, olive, colin, data):
    olive.email = "olive@example.org"
    olive.save(update_fields=["email"])
    token = _token(colin, olive)
    response = HttpClient().post(reverse("portal:accept", args=[token]), data)
    _no_500(response)
    assert response.status_code in (200, 302)
    if response.status_code == 200 and "form" in response.context:
        _errors_shown(response)
    else:  # signed in, or (an account made by an earlier example, wrong passwords) the link stopped
        assert response.status_code == 302 or b"This link no longer works" in response.content


@FUZZ
@given(token=hostile_text)
@example(token="a" * 43)
@example(token="x" * 5000)
def test_any_token_in_the_link_is_refused_without_a_hint(db, token):
    token = token.replace("/", "").strip() or "x"
    try:
        url = reverse("portal:accept", args=[token])
    except Exception:
        return  # not a URL a browser could send
    response = HttpClient().get(url)
    _no_500(response)
    assert response.status_code in (200, 404)


# --- Staff pages beside the portal ----------------------------------------------------------------


@FUZZ
@given(who=hostile_value, show=hostile_value)
@example(who="guardian:99999999999999999999", show="on")
@example(who=["client", "guardian:1"], show=["on", "off"])
@example(who="guardian:", show="")
def test_the_invite_and_progress_buttons_take_anything(browser, world, tess, who, show):
    http = browser(tess)
    teen = world["teen"]
    for url, body in (
        (reverse("portal_staff:invite", args=[teen.pk]), {"who": who}),
        (reverse("portal_staff:progress", args=[teen.pk]), {"show": show}),
    ):
        response = http.post(url, body)
        _no_500(response)
        assert response.status_code == 302


@FUZZ
@given(query=st.fixed_dictionaries({}, optional={"start": hostile_value, "end": hostile_value}))
@example(query={"start": "9999-12-31", "end": "0001-01-01"})
@example(query={"start": ["2026-01-01", "2025-01-01"]})
def test_the_outcome_report_takes_any_period(browser, tess, query):
    for name in ("outcomes:report", "outcomes:report_csv"):
        response = browser(tess).get(reverse(name), query)
        _no_500(response)
        assert response.status_code in (200, 400)
        if response.status_code == 400:
            _errors_shown(response)


@FUZZ
@given(status=hostile_value)
def test_the_reminders_page_takes_any_filter(browser, ada, status):
    response = browser(ada).get(reverse("reminders:list"), {"status": status})
    _no_500(response)
    assert response.status_code == 200
