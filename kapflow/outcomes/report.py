"""The practice outcome report (docs/clinical.md, "Measurement-based care"): aggregates only, never a
client's identity, over a chosen period. Three queries whatever the size of the practice,
reading in the database what the report needs per treated client. The pages serve it through
kapflow.outcomes.cached, which works it out again only when one of its inputs has changed.

Definitions, applied the same way everywhere in the report:

- Period: from the first day at 00:00 to the end of the last day, in the practice's time zone.
- A client is *treated* in the period when at least one completed medication session starts in
  it. Their *course* is their completed medication sessions that start in the period; *sessions
  per course* counts them.
- Per instrument, the client's *baseline* is their last response on or before the start of the
  course's first session (at any earlier time); the *end* score is their latest response after
  that start and before the period ends. *n* is the number of treated clients with both.
- Change = end − baseline (negative is better). Response, remission and reliable improvement or
  deterioration are kapflow.measures.scoring.change's verdicts on (baseline, end), as a
  percentage of n. Remission is counted on everyone in n, whatever their baseline.
- Means are of n; SD is the sample standard deviation (n − 1).
- *Route* of a course: the route of the first (non-booster) dose of its first session, or "not
  recorded" when no dose was recorded. *Modality*: the first session's. Each client is in one
  route group and one modality group, and all their numbers are counted there.
- Adverse events per session: the adverse events recorded on the course's sessions, divided by
  the number of sessions.
- Small cells: a figure drawn from fewer than MIN_CELL clients is not shown ("too few to say"),
  only its n, so that no client's own result can be read from the report. Nor, then, is that
  figure shown for the other groups of the same breakdown (route, or modality): the figure for
  all clients less theirs would give the hidden one away (complementary suppression).
- Periods (the views ask for one through period_problem()): one whole calendar quarter that
  has ended. With free dates, two periods could be chosen around one client (January to June
  less January to May: the one client who began in June), and the difference of the two
  reports' sums (mean × n) would be that client's scores, however large each report's n. Fixed
  quarters never overlap, so no report is a part of another and none can be subtracted from
  another; a quarter still running would change as each client's results arrive, and the
  report before and after one client's result could be subtracted in the same way, so only
  quarters that have ended are shown. build_report() itself takes any dates, for the tests of
  its definitions.
"""

import dataclasses
import datetime
import statistics
from dataclasses import dataclass, field

from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from kapflow.dosing.models import Administration, AdverseEvent
from kapflow.lib.dates import long_date
from kapflow.measures import instruments, scoring
from kapflow.measures.models import Response
from kapflow.medical.models import MedicationOrder
from kapflow.outcomes import published
from kapflow.visits.models import Visit

# The fewest clients a figure may be drawn from: the usual small-cell rule of statistical
# disclosure control, not a clinical threshold.
MIN_CELL = 5
TOO_FEW = "too few to say"
NOT_RECORDED = "not recorded"


@dataclass
class Course:
    client_id: int
    first_start: datetime.datetime
    sessions: int = 0
    adverse: dict[str, int] = field(default_factory=dict)
    route: str = NOT_RECORDED
    modality: str = ""


@dataclass(frozen=True)
class InstrumentOutcome:
    instrument: instruments.Instrument
    treated: int
    n: int
    baseline_mean: float | None = None
    baseline_sd: float | None = None
    end_mean: float | None = None
    end_sd: float | None = None
    mean_change: float | None = None
    response: float | None = None
    remission: float | None = None
    improvement: float | None = None
    deterioration: float | None = None
    withheld: bool = False  # enough clients, but hidden so that another group's stays hidden

    @property
    def shown(self) -> bool:
        return self.n >= MIN_CELL and not self.withheld


@dataclass(frozen=True)
class GroupOutcome:
    label: str
    clients: int
    sessions: int
    sessions_mean: float | None
    sessions_min: int | None
    sessions_max: int | None
    adverse_events: int
    adverse_by_severity: dict[str, int]
    instruments: dict[str, InstrumentOutcome]
    withheld: bool = False  # as InstrumentOutcome.withheld, for the sessions and adverse events

    @property
    def shown(self) -> bool:
        return self.clients >= MIN_CELL and not self.withheld

    def adverse_rate(self, severity: str | None = None) -> float | None:
        if not self.sessions:
            return None
        count = self.adverse_events if severity is None else self.adverse_by_severity.get(severity, 0)
        return count / self.sessions


