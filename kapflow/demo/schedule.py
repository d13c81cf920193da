"""The quick demo practice's diary while its stories book visits: each story asks it for a slot
(this client, this clinician, one of these rooms, around this time, this long) and gets the free
time nearest to the one asked for, so that nobody and no room is booked twice, as the
product's own clash check (kapflow.visits.services.clashes) requires.

The practice's hours are the group practice's too (kapflow.demo.group): Monday to Saturday,
8:00 to 18:00 (Saturdays until 14:00) in the practice's time zone, visits starting on the
quarter hour, no clinician past eight hours of visits in a day, a client at one visit a day.
Nothing but the session being run as the demo loads is under way at that moment.

The diary remembers what it gave out, and reads the visits already on the calendar a day at a
time, the first time it looks at that day: a demo loaded again books around what is there.
Fictional throughout."""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from kapflow.visits.calendar import in_range
from kapflow.visits.models import Visit

OPEN = 8 * 60  # 8:00
CLOSE = 18 * 60  # 18:00
SATURDAY_CLOSE = 14 * 60
DAY_LIMIT = 8 * 60  # minutes of visits a clinician may have in a day
GRID = 15  # visits start on the quarter hour
WORKING_DAYS = range(6)  # Monday to Saturday


@dataclass(frozen=True)
class Booking:
    """A slot the diary gave out: the visit's time and its room (None for a virtual visit)."""

    starts_at: datetime.datetime
    ends_at: datetime.datetime
    room: object = None


@dataclass(frozen=True)
class _Ask:
    """One request for a slot, as `Schedule.book` was given it (people and client by pk)."""

    client_id: int
    people: list[int]
    minutes: int
    rooms: list | None
    wanted: int  # minutes after midnight
    earliest: datetime.datetime | None
    latest: datetime.datetime | None
    any_day: bool
    under_way: bool


