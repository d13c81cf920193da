"""KAPFLOW_TEST_AT (tests/conftest.py): the suite run as if it began at another moment."""

import datetime
import hashlib
import importlib.util
from pathlib import Path

from django.utils import timezone

from tests.conftest import _run_at_the_moment_asked


def test_the_suite_runs_at_the_moment_asked_and_the_clock_goes_on():
    assert _run_at_the_moment_asked(None) is None
    assert _run_at_the_moment_asked("") is None
    moment = datetime.datetime(2026, 12, 8, 7, 59, 59, 900_000, tzinfo=datetime.UTC)
    before = timezone.now()
    traveller = _run_at_the_moment_asked(moment.isoformat())
    try:
        first = timezone.now()
        assert moment <= first < moment + datetime.timedelta(seconds=5)
        # 23:59 in the practice's time zone: the day it is there, not in UTC.
        assert timezone.localdate(first) == datetime.date(2026, 12, 7)
        while timezone.now() == first:
            pass
        assert timezone.now() > first  # the clock goes on (tick), as a real run's does
    finally:
        traveller.stop()
    # Stopped, the clock is the run's own again.
    assert before <= timezone.now() < before + datetime.timedelta(minutes=5)


def _ci_moment():
    """.ci/moment.py, which is not a package (its folder's name starts with a dot)."""
    path = Path(__file__).resolve().parent.parent / ".ci" / "moment.py"
    spec = importlib.util.spec_from_file_location("ci_moment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ci_runs_each_commit_at_its_own_moment_of_the_coming_year():
    moment_for = _ci_moment().moment_for
    committed = datetime.datetime(2026, 12, 7, 22, 0, tzinfo=datetime.UTC)
    commits = [hashlib.sha1(str(n).encode()).hexdigest() for n in range(40)]  # as git names them
    moments = [moment_for(commit, committed) for commit in commits]
    # Within the year after the commit, the same moment for the same commit (a failure can be
    # run again), and commits spread over the year and over the hours of the day.
    assert all(committed <= moment < committed + datetime.timedelta(days=366) for moment in moments)
    assert moment_for(commits[7], committed) == moments[7]
    assert len({moment.date().month for moment in moments}) >= 10
    assert len({moment.hour for moment in moments}) >= 12
