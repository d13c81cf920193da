"""A client's progress on the standardised instruments: one small server-rendered SVG chart per
instrument (PHQ-9, GAD-7, PCL-5), each on its own scale with its severity bands shaded, the
completed medication sessions marked, and beneath it the baseline, previous and latest results
with the change in words.

`progress_context(client)` is the whole interface: it returns a dict that
`measures/_progress.html` renders with no request. It holds what a client may see of their own
record — scores, bands, dates and session marks — and nothing else (no staff names, no notes),
so the client portal can show the same include.

Baseline: the last response on or before the start of the client's first completed medication
session; with no session yet, or no response before it, the first response (and the page says
so). Previous: the response before the latest. The change (response, remission, reliable change)
comes from kapflow.measures.scoring.change, never from here.

The geometry (value → y, moment → x) is a set of pure functions, tested on their own.
"""

import datetime
import functools
import textwrap
from collections import namedtuple
from dataclasses import dataclass
from html import escape  # what django.utils.html.escape does, without its lazy-string wrapper

from django.utils import timezone
from django.utils.safestring import mark_safe

from kapflow.lib.dates import long_date
from kapflow.lib.text import mid_sentence
from kapflow.measures import instruments, scoring
from kapflow.measures.instruments import Instrument

# The chart's box, in SVG user units (it scales to the width it is given). Room on the left for
# the score axis, on the right for the band names, below for the dates, above for session numbers.
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 180, 22, 34
LABEL_CHARACTERS = 26  # a band name longer than this is wrapped onto more lines
LINE_HEIGHT = 13
INSET = 12  # keeps the first and last points off the axes
# The axes' labels (11 px text): at most DATE_TICKS dates, one every DAY_STEPS day or else on the
# first of a month, no two closer than DATE_LABEL_GAP ("Dec 31, 2025" is about 70 units wide);
# at most SCORE_STEPS round steps up the score axis, no two labels closer than SCORE_LABEL_GAP.
DATE_TICKS = 5
DAY_STEPS = (1, 2, 7, 14)
DATE_LABEL_GAP = 84
SCORE_STEPS = 6
SCORE_LABEL_GAP = 16

# Band shading by how loudly the band should be shown; a second band of the same level is a
# shade deeper so that neighbours stay apart.
BAND_FILLS = {
    "ok": ("#e3f1e6", "#eef5dc"),
    "warn": ("#fff1c9", "#ffe9b0"),
    "danger": ("#fbe3d8", "#f6d0d0"),
}


@dataclass(frozen=True)
class Box:
    """Where the plotting area sits in the SVG."""

    left: float = LEFT
    top: float = TOP
    width: float = WIDTH - LEFT - RIGHT
    height: float = HEIGHT - TOP - BOTTOM

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height


def y_for(value: float, *, top_value: float, box: Box = Box()) -> float:
    """The y of a score: 0 on the bottom edge, `top_value` (the instrument's maximum) on the top."""
    if top_value <= 0:
        raise ValueError("top_value must be above 0")
    value = min(max(value, 0), top_value)
    return round(box.bottom - value / top_value * box.height, 1)


def x_for(
    moment: datetime.datetime, *, start: datetime.datetime, end: datetime.datetime, box: Box = Box()
) -> float:
    """The x of a moment between `start` (left, after the inset) and `end` (right, before it).
    A chart with a single moment puts it in the middle."""
    usable = box.width - 2 * INSET
    span = (end - start).total_seconds()
    if span <= 0:
        return round(box.left + box.width / 2, 1)
    fraction = (moment - start).total_seconds() / span
    fraction = min(max(fraction, 0.0), 1.0)
    return round(box.left + INSET + fraction * usable, 1)


def band_edges(instrument: Instrument) -> list[tuple[float, float]]:
    """Each band's extent in score units, halfway between whole scores (0–4 → 0 to 4.5, 5–9 →
    4.5 to 9.5 …), so that a score sits inside its band and never on a boundary."""
    top = instrument.max_total
    return [(max(band.low - 0.5, 0), min(band.high + 0.5, top)) for band in instrument.bands]


