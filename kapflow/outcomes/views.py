"""The practice outcome report.

Who may open it: the practice admin and the clinicians (therapists and prescribers), for the
whole practice; not the coordinator. The report holds no client's identity, only aggregates over
the practice, and a figure drawn from fewer than five clients is not shown (see
kapflow.outcomes.report). That is the practice's own quality data, which the admin answers for
and every clinician learns from, so it is not limited to a clinician's caseload. The coordinator
sees no clinical content anywhere (docs/access.md), and outcome figures are
clinical content, so the coordinator is refused (403). Each view and download writes an audit
row naming no client.
"""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.lib.spreadsheet import csv_response
from kapflow.outcomes import published
from kapflow.outcomes.cached import report_for
from kapflow.outcomes.forms import PeriodForm
from kapflow.outcomes.report import (
    MIN_CELL,
    ended_quarters,
    quarter_label,
    report_csv_rows,
    report_tables,
)

REPORT_ROLES = (Role.PRACTICE_ADMIN, Role.THERAPIST, Role.PRESCRIBER)


def _period_detail(form: PeriodForm) -> dict:
    return {"from": form.cleaned_data["start"].isoformat(), "to": form.cleaned_data["end"].isoformat()}


def _page(request, form: PeriodForm, report=None, status: int = 200):
    return render(
        request,
        "outcomes/report.html",
        {
            "form": form,
            "report": report,
            "tables": report_tables(report) if report else [],
            "published": published.FIGURES,
            "min_cell": MIN_CELL,
            # Links to the latest quarters, the only periods the report covers.
            "quarters": [
                (quarter_label(start), start, end) for start, end in ended_quarters(timezone.localdate(), 8)
            ],
        },
        status=status,
    )


@require_GET
@staff_view(*REPORT_ROLES)
def report(request):
    form = PeriodForm.from_query(request.GET)
    if not form.is_valid():
        return _page(request, form, status=400)
    result = report_for(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    audit_record(request=request, action="kapflow.outcomes.report.viewed", detail=_period_detail(form))
    return _page(request, form, result)


@require_GET
@staff_view(*REPORT_ROLES)
def report_csv(request):
    form = PeriodForm.from_query(request.GET)
    if not form.is_valid():
        return _page(request, form, status=400)
    result = report_for(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    audit_record(request=request, action="kapflow.outcomes.report.downloaded", detail=_period_detail(form))
    return csv_response(
        f"outcomes-{result.start.isoformat()}-to-{result.end.isoformat()}.csv", report_csv_rows(result)
    )
