"""The client's diagnoses (docs/diagnoses.md): clinical content, so the client is reached with
Need.CLINICAL and only the client's clinicians read the list (a coordinator or an admin without
a clinical role gets 404, as for a client outside their care). Recording and ending one is for a
therapist or prescriber (403 for any other role, before the client is looked up) who writes the
client's records (403 for a clinician on the team who does not, once the client is found); the
services check it all again."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.billing import diagnoses
from kapflow.billing.diagnosis_forms import DiagnosisEndForm, DiagnosisForm
from kapflow.billing.services import BillingRefused
from kapflow.clients.access import clinical_banner_for

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)

VIEWED = "kapflow.billing.diagnosis.viewed"


@staff_view()
def diagnosis_list(request, client_id):
    client = clinical_banner_for(request, client_id, action=VIEWED)
    current, ended = diagnoses.chart_diagnoses(client)
    return render(
        request,
        "billing/diagnoses.html",
        {
            "client": client,
            "current": current,
            "ended": ended,
            "may_diagnose": diagnoses.may_diagnose(request.user, client),
        },
    )


def _writer(request, client_id):
    client = clinical_banner_for(request, client_id, action=VIEWED)
    if not diagnoses.may_diagnose(request.user, client):
        raise PermissionDenied("Only a clinician who writes this client's records records a diagnosis.")
    return client


@clinician_view
def diagnosis_new(request, client_id):
    client = _writer(request, client_id)
    form = DiagnosisForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            diagnosis = diagnoses.diagnosis_record(
                request=request,
                client=client,
                code=data["icd_code"],
                description=data["words"],
                diagnosed_on=data["diagnosed_on"],
            )
        except BillingRefused as refused:
            form.add_error(None, refused.problems)
        else:
            messages.success(request, f"Diagnosis recorded: {diagnosis.code} {diagnosis.description}.")
            return redirect("diagnoses:list", client.pk)
    current, _ended = diagnoses.chart_diagnoses(client)
    return render(request, "billing/diagnoses_new.html", {"client": client, "form": form, "current": current})


@clinician_view
def diagnosis_end(request, client_id, diagnosis_id):
    client = _writer(request, client_id)
    diagnosis = get_object_or_404(
        client.diagnoses.select_related("diagnosed_by", "ended_by"), pk=diagnosis_id
    )
    if diagnosis.ended_at is not None:
        messages.info(request, diagnoses.ALREADY_ENDED)
        return redirect("diagnoses:list", client.pk)
    form = DiagnosisEndForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            diagnosis = diagnoses.diagnosis_end(
                request=request,
                diagnosis=diagnosis,
                ended_on=data["ended_on"],
                in_error=data["outcome"] == "in_error",
                reason=data["reason"],
            )
        except BillingRefused as refused:
            if refused.problems == [diagnoses.ALREADY_ENDED]:
                messages.info(request, diagnoses.ALREADY_ENDED)
                return redirect("diagnoses:list", client.pk)
            form.add_error(None, refused.problems)
        else:
            messages.success(
                request,
                f"{diagnosis.code} marked "
                f"{'entered in error' if diagnosis.in_error else 'no longer current'}.",
            )
            return redirect("diagnoses:list", client.pk)
    return render(
        request, "billing/diagnoses_end.html", {"client": client, "form": form, "diagnosis": diagnosis}
    )
