"""The calendars: a day or a week as a time grid and a month as weeks of days, for one clinician,
one room or the whole practice (whose day has a column per clinician or per room); the readiness
badges of the medication sessions shown, in one request; the private iCalendar feed; the rooms.
Each calendar page runs the same queries however many visits it shows, and writes one audit row
naming the clients it shows."""

import bisect
import datetime
from dataclasses import dataclass

import icalendar
from django.contrib import messages
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role, User
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, clients_for, scopes_are_one
from kapflow.lib.params import MAX_ID, date_param, parse_int
from kapflow.pathway.readiness import is_ready, readiness_for_visits
from kapflow.practice.models import practice_for
from kapflow.visits import calendar, services
from kapflow.visits.forms import RoomForm
from kapflow.visits.models import CalendarFeed, Room, Visit

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)
PRACTICE = "practice"
ROOM = "room-"
# The practice's day: a column per clinician (the default) or per room.
BY_CLINICIAN, BY_ROOM = "clinician", "room"
# Badges asked for in one request, at most: a clinician's week has a few dozen sessions at most.
# Their readiness is read in the same number of queries however many (readiness_for_visits).
MAX_BADGES = 100


def _day(request) -> datetime.date:
    """The day asked for in `?on=`, or today. Bounded (kapflow.lib.params) so that the previous
    and next week or month around it are always dates: year 9999 has no next week."""
    return date_param(request, "on", timezone.localdate())


@dataclass
class Who:
    """Whose calendar: the practice's, one clinician's or one room's. `key` is its `?who=`."""

    key: str
    person: User | None = None
    room: Room | None = None

    @property
    def practice(self) -> bool:
        return self.person is None and self.room is None

    def filter(self, visits):
        if self.person is not None:
            joined = Visit.other_clinicians.through.objects.filter(user=self.person).values("visit_id")
            return visits.filter(Q(clinician=self.person) | Q(pk__in=joined))
        if self.room is not None:
            return visits.filter(room=self.room)
        return visits


def _who(request, clinicians: list[User], rooms: list[Room]) -> Who:
    """`?who=`: "practice", a clinician's number or "room-" and a room's; by default the
    clinician's own calendar, and the practice's for anyone else. Anything unknown is the
    practice's."""
    default = str(request.user.pk) if request.user.is_clinician else PRACTICE
    key = request.GET.get("who") or default
    if key.startswith(ROOM):
        room = next((r for r in rooms if str(r.pk) == key[len(ROOM) :]), None)
        if room is not None:
            return Who(key, room=room)
    person = next((c for c in clinicians if str(c.pk) == key), None)
    if person is not None:
        return Who(key, person=person)
    return Who(PRACTICE)


def _nameable(request, client_ids) -> set[int]:
    """Which of these clients (numbers, or a query of them) may be named to the requester."""
    return set(clients_for(request).filter(pk__in=client_ids).order_by().values_list("pk", flat=True))


def _mark(request, visits, *, nameable: set[int] | None = None) -> list[int]:
    """Mark each visit (read by calendar.fill, or a month's calendar.Listed) with whether its
    client may be named to the requester (`visible`) and whether its clinical state may be shown
    (`clinical`); returns the clients named. `nameable`, when the page has already asked
    (_nameable), saves asking again."""
    client_ids = {visit.client_id for visit in visits}
    visible = (nameable if nameable is not None else _nameable(request, client_ids)) & client_ids
    if scopes_are_one(request.user):
        clinical = visible  # the same scope: its query would repeat the one just asked
    else:
        clinical = set(
            clients_for(request, need=Need.CLINICAL)
            .filter(pk__in=client_ids)
            .order_by()
            .values_list("pk", flat=True)
        )
    for visit in visits:
        visit.visible = visit.client_id in visible
        visit.clinical = visit.client_id in clinical
        visit.short_name = calendar.short_name(visit.names) if visit.visible else ""
    return sorted(visible)


def _audit(request, *, view: str, who: Who, first: datetime.date, clients: list[int]) -> None:
    audit_record(
        request=request,
        action="kapflow.visits.calendar.viewed",
        detail={"view": view, "who": who.key, "from": first.isoformat(), "clients": clients},
    )


def _link(name: str, **query) -> str:
    return f"{reverse(name)}?{urlencode(query)}"


