"""A client's visits: the list, booking one or a series, a visit's page and its status."""

import datetime

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import Need, can_see_clinical, client_banner_for, client_chart_for, client_for
from kapflow.lib.capped import capped
from kapflow.pathway.models import CoursePlan
from kapflow.pathway.readiness import Gate, is_ready, readiness
from kapflow.practice.models import practice_for
from kapflow.visits import services
from kapflow.visits.forms import (
    FIRST_ROOM,
    CancelForm,
    RescheduleForm,
    SeriesRows,
    SeriesStartForm,
    VisitForm,
    WhereForm,
)
from kapflow.visits.models import NOTED_KINDS, TRANSITIONS, Visit
from kapflow.visits.series import propose

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)


def _readiness(request, client, *, virtual: bool, visit: Visit | None = None, **course) -> dict:
    """The readiness panel for the client's clinicians; for anyone else (a coordinator booking)
    only whether the client is ready, never why not. For a virtual visit already booked, the
    safety plan recorded on its runbook is one of the gates to start. `course`: readiness()'s
    `plan` and `position`, when the page has read them."""
    # The consent gate reads the guardians (who may sign for a minor): read once, here, for a
    # client reached with the banner alone (client_banner_for reads an adult's not at all).
    prefetch_related_objects([client], "guardians")
    gates = readiness(client, virtual=virtual, practice=practice_for(request), visit=visit, **course)
    if visit is not None and visit.is_virtual:
        from kapflow.dosing.selectors import safety_plan_gate

        gates.append(Gate(safety_plan_gate(visit)))
    blocking = [g for g in gates if not g.passed and g.result.status.value == "fail"]
    return {
        "gates": gates if can_see_clinical(request, client) else None,
        "ready": is_ready(gates),
        "can_start": not blocking,
    }


def _primary_clinician(client):
    members = sorted(client.care_team.all(), key=lambda m: (m.role != "primary_therapist", m.pk))
    return members[0].user if members else None


def _where_initial(request, client, plan=None) -> dict:
    clinician = request.user if request.user.is_clinician else _primary_clinician(client)
    virtual = plan is not None and plan.modality == CoursePlan.Modality.VIRTUAL
    return {
        "clinician": clinician,
        "modality": Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
        "room": None if virtual else FIRST_ROOM,
    }


# The visits page lists this many visits coming up, soonest first, and this many past ones,
# newest first, each with "Show all" (a weekly client has a hundred visits in two years).
VISITS_SHOWN = 25


@staff_view()
def visit_list(request, client_id):
    client = client_banner_for(request, client_id, action="kapflow.visits.list.viewed")
    # Only the columns a row shows (visits/_visit_row.html): a busy client has dozens of visits,
    # and building whole visit, clinician and room rows cost more than reading them.
    visits = client.visits.select_related("clinician", "room").only(
        "client_id", "kind", "status", "starts_at", "ends_at", "clinician__full_name", "room__name"
    )
    now = timezone.now()
    upcoming = capped(
        request,
        visits.filter(ends_at__gte=now).order_by("starts_at", "pk"),
        param="coming",
        limit=VISITS_SHOWN,
        anchor="upcoming-h",
    )
    past = capped(
        request,
        visits.filter(ends_at__lt=now).order_by("-starts_at", "-pk"),
        param="past",
        limit=VISITS_SHOWN,
        anchor="past-h",
    )
    # A visit of another year says which: a client of two years has two of each date.
    this_year = str(timezone.localdate().year)
    return render(
        request,
        "visits/list.html",
        {"client": client, "upcoming": upcoming, "past": past, "this_year": this_year},
    )


@staff_view()
def visit_new(request, client_id):
    client = client_chart_for(request, client_id, action="kapflow.visits.booking.opened")
    kind = request.POST.get("kind") or request.GET.get("kind") or Visit.Kind.MEDICATION
    if kind not in Visit.Kind.values:
        kind = Visit.Kind.MEDICATION
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    initial = {
        **_where_initial(request, client),
        "kind": kind,
        "starts_at": timezone.make_aware(datetime.datetime.combine(tomorrow, datetime.time(10))),
    }
    form = VisitForm(request.POST or None, initial=initial)
    problems = []
    if request.method == "POST" and form.is_valid():
        try:
            visit = services.visit_book(request=request, client=client, slot=form.slot())
        except services.VisitRefused as refused:
            problems = refused.problems
        else:
            messages.success(request, f"{visit.get_kind_display()} booked.")
            return redirect("visits:detail", client.pk, visit.pk)
    context = {"client": client, "form": form, "problems": problems, "kind": kind}
    if kind == Visit.Kind.MEDICATION:
        virtual = (form["modality"].value() or "") == Visit.Modality.VIRTUAL
        context.update(_readiness(request, client, virtual=virtual), medication=True)
    return render(request, "visits/form.html", context)


