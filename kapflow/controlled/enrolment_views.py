"""A client's Spravato REMS enrolment (docs/spravato-rems.md): the enrolments recorded, and the
form to record one, for the client's therapists and prescribers. Others with a staff role are
refused (403); a clinician outside the client's care gets 404."""

from django.contrib import messages
from django.shortcuts import redirect, render

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import clinical_banner_for
from kapflow.controlled.enrolment import EnrolmentRefused, enrolment_record, enrolments_of
from kapflow.controlled.enrolment_forms import EnrolmentForm

clinician_view = staff_view(Role.THERAPIST, Role.PRESCRIBER)


@clinician_view
def enrolment(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.controlled.rems_enrolment.viewed")
    form = EnrolmentForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            enrolment_record(
                request=request,
                actor=request.user,
                client=client,
                prescriber=data["prescriber"],
                enrolled_on=data["enrolled_on"],
                patient_rems_id=data["patient_rems_id"],
                document=data["document"],
            )
        except EnrolmentRefused as refused:
            for problem in refused.problems:
                form.add_error(None, problem)
        else:
            messages.success(request, "The client's Spravato REMS enrolment is recorded.")
            return redirect("rems_enrolment:enrolment", client.pk)
    return render(
        request,
        "controlled/enrolment.html",
        {"client": client, "form": form, "enrolments": enrolments_of(client)},
    )