def _frame(request, *, view: str, first: datetime.date, last: datetime.date, previous, following):
    """What every calendar page shows around its body: whose it is, the way to another
    clinician or room, to the day, week and month around it, to the one before and after."""
    # Their numbers and names are all the pages use of them.
    clinicians = list(User.objects.clinicians().order_by("full_name").only("pk", "full_name"))
    rooms = list(Room.objects.filter(active=True).order_by("name"))
    who = _who(request, clinicians, rooms)
    by = BY_ROOM if request.GET.get("by") == BY_ROOM else BY_CLINICIAN
    today = timezone.localdate()
    on = first.isoformat()
    extra = {"by": by} if who.practice and view == "day" and by == BY_ROOM else {}
    return who, {
        "title": _title(request, who, view, first, last),
        "view": view,
        "who": who,
        "by": by,
        "clinicians": clinicians,
        "rooms": rooms,
        "first": first,
        "last": last,
        "previous": previous,
        "next": following,
        "today": today,
        "links": {
            "previous": _link(f"calendar:{view}", who=who.key, on=previous.isoformat(), **extra),
            "next": _link(f"calendar:{view}", who=who.key, on=following.isoformat(), **extra),
            "today": _link(f"calendar:{view}", who=who.key, on=today.isoformat(), **extra),
            "day": _link("calendar:day", who=who.key, on=on),
            "week": _link("calendar:week", who=who.key, on=on),
            "month": _link("calendar:month", who=who.key, on=on),
            "by_clinician": _link("calendar:day", who=PRACTICE, on=on),
            "by_room": _link("calendar:day", who=PRACTICE, on=on, by=BY_ROOM),
        },
    }


def _title(request, who: Who, view: str, first: datetime.date, last: datetime.date) -> str:
    """ "Your week: Dec 1 – 7, 2026", "Room 1, day: Friday, Dec 4, 2026", "The practice's month:
    December 2026"."""
    if who.person is not None:
        whose = "Your" if who.person == request.user else f"{who.person.full_name}'s"
        name = f"{whose} {view}"
    elif who.room is not None:
        name = f"{who.room.name}, {view}"
    else:
        name = f"The practice's {view}"
    if view == "day":
        when = f"{first:%A, %b} {first.day}, {first.year}"
    elif view == "month":
        when = f"{first:%B} {first.year}"
    elif first.month == last.month:
        when = f"{first:%b} {first.day} – {last.day}, {last.year}"
    else:
        when = f"{first:%b} {first.day} – {last:%b} {last.day}, {last.year}"
    return f"{name}: {when}"


def _visits(who: Who, start: datetime.datetime, end: datetime.datetime):
    """The entries of the visits in the range (calendar.read), and the query that found them."""
    visits = who.filter(calendar.in_range(Visit.objects.live(), start, end))
    return calendar.read(visits), visits


def _badge_ids(blocks, *, only_for=None) -> str:
    """The medication sessions whose readiness badge the page asks for, in one request (at most
    MAX_BADGES); each marks the first block of its visit as the badge's place. `only_for`: on
    the practice's pages, only the sessions of that clinician (their own or joined), so that an
    open caseload does not ask for every session of the practice."""
    ids = {}
    for block in blocks:
        visit = block.visit
        if (
            len(ids) < MAX_BADGES
            and visit.clinical
            and visit.is_medication
            and visit.status in (Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN)
            and (only_for is None or only_for.pk in visit.people)
            and visit.pk not in ids
        ):
            ids[visit.pk] = block.badge = True
    return ",".join(str(pk) for pk in ids)


def _column_who(who: Who, view: str, key: str) -> str:
    """Whose day a column's "+N" opens: the column's clinician or room on the practice's day."""
    if view == "day" and who.practice and key != "video":
        return key
    return who.key


