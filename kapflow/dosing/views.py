"""The medication-session runbook: one page for the day of a medication visit, for the client's
clinicians. Each form saves one entry and comes back to the page."""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, client_chart_for, client_for
from kapflow.dosing import alerts, forms, rules, selectors, services
from kapflow.dosing.models import AdverseEvent, VitalsReading
from kapflow.integration.window import INTEGRATION_MINUTES, client_standings
from kapflow.lib.gates import Status
from kapflow.measures.selectors import measures_before_session
from kapflow.medical import doses as doses_mod
from kapflow.medical import routes
from kapflow.practice.models import practice_for
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit
from kapflow.visits.views.visits import safe_next

# Any staff role may ask; only the client's clinicians are answered (Need.CLINICAL): a
# coordinator or an admin gets 404, as for a client outside their care.
runbook_view = staff_view()
# The prescriber's reviews of adverse events and discharge overrides.
prescriber_view = staff_view(Role.PRESCRIBER)


def _medication_visit(client, visit_id) -> Visit:
    return get_object_or_404(
        client.visits.select_related("clinician"), pk=visit_id, kind=Visit.Kind.MEDICATION
    )


def _target(request, client_id, visit_id, *, action: str):
    client = client_for(request, client_id, need=Need.CLINICAL, action=action)
    return client, _medication_visit(client, visit_id)


def _back(request, client, visit):
    """After a write: the refreshed runbook body for htmx (swapped in place), else a redirect."""
    if request.htmx:
        return _page(request, client.pk, visit.pk)
    return redirect("dosing:runbook", client.pk, visit.pk)


def _refused(request, refused: services.RunbookRefused) -> None:
    for problem in refused.problems:
        messages.error(request, problem)


@runbook_view
def runbook(request, client_id, visit_id):
    return _page(request, client_id, visit_id)


@runbook_view
def live(request, client_id, visit_id):
    """The parts of the runbook that move with the clock (the readiness strip, alerts, the clock,
    the phases), refreshed in place every 30 s; they hold no typed input."""
    client = client_chart_for(
        request, client_id, need=Need.CLINICAL, action="kapflow.dosing.runbook.refreshed"
    )
    visit = _medication_visit(client, visit_id)
    return render(request, "dosing/_live.html", _live_context(request, client, visit))


def _again(request, client_id, visit_id, key: str, form):
    """The runbook again, with the form that could not be saved still holding what was typed
    and saying what to fix: nothing a clinician types is lost to an error or a refusal."""
    return _page(request, client_id, visit_id, bound={key: form})


def _live_context(request, client, visit, book=None, *, fetched: bool = False) -> dict:
    practice = practice_for(request)
    now = timezone.now()
    if not fetched:
        book = selectors.runbook_of(visit)
    gates = selectors.day_of_gates(visit, book, now=now, practice=practice)
    vitals_gate = next(gate for gate in gates if gate.key == "vitals")
    checklist = selectors.latest_checklist(book)
    latest = book.vitals.order_by("-taken_at", "-pk").first() if book else None
    phases = selectors.phase_times(book, now=now, practice=practice)
    return {
        "client": client,
        "visit": visit,
        "book": book,
        "locked": bool(book and book.is_locked),
        "discharged": bool(book and book.discharged_at),
        "practice": practice,
        "now": now,
        "gates": gates,
        "needs_ack": vitals_gate.status is Status.ACKNOWLEDGE,
        "meds_to_review": bool(
            checklist and checklist.new_medication_list() and checklist.medications_reviewed_by_id is None
        ),
        "latest": latest,
        "latest_alerts": latest.alerts if latest else [],
        "clock": selectors.session_clock(book, now=now, practice=practice),
        "chaperone_clock": selectors.chaperone_clock(visit, book, now=now, practice=practice),
        "phases": phases,
        # The phase that may be marked next: the first not begun, once the one before it has.
        "next_phase": next(
            (
                phase.key
                for before, phase in zip([None, *phases], phases, strict=False)
                if phase.started_at is None and (before is None or before.started_at is not None)
            ),
            None,
        ),
        "started": visit.status == Visit.Status.IN_PROGRESS,
        # In-session alerts and who was told (kapflow.dosing.alerts): refreshed with the clock.
        "session_alerts": alerts.runbook_alerts(book),
        "emergency_calls": alerts.emergency_calls(book),
    }


