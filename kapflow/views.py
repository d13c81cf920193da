from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.clients.access import Need, clients_for
from kapflow.clients.models import Client
from kapflow.inquiries.models import Inquiry
from kapflow.measures.models import Alert


def home(request):
    if not request.user.is_authenticated:
        return redirect("start")
    return dashboard(request)


@staff_view()
def dashboard(request):
    """Where each person lands: what is theirs to do today, by role."""
    user = request.user
    context = {}
    if user.is_clinician:
        context["urgent_alerts"] = list(
            Alert.objects.open()
            .filter(assigned_to=user, client__in=clients_for(request, need=Need.CLINICAL))
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
    if user.is_coordinator or user.is_practice_admin:
        context["open_inquiries"] = Inquiry.objects.open().count()
        context["new_inquiries"] = Inquiry.objects.filter(status=Inquiry.Status.NEW).count()
    return render(request, "dashboard.html", context)


@require_POST
def keepalive(request):
    """The idle-warning dialog's "stay signed in": any request renews the session."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_in": False}, status=401)
    return HttpResponse(status=204)
