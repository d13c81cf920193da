"""What is recorded while the session runs: ratings, adverse events, notes, phases and chaperone
check-ins."""

from django.contrib import messages
from django.views.decorators.http import require_POST

from kapflow.dosing import forms
from kapflow.dosing.services import session
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import _refused, _target, runbook_view
from kapflow.dosing.views.page import _back, _simple_entry


@require_POST
@runbook_view
def rating_add(request, client_id, visit_id):
    def save(form, visit):
        session.rating_record(
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
        session.adverse_event_record(
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
        session.note_record(
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
def phase(request, client_id, visit_id):
    """A "begin this phase now" button: nothing typed but the phase, so a bad request is said in a
    message over the runbook rather than on a form the page does not show."""
    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.PhaseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That phase could not be marked: use the phase buttons on the runbook.")
        return _back(request, client, visit)
    try:
        session.phase_mark(
            request=request,
            actor=request.user,
            visit=visit,
            phase=form.cleaned_data["phase"],
            started_at=form.moment(),
        )
    except RunbookRefused as refused:
        _refused(request, refused)
    else:
        messages.success(request, "Phase marked.")
    return _back(request, client, visit)


@require_POST
@runbook_view
def chaperone(request, client_id, visit_id):
    def save(form, visit):
        data = form.cleaned_data
        checkin = session.chaperone_checkin_record(
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