def _integration(request, client, visit) -> dict:
    """After the session: its integration's standing, with the proposed hours to book."""
    if visit.status != Visit.Status.COMPLETED:
        return {}
    answers = client_standings(client, practice=practice_for(request))
    return {"integration": next((answer for answer in answers if answer.session.pk == visit.pk), None)}


def _page(request, client_id, visit_id, *, bound=None):
    client = client_chart_for(request, client_id, need=Need.CLINICAL, action="kapflow.dosing.runbook.viewed")
    visit = _medication_visit(client, visit_id)
    if request.method == "GET":
        # A prescriber opening the runbook has seen its alerts (not the 30 s refresh: a tab left
        # open in the background is not someone looking).
        alerts.session_alerts_seen(actor=request.user, visit=visit, request=request)
    practice = practice_for(request)
    now = timezone.now()
    book = selectors.runbook_of(visit)
    context = _live_context(request, client, visit, book, fetched=True)
    session_routes = services.session_routes(book, visit, day=timezone.localdate(visit.starts_at))
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
    # The objective criteria still unmet; the clinician's observations are ticked on the form.
    objective = selectors.discharge_state(
        book, alert_and_oriented=True, steady_on_feet=True, escort_present=True
    )
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
            "unmet": rules.discharge_unmet(objective, now=now, practice=practice),
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
        }
    )
    context.update(_integration(request, client, visit))
    context.update(bound or {})
    template = "dosing/_runbook.html" if request.htmx else "dosing/runbook.html"
    return render(request, template, context)


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


