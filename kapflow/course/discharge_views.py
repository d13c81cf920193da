"""The discharge pages (docs/course.md, "Discharge"): the client's discharge records, writing a
draft with the summary's facts shown as they stand, signing it, and the signed summary. Every
page is the client's clinicians' only (Need.CLINICAL: coordinators and admins get 404); writing
and signing are for a therapist or prescriber on the care team, and anyone else gets 404 as for
a client outside their care (docs/access.md)."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import clinical_banner_for
from kapflow.course import discharge as discharges
from kapflow.course.discharge_forms import DischargeForm
from kapflow.course.models import Discharge
from kapflow.integration.models import ActionItem
from kapflow.letters.models import Letter
from kapflow.practice.models import practice_for

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)

NOT_SAVED = "The discharge was not saved: see below. What you typed is kept."


def _writer_client(request, client_id, *, action: str):
    client = clinical_banner_for(request, client_id, action=action)
    if not discharges.may_write(request.user, client):
        raise Http404("No such client.")
    return client


def _discharge(client, discharge_id) -> Discharge:
    discharge = discharges.discharge_for(client, discharge_id)
    if discharge is None:
        raise Http404("No such discharge.")
    return discharge


def _form(request, client, *, instance: Discharge | None = None, data=None) -> DischargeForm:
    initial = {} if instance is not None else {"discharged_on": timezone.localdate()}
    return DischargeForm(
        data,
        instance=instance,
        initial=initial,
        first_visit=discharges.first_visit_on(client),
        providers=client.outside_providers.all(),
    )


@require_GET
@staff_view()
def discharge_list(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.course.discharges.viewed")
    return render(
        request,
        "course/discharge_list.html",
        {
            "client": client,
            "discharges": discharges.discharges_for(client),
            "may_write": discharges.may_write(request.user, client),
            "dischargeable": client.stage in discharges.DISCHARGEABLE,
        },
    )


@clinician_view
def discharge_new(request, client_id):
    """The form for a new draft, beside the summary's facts as they stand. A draft already open
    is where this leads instead."""
    client = _writer_client(request, client_id, action="kapflow.course.discharge.opened")
    draft = discharges.open_draft(client)
    if draft is not None:
        messages.info(request, "A discharge draft is open already: here it is.")
        return redirect("course:discharge_detail", client.pk, draft.pk)
    dischargeable = client.stage in discharges.DISCHARGEABLE
    form = _form(request, client, data=request.POST if request.method == "POST" and dischargeable else None)
    if request.method == "POST" and dischargeable:
        if form.is_valid():
            try:
                draft = discharges.discharge_draft(request=request, client=client, **form.cleaned_data)
            except discharges.DischargeRefused as refused:
                form.add_error(None, refused.reason)
            else:
                messages.success(request, "Draft saved. Read the summary through, then sign it.")
                return redirect("course:discharge_detail", client.pk, draft.pk)
        messages.error(request, NOT_SAVED)
    return render(
        request,
        "course/discharge_form.html",
        {
            "client": client,
            "form": form,
            "dischargeable": dischargeable,
            "facts": discharges.draft_facts(client, practice_for(request)) if dischargeable else None,
        },
    )


@staff_view()
def discharge_detail(request, client_id, discharge_id):
    """A signed discharge's summary, or a draft: its form (for those who may write it), the
    summary's facts as they stand, and the way to sign."""
    client = clinical_banner_for(request, client_id, action="kapflow.course.discharge.viewed")
    discharge = _discharge(client, discharge_id)
    may_write = discharges.may_write(request.user, client)
    if discharge.is_signed:
        if request.method == "POST":
            messages.error(request, "This discharge is signed: it cannot be changed.")
            return redirect("course:discharge_detail", client.pk, discharge.pk)
        return render(
            request,
            "course/discharge_summary.html",
            {
                "client": client,
                "discharge": discharge,
                "facts": discharge.facts,
                # Kept at signing; a record signed without them (the demo's) shows today's text.
                "crisis_resources": discharge.facts.get("crisis_resources")
                or practice_for(request).crisis_resources,
                "crisis_kept": bool(discharge.facts.get("crisis_resources")),
                "may_write": may_write,
                "letter_kind": Letter.Kind.DISCHARGE,
            },
        )
    if request.method == "POST" and not may_write:
        raise Http404("No such discharge.")
    form = _form(request, client, instance=discharge, data=request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                discharges.discharge_update(request=request, discharge=discharge, **form.cleaned_data)
            except discharges.DischargeRefused as refused:
                form.add_error(None, refused.reason)
            else:
                messages.success(request, "Draft saved.")
                return redirect("course:discharge_detail", client.pk, discharge.pk)
        messages.error(request, NOT_SAVED)
    return _draft_page(request, client, discharge, form, may_write=may_write)


def _draft_page(request, client, discharge: Discharge, form, *, may_write: bool):
    return render(
        request,
        "course/discharge_draft.html",
        {
            "client": client,
            "discharge": discharge,
            "form": form,
            "may_write": may_write,
            "facts": discharges.draft_facts(client, practice_for(request)),
            # Signing leaves them as they are; the summary says they are carried forward.
            "open_action_items": client.action_items.filter(status__in=ActionItem.STILL_OPEN).count(),
        },
    )


@require_POST
@clinician_view
def discharge_sign(request, client_id, discharge_id):
    """Sign a draft. The sign button sends the draft's form, so what is typed there is saved
    first and is what is signed; a form with errors comes back with them, as typed."""
    client = _writer_client(request, client_id, action="kapflow.course.discharge.opened")
    discharge = _discharge(client, discharge_id)
    if discharge.is_signed:
        messages.error(request, "This discharge is signed already.")
        return redirect("course:discharge_detail", client.pk, discharge.pk)
    practice = practice_for(request)
    try:
        if "reason" in request.POST:
            form = _form(request, client, instance=discharge, data=request.POST)
            if not form.is_valid():
                messages.error(request, "The discharge was not signed: see below. What you typed is kept.")
                return _draft_page(request, client, discharge, form, may_write=True)
            discharges.discharge_update(request=request, discharge=discharge, **form.cleaned_data)
        signed = discharges.discharge_sign(request=request, discharge=discharge, practice=practice)
    except discharges.DischargeRefused as refused:
        messages.error(request, refused.reason)
        return redirect("course:discharge_detail", client.pk, discharge.pk)
    messages.success(
        request,
        f"Signed. {client.display_name} is discharged; the course plan has ended, the medication "
        "sessions still to come are cancelled and the open forms withdrawn.",
    )
    return redirect("course:discharge_detail", client.pk, signed.pk)
