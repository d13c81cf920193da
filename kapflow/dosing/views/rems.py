"""The Spravato REMS patient monitoring form (docs/spravato-rems.md): its section of the runbook,
the answers saved from it, the form as a PDF from a signed record, and the practice's list of
forms still to submit (/rems/), where a submission is recorded once."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.clients.access import Need, client_for, clients_for
from kapflow.dosing import forms, rems
from kapflow.dosing.models import RemsReport
from kapflow.dosing.services import rems as rems_services
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.views.base import _medication_visit, _refused, _target, runbook_view
from kapflow.lib.capped import capped
from kapflow.practice.models import practice_for
from kapflow.reminders.models import Reminder

# docs/spravato-rems.md, "Who": the setting's prescribers and its practice admins keep the list of
# forms to submit; an invited outside prescriber does not (the setting files the form).
rems_list_view = staff_view(Role.PRESCRIBER, Role.PRACTICE_ADMIN)


def section(request, visit, record, practice, *, locked: bool, may_record: bool) -> dict:
    """The runbook's REMS section: the form as it stands (None for a session that is not an
    esketamine one) and, while the record is open, the answers' form."""
    form = rems.form_for(visit, practice=practice, record=record)
    if form is None:
        return {"rems": None}
    context = {"rems": form}
    if not locked and may_record and request.user.is_clinician:
        context["rems_form"] = forms.RemsAnswersForm(report=form.report, suggested=form.suggested)
    return context


@require_POST
@runbook_view
def answers(request, client_id, visit_id):
    from kapflow.dosing.views.page import _again, _back

    client, visit = _target(request, client_id, visit_id, action="kapflow.dosing.runbook.opened")
    form = forms.RemsAnswersForm(request.POST)
    if not form.is_valid():
        return _again(request, client_id, visit_id, "rems_form", form)
    try:
        rems_services.rems_answers_save(
            request=request, actor=request.user, visit=visit, answers=dict(form.cleaned_data)
        )
    except RunbookRefused as refused:
        return _again(request, client_id, visit_id, "rems_form", form, refused=refused)
    messages.success(request, "REMS answers saved.")
    return _back(request, client, visit)


@runbook_view
def pdf(request, client_id, visit_id):
    """The form of a signed esketamine session, as a PDF, for the client's clinicians. Audited as
    a download; never cached."""
    client = client_for(request, client_id, need=Need.CLINICAL, action="kapflow.dosing.rems.pdf_requested")
    visit = _medication_visit(client, visit_id)
    practice = practice_for(request)
    form = rems.form_for(visit, practice=practice)
    if form is None:
        raise Http404("This session has no REMS form.")
    if form.facts.runbook is None or not form.facts.runbook.is_locked:
        messages.error(request, "The REMS form is printed from the signed record: sign it first.")
        return redirect("dosing:runbook", client.pk, visit.pk)
    content = rems.rems_pdf(form, produced_by=request.user)
    response = HttpResponse(content, content_type="application/pdf")
    day = timezone.localdate(visit.starts_at)
    response["Content-Disposition"] = f'attachment; filename="spravato-rems-{client.pk}-{day:%Y-%m-%d}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


def _scope(request):
    """The clients whose forms the user keeps: every client for a practice admin (the setting's
    paperwork), the clients a prescriber may see clinically."""
    need = Need.DEMOGRAPHICS if request.user.is_practice_admin else Need.CLINICAL
    return clients_for(request, need=need)


def _told(reports) -> dict[int, list[Reminder]]:
    """The reminders sent about each report (kapflow.reminders.sources.rems_forms), by report.
    One query."""
    keys = {f"rems:{report.pk}:due": report.pk for report in reports}
    keys |= {f"rems:{report.pk}:overdue": report.pk for report in reports}
    told: dict[int, list[Reminder]] = {}
    if not keys:
        return told
    for reminder in Reminder.objects.filter(key__in=keys).select_related("recipient").order_by("created_at"):
        told.setdefault(keys[reminder.key], []).append(reminder)
    return told


# The list shows this many forms to submit, the oldest sessions first, then "Show all".
REMS_SHOWN = 50


@rems_list_view
def to_submit(request):
    return _list(request)


def _list(request, *, bound=None, bound_for: int | None = None, status: int = 200):
    """The list; `bound`: a submission form that came back with what was typed and what to fix,
    for the report `bound_for`."""
    practice = practice_for(request)
    today = timezone.localdate()
    # The oldest first, a page's worth; all of them when a form of the list came back with
    # what was typed, so that it is on the page wherever it sat.
    reports = capped(
        request,
        rems.open_reports(_scope(request)),
        param="forms",
        limit=REMS_SHOWN,
        anchor="rems-h",
        show_all=bound is not None,
    )
    told = _told(reports.rows)
    rows = []
    for report in reports:
        due = rems.due_on(report, practice=practice)
        rows.append(
            {
                "report": report,
                "visit": report.runbook.visit,
                "client": report.runbook.visit.client,
                "due": due,
                "overdue": today > due,
                "told": told.get(report.pk, []),
                "form": bound
                if bound is not None and report.pk == bound_for
                else forms.RemsSubmissionForm(
                    initial={"submitted_on": today}, auto_id=f"rems_{report.pk}_%s"
                ),
            }
        )
    audit_record(
        request=request,
        action="kapflow.dosing.rems.list_viewed",
        detail={"clients": sorted({row["client"].pk for row in rows})},
    )
    return render(
        request,
        "dosing/rems_list.html",
        {"rows": rows, "reports": reports, "practice": practice},
        status=status,
    )


@require_POST
@rems_list_view
def submit(request, report_id):
    report = get_object_or_404(
        RemsReport.objects.filter(runbook__visit__client__in=_scope(request)).select_related(
            "runbook__visit__client"
        ),
        pk=report_id,
    )
    form = forms.RemsSubmissionForm(request.POST, auto_id=f"rems_{report.pk}_%s")
    if not form.is_valid():
        return _list(request, bound=form, bound_for=report.pk)
    try:
        rems_services.rems_submission_record(
            request=request,
            actor=request.user,
            report=report,
            submitted_on=form.cleaned_data["submitted_on"],
            reference=form.cleaned_data["reference"],
            practice=practice_for(request),
        )
    except RunbookRefused as refused:
        _refused(request, refused)
        if report.submitted_on is None:
            for problem in refused.problems:
                form.add_error(None, problem)
            return _list(request, bound=form, bound_for=report.pk)
        return redirect("rems:list")
    messages.success(
        request,
        f"The REMS form of {report.runbook.visit.client.display_name}'s session is recorded as submitted.",
    )
    return redirect("rems:list")
