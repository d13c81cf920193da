from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateformat import format as date_format

from kapflow.accounts.access import staff_view
from kapflow.clients.access import clinical_banner_for
from kapflow.lib.capped import capped
from kapflow.lib.links import row_link
from kapflow.lib.text import mid_sentence
from kapflow.measures import instruments, services
from kapflow.measures.forms import AlertCloseForm, ResponseForm
from kapflow.measures.models import Response
from kapflow.measures.progress import progress_context
from kapflow.measures.selectors import client_tasks, latest_per_instrument

# How many of the schedule's forms the measures page lists: the upcoming ones and the latest
# done, enough for a review without pushing the results off the page.
TASKS_SHOWN = 12
# And how many results, newest first, before "Show all" (a client of two years has over a hundred).
RESULTS_SHOWN = 25

_RESULT_COLUMNS = (
    "pk",
    "instrument",
    "total",
    "band",
    "context",
    "completed_at",
    "entered_by__full_name",
    # Where an imported response came from (records.ImportedResponse), shown beside it.
    "import_source__source_name",
    "import_source__source_identifier",
    "import_source__imported_by__full_name",
    "import_source__imported_at",
)


def _as_rows(client, rows: list[dict]) -> list[dict]:
    """Responses read as dicts, with their labels, date and link added, so the page's loop only
    writes them out (a long history has hundreds, each with its answers: rows, not instances)."""
    instrument_names = dict(Response._meta.get_field("instrument").flatchoices)
    context_names = dict(Response.Context.choices)
    detail = row_link("measures:detail", client.pk)
    for row in rows:
        row["instrument_name"] = instrument_names.get(row["instrument"], row["instrument"])
        row["context_name"] = context_names.get(row["context"], row["context"])
        # As the template's |date:"M j, Y" writes it: in the current time zone.
        row["date"] = date_format(timezone.localtime(row["completed_at"]), "M j, Y")
        row["url"] = detail(row["pk"])
    return rows


@staff_view()
def response_list(request, client_id):
    client = clinical_banner_for(request, client_id, action="kapflow.measures.responses.viewed")
    responses = capped(
        request,
        client.responses.order_by("-completed_at", "-pk").values(*_RESULT_COLUMNS),
        param="results",
        limit=RESULTS_SHOWN,
        anchor="results-head",
    )
    _as_rows(client, responses.rows)
    return render(
        request,
        "measures/list.html",
        {
            "client": client,
            "responses": responses,
            "latest": _as_rows(client, list(latest_per_instrument(client).values(*_RESULT_COLUMNS))),
            "instruments": instruments.INSTRUMENTS.values(),
            "tasks": client_tasks(client)[:TASKS_SHOWN],
            "task_limit": TASKS_SHOWN,
            "now": timezone.now(),
        },
    )


@staff_view()
def response_new(request, client_id, instrument):
    definition = instruments.get(instrument)
    if definition is None:
        raise Http404("No such instrument.")
    client = clinical_banner_for(request, client_id, action="kapflow.measures.response.opened")
    form = ResponseForm(request.POST if request.method == "POST" else None, instrument=definition)
    if request.method == "POST" and form.is_valid():
        response = services.response_record(
            request=request,
            client=client,
            instrument=definition,
            answers=form.answers,
            context=form.cleaned_data["context"],
            entered_by=request.user,
            entry_key=form.cleaned_data["entry_key"],
        )
        if response.alerts.exists():
            messages.error(
                request,
                "Urgent: this answer to question 9 needs same-day follow-up. An alert is open "
                "on the chart until the follow-up is written.",
            )
        else:
            result = f"{response.total}, {mid_sentence(response.band)}"
            messages.success(request, f"{definition.name} saved: {result}.")
        return redirect("measures:detail", client.pk, response.pk)
    return render(
        request, "measures/response_form.html", {"client": client, "form": form, "instrument": definition}
    )


@staff_view()
def response_detail(request, client_id, response_id):
    client = clinical_banner_for(request, client_id, action="kapflow.measures.response.viewed")
    response = get_object_or_404(client.responses.select_related("entered_by"), pk=response_id)
    definition = response.definition
    labels = {option.value: option.label for option in definition.options}
    rows = [
        (
            item,
            response.answers.get(item.key),
            labels.get(response.answers.get(item.key)),
            item.key in definition.alert_items and (response.answers.get(item.key) or 0) > 0,
        )
        for item in definition.items
    ]
    return render(
        request,
        "measures/response_detail.html",
        {
            "client": client,
            "response": response,
            "definition": definition,
            "rows": rows,
            "band": definition.band_for(response.total),
        },
    )


@staff_view()
def alert_close(request, client_id, alert_id):
    client = clinical_banner_for(request, client_id, action="kapflow.measures.alert.opened")
    alert = get_object_or_404(
        client.alerts.select_related("response", "assigned_to", "closed_by"), pk=alert_id
    )
    form = AlertCloseForm(request.POST or None, instance=alert)
    if request.method == "POST" and alert.closed_at is None and form.is_valid():
        try:
            services.alert_close(request=request, alert=alert, follow_up=form.cleaned_data["follow_up"])
        except services.AlreadyClosed:
            messages.info(request, "Someone closed this alert in the meantime.")
        else:
            messages.success(request, "The alert is closed with your follow-up.")
        return redirect("clients:chart", client.pk)
    return render(request, "measures/alert_close.html", {"client": client, "alert": alert, "form": form})


@staff_view()
def progress(request, client_id):
    """The client's PHQ-9, GAD-7 and PCL-5 over time, for the client's clinicians only."""
    client = clinical_banner_for(request, client_id, action="kapflow.measures.progress.viewed")
    return render(request, "measures/progress.html", {"client": client, "progress": progress_context(client)})
