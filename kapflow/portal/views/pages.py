"""The portal's pages for a client, or a guardian of a minor. Each opens with `portal_view` and
reaches the client through `portal_client_for`, which answers 404 out of scope and writes the
audit row for the read."""

import icalendar
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kapflow.audit.services import audit_record
from kapflow.course.reviews import labels_for
from kapflow.notes.intention_forms import IntentionForm
from kapflow.notes.intentions import latest_intention
from kapflow.portal import selectors
from kapflow.portal.access import PortalNeed, is_guardian_view, portal_client_for, portal_clients, portal_view
from kapflow.portal.todo import todos_for
from kapflow.portal.views.intentions import PORTAL_HELP, may_enter, portal_label
from kapflow.practice.models import practice_for


def _context(request, client, **extra) -> dict:
    """What every portal page needs around its own content: the record, whether a guardian is
    looking, and whether the consents page is theirs to open (a guardian without legal
    authority sees the schedule but signs nothing)."""
    guardian_view = is_guardian_view(request.user, client)
    may_sign = not guardian_view or (
        portal_clients(request.user, need=PortalNeed.CONSENTS).filter(pk=client.pk).exists()
    )
    return {"client": client, "guardian_view": guardian_view, "may_sign_consents": may_sign, **extra}


@require_GET
@portal_view
def home(request):
    """The portal's front door: a person with one record goes straight to it; a guardian of
    several minors (or a client who is also a guardian) chooses."""
    records = list(portal_clients(request.user).order_by("last_name", "first_name", "pk"))
    if len(records) == 1:
        return redirect("portal:client_home", records[0].pk)
    audit_record(request=request, action="kapflow.portal.records.listed", detail={"count": len(records)})
    return render(request, "portal/records.html", {"records": records})


@require_GET
@portal_view
def client_home(request, client_id):
    """Coming appointments, what is asked of the person, and the day-of instructions when a
    medication session is today or tomorrow."""
    client = portal_client_for(request, client_id, action="kapflow.portal.home.viewed")
    visits = selectors.upcoming_visits(client)
    labels_for(client, visits)  # "Session 4 of 8 (fortnightly)" beside each medication session
    day_of = selectors.day_of_session(visits)
    return render(
        request,
        "portal/home.html",
        _context(
            request,
            client,
            **_intention_card(request, client, visits),
            visits=visits,
            todos=todos_for(client, request.user, practice=practice_for(request)),
            day_of=day_of,
            day_of_today=day_of is not None and timezone.localdate(day_of.starts_at) == timezone.localdate(),
            nav="home",
        ),
    )


def _intention_card(request, client, visits) -> dict:
    """The client's intention for their next medication session, while they may still enter
    it (docs/intentions.md): for the client alone, never a guardian (clinical content)."""
    session = selectors.next_medication_session(visits)
    if session is None or is_guardian_view(request.user, client) or not may_enter(session):
        return {}
    return {
        "intention_visit": session,
        "intention": latest_intention(session),
        "intention_form": IntentionForm(label=portal_label(session), help_text=PORTAL_HELP),
    }


@require_GET
@portal_view
def todo(request, client_id):
    client = portal_client_for(request, client_id, action="kapflow.portal.todo.viewed")
    return render(
        request,
        "portal/todo.html",
        _context(
            request, client, todos=todos_for(client, request.user, practice=practice_for(request)), nav="todo"
        ),
    )


@require_GET
@portal_view
def visit_ics(request, client_id, visit_id):
    """One appointment as a calendar file (a single VEVENT). It names the practice, the kind of
    appointment, the time and the place: what a calendar shows anyone glancing at a phone."""
    client = portal_client_for(request, client_id, action="kapflow.portal.visit.calendar_downloaded")
    visit = selectors.portal_visit(client, visit_id)
    if visit is None:
        raise Http404("No such appointment.")
    practice = practice_for(request)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//kapflow//portal//EN")
    calendar.add("version", "2.0")
    event = icalendar.Event()
    host = request.get_host().split(":")[0] or "kapflow"
    event.add("uid", f"portal-visit-{visit.pk}@{host}")
    event.add("dtstamp", timezone.now())
    event.add("dtstart", visit.starts_at)
    event.add("dtend", visit.ends_at)
    # The title is what a lock screen or a shared calendar shows: no kind of visit, and the name
    # the practice chose for what leaves it. The kind is in the description, for the client.
    event.add("summary", f"Appointment — {practice.discreet_name}")
    if visit.is_virtual:
        event.add("location", visit.video_link or "Video")
        if visit.video_link:
            event.add("url", visit.video_link)
    else:
        event.add("location", ", ".join(part for part in (visit.room.name, practice.address) if part))
    event.add(
        "description",
        f"{visit.get_kind_display()} with {visit.clinician.display_name}. "
        f"{practice.discreet_name}, {practice.phone}".strip(", "),
    )
    calendar.add_component(event)
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="appointment-{visit.pk}.ics"'
    response["Cache-Control"] = "private, no-store"
    return response


# Preparation ------------------------------------------------------------------------------------

GUIDES = {
    "the-session": ("What happens in a medication session", "portal/guide_session.html"),
    "misconceptions": ("Common misconceptions", "portal/guide_misconceptions.html"),
}


@require_GET
@portal_view
def preparation(request, client_id):
    client = portal_client_for(request, client_id, action="kapflow.portal.preparation.viewed")
    visits = selectors.upcoming_visits(client)
    return render(
        request,
        "portal/preparation.html",
        _context(
            request, client, guides=GUIDES, next_session=selectors.next_medication_session(visits), nav="prep"
        ),
    )


@require_GET
@portal_view
def guide(request, client_id, topic):
    if topic not in GUIDES:
        raise Http404("No such page.")
    client = portal_client_for(request, client_id, action="kapflow.portal.preparation.viewed")
    title, template = GUIDES[topic]
    return render(request, template, _context(request, client, title=title, nav="prep"))


@require_GET
@portal_view
def day_of(request, client_id):
    """The day-of instructions, from the practice's settings, for the next medication session
    (both the in-person and the virtual parts when none is booked yet)."""
    client = portal_client_for(request, client_id, action="kapflow.portal.day_of.viewed")
    practice = practice_for(request)
    session = selectors.next_medication_session(selectors.upcoming_visits(client))
    substances = [part.strip() for part in practice.avoid_substances.split(",") if part.strip()]
    return render(
        request,
        "portal/day_of.html",
        _context(
            request,
            client,
            session=session,
            substances=substances,
            show_in_person=session is None or not session.is_virtual,
            show_virtual=session is None or session.is_virtual,
            nav="prep",
        ),
    )


# Progress ---------------------------------------------------------------------------------------


@require_GET
@portal_view
def progress(request, client_id):
    """The client's own scores and chart, when their therapist has turned this on. The client's
    alone: a guardian gets 404, as for any page outside their reach."""
    client = portal_client_for(
        request, client_id, action="kapflow.portal.progress.viewed", need=PortalNeed.OWN
    )
    if not client.portal_shows_progress:
        raise Http404("Progress is not shown on the portal.")
    from kapflow.measures.progress import progress_context

    return render(
        request,
        "portal/progress.html",
        _context(request, client, nav="progress", progress=progress_context(client)),
    )