@require_POST
@runbook_view
def vitals_add(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    prefix = "pre" if "pre-phase" in request.POST else None
    key = "predose_form" if prefix else "vitals_form"
    form = forms.VitalsForm(request.POST, prefix=prefix)
    if not form.is_valid():
        return _again(request, client_id, visit_id, key, form)
    data = form.cleaned_data
    try:
        reading = services.vitals_record(
            request=request,
            actor=request.user,
            visit=visit,
            phase=data["phase"],
            taken_at=form.moment(),
            systolic=data["systolic"],
            diastolic=data["diastolic"],
            heart_rate=data["heart_rate"],
            spo2=data["spo2"],
            practice=practice_for(request),
            entry_key=data["entry_key"],
        )
    except services.SpO2Required as refused:
        form.add_error("spo2", refused.problems[0])
        return _again(request, client_id, visit_id, key, form)
    except services.RunbookRefused as refused:
        _refused(request, refused)
        return _again(request, client_id, visit_id, key, form)
    else:
        if reading.alerts:
            for alert in reading.alerts:
                messages.error(request, f"ALERT: {alert}")
        else:
            messages.success(request, f"Vitals {reading} saved.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def caution_ack(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    try:
        services.caution_acknowledge(
            request=request, actor=request.user, visit=visit, practice=practice_for(request)
        )
    except services.RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, "Caution reading acknowledged: the dose may be given.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def dose_add(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.DoseForm(request.POST, client=client)
    if not form.is_valid():
        return _again(request, client_id, visit_id, "dose_form", form)
    data = form.cleaned_data
    try:
        given = services.dose_record(
            request=request,
            actor=request.user,
            visit=visit,
            order=data["order"],
            given_at=form.moment(),
            route=data["route"],
            dose_mg=data["dose_mg"],
            lot_number=data["lot_number"],
            given_by=data["given_by"],
            self_administered=data["self_administered"],
            practice=practice_for(request),
            entry_key=data["entry_key"],
        )
    except services.RunbookRefused as refused:
        _refused(request, refused)
        # A refused dose of a controlled substance leaves a trace of its own.
        audit_record(
            request=request,
            action="kapflow.dosing.dose.refused",
            client=client,
            obj=visit,
            detail={"order": data["order"].pk},
        )
        return _again(request, client_id, visit_id, "dose_form", form)
    else:
        messages.success(request, f"{'Booster' if given.is_booster else 'Dose'} recorded.")
    return _back(request, client, visit)


def _simple_entry(request, client_id, visit_id, form_class, save, done: str, *, key: str):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = form_class(request.POST)
    if not form.is_valid():
        return _again(request, client_id, visit_id, key, form)
    try:
        save(form, visit)
    except services.RunbookRefused as refused:
        _refused(request, refused)
        return _again(request, client_id, visit_id, key, form)
    else:
        messages.success(request, done)
    return _back(request, client, visit)


@require_POST
@runbook_view
def prescriber_on_site(request, client_id, visit_id):
    """Record which prescriber is on site (intranasal esketamine needs one)."""

    def save(form, visit):
        services.prescriber_on_site_record(
            request=request,
            actor=request.user,
            visit=visit,
            prescriber=form.cleaned_data["prescriber"],
            on_site_at=form.moment(),
        )

    return _simple_entry(
        request,
        client_id,
        visit_id,
        forms.PrescriberOnSiteForm,
        save,
        "Prescriber on site recorded.",
        key="onsite_form",
    )


@require_POST
@runbook_view
def rating_add(request, client_id, visit_id):
    def save(form, visit):
        services.rating_record(
            request=request,
            actor=request.user,
            visit=visit,
            rated_at=form.moment(),
            sedation=form.cleaned_data["sedation"],
            dissociation=form.cleaned_data["dissociation"],
            entry_key=form.cleaned_data["entry_key"],
        )

    return _simple_entry(
        request, client_id, visit_id, forms.RatingForm, save, "Rating saved.", key="rating_form"
    )


@require_POST
@runbook_view
def adverse_event_add(request, client_id, visit_id):
    def save(form, visit):
        data = form.cleaned_data
        services.adverse_event_record(
            request=request,
            actor=request.user,
            visit=visit,
            noted_at=form.moment(),
            kind=data["kind"],
            severity=data["severity"],
            action_taken=data["action_taken"],
            entry_key=data["entry_key"],
        )

    return _simple_entry(
        request, client_id, visit_id, forms.AdverseEventForm, save, "Adverse event saved.", key="event_form"
    )


@require_POST
@runbook_view
def note_add(request, client_id, visit_id):
    def save(form, visit):
        services.note_record(
            request=request,
            actor=request.user,
            visit=visit,
            written_at=form.moment(),
            text=form.cleaned_data["text"],
            entry_key=form.cleaned_data["entry_key"],
        )

    return _simple_entry(request, client_id, visit_id, forms.NoteForm, save, "Note saved.", key="note_form")


@require_POST
@runbook_view
def discharge(request, client_id, visit_id):
    def save(form, visit):
        data = form.cleaned_data
        services.discharge_record(
            request=request,
            actor=request.user,
            visit=visit,
            alert_and_oriented=data["alert_and_oriented"],
            steady_on_feet=data["steady_on_feet"],
            escort_present=data["escort_present"],
            override_reason=data["override_reason"],
            practice=practice_for(request),
        )

    return _simple_entry(
        request, client_id, visit_id, forms.DischargeForm, save, "Discharge recorded.", key="discharge_form"
    )


@require_POST
@runbook_view
def sign(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    try:
        services.runbook_sign(request=request, actor=request.user, visit=visit)
    except services.RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, "Session record signed and locked.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def addendum(request, client_id, visit_id):
    def save(form, visit):
        services.addendum_add(
            request=request, actor=request.user, visit=visit, text=form.cleaned_data["text"]
        )

    return _simple_entry(
        request, client_id, visit_id, forms.AddendumForm, save, "Addendum added.", key="addendum_form"
    )


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
        services.session_start(
            request=request, actor=request.user, visit=visit, practice=practice_for(request)
        )
    except services.RunbookRefused as refused:
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
        services.checklist_record(
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
    except services.RunbookRefused as refused:
        _refused(request, refused)
        return _again(request, client_id, visit_id, "checklist_form", form)
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
        services.medications_review(request=request, actor=request.user, visit=visit)
    except services.RunbookRefused as refused:
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
        services.safety_plan_record(request=request, actor=request.user, visit=visit, **form.cleaned_data)
    except services.RunbookRefused as refused:
        _refused(request, refused)
        return _again(request, client_id, visit_id, "plan_form", form)
    gate = selectors.safety_plan_gate(visit)
    if gate.passed:
        messages.success(request, "Safety plan saved: it passes.")
    else:
        messages.warning(request, f"Safety plan saved, but the session cannot start yet. {gate.reason}")
    return _back(request, client, visit)


@require_POST
@runbook_view
def phase(request, client_id, visit_id):
    """A "begin this phase now" button: nothing typed but the phase, so a bad request is said in a
    message over the runbook rather than on a form the page does not show."""
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.PhaseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That phase could not be marked: use the phase buttons on the runbook.")
        return _back(request, client, visit)
    try:
        services.phase_mark(
            request=request,
            actor=request.user,
            visit=visit,
            phase=form.cleaned_data["phase"],
            started_at=form.moment(),
        )
    except services.RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, "Phase marked.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def chaperone(request, client_id, visit_id):
    def save(form, visit):
        data = form.cleaned_data
        checkin = services.chaperone_checkin_record(
            request=request,
            actor=request.user,
            visit=visit,
            checked_at=form.moment(),
            chaperone_present=data["chaperone_present"],
            client_ok=data["client_ok"],
            note=data["note"],
            entry_key=data["entry_key"],
        )
        if checkin.concerning:
            messages.error(
                request,
                "ALERT: the chaperone is not present or the client is not OK — act on the safety plan.",
            )

    return _simple_entry(
        request,
        client_id,
        visit_id,
        forms.ChaperoneForm,
        save,
        "Chaperone check-in saved.",
        key="chaperone_form",
    )


@require_POST
@runbook_view
def integration_book(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.IntegrationBookForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the proposed times.")
        return _back(request, client, visit)
    try:
        booked = services.integration_book(
            request=request,
            actor=request.user,
            visit=visit,
            starts_at=form.cleaned_data["starts_at"],
            minutes=INTEGRATION_MINUTES,
        )
    except services.RunbookRefused as refused:
        _refused(request, refused)
    else:
        when = timezone.localtime(booked.starts_at)
        messages.success(request, f"Integration session booked for {when:%a %b} {when.day}, {when:%H:%M}.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def integration_ack(request, client_id, visit_id):
    def save(form, visit):
        services.integration_acknowledge(
            request=request,
            actor=request.user,
            visit=visit,
            reason=form.cleaned_data["reason"],
            practice=practice_for(request),
        )

    return _simple_entry(
        request,
        client_id,
        visit_id,
        forms.IntegrationAckForm,
        save,
        "Acknowledged: the session may go ahead; book the integration after it.",
        key="integration_ack_form",
    )


def _after_review(request, client, visit):
    """Back where the review was made: the dashboard (a safe `next`) or the runbook."""
    target = safe_next(request)
    if target and not request.htmx:
        return HttpResponseRedirect(target)
    return _back(request, client, visit)


@require_POST
@prescriber_view
def adverse_event_review(request, client_id, visit_id, event_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    event = get_object_or_404(AdverseEvent, pk=event_id, runbook__visit=visit)
    form = forms.ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The review note is too long (at most 1000 characters).")
        return _after_review(request, client, visit)
    try:
        services.adverse_event_review(
            request=request, actor=request.user, event=event, note=form.cleaned_data["note"]
        )
    except services.RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, f"Adverse event reviewed: {event} in {client.display_name}'s session.")
    return _after_review(request, client, visit)


@require_POST
@prescriber_view
def discharge_override_review(request, client_id, visit_id):
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The review note is too long (at most 1000 characters).")
        return _after_review(request, client, visit)
    try:
        services.discharge_override_review(
            request=request, actor=request.user, visit=visit, note=form.cleaned_data["note"]
        )
    except services.RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, f"Discharge override reviewed for {client.display_name}'s session.")
    return _after_review(request, client, visit)