@dataclass(frozen=True)
class Report:
    start: datetime.date
    end: datetime.date
    overall: GroupOutcome
    by_route: list[GroupOutcome]
    by_modality: list[GroupOutcome]

    @property
    def groups(self) -> list[tuple[str, GroupOutcome]]:
        return (
            [("All clients", self.overall)]
            + [("Route", g) for g in self.by_route]
            + [("Modality", g) for g in self.by_modality]
        )


def quarter_of(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day of the calendar quarter `day` falls in."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = datetime.date(day.year, first_month, 1)
    if first_month == 10:
        next_start = datetime.date(day.year + 1, 1, 1)
    else:
        next_start = datetime.date(day.year, first_month + 3, 1)
    return start, next_start - datetime.timedelta(days=1)


def last_ended_quarter(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The latest calendar quarter that ended before `today`."""
    start, _end = quarter_of(today)
    return quarter_of(start - datetime.timedelta(days=1))


def ended_quarters(today: datetime.date, count: int) -> list[tuple[datetime.date, datetime.date]]:
    """The `count` latest quarters that have ended, latest first."""
    quarters = [last_ended_quarter(today)]
    while len(quarters) < count:
        quarters.append(quarter_of(quarters[-1][0] - datetime.timedelta(days=1)))
    return quarters


def quarter_label(start: datetime.date) -> str:
    return f"{start.year} Q{(start.month - 1) // 3 + 1}"


def period_problem(start: datetime.date, end: datetime.date, today: datetime.date) -> str | None:
    """What is wrong with reporting on `start`..`end` (this module's docstring, Periods), in
    words that say what to choose instead; None when it is one whole quarter that has ended."""
    quarter = quarter_of(start)
    if (start, end) != quarter:
        return (
            f"The report covers one whole calendar quarter, so that no two reports can be "
            f"subtracted to single out a client: choose from {long_date(quarter[0])} to "
            f"{long_date(quarter[1])}, or another quarter."
        )
    if end >= today:
        latest = last_ended_quarter(today)
        return (
            f"{quarter_label(start)} has not ended, and its figures would change with each "
            f"client's results: choose {quarter_label(latest[0])} ({long_date(latest[0])} to "
            f"{long_date(latest[1])}) or an earlier quarter."
        )
    return None


def period_bounds(start: datetime.date, end: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[from 00:00 on `start`, 00:00 the day after `end`) in the practice's time zone."""
    zone = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.datetime.combine(start, datetime.time.min), zone),
        timezone.make_aware(
            datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min), zone
        ),
    )


def _pct(hits: int, n: int) -> float:
    return 100 * hits / n


def instrument_outcome(instrument: instruments.Instrument, pairs: list[tuple[int, int]], treated: int):
    """The figures for one instrument from each client's (baseline, end) pair."""
    n = len(pairs)
    if n < MIN_CELL:
        return InstrumentOutcome(instrument=instrument, treated=treated, n=n)
    baselines = [b for b, _ in pairs]
    ends = [e for _, e in pairs]
    # Scores are small whole numbers, so many clients share a (baseline, end): judge each once.
    judged = {pair: scoring.change(instrument, *pair) for pair in set(pairs)}
    verdicts = [judged[pair] for pair in pairs]
    return InstrumentOutcome(
        instrument=instrument,
        treated=treated,
        n=n,
        baseline_mean=statistics.fmean(baselines),
        baseline_sd=statistics.stdev(baselines),
        end_mean=statistics.fmean(ends),
        end_sd=statistics.stdev(ends),
        mean_change=statistics.fmean(e - b for b, e in pairs),
        response=_pct(sum(v.response for v in verdicts), n),
        remission=_pct(sum(v.remission for v in verdicts), n)
        if instrument.remission_below is not None
        else None,
        improvement=_pct(sum(v.reliable_improvement for v in verdicts), n)
        if instrument.reliable_change is not None
        else None,
        deterioration=_pct(sum(v.reliable_deterioration for v in verdicts), n)
        if instrument.reliable_change is not None
        else None,
    )