def _visit(client, visit_id) -> Visit:
    return get_object_or_404(
        client.visits.select_related("clinician", "room", "created_by").prefetch_related("other_clinicians"),
        pk=visit_id,
    )


@staff_view()
def visit_detail(request, client_id, visit_id):
    client = client_banner_for(request, client_id, action="kapflow.visits.visit.viewed")
    visit = _visit(client, visit_id)
    allowed = TRANSITIONS[visit.status]
    context = {
        "client": client,
        "visit": visit,
        "allowed": {status.value for status in allowed},
        "cancel_form": CancelForm(),
        "clinician": request.user.is_clinician,
    }
    waiting = visit.is_medication and visit.status in (Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN)
    clinical = visit.is_medication and can_see_clinical(request, client)
    course = {}
    if waiting or clinical:
        # The plan in force and where the client stands in it, read once for the course gate
        # and the session's place in the course.
        from kapflow.pathway.course import current_plan, position

        plan = current_plan(client)
        course = {"plan": plan, "position": position(client, plan=plan) if plan is not None else None}
    if waiting:
        context.update(
            _readiness(request, client, virtual=visit.is_virtual, visit=visit, **course), medication=True
        )
    if visit.kind in NOTED_KINDS:
        context.update(_note_context(request, client, visit))
    if clinical:
        # Where the session falls in the course plan (clinical: the plan is the clinicians').
        from kapflow.course.reviews import session_label

        context["course_label"] = session_label(course["position"], visit)
    if visit.is_medication and visit.status == Visit.Status.SCHEDULED:
        # A self-pay client is given a Good Faith Estimate before the session: a warning, not a gate.
        from kapflow.billing.estimates import needs_estimate, plan_in_force

        in_force = plan_in_force(client)
        context["estimate_missing"] = needs_estimate(client, plan=in_force)
        context["estimate_without_plan"] = context["estimate_missing"] and in_force is None
    return render(request, "visits/detail.html", context)


def _note_context(request, client, visit: Visit) -> dict:
    """A clinical visit is completed by signing its note (kapflow.notes): its page offers to
    write it, to continue the draft, or the signed note, to the client's clinicians only."""
    from kapflow.notes.selectors import saved_words, visit_note

    if not (request.user.is_clinician and can_see_clinical(request, client)):
        return {"noted": True}
    note = visit_note(visit)
    return {
        "noted": True,
        "note": note,
        "note_saved_at": saved_words(note.draft_saved_at) if note is not None else "",
        "note_mine": note is not None and note.author_id == request.user.pk,
        "note_possible": visit.status not in (Visit.Status.CANCELLED, Visit.Status.NO_SHOW),
    }


@staff_view()
def visit_reschedule(request, client_id, visit_id):
    client = client_chart_for(request, client_id, action="kapflow.visits.reschedule.opened")
    visit = _visit(client, visit_id)
    if visit.status != Visit.Status.SCHEDULED:
        messages.error(request, "Only a scheduled visit can be moved.")
        return redirect("visits:detail", client.pk, visit.pk)
    initial = {
        "starts_at": timezone.localtime(visit.starts_at),
        "minutes": visit.minutes,
        "clinician": visit.clinician,
        "other_clinicians": list(visit.other_clinicians.all()),
        "modality": visit.modality,
        "room": visit.room,
        "video_link": visit.video_link,
    }
    form = RescheduleForm(request.POST or None, initial=initial)
    problems = []
    if request.method == "POST" and form.is_valid():
        try:
            services.visit_reschedule(request=request, visit=visit, slot=form.slot_for(visit))
        except services.VisitRefused as refused:
            problems = refused.problems
        else:
            messages.success(request, "The visit was moved.")
            return redirect("visits:detail", client.pk, visit.pk)
    return render(
        request,
        "visits/reschedule.html",
        {"client": client, "visit": visit, "form": form, "problems": problems},
    )


