"""The calendars' shapes, built from visits already read: a day or a week as a time grid (a column
per day, or per clinician or room, and a row per five minutes), and a month as weeks of days.

Each visit becomes a block placed by CSS classes alone (the pages' Content-Security-Policy forbids
inline styles): `r-N` is the five-minute slot it starts in, counted from the grid's first hour,
`s-N` the slots it spans, and `l{lane}-{lanes}` its place side by side with the visits it overlaps
(kapflow/static/kapflow/calendar.css). Two visits that overlap and share a clinician, a client or
a room are a conflict: both are flagged. A column shows at most MAX_LANES visits side by side; the
rest are counted, hour by hour, in a "+N" link to the day.

The range queries bound the start on both sides (`in_range`), so that the index on the start
is used instead of reading every visit that started before the range."""

import datetime
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db.models import F, Func, IntegerField
from django.db.models.sql.constants import MULTI
from django.utils import timezone

from kapflow.visits.models import LONGEST_VISIT, Visit

SLOT_MINUTES = 5
SLOTS_PER_HOUR = 60 // SLOT_MINUTES
# The practice's working day, always shown; the grid grows to take in any visit outside it.
WORKDAY_STARTS, WORKDAY_ENDS = 7, 20
# Visits side by side in one column before the rest are counted in a "+N" link.
MAX_LANES = 4
# A month cell lists this many visits, then "+N more".
MONTH_LISTED = 3
# Up to this many, clients are looked up by a list of their numbers; past it, by the query that
# found them (a list of hundreds is hundreds of parameters to prepare).
LISTED = 50

SHORT_KIND = {
    Visit.Kind.DISCOVERY_CALL: "Discovery",
    Visit.Kind.CONSULTATION: "Consult",
    Visit.Kind.MEDICAL_EVALUATION: "Med eval",
    Visit.Kind.PREPARATION: "Prep",
    Visit.Kind.MEDICATION: "Medication",
    Visit.Kind.INTEGRATION: "Integration",
    Visit.Kind.THERAPY: "Therapy",
    Visit.Kind.PROGRESS_REVIEW: "Review",
}


def midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def in_range(visits, start: datetime.datetime, end: datetime.datetime):
    """The visits of `visits` that share a minute with [start, end), found through the index on
    the start: it began before `end` and no longer than LONGEST_VISIT before `start`."""
    return visits.filter(starts_at__gte=start - LONGEST_VISIT, starts_at__lt=end, ends_at__gt=start)


def short_name(client) -> str:
    """What a block has room for: the name the client goes by and the initial of the last."""
    first = client.preferred_name or client.first_name
    return f"{first} {client.last_name[:1]}." if client.last_name else first


@dataclass(eq=False, slots=True)
class Entry:
    """What the grid needs to place a visit and find its conflicts, read as plain values: the
    page reads whole visits (names, rooms) only for the blocks it shows. `local_start` and
    `local_end` are the times in the practice's time zone."""

    pk: int
    client_id: int
    clinician_id: int
    room_id: int | None
    status: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    local_start: datetime.datetime
    local_end: datetime.datetime
    # Filled in by `read` (its clinicians), `_days_of` (the days it touches) and `_minutes` (its
    # minutes on each of them: the grid's hours and its column both ask).
    people: set[int] | None = None
    days: list[datetime.date] | None = None
    minutes: dict[datetime.date, tuple[int, int, bool, bool]] | None = None


