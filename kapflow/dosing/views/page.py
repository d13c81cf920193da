"""The medication-session runbook: one page for the day of a medication visit, for the client's
clinicians. Each form saves one entry and comes back to the page (kapflow.dosing.views.*), with
the form that could not be saved still holding what was typed."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from kapflow.clients.access import clinical_banner_for
from kapflow.course.reviews import session_label
from kapflow.dosing import alerts, forms, selectors
from kapflow.dosing.models import VitalsReading
from kapflow.dosing.services import administration, waste
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views import rems as rems_view
from kapflow.dosing.views import supply as supply_view
from kapflow.dosing.views.base import VIEWED_ACTION, _refused, _target, runbook_view
from kapflow.dosing.views.live import _live_context, _open_suicidality_alert
from kapflow.measures.selectors import measures_before_session
from kapflow.medical import doses as doses_mod
from kapflow.medical import gates as medical_gates
from kapflow.medical import routes
from kapflow.notes import intentions
from kapflow.notes.intention_forms import STAFF_HELP, STAFF_LABEL, IntentionForm
from kapflow.pathway.course import position
from kapflow.practice.models import practice_for
from kapflow.visits.models import Visit


@runbook_view
def runbook(request, client_id, visit_id):
    return _page(request, client_id, visit_id)


def _page(request, client_id, visit_id, *, bound=None):
    # The client with what its banner shows (client_banner_for): all the runbook shows of the
    # chart (not its care team, outside providers or inquiry, which client_chart_for reads).
    client = clinical_banner_for(request, client_id, action=VIEWED_ACTION)
    # The visit and its runbook, which RunbookRecord takes from it, and the client's integration
    # visits (the integration gate's booking, a completed session's integration), in one query.
    visit, integration_visits = selectors.runbook_visits(client, visit_id)
    if request.method == "GET":
        # A prescriber opening the runbook has seen its alerts (not the 30 s refresh: a tab left
        # open in the background is not someone looking).
        alerts.session_alerts_seen(actor=request.user, visit=visit, request=request)
    practice = practice_for(request)
    # Every row of the runbook read once (one query for each kind), shared with the live panel,
    # and the people its rows name in one more (none for a runbook with no rows yet): only
    # those, not the whole care team, whose active prescribers are read only for an in-session
    # alert to say who it waits for (live._prescribers_of).
    record = selectors.RunbookRecord(visit, full=True)
    record.integration_visits = integration_visits
    book = record.book
    events = record.events
    reviews = record.reviews
    for event in events:
        event.safety_review = reviews.get(event.pk)
    context = _live_context(request, client, visit, record, reviews=reviews)
    vitals, doses = record.vitals, record.doses
    # What each dose from a lot took from it, and the waste left of it (one query; none when no
    # dose came from a lot): the dose table and the waste list read them (dosing/_waste.html).
    wastes = waste.dose_ledger(doses)
    checklist = record.checklist
    plan = record.plan if visit.is_virtual else None
    open_alert = _open_suicidality_alert(client)
    locked = context["locked"]
    # The routes of this session (administration.session_routes): those of the doses given,
    # else of the client's orders in force on the day.
    session_routes = [dose.route for dose in doses] or administration.session_routes(
        None, visit, day=timezone.localdate(visit.starts_at)
    )
    context.update(
        {
            "vitals": vitals,
            "predose_vitals": [
                reading for reading in vitals if reading.phase == VitalsReading.Phase.PRE_DOSE
            ],
            "doses": doses,
            "wastes": wastes,
            "vitals_rows": _vitals_rows(vitals) if doses else "",
            "ratings": record.ratings,
            "events": events,
            "notes": record.notes,
            "addenda": record.addenda,
            "checkins": record.checkins,
            "before_session": measures_before_session(visit, practice=practice),
            "course_label": session_label(position(client), visit),
            "checklist": checklist,
            "checklist_count": len(record.checklists),
            "plan": plan,
            "plan_count": len(record.plans) if visit.is_virtual else 0,
            "open_alert": open_alert,
            "can_check_in": visit.status == Visit.Status.SCHEDULED and context["may_record"],
            "can_start": visit.status == Visit.Status.CHECKED_IN and context["may_record"],
            # Intranasal esketamine in this session: a prescriber on site is recorded here.
            "esketamine": doses_mod.INTRANASAL in session_routes,
            "prescribers_on_site": record.prescribers_on_site,
            "integration_gate": next(gate for gate in context["gates"] if gate.key == "integration"),
            "override_review": selectors.override_review_of(book),
            # The prescriber's conditions of clearance ("hold lorazepam the night before"): the day
            # of the session is when they matter. Only a clearance in force: a revoked or expired
            # one is the readiness strip's news (the clearance gate), not a list to check.
            "clearance": _in_force(medical_gates.current_clearance(client)),
        }
    )
    if locked:
        # A signed record is read-only: its one form is the addendum (the template shows no
        # other; a form sent meanwhile comes back in `bound`, below, with its refusal).
        context["addendum_form"] = forms.AddendumForm()
    elif context["may_record"]:
        context.update(_entry_forms(request, client, visit, practice, record, open_alert, session_routes))
    context.update(_integration(request, client, visit, integration_visits))
    context.update(_intentions(request, client, visit, locked=locked, may_record=context["may_record"]))
    # The Spravato REMS monitoring form of an esketamine session (kapflow.dosing.views.rems).
    context.update(
        rems_view.section(request, visit, record, practice, locked=locked, may_record=context["may_record"])
    )
    # Client-held medicine counted with the client (kapflow.dosing.views.supply).
    context.update(
        supply_view.supply_context(
            visit=visit,
            record=record,
            session_alerts=context["session_alerts"],
            locked=locked,
            may_record=context["may_record"],
        )
    )
    for key, form in (bound or {}).items():
        # A form that came back (with what was typed and what to fix) is shown as it is.
        context[key] = form
    template = "dosing/_runbook.html" if request.htmx else "dosing/runbook.html"
    return render(request, template, context)


def _vitals_rows(vitals) -> str:
    """The rows of the vitals table (shown once a dose is given), as the template wrote them: a
    row per reading, and under a reading with alerts a row of its alerts. Built here rather than
    by a template loop, which took milliseconds for a long session's forty readings, and as
    plain strings with each value escaped, as format_html escaped it (format_html per row cost
    half a millisecond more for those forty readings); the numbers are the template's (no
    thousands in a reading)."""
    rows = []
    for reading in vitals:
        predose = reading.phase == VitalsReading.Phase.PRE_DOSE
        rows.append(
            '<tr class="{}{}"><td>{}{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>\n  '.format(
                "runbook-row--alert" if reading.alerts else "",
                " runbook-row--predose" if predose else "",
                f"{timezone.localtime(reading.taken_at):%H:%M}",
                _PREDOSE_TAG if predose else "",
                escape(reading.systolic),
                escape(reading.diastolic),
                escape(reading.heart_rate),
                escape(reading.spo2 or "—"),
            )
        )
        if reading.alerts:
            rows.append(
                '<tr class="runbook-row--alert runbook-row--reasons"><td colspan="4">'
                '<span class="visually-hidden">Alerts: </span>'
                + "".join(f'<span class="runbook-reason">{escape(alert)}</span> ' for alert in reading.alerts)
                + "</td></tr>"
            )
    return mark_safe("".join(rows))  # noqa: S308 (every value in the rows escaped above)


_PREDOSE_TAG = ' <span class="runbook-tag">pre-dose</span>'


def _entry_forms(request, client, visit, practice, record, open_alert, session_routes) -> dict:
    """The runbook's forms, empty, for a record still open."""
    doses = record.doses
    spo2_for = " and ".join(
        doses_mod.ROUTE_NAMES[route].lower()
        for route in routes.spo2_routes(session_routes, practice=practice)
    )
    entry = {
        "checklist_form": forms.ChecklistForm(
            substances=selectors.avoid_substances(practice),
            open_alert=open_alert,
            initial=_checklist_initial(record.checklist),
        ),
        "plan_form": forms.SafetyPlanForm(initial=_plan_initial(record.plan if visit.is_virtual else None)),
        "predose_form": forms.VitalsForm(
            initial={"phase": VitalsReading.Phase.PRE_DOSE}, prefix="pre", spo2_required_for=spo2_for
        ),
        "rating_form": forms.RatingForm(),
        "event_form": forms.AdverseEventForm(),
        "note_form": forms.NoteForm(),
        "integration_ack_form": forms.IntegrationAckForm(),
        "onsite_form": forms.PrescriberOnSiteForm(initial={"prescriber": request.user}, client_id=client.pk),
    }
    # The forms dosing/_runbook.html shows only at some point of the session are built only
    # then (on its conditions; a form sent back with an error comes in `bound` whatever the
    # point); the addendum's, only for a signed record, not here.
    started = visit.status == Visit.Status.IN_PROGRESS
    if doses:
        entry["vitals_form"] = forms.VitalsForm(
            initial={"phase": VitalsReading.Phase.IN_SESSION}, spo2_required_for=spo2_for
        )
        if visit.is_virtual:
            entry["chaperone_form"] = forms.ChaperoneForm(
                initial={"chaperone_present": True, "client_ok": True}
            )
    if doses or started:
        entry["discharge_form"] = forms.DischargeForm()
    # The waste of what is left of a dose from a lot (one a dose), until the record is signed,
    # the discharge notwithstanding: the cleaning up comes after (docs/runbook-ledger.md).
    wasted = {dose.pk for dose in doses if any(w.reversed_by is None for w in dose.wastes)}
    if any(dose.lot_id and dose.pk not in wasted for dose in doses):
        entry["waste_form"] = forms.WasteForm(visit=visit, wasted=wasted)
    if started:
        # The costliest of the forms to build (its queryset of the orders in force).
        entry["dose_form"] = forms.DoseForm(
            client=client,
            visit=visit,
            initial={
                "given_by": request.user,
                "order": doses[0].order if doses else None,
                "route": doses[0].route if doses else None,
            },
        )
    return entry


def _integration(request, client, visit, visits) -> dict:
    """After the session: its integration's standing, with the proposed hours to book (`visits`:
    the client's integration visits, read with the visit)."""
    if visit.status != Visit.Status.COMPLETED:
        return {}
    return {
        "integration": selectors.integration_standing(client, visit, visits, practice=practice_for(request))
    }


def _intentions(request, client, visit, *, locked: bool, may_record: bool) -> dict:
    """The opening phase's intention thread (docs/intentions.md): the session's intention, read
    with the visit (intentions.intention_columns); while the record is open, the intentions set
    in the latest preparation sessions (one query) and, for a clinician who records, the form to
    record or update the intention (in the opening reflection, or before the day)."""
    context = {"intention": intentions.intention_shown(visit)}
    if locked:
        return context
    context["preparation_intentions"] = intentions.preparation_intentions(
        client, on_or_before=timezone.localdate(visit.starts_at)
    )
    source = intentions.staff_source(visit)
    if may_record and request.user.is_clinician and intentions.open_for(visit, source):
        context["intention_form"] = IntentionForm(label=STAFF_LABEL, help_text=STAFF_HELP)
    return context


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