def _round_steps():
    """1, 2, 5, 10, 20, 50, 100 … for as long as asked."""
    scale = 1
    while True:
        yield from (scale, 2 * scale, 5 * scale)
        scale *= 10


def score_ticks(top: int, *, box: Box = Box(), most: int = SCORE_STEPS) -> list[int]:
    """The scores named up the axis: 0 to the instrument's maximum at one round step (1, 2, 5,
    10, 20 …), the finest that takes no more than `most` steps, each score once. The maximum is
    always named, since it is where the scale ends; a step so close below it that the two labels
    would touch is left out (PHQ-9: 0, 5, 10, 15, 20, 27)."""
    step = next(step for step in _round_steps() if top / step <= most)
    values = list(range(0, top + 1, step))
    if values[-1] != top:
        if y_for(values[-1], top_value=top, box=box) - y_for(top, top_value=top, box=box) < SCORE_LABEL_GAP:
            values.pop()
        values.append(top)
    return values


def _month_steps():
    """1, 2, 3, 6 months, then 1, 2, 5, 10 … years."""
    yield from (1, 2, 3, 6)
    yield from (12 * years for years in _round_steps())


def tick_days(first: datetime.date, last: datetime.date, count: int = DATE_TICKS) -> list[datetime.date]:
    """The days named under a chart that runs from `first` to `last`, each at most once: every
    day, every 2nd, 7th or 14th day from the first, or else the first of every 1st, 2nd, 3rd,
    6th, 12th … month: the finest step that names no more than `count` days."""
    days = (last - first).days
    if days <= 0:
        return [first]
    for step in DAY_STEPS:
        if days // step + 1 <= count:
            return [first + datetime.timedelta(days=n) for n in range(0, days + 1, step)]
    for months in _month_steps():
        firsts = []
        index = first.year * 12 + first.month - 1
        while True:
            index += 1
            day = datetime.date(index // 12, index % 12 + 1, 1)
            if day > last:
                break
            if index % months == 0:
                firsts.append(day)
        if len(firsts) <= count:
            return firsts or [first]
    raise AssertionError("unreachable: a step of years always fits")  # pragma: no cover


def _day_label(day: datetime.date, *, with_year: bool) -> str:
    return f"{day:%b} {day.day}, {day.year}" if with_year else f"{day:%b} {day.day}"


def date_axis(
    start: datetime.datetime, end: datetime.datetime, *, box: Box = Box(), count: int = DATE_TICKS
) -> list[dict]:
    """The date labels under a chart running from `start` to `end`, each day named once and at
    its own place: at noon of the day in the practice's time zone (kept between start and end),
    or, when everything happened on one day, in the middle. A label too close to the one before
    to be read is left out."""
    first, last = timezone.localtime(start).date(), timezone.localtime(end).date()
    with_year = first.year != last.year
    if first == last:
        placed = [(start + (end - start) / 2, first)]
    else:
        placed = []
        for day in tick_days(first, last, count):
            noon = timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))
            placed.append((min(max(noon, start), end), day))
    ticks: list[dict] = []
    for moment, day in placed:
        x = x_for(moment, start=start, end=end, box=box)
        if ticks and x - ticks[-1]["x"] < DATE_LABEL_GAP:
            continue
        ticks.append({"x": x, "label": _day_label(day, with_year=with_year)})
    return ticks


@dataclass(frozen=True)
class Result:
    total: int
    band: str
    level: str
    completed_at: datetime.datetime

    @functools.cached_property  # each result's date is written three times (dot, table, summary)
    def date(self) -> str:
        return long_date(self.completed_at)


