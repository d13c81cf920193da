"""A client's progress: the chart geometry, a client's scores through to the SVG, the change in
words, the staff page's access and audit, and a constant number of queries."""

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.measures import progress
from kapflow.measures.instruments import GAD7, PCL5, PHQ9
from kapflow.measures.models import Response
from kapflow.measures.progress import Box, band_edges, progress_context, tick_days, x_for, y_for
from kapflow.visits.models import Visit

NOW = datetime.datetime(2026, 6, 1, 12, tzinfo=datetime.UTC)


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


def session(client, clinician, when, status=Visit.Status.COMPLETED):
    return Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        starts_at=when,
        ends_at=when + datetime.timedelta(minutes=150),
        modality=Visit.Modality.VIRTUAL,
        status=status,
        clinician=clinician,
        created_by=clinician,
    )


# Geometry


def test_it_puts_zero_on_the_bottom_edge_and_the_maximum_on_the_top():
    box = Box(left=0, top=10, width=100, height=270)
    assert y_for(0, top_value=27, box=box) == 280
    assert y_for(27, top_value=27, box=box) == 10
    assert y_for(10, top_value=27, box=box) == 180
    assert y_for(99, top_value=27, box=box) == 10  # clamped


def test_it_spaces_moments_in_proportion_between_the_insets():
    box = Box(left=40, top=0, width=224, height=100)  # usable width 200 after two insets of 12
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    end = start + datetime.timedelta(days=10)
    assert x_for(start, start=start, end=end, box=box) == 52
    assert x_for(end, start=start, end=end, box=box) == 252
    assert x_for(start + datetime.timedelta(days=4), start=start, end=end, box=box) == 132
    assert x_for(start, start=start, end=start, box=box) == 152  # one moment: the middle


def test_band_edges_fall_halfway_between_whole_scores():
    assert band_edges(PHQ9) == [(0, 4.5), (4.5, 9.5), (9.5, 14.5), (14.5, 19.5), (19.5, 27)]
    assert band_edges(PCL5) == [(0, 32.5), (32.5, 80)]


def test_date_ticks_are_evenly_spaced_whole_days():
    first = datetime.date(2026, 1, 1)
    ticks = tick_days(first, first + datetime.timedelta(days=8), count=5)
    assert [(t - first).days for t in ticks] == [0, 2, 4, 6, 8]
    assert tick_days(first, first) == [first]


# A client's scores through to the chart


@pytest.fixture
def history(avery, tess):
    """Avery: PHQ-9 19 at baseline, three sessions, then 12 and 8; one GAD-7; no PCL-5."""
    day = datetime.timedelta(days=1)
    start = NOW - 40 * day
    respond(avery, PHQ9, 19, start)
    sessions = [session(avery, tess, start + n * day) for n in (2, 12, 22)]
    session(avery, tess, start + 30 * day, status=Visit.Status.SCHEDULED)  # not completed: not marked
    respond(avery, PHQ9, 12, start + 20 * day)
    respond(avery, PHQ9, 8, start + 40 * day)
    respond(avery, GAD7, 9, start + 10 * day)
    return start, sessions


def test_a_clients_scores_reach_the_chart_at_the_expected_coordinates(avery, history):
    start, sessions = history
    end = start + datetime.timedelta(days=40)
    context = progress_context(avery)
    assert [item["key"] for item in context["instruments"]] == ["phq9", "gad7"]
    phq = context["instruments"][0]
    box = Box()
    expected = [
        (
            x_for(start + datetime.timedelta(days=d), start=start, end=end, box=box),
            y_for(t, top_value=27, box=box),
        )
        for d, t in ((0, 19), (20, 12), (40, 8))
    ]
    assert [(p["x"], p["y"]) for p in phq["chart"]["points"]] == expected
    assert phq["chart"]["line"] == " ".join(f"{x},{y}" for x, y in expected)
    marks = [m["x"] for m in phq["chart"]["sessions"]]
    assert marks == [x_for(s.starts_at, start=start, end=end, box=box) for s in sessions]

    from django.template.loader import render_to_string

    svg = render_to_string("measures/_progress.html", {"progress": context})
    for x, y in expected:
        assert f'cx="{x}" cy="{y}"' in svg
    for x in marks:
        assert f'x1="{x}" x2="{x}"' in svg
    assert svg.count("<title>Medication session") == 6  # three marks on each of two charts
    assert '<title id="progress-phq9-title">PHQ-9 over time</title>' in svg
    assert re.search(
        r'<desc id="progress-phq9-desc">3 results from .* Baseline 19 \(moderately severe\)', svg
    )
    assert ">Moderately severe (15–19)<" in svg and ">Minimal (0–4)<" in svg
    assert "PHQ-9 results as a table" in svg
    assert "PCL-5" not in svg


def test_baseline_previous_and_latest_and_the_change_in_words(avery, history):
    phq = progress_context(avery)["instruments"][0]
    assert (phq["baseline"].total, phq["previous"].total, phq["latest"].total) == (19, 12, 8)
    assert phq["latest"].band == "Mild"
    assert phq["change"].response and not phq["change"].remission and phq["change"].reliable_improvement
    assert phq["statements"] == [
        "Down 11 points from baseline (19 → 8).",
        "Response: the score has fallen by at least half.",
        "Not in remission: that needs a score below 5.",
        "Reliable improvement: down 6 or more points.",
    ]
    gad = progress_context(avery)["instruments"][1]
    assert gad["statements"] is None  # one result: nothing to compare


