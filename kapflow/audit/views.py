import datetime

from django.http import QueryDict
from django.shortcuts import render
from django.utils import timezone

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role, User
from kapflow.audit import selectors, sentences
from kapflow.audit.forms import AuditFilterForm
from kapflow.audit.services import audit_record
from kapflow.clients.access import clients_for
from kapflow.lib.params import parse_int

# The page-link parameters: the id of the row the page continues from.
OLDER, NEWER = "before", "after"
FILTERS = ("client", "actor", "action", "date_from", "date_to")


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _cursor(request) -> tuple[selectors.Cursor | None, str]:
    """Where the page starts, from its link's parameter, and what to say when that cannot be
    followed (the page then starts at the newest row)."""
    for name, older in ((OLDER, True), (NEWER, False)):
        raw = request.GET.get(name, "").strip()
        if not raw:
            continue
        pk = parse_int(raw, minimum=1, maximum=2**63 - 1)
        if pk is None:
            return None, "That page link is not one this page makes, so the newest lines are shown."
        cursor = selectors.cursor_at(pk, older=older)
        if cursor is None:
            return None, (
                "The line that page link continues from is no longer in the log (it may have been "
                "archived), so the newest lines are shown."
            )
        return cursor, ""
    return None, ""


@staff_view(Role.PRACTICE_ADMIN)
def audit_log(request):
    """Every recorded read and write, newest first, as sentences, a page at a time by key (never
    by counting rows), filtered by client (the rows about them, and the dashboard, list and
    calendar reads that named them), person, action and date."""
    form = AuditFilterForm(
        request.GET if any(name in request.GET for name in FILTERS) else None,
        clients=clients_for(request),
        # The Person list needs each one's name and whether they left, not their whole account.
        staff=User.objects.staff().order_by("full_name", "pk").only("pk", "full_name", "is_active"),
        actions=selectors.recorded_actions(),
    )
    # A filter with a problem is named at the top of the page and left out; the others apply.
    data = {}
    if form.is_bound:
        form.is_valid()
        data = {name: value for name, value in form.cleaned_data.items() if value and name not in form.errors}
    client = data.get("client")
    cursor, notice = _cursor(request)
    page = selectors.log_page(
        client_id=client.pk if client else None,
        actor_id=data["actor"].pk if "actor" in data else None,
        action=data.get("action"),
        since=_day_start(data["date_from"]) if "date_from" in data else None,
        until=_day_start(data["date_to"] + datetime.timedelta(days=1)) if "date_to" in data else None,
        cursor=cursor,
    )
    filters = {name: str(client.pk if name == "client" else value) for name, value in data.items()}
    if cursor is not None:
        filters[OLDER if cursor.older else NEWER] = str(cursor.pk)
    audit_record(request=request, action="kapflow.audit.log.viewed", client=client, detail=filters)

    query = QueryDict(mutable=True)
    for name in FILTERS:
        if request.GET.get(name):
            query[name] = request.GET[name]
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "page": page,
            # Each row as a sentence, with the names and objects it needs read once for the page.
            "lines": sentences.describe(page.object_list),
            "filtered_client": client,
            "notice": notice,
            "query": query.urlencode(),
            "first_page": cursor is None,
        },
    )