def _statements(instrument: Instrument, change: scoring.Change) -> list[str]:
    """The change from baseline to latest, said in words, by scoring.change's verdicts."""
    moved = change.latest - change.baseline
    scores = f"({change.baseline} → {change.latest})"
    if moved < 0:
        said = [f"Down {-moved} point{'s' if moved != -1 else ''} from baseline {scores}."]
    elif moved > 0:
        said = [f"Up {moved} point{'s' if moved != 1 else ''} from baseline {scores}."]
    else:
        said = [f"The same as at baseline ({change.baseline})."]
    if change.response:
        said.append("Response: the score has fallen by at least half.")
    else:
        said.append("Not a response yet: that needs a fall of at least half from baseline.")
    if instrument.remission_below is not None:
        if change.remission:
            said.append(f"Remission: below {instrument.remission_below}.")
        else:
            said.append(f"Not in remission: that needs a score below {instrument.remission_below}.")
    if instrument.reliable_change is not None:
        points = instrument.reliable_change
        if change.reliable_improvement:
            said.append(f"Reliable improvement: down {points} or more points.")
        elif change.reliable_deterioration:
            said.append(f"Reliable deterioration: up {points} or more points.")
        else:
            said.append(f"No reliable change: a change of {points} or more points is needed.")
    else:
        said.append(f"No reliable-change threshold is set for the {instrument.name}.")
    return said


def _latest_label(point: dict, box: Box) -> dict:
    """The latest score written beside its dot: above it, or below when it is near the top."""
    above = point["y"] - 10
    return {
        "x": point["x"],
        "y": round(above if above > box.top + 10 else point["y"] + 20, 1),
        "total": point["total"],
    }


def _chart(instrument: Instrument, results: list[Result], sessions: list[datetime.datetime]) -> dict:
    box = Box()
    top = instrument.max_total
    moments = [r.completed_at for r in results] + sessions
    start, end = min(moments), max(moments)

    def x(moment):
        return x_for(moment, start=start, end=end, box=box)

    def y(value):
        return y_for(value, top_value=top, box=box)

    bands, seen_levels = [], {}
    for band, (low, high) in zip(instrument.bands, band_edges(instrument), strict=True):
        shade = seen_levels.get(band.level, 0)
        seen_levels[band.level] = shade + 1
        fills = BAND_FILLS.get(band.level, BAND_FILLS["ok"])
        y_top, y_bottom = y(high), y(low)
        label = band.label if f"{band.low}" in band.label else f"{band.label} ({band.low}–{band.high})"
        lines = textwrap.wrap(label, LABEL_CHARACTERS)
        first_y = (y_top + y_bottom) / 2 + 4 - (len(lines) - 1) * LINE_HEIGHT / 2
        bands.append(
            {
                "label": label,
                "lines": [
                    {"text": text, "y": round(first_y + n * LINE_HEIGHT, 1)} for n, text in enumerate(lines)
                ],
                "y": y_top,
                "height": round(y_bottom - y_top, 1),
                "fill": fills[min(shade, len(fills) - 1)],
            }
        )
    points = [
        {"x": x(r.completed_at), "y": y(r.total), "total": r.total, "band": r.band, "date": r.date}
        for r in results
    ]
    marks = [{"x": x(moment), "number": n, "date": long_date(moment)} for n, moment in enumerate(sessions, 1)]
    return {
        # The dots and the session marks, one element per result and per session, written here
        # rather than by the template's loops (a long history has a hundred or more of each,
        # and the template language spends far longer on them); byte for byte what the loops
        # wrote, numbers as the template writes them (str) and text escaped as it escapes it.
        "points_svg": mark_safe(  # noqa: S308 — the only text, date and band, is escaped
            "".join(
                f'<circle cx="{p["x"]}" cy="{p["y"]}" r="5" fill="#1f2933" stroke="#fff" stroke-width="1.5">'
                f"<title>{escape(p['date'])}: {p['total']}, {escape(p['band'])}</title></circle>\n      "
                for p in points
            )
        ),
        "sessions_svg": mark_safe(  # noqa: S308 — the only text, the date, is escaped
            "".join(
                f'<g class="progress-session"><title>Medication session {m["number"]}, '
                f"{escape(m['date'])}</title>\n"
                f'        <line x1="{m["x"]}" x2="{m["x"]}" y1="{box.top}" y2="{box.bottom}" '
                f'stroke="#1d5c63" stroke-width="1.5" stroke-dasharray="4 3"/>\n'
                f'        <text x="{m["x"]}" y="{box.top - 6}" text-anchor="middle" font-size="11" '
                f'font-weight="700" fill="#1d5c63">{m["number"]}</text></g>\n      '
                for m in marks
            )
        ),
        "width": WIDTH,
        "height": HEIGHT,
        "box": box,
        "band_label_x": box.right + 8,
        "bands": bands,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "sessions": marks,
        "y_ticks": [
            {"value": value, "y": y(value), "label_y": round(y(value) + 4, 1)}
            for value in score_ticks(top, box=box)
        ],
        "x_ticks": date_axis(start, end, box=box),
        "axis_y": box.bottom,
        "tick_x": box.left - 4,
        "tick_label_x": box.left - 7,
        "latest_label": _latest_label(points[-1], box),
        "tick_label_y": box.bottom + 18,
        "session_label_y": box.top - 6,
    }