def _grid_page(request, context, who: Who, columns, visits, found, *, view: str):
    """The page of a time grid of `visits`, the entries read by the query `found` (_visits)."""
    client_ids = {v.client_id for v in visits}
    if len(client_ids) > calendar.LISTED:  # a practice's week: by the query, not hundreds of numbers
        client_ids = found.order_by().values("client_id")
    nameable = _nameable(request, client_ids)
    clashes = calendar.conflicts(visits, nameable=nameable)
    day_url = reverse("calendar:day")  # once, not for each of the practice's day's columns
    grid = calendar.grid(
        columns,
        clashes=clashes,
        link=lambda key, day: (
            f"{day_url}?{urlencode({'who': _column_who(who, view, key), 'on': day.isoformat()})}"
        ),
    )
    clients = _mark(request, calendar.fill(grid), nameable=nameable)
    _audit(request, view=view, who=who, first=context["first"], clients=clients)
    by_room = who.practice and view == "day" and context["by"] == BY_ROOM
    by_clinician = who.practice and view == "day" and not by_room
    context.update(
        grid=grid,
        show_clinician=who.practice and not by_clinician,
        show_place=not by_room,
        count=len(visits),
        conflicts=len(clashes),
        badge_ids=_badge_ids(
            (block for column in grid.columns for block in column.blocks),
            only_for=request.user if who.practice else None,
        ),
        columns_are_days=view == "week",
    )
    return render(request, "visits/calendar.html", context)


@staff_view()
def week(request):
    day = _day(request)
    monday = day - datetime.timedelta(days=day.weekday())
    sunday = monday + datetime.timedelta(days=6)
    step = datetime.timedelta(days=7)
    who, context = _frame(
        request, view="week", first=monday, last=sunday, previous=monday - step, following=monday + step
    )
    days = [monday + datetime.timedelta(days=n) for n in range(7)]
    visits, found = _visits(who, calendar.midnight(monday), calendar.midnight(monday + step))
    per_day = calendar.by_day(visits, days)
    columns = [(d.isoformat(), f"{d:%a} {d.day}", d, per_day[d]) for d in days]
    return _grid_page(request, context, who, columns, visits, found, view="week")


@staff_view()
def day(request):
    """One clinician's or one room's day; the practice's day has a column per clinician (or,
    with `?by=room`, per room and one for video)."""
    on = _day(request)
    step = datetime.timedelta(days=1)
    who, context = _frame(request, view="day", first=on, last=on, previous=on - step, following=on + step)
    visits, found = _visits(who, calendar.midnight(on), calendar.midnight(on + step))
    if not who.practice:
        columns = [(on.isoformat(), f"{on:%A} {on.day}", on, visits)]
    elif context["by"] == BY_ROOM:
        rooms = {room.pk: room for room in context["rooms"]}
        retired = {v.room_id for v in visits if v.room_id} - set(rooms)
        if retired:  # a retired room that still has visits this day
            rooms.update({room.pk: room for room in Room.objects.filter(pk__in=retired)})
        ordered = sorted(rooms.values(), key=lambda r: r.name)
        columns = [(f"{ROOM}{r.pk}", r.name, on, [v for v in visits if v.room_id == r.pk]) for r in ordered]
        columns.append(("video", "Video", on, [v for v in visits if v.room_id is None]))
    else:
        people = {c.pk: c for c in context["clinicians"]}
        gone = {pk for v in visits for pk in v.people} - set(people)
        if gone:  # someone no longer a clinician who still has visits this day
            people.update({user.pk: user for user in User.objects.filter(pk__in=gone)})
        ordered = sorted(people.values(), key=lambda c: c.full_name)
        theirs: dict[int, list[calendar.Entry]] = {pk: [] for pk in people}
        for visit in visits:  # in order; a visit with a joining clinician is in both columns
            for pk in calendar.people_of(visit):
                theirs[pk].append(visit)
        columns = [(str(c.pk), c.full_name, on, theirs[c.pk]) for c in ordered]
    return _grid_page(request, context, who, columns, visits, found, view="day")


