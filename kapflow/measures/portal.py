"""The measures' side of the client portal: plain words for each form and why it is asked, and
the to-do provider (kapflow.portal.todo.PROVIDERS names `todos`)."""

import datetime

from django.urls import reverse
from django.utils import timezone

from kapflow.lib.todo import Todo
from kapflow.measures.models import MeasureTask, Response
from kapflow.measures.selectors import portal_waiting_tasks

# What each instrument is, in the client's words; the name in brackets is what staff call it.
PLAIN_NAMES = {
    "phq9": "Mood questionnaire (PHQ-9)",
    "gad7": "Anxiety questionnaire (GAD-7)",
    "pcl5": "Stress and difficult-experiences questionnaire (PCL-5)",
}


def plain_name(instrument: str) -> str:
    return PLAIN_NAMES.get(instrument, instrument)


def _when(moment: datetime.datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%A, %B} {local.day} at {local:%-I:%M %p}".replace(":00 ", " ")


def why(task: MeasureTask) -> str:
    """Why the client is asked, in a sentence. Reads task.visit (select it with the task)."""
    reason = task.reason
    if reason == Response.Context.PRE_SESSION and task.visit is not None:
        return f"Before your medication session on {_when(task.visit.starts_at)}."
    if reason == Response.Context.REVIEW and task.visit is not None:
        return f"For your progress review on {_when(task.visit.starts_at)}."
    return {
        Response.Context.BASELINE: "Before your treatment begins, so that you and your therapist can see "
        "what changes later.",
        Response.Context.WEEKLY: "Your weekly check-in during your course of sessions.",
        Response.Context.DISCHARGE: "As your course of sessions comes to an end.",
    }.get(reason, "Your therapist asked for it.")


def _deadline(task: MeasureTask) -> datetime.datetime | None:
    """What the to-do list shows as "By ...": a visit's forms are wanted before the visit
    starts; the others have no deadline (a newer weekly form simply replaces an old one)."""
    return task.visit.starts_at if task.visit is not None else None


def todos(client, user, *, practice=None) -> list[Todo]:
    """The forms waiting for the client, one query. Measures are the client's own: a guardian
    opening a minor's portal gets none."""
    if client.portal_user_id is None or client.portal_user_id != user.pk:
        return []
    return [
        Todo(
            kind="measure",
            title=f"Fill in: {plain_name(task.instrument)}",
            url=reverse("portal_measures:task", args=[client.pk, task.pk]),
            due_at=_deadline(task),
            detail=why(task),
        )
        for task in portal_waiting_tasks(client)
    ]
