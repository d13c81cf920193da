"""The medication-session runbook: one page for the day of a medication visit, for the client's
clinicians. Each form saves one entry and comes back to the page."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, client_chart_for, client_for
from kapflow.dosing import forms, rules, selectors, services
from kapflow.dosing.models import VitalsReading
from kapflow.lib.gates import Status
from kapflow.practice.models import practice_for
from kapflow.visits.models import Visit

# Any staff role may ask; only the client's clinicians are answered (Need.CLINICAL): a
# coordinator or an admin gets 404, as for a client outside their care.
runbook_view = staff_view()


def _medication_visit(client, visit_id) -> Visit:
    return get_object_or_404(
        client.visits.select_related("clinician"), pk=visit_id, kind=Visit.Kind.MEDICATION
    )


def _target(request, client_id, visit_id, *, action: str):
    client = client_for(request, client_id, need=Need.CLINICAL, action=action)
    return client, _medication_visit(client, visit_id)


def _back(client, visit):
    return redirect("dosing:runbook", client.pk, visit.pk)


def _refused(request, refused: services.RunbookRefused) -> None:
    for problem in refused.problems:
        messages.error(request, problem)


@runbook_view
def runbook(request, client_id, visit_id):
    return _page(request, client_id, visit_id)


def _again(request, client_id, visit_id, key: str, form):
    """The runbook again, with the form that could not be saved still holding what was typed
    and saying what to fix: nothing a clinician types is lost to an error or a refusal."""
    return _page(request, client_id, visit_id, bound={key: form})


def _page(request, client_id, visit_id, *, bound=None):
    client = client_chart_for(request, client_id, need=Need.CLINICAL, action="kapflow.dosing.runbook.viewed")
    visit = _medication_visit(client, visit_id)
    practice = practice_for(request)
    now = timezone.now()
    book = selectors.runbook_of(visit)
    vitals = list(book.vitals.select_related("recorded_by")) if book else []
    doses = list(book.administrations.select_related("order", "given_by")) if book else []
    gate = selectors.predose_gate(book, now=now, practice=practice)
    # The objective criteria still unmet; the clinician's observations are ticked on the form.
    objective = selectors.discharge_state(
        book, alert_and_oriented=True, steady_on_feet=True, escort_present=True
    )
    context = {
        "client": client,
        "visit": visit,
        "book": book,
        "locked": bool(book and book.is_locked),
        "vitals": vitals,
        "alerting": [reading for reading in vitals if reading.alerts],
        "latest": vitals[-1] if vitals else None,
        "latest_alerts": vitals[-1].alerts if vitals else [],
        "doses": doses,
        "ratings": list(book.ratings.select_related("recorded_by")) if book else [],
        "events": list(book.adverse_events.select_related("recorded_by")) if book else [],
        "notes": list(book.notes.select_related("author")) if book else [],
        "addenda": list(book.addenda.select_related("author")) if book else [],
        "gate": gate,
        "needs_ack": gate.status is Status.ACKNOWLEDGE,
        "clock": selectors.session_clock(book, now=now, practice=practice),
        "unmet": rules.discharge_unmet(objective, now=now, practice=practice),
        "practice": practice,
        "predose_form": forms.VitalsForm(initial={"phase": VitalsReading.Phase.PRE_DOSE}, prefix="pre"),
        "vitals_form": forms.VitalsForm(initial={"phase": VitalsReading.Phase.IN_SESSION}),
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
        "discharge_form": forms.DischargeForm(),
        "addendum_form": forms.AddendumForm(),
    }
    context.update(bound or {})
    return render(request, "dosing/runbook.html", context)


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
        )
    except services.RunbookRefused as refused:
        _refused(request, refused)
        return _again(request, client_id, visit_id, key, form)
    else:
        if reading.alerts:
            for alert in reading.alerts:
                messages.error(request, f"ALERT: {alert}")
        else:
            messages.success(request, f"Vitals {reading} saved.")
    return _back(client, visit)


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
    return _back(client, visit)


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
            practice=practice_for(request),
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
    return _back(client, visit)


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
    return _back(client, visit)


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
    return _back(client, visit)


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
