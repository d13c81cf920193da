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


@dataclass(eq=False)
class Entry:
    """What the grid needs to place a visit and find its conflicts, read as plain values: the
    page reads whole visits (names, rooms) only for the blocks it shows."""

    pk: int
    client_id: int
    clinician_id: int
    room_id: int | None
    status: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    people: set[int] = field(default_factory=set)

    def __post_init__(self):
        self.local_start = timezone.localtime(self.starts_at)
        self.local_end = timezone.localtime(self.ends_at)


def read(visits) -> list[Entry]:
    """The visits of the queryset as entries, in order, each with the numbers of its clinicians
    (its own and any joining): two queries whatever their number."""
    found = [
        Entry(*row)
        for row in visits.order_by("starts_at", "pk").values_list(
            "pk", "client_id", "clinician_id", "room_id", "status", "starts_at", "ends_at"
        )
    ]
    joined = defaultdict(set)
    if found:
        rows = Visit.other_clinicians.through.objects.filter(visit_id__in=[v.pk for v in found])
        for visit_id, user_id in rows.values_list("visit_id", "user_id"):
            joined[visit_id].add(user_id)
    for entry in found:
        entry.people = {entry.clinician_id, *joined[entry.pk]}
    return found


def fill(grid: "Grid") -> list[Visit]:
    """Read the visits the grid shows (one query), each with its client, clinician and room, and
    put them in their blocks. Returns them."""
    placed = [block for column in grid.columns for block in column.blocks]
    if not placed:
        return []
    visits = {
        visit.pk: visit
        for visit in Visit.objects.filter(pk__in={block.visit.pk for block in placed})
        .select_related("client", "clinician", "room")
        .only(
            *(f.name for f in Visit._meta.concrete_fields if f.name not in ("cancel_reason", "video_link")),
            "client__first_name",
            "client__preferred_name",
            "client__last_name",
            "clinician__full_name",
            "room__name",
        )
    }
    for block in placed:
        visits[block.visit.pk].people = block.visit.people
        block.visit = visits[block.visit.pk]
    return sorted(visits.values(), key=lambda v: (v.starts_at, v.pk))


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
    active: list[tuple] = []
    for visit in live:
        start, _end, pk, client_id, room_id, people = visit
        active = [other for other in active if other[1] > start]
        for _start, _end, other_pk, other_client, other_room, other_people in active:
            shared = set()
            if people & other_people:
                shared.add("clinician")
            if client_id == other_client and (nameable is None or client_id in nameable):
                shared.add("client")
            if room_id is not None and room_id == other_room:
                shared.add("room")
            if shared:
                found[pk] |= shared
                found[other_pk] |= shared
        active.append(visit)
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
        return SHORT_KIND.get(self.visit.kind, self.visit.get_kind_display())


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
    """The visit's start and end in minutes after the day's midnight, clipped to the day."""
    start, end = visit.local_start, visit.local_end
    from_before = start.date() < day
    goes_on = end.date() > day and not (
        end.date() == day + datetime.timedelta(days=1) and end.time() == datetime.time()
    )
    begin = 0 if from_before else start.hour * 60 + start.minute
    finish = 24 * 60 if end.date() > day else end.hour * 60 + end.minute
    return begin, max(finish, begin + SLOT_MINUTES), from_before, goes_on


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
    days = getattr(visit, "days", None)
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
