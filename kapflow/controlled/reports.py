"""What a registrant shows an inspector (docs/controlled-reports.md): the ledger of one lot or of
every lot of a drug over a period, and the dispensing record of 21 CFR 1304.22(c), each as rows
that the page, the CSV and the PDF lay out alike.

Every read here costs the same few queries whatever the size of the ledger: the lots and their
balances in one, a count, and a page (or a stream) of entries with the people, clients and doses
they name joined in. A lot's balance at a moment is never stored apart from its entries: the
balance at the start of a period is what the entries dated before it add up to, and the balance
at its end is the lot's balance now less what the entries dated after it add up to. Both sums
read only the entries outside the period, so the default period (the retention period, up to
today) reads almost none."""

import dataclasses
import datetime
from collections.abc import Iterator
from decimal import Decimal

from django.core.paginator import Paginator
from django.db.models import DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from kapflow.controlled.ledger import quantity_text
from kapflow.controlled.models import ZERO, Entry, Lot
from kapflow.medical.doses import number

# Entries a page of the report shows; the CSV holds them all.
PAGE_SIZE = 100
# The PDF is laid out in one request, and WeasyPrint takes about two seconds for each thousand
# rows of a table on a two-core machine (bench/controlled.py): past this many entries the PDF is
# refused with the count, and the person chooses a shorter period or the CSV, which streams.
PDF_MAX_ENTRIES = 2000
# Rows fetched from the database at a time while a CSV streams.
STREAM_CHUNK = 2000

# The people and records an entry names, read with it.
ENTRY_RELATED = (
    "lot",
    "person",
    "client",
    "witness",
    "second_witness",
    "reverses",
    "reversal",
    "administration",
)


@dataclasses.dataclass(frozen=True)
class Period:
    """From the start of `start` to the end of `end` (both inclusive), in the practice's time
    zone."""

    start: datetime.date
    end: datetime.date

    @property
    def start_at(self) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(self.start, datetime.time.min))

    @property
    def end_at(self) -> datetime.datetime:
        """The first moment after the period."""
        day_after = self.end + datetime.timedelta(days=1)
        return timezone.make_aware(datetime.datetime.combine(day_after, datetime.time.min))

    @property
    def slug(self) -> str:
        return f"{self.start.isoformat()}-to-{self.end.isoformat()}"