def _group(label: str, courses: list[Course], pairs: dict[int, dict[str, tuple[int, int]]]) -> GroupOutcome:
    counts = [c.sessions for c in courses]
    by_severity: dict[str, int] = {}
    for course in courses:
        for severity, count in course.adverse.items():
            by_severity[severity] = by_severity.get(severity, 0) + count
    return GroupOutcome(
        label=label,
        clients=len(courses),
        sessions=sum(counts),
        sessions_mean=statistics.fmean(counts) if counts else None,
        sessions_min=min(counts) if counts else None,
        sessions_max=max(counts) if counts else None,
        adverse_events=sum(by_severity.values()),
        adverse_by_severity=by_severity,
        instruments={
            key: instrument_outcome(
                instrument,
                [pairs[c.client_id][key] for c in courses if key in pairs.get(c.client_id, {})],
                len(courses),
            )
            for key, instrument in instruments.INSTRUMENTS.items()
        },
    )


def _withhold_complements(groups: list[GroupOutcome]) -> list[GroupOutcome]:
    """One breakdown's groups (every client in exactly one), with each figure that is hidden in
    one group for too few clients hidden in all of them, so that it cannot be worked out from
    the figure for all clients. A group with no one to speak of (n = 0) hides nothing."""
    if any(0 < group.clients < MIN_CELL for group in groups):
        groups = [dataclasses.replace(group, withheld=True) for group in groups]
    for key in instruments.INSTRUMENTS:
        if any(0 < group.instruments[key].n < MIN_CELL for group in groups):
            groups = [
                dataclasses.replace(
                    group,
                    instruments={
                        **group.instruments,
                        key: dataclasses.replace(group.instruments[key], withheld=True),
                    },
                )
                for group in groups
            ]
    return groups


def _course_rows(since: datetime.datetime, until: datetime.datetime):
    """One row per client treated in [since, until), computed by the database: the course's
    first session (its start and modality), how many sessions the course has, the route of that
    session's first dose, and each instrument's baseline and end score by the definitions in this
    module's docstring. Two queries. The first lists the period's sessions in order (their ids
    and clients only), which gives each course's first session and its count in one pass; the
    second reads every figure of those first sessions through an index (runbooks by visit,
    responses by client, instrument and time): the work grows with the sessions of the period,
    not with the practice's history. (Finding the first session with a correlated subquery per
    session instead cost more than everything else in the report.)"""
    first: dict[int, int] = {}  # client id: their course's first session id
    sessions: dict[int, int] = {}  # client id: the course's sessions
    in_order = _in_period(since, until).order_by("starts_at", "pk").values_list("pk", "client_id")
    for pk, client_id in in_order:
        first.setdefault(client_id, pk)
        sessions[client_id] = sessions.get(client_id, 0) + 1
    if not first:
        return []
    responses = Response.objects.filter(client=OuterRef("client"), completed_at__lt=until)
    scores = {}
    for key in instruments.INSTRUMENTS:
        theirs = responses.filter(instrument=key).order_by("-completed_at", "-pk").values("total")
        # The baseline: the last response at or before the course's first session; the end:
        # the last one after it and before the period ends.
        scores[f"baseline_{key}"] = Subquery(theirs.filter(completed_at__lte=OuterRef("starts_at"))[:1])
        scores[f"end_{key}"] = Subquery(theirs.filter(completed_at__gt=OuterRef("starts_at"))[:1])
    rows = (
        # Within the period again, so that the database reads the ids from the period's sessions
        # whatever it guesses of the id list (PostgreSQL may otherwise read every visit).
        _in_period(since, until)
        .filter(pk__in=list(first.values()))
        .annotate(
            # A session has one first dose at most (the one_first_dose_per_session constraint).
            first_route=Subquery(
                Administration.objects.filter(runbook__visit=OuterRef("pk"), is_booster=False).values(
                    "route"
                )[:1]
            ),
            **scores,
        )
        .order_by("starts_at", "pk")
        .values("client_id", "starts_at", "modality", "first_route", *scores)
    )
    return [{**row, "session_count": sessions[row["client_id"]]} for row in rows]