def read(visits) -> list[Entry]:
    """The visits of the queryset as entries, in order, each with the numbers of its clinicians
    (its own and any joining): one query whatever their number, a row for each joining
    clinician (the rows of a visit are next to each other). A week of the whole practice is
    several hundred visits, so each row costs as little as it can: the query is the queryset's
    own, but its rows are read as the database gives them and each column's conversion (on
    SQLite, a naive UTC datetime to an aware one, then to the practice's time zone) is done once
    for each distinct value rather than for each row: visits start and end on the hour and the
    quarter, so a practice's week (579 visits in the benchmark) has about a third as many
    distinct times as it has times, and this was most of the page's reading."""
    zone = timezone.get_current_timezone()
    rows = visits.order_by("starts_at", "pk").values_list(
        "pk", "client_id", "clinician_id", "room_id", "status", "starts_at", "ends_at", "other_clinicians"
    )
    compiler = rows.query.get_compiler(using=rows.db)
    chunks = compiler.execute_sql(MULTI)  # every row, read and the cursor closed
    connection = compiler.connection
    # Per column, the converters Django's own results_iter would apply (compiler.select is set
    # once the query has been compiled); their results are kept per distinct value.
    converters = compiler.get_converters([expression for expression, _, _ in compiler.select])

    def converted(index: int):
        steps, expression = converters.get(index, ((), None))
        seen: dict = {}

        def convert(value):
            try:
                return seen[value]
            except KeyError:
                result = value
                for step in steps:
                    result = step(result, expression, connection)
                seen[value] = result
                return result

        return convert

    # The times: (aware, local) for each distinct value the database gave, the start and the
    # end alike (both are the model's DateTimeFields; an end is often another visit's start).
    to_datetime = converted(5)
    times: dict = {}

    def when(value):
        try:
            return times[value]
        except KeyError:
            aware = to_datetime(value)
            times[value] = found_time = (aware, aware.astimezone(zone))
            return found_time

    # Any other column with converters (none on SQLite or PostgreSQL: numbers and text) gets
    # them too, as results_iter would.
    others = [converted(index) if index in converters and index not in (5, 6) else None for index in range(8)]
    if not any(others):
        others = None
    found: list[Entry] = []
    for chunk in chunks:
        for row in chunk:
            if others is not None:
                row = [
                    value if convert is None else convert(value)
                    for value, convert in zip(row, others, strict=True)
                ]
            pk, client_id, clinician_id, room_id, status, starts_at, ends_at, joining = row
            if not found or found[-1].pk != pk:
                (starts_at, local_start), (ends_at, local_end) = when(starts_at), when(ends_at)
                found.append(
                    Entry(
                        pk,
                        client_id,
                        clinician_id,
                        room_id,
                        status,
                        starts_at,
                        ends_at,
                        local_start,
                        local_end,
                        people={clinician_id},
                    )
                )
            if joining is not None:
                found[-1].people.add(joining)
    return found


class Names(NamedTuple):
    """A client's names, as much as a calendar shows of them (`short_name`)."""

    first_name: str
    preferred_name: str
    last_name: str


def fill(grid: "Grid") -> list[Visit]:
    """Read the visits the grid shows (one query) and put them in their blocks. Returns them.
    Each is a Visit with only the columns a block shows, its client's `names`, its
    `clinician_name` and its `place_name` ("Video" or the room's name) read in the same query, and
    its times from its entry: the client, clinician and room themselves are not read (a
    practice's week shows a hundred blocks or more)."""
    placed = [block for column in grid.columns for block in column.blocks]
    if not placed:
        return []
    visits = {
        visit.pk: visit
        for visit in Visit.objects.filter(pk__in={block.visit.pk for block in placed})
        .only("pk", "client", "clinician", "room", "kind", "status", "modality")
        .annotate(
            client_first_name=F("client__first_name"),
            client_preferred_name=F("client__preferred_name"),
            client_last_name=F("client__last_name"),
            clinician_name=F("clinician__full_name"),
            room_name=F("room__name"),
        )
        .order_by()
    }
    for visit in visits.values():
        visit.names = Names(visit.client_first_name, visit.client_preferred_name, visit.client_last_name)
        visit.place_name = visit.room_name if visit.room_id else "Video"
    for block in placed:
        entry = block.visit
        visit = block.visit = visits[entry.pk]
        # Its times as read already (and in the practice's time zone), and its clinicians.
        visit.starts_at, visit.ends_at, visit.people = entry.starts_at, entry.ends_at, entry.people
        visit.local_start, visit.local_end = entry.local_start, entry.local_end
    return sorted(visits.values(), key=lambda v: (v.starts_at, v.pk))


