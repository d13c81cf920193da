"""The medication-session runbook: one page for the day of a medication visit, for the client's
clinicians. Each form saves one entry and comes back to the page (kapflow.dosing.views.*), with
the form that could not be saved still holding what was typed."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone

from kapflow.clients.access import Need, client_chart_for
from kapflow.dosing import alerts, forms, selectors
from kapflow.dosing.models import VitalsReading
from kapflow.dosing.services import administration
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import VIEWED_ACTION, _medication_visit, _refused, _target, runbook_view
from kapflow.dosing.views.live import _live_context
from kapflow.integration.window import client_standings
from kapflow.measures.selectors import measures_before_session
from kapflow.medical import doses as doses_mod
from kapflow.medical import gates as medical_gates
from kapflow.medical import routes
from kapflow.practice.models import practice_for
from kapflow.visits.models import Visit


@runbook_view
def runbook(request, client_id, visit_id):
    return _page(request, client_id, visit_id)


def _page(request, client_id, visit_id, *, bound=None):
    client = client_chart_for(request, client_id, need=Need.CLINICAL, action=VIEWED_ACTION)
    visit = _medication_visit(client, visit_id)
    if request.method == "GET":
        # A prescriber opening the runbook has seen its alerts (not the 30 s refresh: a tab left
        # open in the background is not someone looking).
        alerts.session_alerts_seen(actor=request.user, visit=visit, request=request)
    practice = practice_for(request)
    book = selectors.runbook_of(visit)
    context = _live_context(request, client, visit, book, fetched=True)
    session_routes = administration.session_routes(book, visit, day=timezone.localdate(visit.starts_at))
    spo2_for = " and ".join(
        doses_mod.ROUTE_NAMES[route].lower()
        for route in routes.spo2_routes(session_routes, practice=practice)
    )
    vitals = list(book.vitals.select_related("recorded_by")) if book else []
    doses = list(book.administrations.select_related("order", "given_by")) if book else []
    checklist = selectors.latest_checklist(book)
    plan = selectors.latest_safety_plan(book) if visit.is_virtual else None
    open_alert = selectors.open_suicidality_alert(client)
    events = list(book.adverse_events.select_related("recorded_by")) if book else []
    reviews = selectors.reviews_of(events)
    for event in events:
        event.safety_review = reviews.get(event.pk)
    context.update(
        {
            "vitals": vitals,
            "predose_vitals": [
                reading for reading in vitals if reading.phase == VitalsReading.Phase.PRE_DOSE
            ],
            "doses": doses,
            "ratings": list(book.ratings.select_related("recorded_by")) if book else [],
            "events": events,
            "notes": list(book.notes.select_related("author")) if book else [],
            "addenda": list(book.addenda.select_related("author")) if book else [],
            "checkins": selectors.chaperone_checkins(book),
            "before_session": measures_before_session(visit, practice=practice),
            "checklist": checklist,
            "checklist_count": book.checklists.count() if book else 0,
            "plan": plan,
            "plan_count": book.safety_plans.count() if book and visit.is_virtual else 0,
            "open_alert": open_alert,
            "can_check_in": visit.status == Visit.Status.SCHEDULED,
            "can_start": visit.status == Visit.Status.CHECKED_IN,
            "checklist_form": forms.ChecklistForm(
                substances=selectors.avoid_substances(practice),
                open_alert=open_alert,
                initial=_checklist_initial(checklist),
            ),
            "plan_form": forms.SafetyPlanForm(initial=_plan_initial(plan)),
            "predose_form": forms.VitalsForm(
                initial={"phase": VitalsReading.Phase.PRE_DOSE}, prefix="pre", spo2_required_for=spo2_for
            ),
            "vitals_form": forms.VitalsForm(
                initial={"phase": VitalsReading.Phase.IN_SESSION}, spo2_required_for=spo2_for
            ),
            "dose_form": forms.DoseForm(
                client=client,
                visit=visit,
                initial={
                    "given_by": request.user,
                    "order": doses[0].order if doses else None,
                    "route": doses[0].route if doses else None,
                },
            ),
            "rating_form": forms.RatingForm(),
            "event_form": forms.AdverseEventForm(),
            "note_form": forms.NoteForm(),
            "chaperone_form": forms.ChaperoneForm(initial={"chaperone_present": True, "client_ok": True}),
            "discharge_form": forms.DischargeForm(),
            "addendum_form": forms.AddendumForm(),
            "integration_ack_form": forms.IntegrationAckForm(),
            # Intranasal esketamine in this session: a prescriber on site is recorded here.
            "esketamine": doses_mod.INTRANASAL in session_routes,
            "prescribers_on_site": list(book.prescribers_on_site.select_related("prescriber", "recorded_by"))
            if book
            else [],
            "onsite_form": forms.PrescriberOnSiteForm(initial={"prescriber": request.user}),
            "integration_gate": next(gate for gate in context["gates"] if gate.key == "integration"),
            "override_review": selectors.override_review_of(book),
            # The prescriber's conditions of clearance ("hold lorazepam the night before"): the day
            # of the session is when they matter. Only a clearance in force: a revoked or expired
            # one is the readiness strip's news (the clearance gate), not a list to check.
            "clearance": _in_force(medical_gates.current_clearance(client)),
        }
    )
    context.update(_integration(request, client, visit))
    context.update(bound or {})
    template = "dosing/_runbook.html" if request.htmx else "dosing/runbook.html"
    return render(request, template, context)


def _integration(request, client, visit) -> dict:
    """After the session: its integration's standing, with the proposed hours to book."""
    if visit.status != Visit.Status.COMPLETED:
        return {}
    answers = client_standings(client, practice=practice_for(request))
    return {"integration": next((answer for answer in answers if answer.session.pk == visit.pk), None)}


