"""The outcome report and the income by month as the pages serve them: worked out once, then
read from the cache until one of their inputs changes (kapflow.lib.kept_figures says how, and
what the cache may never do).

The cached values are the Report (the outcome page and its CSV are both made from it:
aggregates, with no client's identity; the small-cell rule is applied to it as before, when its
tables are made) and the Income (sums over the practice's ledger, naming no client).
"""

import datetime

from kapflow.billing.models import Charge, Entry, Fee, Invoice, InvoiceLine
from kapflow.dosing.models import Administration, AdverseEvent, Runbook
from kapflow.lib.kept_figures import KeptFigures
from kapflow.measures.models import Response
from kapflow.outcomes.income import Income, build_income
from kapflow.outcomes.report import Report, build_report, period_bounds
from kapflow.visits.models import Visit

# Every model whose rows build_report reads, and the modules its figures and labels come from.
REPORT = KeptFigures(
    "outcomes",
    inputs=(Visit, Runbook, Administration, AdverseEvent, Response),
    sources=(
        "kapflow.outcomes.report",
        "kapflow.measures.instruments",
        "kapflow.measures.scoring",
        "kapflow.medical.models",
        "kapflow.visits.models",
        "kapflow.dosing.models",
    ),
)
# Every model whose rows build_income reads. Each is append-only at the database but the invoice,
# which changes through save() as it is issued (kapflow.audit.immutable); the amount the database
# keeps owed on an invoice changes only as a line or an entry is inserted.
INCOME = KeptFigures(
    "income",
    inputs=(Charge, InvoiceLine, Entry, Invoice, Fee),
    sources=("kapflow.outcomes.income", "kapflow.billing.models", "kapflow.visits.models"),
)


def connect_signals() -> None:
    REPORT.connect_signals()
    INCOME.connect_signals()


def report_for(*, start: datetime.date, end: datetime.date) -> Report:
    """build_report(start=start, end=end), from the cache when none of its inputs changed."""
    since, until = period_bounds(start, end)
    return REPORT.get((since.isoformat(), until.isoformat()), lambda: build_report(start=start, end=end))


def income_for(*, start: datetime.date, end: datetime.date) -> Income:
    """build_income(start=start, end=end), from the cache when none of its inputs changed."""
    return INCOME.get((start.isoformat(), end.isoformat()), lambda: build_income(start=start, end=end))
