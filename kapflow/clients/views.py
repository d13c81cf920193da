from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.clients import services
from kapflow.clients.access import (
    can_see_clinical,
    client_chart_for,
    client_for,
    clients_for,
    clinical_chart_for,
)
from kapflow.clients.forms import (
    CareTeamForm,
    ClientForm,
    ClientSearchForm,
    EmergencyContactForm,
    GuardianForm,
    NewClientForm,
    OutsideProviderForm,
    StageChangeForm,
)
from kapflow.clients.models import ADULT_AGE, Client
from kapflow.clients.selectors import client_search, latest_measures
from kapflow.consent.selectors import consent_status
from kapflow.course.reviews import course_card
from kapflow.documents.selectors import latest_documents
from kapflow.lib.links import row_link
from kapflow.lib.paging import IdsFirstPaginator
from kapflow.lib.params import int_param
from kapflow.notes.owed import chart_notes
from kapflow.notes.process import may_write_process_notes
from kapflow.pathway.readiness import readiness_context
from kapflow.practice.models import practice_for

PAGE_SIZE = 50
# What staff are told after correcting an address (kapflow.clients.services.on_address_changed).
ADDRESS_CHANGED_NOTE = (
    "The email address changed, so a portal invitation sent to the old address no longer works. "
    "Send a new one from the Portal card if the person still needs it."
)


def _caseload_rows(clients) -> list[str]:
    """Each row of the caseload, as the table's HTML (`<tr>`), made here once per row: the chart's
    link, the date of birth as |date:"M j, Y" writes it, the age, the stage's label and the flags.
    The template's url tag, filters and variable lookups cost several times more per row, and the
    caseload shows fifty rows. Every value is escaped (format_html)."""
    today = timezone.localdate()
    stages = dict(Client.Stage.choices)
    chart = row_link("clients:chart")
    rows = []
    for client in clients:
        age = client.age(today)
        flags = SafeString()
        if age < ADULT_AGE:
            flags += _MINOR if client.has_consenting_guardian else _MINOR + _NO_GUARDIAN
        if not client.has_emergency_contact:
            flags += _NO_EMERGENCY_CONTACT
        rows.append(
            format_html(
                _ROW,
                url=chart(client.pk),
                last_name=client.last_name,
                first_name=client.first_name,
                preferred=format_html(_PREFERRED, client.preferred_name) if client.preferred_name else "",
                born=date_format(client.date_of_birth, "M j, Y"),
                age=age,
                stage=stages.get(client.stage, client.stage),
                therapist=client.primary_therapist_name or "—",
                phone=client.phone or "—",
                flags=flags,  # made of the badges below, written here
            )
        )
    return rows


# One row of the caseload's table (clients/_caseload_rows.html places them).
_ROW = """<tr>
      <td><a href="{url}">{last_name}, {first_name}</a>{preferred}</td>
      <td class="nowrap">{born} <span class="muted">({age})</span></td>
      <td>{stage}</td>
      <td>{therapist}</td>
      <td class="nowrap">{phone}</td>
      <td>{flags}</td>
    </tr>"""