class DayOf(Func):
    """Which of a run of days a visit starts on, as a number (0 for the day from `midnights[0]`
    to `midnights[1]`, and so on; the query keeps to the run), from the days' midnights: plain
    comparisons on the start, which the database works out itself. TruncDate says the same, but
    on SQLite it calls back into Python for every row, and a practice's month is thousands of
    visits. The comparisons halve the run each time (six for a month, not up to 35)."""

    output_field = IntegerField()

    def __init__(self, midnights: list[datetime.datetime]):
        super().__init__(F("starts_at"))
        self.midnights = midnights

    def as_sql(self, compiler, connection, **extra_context):
        column, column_params = compiler.compile(self.get_source_expressions()[0])

        def days(first: int, last: int) -> tuple[str, list]:  # the days first to last - 1
            if last - first == 1:
                return str(first), []
            middle = (first + last) // 2
            before, before_params = days(first, middle)
            after, after_params = days(middle, last)
            midnight = connection.ops.adapt_datetimefield_value(self.midnights[middle])
            sql = f"CASE WHEN {column} < %s THEN {before} ELSE {after} END"
            return sql, [*column_params, midnight, *before_params, *after_params]

        return days(0, len(self.midnights) - 1)


@dataclass(eq=False)
class Listed:
    """A visit as a month's day lists it: its time, its kind and its client's names."""

    pk: int
    starts_at: datetime.datetime
    kind: str
    client_id: int
    names: Names


def people_of(entry: Entry) -> set[int]:
    """The clinicians of a visit read by `read`: its own and any joining."""
    return entry.people


def conflicts(visits: list[Entry], *, nameable: set[int] | None = None) -> dict[int, list[str]]:
    """The visits that clash with another of `visits`: same time (any shared minute) and the same
    clinician (primary or joining), client or room. Visit pk -> what it shares, in words.
    Cancelled visits hold no time and never clash. With `nameable` (the clients the viewer may
    see), a shared client counts only when it is one of them: two "Busy" blocks flagged for
    sharing a client would tell the viewer that two other people's visits are with one person."""
    live = sorted(
        (v.starts_at, v.ends_at, v.pk, v.client_id, v.room_id, people_of(v))
        for v in visits
        if v.status != Visit.Status.CANCELLED
    )
    found: dict[int, set[str]] = defaultdict(set)
    # For each clinician, client and room, its visits still running, as (end, pk): a visit is
    # compared only with those that share one of them, not with every visit running at the time
    # (dozens at once in a practice's week).
    running: dict[tuple[str, int], list[tuple]] = defaultdict(list)
    for start, end, pk, client_id, room_id, people in live:
        keys = [("clinician", person) for person in people]
        if nameable is None or client_id in nameable:
            keys.append(("client", client_id))
        if room_id is not None:
            keys.append(("room", room_id))
        for key in keys:
            still = running[key] = [
                (other_end, other) for other_end, other in running[key] if other_end > start
            ]
            for _end, other in still:
                found[pk].add(key[0])
                found[other].add(key[0])
            still.append((end, pk))
    return {pk: sorted(shared) for pk, shared in found.items()}


@dataclass
class Block:
    """One visit in a column: its slot, its span and its lane. `visit` is its Entry until the
    page reads the visit itself (`fill`)."""

    visit: Entry | Visit
    row: int
    span: int
    lane: int = 0
    lanes: int = 1
    conflict: list[str] = field(default_factory=list)
    # The visit began the day before, or goes on past midnight.
    from_before: bool = False
    goes_on: bool = False
    # Whether this block holds the visit's readiness badge (a visit shown twice holds one).
    badge: bool = False

    @property
    def place(self) -> str:
        return f"r-{self.row} s-{self.span} l{self.lane}-{self.lanes}"

    @property
    def short(self) -> bool:
        """Under half an hour: one line."""
        return self.span < 6

    @property
    def kind(self) -> str:
        return SHORT_KIND.get(self.visit.kind) or self.visit.get_kind_display()


