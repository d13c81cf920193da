"""Issue 11, item 9: sessions end. A background poll (the runbook's live panel) is not activity;
the session is not rewritten on every request; whatever the activity, a session ends
SESSION_MAX_HOURS after signing in."""

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.urls import reverse

pytestmark = pytest.mark.django_db
START = datetime.datetime(2026, 11, 22, 9, 0, tzinfo=datetime.UTC)
POLL = {"HTTP_HX_REQUEST": "true", "HTTP_X_KAPFLOW_POLL": "1"}
ROOT = Path(__file__).resolve().parent.parent


def _signed_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_background_polls_do_not_keep_an_idle_session_alive(login, tess):
    page = reverse("clients:caseload")
    with time_machine.travel(START, tick=False) as clock:
        browser = login(tess)
        assert browser.get(page).status_code == 200
        # The live panel refreshes every 30 s for the next half hour: none of it is activity.
        for _ in range(29):
            clock.shift(datetime.timedelta(minutes=1))
            assert browser.get(page, **POLL).status_code == 200
        clock.shift(datetime.timedelta(minutes=1, seconds=30))
        # Thirty idle minutes and a half: the next poll finds the session over (401 for htmx) …
        assert browser.get(page, **POLL).status_code == 401
        # … and so does the person.
        assert _signed_out(browser.get(page))


def test_real_activity_keeps_the_session_alive(login, tess):
    page = reverse("clients:caseload")
    with time_machine.travel(START, tick=False) as clock:
        browser = login(tess)
        for _ in range(4):
            clock.shift(datetime.timedelta(minutes=25))
            assert browser.get(page).status_code == 200
        clock.shift(datetime.timedelta(minutes=29))
        assert browser.post(reverse("keepalive")).status_code == 204  # "Stay signed in"
        clock.shift(datetime.timedelta(minutes=29))
        assert browser.get(page).status_code == 200


def test_the_session_is_not_written_on_every_request(login, tess):
    page = reverse("clients:caseload")
    with time_machine.travel(START, tick=False) as clock:
        browser = login(tess)
        browser.get(page)
        key = browser.session.session_key

        def stored():
            row = Session.objects.get(pk=key)
            return row.session_data, row.expire_date

        before = stored()
        clock.shift(datetime.timedelta(seconds=20))
        browser.get(page)
        browser.get(page, **POLL)
        assert stored() == before
        clock.shift(datetime.timedelta(minutes=2))
        browser.get(page, **POLL)
        assert stored() == before  # a poll, even minutes later, writes nothing
        browser.get(page)
        assert stored() != before  # activity a minute or more later is written


def test_a_session_ends_after_its_lifetime_whatever_the_activity(login, tess, settings, audit_rows):
    page = reverse("clients:caseload")
    assert settings.SESSION_MAX_HOURS == 12
    with time_machine.travel(START, tick=False) as clock:
        browser = login(tess)
        for _ in range(12 * 3):
            clock.shift(datetime.timedelta(minutes=20))
            assert browser.get(page).status_code == 200
        clock.shift(datetime.timedelta(minutes=1))
        assert _signed_out(browser.get(page))
    assert [row.detail for row in audit_rows("kapflow.accounts.signout.succeeded")] == [
        {"reason": "lifetime"}
    ]


def test_an_idle_sign_out_is_audited_as_such(login, tess, audit_rows):
    with time_machine.travel(START, tick=False) as clock:
        browser = login(tess)
        clock.shift(datetime.timedelta(minutes=31))
        assert _signed_out(browser.get(reverse("clients:caseload")))
    [row] = audit_rows("kapflow.accounts.signout.succeeded")
    assert row.actor == tess and row.detail == {"reason": "idle"}


def test_the_runbook_live_panel_is_a_timed_poll_the_page_script_marks():
    """The server knows a poll by the X-Kapflow-Poll header, which the page script adds to every
    request an element makes on a timer; the live panel is such an element."""
    live = (ROOT / "kapflow/dosing/templates/dosing/_live.html").read_text()
    script = (ROOT / "kapflow/static/kapflow/kapflow.js").read_text()
    assert 'hx-trigger="every 30s"' in live
    assert '"X-Kapflow-Poll"' in script and "every" in script


def _setting(name: str, **env) -> subprocess.CompletedProcess:
    code = f"from django.conf import settings; print(settings.{name})"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_the_lifetime_is_a_setting_from_the_environment():
    result = _setting("SESSION_MAX_HOURS", KAPFLOW_SESSION_MAX_HOURS="3")
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1] == "3"
    result = _setting("SESSION_MAX_HOURS", KAPFLOW_SESSION_MAX_HOURS="a day")
    assert result.returncode != 0 and "KAPFLOW_SESSION_MAX_HOURS" in result.stderr


def _session_writes(browser, page, **headers) -> list[str]:
    """The SQL that wrote django_session during one request, and whether the cookie was set."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = browser.get(page, **headers)
    assert response.status_code == 200
    writing = ("UPDATE", "INSERT", "DELETE")
    writes = [
        q["sql"]
        for q in captured.captured_queries
        if "django_session" in q["sql"] and q["sql"].lstrip().upper().startswith(writing)
    ]
    if "sessionid" in response.cookies:
        writes.append("Set-Cookie: sessionid")
    return writes


def test_a_signed_in_get_with_a_fresh_activity_stamp_writes_no_session(login, tess):
    """Issue 12: nothing else in a signed-in request writes the session either (the MFA check,
    allauth's middleware, the messages): the one write is the activity stamp, at most once a
    minute, and never for a poll."""
    page = reverse("clients:caseload")
    with time_machine.travel(START, tick=False) as clock:
        browser = login(tess)
        browser.get(page)  # the MFA middleware notes the authenticator once a session
        clock.shift(datetime.timedelta(seconds=30))
        assert _session_writes(browser, page) == []
        assert _session_writes(browser, reverse("home")) == []
        clock.shift(datetime.timedelta(minutes=5))
        assert _session_writes(browser, page, **POLL) == []
        assert len(_session_writes(browser, page)) == 2  # the UPDATE and the refreshed cookie
        assert _session_writes(browser, page) == []