def years_before(day: datetime.date, years: int) -> datetime.date:
    """The same day `years` years earlier (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def retention_period(practice, today: datetime.date) -> Period:
    """The period the practice must be able to show: the last `controlled_retention_years`
    years up to today (21 CFR 1304.04: at least two years from each record's date)."""
    return Period(years_before(today, practice.controlled_retention_years), today)


@dataclasses.dataclass(frozen=True)
class Scope:
    """Which lots a report covers: one lot, every lot of one drug, or every lot."""

    lot_id: int | None = None
    drug: str = ""

    def lots(self) -> QuerySet[Lot]:
        lots = Lot.objects.all()
        if self.lot_id is not None:
            return lots.filter(pk=self.lot_id)
        if self.drug:
            return lots.filter(drug=self.drug)
        return lots

    def entries(self) -> QuerySet[Entry]:
        entries = Entry.objects.all()
        if self.lot_id is not None:
            return entries.filter(lot_id=self.lot_id)
        if self.drug:
            return entries.filter(lot__drug=self.drug)
        return entries


def lot_choices() -> list[tuple[int, str]]:
    """Every lot, for the report's form: one query."""
    return [(lot.pk, f"{lot} (expires {lot.expires_on:%Y-%m-%d})") for lot in Lot.objects.all()]


@dataclasses.dataclass
class LotSummary:
    lot: Lot
    opening: Decimal
    closing: Decimal
    now: Decimal

    @property
    def opening_text(self) -> str:
        return quantity_text(self.opening, self.lot)

    @property
    def closing_text(self) -> str:
        return quantity_text(self.closing, self.lot)

    @property
    def now_text(self) -> str:
        return quantity_text(self.now, self.lot)

    @property
    def opening_with_mg(self) -> str:
        return f"{self.opening_text} ({number(self.opening_mg)} mg)"

    @property
    def closing_with_mg(self) -> str:
        return f"{self.closing_text} ({number(self.closing_mg)} mg)"

    @property
    def opening_mg(self) -> Decimal:
        return self.opening * self.lot.strength_mg

    @property
    def closing_mg(self) -> Decimal:
        return self.closing * self.lot.strength_mg


def lot_summaries(scope: Scope, period: Period) -> list[LotSummary]:
    """Each lot in `scope`, in the order they were recorded, with its balance at the start and at
    the end of `period`, and now: two queries, the second reading only the entries dated
    outside the period (through the ledger's date index)."""
    latest = Entry.objects.filter(lot=OuterRef("pk")).order_by("-sequence").values("balance_after")[:1]
    field = DecimalField(max_digits=14, decimal_places=4)
    lots = list(
        scope.lots()
        .annotate(now=Coalesce(Subquery(latest, output_field=field), Value(ZERO), output_field=field))
        .order_by("pk")  # the order of period_entries
    )
    before, after = Q(occurred_at__lt=period.start_at), Q(occurred_at__gte=period.end_at)
    outside = {
        row["lot_id"]: row
        for row in scope.entries()
        .filter(before | after)
        .order_by()
        .values("lot_id")
        .annotate(before=Sum("quantity", filter=before), after=Sum("quantity", filter=after))
    }
    summaries = []
    for lot in lots:
        sums = outside.get(lot.pk, {})
        opening = sums.get("before") or ZERO
        summaries.append(
            LotSummary(lot=lot, opening=opening, closing=lot.now - (sums.get("after") or ZERO), now=lot.now)
        )
    return summaries


def period_entries(scope: Scope, period: Period) -> QuerySet[Entry]:
    """The entries of the lots in `scope` dated within `period`, lot by lot (in the order the
    lots were recorded) and in each lot in the order they were posted, with what they name."""
    return (
        scope.entries()
        .filter(occurred_at__gte=period.start_at, occurred_at__lt=period.end_at)
        .select_related(*ENTRY_RELATED)
        # The ledger's own index (lot, sequence) gives this order without a sort.
        .order_by("lot_id", "sequence")
    )


def dispensing_entries(period: Period) -> QuerySet[Entry]:
    """Every administration posted to the ledger and dated within `period`, in date order."""
    return (
        Entry.objects.filter(
            kind=Entry.Kind.ADMINISTRATION, occurred_at__gte=period.start_at, occurred_at__lt=period.end_at
        )
        .select_related(*ENTRY_RELATED)
        .order_by("occurred_at", "pk")
    )


def entry_page(entries: QuerySet[Entry], number: int, *, per_page: int | None = None):
    """Page `number` of `entries` (a Django Page whose object_list is the page's EntryRows):
    the page's ids are read first with nothing joined, then those entries with what they name,
    so that the database sorts a period's ids rather than a period's rows with every join."""
    ordering = entries.query.order_by
    page = Paginator(entries.values_list("pk", flat=True), per_page or PAGE_SIZE).get_page(number)
    ids = list(page.object_list)
    page.object_list = list(
        rows(Entry.objects.filter(pk__in=ids).select_related(*ENTRY_RELATED).order_by(*ordering))
    )
    return page


def named_client_ids(entries: QuerySet[Entry]) -> list[int]:
    """The clients `entries` name, for the audit row of a read that shows them: one query."""
    ids = entries.exclude(client__isnull=True).order_by().values_list("client_id", flat=True).distinct()
    return sorted(ids)


def oldest_entry_date(scope: Scope | None = None) -> datetime.date | None:
    """The date of the oldest entry in the ledger (of `scope`'s lots): one query."""
    entries = (scope or Scope()).entries()
    oldest = entries.order_by("occurred_at").values_list("occurred_at", flat=True).first()
    return timezone.localdate(oldest) if oldest else None


# Rows. Each entry becomes a row of named values that the page, the CSV and the PDF all read.


def person_name(user) -> str:
    return user.full_name if user is not None else ""


def client_address(client) -> str:
    if client is None:
        return ""
    place = " ".join(part for part in (client.region, client.postal_code) if part)
    return ", ".join(part for part in (client.address_line, client.city, place) if part)


def client_name(client) -> str:
    return f"{client.first_name} {client.last_name}" if client is not None else ""


@dataclasses.dataclass(frozen=True)
class EntryRow:
    entry: Entry

    @property
    def lot(self) -> Lot:
        return self.entry.lot

    @property
    def when(self) -> datetime.datetime:
        return timezone.localtime(self.entry.occurred_at)

    @property
    def kind(self) -> str:
        return self.entry.get_kind_display()

    @property
    def quantity(self) -> Decimal:
        return self.entry.quantity

    @property
    def quantity_text(self) -> str:
        sign = "+" if self.entry.quantity > 0 else "−"
        return sign + quantity_text(abs(self.entry.quantity), self.lot)

    @property
    def mg(self) -> Decimal:
        return self.entry.quantity * self.lot.strength_mg

    @property
    def mg_text(self) -> str:
        sign = "+" if self.entry.quantity > 0 else "−"
        return f"{sign}{number(abs(self.mg))} mg"

    @property
    def given_text(self) -> str:
        """A dose as given: "1.5 mL (75 mg)", without the ledger's sign."""
        quantity = abs(self.entry.quantity)
        return f"{quantity_text(quantity, self.lot)} ({number(quantity * self.lot.strength_mg)} mg)"

    @property
    def balance_text(self) -> str:
        return quantity_text(self.entry.balance_after, self.lot)

    @property
    def person(self) -> str:
        return person_name(self.entry.person)

    @property
    def client(self) -> str:
        return client_name(self.entry.client)

    @property
    def address(self) -> str:
        return client_address(self.entry.client)

    @property
    def witnesses(self) -> str:
        return ", ".join(
            name for name in (person_name(self.entry.witness), person_name(self.entry.second_witness)) if name
        )

    @property
    def party(self) -> str:
        """The supplier, recipient or reverse distributor, with its address and DEA number."""
        entry = self.entry
        if not entry.party_name:
            return ""
        parts = [entry.party_name, entry.party_address]
        if entry.party_dea_number:
            parts.append(f"DEA {entry.party_dea_number}")
        return ", ".join(part for part in parts if part)

    @property
    def reversal_text(self) -> str:
        """ "Reverses #12" on a correction, "Reversed by #15" on an entry put right."""
        entry = self.entry
        if entry.reverses_id is not None:
            return f"Reverses #{entry.reverses.sequence}"
        reversal = getattr(entry, "reversal", None)
        if reversal is not None:
            return f"Reversed by #{reversal.sequence}"
        return ""

    @property
    def reversed(self) -> bool:
        return getattr(self.entry, "reversal", None) is not None

    @property
    def order_id(self) -> int | None:
        administration = self.entry.administration
        return administration.order_id if administration is not None else None


def rows(entries) -> Iterator[EntryRow]:
    for entry in entries:
        yield EntryRow(entry)


def decimal_cell(value: Decimal) -> int | float:
    """A quantity as a spreadsheet number (kapflow.lib.spreadsheet writes numbers as they are):
    whole numbers as ints, the rest as floats, which hold four decimal places of a 12-digit
    quantity exactly as written."""
    value = value.normalize()
    return int(value) if value == value.to_integral_value() else float(value)


LEDGER_HEADER = [
    "lot number",
    "NDC",
    "substance",
    "finished form",
    "strength (mg per unit)",
    "unit",
    "entry number",
    "date",
    "time",
    "kind",
    "quantity (unit)",
    "quantity (mg)",
    "balance after (unit)",
    "balance after (mg)",
    "by",
    "client",
    "witness",
    "supplier or recipient",
    "DEA number",
    "reference",
    "reason",
    "reversal",
]


def substance(lot: Lot) -> str:
    return lot.get_drug_display().split(",")[0]


# The CSVs read plain values, not model instances: a period of years is a hundred thousand rows,
# and building eight model instances for each would cost most of the download.
LEDGER_VALUES = (
    "lot_id",
    "sequence",
    "occurred_at",
    "kind",
    "quantity",
    "balance_after",
    "person__full_name",
    "client__first_name",
    "client__last_name",
    "witness__full_name",
    "second_witness__full_name",
    "party_name",
    "party_address",
    "party_dea_number",
    "document_reference",
    "reason",
    "reverses__sequence",
    "reversal__sequence",
)
KIND_NAMES = dict(Entry.Kind.choices)


def _reversal(reverses: int | None, reversed_by: int | None) -> str | None:
    if reverses is not None:
        return f"Reverses #{reverses}"
    if reversed_by is not None:
        return f"Reversed by #{reversed_by}"
    return None


def _lots_by_id(scope: Scope | None = None) -> dict[int, Lot]:
    return {lot.pk: lot for lot in (scope or Scope()).lots()}


def ledger_csv_rows(scope: Scope, period: Period, summaries: list[LotSummary]) -> Iterator[list]:
    """The ledger report as CSV rows: a line per lot with its opening and closing balances, then
    every entry of the period, read from the database a chunk at a time."""
    yield ["period from", period.start, "to", period.end]
    yield ["lot number", "opening balance (unit)", "opening balance (mg)", "closing balance (unit)",
           "closing balance (mg)", "unit"]  # fmt: skip
    for summary in summaries:
        yield [
            summary.lot.lot_number,
            decimal_cell(summary.opening),
            decimal_cell(summary.opening_mg),
            decimal_cell(summary.closing),
            decimal_cell(summary.closing_mg),
            summary.lot.unit,
        ]
    yield []
    yield LEDGER_HEADER
    lots = {summary.lot.pk: summary.lot for summary in summaries}
    # What every row of a lot repeats, worked out once per lot.
    lot_cells = {
        pk: [
            lot.lot_number,
            lot.ndc or None,
            substance(lot),
            lot.get_form_display(),
            decimal_cell(lot.strength_mg),
            lot.unit,
        ]  # fmt: skip
        for pk, lot in lots.items()
    }
    entries = period_entries(scope, period).values_list(*LEDGER_VALUES)
    for (lot_id, sequence, occurred_at, kind, quantity, balance_after, person, first, last, witness,
         second_witness, party, address, dea, reference, reason, reverses, reversed_by) in entries.iterator(
        chunk_size=STREAM_CHUNK
    ):  # fmt: skip
        lot = lots[lot_id]
        when = timezone.localtime(occurred_at)
        yield [
            *lot_cells[lot_id],
            sequence,
            when.date(),
            f"{when:%H:%M}",
            KIND_NAMES.get(kind, kind),
            decimal_cell(quantity),
            decimal_cell(quantity * lot.strength_mg),
            decimal_cell(balance_after),
            decimal_cell(balance_after * lot.strength_mg),
            person,
            f"{first} {last}" if first is not None else None,
            ", ".join(name for name in (witness, second_witness) if name) or None,
            ", ".join(part for part in (party, address) if part) or None,
            dea or None,
            reference or None,
            reason or None,
            _reversal(reverses, reversed_by),
        ]


DISPENSING_HEADER = [
    "date",
    "time",
    "substance",
    "finished form",
    "strength (mg per unit)",
    "quantity (unit)",
    "unit",
    "quantity (mg)",
    "client",
    "client's address",
    "given by",
    "lot number",
    "order id",
    "balance after (unit)",
    "reversal",
]


DISPENSING_VALUES = (
    "lot_id",
    "occurred_at",
    "quantity",
    "balance_after",
    "client__first_name",
    "client__last_name",
    "client__address_line",
    "client__city",
    "client__region",
    "client__postal_code",
    "person__full_name",
    "administration__order_id",
    "reversal__sequence",
)


def dispensing_csv_rows(period: Period) -> Iterator[list]:
    """The dispensing record as CSV rows, read a chunk at a time."""
    yield ["period from", period.start, "to", period.end]
    yield DISPENSING_HEADER
    lots = _lots_by_id()
    entries = dispensing_entries(period).values_list(*DISPENSING_VALUES)
    for (lot_id, occurred_at, quantity, balance_after, first, last, street, city, region, postal_code,
         person, order_id, reversed_by) in entries.iterator(chunk_size=STREAM_CHUNK):  # fmt: skip
        lot = lots[lot_id]
        when = timezone.localtime(occurred_at)
        place = " ".join(part for part in (region, postal_code) if part)
        yield [
            when.date(),
            f"{when:%H:%M}",
            substance(lot),
            lot.get_form_display(),
            decimal_cell(lot.strength_mg),
            decimal_cell(-quantity),
            lot.unit,
            decimal_cell(-quantity * lot.strength_mg),
            f"{first} {last}",
            ", ".join(part for part in (street, city, place) if part) or None,
            person,
            lot.lot_number,
            order_id,
            decimal_cell(balance_after),
            _reversal(None, reversed_by),
        ]