def _in_period(since: datetime.datetime, until: datetime.datetime):
    """The completed medication sessions that start in [since, until): every course's sessions."""
    return Visit.objects.filter(
        kind=Visit.Kind.MEDICATION,
        status=Visit.Status.COMPLETED,
        starts_at__gte=since,
        starts_at__lt=until,
    )


def build_report(*, start: datetime.date, end: datetime.date) -> Report:
    """The outcome report for the period from `start` to `end` (inclusive), by the definitions in
    this module's docstring, in three queries whatever the size of the practice: one row per
    treated client with their course and their baseline and end scores (_course_rows, two
    queries), and the adverse events of the period's sessions counted by client and severity. Only the figures
    over those rows (means, SDs, verdicts, small-cell rules) are worked out here."""
    since, until = period_bounds(start, end)
    courses: dict[int, Course] = {}
    pairs: dict[int, dict[str, tuple[int, int]]] = {}
    for row in _course_rows(since, until):
        client_id = row["client_id"]
        courses[client_id] = Course(
            client_id=client_id,
            first_start=row["starts_at"],
            sessions=row["session_count"],
            route=row["first_route"] or NOT_RECORDED,
            modality=row["modality"],
        )
        for key in instruments.INSTRUMENTS:
            baseline, end_score = row[f"baseline_{key}"], row[f"end_{key}"]
            if baseline is not None and end_score is not None:
                pairs.setdefault(client_id, {})[key] = (baseline, end_score)
    for client_id, severity, count in (
        AdverseEvent.objects.filter(
            runbook__visit__kind=Visit.Kind.MEDICATION,
            runbook__visit__status=Visit.Status.COMPLETED,
            runbook__visit__starts_at__gte=since,
            runbook__visit__starts_at__lt=until,
        )
        .order_by()
        .values_list("runbook__visit__client_id", "severity")
        .annotate(n=Count("pk"))
    ):
        course = courses[client_id]
        course.adverse[severity] = course.adverse.get(severity, 0) + count

    all_courses = list(courses.values())
    routes = dict(MedicationOrder.Route.choices)
    modalities = dict(Visit.Modality.choices)
    by_route = []
    for route in [*routes, NOT_RECORDED]:
        members = [c for c in all_courses if c.route == route]
        if members:
            by_route.append(_group(routes.get(route, "not recorded"), members, pairs))
    by_modality = []
    for modality, label in modalities.items():
        members = [c for c in all_courses if c.modality == modality]
        if members:
            by_modality.append(_group(label, members, pairs))
    return Report(
        start=start,
        end=end,
        overall=_group("All clients treated", all_courses, pairs),
        by_route=_withhold_complements(by_route),
        by_modality=_withhold_complements(by_modality),
    )


# The report as tables: what the page shows and the CSV holds, cell for cell.


def _num(value: float | None, places: int = 1) -> str:
    if value is None:
        return "—"
    text = f"{value:.{places}f}"
    return text.replace("-", "−") if text.startswith("-") else text


def _signed(value: float | None) -> str:
    if value is None:
        return "—"
    return ("+" if value > 0 else "") + _num(value)


def _pct_cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _mean_sd(mean: float | None, sd: float | None) -> str:
    return "—" if mean is None else f"{_num(mean)} ({_num(sd)})"


INSTRUMENT_COLUMNS = [
    ("treated", "Clients treated"),
    ("n", "n with baseline and end"),
    ("baseline", "Baseline mean (SD)"),
    ("end", "End mean (SD)"),
    ("mean_change", "Mean change"),
    ("response", "Response (≥ 50 % fall)"),
    ("remission", "Remission"),
    ("improvement", "Reliable improvement"),
    ("deterioration", "Reliable deterioration"),
]

SESSION_COLUMNS = [
    ("clients", "Clients treated"),
    ("sessions", "Medication sessions"),
    ("per_course", "Sessions per course, mean (range)"),
    ("adverse", "Adverse events per session"),
    ("mild", "Mild"),
    ("moderate", "Moderate"),
    ("severe", "Severe"),
]


