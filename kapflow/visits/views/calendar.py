"""Day and week calendars, for one clinician or the whole practice; the private iCalendar feed;
the rooms. Each calendar page runs the same queries however many visits it shows."""

import datetime

import icalendar
from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role, User
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, clients_for
from kapflow.lib.params import date_param
from kapflow.visits import services
from kapflow.visits.forms import RoomForm
from kapflow.visits.models import CalendarFeed, Room, Visit

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)
PRACTICE = "practice"


def _day(request) -> datetime.date:
    """The day asked for in `?on=`, or today. Bounded (kapflow.lib.params) so that the previous
    and next week around it are always dates: year 9999 has no next week."""
    return date_param(request, "on", timezone.localdate())


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def _calendar(request, *, first: datetime.date, days: int, view: str):
    clinicians = list(User.objects.clinicians().order_by("full_name"))
    who = request.GET.get("who") or (str(request.user.pk) if request.user.is_clinician else PRACTICE)
    person = next((c for c in clinicians if str(c.pk) == who), None)
    if person is None:
        who = PRACTICE
    visits = Visit.objects.overlapping(_midnight(first), _midnight(first + datetime.timedelta(days=days)))
    if person is not None:
        visits = visits.filter(Q(clinician=person) | Q(other_clinicians=person))
    visits = list(visits.distinct().for_calendar().order_by("starts_at", "pk"))
    client_ids = {visit.client_id for visit in visits}
    visible = set(clients_for(request).filter(pk__in=client_ids).values_list("pk", flat=True))
    clinical = set(
        clients_for(request, need=Need.CLINICAL).filter(pk__in=client_ids).values_list("pk", flat=True)
    )
    for visit in visits:
        visit.visible = visit.client_id in visible
        visit.clinical = visit.client_id in clinical
    audit_record(
        request=request,
        action="kapflow.visits.calendar.viewed",
        detail={"view": view, "who": who, "from": first.isoformat(), "clients": sorted(visible)},
    )
    columns = []
    for offset in range(days):
        day = first + datetime.timedelta(days=offset)
        columns.append((day, [v for v in visits if timezone.localtime(v.starts_at).date() == day]))
    step = datetime.timedelta(days=days)
    return {
        "columns": columns,
        "clinicians": clinicians,
        "who": who,
        "person": person,
        "first": first,
        "last": first + datetime.timedelta(days=days - 1),
        "previous": first - step,
        "next": first + step,
        "today": timezone.localdate(),
        "view": view,
        "count": sum(1 for v in visits if v.status != Visit.Status.CANCELLED),
    }


@staff_view()
def week(request):
    day = _day(request)
    monday = day - datetime.timedelta(days=day.weekday())
    return render(request, "visits/calendar.html", _calendar(request, first=monday, days=7, view="week"))


@staff_view()
def day(request):
    return render(
        request,
        "visits/calendar.html",
        _calendar(request, first=_day(request), days=1, view="day"),
    )


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
    if feed is None or not feed.user.is_active:
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
        # Whether intranasal esketamine may be given here (kapflow.medical.routes).
        room.rems_certified = not room.rems_certified
        services.room_save(request=request, room=room)
        said = "marked certified under" if room.rems_certified else "no longer marked certified under"
        messages.success(request, f"{room.name} is {said} the Spravato REMS.")
        return redirect("calendar:rooms")
    room.active = not room.active
    services.room_save(request=request, room=room)
    messages.success(request, f"{room.name} is {'offered for booking again' if room.active else 'retired'}.")
    return redirect("calendar:rooms")
