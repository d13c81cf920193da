"""The client's measures on the portal: the forms waiting, one form to fill, and the thank-you
page after it. The client's alone (PortalNeed.OWN): a guardian never reaches them."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from kapflow.measures import instruments, services
from kapflow.measures.forms import AnswersForm
from kapflow.measures.portal import plain_name, why
from kapflow.measures.selectors import portal_done_tasks, portal_waiting_tasks
from kapflow.portal.access import PortalNeed, portal_client_for, portal_view
from kapflow.practice.models import practice_for


def _page(client, **extra) -> dict:
    """The portal's frame around a measures page: these pages are the client's own (never a
    guardian's), so the navigation is the client's, with consents, and "To do" current."""
    return {"client": client, "guardian_view": False, "may_sign_consents": True, "nav": "todo", **extra}


def _task_for(client, task_id):
    """One of this client's tasks that has come due (a task not yet due is not shown)."""
    return get_object_or_404(client.measure_tasks.select_related("visit", "response"), pk=task_id)


@require_GET
@portal_view
def task_list(request, client_id):
    client = portal_client_for(
        request, client_id, action="kapflow.measures.portal.tasks_viewed", need=PortalNeed.OWN
    )
    waiting = [(task, plain_name(task.instrument), why(task)) for task in portal_waiting_tasks(client)]
    done = [(task, plain_name(task.instrument)) for task in portal_done_tasks(client)]
    return render(request, "measures/portal_list.html", _page(client, waiting=waiting, done=done))


@portal_view
@require_http_methods(["GET", "POST"])
def task_answer(request, client_id, task_id):
    client = portal_client_for(
        request, client_id, action="kapflow.measures.portal.task_opened", need=PortalNeed.OWN
    )
    task = _task_for(client, task_id)
    definition = instruments.INSTRUMENTS[task.instrument]
    context = _page(client, task=task, instrument=definition, title=plain_name(task.instrument))
    if not task.is_open or task.due_at > timezone.now():
        status = 200 if request.method == "GET" else 409
        return render(request, "measures/portal_closed.html", context, status=status)
    form = AnswersForm(request.POST if request.method == "POST" else None, instrument=definition)
    if request.method == "POST" and form.is_valid():
        try:
            services.task_complete(request=request, task=task, answers=form.answers)
        except services.TaskClosed:
            messages.info(request, "This form was already completed or is no longer needed; nothing changed.")
            return redirect("portal_measures:list", client.pk)
        return redirect("portal_measures:thanks", client.pk, task.pk)
    context |= {"form": form, "why": why(task)}
    return render(request, "measures/portal_form.html", context)


@require_GET
@portal_view
def task_thanks(request, client_id, task_id):
    client = portal_client_for(
        request, client_id, action="kapflow.measures.portal.thanks_viewed", need=PortalNeed.OWN
    )
    task = _task_for(client, task_id)
    if task.response is None:
        return redirect("portal_measures:task", client.pk, task.pk)
    definition = task.response.definition
    crisis = any((task.response.answers.get(key) or 0) > 0 for key in definition.alert_items)
    waiting = [(other, plain_name(other.instrument)) for other in portal_waiting_tasks(client)]
    return render(
        request,
        "measures/portal_thanks.html",
        _page(
            client,
            task=task,
            title=plain_name(task.instrument),
            crisis=crisis,
            told=task.response.alerts.filter(assigned_to__isnull=False).exists(),
            crisis_resources=practice_for(request).crisis_resources,
            waiting=waiting,
        ),
    )