@staff_view()
def month(request):
    """Weeks × days: each day's count of visits and its first few, by the day they start."""
    first = _day(request).replace(day=1)
    last = (first.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1)
    previous = (first - datetime.timedelta(days=1)).replace(day=1)
    who, context = _frame(
        request,
        view="month",
        first=first,
        last=last,
        previous=previous,
        following=last + datetime.timedelta(days=1),
    )
    mondays = calendar.month_weeks(first)
    days = [mondays[0] + datetime.timedelta(days=n) for n in range(7 * len(mondays))]
    midnights = [calendar.midnight(mondays[0] + datetime.timedelta(days=n)) for n in range(len(days) + 1)]
    # Bounded on the start on both sides: a visit is on the day it starts.
    visits = who.filter(Visit.objects.live().filter(starts_at__gte=midnights[0], starts_at__lt=midnights[-1]))
    # The day a visit starts on, found by comparing its start with the days' midnights in SQL:
    # TruncDate would call back into Python for each of the thousands of rows on SQLite.
    day_of = calendar.DayOf(midnights)
    counts = {
        days[row["on"]]: row["n"]
        for row in visits.annotate(on=day_of).values("on").annotate(n=Count("pk")).order_by()
    }
    # Each day's first few, numbered over only what the numbering needs; their times, kinds and
    # clients' names are then read for those few alone.
    first_few = (
        visits.annotate(
            nth_of_day=Window(
                RowNumber(), partition_by=[day_of], order_by=[F("starts_at").asc(), F("pk").asc()]
            )
        )
        .filter(nth_of_day__lte=calendar.MONTH_LISTED)
        .values("pk")
    )
    rows = (
        # Bounded on the start as well, though the few are all within it: PostgreSQL, which
        # cannot know how few they are, otherwise reads every visit of the practice to match them.
        Visit.objects.filter(pk__in=first_few, starts_at__gte=midnights[0], starts_at__lt=midnights[-1])
        .order_by("starts_at", "pk")
        .values_list(
            "pk",
            "starts_at",
            "kind",
            "client_id",
            "client__first_name",
            "client__preferred_name",
            "client__last_name",
        )
    )
    per_day: dict[datetime.date, list[calendar.Listed]] = {}
    listed = []
    for pk, starts_at, kind, client_id, *names in rows:
        visit = calendar.Listed(pk, starts_at, kind, client_id, calendar.Names(*names))
        listed.append(visit)
        per_day.setdefault(days[bisect.bisect_right(midnights, starts_at) - 1], []).append(visit)
    clients = _mark(request, listed)
    _audit(request, view="month", who=who, first=first, clients=clients)
    # The heading counts the month's own days, not the neighbours' days the grid fills out with.
    in_month = sum(n for on, n in counts.items() if first <= on <= last)
    context.update(weeks=calendar.month(first, counts, per_day), count=in_month)
    return render(request, "visits/calendar_month.html", context)


def _ids(raw: str) -> list[int] | None:
    """`?ids=` as visit numbers: "12,15,40". None if any part is not one."""
    parts = [part for part in raw.split(",") if part.strip()]
    ids = [parse_int(part, minimum=1, maximum=MAX_ID) for part in parts]
    if len(ids) > MAX_BADGES or any(i is None for i in ids):
        return None
    return list(dict.fromkeys(ids))


