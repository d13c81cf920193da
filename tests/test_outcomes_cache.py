"""The outcome pages serve a cached report (kapflow.outcomes.cached) only while none of its inputs
has changed: an ended quarter's records can still change, and each change must show at once."""

import csv
import datetime
import io
import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kapflow.lib import kept_figures
from kapflow.measures.instruments import PHQ9
from kapflow.measures.models import Response
from kapflow.outcomes import cached
from kapflow.outcomes.report import build_report, report_csv_rows
from kapflow.visits.models import Visit
from tests.test_outcomes import QUERY, Practice, at, practice  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def shared_cache(settings):
    """The report is cached only in a cache every process shares (Redis): this worker's own Redis
    database, as REDIS_URL gives it (tests/conftest.py), or the machine's."""
    location = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}
    }
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


PHQ9_TABLE = "PHQ-9 (0–27)"
SESSIONS_TABLE = "Sessions and adverse events"
ALL = "All clients treated"


def _figures(lines) -> dict:
    return {(table, row, measure): value for _f, _t, table, row, measure, _unit, value, _note in lines[1:]}


def served(http) -> dict:
    """The figures of the CSV the view serves for the quarter of the practice fixture."""
    download = http.get(reverse("outcomes:report_csv"), QUERY)
    assert download.status_code == 200
    return _figures(list(csv.reader(io.StringIO(download.content.decode("utf-8-sig")))))


def worked_out() -> dict:
    """The same figures worked out afresh, without the cache."""
    report = build_report(
        start=datetime.date.fromisoformat(QUERY["start"]), end=datetime.date.fromisoformat(QUERY["end"])
    )
    return _figures(
        [[str(cell) if cell is not None else "" for cell in line] for line in report_csv_rows(report)]
    )


@pytest.fixture
def as_a_request_outside_a_transaction(monkeypatch):
    """Each test runs in a transaction of its own, rolled back at its end; a page's request runs
    outside any, and only there is a report kept (test_a_report_worked_out_inside_...)."""
    monkeypatch.setattr(kept_figures, "_in_transaction", lambda: False)


def served_again_from_the_cache(serve, work_out) -> None:
    """serve() twice: the same figures, the second time without the figures' own queries (the
    key's are run each time), and the figures as work_out() gives them afresh."""
    with CaptureQueriesContext(connection) as first:
        figures = serve()
    with CaptureQueriesContext(connection) as second:
        assert serve() == figures
    assert len(second.captured_queries) < len(first.captured_queries)
    assert figures == work_out()


@pytest.mark.usefixtures("as_a_request_outside_a_transaction")
def test_the_report_is_served_again_from_the_cache_unchanged(practice, tess, login):  # noqa: F811
    http = login(tess)
    served_again_from_the_cache(lambda: served(http), worked_out)


@pytest.mark.usefixtures("as_a_request_outside_a_transaction")
def test_a_response_entered_late_changes_the_report(practice, tess, login):  # noqa: F811
    http = login(tess)
    assert served(http)[(PHQ9_TABLE, ALL, "n with baseline and end")] == "4"
    # G's end score, entered after the quarter ended: a fifth client with both scores.
    Practice.respond(practice["G"], PHQ9, 6, at("2026-05-01"))
    figures = served(http)
    assert figures[(PHQ9_TABLE, ALL, "n with baseline and end")] == "5"
    assert figures[(PHQ9_TABLE, ALL, "Mean change")] != ""  # five clients: shown now
    assert figures == worked_out()


@pytest.mark.usefixtures("as_a_request_outside_a_transaction")
def test_a_corrected_visit_changes_the_report(practice, tess, login):  # noqa: F811
    http = login(tess)
    assert served(http)[(SESSIONS_TABLE, ALL, "Clients treated")] == "7"
    visit = Visit.objects.get(client=practice["H"])
    visit.status = Visit.Status.NO_SHOW  # recorded as completed by mistake
    visit.save()
    figures = served(http)
    assert figures[(SESSIONS_TABLE, ALL, "Clients treated")] == "6"
    assert figures == worked_out()


@pytest.mark.usefixtures("as_a_request_outside_a_transaction")
def test_rows_written_without_save_change_the_report_too(practice, tess, login):  # noqa: F811
    """A bulk load (or a restored backup) sends no signal: the newest row of each input model is
    in the key as well."""
    http = login(tess)
    served(http)
    Response.objects.bulk_create(
        [
            Response(
                client=practice["G"],
                instrument=PHQ9.key,
                version="1",
                answers={},
                total=6,
                band=PHQ9.band_for(6).label,
                completed_at=at("2026-05-01"),
            )
        ]
    )
    assert served(http)[(PHQ9_TABLE, ALL, "n with baseline and end")] == "5"


def test_a_change_replaces_the_token_again_once_committed(practice, django_capture_on_commit_callbacks):  # noqa: F811
    """A report worked out while a change was being committed (from the data before it) is kept
    under the token the commit then replaces, so it is never read."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Practice.respond(practice["G"], PHQ9, 6, at("2026-05-01"))
    during = cached.REPORT.token()
    for callback in callbacks:
        callback()
    assert cached.REPORT.token() != during


def _quarter_key() -> str:
    since, until = cached.period_bounds(datetime.date(2026, 4, 1), datetime.date(2026, 6, 30))
    return cached.REPORT.key(since.isoformat(), until.isoformat())


@pytest.mark.usefixtures("as_a_request_outside_a_transaction")
def test_a_lost_token_is_a_new_one(practice, tess, login):  # noqa: F811
    http = login(tess)
    figures = served(http)
    key = _quarter_key()
    from django.core.cache import cache

    cache.delete(cached.REPORT.token_key)  # evicted, or the cache restarted
    assert _quarter_key() != key
    assert served(http) == figures


def test_a_report_worked_out_inside_a_transaction_is_not_kept(practice, tess, login):  # noqa: F811
    """Inside the test's transaction (as inside any atomic block) the report is worked out each
    time: a change rolled back after it was read must not come back from the cache."""
    http = login(tess)
    served(http)  # the first request of a session reads more (the session, the person)
    from django.core.cache import cache

    cache.clear()
    with CaptureQueriesContext(connection) as second:
        served(http)
    with CaptureQueriesContext(connection) as third:
        served(http)
    assert len(third.captured_queries) == len(second.captured_queries)


def test_a_cache_that_is_down_does_not_stop_a_record_being_saved(practice, monkeypatch):  # noqa: F811
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("the cache is down")

    monkeypatch.setattr(cache, "set", down)
    monkeypatch.setattr(cached.REPORT, "untrusted", False)
    visit = Visit.objects.get(client=practice["H"])
    visit.status = Visit.Status.NO_SHOW
    visit.save()  # the signal could not replace the token, and said so in the log
    assert Visit.objects.get(pk=visit.pk).status == Visit.Status.NO_SHOW
    # ... and from then on this process works every report out afresh.
    assert cached.REPORT.untrusted and not cached.REPORT.usable()
    monkeypatch.undo()


def test_a_cache_private_to_the_process_is_not_used(practice, settings):  # noqa: F811
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert not cached.REPORT.usable()
