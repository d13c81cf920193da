"""The practice export's page (docs/export.md): what the archive holds, how big it will be, and
the button that streams it. Practice admin only; the download also needs a fresh confirmation
of identity, as a password change does (allauth's reauthentication, docs/export.md)."""

import datetime

from allauth.account.decorators import reauthentication_required
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.ops import export
from kapflow.practice.models import practice_for


@staff_view(Role.PRACTICE_ADMIN)
def export_page(request):
    """Reads one count per table, in one query: no row of client data is read or shown."""
    tables = export.tables()
    counts = export.row_counts(tables)
    rows = [(table, counts[table.name]) for table in tables]
    return render(
        request,
        "ops/export.html",
        {
            "rows": sorted(rows, key=lambda row: (-row[1], row[0].name)),
            "total": sum(counts.values()),
            "files": sum(1 for table in tables if table.file_fields),
            "excluded_tables": export.excluded_tables(),
            "excluded_columns": export.excluded_columns(),
        },
    )


def file_name(practice_name: str, at: datetime.datetime) -> str:
    stamp = at.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"kapflow-export-{slugify(practice_name) or 'practice'}-{stamp}.zip"


# The confirmation is asked inside staff_view, so that anyone the page refuses gets its 403 at
# once, and as a decorator rather than a middleware, so that the CSRF check has passed before the
# POST is kept in the session (allauth replays it itself, unchecked, once the admin has
# confirmed). Off when ACCOUNT_REAUTHENTICATION_REQUIRED is, as for the password pages.
@require_POST
@staff_view(Role.PRACTICE_ADMIN)
@reauthentication_required(app="allauth.account")
def export_download(request):
    """The archive, streamed as it is written. The audit row (who, when, how many rows of each
    table; nothing of any client) is written before the first byte leaves."""
    practice = practice_for(request)
    counts = export.row_counts()
    audit_record(
        request=request,
        action="kapflow.ops.export.downloaded",
        obj=practice,
        detail={"via": "page", "tables": len(counts), "rows": sum(counts.values()), "row_counts": counts},
    )
    response = StreamingHttpResponse(
        export.stream(practice_name=practice.name), content_type="application/zip"
    )
    response["Content-Disposition"] = f'attachment; filename="{file_name(practice.name, timezone.now())}"'
    response["Cache-Control"] = "no-store"
    # A proxy in front (nginx) passes the stream on as it comes instead of gathering it first.
    response["X-Accel-Buffering"] = "no"
    return response
