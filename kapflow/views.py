import datetime

from django.core.paginator import Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, care_team_clients, clients_for
from kapflow.clients.models import LEFT_CARE, Client
from kapflow.controlled.inventory import can_see_panel as can_see_controlled_panel
from kapflow.controlled.inventory import dashboard_panel as controlled_panel
from kapflow.course.maintenance import as_due, due_plans
from kapflow.course.maintenance import due as maintenance_due
from kapflow.course.reviews import reviews_to_sign
from kapflow.dosing.alerts import open_alerts_for
from kapflow.dosing.selectors import adverse_events_to_review, discharge_overrides_to_review
from kapflow.inquiries.models import Inquiry
from kapflow.integration.models import ActionItem
from kapflow.integration.window import LATE_RANK, Standing, caseload_standings, overdue_sessions
from kapflow.lib.links import row_link
from kapflow.lib.params import int_param
from kapflow.measures.models import Alert
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.notes.owed import notes_owed
from kapflow.pathway.course import complete_plans
from kapflow.practice.models import practice_for
from kapflow.visits.calendar import in_range
from kapflow.visits.models import Visit

# Each list on the dashboard shows this many rows; when there are more, its "Show all" link opens
# the whole list a page at a time (the queue_* views). The dashboard reads one row more than it
# shows to know, so that it never counts.
SHOWN = 10
QUEUE_PAGE_SIZE = 50
# What a list's row shows of its client (Client.display_name): its rows read only these of the
# client's columns (a page's rows cost less to load, and no more is read than is shown).
CLIENT_NAME_FIELDS = ("first_name", "last_name", "preferred_name")
CLIENT_NAME = tuple(f"client__{name}" for name in CLIENT_NAME_FIELDS)
# The sessions of today whose readiness badge the dashboard shows: those waiting to start.
BADGED = (Visit.Status.SCHEDULED, Visit.Status.CHECKED_IN)


def home(request):
    if not request.user.is_authenticated:
        return redirect("start")
    if not request.user.is_staff_member and (request.user.is_client or request.user.is_guardian):
        return redirect("portal:home")
    return dashboard(request)


def _first(rows, context: dict, key: str) -> None:
    """The first SHOWN of `rows` (a queryset or a list) as `key`, and whether there are more as
    `key_more`: one query, reading a single row past the ones shown."""
    head = list(rows[: SHOWN + 1])
    context[key], context[f"{key}_more"] = head[:SHOWN], len(head) > SHOWN


@staff_view()
def dashboard(request):
    """Where each person lands: what is theirs to do today, by role. Every list shows its first
    rows and links to the whole list (the queue_* views) when there are more."""
    user = request.user
    context = {}
    if user.outside_practice:
        # An invited outside prescriber has no caseload page or calendar here: their clients,
        # each leading to its medical summary, and the prescriber's lists below.
        context["outside_clients"] = list(
            _my_clients(request).only(*CLIENT_NAME_FIELDS).order_by("last_name", "first_name", "pk")
        )
    elif user.is_clinician:
        _first(_urgent_alerts(request), context, "urgent_alerts")
        # The clients on their care team: the same set whatever `need` (a clinician sees the
        # clinical record of every client whose care team they are on), so _my_clients serves
        # here too and its scope is built once for the request's lists.
        by_stage = sorted(
            _my_clients(request).order_by().values_list("stage").annotate(n=Count("pk")),
            key=lambda row: Client.Stage.values.index(row[0]),
        )
        context["my_stage_counts"] = [(Client.Stage(stage).label, stage, count) for stage, count in by_stage]
        # Every client has one stage: the counts by stage add up to the count (no second query).
        context["my_client_count"] = sum(count for _stage, count in by_stage)
        _first(_todays_visits(user), context, "todays_visits")
        _first(_notes_owed(request), context, "notes_owed")
        # Course reviews waiting for a signature this person may give, and the maintenance
        # sessions of their care team's clients coming due with none booked (docs/course.md).
        _first(reviews_to_sign(request, _my_clients(request)), context, "reviews_to_sign")
        _first(maintenance_due(clients=_my_clients(request), limit=SHOWN + 1), context, "maintenance_due")
    if user.is_therapist:
        overdue = caseload_standings(_my_clients(request), practice=practice_for(request), limit=SHOWN + 1)
        _first(overdue, context, "overdue_integrations")
        _first(_action_items(request), context, "action_items")
    if user.is_prescriber:
        # In-session alerts not yet seen, for a prescriber not on the runbook page: one query.
        _first(open_alerts_for(user, _clinical_clients(request)), context, "session_alerts")
        _first(_clearances_waiting(request), context, "clearances_waiting")
        _first(_orders_waiting(request), context, "orders_waiting")
        # Like every list here: its first rows, read one past them to know whether there are more.
        _first(adverse_events_to_review(_my_clients(request)), context, "events_to_review")
        _first(discharge_overrides_to_review(_my_clients(request)), context, "overrides_to_review")
    if user.is_coordinator:
        _first(_arrivals_today(request), context, "arrivals")
    if user.is_coordinator or user.is_practice_admin:
        # Both counts in one query: the new inquiries are among the open ones.
        counts = Inquiry.objects.open().aggregate(
            open=Count("pk"), new=Count("pk", filter=Q(status=Inquiry.Status.NEW))
        )
        context["open_inquiries"], context["new_inquiries"] = counts["open"], counts["new"]
    if not user.outside_practice and can_see_controlled_panel(user, practice_for(request)):
        # The controlled-substance record's dates (docs/inventory.md): a fixed number of queries.
        context["controlled_panel"] = controlled_panel(practice_for(request), timezone.localdate())
    _add_links(context)
    # The dashboard shows clients by name: one audit row per view, naming every client shown
    # (not one row per client, which would bury the log).
    audit_record(
        request=request, action="kapflow.dashboard.viewed", detail={"clients": _clients_shown(context)}
    )
    return render(request, "dashboard.html", context)


