"""A client's integration: the sessions owed an integration, the records and their action
items. For the client's clinicians only (Need.CLINICAL)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import clinical_banner_for
from kapflow.integration import services
from kapflow.integration.forms import RecordForm, ReviewForm
from kapflow.integration.models import ActionItem
from kapflow.integration.window import client_standings
from kapflow.lib.params import int_param
from kapflow.notes.intentions import latest_intention
from kapflow.practice.models import practice_for
from kapflow.visits.models import Visit

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)


@staff_view()
def overview(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.integration.overview.viewed")
    # Only the columns the page shows: a record's free text is long and only its themes are
    # shown here, and the clinician and session rows are wide. client_standings reads these
    # too (their follows_id, recorded_at and late_by), so it is given them.
    records = list(
        client.integration_records.select_related("clinician", "follows").only(
            "client_id",
            "recorded_at",
            "themes",
            "late_by",
            "clinician__full_name",
            "follows__starts_at",
        )
    )
    items = list(
        client.action_items.select_related("record").only(
            "client_id", "text", "status", "reviewed_at", "record__recorded_at"
        )
    )
    sessions = client_standings(client, practice=practice_for(request), records=records)
    return render(
        request,
        "integration/overview.html",
        {
            "client": client,
            "sessions": sessions,
            **_hoped_for(sessions),
            "records": records,
            "open_items": [item for item in items if item.is_open],
            "closed_items": [item for item in items if not item.is_open],
            "statuses": ActionItem.Status.choices,
            "integration_kind": Visit.Kind.INTEGRATION,
        },
    )


def _hoped_for(sessions) -> dict:
    """The client's intention for their latest completed medication session, for the top of the
    integration page (docs/intentions.md): one query."""
    latest = max((row.session for row in sessions), key=lambda session: session.starts_at, default=None)
    intention = latest_intention(latest)
    return {"hoped_session": latest, "hoped_for": intention} if intention is not None else {}


@clinician_view
def record_new(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.integration.record.opened")
    initial = {}
    # ASCII digits within a bigint only: "²".isdigit() is true and int() then fails.
    follows = int_param(request, "follows", None)
    if follows is not None:
        initial["follows"] = follows
    else:
        latest = (
            client.visits.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED)
            .order_by("-starts_at")
            .first()
        )
        if latest is not None:
            initial["follows"] = latest.pk
    form = RecordForm(request.POST or None, initial=initial, client=client)
    if request.method == "POST":
        if form.is_valid():
            record = services.record_save(request=request, client=client, form=form)
            count = record.action_items.count()
            noun = "action item" if count == 1 else "action items"
            saved = (
                f"Integration record saved, with {count} {noun}." if count else "Integration record saved."
            )
            messages.success(request, saved)
            return redirect("integration:overview", client.pk)
        messages.error(request, "The record was not saved: see below. What you typed is kept.")
    hoped_session, hoped_for = form.hoped_for()
    return render(
        request,
        "integration/record_form.html",
        {"client": client, "form": form, "hoped_session": hoped_session, "hoped_for": hoped_for},
    )


@staff_view()
def record_detail(request, client_id, record_id):
    client = clinical_banner_for(request, client_id, action="kapflow.integration.record.viewed")
    record = get_object_or_404(
        client.integration_records.select_related("clinician", "follows", "visit").prefetch_related(
            "action_items"
        ),
        pk=record_id,
    )
    return render(request, "integration/record_detail.html", {"client": client, "record": record})


@require_POST
@clinician_view
def action_item_review(request, client_id, item_id):
    client = clinical_banner_for(request, client_id, action="kapflow.integration.action_item.opened")
    item = get_object_or_404(client.action_items, pk=item_id)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the statuses offered.")
        return redirect("integration:overview", client.pk)
    before = item.status
    item = services.action_item_review(request=request, item=item, status=form.cleaned_data["status"])
    if item.status == before:
        messages.success(request, f"Reviewed: “{item.text}” is still {item.get_status_display().lower()}.")
    else:
        messages.success(request, f"“{item.text}” is now {item.get_status_display().lower()}.")
    return redirect("integration:overview", client.pk)
