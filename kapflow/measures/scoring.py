"""Scoring, as pure functions over the instrument data: no database, no clock."""

from dataclasses import dataclass

from kapflow.measures.instruments import Band, Instrument


class Incomplete(ValueError):
    """Some items are unanswered; an incomplete response is never scored."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(f"unanswered items: {', '.join(missing)}")


@dataclass(frozen=True)
class Score:
    total: int
    band: Band
    alerts: tuple[str, ...]  # keys of alert items answered above 0


def score(instrument: Instrument, answers: dict[str, int]) -> Score:
    """Total, severity band and alert items of a complete set of answers. Raises Incomplete
    naming the unanswered items, and ValueError for an answer that is not one of the options."""
    allowed = {option.value for option in instrument.options}
    missing = [item.key for item in instrument.items if answers.get(item.key) is None]
    if missing:
        raise Incomplete(missing)
    for item in instrument.items:
        if answers[item.key] not in allowed:
            raise ValueError(f"item {item.key}: {answers[item.key]!r} is not one of {sorted(allowed)}")
    total = sum(answers[item.key] for item in instrument.items)
    alerts = tuple(key for key in instrument.alert_items if answers[key] > 0)
    return Score(total=total, band=instrument.band_for(total), alerts=alerts)


@dataclass(frozen=True)
class Change:
    baseline: int
    latest: int
    response: bool  # fell by at least half from baseline
    remission: bool  # below the instrument's remission threshold
    reliable_improvement: bool
    reliable_deterioration: bool


def change(instrument: Instrument, baseline: int, latest: int) -> Change:
    """How a latest total compares with the baseline, by docs/clinical.md's definitions: response is a
    fall of at least 50 %; remission a total below the instrument's threshold; reliable change a
    move of at least the instrument's reliable-change points."""
    reliable = instrument.reliable_change
    return Change(
        baseline=baseline,
        latest=latest,
        response=baseline > 0 and (baseline - latest) * 2 >= baseline,
        remission=instrument.remission_below is not None and latest < instrument.remission_below,
        reliable_improvement=reliable is not None and baseline - latest >= reliable,
        reliable_deterioration=reliable is not None and latest - baseline >= reliable,
    )