@dataclass
class More:
    """Visits of one hour that do not fit side by side: a count linking to the day."""

    row: int
    span: int
    lane: int
    lanes: int
    count: int
    # Some of them clash with another visit.
    conflict: bool = False

    @property
    def place(self) -> str:
        return f"r-{self.row} s-{self.span} l{self.lane}-{self.lanes}"


@dataclass
class Column:
    key: str
    label: str
    day: datetime.date
    blocks: list[Block]
    more: list[More]
    today: bool = False
    link: str = ""


@dataclass
class Grid:
    first_hour: int
    last_hour: int
    columns: list[Column]

    @property
    def hours(self) -> int:
        return self.last_hour - self.first_hour

    @property
    def lanes(self) -> int:
        """The most visits side by side in any column: the page widens its columns to fit."""
        return max((block.lanes for column in self.columns for block in column.blocks), default=1)

    @property
    def labels(self) -> list[tuple[int, str]]:
        """(row, "07:00") for each hour down the side."""
        return [
            ((hour - self.first_hour) * SLOTS_PER_HOUR + 1, f"{hour:02d}:00")
            for hour in range(self.first_hour, self.last_hour)
        ]


def _minutes(visit: Entry, day: datetime.date) -> tuple[int, int, bool, bool]:
    """The visit's start and end in minutes after the day's midnight, clipped to the day (worked
    out once for each of its days)."""
    known = visit.minutes
    if known is None:
        known = visit.minutes = {}
    elif day in known:
        return known[day]
    start, end = visit.local_start, visit.local_end
    from_before = start.date() < day
    goes_on = end.date() > day and not (
        end.date() == day + datetime.timedelta(days=1) and end.time() == datetime.time()
    )
    begin = 0 if from_before else start.hour * 60 + start.minute
    finish = 24 * 60 if end.date() > day else end.hour * 60 + end.minute
    known[day] = found = (begin, max(finish, begin + SLOT_MINUTES), from_before, goes_on)
    return found


