from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.audit.services import audit_record
from kapflow.clients import services
from kapflow.clients.access import can_see_clinical, client_chart_for, client_for, clients_for
from kapflow.clients.forms import (
    CareTeamForm,
    ClientForm,
    ClientSearchForm,
    EmergencyContactForm,
    GuardianForm,
    NewClientForm,
    OutsideProviderForm,
)
from kapflow.clients.selectors import client_search
from kapflow.measures.selectors import latest_by_instrument
from kapflow.pathway.readiness import readiness_context

PAGE_SIZE = 50


@staff_view()
def caseload(request):
    """The clients this person may see, where each stands, with search by name, date of birth
    or phone. htmx asks for the rows alone as the search is typed."""
    form = ClientSearchForm(request.GET or None)
    clients = clients_for(request).for_list()
    q = stage = ""
    if form.is_valid():
        q, stage = form.cleaned_data["q"], form.cleaned_data["stage"]
        clients = client_search(clients, q)
        if stage:
            clients = clients.filter(stage=stage)
    page = Paginator(clients, PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        request=request,
        action="kapflow.clients.caseload.viewed",
        detail={"q": q, "stage": stage, "page": page.number, "shown": len(page.object_list)},
    )
    context = {
        "form": form,
        "page": page,
        "q": q,
        "stage": stage,
        "mine_only": not request.user.is_coordinator and not request.user.is_practice_admin,
    }
    template = "clients/_caseload_rows.html" if request.htmx else "clients/caseload.html"
    return render(request, template, context)


@staff_view()
def client_new(request):
    form = NewClientForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        client = services.client_create(
            request=request, form=form, primary_therapist=form.cleaned_data["primary_therapist"]
        )
        messages.success(request, f"{client.display_name} was added.")
        return redirect("clients:chart", client.pk)
    return render(request, "clients/client_form.html", {"form": form, "client": None})


@staff_view()
def chart(request, client_id):
    client = client_chart_for(request, client_id, action="kapflow.clients.chart.viewed")
    clinical = can_see_clinical(request, client)
    return render(
        request,
        "clients/chart.html",
        {
            "client": client,
            "clinical": clinical,
            "latest_measures": latest_by_instrument(client) if clinical else [],
            **readiness_context(request, client, clinical),
        },
    )


@staff_view()
def client_edit(request, client_id):
    client = client_chart_for(request, client_id, action="kapflow.clients.client.opened_for_edit")
    form = ClientForm(request.POST or None, instance=client)
    if request.method == "POST" and form.is_valid():
        if form.has_changed():
            services.client_update(request=request, form=form)
            messages.success(request, "The client's details were saved.")
        return redirect("clients:chart", client.pk)
    return render(request, "clients/client_form.html", {"form": form, "client": client})


@staff_view()
def care_team(request, client_id):
    client = client_chart_for(request, client_id, action="kapflow.clients.care_team.opened")
    form = CareTeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        member = services.care_team_add(
            request=request, client=client, user=form.cleaned_data["user"], role=form.cleaned_data["role"]
        )
        messages.success(
            request, f"{member.user} is now on the care team as {member.get_role_display().lower()}."
        )
        return redirect("clients:care_team", client.pk)
    return render(request, "clients/care_team.html", {"client": client, "form": form})


@require_POST
@staff_view()
def care_team_remove(request, client_id, member_id):
    client = client_for(request, client_id, action="kapflow.clients.care_team.opened")
    member = get_object_or_404(client.care_team.select_related("user"), pk=member_id)
    services.care_team_remove(request=request, member=member)
    messages.success(request, f"{member.user} was taken off the care team.")
    return redirect("clients:care_team", client.pk)


# Guardians, emergency contacts and outside providers are edited the same way: a form page
# reached from the chart, and a remove button.
CONTACT_KINDS = {
    "guardians": ("guardian", "guardians", GuardianForm, "a guardian"),
    "emergency-contacts": (
        "emergency_contact",
        "emergency_contacts",
        EmergencyContactForm,
        "an emergency contact",
    ),
    "providers": ("outside_provider", "outside_providers", OutsideProviderForm, "an outside provider"),
}


def _contact_kind(kind: str):
    try:
        return CONTACT_KINDS[kind]
    except KeyError:
        raise Http404("No such kind of contact.") from None


@staff_view()
def contact_edit(request, client_id, kind, contact_id=None):
    noun, related, form_class, label = _contact_kind(kind)
    client = client_chart_for(request, client_id, action=f"kapflow.clients.{noun}.opened")
    contact = None
    if contact_id is not None:
        contact = get_object_or_404(getattr(client, related).all(), pk=contact_id)
    form = form_class(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        services.contact_save(request=request, client=client, form=form, noun=noun)
        messages.success(request, f"{form.instance} was saved.")
        return redirect("clients:chart", client.pk)
    return render(
        request,
        "clients/contact_form.html",
        {
            "client": client,
            "form": form,
            "contact": contact,
            "label": label,
            "kind": kind,
        },
    )


@require_POST
@staff_view()
def contact_remove(request, client_id, kind, contact_id):
    noun, related, _form_class, _label = _contact_kind(kind)
    client = client_for(request, client_id, action=f"kapflow.clients.{noun}.opened")
    contact = get_object_or_404(getattr(client, related).all(), pk=contact_id)
    services.contact_remove(request=request, contact=contact, noun=noun)
    messages.success(request, f"{contact} was removed.")
    return redirect("clients:chart", client.pk)
