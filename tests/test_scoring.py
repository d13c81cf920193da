"""Scoring against the published scoring rules (Kroenke 2001 for PHQ-9, Spitzer 2006 for GAD-7,
Weathers 2013 / Blevins 2015 for PCL-5) and docs/clinical.md's change definitions."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapflow.measures.instruments import GAD7, INSTRUMENTS, PCL5, PHQ9
from kapflow.measures.scoring import Incomplete, change, score


def answers(instrument, *values):
    return {item.key: value for item, value in zip(instrument.items, values, strict=True)}


@pytest.mark.parametrize(
    "values, total, band",
    [
        ((0,) * 9, 0, "Minimal"),
        ((1, 1, 1, 1, 0, 0, 0, 0, 0), 4, "Minimal"),
        ((1, 1, 1, 1, 1, 0, 0, 0, 0), 5, "Mild"),
        ((2, 2, 2, 2, 1, 0, 0, 0, 0), 9, "Mild"),
        ((2, 2, 2, 2, 2, 0, 0, 0, 0), 10, "Moderate"),
        ((3, 3, 3, 3, 2, 1, 0, 0, 0), 15, "Moderately severe"),
        ((3, 3, 3, 3, 3, 3, 2, 0, 0), 20, "Severe"),
        ((3,) * 9, 27, "Severe"),
    ],
)
def test_it_scores_the_phq9_on_its_published_bands(values, total, band):
    result = score(PHQ9, answers(PHQ9, *values))
    assert (result.total, result.band.label) == (total, band)


@pytest.mark.parametrize(
    "values, total, band",
    [
        ((0,) * 7, 0, "Minimal"),
        ((1,) * 5 + (0, 0), 5, "Mild"),
        ((2,) * 5 + (0, 0), 10, "Moderate"),
        ((3,) * 5 + (0, 0), 15, "Severe"),
        ((3,) * 7, 21, "Severe"),
    ],
)
def test_it_scores_the_gad7_on_its_published_bands(values, total, band):
    result = score(GAD7, answers(GAD7, *values))
    assert (result.total, result.band.label) == (total, band)


def test_pcl5_puts_33_and_above_over_the_provisional_ptsd_cut_off():
    below = score(PCL5, answers(PCL5, *([2] * 16 + [0] * 4)))
    above = score(PCL5, answers(PCL5, *([2] * 16 + [1] * 1 + [0] * 3)))
    assert (below.total, below.band.level) == (32, "ok")
    assert (above.total, above.band.level) == (33, "danger")
    assert score(PCL5, answers(PCL5, *([4] * 20))).total == 80


def test_any_answer_above_zero_on_phq9_item_9_raises_an_alert_whatever_the_total():
    quiet = answers(PHQ9, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    result = score(PHQ9, quiet)
    assert (result.total, result.band.label, result.alerts) == (1, "Minimal", ("9",))
    assert score(PHQ9, answers(PHQ9, *(3,) * 8, 0)).alerts == ()


def test_an_incomplete_response_is_refused_naming_the_missing_items():
    partial = answers(PHQ9, *(1,) * 9)
    del partial["4"], partial["9"]
    with pytest.raises(Incomplete) as refused:
        score(PHQ9, partial)
    assert refused.value.missing == ["4", "9"]


def test_an_answer_that_is_not_an_option_is_refused():
    with pytest.raises(ValueError, match="item 1"):
        score(GAD7, answers(GAD7, 4, 0, 0, 0, 0, 0, 0))


@pytest.mark.parametrize("instrument", INSTRUMENTS.values(), ids=list(INSTRUMENTS))
def test_the_bands_cover_every_possible_total_exactly_once(instrument):
    for total in range(instrument.max_total + 1):
        assert sum(band.low <= total <= band.high for band in instrument.bands) == 1
    assert instrument.bands[-1].high == instrument.max_total


@given(st.data())
def test_the_total_is_the_sum_of_the_answers_for_any_complete_response(data):
    instrument = data.draw(st.sampled_from(list(INSTRUMENTS.values())))
    values = data.draw(
        st.lists(
            st.sampled_from([o.value for o in instrument.options]),
            min_size=len(instrument.items),
            max_size=len(instrument.items),
        )
    )
    result = score(instrument, answers(instrument, *values))
    assert result.total == sum(values) and 0 <= result.total <= instrument.max_total


@pytest.mark.parametrize(
    "baseline, latest, response, remission, improved, worse",
    [
        (20, 10, True, False, True, False),  # halved: a response, not yet remission
        (20, 11, False, False, True, False),
        (12, 4, True, True, True, False),  # below 5: remission
        (8, 3, True, True, False, False),  # remission, but a fall of 5 is not a reliable change
        (10, 16, False, False, False, True),  # up by 6: reliable deterioration
        (0, 0, False, True, False, False),
    ],
)
def test_phq9_change_follows_the_clinical_definitions(baseline, latest, response, remission, improved, worse):
    result = change(PHQ9, baseline, latest)
    assert (
        result.response,
        result.remission,
        result.reliable_improvement,
        result.reliable_deterioration,
    ) == (response, remission, improved, worse)


def test_gad7_reliable_change_is_four_points():
    assert change(GAD7, 12, 8).reliable_improvement and not change(GAD7, 12, 9).reliable_improvement