def hours_for(visits: list[Entry], days: list[datetime.date]) -> tuple[int, int]:
    """The working day, stretched to the earliest start and the latest end among `visits` on `days`."""
    first, last = WORKDAY_STARTS, WORKDAY_ENDS
    wanted = set(days)
    for visit in visits:
        for day in _days_of(visit):
            if day in wanted:
                begin, finish, _, _ = _minutes(visit, day)
                first = min(first, begin // 60)
                last = max(last, math.ceil(finish / 60))
    return first, last


def _days_of(visit: Entry) -> list[datetime.date]:
    """The days the visit touches (read once per visit)."""
    days = visit.days
    if days is None:
        start = visit.local_start.date()
        end = (visit.local_end - datetime.timedelta(microseconds=1)).date()
        days = visit.days = [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]
    return days


def lay_out(
    visits: list[Entry], day: datetime.date, first_hour: int, last_hour: int, clashes, max_lanes=MAX_LANES
):
    """Place `visits` (all touching `day`) in one column of a grid from `first_hour` to
    `last_hour`: overlapping visits side by side, in as few lanes as they need; past `max_lanes`,
    the visits of the last lane and beyond are counted by hour in "+N" links."""
    origin = first_hour * 60
    rows = (last_hour - first_hour) * SLOTS_PER_HOUR
    blocks = []
    for visit in visits:
        begin, finish, from_before, goes_on = _minutes(visit, day)
        row = (begin - origin) // SLOT_MINUTES + 1
        end_row = min(math.ceil((finish - origin) / SLOT_MINUTES) + 1, rows + 1)
        blocks.append(
            Block(
                visit,
                row=row,
                span=max(1, end_row - row),
                conflict=clashes.get(visit.pk, []),
                from_before=from_before,
                goes_on=goes_on,
            )
        )
    blocks.sort(key=lambda b: (b.row, -b.span, b.visit.pk))
    placed: list[Block] = []
    more: list[More] = []
    cluster: list[Block] = []
    reach = 0

    def close(cluster):
        lane_ends: list[int] = []
        for block in cluster:
            for lane, end in enumerate(lane_ends):
                if end <= block.row:
                    block.lane, lane_ends[lane] = lane, block.row + block.span
                    break
            else:
                block.lane = len(lane_ends)
                lane_ends.append(block.row + block.span)
        lanes = len(lane_ends)
        if lanes <= max_lanes:
            for block in cluster:
                block.lanes = lanes
            placed.extend(cluster)
            return
        hidden: dict[int, list[Block]] = defaultdict(list)
        for block in cluster:
            if block.lane < max_lanes - 1:
                block.lanes = max_lanes
                placed.append(block)
            else:
                hidden[(block.row - 1) // SLOTS_PER_HOUR].append(block)
        for hour, those in sorted(hidden.items()):
            row = hour * SLOTS_PER_HOUR + 1
            more.append(
                More(
                    row,
                    min(SLOTS_PER_HOUR, rows + 1 - row),
                    max_lanes - 1,
                    max_lanes,
                    len(those),
                    conflict=any(block.conflict for block in those),
                )
            )

    for block in blocks:
        if cluster and block.row >= reach:
            close(cluster)
            cluster = []
        cluster.append(block)
        reach = max(reach, block.row + block.span)
    if cluster:
        close(cluster)
    return placed, more


def grid(columns: list[tuple[str, str, datetime.date, list[Visit]]], *, clashes, link=None) -> Grid:
    """A time grid with one column per (key, label, day, visits); `link(key, day)` is where a
    column's "+N" goes."""
    every = [visit for *_, visits in columns for visit in visits]
    first, last = hours_for(every, [day for _, _, day, _ in columns])
    today = timezone.localdate()
    built = []
    for key, label, day, visits in columns:
        blocks, more = lay_out(visits, day, first, last, clashes)
        built.append(
            Column(key, label, day, blocks, more, today=day == today, link=link(key, day) if link else "")
        )
    return Grid(first, last, built)


def by_day(visits: list[Entry], days: list[datetime.date]) -> dict[datetime.date, list[Visit]]:
    """Each day's visits (a visit past midnight is on both days), in order."""
    found: dict[datetime.date, list[Visit]] = {day: [] for day in days}
    for visit in visits:
        for day in _days_of(visit):
            if day in found:
                found[day].append(visit)
    return found


@dataclass
class MonthDay:
    day: datetime.date
    in_month: bool
    today: bool
    count: int = 0
    listed: list[Visit] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.listed)


def month_weeks(first_of_month: datetime.date) -> list[datetime.date]:
    """The Mondays of the weeks that show the month (from the week of its first day to the week
    of its last)."""
    monday = first_of_month - datetime.timedelta(days=first_of_month.weekday())
    next_month = (first_of_month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    weeks = []
    while monday < next_month:
        weeks.append(monday)
        monday += datetime.timedelta(days=7)
    return weeks


def month(first_of_month: datetime.date, counts: dict, listed: dict) -> list[list[MonthDay]]:
    """Weeks × days of the month: each day's count of visits and its first few."""
    today = timezone.localdate()
    weeks = []
    for monday in month_weeks(first_of_month):
        week = []
        for offset in range(7):
            day = monday + datetime.timedelta(days=offset)
            week.append(
                MonthDay(
                    day,
                    in_month=day.month == first_of_month.month,
                    today=day == today,
                    count=counts.get(day, 0),
                    listed=listed.get(day, []),
                )
            )
        weeks.append(week)
    return weeks