@dataclass(frozen=True)
class Row:
    label: str
    cells: list[str]
    kind: str = "practice"  # "practice" or "published"
    note: str = ""
    # Columns after the shown cells that say TOO_FEW; the page shows them as one cell.
    suppressed: int = 0


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[Row]
    note: str = ""


def _instrument_cells(outcome: InstrumentOutcome) -> list[str]:
    if not outcome.shown:
        return [str(outcome.treated), str(outcome.n)]
    return [
        str(outcome.treated),
        str(outcome.n),
        _mean_sd(outcome.baseline_mean, outcome.baseline_sd),
        _mean_sd(outcome.end_mean, outcome.end_sd),
        _signed(outcome.mean_change),
        _pct_cell(outcome.response),
        _pct_cell(outcome.remission),
        _pct_cell(outcome.improvement),
        _pct_cell(outcome.deterioration),
    ]


def _published_cells(figure: published.Published) -> list[str]:
    values = figure.figures
    cells = {
        "n": f"{figure.n:,}",
        "mean_change": f"{_signed(values['mean_change'])} {figure.instrument} points"
        if "mean_change" in values
        else "",
        "response": _pct_cell(values["response"]) if "response" in values else "",
        "remission": _pct_cell(values["remission"]) if "remission" in values else "",
        "deterioration": f"{_pct_cell(values['deterioration'])} (deterioration)"
        if "deterioration" in values
        else "",
    }
    return [cells.get(key, "") for key, _label in INSTRUMENT_COLUMNS]


def _session_cells(group: GroupOutcome) -> list[str]:
    if not group.shown:
        return [str(group.clients), str(group.sessions)]
    return [
        str(group.clients),
        str(group.sessions),
        f"{_num(group.sessions_mean)} ({group.sessions_min}–{group.sessions_max})",
        _num(group.adverse_rate(), 2),
        *(_num(group.adverse_rate(severity), 2) for severity in AdverseEvent.Severity.values),
    ]


def _row(label: str, cells: list[str], width: int) -> Row:
    return Row(label, cells, suppressed=width - len(cells))


def _row_label(dimension: str, group: GroupOutcome) -> str:
    return group.label if dimension == "All clients" else f"{dimension}: {group.label}"


def report_tables(report: Report) -> list[Table]:
    """The report's tables, one per instrument (with the published figures beside it) and one
    for sessions and adverse events, each with a row for all clients, each route and each
    modality."""
    tables = []
    for key, instrument in instruments.INSTRUMENTS.items():
        rows = [
            _row(
                _row_label(dimension, group),
                _instrument_cells(group.instruments[key]),
                len(INSTRUMENT_COLUMNS),
            )
            for dimension, group in report.groups
        ]
        rows += [
            Row(
                f"{figure.source}, published" + ("" if figure.same_instrument else f" ({figure.instrument})"),
                _published_cells(figure),
                kind="published",
                note=f"{figure.population[:1].upper()}{figure.population[1:]}. {figure.caveat}",
            )
            for figure in published.beside(key)
        ]
        notes = []
        if instrument.remission_below is not None:
            notes.append(f"remission: end score below {instrument.remission_below}")
        else:
            notes.append("no remission threshold")
        if instrument.reliable_change is not None:
            notes.append(f"reliable change: {instrument.reliable_change} or more points")
        else:
            notes.append("no reliable-change threshold is set")
        tables.append(
            Table(
                key=key,
                title=f"{instrument.name} (0–{instrument.max_total})",
                columns=[label for _key, label in INSTRUMENT_COLUMNS],
                rows=rows,
                note="; ".join(notes).capitalize() + ".",
            )
        )
    tables.append(
        Table(
            key="sessions",
            title="Sessions and adverse events",
            columns=[label for _key, label in SESSION_COLUMNS],
            rows=[
                _row(_row_label(dimension, group), _session_cells(group), len(SESSION_COLUMNS))
                for dimension, group in report.groups
            ],
            note="Adverse events per medication session, all and by severity.",
        )
    )
    return tables


