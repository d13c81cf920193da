"""The practice's income by month (docs/income.md): what was charged, invoiced, received,
refunded and written off in each calendar month of a period, and what was owed at each month's
end, with the period's charges by visit kind and by billing code.

Every figure is summed from the ledger's rows (kapflow.billing.models), as a Decimal exact to
the cent, in a fixed number of queries whatever the number of rows (build_income says which);
what was owed before the period starts from the amounts the database keeps owed on each invoice
(kapflow.billing.db).

The ledger's dates are already days of the practice's calendar: a charge's date of service is
the visit's start in the practice's time zone (kapflow.billing.services.visit_charge), an
invoice's date of issue and an entry's date are local days. So a month here is a run of those
days, and a payment recorded at 23:30 on the 31st is in that month, whatever the hour in UTC.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, DecimalField, Sum

from kapflow.billing.models import CENT, Charge, Entry, Fee, Invoice
from kapflow.billing.services import money
from kapflow.visits.models import Visit

ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=14, decimal_places=2)


def _cents(value) -> Decimal:
    """A database sum as dollars and cents: zero for no rows."""
    return ZERO if value is None else Decimal(value).quantize(CENT)


def first_of(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(month: datetime.date) -> datetime.date:
    return datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def last_day(month: datetime.date) -> datetime.date:
    return next_month(month) - datetime.timedelta(days=1)


def months_between(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    """The first day of each month from `first`'s month to `last`'s, both included."""
    months, month = [], first_of(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def month_label(month: datetime.date) -> str:
    return f"{month:%B} {month.year}"


@dataclass
class Month:
    """One row of the monthly table (docs/income.md, "The columns")."""

    month: datetime.date  # its first day
    charged: Decimal = ZERO
    charges: int = 0
    invoiced: Decimal = ZERO
    received: Decimal = ZERO
    refunded: Decimal = ZERO
    written_off: Decimal = ZERO
    owed: Decimal = ZERO  # at the month's end

    @property
    def net_received(self) -> Decimal:
        return self.received - self.refunded

    @property
    def owed_change(self) -> Decimal:
        """What the month did to what is owed: invoiced, less payments, plus refunds, less write-offs."""
        return self.invoiced - self.received + self.refunded - self.written_off

    @property
    def label(self) -> str:
        return month_label(self.month)


@dataclass
class Line:
    """The period's charges of one visit kind or one billing code."""

    key: str
    label: str
    charged: Decimal = ZERO
    charges: int = 0


@dataclass
class Income:
    start: datetime.date  # the first day of the first month
    end: datetime.date  # the last day of the last month
    owed_before: Decimal  # at the end of the day before `start`
    months: list[Month]
    by_kind: list[Line] = field(default_factory=list)
    by_code: list[Line] = field(default_factory=list)

    @property
    def total(self) -> Month:
        """The totals row: sums of the flows, and what was owed at the period's end."""
        total = Month(month=self.start, owed=self.months[-1].owed if self.months else self.owed_before)
        for month in self.months:
            total.charged += month.charged
            total.charges += month.charges
            total.invoiced += month.invoiced
            total.received += month.received
            total.refunded += month.refunded
            total.written_off += month.written_off
        return total


def build_income(*, start: datetime.date, end: datetime.date) -> Income:
    """The income of each calendar month from `start`'s month to `end`'s, in five queries, each
    reading the period (and, for what was owed, the days since) but never the years before it.

    Each table is grouped by day and folded into months here: grouping by the dated column
    itself follows its index, where grouping by a month worked out for every row (SQLite calls a
    Python function for each) cost a practice's year about 60 ms a table. What was owed when
    the period began is what is owed now (the amounts the database keeps on each invoice,
    kapflow.billing.db) less what moved since: summing every invoice and entry before the period
    instead read a practice's whole history, and more of it every year."""
    start, end = first_of(start), last_day(first_of(end))
    months = {month: Month(month=month) for month in months_between(start, end)}
    # What moved after the period (a past period's): not in its table, but taken off what is
    # owed now to find what was owed at its months' ends.
    after = Month(month=next_month(end))

    def month_of(day: datetime.date) -> Month:
        return months.get(first_of(day)) or after

    # Charged: by date of service, and by the fee line each charge was made at (a line is for
    # one kind of visit, with one code): one query read both ways, for the months and for the
    # tables by visit kind and by billing code below.
    charges = Charge.objects.filter(service_date__gte=start, service_date__lte=end).order_by()
    per_day_and_line = list(
        charges.values("service_date", "fee_id").annotate(
            total=Sum("amount", output_field=_MONEY), n=Count("pk")
        )
    )
    for row in per_day_and_line:
        month = months[first_of(row["service_date"])]
        month.charged += _cents(row["total"])
        month.charges += row["n"]

    # Invoiced: the charges on the invoices issued in each month, and since.
    issued_on = "invoice_line__invoice__issued_on"
    for row in (
        Charge.objects.filter(**{f"{issued_on}__gte": start})
        .order_by()
        .values(issued_on)
        .annotate(total=Sum("amount", output_field=_MONEY))
    ):
        month_of(row[issued_on]).invoiced += _cents(row["total"])

    # Received, refunded, written off: by the entry's date, in the period and since.
    moved = {
        Entry.Kind.PAYMENT: "received",
        Entry.Kind.REFUND: "refunded",
        Entry.Kind.WRITE_OFF: "written_off",
    }
    for row in (
        Entry.objects.filter(received_on__gte=start)
        .order_by()
        .values("received_on", "kind")
        .annotate(total=Sum("amount", output_field=_MONEY))
    ):
        month, name = month_of(row["received_on"]), moved[row["kind"]]
        setattr(month, name, getattr(month, name) + _cents(row["total"]))

    # Owed at each month's end: what was owed when the period began (what is owed now, less all
    # that moved since), plus each month's invoices, less payments, plus refunds, less write-offs.
    owed_now = Invoice.objects.filter(owed_cents__gt=0).aggregate(cents=Sum("owed_cents"))["cents"] or 0
    owed = owed_now * CENT
    for month in [*months.values(), after]:
        owed -= month.owed_change
    owed_before = owed
    for month in months.values():
        owed += month.owed_change
        month.owed = owed

    # By visit kind and by billing code, from the charges per fee line above.
    kinds = dict(Visit.Kind.choices)
    fees = {pk: (kind, code) for pk, kind, code in Fee.objects.values_list("pk", "kind", "code")}
    lines_by_kind: dict[str, Line] = {}
    lines_by_code: dict[str, Line] = {}
    for row in per_day_and_line:
        kind, code = fees[row["fee_id"]]
        for line in (
            lines_by_kind.setdefault(kind, Line(key=kind, label=kinds.get(kind, kind))),
            lines_by_code.setdefault(code, Line(key=code, label=code)),
        ):
            line.charged += _cents(row["total"])
            line.charges += row["n"]
    by_kind, by_code = list(lines_by_kind.values()), list(lines_by_code.values())
    # The order of Visit.Kind (the course's order) for kinds, the code's own for codes.
    order = {value: n for n, value in enumerate(kinds)}
    by_kind.sort(key=lambda line: (order.get(line.key, len(order)), line.key))
    by_code.sort(key=lambda line: line.key)
    return Income(
        start=start,
        end=end,
        owed_before=owed_before,
        months=list(months.values()),
        by_kind=by_kind,
        by_code=by_code,
    )