def test_the_baseline_is_the_last_result_before_the_first_session(avery, tess):
    respond(avery, GAD7, 15, NOW - datetime.timedelta(days=30))
    respond(avery, GAD7, 12, NOW - datetime.timedelta(days=20))
    session(avery, tess, NOW - datetime.timedelta(days=19))
    respond(avery, GAD7, 16, NOW - datetime.timedelta(days=1))
    gad = progress_context(avery)["instruments"][0]
    assert gad["baseline"].total == 12 and gad["baseline_note"] == ""
    assert gad["statements"] == [
        "Up 4 points from baseline (12 → 16).",
        "Not a response yet: that needs a fall of at least half from baseline.",
        "Not in remission: that needs a score below 5.",
        "Reliable deterioration: up 4 or more points.",
    ]


def test_pcl5_has_no_remission_or_reliable_change_threshold(avery):
    respond(avery, PCL5, 50, NOW - datetime.timedelta(days=10))
    respond(avery, PCL5, 50, NOW)
    pcl = progress_context(avery)["instruments"][0]
    assert pcl["baseline_note"].startswith("No medication session yet")
    assert pcl["statements"] == [
        "The same as at baseline (50).",
        "Not a response yet: that needs a fall of at least half from baseline.",
        "No reliable-change threshold is set for the PCL-5.",
    ]


def test_it_runs_two_queries_whatever_the_length_of_the_history(avery, tess):
    def count():
        with CaptureQueriesContext(connection) as captured:
            progress_context(avery)
        return len(captured.captured_queries)

    respond(avery, PHQ9, 10, NOW)
    session(avery, tess, NOW - datetime.timedelta(days=1))
    small = count()
    for n in range(60):
        respond(avery, [PHQ9, GAD7, PCL5][n % 3], n % 20, NOW - datetime.timedelta(days=n + 2))
        session(avery, tess, NOW - datetime.timedelta(days=n + 2, hours=5))
    assert count() == small == 2


def test_the_include_holds_no_staff_name(avery, tess, history):
    from django.template.loader import render_to_string

    html = render_to_string("measures/_progress.html", {"progress": progress_context(avery)})
    assert tess.full_name not in html and "Tess" not in html


def test_an_empty_history_says_so(avery):
    from django.template.loader import render_to_string

    html = render_to_string("measures/_progress.html", {"progress": progress_context(avery)})
    assert "No PHQ-9, GAD-7 or PCL-5 results yet" in html


# The staff page


def test_the_clients_therapist_sees_the_progress_page_and_it_is_audited(
    avery, tess, history, login, audit_rows
):
    response = login(tess).get(reverse("measures:progress", args=[avery.pk]))
    assert response.status_code == 200
    assert b"PHQ-9 over time" in response.content
    rows = audit_rows("kapflow.measures.progress.viewed")
    assert [(r.actor_id, r.client_id) for r in rows] == [(tess.pk, avery.pk)]


@pytest.mark.parametrize("who,status", [("colin", 404), ("cora", 404), ("ada", 404), ("cleo", 403)])
def test_others_do_not_see_it(avery, who, status, request, login):
    user = request.getfixturevalue(who)
    assert login(user).get(reverse("measures:progress", args=[avery.pk])).status_code == status


def test_a_huge_or_unknown_client_id_is_404(tess, login):
    assert login(tess).get("/clients/99999999999999999999/measures/progress/").status_code == 404


def test_the_measures_page_and_the_chart_link_to_progress(avery, tess, history, login):
    http = login(tess)
    url = reverse("measures:progress", args=[avery.pk])
    assert url.encode() in http.get(reverse("measures:list", args=[avery.pk])).content
    assert url.encode() in http.get(reverse("clients:chart", args=[avery.pk])).content


def test_the_page_runs_the_same_queries_for_a_long_history(avery, tess, login):
    http = login(tess)
    url = reverse("measures:progress", args=[avery.pk])
    http.get(url)

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert http.get(url).status_code == 200
        return len(captured.captured_queries)

    respond(avery, PHQ9, 10, timezone.now())
    session(avery, tess, timezone.now() - datetime.timedelta(days=1))
    small = count()
    for n in range(40):
        respond(avery, [PHQ9, GAD7, PCL5][n % 3], n % 20, timezone.now() - datetime.timedelta(days=n + 2))
        session(avery, tess, timezone.now() - datetime.timedelta(days=n + 2, hours=5))
    assert count() == small


def test_dates_on_the_axis_name_the_year_when_the_history_crosses_one(avery):
    with time_machine.travel(NOW, tick=False):
        respond(avery, PHQ9, 10, datetime.datetime(2025, 12, 1, tzinfo=datetime.UTC))
        respond(avery, PHQ9, 9, datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC))
        ticks = progress_context(avery)["instruments"][0]["chart"]["x_ticks"]
    assert ticks[0]["label"].endswith("2025") and ticks[-1]["label"].endswith("2026")
    assert len(ticks) == progress.DATE_TICKS


def test_long_band_names_are_wrapped_and_ranges_not_repeated(avery):
    respond(avery, PCL5, 40, NOW)
    bands = progress_context(avery)["instruments"][0]["chart"]["bands"]
    assert bands[1]["label"] == "Provisional PTSD (33 or above)"  # the range is already in the name
    assert [line["text"] for line in bands[0]["lines"]] == ["Below the provisional PTSD", "cut-off (0–32)"]
    assert all(len(line["text"]) <= progress.LABEL_CHARACTERS for band in bands for line in band["lines"])