def _add_links(context: dict) -> None:
    """The links the dashboard's longer lists show on each row (kapflow.lib.links.row_link)."""
    if alerts := context.get("urgent_alerts"):
        chart, close = row_link("clients:chart"), row_link("measures:alert_close", ids=2)
        for alert in alerts:
            alert.chart_url, alert.close_url = chart(alert.client_id), close(alert.client_id, alert.pk)
    if visits := context.get("todays_visits"):
        runbook, detail = row_link("dosing:runbook", ids=2), row_link("visits:detail", ids=2)
        for visit in visits:
            visit.link = (runbook if visit.is_medication else detail)(visit.client_id, visit.pk)
            visit.badged = visit.is_medication and visit.status in BADGED
        # The readiness badges of the sessions waiting to start, in one request after the page
        # (the calendar's, kapflow.visits.views.calendar.badges), not one per session.
        context["badge_ids"] = ",".join(str(visit.pk) for visit in visits if visit.badged)
    if owed := context.get("notes_owed"):
        note = row_link("notes:visit", ids=2)
        for visit in owed:
            visit.note_url = note(visit.client_id, visit.pk)
    overdue, items = context.get("overdue_integrations", ()), context.get("action_items", ())
    if overdue or items:
        overview = row_link("integration:overview")
        for row in overdue:
            row.session.overview_url = overview(row.session.client_id)
        for item in items:
            item.overview_url = overview(item.client_id)
    if waiting := (
        *context.get("clearances_waiting", ()),
        *context.get("orders_waiting", ()),
        *context.get("outside_clients", ()),
    ):
        summary = row_link("medical:summary")
        for client in waiting:
            client.summary_url = summary(client.pk)


def _clients_shown(context: dict) -> list[int]:
    """The ids of the clients the dashboard's lists name, from the objects already loaded."""
    shown: set[int] = set()
    for client in (
        *context.get("clearances_waiting", ()),
        *context.get("orders_waiting", ()),
        *context.get("outside_clients", ()),
    ):
        shown.add(client.pk)
    for key in (
        "urgent_alerts",
        "todays_visits",
        "notes_owed",
        "action_items",
        "arrivals",
        "reviews_to_sign",
    ):
        shown.update(item.client_id for item in context.get(key, ()))
    shown.update(row.session.client_id for row in context.get("overdue_integrations", ()))
    shown.update(item.client.pk for item in context.get("maintenance_due", ()))
    shown.update(event.runbook.visit.client_id for event in context.get("events_to_review", ()))
    shown.update(book.visit.client_id for book in context.get("overrides_to_review", ()))
    shown.update(alert.runbook.visit.client_id for alert in context.get("session_alerts", ()))
    return sorted(shown)


def _clinical_clients(request):
    """The clients whose clinical record the user may see (clients_for), built once per request:
    most of the dashboard's lists start from it, and a queryset is only a description of rows
    (using it in several queries shares no results between them)."""
    if not hasattr(request, "_kapflow_clinical_clients"):
        request._kapflow_clinical_clients = clients_for(request, need=Need.CLINICAL)
    return request._kapflow_clinical_clients


