"""The staff page of the client's right of access (docs/right-of-access.md): the copies of the
record given so far, and the form that answers a request made in writing with a copy (PDF or
FHIR), downloaded and recorded. The client's clinicians only (kapflow.clients.access,
Need.CLINICAL); anyone else with a staff role gets 404, as for a client outside their care."""

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from kapflow.accounts.access import staff_view
from kapflow.clients.access import clinical_banner_for
from kapflow.records import access
from kapflow.records.access_forms import ACT_WITHIN_DAYS, RecordRequestForm
from kapflow.records.models import RecordCopy


def download(copy: RecordCopy, content: bytes) -> HttpResponse:
    """The copy as a file to save, never kept in a cache on the way."""
    response = HttpResponse(content, content_type=access.CONTENT_TYPES[copy.format])
    response["Content-Disposition"] = f'attachment; filename="{access.file_name(copy)}"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@staff_view()
def page(request, client_id):
    """GET: the copies given so far and the form. POST: the copy, as a download, recorded; or
    the form again with what was typed and what is wrong."""
    action = "kapflow.records.copies.viewed" if request.method == "GET" else "kapflow.records.copy.opened"
    client = clinical_banner_for(request, client_id, action=action)
    form = RecordRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            copy, content = access.record_copy_give(
                request=request,
                client=client,
                format=data["format"],
                channel=RecordCopy.Channel.PAPER,
                method=data["method"],
                requested_on=data["requested_on"],
                requested_by=data["requested_by"],
                delivered_to=form.delivered_to(),
                address=data["address"],
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            return download(copy, content)
    return render(
        request,
        "records/copy_page.html",
        {
            "client": client,
            "form": form,
            "copies": access.record_copies(client),
            "act_within_days": ACT_WITHIN_DAYS,
        },
    )