class Schedule:
    """Who and which room is busy when, per day of the practice's calendar."""

    def __init__(self, now: datetime.datetime | None = None):
        self.now = now or timezone.now()
        self.tz = timezone.get_current_timezone()
        self.today = timezone.localdate(self.now, self.tz)
        self._busy: dict[tuple, list[tuple[datetime.datetime, datetime.datetime]]] = {}
        self._minutes: dict[tuple[int, datetime.date], int] = {}  # (clinician, day) -> minutes
        self._read: set[datetime.date] = set()

    def at(self, day: datetime.date, minute: int) -> datetime.datetime:
        """`minute` minutes after midnight on `day`, the practice's time."""
        return datetime.datetime.combine(day, datetime.time(minute // 60, minute % 60), self.tz)

    def book(
        self,
        *,
        client,
        clinician,
        around: datetime.datetime,
        minutes: int,
        rooms: list | None = None,
        others: tuple = (),
        earliest: datetime.datetime | None = None,
        latest: datetime.datetime | None = None,
        days: int = 3,
        direction: int = 0,
        any_day: bool = False,
        under_way: bool = False,
    ) -> Booking | None:
        """The free slot nearest `around` and remember it; None when there is none.

        `rooms` are tried in order (None: a virtual visit, no room); `others` are clinicians
        joining. The slot starts between `earliest` and `latest` when given, on the day of
        `around` if it can, else on the nearest working day within `days` of it: later days
        only when `direction` is 1, earlier ones only when it is -1, later first at an equal
        distance otherwise. `any_day`: the day may be one the practice is closed (the session
        run as the demo loads, whatever the day). `under_way`: the slot may take in this
        moment (that session again); no other visit is under way as the demo loads."""
        local = timezone.localtime(around, self.tz)
        ask = _Ask(
            client_id=client.pk,
            people=[clinician.pk, *[u.pk for u in others if u.pk != clinician.pk]],
            minutes=minutes,
            rooms=rooms,
            wanted=local.hour * 60 + local.minute,
            earliest=earliest,
            latest=latest,
            any_day=any_day,
            under_way=under_way,
        )
        for distance in range(days + 1):
            steps = [0] if distance == 0 else [step for step in (1, -1) if direction in (0, step)]
            for step in steps:
                found = self._on(local.date() + datetime.timedelta(days=step * distance), ask)
                if found is not None:
                    self._hold(ask.client_id, ask.people, found.room, found.starts_at, found.ends_at)
                    return found
        return None

    def release(self, booking: Booking, *, client, clinician, others: tuple = ()) -> None:
        """Give back a slot `book` gave out for these people (a visit the story did not make)."""
        people = [clinician.pk, *[u.pk for u in others if u.pk != clinician.pk]]
        span = (booking.starts_at, booking.ends_at)
        for day in self._days(*span):
            keys = [("c", client.pk, day), *[("u", pk, day) for pk in people]]
            if booking.room is not None:
                keys.append(("r", booking.room.pk, day))
            for key in keys:
                self._busy[key].remove(span)
        start_day = timezone.localdate(booking.starts_at, self.tz)
        for pk in people:
            self._minutes[(pk, start_day)] -= _minutes(*span)

    def _on(self, day: datetime.date, ask: _Ask) -> Booking | None:
        """The free slot on `day` nearest the time asked for, or None."""
        if day.weekday() not in WORKING_DAYS and not ask.any_day:
            return None
        if ask.earliest is not None and self.at(day + datetime.timedelta(days=1), 0) <= ask.earliest:
            return None
        if ask.latest is not None and self.at(day, 0) > ask.latest:
            return None
        self._read_day(day)
        if self._busy.get(("c", ask.client_id, day)):
            return None  # one visit a day
        if any(self._minutes.get((pk, day), 0) + ask.minutes > DAY_LIMIT for pk in ask.people):
            return None
        close = SATURDAY_CLOSE if day.weekday() == 5 else CLOSE
        starts = range(OPEN, close - ask.minutes + 1, GRID)
        for start in sorted(starts, key=lambda start: (abs(start - ask.wanted), start)):
            begins = self.at(day, start)
            ends = begins + datetime.timedelta(minutes=ask.minutes)
            if ask.earliest is not None and begins < ask.earliest:
                continue
            if ask.latest is not None and begins > ask.latest:
                continue
            if not ask.under_way and begins < self.now < ends:
                continue
            if not all(self._free(("u", pk, day), begins, ends) for pk in ask.people):
                continue
            if ask.rooms is None:
                return Booking(begins, ends)
            for room in ask.rooms:
                if self._free(("r", room.pk, day), begins, ends):
                    return Booking(begins, ends, room)
        return None

    def _free(self, key, begins, ends) -> bool:
        return all(ends <= start or begins >= end for start, end in self._busy.get(key, ()))

    def _days(self, begins, ends):
        day = timezone.localdate(begins, self.tz)
        while self.at(day, 0) < ends:
            yield day
            day += datetime.timedelta(days=1)

    def _hold(self, client_id, people_ids, room, begins, ends) -> None:
        for day in self._days(begins, ends):
            self._read_day(day)
            keys = [("c", client_id, day), *[("u", pk, day) for pk in people_ids]]
            if room is not None:
                keys.append(("r", room.pk, day))
            for key in keys:
                self._busy.setdefault(key, []).append((begins, ends))
        start_day = timezone.localdate(begins, self.tz)
        for pk in people_ids:
            self._minutes[(pk, start_day)] = self._minutes.get((pk, start_day), 0) + _minutes(begins, ends)

    def _read_day(self, day: datetime.date) -> None:
        """The visits already on the calendar that day, once (those that hold their time)."""
        if day in self._read:
            return
        self._read.add(day)
        begins, ends = self.at(day, 0), self.at(day + datetime.timedelta(days=1), 0)
        rows = list(
            in_range(Visit.objects.live(), begins, ends).values_list(
                "pk", "client_id", "clinician_id", "room_id", "starts_at", "ends_at"
            )
        )
        joining: dict[int, list[int]] = {}
        if rows:
            through = Visit.other_clinicians.through.objects.filter(visit_id__in=[row[0] for row in rows])
            for visit_id, user_id in through.values_list("visit_id", "user_id"):
                joining.setdefault(visit_id, []).append(user_id)
        for pk, client_id, clinician_id, room_id, starts_at, ends_at in rows:
            people = [clinician_id, *[u for u in joining.get(pk, ()) if u != clinician_id]]
            for key in [("c", client_id, day), *[("u", u, day) for u in people]]:
                self._busy.setdefault(key, []).append((starts_at, ends_at))
            if room_id is not None:
                self._busy.setdefault(("r", room_id, day), []).append((starts_at, ends_at))
            if timezone.localdate(starts_at, self.tz) == day:
                for u in people:
                    self._minutes[(u, day)] = self._minutes.get((u, day), 0) + _minutes(starts_at, ends_at)


def _minutes(begins: datetime.datetime, ends: datetime.datetime) -> int:
    return int((ends - begins).total_seconds() // 60)