def instrument_progress(
    instrument: Instrument, responses: list, sessions: list[datetime.datetime]
) -> dict | None:
    """One instrument's chart and summary from its responses (oldest first: objects with total,
    band and completed_at) and the completed medication sessions' start times (oldest first)."""
    if not responses:
        return None
    results = [
        Result(
            total=r.total,
            band=instrument.band_for(r.total).label,
            level=instrument.band_for(r.total).level,
            completed_at=r.completed_at,
        )
        for r in responses
    ]
    first_session = sessions[0] if sessions else None
    before = [r for r in results if first_session is not None and r.completed_at <= first_session]
    baseline = before[-1] if before else results[0]
    baseline_note = ""
    if first_session is None:
        baseline_note = "No medication session yet: the baseline is the first result."
    elif not before:
        baseline_note = "No result before the first medication session: the baseline is the first result."
    latest = results[-1]
    previous = results[-2] if len(results) > 1 else None
    change = statements = None
    if latest is not baseline:
        change = scoring.change(instrument, baseline.total, latest.total)
        statements = _statements(instrument, change)
    count = len(results)
    sessions_said = f"{len(sessions)} medication session{'s' if len(sessions) != 1 else ''} marked"
    desc = (
        f"{count} result{'s' if count != 1 else ''} from {results[0].date} to {latest.date}, on a scale of "
        f"0 to {instrument.max_total}. Baseline {baseline.total} ({mid_sentence(baseline.band)}) "
        f"on {baseline.date}; "
        f"latest {latest.total} ({mid_sentence(latest.band)}) on {latest.date}. {sessions_said}."
    )
    # The table's rows, written here for the same reason as the chart's dots (see _chart).
    rows = mark_safe(  # noqa: S308 — the only text, date and band, is escaped
        "".join(
            f'<tr><td>{escape(r.date)}</td><td class="num">{r.total}</td><td>{escape(r.band)}</td></tr>'
            for r in results
        )
    )
    return {
        "key": instrument.key,
        "name": instrument.name,
        "max_total": instrument.max_total,
        "title": f"{instrument.name} over time",
        "desc": desc,
        "chart": _chart(instrument, results, sessions),
        "results": results,
        "results_rows": rows,
        "baseline": baseline,
        "baseline_note": baseline_note,
        "previous": previous,
        "latest": latest,
        "change": change,
        "statements": statements,
    }


# A response as the charts read it: rows, not model instances (a long history has hundreds).
_Scored = namedtuple("_Scored", "instrument total completed_at")


def progress_context(client) -> dict:
    """Everything `measures/_progress.html` shows for this client, in two queries whatever the
    length of the history: the responses, and the completed medication sessions."""
    from kapflow.visits.models import Visit

    responses = [
        _Scored(*row)
        for row in client.responses.order_by("completed_at", "pk").values_list(
            "instrument", "total", "completed_at"
        )
    ]
    sessions = list(
        client.visits.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED)
        .order_by("starts_at", "pk")
        .values_list("starts_at", flat=True)
    )
    by_instrument: dict[str, list] = {}
    for response in responses:
        by_instrument.setdefault(response.instrument, []).append(response)
    shown = []
    for instrument in instruments.INSTRUMENTS.values():
        progress = instrument_progress(instrument, by_instrument.get(instrument.key, []), sessions)
        if progress is not None:
            shown.append(progress)
    return {
        "instruments": shown,
        "sessions": [{"number": n, "date": long_date(moment)} for n, moment in enumerate(sessions, 1)],
    }