# The report as CSV lines: the same figures as the tables, each as a plain number in a column of
# its own (kapflow.lib.spreadsheet), rounded as the page rounds them.

CSV_HEADER = ["from", "to", "table", "row", "measure", "unit", "value", "note"]
NO_THRESHOLD = "no threshold set for this instrument"


def _round(value: float | None, places: int = 1) -> float | None:
    return None if value is None else round(value, places)


def _instrument_figures(outcome: InstrumentOutcome) -> list[tuple[str, str, float | None]]:
    """(measure, unit, value) for each figure after the two counts, in the page's order."""
    return [
        ("Baseline mean", "points", _round(outcome.baseline_mean)),
        ("Baseline SD", "points", _round(outcome.baseline_sd)),
        ("End mean", "points", _round(outcome.end_mean)),
        ("End SD", "points", _round(outcome.end_sd)),
        ("Mean change", "points", _round(outcome.mean_change)),
        ("Response (≥ 50 % fall)", "%", _round(outcome.response)),
        ("Remission", "%", _round(outcome.remission)),
        ("Reliable improvement", "%", _round(outcome.improvement)),
        ("Reliable deterioration", "%", _round(outcome.deterioration)),
    ]


def _instrument_lines(instrument: instruments.Instrument, outcome: InstrumentOutcome) -> list[list]:
    lines = [
        ["Clients treated", "clients", outcome.treated, ""],
        ["n with baseline and end", "clients", outcome.n, ""],
    ]
    for measure, unit, value in _instrument_figures(outcome):
        if not outcome.shown:
            note = TOO_FEW
        elif value is None:
            note = NO_THRESHOLD
        else:
            note = ""
        lines.append([measure, unit, value if outcome.shown else None, note])
    return lines


def _published_lines(figure: published.Published) -> list[list]:
    values = figure.figures
    lines = [["n", "clients", figure.n, ""]]
    if "mean_change" in values:
        lines.append(["Mean change", f"{figure.instrument} points", values["mean_change"], ""])
    for key, measure in (("response", "Response (≥ 50 % fall)"), ("remission", "Remission")):
        if key in values:
            lines.append([measure, "%", values[key], ""])
    if "deterioration" in values:
        lines.append(["Reliable deterioration", "%", values["deterioration"], "deterioration as published"])
    return lines


def _session_lines(group: GroupOutcome) -> list[list]:
    figures = [
        ("Sessions per course, mean", "sessions", _round(group.sessions_mean)),
        ("Sessions per course, fewest", "sessions", group.sessions_min),
        ("Sessions per course, most", "sessions", group.sessions_max),
        ("Adverse events per session", "events per session", _round(group.adverse_rate(), 2)),
        *(
            (label, "events per session", _round(group.adverse_rate(severity), 2))
            for severity, label in AdverseEvent.Severity.choices
        ),
    ]
    lines = [
        ["Clients treated", "clients", group.clients, ""],
        ["Medication sessions", "sessions", group.sessions, ""],
    ]
    for measure, unit, value in figures:
        lines.append([measure, unit, value if group.shown else None, "" if group.shown else TOO_FEW])
    return lines


def report_csv_rows(report: Report) -> list[list]:
    """The report's figures, one line each: period, table, row, measure, unit, value, note. The
    value is a number (or empty: too few to say, or no threshold, as the note says); the
    period's dates are ISO 8601; the titles and row labels are the page's."""
    period = [report.start, report.end]
    lines: list[list] = [CSV_HEADER]
    for key, instrument in instruments.INSTRUMENTS.items():
        title = f"{instrument.name} (0–{instrument.max_total})"
        for dimension, group in report.groups:
            row = _row_label(dimension, group)
            lines += [
                [*period, title, row, *line] for line in _instrument_lines(instrument, group.instruments[key])
            ]
        for figure in published.beside(key):
            row = f"{figure.source}, published" + (
                "" if figure.same_instrument else f" ({figure.instrument})"
            )
            lines += [[*period, title, row, *line] for line in _published_lines(figure)]
    for dimension, group in report.groups:
        row = _row_label(dimension, group)
        lines += [[*period, "Sessions and adverse events", row, *line] for line in _session_lines(group)]
    return lines