def _my_clients(request):
    """The clients on the user's care team, among those whose clinical record they may see
    (kapflow.clients.access.care_team_clients), built once per request."""
    if not hasattr(request, "_kapflow_my_clients"):
        request._kapflow_my_clients = care_team_clients(request)
    return request._kapflow_my_clients


def _urgent_alerts(request):
    """Open urgent alerts that are the clinician's, or that the system could give to no one (no
    clinician on the care team, or the one it went to has since left), for the clients they may
    see, oldest first. The scope is checked alert by alert (Exists), so the database walks the
    open alerts in order (alert_open_idx) and stops once it has the rows it needs."""
    return (
        Alert.objects.open()
        .filter(Q(assigned_to=request.user) | Q(assigned_to__isnull=True) | Q(assigned_to__is_active=False))
        .filter(Exists(_clinical_clients(request).filter(pk=OuterRef("client_id"))))
        .select_related("client")
        .only("client_id", "kind", "raised_at", *CLIENT_NAME)
        .order_by("raised_at", "pk")
    )


def _action_items(request):
    """The open action items of the therapist's clients still in care, longest unreviewed first.
    An item is reviewed at a later session; a client who has left care (discharged, or not going
    on) has none, so their items, left as they stood, would head the list for ever."""
    return (
        ActionItem.objects.filter(client__in=_my_clients(request), status__in=ActionItem.STILL_OPEN)
        .exclude(client__stage__in=LEFT_CARE)
        .select_related("client")
        .only("client_id", "text", *CLIENT_NAME)
        .order_by("reviewed_at", "created_at", "pk")
    )


def _today() -> tuple[datetime.datetime, datetime.datetime]:
    """The local day, from midnight to midnight."""
    start = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time.min))
    return start, start + datetime.timedelta(days=1)


def _todays_visits(user):
    """The clinician's visits today (local day), primary or joining, in time order. The range is
    bounded on the start (kapflow.visits.calendar.in_range), so the index on it is used."""
    joining = Visit.other_clinicians.through.objects.filter(user=user).values("visit_id")
    return (
        in_range(Visit.objects.live(), *_today())
        .filter(Q(clinician=user) | Q(pk__in=joining))
        .select_related("client", "room")
        .only("client_id", "kind", "starts_at", "status", "room__name", *CLIENT_NAME)
        .order_by("starts_at", "pk")
    )


def _notes_owed(request):
    """The notes the clinician owes (kapflow.notes.owed.notes_owed), oldest first, among the
    clients whose clinical record they may see."""
    return notes_owed(request.user, clients=_clinical_clients(request), practice=practice_for(request))


def _arrivals_today(request):
    """The front desk's day: every visit today (local day) of the clients the user may see, not
    cancelled, in time order, to check people in as they arrive. The scope is checked visit by
    visit (Exists): the database walks today's visits on the start index, not every client."""
    return (
        in_range(Visit.objects.live(), *_today())
        .filter(Exists(clients_for(request).filter(pk=OuterRef("client_id"))))
        .select_related("client", "clinician", "room")
        .order_by("starts_at", "pk")
    )


def _prescribers_clients(request):
    """The prescriber's clients still in care: those who have left (discharged, or not going on)
    wait for no decision or order."""
    return _my_clients(request).exclude(stage__in=LEFT_CARE)


def _clearances_waiting(request):
    """The prescriber's clients whose latest screening has no clearance decision yet, by name.
    Narrowed first to the clients with any screening undecided (the same set: the latest is one
    of them), read once: PostgreSQL otherwise walks every client of the practice by name, asking
    each for its latest screening, when the list is empty, as it mostly is (15 ms against 4)."""
    latest_screening = Screening.objects.filter(client=OuterRef("pk")).latest_first().values("pk")[:1]
    undecided = Screening.objects.exclude(Exists(Clearance.objects.filter(screening=OuterRef("pk"))))
    return (
        _prescribers_clients(request)
        .filter(pk__in=undecided.values("client_id"))
        .annotate(latest_screening=Subquery(latest_screening))
        .filter(latest_screening__isnull=False)
        .exclude(Exists(Clearance.objects.filter(screening=OuterRef("latest_screening"))))
        .only(*CLIENT_NAME_FIELDS)
        .order_by("last_name", "first_name", "pk")
    )


