import datetime

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, clients_for
from kapflow.clients.models import LEFT_CARE, Client
from kapflow.dosing.alerts import open_alerts_for
from kapflow.dosing.selectors import adverse_events_to_review, discharge_overrides_to_review
from kapflow.inquiries.models import Inquiry
from kapflow.integration.models import ActionItem
from kapflow.integration.window import caseload_standings
from kapflow.measures.models import Alert
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.practice.models import practice_for
from kapflow.visits.models import Visit


def home(request):
    if not request.user.is_authenticated:
        return redirect("start")
    if not request.user.is_staff_member and (request.user.is_client or request.user.is_guardian):
        return redirect("portal:home")
    return dashboard(request)


@staff_view()
def dashboard(request):
    """Where each person lands: what is theirs to do today, by role."""
    user = request.user
    context = {}
    if user.is_clinician:
        # Theirs, and any the system could give to no one (no clinician on the care team, or
        # the one it went to has since left) for the clients they may see.
        context["urgent_alerts"] = list(
            Alert.objects.open()
            .filter(Q(assigned_to=user) | Q(assigned_to__isnull=True) | Q(assigned_to__is_active=False))
            .filter(client__in=clients_for(request, need=Need.CLINICAL))
            .select_related("client")
            .order_by("raised_at")
        )
        mine = clients_for(request).filter(care_team__user=user)
        context["my_client_count"] = mine.count()
        context["my_stage_counts"] = [
            (Client.Stage(stage).label, stage, count)
            for stage, count in sorted(
                mine.order_by().values_list("stage").annotate(n=Count("pk")),
                key=lambda row: Client.Stage.values.index(row[0]),
            )
        ]
    if user.is_clinician:
        context["todays_visits"] = _todays_visits(user)
    if user.is_therapist:
        mine = clients_for(request, need=Need.CLINICAL).filter(care_team__user=user)
        context["overdue_integrations"] = caseload_standings(mine, practice=practice_for(request))
        context["action_items"] = list(
            ActionItem.objects.filter(client__in=mine, status__in=ActionItem.STILL_OPEN)
            .select_related("client")
            .order_by("reviewed_at", "created_at", "pk")[:ACTION_ITEMS_SHOWN]
        )
    if user.is_prescriber:
        # In-session alerts not yet seen, for a prescriber not on the runbook page: one query.
        context["session_alerts"] = open_alerts_for(user, clients_for(request, need=Need.CLINICAL))
        context.update(_prescriber_queues(request))
        mine = clients_for(request, need=Need.CLINICAL).filter(care_team__user=user)
        context["events_to_review"] = adverse_events_to_review(mine)
        context["overrides_to_review"] = discharge_overrides_to_review(mine)
    if user.is_coordinator:
        context["arrivals"] = _arrivals_today(request)
    if user.is_coordinator or user.is_practice_admin:
        context["open_inquiries"] = Inquiry.objects.open().count()
        context["new_inquiries"] = Inquiry.objects.filter(status=Inquiry.Status.NEW).count()
    # The dashboard shows clients by name: one audit row per view, naming every client shown
    # (not one row per client, which would bury the log).
    audit_record(
        request=request, action="kapflow.dashboard.viewed", detail={"clients": _clients_shown(context)}
    )
    return render(request, "dashboard.html", context)


def _clients_shown(context: dict) -> list[int]:
    """The ids of the clients the dashboard's lists name, from the objects already loaded."""
    shown: set[int] = set()
    for client in (*context.get("clearances_waiting", ()), *context.get("orders_waiting", ())):
        shown.add(client.pk)
    for key in ("urgent_alerts", "todays_visits", "action_items", "arrivals"):
        shown.update(item.client_id for item in context.get(key, ()))
    shown.update(row.session.client_id for row in context.get("overdue_integrations", ()))
    shown.update(event.runbook.visit.client_id for event in context.get("events_to_review", ()))
    shown.update(book.visit.client_id for book in context.get("overrides_to_review", ()))
    shown.update(alert.runbook.visit.client_id for alert in context.get("session_alerts", ()))
    return sorted(shown)


ACTION_ITEMS_SHOWN = 20


def _todays_visits(user) -> list[Visit]:
    """The clinician's visits today (local day), primary or joining: one query."""
    start = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time.min))
    return list(
        Visit.objects.live()
        .overlapping(start, start + datetime.timedelta(days=1))
        .filter(Q(clinician=user) | Q(other_clinicians=user))
        .distinct()
        .select_related("client", "room")
        .order_by("starts_at", "pk")
    )


def _arrivals_today(request) -> list[Visit]:
    """The front desk's day: every visit today (local day) of the clients the user may see, not
    cancelled, in time order, to check people in as they arrive: one query."""
    start = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time.min))
    return list(
        Visit.objects.live()
        .overlapping(start, start + datetime.timedelta(days=1))
        .filter(client__in=clients_for(request))
        .select_related("client", "clinician", "room")
        .order_by("starts_at", "pk")
    )


def _prescriber_queues(request) -> dict:
    """The prescriber's two queues, for the clients on their care team, one query each:
    clearances waiting (the latest screening has no clearance decision yet) and orders waiting
    (the latest clearance grants, is not revoked or expired, and no order is in force today).
    An order whose authorised sessions are all used is not in force: that client waits for a
    new order. Clients discharged or not proceeding are in neither."""
    today = timezone.localdate()
    # Clients who have left care (discharged, or not going on) wait for no decision or order.
    mine = (
        clients_for(request, need=Need.CLINICAL)
        .filter(care_team__user=request.user)
        .exclude(stage__in=LEFT_CARE)
    )
    latest_screening = Screening.objects.filter(client=OuterRef("pk")).latest_first().values("pk")[:1]
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
    in_force = (
        MedicationOrder.objects.filter(client=OuterRef("pk"))
        .active(today)
        .annotate(used=Count("administrations", filter=Q(administrations__is_booster=False)))
        .filter(used__lt=F("sessions_authorised"))
    )
    return {
        "clearances_waiting": list(
            mine.annotate(latest_screening=Subquery(latest_screening))
            .filter(latest_screening__isnull=False)
            .exclude(Exists(Clearance.objects.filter(screening=OuterRef("latest_screening"))))
            .distinct()
            .order_by("last_name", "first_name", "pk")
        ),
        "orders_waiting": list(
            mine.filter(Exists(granting))
            .exclude(Exists(in_force))
            .distinct()
            .order_by("last_name", "first_name", "pk")
        ),
    }


@require_POST
def keepalive(request):
    """The idle-warning dialog's "stay signed in": like any request that is not a background
    poll, it counts as activity (kapflow.accounts.middleware.end_stale_sessions)."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False}, status=401)
    return HttpResponse(status=204)