def _checklist_initial(checklist) -> dict:
    """A new checklist starts from the one in force, so a correction changes only what changed."""
    if checklist is None:
        return {}
    return {
        "transport_without_driving": checklist.transport_without_driving,
        "transport_detail": checklist.transport_detail,
        "last_food": timezone.localtime(checklist.last_food_at).time(),
        "last_liquid": timezone.localtime(checklist.last_liquid_at).time(),
        "substances": checklist.substances,
        "pregnancy": checklist.pregnancy,
        "new_medications": checklist.new_medications,
        "suicidality_alert_reviewed": checklist.suicidality_alert_reviewed,
    }


def _plan_initial(plan) -> dict:
    if plan is None:
        return {}
    return {name: getattr(plan, name) for name in forms.SafetyPlanForm.base_fields}


def _back(request, client, visit):
    """After a write: the refreshed runbook body for htmx (swapped in place), else a redirect."""
    if request.htmx:
        return _page(request, client.pk, visit.pk)
    return redirect("dosing:runbook", client.pk, visit.pk)


def _again(request, client_id, visit_id, key: str, form, *, refused: RunbookRefused | None = None):
    """The runbook again, with the form that could not be saved still holding what was typed
    and saying what to fix: nothing a clinician types is lost to an error or a refusal. A
    refusal is said in the form that was sent, where the eye and the focus are, as well as in
    the page's news (the form may not be shown: a record signed meanwhile)."""
    if refused is not None:
        _refused(request, refused)
        for problem in refused.problems:
            form.add_error(None, problem)
    return _page(request, client_id, visit_id, bound={key: form})


def _simple_entry(request, client_id, visit_id, form_class, save, done: str, *, key: str):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = form_class(request.POST)
    if not form.is_valid():
        return _again(request, client_id, visit_id, key, form)
    try:
        save(form, visit)
    except RunbookRefused as refused:
        return _again(request, client_id, visit_id, key, form, refused=refused)
    else:
        messages.success(request, done)
    return _back(request, client, visit)


def _in_force(clearance):
    return clearance if clearance is not None and clearance.is_current() else None
