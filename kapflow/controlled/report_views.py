"""The controlled-substance reports (docs/controlled-reports.md): the ledger by lot and period, and
the dispensing record, each as a page, a CSV and a PDF.

Who may open them: whoever keeps the stock (ledger.can_keep_stock: the practice's prescribers
and its admins); everyone else on the staff gets 403. They are the registrant's records, not a
client's chart, so they are not limited to a care team: the DEA record names every client given
a dose from the practice's stock, and the registrant must produce it whole. Each read writes an
audit row naming the clients it showed (`"clients": [ids]`, as the dashboard's lists do)."""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.controlled import reports
from kapflow.controlled.ledger import can_keep_stock
from kapflow.controlled.report_forms import DispensingForm, LedgerReportForm
from kapflow.lib.params import parse_int
from kapflow.lib.spreadsheet import csv_stream
from kapflow.practice.models import practice_for

STOCK_ROLES = (Role.PRACTICE_ADMIN, Role.PRESCRIBER)
MAX_PAGE = 10**9


def _keeper(request) -> None:
    if not can_keep_stock(request.user):
        raise PermissionDenied


def _default_period(request) -> reports.Period:
    return reports.retention_period(practice_for(request), timezone.localdate())


def _retention(request) -> dict:
    """What the pages say of how long the records are kept, and from when the ledger runs."""
    practice = practice_for(request)
    return {
        "retention_years": practice.controlled_retention_years,
        "oldest_entry_on": reports.oldest_entry_date(),
        "default_period": _default_period(request),
    }


def _ledger_form(request) -> LedgerReportForm:
    return LedgerReportForm(request.GET, default=_default_period(request), lots=reports.lot_choices())


def _period_detail(form, **extra) -> dict:
    period = form.period
    detail = {"from": period.start.isoformat(), "to": period.end.isoformat(), **extra}
    scope = getattr(form, "scope", None)
    if scope is not None:
        if scope.lot_id is not None:
            detail["lot"] = scope.lot_id
        elif scope.drug:
            detail["drug"] = scope.drug
    return detail


def _page_number(request) -> int:
    return parse_int(request.GET.get("page"), minimum=1, maximum=MAX_PAGE) or 1


