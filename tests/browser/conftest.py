"""The browser tests: Debian's Chromium, driven by Playwright's sync API, against pytest-django's
`live_server`. One browser for the whole session, a fresh browser context (cookies, storage)
for every page a test opens.

Two things make this folder different from the rest of the suite:

* Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls from a
  thread with a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE is set. The tests only touch the
  ORM between browser steps, never concurrently with them.
* `live_server` needs a transactional database, which Django empties with `flush` after each
  test. The audit table refuses DELETE/TRUNCATE (kapflow/audit/db.py), so the triggers are
  lifted just before the flush and put back just after it.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client as HttpClient
from playwright.sync_api import expect, sync_playwright

from kapflow.audit.db import drop_triggers, install_triggers

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
# `make screenshots` sets it: the browser tests then photograph the pages they open.
# (AUDIT_SHOTS, test_audit_page_widths.py's own folder for its pictures, asks for them too.)
TAKE_SCREENSHOTS = os.environ.get("KAPFLOW_SCREENSHOTS") == "1" or bool(os.environ.get("AUDIT_SHOTS"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}
# Chromium asks every site for /favicon.ico and logs the 404 as a console error; kapflow has no
# favicon (yet), and that one error says nothing about the page under test.
UNWATCHED_SOURCES = ("/favicon.ico",)

expect.set_options(timeout=10_000)


def _chromium() -> str | None:
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium_browser():
    """Debian's Chromium, launched once. Playwright cannot download its own browser here."""
    executable = _chromium()
    if executable is None:
        reason = "the browser tests need Debian's chromium (apt-get install chromium, or `make browser`)"
        if os.environ.get("KAPFLOW_REQUIRE_BROWSER") == "1":
            pytest.fail(f"KAPFLOW_REQUIRE_BROWSER=1 but chromium is missing: {reason}", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def audit_triggers_restored(django_db_blocker):
    """Puts the append-only triggers back once the test's database has been flushed.

    Django closed the test's connection after the flush, so this opens one; close it again, or
    it outlives the session (while Playwright's loop runs, Django keeps connections in
    context-local storage that the final teardown never sees) and PostgreSQL then refuses to
    drop the test database. SQLite's in-memory database ignores the close, as it must."""
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture
def audit_triggers_lifted(transactional_db):
    """Lifts the append-only triggers just before Django flushes the test's database."""
    yield
    drop_triggers(connection)


@pytest.fixture
def transactional_db(audit_triggers_restored, transactional_db):
    """pytest-django's own transactional_db, set up after `audit_triggers_restored`.

    pytest-django's autouse `_live_server_helper` asks for transactional_db before any fixture
    a test names, so without this override the flush would be torn down last, after
    `audit_triggers_restored` had already put the triggers back, and it would fail. Depending on
    `audit_triggers_restored` first makes the teardown run: lift the triggers, flush, restore."""
    return transactional_db


@pytest.fixture
def console_errors():
    """Every console error and uncaught page exception seen by any page the test opened."""
    return []


@pytest.fixture
def open_page(audit_triggers_restored, live_server, audit_triggers_lifted, chromium_browser, console_errors):
    """open_page(user=None) -> a page in a fresh browser context, signed in as `user` when given
    (through a session cookie: the sign-in form itself is tested in test_two_factor_sign_in.py)."""
    contexts = []

    def _open(user=None):
        context = chromium_browser.new_context(
            base_url=live_server.url, viewport=VIEWPORT, locale="en-US", timezone_id=settings.TIME_ZONE
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        if user is not None:
            http = HttpClient()
            http.force_login(user)
            session = http.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
        page = context.new_page()
        if not TAKE_SCREENSHOTS:
            # Pictures are for people to look at (`make screenshots`); a test run that nobody
            # looks at skips them, and their time (over a third of `make test` with them).
            page.screenshot = lambda *args, **kwargs: b""

        def on_console(message):
            source = (message.location or {}).get("url", "")
            if message.type == "error" and not source.endswith(UNWATCHED_SOURCES):
                console_errors.append(f"{page.url}: {message.text} [{source}]")

        page.on("console", on_console)
        page.on("pageerror", lambda error: console_errors.append(f"{page.url}: uncaught {error}"))
        return page

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture
def page(audit_triggers_restored, live_server, audit_triggers_lifted, open_page):
    """A fresh, signed-out page."""
    return open_page()