def _transition(request, client_id, visit_id, *, to: str, need: Need = Need.DEMOGRAPHICS):
    client = client_for(request, client_id, need=need, action="kapflow.visits.visit.opened")
    visit = get_object_or_404(client.visits, pk=visit_id)
    reason = ""
    if to == Visit.Status.CANCELLED:
        form = CancelForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Say why the visit is cancelled.")
            return redirect("visits:detail", client.pk, visit.pk)
        reason = form.cleaned_data["reason"]
    try:
        visit = services.visit_transition(
            request=request, visit=visit, to=to, reason=reason, practice=practice_for(request)
        )
    except services.VisitRefused as refused:
        for problem in refused.problems:
            messages.error(request, problem)
    else:
        messages.success(
            request,
            f"{client.display_name}, {visit.get_kind_display().lower()} at "
            f"{timezone.localtime(visit.starts_at):%H:%M}: {visit.get_status_display().lower()}.",
        )
    return _back(request, client, visit)


def _back(request, client, visit):
    """Where the change was asked from (the front desk's day, the calendar: a safe `next` on this
    site), else the visit's page."""
    target = safe_next(request)
    if target:
        return HttpResponseRedirect(target)
    return redirect("visits:detail", client.pk, visit.pk)


def safe_next(request) -> str:
    """The POST's `next` if it is a path on this site (printable, starting with one slash), else
    "": anything else (another site, a view name, a header-breaking newline) is ignored."""
    target = request.POST.get("next", "")
    if (
        target.startswith("/")
        and target.isprintable()
        and len(target) <= 2000
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return ""


@require_POST
@staff_view()
def visit_check_in(request, client_id, visit_id):
    return _transition(request, client_id, visit_id, to=Visit.Status.CHECKED_IN)


@require_POST
@clinician_view
def visit_start(request, client_id, visit_id):
    """Only the client's clinicians start (and complete) a visit: starting a medication session
    checks the readiness gates, which are clinical."""
    return _transition(request, client_id, visit_id, to=Visit.Status.IN_PROGRESS, need=Need.CLINICAL)


@require_POST
@clinician_view
def visit_complete(request, client_id, visit_id):
    return _transition(request, client_id, visit_id, to=Visit.Status.COMPLETED, need=Need.CLINICAL)


@require_POST
@staff_view()
def visit_no_show(request, client_id, visit_id):
    return _transition(request, client_id, visit_id, to=Visit.Status.NO_SHOW)


@require_POST
@staff_view()
def visit_cancel(request, client_id, visit_id):
    return _transition(request, client_id, visit_id, to=Visit.Status.CANCELLED)


@staff_view()
def series(request, client_id):
    """The course plan's series of medication sessions (and integration visits), proposed as an
    editable list; confirming books all of it or none."""
    client = client_chart_for(request, client_id, action="kapflow.visits.series.opened")
    plan = CoursePlan.objects.current().filter(client=client).first()
    if plan is None:
        return render(request, "visits/series.html", {"client": client, "plan": None})
    practice = practice_for(request)
    start = SeriesStartForm(
        request.GET or None,
        initial={
            "first_day": timezone.localdate() + datetime.timedelta(days=7),
            "at": datetime.time(10),
        },
    )
    first_day, at = start.initial["first_day"], start.initial["at"]
    if start.is_bound and start.is_valid():
        first_day, at = start.cleaned_data["first_day"], start.cleaned_data["at"]
    proposal = propose(
        plan=plan, first_day=first_day, at=at, integration_expected_hours=practice.integration_expected_hours
    )
    rows_initial = [
        {"book": True, "kind": p.kind, "number": p.number, "day": p.day, "time": p.time, "minutes": p.minutes}
        for p in proposal
    ]
    where = WhereForm(request.POST or None, initial=_where_initial(request, client, plan), prefix="where")
    rows = SeriesRows(request.POST or None, initial=rows_initial, prefix="row")
    problems = []
    if request.method == "POST" and where.is_valid() and rows.is_valid():
        data = where.cleaned_data
        slots = [
            services.Slot(
                kind=row.cleaned_data["kind"],
                starts_at=row.starts_at(),
                ends_at=row.starts_at() + datetime.timedelta(minutes=row.cleaned_data["minutes"]),
                clinician=data["clinician"],
                modality=data["modality"],
                room=data["room"],
                video_link=data["video_link"],
            )
            for row in rows
            if row.cleaned_data.get("book")
        ]
        try:
            booked = services.series_book(request=request, client=client, slots=slots)
        except services.VisitRefused as refused:
            problems = refused.problems
        else:
            messages.success(request, f"{len(booked)} visits booked.")
            return redirect("visits:list", client.pk)
    return render(
        request,
        "visits/series.html",
        {
            "client": client,
            "plan": plan,
            "start": start,
            "where": where,
            "rows": rows,
            "problems": problems,
            "expected_hours": practice.integration_expected_hours,
        },
    )
