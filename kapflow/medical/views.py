"""The medical pages. Therapists and prescribers on the care team read everything; only a
prescriber (Role.PRESCRIBER) writes clearances and orders, refused with 403 for anyone else
before the client is looked up; a therapist or prescriber files an outside prescriber's clearance
letter or prescription by transcribing it (docs/outside-prescriber.md), and may revoke or
discontinue what was transcribed (a staff prescriber's clearance or order stays a prescriber's
to withdraw: 403 for a therapist, once the client is found theirs). Coordinators and admins
without a clinical role see none of it: the client is reached with Need.CLINICAL, so they get 404."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import clinical_banner_for
from kapflow.documents.models import ChartDocument
from kapflow.medical import gates, screening, services
from kapflow.medical.forms import (
    ClearanceForm,
    ClearanceTranscriptionForm,
    MedicationFormSet,
    OrderForm,
    OrderTranscriptionForm,
    ReasonForm,
    ScreeningForm,
    medications_from,
)
from kapflow.medical.selectors import documents_to_transcribe, medical_summary, outside_prescribers
from kapflow.practice.models import practice_for

prescriber_view = staff_view(Role.PRESCRIBER)
# docs/access.md: the clinicians of the care team file an outside prescriber's documents.
clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)


def _revoke_form(data=None):
    return ReasonForm(
        data,
        label="Reason for revoking",
        help_text="What changed: the finding, the date, what the client was told.",
    )


def _discontinue_form(data=None):
    return ReasonForm(
        data,
        label="Reason for discontinuing",
        help_text="For example: course complete, new order, side effects.",
    )


@staff_view()
def summary(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.medical.summary.viewed")
    return render(
        request,
        "medical/summary.html",
        {"client": client, "medical": medical_summary(client, practice=practice_for(request))},
    )


@staff_view()
def screening_new(request, client_id):
    """The client's therapist or prescriber enters the screening on the client's behalf."""
    client = clinical_banner_for(request, client_id, action="kapflow.medical.screening.opened")
    form = ScreeningForm(request.POST or None)
    medications = MedicationFormSet(request.POST or None, prefix="med")
    if request.method == "POST" and form.is_valid() and medications.is_valid():
        record = services.screening_record(
            request=request,
            client=client,
            answers=form.answers,
            medications=medications_from(medications),
            notes=form.cleaned_data["notes"],
            entered_by=request.user,
        )
        exclusions = len(record.exclusion_flags)
        if exclusions:
            messages.warning(
                request,
                f"Screening saved with {exclusions} exclusion flag{'s' if exclusions > 1 else ''}: "
                f"the pathway is blocked until the prescriber resolves {'them' if exclusions > 1 else 'it'}.",
            )
        else:
            reviews = len(record.review_flags)
            messages.success(
                request,
                f"Screening saved: {reviews} flag{'s' if reviews != 1 else ''} for the prescriber to review."
                if reviews
                else "Screening saved: no flags.",
            )
        return redirect("medical:screening_detail", client.pk, record.pk)
    return render(
        request,
        "medical/screening_form.html",
        {
            "client": client,
            "form": form,
            "medications": medications,
            "classes": screening.MEDICATION_CLASSES,
        },
    )


@staff_view()
def screening_detail(request, client_id, screening_id):
    client = clinical_banner_for(request, client_id, action="kapflow.medical.screening.viewed")
    record = get_object_or_404(client.screenings.select_related("entered_by"), pk=screening_id)
    clearances = list(record.clearances.select_related("prescriber").order_by("-decided_at", "-pk"))
    unresolved = {flag.key for flag in gates.unresolved_exclusions(record)}
    return render(
        request,
        "medical/screening_detail.html",
        {
            "client": client,
            "screening": record,
            "clearances": clearances,
            "unresolved": unresolved,
            "valid_through": record.valid_through(practice_for(request).screening_valid_days),
        },
    )


@prescriber_view
def clearance_new(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.medical.clearance.opened")
    practice = practice_for(request)
    latest = gates.latest_screening(client)
    if latest is None:
        return render(request, "medical/clearance_form.html", {"client": client, "form": None})
    form = ClearanceForm(request.POST or None, screening=latest, practice=practice)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            clearance = services.clearance_record(
                request=request,
                client=client,
                screening_reviewed=latest,
                practice=practice,
                decision=data["decision"],
                findings=data["findings"],
                resolutions=form.resolutions,
                acknowledged=form.acknowledged,
                conditions=data["conditions"],
                systolic=data["systolic"],
                diastolic=data["diastolic"],
                heart_rate=data["heart_rate"],
                weight_kg=data["weight_kg"],
                valid_until=data["valid_until"],
            )
        except services.Refused as refused:
            for problem in refused.problems:
                form.add_error(None, problem)
        else:
            messages.success(request, f"Clearance recorded: {clearance.get_decision_display().lower()}.")
            return redirect("medical:clearance_detail", client.pk, clearance.pk)
    return render(
        request,
        "medical/clearance_form.html",
        {"client": client, "form": form, "screening": latest, "today": timezone.localdate()},
    )


def _clearance_page(request, client, clearance, revoke_form, status=200):
    return render(
        request,
        "medical/clearance_detail.html",
        {
            "client": client,
            "clearance": clearance,
            "revoke_form": revoke_form,
            "can_write": services.may_withdraw(request.user, clearance),
            "today": timezone.localdate(),
        },
        status=status,
    )


@staff_view()
def clearance_detail(request, client_id, clearance_id):
    client = clinical_banner_for(request, client_id, action="kapflow.medical.clearance.viewed")
    clearance = get_object_or_404(
        client.clearances.select_related("prescriber", "revoked_by", "screening", "document", "filed_by"),
        pk=clearance_id,
    )
    return _clearance_page(request, client, clearance, _revoke_form())


@require_POST
@clinician_view
def clearance_revoke(request, client_id, clearance_id):
    client = clinical_banner_for(request, client_id, action="kapflow.medical.clearance.viewed")
    clearance = get_object_or_404(
        client.clearances.select_related("prescriber", "revoked_by", "screening", "document", "filed_by"),
        pk=clearance_id,
    )
    if not services.may_withdraw(request.user, clearance):
        raise PermissionDenied("Only a prescriber revokes a prescriber's clearance.")
    form = _revoke_form(request.POST)
    if form.is_valid():
        try:
            services.clearance_revoke(
                request=request, clearance=clearance, reason=form.cleaned_data["reason"]
            )
        except services.Refused as refused:
            messages.info(request, " ".join(refused.problems))
        else:
            messages.success(
                request, "The clearance is revoked. The pathway is blocked until a new clearance."
            )
        return redirect("medical:clearance_detail", client.pk, clearance.pk)
    return _clearance_page(request, client, clearance, form)


@prescriber_view
def order_new(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.medical.order.opened")
    practice = practice_for(request)
    clearance_result = gates.clearance_gate(client)
    current = gates.current_clearance(client)
    ends_on = current.valid_until if current is not None and clearance_result.passed else None
    form = OrderForm(request.POST or None, practice=practice, ends_on=ends_on, minor=client.is_minor)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            order = services.order_create(
                request=request,
                client=client,
                practice=practice,
                drug=data["drug"],
                route=data["route"],
                unit=data["unit"],
                dose_min=data["dose_min"],
                dose_max=data["dose_max"],
                weight_kg=data["weight_kg"],
                boosters_allowed=data["boosters_allowed"],
                booster_max_mg=data["booster_max_mg"],
                sessions_authorised=data["sessions_authorised"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                instructions=data["instructions"],
                confirmed_outside_typical=data["confirm_dose"],
                minor_signoff=data.get("minor_signoff", False),
            )
        except services.Refused as refused:
            for problem in refused.problems:
                form.add_error(None, problem)
        else:
            messages.success(request, f"Order saved: {order.get_route_display().lower()} {order.dose_text}.")
            return redirect("medical:order_detail", client.pk, order.pk)
    return render(
        request,
        "medical/order_form.html",
        {"client": client, "form": form, "clearance_gate": clearance_result},
    )


def _order_page(request, client, order, discontinue_form):
    return render(
        request,
        "medical/order_detail.html",
        {
            "client": client,
            "order": order,
            "discontinue_form": discontinue_form,
            "can_write": services.may_withdraw(request.user, order),
            "today": timezone.localdate(),
        },
    )


@staff_view()
def order_detail(request, client_id, order_id):
    client = clinical_banner_for(request, client_id, action="kapflow.medical.order.viewed")
    order = get_object_or_404(
        client.medication_orders.select_related("prescriber", "discontinued_by", "document", "filed_by"),
        pk=order_id,
    )
    return _order_page(request, client, order, _discontinue_form())


@require_POST
@clinician_view
def order_discontinue(request, client_id, order_id):
    client = clinical_banner_for(request, client_id, action="kapflow.medical.order.viewed")
    order = get_object_or_404(
        client.medication_orders.select_related("prescriber", "discontinued_by", "document", "filed_by"),
        pk=order_id,
    )
    if not services.may_withdraw(request.user, order):
        raise PermissionDenied("Only a prescriber discontinues a prescriber's order.")
    form = _discontinue_form(request.POST)
    if form.is_valid():
        try:
            services.order_discontinue(request=request, order=order, reason=form.cleaned_data["reason"])
        except services.Refused as refused:
            messages.info(request, " ".join(refused.problems))
        else:
            messages.success(request, "The order is discontinued.")
        return redirect("medical:order_detail", client.pk, order.pk)
    return _order_page(request, client, order, form)


@clinician_view
def clearance_transcribe(request, client_id):
    """File an outside prescriber's clearance letter by transcribing it, field by field."""
    client = clinical_banner_for(request, client_id, action="kapflow.medical.clearance.opened")
    practice = practice_for(request)
    latest = gates.latest_screening(client)
    form = None
    if latest is not None:
        form = ClearanceTranscriptionForm(
            request.POST or None,
            screening=latest,
            practice=practice,
            providers=outside_prescribers(client),
            documents=documents_to_transcribe(client, ChartDocument.Kind.CLEARANCE),
        )
    if form is not None and request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            clearance = services.clearance_transcribe(
                request=request,
                client=client,
                screening_reviewed=latest,
                practice=practice,
                provider=data["provider"],
                document=data["document"],
                outside_name=data["outside_name"],
                outside_credentials=data["outside_credentials"],
                outside_npi=data["outside_npi"],
                letter_dated=data["letter_dated"],
                decision=data["decision"],
                conditions=data["conditions"],
                findings=data["findings"],
                valid_until=data["valid_until"],
                confirmed=form.confirmed,
                resolutions=form.resolutions,
                acknowledged=form.acknowledged,
            )
        except services.Refused as refused:
            for problem in refused.problems:
                form.add_error(None, problem)
        else:
            messages.success(request, f"Outside clearance filed: {clearance.get_decision_display().lower()}.")
            return redirect("medical:clearance_detail", client.pk, clearance.pk)
    return render(
        request,
        "medical/clearance_transcribe.html",
        {"client": client, "form": form, "screening": latest},
    )


@clinician_view
def order_transcribe(request, client_id):
    """File an outside prescriber's prescription by transcribing it into an order."""
    client = clinical_banner_for(request, client_id, action="kapflow.medical.order.opened")
    practice = practice_for(request)
    form = OrderTranscriptionForm(
        request.POST or None,
        practice=practice,
        providers=outside_prescribers(client),
        documents=documents_to_transcribe(client, ChartDocument.Kind.PRESCRIPTION),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            order = services.order_transcribe(
                request=request,
                client=client,
                practice=practice,
                provider=data["provider"],
                document=data["document"],
                confirmed=form.confirmed,
                **{name: data.get(name) for name in services.ORDER_TRANSCRIBED},
            )
        except services.Refused as refused:
            for problem in refused.problems:
                form.add_error(None, problem)
        else:
            messages.success(
                request, f"Outside prescription filed: {order.get_route_display().lower()} {order.dose_text}."
            )
            return redirect("medical:order_detail", client.pk, order.pk)
    return render(
        request,
        "medical/order_transcribe.html",
        {"client": client, "form": form},
    )
