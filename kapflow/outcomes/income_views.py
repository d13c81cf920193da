"""The practice's income by month (docs/income.md), the outcome report's sibling page.

Who may open it: the people who keep the practice's money, its coordinators and practice
admins (kapflow.billing.access.can_bill; docs/access.md, "Billing"). Not the outcome report's
rule: that report is clinical quality data for the admin and the clinicians, while this page is
money, which clinicians do not see (they see their clients' diagnoses, not their accounts) and
which the coordinator records entry by entry. The page holds sums over the whole practice and
names no client, so it writes no client's audit row; each view and download writes one audit
row with its period, as the outcome report's do.
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.audit.services import audit_record
from kapflow.billing.access import can_bill
from kapflow.billing.services import money
from kapflow.lib.spreadsheet import csv_response
from kapflow.outcomes.cached import income_for
from kapflow.outcomes.income import income_csv_rows, income_tables, month_label
from kapflow.outcomes.income_forms import IncomePeriodForm, default_months
from kapflow.outcomes.views import REPORT_ROLES

INCOME_ROLES = (Role.PRACTICE_ADMIN, Role.COORDINATOR)


def _period_detail(form: IncomePeriodForm) -> dict:
    return {"from": f"{form.cleaned_data['start']:%Y-%m}", "to": f"{form.cleaned_data['end']:%Y-%m}"}


def _income_for(request, form: IncomePeriodForm):
    if not can_bill(request.user):  # the same people as INCOME_ROLES, as the billing pages ask
        raise PermissionDenied
    return income_for(start=form.cleaned_data["start"], end=form.cleaned_data["end"])


def _shortcuts() -> list[tuple[str, str, str]]:
    """Links to the periods most often asked for: the last twelve months, this year, last year."""
    start, end = default_months()
    this_year = end.replace(month=1)
    last_year = this_year.replace(year=this_year.year - 1)
    return [
        ("Last 12 months", f"{start:%Y-%m}", f"{end:%Y-%m}"),
        (f"{end.year} so far", f"{this_year:%Y-%m}", f"{end:%Y-%m}"),
        (str(last_year.year), f"{last_year:%Y-%m}", f"{last_year.year}-12"),
    ]


def _page(request, form: IncomePeriodForm, income=None, status: int = 200):
    return render(
        request,
        "outcomes/income.html",
        {
            "form": form,
            "income": income,
            "tables": income_tables(income) if income else [],
            "total": income.total if income else None,
            "charged": money(income.total.charged) if income else "",
            "net_received": money(income.total.net_received) if income else "",
            "first_label": month_label(income.start) if income else "",
            "last_label": month_label(income.end) if income else "",
            "shortcuts": _shortcuts(),
            "query": (
                f"start={form.cleaned_data['start']:%Y-%m}&end={form.cleaned_data['end']:%Y-%m}"
                if income
                else ""
            ),
            # The sibling link, for those who may open the outcome report too.
            "sees_outcomes": request.user.has_role(*REPORT_ROLES) and not request.user.outside_practice,
        },
        status=status,
    )


@require_GET
@staff_view(*INCOME_ROLES)
def income(request):
    form = IncomePeriodForm.from_query(request.GET)
    if not form.is_valid():
        return _page(request, form, status=400)
    result = _income_for(request, form)
    audit_record(request=request, action="kapflow.outcomes.income.viewed", detail=_period_detail(form))
    return _page(request, form, result)


@require_GET
@staff_view(*INCOME_ROLES)
def income_csv(request):
    form = IncomePeriodForm.from_query(request.GET)
    if not form.is_valid():
        return _page(request, form, status=400)
    result = _income_for(request, form)
    audit_record(request=request, action="kapflow.outcomes.income.downloaded", detail=_period_detail(form))
    return csv_response(f"income-{result.start:%Y-%m}-to-{result.end:%Y-%m}.csv", income_csv_rows(result))
