"""Issue 13, defect 10: the progress chart named the same date several times under a short
history and put its score labels at the band edges (PCL-5: 0, 33, 80). Each axis label now
appears once, the scores at a fixed round step, the dates at whole days or months."""

import datetime
import re

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from kapflow.measures.instruments import GAD7, PCL5, PHQ9
from kapflow.measures.models import Response
from kapflow.measures.progress import DATE_TICKS, date_axis, progress_context, score_ticks, tick_days

DAY, HOUR = datetime.timedelta(days=1), datetime.timedelta(hours=1)
# 9 in the morning in the practice's zone (America/Los_Angeles in the tests).
MORNING = datetime.datetime(2026, 3, 2, 17, tzinfo=datetime.UTC)


def respond(client, instrument, total, when):
    return Response.objects.create(
        client=client,
        instrument=instrument.key,
        version="1",
        answers={},
        total=total,
        band=instrument.band_for(total).label,
        completed_at=when,
    )


def axis_labels(svg: str) -> tuple[list[str], list[str]]:
    """The score labels and the date labels of the first chart in rendered SVG."""
    axes = re.search(r'<g class="progress-axes".*?</g>', svg, re.S).group(0)
    labels = re.findall(r'text-anchor="(end|middle)">([^<]*)</text>', axes)
    return [t for a, t in labels if a == "end"], [t for a, t in labels if a == "middle"]


# Scores


def test_it_names_the_scores_at_a_fixed_step_and_the_maximum_once():
    assert score_ticks(PCL5.max_total) == [0, 20, 40, 60, 80]
    # 25 sits too close under 27 (and 20 under 21) for both labels to be read: the maximum,
    # where the scale ends, is the one kept.
    assert score_ticks(PHQ9.max_total) == [0, 5, 10, 15, 20, 27]
    assert score_ticks(GAD7.max_total) == [0, 5, 10, 15, 21]
    assert score_ticks(27, most=3) == [0, 10, 20, 27]


# Dates


def test_it_names_each_day_once_when_the_history_is_a_few_days_long():
    assert tick_days(datetime.date(2026, 3, 2), datetime.date(2026, 3, 4)) == [
        datetime.date(2026, 3, 2),
        datetime.date(2026, 3, 3),
        datetime.date(2026, 3, 4),
    ]
    labels = [t["label"] for t in date_axis(MORNING, MORNING + 2 * DAY)]
    assert labels == ["Mar 2", "Mar 3", "Mar 4"]


def test_it_names_the_day_once_when_everything_happened_on_it():
    ticks = date_axis(MORNING, MORNING + 5 * HOUR)
    assert [t["label"] for t in ticks] == ["Mar 2"]
    # A single moment, too.
    assert [t["label"] for t in date_axis(MORNING, MORNING)] == ["Mar 2"]


def test_it_steps_by_whole_days_weeks_or_months_and_never_names_more_than_the_limit():
    first = datetime.date(2026, 1, 1)
    assert tick_days(first, first + 9 * DAY) == [first + n * DAY for n in (0, 2, 4, 6, 8)]
    assert tick_days(first, first + 30 * DAY) == [first + n * DAY for n in (0, 7, 14, 21, 28)]
    assert tick_days(first, datetime.date(2026, 7, 20)) == [datetime.date(2026, m, 1) for m in (3, 5, 7)]
    assert tick_days(datetime.date(2016, 5, 1), datetime.date(2026, 5, 1)) == [
        datetime.date(y, 1, 1) for y in (2018, 2020, 2022, 2024, 2026)
    ]
    for length in (0, 1, 3, 4, 5, 13, 27, 56, 57, 90, 200, 400, 800, 4000):
        days = tick_days(first, first + length * DAY)
        assert len(days) == len(set(days)) and 1 <= len(days) <= DATE_TICKS
        assert all(first <= day <= first + length * DAY for day in days)


def test_the_labels_under_any_chart_are_distinct_and_apart():
    for span in (0 * HOUR, HOUR, 13 * HOUR, DAY, 2 * DAY, 3 * DAY, 4 * DAY, 9 * DAY, 40 * DAY, 400 * DAY):
        ticks = date_axis(MORNING, MORNING + span)
        labels = [t["label"] for t in ticks]
        assert len(labels) == len(set(labels)), (span, labels)
        xs = [t["x"] for t in ticks]
        assert xs == sorted(xs) and all(b - a >= 84 for a, b in zip(xs, xs[1:], strict=False)), (span, xs)


# Through to the SVG


@pytest.mark.parametrize(
    "moments",
    [
        [MORNING, MORNING + DAY, MORNING + 2 * DAY],  # a few points: the old axis said "Mar 2" twice
        [MORNING + n * HOUR for n in range(6)],  # many points on one day: five "Mar 2"
    ],
    ids=["few-days", "one-day"],
)
def test_the_rendered_chart_names_each_date_and_score_once(avery, moments):
    for n, moment in enumerate(moments):
        respond(avery, PHQ9, 20 - 2 * n, moment)
    svg = render_to_string("measures/_progress.html", {"progress": progress_context(avery)})
    scores, dates = axis_labels(svg)
    assert scores == ["0", "5", "10", "15", "20", "27"]
    assert len(dates) == len(set(dates)) and dates[0] == "Mar 2"
    local_days = {timezone.localtime(m).date() for m in moments}
    assert len(dates) == len(local_days)


def test_the_rendered_pcl5_axis_steps_evenly_rather_than_at_the_cut_off(avery):
    respond(avery, PCL5, 50, MORNING)
    respond(avery, PCL5, 30, MORNING + 30 * DAY)
    svg = render_to_string("measures/_progress.html", {"progress": progress_context(avery)})
    scores, dates = axis_labels(svg)
    assert scores == ["0", "20", "40", "60", "80"]  # was 0, 33, 80
    assert dates == ["Mar 2", "Mar 9", "Mar 16", "Mar 23", "Mar 30"]
