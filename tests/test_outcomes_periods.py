"""The outcome report's periods (issue 11, item 11): one whole calendar quarter that has ended, so
that no two reports can be subtracted to single out one client's scores."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from kapflow.measures.instruments import PHQ9
from kapflow.outcomes.report import (
    MIN_CELL,
    build_report,
    ended_quarters,
    last_ended_quarter,
    period_problem,
    quarter_of,
)
from tests.test_outcomes import LA, Practice, at

D = datetime.date
TODAY = D(2026, 8, 15)
BASELINES = [20, 18, 15, 22, 12]
ZED_BASELINE, ZED_END = 23, 9


@pytest.fixture
def zed_enters_in_june(tess, priya):
    """Five clients treated in the first quarter, each with a PHQ-9 before and after; then one
    client, Zed, whose only session is in June, with his own baseline and end."""
    p = Practice(tess, priya)
    for n, baseline in enumerate(BASELINES):
        client = p.client()
        p.respond(client, PHQ9, baseline, at("2026-01-02"))
        p.session(client, at(f"2026-01-{10 + n}"))
        p.respond(client, PHQ9, baseline - 6, at("2026-03-01"))
    zed = p.client()
    p.respond(zed, PHQ9, ZED_BASELINE, at("2026-06-01"))
    p.session(zed, at("2026-06-10"))
    p.respond(zed, PHQ9, ZED_END, at("2026-06-20"))
    return zed


def test_with_free_dates_two_reports_would_give_one_clients_score_away(zed_enters_in_june):
    """The attack the periods close, on the report's own arithmetic: both reports have enough
    clients to be shown, yet their difference is Zed's alone."""
    with_zed = build_report(start=D(2026, 1, 1), end=D(2026, 6, 30)).overall.instruments["phq9"]
    without = build_report(start=D(2026, 1, 1), end=D(2026, 5, 31)).overall.instruments["phq9"]
    assert with_zed.shown and without.shown and with_zed.n - without.n == 1
    assert round(with_zed.baseline_mean * with_zed.n - without.baseline_mean * without.n) == ZED_BASELINE
    assert round(with_zed.end_mean * with_zed.n - without.end_mean * without.n) == ZED_END


@time_machine.travel(datetime.datetime(2026, 8, 15, 12, tzinfo=LA), tick=False)
@pytest.mark.parametrize("name", ["outcomes:report", "outcomes:report_csv"])
def test_the_pages_refuse_the_periods_that_would_single_him_out(name, zed_enters_in_june, tess, login):
    http = login(tess)
    for start, end in [
        ("2026-01-01", "2026-06-30"),
        ("2026-01-01", "2026-05-31"),
        ("2026-02-01", "2026-04-30"),
    ]:
        page = http.get(reverse(name), {"start": start, "end": end})
        assert page.status_code == 400
        assert "one whole calendar quarter" in page.content.decode()


@time_machine.travel(datetime.datetime(2026, 8, 15, 12, tzinfo=LA), tick=False)
def test_adjacent_quarters_cannot_be_differenced_to_his_score(zed_enters_in_june, tess, login):
    http = login(tess)
    first = http.get(reverse("outcomes:report"), {"start": "2026-01-01", "end": "2026-03-31"})
    second = http.get(reverse("outcomes:report"), {"start": "2026-04-01", "end": "2026-06-30"})
    assert first.status_code == second.status_code == 200
    q1 = first.context["report"].overall.instruments["phq9"]
    q2 = second.context["report"].overall.instruments["phq9"]
    # The first quarter is shown and holds none of Zed; the second holds him alone, and says
    # only that there are too few to say. Nothing in either, nor in their difference, is his.
    assert q1.shown and q1.n == len(BASELINES)
    assert q1.baseline_mean * q1.n == sum(BASELINES)
    assert q2.n == 1 and not q2.shown and q2.baseline_mean is None
    assert "too few to say" in second.content.decode()
    # The periods a person may choose never overlap, so neither report is a part of the other.
    quarters = ended_quarters(TODAY, 12)
    for (_a_start, a_end), (b_start, _b_end) in zip(quarters[1:], quarters, strict=False):
        assert a_end + datetime.timedelta(days=1) == b_start


@time_machine.travel(datetime.datetime(2026, 6, 20, 12, tzinfo=LA), tick=False)
def test_a_quarter_still_running_is_refused_with_the_one_to_choose(zed_enters_in_june, tess, login):
    """Before and after Zed's June result, the running quarter's report would differ by his
    score alone."""
    page = login(tess).get(reverse("outcomes:report"), {"start": "2026-04-01", "end": "2026-06-30"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "2026 Q2 has not ended" in html and "choose 2026 Q1" in html


def test_period_problem_accepts_only_a_whole_ended_quarter():
    assert period_problem(D(2026, 4, 1), D(2026, 6, 30), TODAY) is None
    assert period_problem(D(2026, 7, 1), D(2026, 9, 30), TODAY) is not None  # still running
    assert period_problem(D(2026, 4, 1), D(2026, 9, 30), TODAY) is not None  # two quarters
    assert period_problem(D(2026, 4, 2), D(2026, 6, 30), TODAY) is not None
    assert period_problem(D(2025, 10, 1), D(2025, 12, 31), TODAY) is None
    assert quarter_of(D(2026, 12, 31)) == (D(2026, 10, 1), D(2026, 12, 31))
    assert last_ended_quarter(D(2026, 1, 1)) == (D(2025, 10, 1), D(2025, 12, 31))
    assert last_ended_quarter(D(2026, 3, 31)) == (D(2025, 10, 1), D(2025, 12, 31))
    assert MIN_CELL == 5  # the fixture above gives the first quarter exactly the minimum
