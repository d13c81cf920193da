import datetime

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.forms import AuditFilterForm
from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record
from kapflow.lib.params import int_param


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@staff_view(Role.PRACTICE_ADMIN)
def audit_log(request):
    """Every recorded read and write, newest first, filtered by client, person and date."""
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.for_review()
    filters = {}
    if form.is_valid():
        data = form.cleaned_data
        if data["client"]:
            events = events.filter(client_id=data["client"])
        if data["actor"]:
            events = events.filter(actor=data["actor"])
        if data["date_from"]:
            events = events.filter(at__gte=_day_start(data["date_from"]))
        if data["date_to"]:
            events = events.filter(at__lt=_day_start(data["date_to"] + datetime.timedelta(days=1)))
        if data["action"]:
            events = events.filter(action__icontains=data["action"])
        filters = {key: str(value) for key, value in data.items() if value}
    page = Paginator(events, 100).get_page(int_param(request, "page", 1))
    audit_record(request=request, action="kapflow.audit.log.viewed", detail=filters)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/log.html", {"form": form, "page": page, "query": query.urlencode()})