def _pdf(request, template: str, filename: str, context: dict) -> HttpResponse:
    """A report as a PDF (WeasyPrint, as the letters and the record copies are made), headed
    with the practice, its DEA registration and registrant, the period, and who made it when."""
    from weasyprint import HTML

    practice = practice_for(request)
    html = render_to_string(
        template,
        {
            "practice": practice,
            "registrant": practice.dea_registrant.full_name if practice.dea_registrant_id else "",
            "produced_at": timezone.localtime(),
            "produced_by": request.user.full_name,
            **context,
        },
    )
    response = HttpResponse(HTML(string=html).write_pdf(), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _too_long(form, count: int) -> None:
    form.add_error(
        None,
        f"The period holds {count:,} entries; a PDF holds at most {reports.PDF_MAX_ENTRIES:,}. "
        "Choose a shorter period for the PDF, or download the CSV, which holds them all.",
    )


# The ledger report.


def _ledger_page(request, form, *, status=200, **context):
    return render(
        request,
        "controlled/report_ledger.html",
        {"form": form, **_retention(request), **context},
        status=status,
    )


@require_GET
@staff_view(*STOCK_ROLES)
def ledger(request):
    _keeper(request)
    form = _ledger_form(request)
    if not form.is_valid():
        return _ledger_page(request, form, status=400)
    scope, period = form.scope, form.period
    summaries = reports.lot_summaries(scope, period)
    page = reports.entry_page(reports.period_entries(scope, period), _page_number(request))
    rows = page.object_list
    clients = sorted({row.entry.client_id for row in rows if row.entry.client_id})
    audit_record(
        request=request,
        action="kapflow.controlled.report.viewed",
        detail={**_period_detail(form, report="ledger", page=page.number), "clients": clients},
    )
    return _ledger_page(
        request,
        form,
        summaries=summaries,
        page=page,
        rows=rows,
        query=form.query(),
        period=period,
        pdf_max=reports.PDF_MAX_ENTRIES,
    )


@require_GET
@staff_view(*STOCK_ROLES)
def ledger_csv(request):
    _keeper(request)
    form = _ledger_form(request)
    if not form.is_valid():
        return _ledger_page(request, form, status=400)
    scope, period = form.scope, form.period
    summaries = reports.lot_summaries(scope, period)
    audit_record(
        request=request,
        action="kapflow.controlled.report.downloaded",
        detail={
            **_period_detail(form, report="ledger", format="csv"),
            "clients": reports.named_client_ids(reports.period_entries(scope, period)),
        },
    )
    return csv_stream(
        f"controlled-ledger-{period.slug}.csv", reports.ledger_csv_rows(scope, period, summaries)
    )


@require_GET
@staff_view(*STOCK_ROLES)
def ledger_pdf(request):
    _keeper(request)
    form = _ledger_form(request)
    if not form.is_valid():
        return _ledger_page(request, form, status=400)
    scope, period = form.scope, form.period
    entries = reports.period_entries(scope, period)
    rows = list(reports.rows(entries[: reports.PDF_MAX_ENTRIES + 1]))
    if len(rows) > reports.PDF_MAX_ENTRIES:
        _too_long(form, entries.count())
        return _ledger_page(request, form, status=400)
    audit_record(
        request=request,
        action="kapflow.controlled.report.downloaded",
        detail={
            **_period_detail(form, report="ledger", format="pdf"),
            "clients": sorted({row.entry.client_id for row in rows if row.entry.client_id}),
        },
    )
    return _pdf(
        request,
        "controlled/report_ledger_pdf.html",
        f"controlled-ledger-{period.slug}.pdf",
        {
            "period": period,
            "summaries": reports.lot_summaries(scope, period),
            "rows": rows,
            **_retention(request),
        },
    )


# The dispensing record (21 CFR 1304.22(c)).


def _dispensing_form(request) -> DispensingForm:
    return DispensingForm(request.GET, default=_default_period(request))


def _dispensing_page(request, form, *, status=200, **context):
    return render(
        request,
        "controlled/report_dispensing.html",
        {"form": form, **_retention(request), **context},
        status=status,
    )


@require_GET
@staff_view(*STOCK_ROLES)
def dispensing(request):
    _keeper(request)
    form = _dispensing_form(request)
    if not form.is_valid():
        return _dispensing_page(request, form, status=400)
    period = form.period
    page = reports.entry_page(reports.dispensing_entries(period), _page_number(request))
    rows = page.object_list
    audit_record(
        request=request,
        action="kapflow.controlled.report.viewed",
        detail={
            **_period_detail(form, report="dispensing", page=page.number),
            "clients": sorted({row.entry.client_id for row in rows}),
        },
    )
    return _dispensing_page(
        request,
        form,
        page=page,
        rows=rows,
        query=form.query(),
        period=period,
        pdf_max=reports.PDF_MAX_ENTRIES,
    )


@require_GET
@staff_view(*STOCK_ROLES)
def dispensing_csv(request):
    _keeper(request)
    form = _dispensing_form(request)
    if not form.is_valid():
        return _dispensing_page(request, form, status=400)
    period = form.period
    audit_record(
        request=request,
        action="kapflow.controlled.report.downloaded",
        detail={
            **_period_detail(form, report="dispensing", format="csv"),
            "clients": reports.named_client_ids(reports.dispensing_entries(period)),
        },
    )
    return csv_stream(f"dispensing-record-{period.slug}.csv", reports.dispensing_csv_rows(period))


@require_GET
@staff_view(*STOCK_ROLES)
def dispensing_pdf(request):
    _keeper(request)
    form = _dispensing_form(request)
    if not form.is_valid():
        return _dispensing_page(request, form, status=400)
    period = form.period
    entries = reports.dispensing_entries(period)
    rows = list(reports.rows(entries[: reports.PDF_MAX_ENTRIES + 1]))
    if len(rows) > reports.PDF_MAX_ENTRIES:
        _too_long(form, entries.count())
        return _dispensing_page(request, form, status=400)
    audit_record(
        request=request,
        action="kapflow.controlled.report.downloaded",
        detail={
            **_period_detail(form, report="dispensing", format="pdf"),
            "clients": sorted({row.entry.client_id for row in rows}),
        },
    )
    return _pdf(
        request,
        "controlled/report_dispensing_pdf.html",
        f"dispensing-record-{period.slug}.pdf",
        {"period": period, "rows": rows, **_retention(request)},
    )