_PREFERRED = ' <span class="muted">“{}”</span>'
# The flags' badges: markup written here, holding no data.
_MINOR = SafeString('<span class="badge badge--warn">Minor</span> ')
_NO_GUARDIAN = SafeString('<span class="badge badge--danger">No guardian who can consent</span> ')
_NO_EMERGENCY_CONTACT = SafeString('<span class="badge badge--warn">No emergency contact</span>')


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
    elif form.is_bound:
        # A search the form refuses (longer than the box takes, an unknown stage) lists nobody
        # and says why: never every client.
        clients = clients.none()
    page = IdsFirstPaginator(clients, PAGE_SIZE).get_page(int_param(request, "page", 1))
    detail = {"q": q, "stage": stage, "page": page.number, "shown": len(page.object_list)}
    if form.errors:
        detail["refused"] = sorted(form.errors)
    audit_record(request=request, action="kapflow.clients.caseload.viewed", detail=detail)
    context = {
        "form": form,
        "page": page,
        "rows": _caseload_rows(page.object_list),
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
    # Read once for both the readiness panel's consent gate and the consent card (its template
    # tag takes it from the context), which would otherwise each read it.
    consent = consent_status(client)
    # The Course card's plan and position serve the readiness panel's course gate too (both
    # show only to those who may see clinical content).
    course = course_card(client) if clinical else None
    course_read = {"plan": course.plan, "position": course.position} if course else {}
    return render(
        request,
        "clients/chart.html",
        {
            "client": client,
            "clinical": clinical,
            "can_change_team": services.may_change_care_team(request.user, client),
            "latest_measures": latest_measures(client) if clinical else [],
            "latest_documents": latest_documents(client) if clinical else [],
            "course": course,
            # The Notes card: the latest notes, and the link to the therapist's own process notes.
            "latest_notes": chart_notes(client, practice=practice_for(request)) if clinical else [],
            "keeps_process_notes": clinical and may_write_process_notes(request.user, client),
            "consent_status": consent,
            **readiness_context(request, client, clinical, consent=consent, **course_read),
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
            if "email" in form.changed_data:
                messages.info(request, ADDRESS_CHANGED_NOTE)
        return redirect("clients:chart", client.pk)
    return render(request, "clients/client_form.html", {"form": form, "client": client})


def _care_team_client(request, client_id, *, chart: bool = True):
    """The client whose care team the requester may change, else 404: a clinician not on the
    team cannot reach it at all, even where every clinician may open every chart."""
    reach = client_chart_for if chart else client_for
    client = reach(request, client_id, action="kapflow.clients.care_team.opened")
    if not services.may_change_care_team(request.user, client):
        raise Http404("No such client.")
    return client


@staff_view()
def care_team(request, client_id):
    """Add someone to the care team, in two steps: the form, then "Add … as …?" to confirm."""
    client = _care_team_client(request, client_id)
    form = CareTeamForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        user, role = form.cleaned_data["user"], form.cleaned_data["role"]
        member = client.care_team.filter(user=user).first()
        if not form.cleaned_data["confirmed"]:
            return render(
                request,
                "clients/care_team_confirm.html",
                {
                    "client": client,
                    "candidate": user,  # not "user": base.html reads that as the signed-in person
                    "role": role,
                    "role_label": dict(CareTeamForm.base_fields["role"].choices)[role],
                    "member": member,
                },
            )
        try:
            member = services.care_team_add(request=request, client=client, user=user, role=role)
        except services.CareTeamRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(
                request, f"{member.user} is now on the care team as {member.get_role_display().lower()}."
            )
            return redirect("clients:care_team", client.pk)
    return render(request, "clients/care_team.html", {"client": client, "form": form})


@require_POST
@staff_view()
def care_team_remove(request, client_id, member_id):
    """Take someone off the care team, after "Take … off?" is confirmed on its own page."""
    client = _care_team_client(request, client_id, chart=False)
    member = get_object_or_404(client.care_team.select_related("user"), pk=member_id)
    if request.POST.get("confirmed") != "1":
        return render(request, "clients/care_team_remove_confirm.html", {"client": client, "member": member})
    try:
        services.care_team_remove(request=request, member=member)
    except services.CareTeamRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{member.user} was taken off the care team.")
    return redirect("clients:care_team", client.pk)


@staff_view(Role.THERAPIST, Role.PRESCRIBER)
def stage_change(request, client_id):
    """A clinician moves the client to another stage by hand, with the reason (the
    demographics form does not carry the stage)."""
    client = clinical_chart_for(request, client_id, action="kapflow.clients.stage.opened")
    form = StageChangeForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        try:
            services.stage_change(
                request=request,
                client=client,
                to_stage=form.cleaned_data["to_stage"],
                reason=form.cleaned_data["reason"],
            )
        except services.StageChangeRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(
                request, f"{client.display_name} is now at the stage: {form.instance.get_to_stage_display()}."
            )
            return redirect("clients:chart", client.pk)
    changes = client.stage_changes.select_related("changed_by")[:10]
    return render(request, "clients/stage_form.html", {"client": client, "form": form, "changes": changes})


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
        if noun == "guardian" and contact is not None and "email" in form.changed_data:
            messages.info(request, ADDRESS_CHANGED_NOTE)
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
    try:
        services.contact_remove(request=request, contact=contact, noun=noun)
    except services.ContactKept as kept:
        messages.error(request, str(kept))
    else:
        messages.success(request, f"{contact} was removed.")
    return redirect("clients:chart", client.pk)