# --- The page's tables ---------------------------------------------------------------------------

MONTH_COLUMNS = [
    ("charged", "Charged"),
    ("charges", "Charges"),
    ("invoiced", "Invoiced"),
    ("received", "Received"),
    ("refunded", "Refunded"),
    ("net_received", "Net received"),
    ("written_off", "Written off"),
    ("owed", "Owed at month end"),
]


@dataclass
class Table:
    key: str
    title: str
    head: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]
    total: tuple[str, list[str]] | None
    note: str = ""


def _cell(value) -> str:
    return f"{value:,}" if isinstance(value, int) else money(value)


def income_tables(income: Income) -> list[Table]:
    """The page's three tables, every cell as the page prints it."""
    total = income.total
    months = Table(
        key="months",
        title="By month",
        head="Month",
        columns=[label for _, label in MONTH_COLUMNS],
        rows=[
            (month.label, [_cell(getattr(month, key)) for key, _ in MONTH_COLUMNS]) for month in income.months
        ],
        total=(
            "Total",
            [_cell(getattr(total, key)) for key, _ in MONTH_COLUMNS[:-1]] + [_cell(total.owed)],
        ),
        note=f"Owed before the period began: {_cell(income.owed_before)}. The total's “owed” is what "
        "was owed at the end of the last month.",
    )
    lines = []
    for key, title, head, rows in (
        ("kinds", "Charged by visit kind", "Visit kind", income.by_kind),
        ("codes", "Charged by billing code", "Billing code", income.by_code),
    ):
        lines.append(
            Table(
                key=key,
                title=title,
                head=head,
                columns=["Charged", "Charges"],
                rows=[(line.label, [_cell(line.charged), _cell(line.charges)]) for line in rows],
                total=("Total", [_cell(total.charged), _cell(total.charges)]),
                note="By date of service, in the period." if rows else "Nothing was charged in the period.",
            )
        )
    return [months, *lines]


# --- The CSV (kapflow.lib.spreadsheet) ----------------------------------------------------------

CSV_HEADER = ["from", "to", "table", "row", "measure", "unit", "value"]
MONTH_MEASURES = [
    ("charged", "USD"),
    ("charges", "charges"),
    ("invoiced", "USD"),
    ("received", "USD"),
    ("refunded", "USD"),
    ("net_received", "USD"),
    ("written_off", "USD"),
    ("owed", "USD"),
]


class Dollars(float):
    """An amount as the CSV holds it: a number (kapflow.lib.spreadsheet leaves numbers alone, so a
    negative one is not taken for a formula) written with its two places, "1234.50", from the
    Decimal itself, so nothing is lost to the cent."""

    def __new__(cls, amount: Decimal):
        number = super().__new__(cls, amount)
        number.text = f"{amount.quantize(CENT)}"
        return number

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _value(amount):
    return amount if isinstance(amount, int) else Dollars(amount)


def income_csv_rows(income: Income) -> list[list]:
    """The page's figures, one a line, as the outcome report's CSV has them (docs/income.md,
    "The download")."""
    rows: list[list] = [CSV_HEADER]
    span = [income.start, income.end]
    labelled = [(f"{month.month:%Y-%m}", month) for month in income.months] + [("total", income.total)]
    for label, month in labelled:
        for measure, unit in MONTH_MEASURES:
            rows.append(
                [*span, "by month", label, measure.replace("_", " "), unit, _value(getattr(month, measure))]
            )
    for table, lines in (("by visit kind", income.by_kind), ("by billing code", income.by_code)):
        for line in lines:
            rows.append([*span, table, line.label, "charged", "USD", _value(line.charged)])
            rows.append([*span, table, line.label, "charges", "charges", line.charges])
    return rows