def _orders_waiting(request):
    """The prescriber's clients whose latest clearance grants, is not revoked or expired, and who
    have no order in force today, by name. An order whose authorised sessions are all used is
    not in force: that client waits for a new order, unless their course plan's sessions have
    all begun too (the course review decides what comes next)."""
    today = timezone.localdate()
    # Inside `granting`, itself inside the client query: the client is two levels out.
    latest_clearance = (
        Clearance.objects.filter(client=OuterRef(OuterRef("pk"))).latest_first().values("pk")[:1]
    )
    granting = Clearance.objects.filter(
        pk=Subquery(latest_clearance),
        decision__in=Clearance.GRANTING,
        revoked_at__isnull=True,
    ).filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
    # In force: active today with sessions left (sessions used: first doses given under it).
    # Grouped by the order's id (values), not by its every column: less to compile and to group.
    in_force = (
        MedicationOrder.objects.filter(client=OuterRef("pk"))
        .active(today)
        .order_by()
        .values("pk")
        .annotate(used=Count("administrations", filter=Q(administrations__is_booster=False)))
        .filter(used__lt=F("sessions_authorised"))
    )
    # A client whose course has had every planned session waits for the course review, not an
    # order: if the review plans more sessions, its new plan brings them back to this list.
    return (
        _prescribers_clients(request)
        .filter(Exists(granting))
        .exclude(Exists(in_force))
        .exclude(Exists(complete_plans().filter(client=OuterRef("pk"))))
        .only(*CLIENT_NAME_FIELDS)
        .order_by("last_name", "first_name", "pk")
    )


# The dashboard's lists, each whole a page at a time (`queue`): its title, its rows, and what
# each row shows: (the client, the link on their name, the words after it).


def _when(moment: datetime.datetime, *, time: bool = True) -> str:
    local = timezone.localtime(moment)
    return f"{local:%a %b} {local.day}" + (f", {local:%H:%M}" if time else "")


def _alert_rows(alerts):
    for alert in alerts:
        yield (
            alert.client,
            reverse("measures:alert_close", args=[alert.client_id, alert.pk]),
            f"{alert.get_kind_display()} · raised {_when(alert.raised_at)}",
        )


def _integration_rows(sessions):
    for session in sessions:
        standing = Standing.LATE if session.best == LATE_RANK else Standing.MISSING
        yield (
            session.client,
            reverse("integration:overview", args=[session.client_id]),
            f"session of {_when(session.starts_at, time=False)} · {standing.label.lower()}",
        )


def _action_item_rows(items):
    for item in items:
        yield item.client, reverse("integration:overview", args=[item.client_id]), item.text


def _client_rows(words):
    def rows(clients):
        for client in clients:
            yield client, reverse("medical:summary", args=[client.pk]), words

    return rows


def _runbook_rows(words):
    """Rows of things recorded on a session's runbook (alerts, adverse events), each leading to
    the runbook, described by `words(thing)`."""

    def rows(things):
        for thing in things:
            visit = thing.runbook.visit
            yield visit.client, reverse("dosing:runbook", args=[visit.client_id, visit.pk]), words(thing)

    return rows


_session_alert_rows = _runbook_rows(
    lambda alert: f"{alert.get_kind_display()} · raised {_when(alert.raised_at)} · not yet seen"
)
_event_rows = _runbook_rows(lambda event: f"{event} · {_when(event.noted_at)}")


def _override_rows(runbooks):
    for book in runbooks:
        yield (
            book.visit.client,
            reverse("dosing:runbook", args=[book.visit.client_id, book.visit_id]),
            f"discharged {_when(book.discharged_at)} by {book.discharged_by.full_name} with criteria unmet: "
            f"{book.override_reason}",
        )


def _note_rows(visits):
    for visit in visits:
        words = f"{visit.get_kind_display()} of {_when(visit.starts_at)} · "
        words += "draft saved" if visit.draft_saved else "not begun"
        yield (
            visit.client,
            reverse("notes:visit", args=[visit.client_id, visit.pk]),
            words + (" · overdue" if visit.overdue else ""),
        )


def _review_rows(reviews):
    for review in reviews:
        words = f"{review.get_decision_display()} · written {_when(review.written_at, time=False)}"
        words += f" by {review.written_by.full_name}"
        if review.therapist_signed_at:
            words += " · the therapist has signed"
        elif review.prescriber_signed_at:
            words += " · the prescriber has signed"
        yield review.client, reverse("course:review_detail", args=[review.client_id, review.pk]), words


def _maintenance_rows(plans):
    for plan in plans:
        item = as_due(plan)
        when = "overdue since" if item.overdue else "due"
        yield (
            item.client,
            reverse("visits:new", args=[item.client.pk]) + "?kind=medication",
            f"{when} {_when(item.due_at, time=False)} · every {plan.maintenance_weeks} weeks · none booked",
        )


