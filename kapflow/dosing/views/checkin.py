"""Before the first dose: check-in, the day-of checklist, the medication review, the safety
plan, and starting the session."""

from django.contrib import messages
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.dosing import forms, selectors
from kapflow.dosing.services import checkin
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import _refused, _target, runbook_view
from kapflow.dosing.views.page import _again, _back
from kapflow.practice.models import practice_for
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit


@require_POST
@runbook_view
def check_in(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    try:
        visit_services.visit_transition(request=request, visit=visit, to=Visit.Status.CHECKED_IN)
    except visit_services.VisitRefused as refused:
        for problem in refused.problems:
            messages.error(request, problem)
    else:
        messages.success(request, "Checked in. Go through the day-of checklist.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def start(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    try:
        checkin.session_start(
            request=request, actor=request.user, visit=visit, practice=practice_for(request)
        )
    except RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, "The session has started: opening reflection.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def checklist_add(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    practice = practice_for(request)
    form = forms.ChecklistForm(
        request.POST,
        substances=selectors.avoid_substances(practice),
        open_alert=selectors.open_suicidality_alert(client),
    )
    if not form.is_valid():
        return _again(request, client_id, visit_id, "checklist_form", form)
    data = form.cleaned_data
    try:
        checkin.checklist_record(
            request=request,
            actor=request.user,
            visit=visit,
            transport_without_driving=data["transport_without_driving"],
            transport_detail=data["transport_detail"],
            last_food_at=data["last_food"],
            last_liquid_at=data["last_liquid"],
            substances=data["substances"],
            pregnancy=data["pregnancy"],
            new_medications=data["new_medications"],
            medications_reviewed=data["medications_reviewed"],
            suicidality_alert_reviewed=data.get("suicidality_alert_reviewed", False),
            practice=practice,
        )
    except RunbookRefused as refused:
        return _again(request, client_id, visit_id, "checklist_form", form, refused=refused)
    gate = selectors.checklist_gate(visit, selectors.runbook_of(visit), now=timezone.now(), practice=practice)
    if gate.passed:
        messages.success(request, "Day-of checklist saved: it passes.")
    else:
        messages.warning(request, f"Day-of checklist saved. {gate.reason}")
    return _back(request, client, visit)


@require_POST
@runbook_view
def medications_review(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    try:
        checkin.medications_review(request=request, actor=request.user, visit=visit)
    except RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, "New medications reviewed.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def safety_plan_add(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.SafetyPlanForm(request.POST)
    if not form.is_valid():
        return _again(request, client_id, visit_id, "plan_form", form)
    try:
        checkin.safety_plan_record(request=request, actor=request.user, visit=visit, **form.cleaned_data)
    except RunbookRefused as refused:
        return _again(request, client_id, visit_id, "plan_form", form, refused=refused)
    gate = selectors.safety_plan_gate(visit)
    if gate.passed:
        messages.success(request, "Safety plan saved: it passes.")
    else:
        messages.warning(request, f"Safety plan saved, but the session cannot start yet. {gate.reason}")
    return _back(request, client, visit)