@require_GET
@staff_view()
def badges(request):
    """The readiness badges of the medication sessions a calendar (or the dashboard's day, with
    `via=dashboard`) shows, in one request: each as an out-of-band fragment that takes the place
    of its placeholder on the page. Only sessions of clients in the requester's clinical care
    are answered (any other number is left out, as if it did not exist), and the read is
    audited once, naming the clients."""
    ids = _ids(request.GET.get("ids", ""))
    if ids is None:
        return HttpResponse(
            f"ids: give up to {MAX_BADGES} visit numbers separated by commas.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    visits = []
    if ids:
        visits = list(
            Visit.objects.filter(
                pk__in=ids,
                kind=Visit.Kind.MEDICATION,
                status__in=(Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN),
                client__in=clients_for(request, need=Need.CLINICAL),
            )
            .select_related("client")
            .order_by("starts_at", "pk")
        )
    # Every session's gates, as its own page (visits:detail) reads them, in a fixed number of
    # queries however many sessions and clients (kapflow.pathway.readiness.read_many).
    gates = readiness_for_visits(visits, practice=practice_for(request))
    for visit in visits:
        visit.ready = is_ready(gates[visit.pk])
    if visits:
        audit_record(
            request=request,
            action="kapflow.visits.readiness.viewed",
            detail={
                "via": "dashboard" if request.GET.get("via") == "dashboard" else "calendar",
                "clients": sorted({visit.client_id for visit in visits}),
                "visits": [visit.pk for visit in visits],
            },
        )
    return render(request, "visits/_badges.html", {"visits": visits})


@clinician_view
def feed_settings(request):
    feed = CalendarFeed.objects.filter(user=request.user, revoked_at__isnull=True).first()
    url = request.build_absolute_uri(reverse("calendar:feed", args=[feed.token])) if feed else ""
    return render(request, "visits/feed_settings.html", {"feed": feed, "url": url})


@require_POST
@clinician_view
def feed_create(request):
    services.feed_create(request=request)
    messages.success(
        request, "Your calendar feed has a new private address; any earlier one no longer works."
    )
    return redirect("calendar:feed_settings")


@require_POST
@clinician_view
def feed_revoke(request):
    if services.feed_revoke(request=request):
        messages.success(request, "Your calendar feed is turned off: its address no longer works.")
    return redirect("calendar:feed_settings")


# How far the feed reaches: recent history for context, and the months ahead.
FEED_PAST, FEED_AHEAD = datetime.timedelta(days=30), datetime.timedelta(days=365)


def feed(request, token):
    """A clinician's visits as iCalendar, for their phone's calendar. No sign-in: the secret
    address is the key, so each event says only the kind of visit, the client's initials, the
    times and the room (or "Video"): no names, notes or links."""
    feed = CalendarFeed.objects.filter(token=token, revoked_at__isnull=True).select_related("user").first()
    # A deactivated account's feed ends, and so does that of a prescriber made an outside one
    # (docs/access.md: they see nothing of the practice's schedule).
    if feed is None or not feed.user.is_active or feed.user.outside_practice:
        raise Http404("No such calendar.")
    now = timezone.now()
    user = feed.user
    visits = (
        Visit.objects.live()
        .filter(Q(clinician=user) | Q(other_clinicians=user))
        .filter(starts_at__gte=now - FEED_PAST, starts_at__lte=now + FEED_AHEAD)
        .distinct()
        .select_related("client", "room")
        .order_by("starts_at", "pk")
    )
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//kapflow//visits//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "kapflow visits")
    host = request.get_host().split(":")[0] or "kapflow"
    for visit in visits:
        event = icalendar.Event()
        event.add("uid", f"visit-{visit.pk}@{host}")
        event.add("dtstamp", now)
        event.add("dtstart", visit.starts_at)
        event.add("dtend", visit.ends_at)
        event.add("summary", f"{visit.get_kind_display()} — {visit.client.initials}")
        event.add("location", visit.place)
        calendar.add_component(event)
    # No one is signed in: the feed's owner is the actor (their address is the row's actor
    # label), with the address the fetch came from and that it was the feed (not a page).
    audit_record(
        actor=user,
        request=request,
        action="kapflow.visits.feed.fetched",
        obj=feed,
        detail={"via": "calendar feed", "visits": len(calendar.subcomponents)},
    )
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


@staff_view(Role.PRACTICE_ADMIN)
def rooms(request):
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        room = services.room_save(request=request, room=form.save(commit=False))
        messages.success(request, f"{room.name} added.")
        return redirect("calendar:rooms")
    return render(request, "visits/rooms.html", {"rooms": Room.objects.all(), "form": form})


@require_POST
@staff_view(Role.PRACTICE_ADMIN)
def room_toggle(request, room_id):
    room = get_object_or_404(Room, pk=room_id)
    if request.POST.get("what") == "rems_certified":
        # Whether intranasal esketamine may be given here (kapflow.medical.routes). A room is
        # marked certified with the setting's REMS ID, or not at all (docs/spravato-rems.md).
        setting_id = (request.POST.get("rems_setting_id") or "").strip()[:40]
        if room.rems_certified and not (setting_id and not room.rems_setting_id):
            room.rems_certified = False
            said = "is no longer marked certified under"
        elif setting_id or room.rems_setting_id:
            room.rems_certified = True
            room.rems_setting_id = setting_id or room.rems_setting_id
            said = "is marked certified under"
        else:
            messages.error(
                request,
                f"Give {room.name}'s setting ID in the Spravato REMS (from its certification) "
                "to mark it certified.",
            )
            return redirect("calendar:rooms")
        services.room_save(request=request, room=room)
        messages.success(request, f"{room.name} {said} the Spravato REMS.")
        return redirect("calendar:rooms")
    room.active = not room.active
    services.room_save(request=request, room=room)
    messages.success(request, f"{room.name} is {'offered for booking again' if room.active else 'retired'}.")
    return redirect("calendar:rooms")