def _arrival_rows(visits):
    for visit in visits:
        yield (
            visit.client,
            reverse("visits:detail", args=[visit.client_id, visit.pk]),
            f"{timezone.localtime(visit.starts_at):%H:%M} · {visit.get_kind_display()} with "
            f"{visit.clinician.full_name} · {visit.place} · {visit.get_status_display()}",
        )


QUEUES = {
    "alerts": ("Urgent: same-day follow-up", _urgent_alerts, _alert_rows),
    "integrations": (
        "Integrations overdue",
        lambda request: overdue_sessions(
            _my_clients(request), practice=practice_for(request), now=timezone.now()
        ).select_related("client"),
        _integration_rows,
    ),
    "action-items": ("Action items to review", _action_items, _action_item_rows),
    "notes": ("Notes owed", _notes_owed, _note_rows),
    "reviews": (
        "Course reviews waiting for your signature",
        lambda request: reviews_to_sign(request, _my_clients(request)),
        _review_rows,
    ),
    "maintenance": (
        "Maintenance sessions due",
        lambda request: due_plans(_my_clients(request)),
        _maintenance_rows,
    ),
    "session-alerts": (
        "In-session alerts not yet seen",
        lambda request: open_alerts_for(request.user, _clinical_clients(request)),
        _session_alert_rows,
    ),
    "clearances": ("Clearances waiting", _clearances_waiting, _client_rows("screened, no decision yet")),
    "orders": ("Orders waiting", _orders_waiting, _client_rows("cleared, no order in force")),
    "events": (
        "Adverse events to review",
        lambda request: adverse_events_to_review(_my_clients(request)),
        _event_rows,
    ),
    "overrides": (
        "Discharge overrides to review",
        lambda request: discharge_overrides_to_review(_my_clients(request)),
        _override_rows,
    ),
    "arrivals": ("Arrivals today", _arrivals_today, _arrival_rows),
}


def _queue(request, name: str):
    """One of the dashboard's lists, whole, QUEUE_PAGE_SIZE rows a page, with one audit row
    naming the clients shown."""
    title, rows_of, describe = QUEUES[name]
    page = Paginator(rows_of(request), QUEUE_PAGE_SIZE).get_page(int_param(request, "page", 1))
    rows = list(describe(page.object_list))
    audit_record(
        request=request,
        action="kapflow.dashboard.list_viewed",
        detail={"list": name, "page": page.number, "clients": sorted({client.pk for client, _, _ in rows})},
    )
    return render(request, "dashboard_queue.html", {"title": title, "page": page, "rows": rows})


@require_GET
@staff_view(Role.THERAPIST, Role.PRESCRIBER)
def queue_alerts(request):
    return _queue(request, "alerts")


@require_GET
@staff_view(Role.THERAPIST)
def queue_integrations(request):
    return _queue(request, "integrations")


@require_GET
@staff_view(Role.THERAPIST)
def queue_action_items(request):
    return _queue(request, "action-items")


@require_GET
@staff_view(Role.THERAPIST, Role.PRESCRIBER)
def queue_notes(request):
    return _queue(request, "notes")


@require_GET
@staff_view(Role.THERAPIST, Role.PRESCRIBER)
def queue_reviews(request):
    return _queue(request, "reviews")


@require_GET
@staff_view(Role.THERAPIST, Role.PRESCRIBER)
def queue_maintenance(request):
    return _queue(request, "maintenance")


@require_GET
@staff_view(Role.PRESCRIBER)
def queue_session_alerts(request):
    return _queue(request, "session-alerts")


@require_GET
@staff_view(Role.PRESCRIBER)
def queue_clearances(request):
    return _queue(request, "clearances")


@require_GET
@staff_view(Role.PRESCRIBER)
def queue_orders(request):
    return _queue(request, "orders")


@require_GET
@staff_view(Role.PRESCRIBER)
def queue_events(request):
    return _queue(request, "events")


@require_GET
@staff_view(Role.PRESCRIBER)
def queue_overrides(request):
    return _queue(request, "overrides")


@require_GET
@staff_view(Role.COORDINATOR)
def queue_arrivals(request):
    return _queue(request, "arrivals")


@require_POST
def keepalive(request):
    """The idle-warning dialog's "stay signed in": like any request that is not a background
    poll, it counts as activity (kapflow.accounts.middleware.end_stale_sessions)."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False}, status=401)
    return HttpResponse(status=204)
