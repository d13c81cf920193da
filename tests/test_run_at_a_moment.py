"""KAPFLOW_TEST_AT (tests/conftest.py): the suite run as if it began at another moment."""

import datetime

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
