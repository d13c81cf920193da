"""Superbills (docs/superbills.md): what a self-pay client sends their insurer to claim
out-of-network benefits, laid out like the CMS-1500 claim form, for a period of their charges.

A period is a calendar month, or a course (docs/superbills.md, "Periods"). A superbill is
refused, with reasons a client reads and a coordinator can put right, when something an insurer
needs is missing (`superbill_problems`); otherwise `superbill_data` holds everything printed and
`superbill_pdf` prints it (WeasyPrint, as kapflow.records.pdf does). Nothing is stored: a
superbill is made afresh from the ledger each time, and each download is audited
(`superbill_give`)."""

import calendar
import datetime
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.billing.models import BillingProfile, Charge, Diagnosis, Entry
from kapflow.billing.services import BillingRefused, money
from kapflow.clients.models import Client
from kapflow.lib.identifiers import ein_problem, npi_problem
from kapflow.practice.models import Practice

ZERO = Decimal("0.00")
LETTERS = "ABCDEFGHIJKL"  # CMS-1500 item 21 holds twelve diagnoses
POINTERS_PER_LINE = 4  # item 24E points to at most four of them
PLACES = {"11": "Office", "10": "Telehealth, at home", "02": "Telehealth, not at home"}


def _day(value: datetime.date) -> str:
    return f"{value:%m/%d/%Y}"


def _shown(value: datetime.date) -> str:
    """A day as the pages show one ("Dec 5, 2026"): a period's label is read on the portal and
    the staff pages; the claim form's MM/DD/YYYY stays in the PDF's dates of service."""
    return f"{value:%b} {value.day}, {value.year}"


# --- Periods ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The dates of service a superbill covers, both days included. `key` names it in a URL."""

    kind: str  # "month" or "course"
    start: datetime.date
    end: datetime.date
    label: str
    key: str

    def holds(self, day: datetime.date) -> bool:
        return self.start <= day <= self.end

    @property
    def dates_text(self) -> str:
        return f"{_day(self.start)} to {_day(self.end)}"


def month_period(year: int, month: int) -> Period:
    last = calendar.monthrange(year, month)[1]
    start = datetime.date(year, month, 1)
    return Period("month", start, start.replace(day=last), f"{start:%B %Y}", f"{year:04d}-{month:02d}")


def course_periods(client: Client, *, first_charge: datetime.date | None = None) -> list[Period]:
    """The client's courses as periods (docs/superbills.md, "Periods"). The versions of a plan
    that share their `counts_from` are one course (an extension keeps its course's; a new course
    or maintenance starts its own). A course runs from that day (the first course, which has
    none, from the client's first date of service, so that the consultation and the medical
    evaluation before the plan belong to it) to the day before the next one starts, and the last
    to the day it ended at discharge, or today."""
    from kapflow.pathway.models import CoursePlan

    plans = list(CoursePlan.objects.filter(client=client).order_by("created_at", "pk"))
    groups: dict = {}
    for plan in plans:
        groups.setdefault(plan.counts_from, []).append(plan)
    today = timezone.localdate()
    starts = []
    for counts_from, versions in groups.items():
        first = versions[0]
        if counts_from is not None:
            start = timezone.localdate(counts_from)
        else:
            start = timezone.localdate(first.created_at)
            if first_charge is not None:
                start = min(start, first_charge)
        starts.append((start, versions))
    starts.sort(key=lambda item: (item[0], item[1][0].created_at, item[1][0].pk))
    periods = []
    for index, (start, versions) in enumerate(starts):
        if index + 1 < len(starts):
            end = starts[index + 1][0] - datetime.timedelta(days=1)
        else:
            last = versions[-1]
            end = timezone.localdate(last.ended_at) if last.ended_at is not None else today
        if end < start:
            continue
        first = versions[0]
        if first.kind == CoursePlan.Kind.MAINTENANCE:
            name = f"Maintenance after course {first.course_number}"
        else:
            name = f"Course {first.course_number}"
        periods.append(
            Period("course", start, end, f"{name} ({_shown(start)} to {_shown(end)})", f"course-{first.pk}")
        )
    return periods


_MONTH_KEY = re.compile(r"(\d{4})-(\d{2})")


def periods_with_charges(client: Client, charges: list[Charge] | None = None) -> list[Period]:
    """The months with a charge, newest first, then the courses with a charge, newest first."""
    if charges is None:
        charges = list(Charge.objects.filter(client=client).only("service_date").order_by("service_date"))
    days = sorted({charge.service_date for charge in charges})
    months = sorted({(day.year, day.month) for day in days}, reverse=True)
    periods = [month_period(year, month) for year, month in months]
    courses = course_periods(client, first_charge=days[0] if days else None)
    periods += [p for p in reversed(courses) if any(p.holds(day) for day in days)]
    return periods


def period_for(client: Client, key: str) -> Period | None:
    """The period a URL's key names, or None (the page answers 404)."""
    match = _MONTH_KEY.fullmatch(key or "")
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if 1 <= month <= 12 and 1900 <= year <= 9999:
            return month_period(year, month)
        return None
    if (key or "").startswith("course-"):
        first = (
            Charge.objects.filter(client=client)
            .order_by("service_date")
            .values_list("service_date", flat=True)
        )
        first_charge = first.first()
        for period in course_periods(client, first_charge=first_charge):
            if period.key == key:
                return period
    return None


# --- What the ledger holds for a client -------------------------------------------------------


@dataclass
class Ledger:
    """A client's charges, diagnoses and the money on their invoices, read once (five queries)
    so that every period on a page is checked without reading them again."""

    client: Client
    charges: list[Charge]
    diagnoses: list[Diagnosis]
    entries: list[Entry]
    profile: BillingProfile | None
    invoice_charges: dict[int, list[Charge]] = field(default_factory=dict)

    def charges_in(self, period: Period) -> list[Charge]:
        return [charge for charge in self.charges if period.holds(charge.service_date)]

    def current_on(self, day: datetime.date) -> list[Diagnosis]:
        return [diagnosis for diagnosis in self.diagnoses if diagnosis.current_on(day)]


def ledger_for(client: Client) -> Ledger:
    charges = list(
        Charge.objects.filter(client=client)
        .select_related("clinician", "fee", "invoice_line__invoice")
        .order_by("service_date", "pk")
    )
    diagnoses = list(Diagnosis.objects.filter(client=client).order_by("diagnosed_on", "pk"))
    entries = list(
        Entry.objects.filter(client=client).select_related("invoice").order_by("received_on", "pk")
    )
    profile = BillingProfile.objects.filter(client=client).first()
    by_invoice: dict[int, list[Charge]] = defaultdict(list)
    for charge in charges:
        invoice_id = _invoice_id(charge)
        if invoice_id is not None:
            by_invoice[invoice_id].append(charge)
    return Ledger(client, charges, diagnoses, entries, profile, dict(by_invoice))


def _has_line(charge: Charge) -> bool:
    try:
        charge.invoice_line  # noqa: B018 (select_related reads it; a missing one raises)
    except Charge.invoice_line.RelatedObjectDoesNotExist:
        return False
    return True


def _invoice_id(charge: Charge) -> int | None:
    return charge.invoice_line.invoice_id if _has_line(charge) else None


# --- Why a superbill is refused ---------------------------------------------------------------


def client_address(client: Client) -> str:
    place = " ".join(part for part in (client.region, client.postal_code) if part)
    return ", ".join(part for part in (client.address_line, client.city, place) if part)


def superbill_problems(
    client: Client, period: Period, practice: Practice, *, ledger: Ledger | None = None
) -> list[str]:
    """Why no superbill can be given for `period`, in words the client reads and a coordinator
    can act on; empty when it can be. docs/superbills.md, "When a superbill is refused"."""
    ledger = ledger or ledger_for(client)
    charges = ledger.charges_in(period)
    if not charges:
        return [f"There are no charges for {period.label}, so there is nothing to claim."]
    problems = []
    if not practice.tax_id.strip():
        problems.append(
            "The practice's tax ID (EIN) is not on file. The practice adds it in its billing settings."
        )
    elif ein_problem(practice.tax_id.strip()):
        problems.append(
            "The practice's tax ID on file is not written as an EIN (NN-NNNNNNN). The practice corrects "
            "it in its billing settings."
        )
    if not practice.npi.strip():
        problems.append(
            "The practice's NPI (its National Provider Identifier) is not on file. The practice adds it in "
            "its billing settings."
        )
    elif npi_problem(practice.npi.strip()):
        problems.append(
            "The practice's NPI on file is not a valid NPI. The practice corrects it in its billing settings."
        )
    days_without = sorted({c.service_date for c in charges if not ledger.current_on(c.service_date)})
    for day in days_without:
        problems.append(
            f"No diagnosis is recorded for the visit of {day:%B} {day.day}, {day.year}, and an insurer "
            "needs one for every visit. The client's clinician records it on the chart."
        )
    if not days_without and len(_diagnoses_of(ledger, charges)) > len(LETTERS):
        problems.append(
            f"More than {len(LETTERS)} diagnoses apply in {period.label}, more than a claim form holds. "
            "Ask for a superbill of a single month instead."
        )
    seen = set()
    for charge in charges:
        clinician = charge.clinician
        if clinician.pk in seen:
            continue
        seen.add(clinician.pk)
        npi = clinician.npi.strip()
        if not npi:
            problems.append(
                f"{clinician.full_name}, who saw the client in this period, has no NPI on file. The practice "
                "adds it to their staff record."
            )
        elif npi_problem(npi):
            problems.append(
                f"The NPI on file for {clinician.full_name} is not a valid NPI. The practice corrects it on "
                "their staff record."
            )
    if not (client.address_line.strip() and client.city.strip() and client.region.strip()):
        problems.append(
            "The client's postal address (street, city and state) is not on file. The practice adds it to "
            "the client's details."
        )
    return problems


def _diagnoses_of(ledger: Ledger, charges: list[Charge]) -> list[Diagnosis]:
    """The diagnoses current on any of these dates of service, in the order they were made."""
    found: dict[int, Diagnosis] = {}
    for charge in charges:
        for diagnosis in ledger.current_on(charge.service_date):
            found.setdefault(diagnosis.pk, diagnosis)
    return sorted(found.values(), key=lambda d: (d.diagnosed_on, d.pk))


# --- What is printed ---------------------------------------------------------------------------


@dataclass
class Line:
    """One service line (CMS-1500 items 24A–24J)."""

    service_date: datetime.date
    place_of_service: str
    code: str
    modifiers: str
    pointers: str
    amount: Decimal
    units: int
    npi: str
    clinician: str
    description: str
    payer_dependent: bool
    invoice_number: int | None
    paid: Decimal = ZERO
    written_off: Decimal = ZERO

    @property
    def date_text(self) -> str:
        return _day(self.service_date)

    @property
    def place_text(self) -> str:
        words = PLACES.get(self.place_of_service)
        return f"{self.place_of_service} ({words})" if words else self.place_of_service

    @property
    def amount_text(self) -> str:
        return money(self.amount)


@dataclass
class Movement:
    """A payment or a refund on an invoice that carries the superbill's services (item 29)."""

    day: datetime.date
    kind: str  # Entry.Kind
    kind_text: str
    method: str
    amount: Decimal
    invoice_number: int

    @property
    def date_text(self) -> str:
        return _day(self.day)

    @property
    def amount_text(self) -> str:
        return money(self.amount)


@dataclass
class Signer:
    """A rendering clinician's signature line (item 31) with their identifiers."""

    name: str
    credentials: str
    npi: str
    taxonomy: str
    licence: str


@dataclass
class Superbill:
    period: Period
    produced_on: datetime.date
    practice: Practice
    client: Client
    client_name: str
    client_dob: str
    client_sex: str
    client_address: str
    profile: BillingProfile | None
    self_pay: bool
    diagnoses: list[tuple[str, Diagnosis]]
    lines: list[Line]
    movements: list[Movement]
    signers: list[Signer]
    charged: Decimal
    payments: Decimal
    refunded: Decimal
    paid: Decimal
    written_off: Decimal
    balance: Decimal
    shared_invoices: list[int]
    problems: list[str]

    @property
    def any_payer_dependent(self) -> bool:
        return any(line.payer_dependent for line in self.lines)

    @property
    def paid_in_full(self) -> bool:
        return self.balance == ZERO and self.paid > ZERO

    @property
    def charged_text(self) -> str:
        return money(self.charged)

    @property
    def payments_text(self) -> str:
        return money(self.payments)

    @property
    def refunded_text(self) -> str:
        return money(self.refunded)

    @property
    def paid_text(self) -> str:
        return money(self.paid)

    @property
    def written_off_text(self) -> str:
        return money(self.written_off)

    @property
    def balance_text(self) -> str:
        return money(self.balance)


def _allocate(ledger: Ledger) -> dict[int, tuple[Decimal, Decimal]]:
    """What of each invoiced charge is paid and written off: an invoice's payments less its
    refunds go to its charges oldest first, then its write-offs (docs/superbills.md, "Totals").
    Keyed by charge id."""
    net: dict[int, Decimal] = defaultdict(lambda: ZERO)
    forgiven: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for entry in ledger.entries:
        if entry.kind == Entry.Kind.PAYMENT:
            net[entry.invoice_id] += entry.amount
        elif entry.kind == Entry.Kind.REFUND:
            net[entry.invoice_id] -= entry.amount
        else:
            forgiven[entry.invoice_id] += entry.amount
    shares = {}
    for invoice_id, charges in ledger.invoice_charges.items():
        paid_left, forgiven_left = max(net[invoice_id], ZERO), forgiven[invoice_id]
        for charge in sorted(charges, key=lambda c: (c.service_date, c.pk)):
            paid = min(paid_left, charge.amount)
            paid_left -= paid
            off = min(forgiven_left, charge.amount - paid)
            forgiven_left -= off
            shares[charge.pk] = (paid, off)
    return shares


def _licence(user) -> str:
    parts = [part for part in (user.license_type, user.license_number) if part]
    text = " ".join(parts)
    if user.license_state:
        text = f"{text}, {user.license_state}" if text else user.license_state
    return text


def superbill_data(
    client: Client, period: Period, practice: Practice, *, ledger: Ledger | None = None
) -> Superbill:
    """Everything a superbill prints for `period`, with `problems` saying why it may not be given
    (empty when it may)."""
    ledger = ledger or ledger_for(client)
    problems = superbill_problems(client, period, practice, ledger=ledger)
    charges = ledger.charges_in(period)
    diagnoses = _diagnoses_of(ledger, charges)[: len(LETTERS)]
    letter_of = {diagnosis.pk: LETTERS[index] for index, diagnosis in enumerate(diagnoses)}
    shares = _allocate(ledger)
    lines = []
    signers: dict[int, Signer] = {}
    for charge in charges:
        pointers = [letter_of[d.pk] for d in ledger.current_on(charge.service_date) if d.pk in letter_of]
        invoice_id = _invoice_id(charge)
        paid, off = shares.get(charge.pk, (ZERO, ZERO))
        clinician = charge.clinician
        lines.append(
            Line(
                service_date=charge.service_date,
                place_of_service=charge.place_of_service,
                code=charge.code,
                modifiers=charge.modifiers,
                pointers="".join(pointers[:POINTERS_PER_LINE]),
                amount=charge.amount,
                units=charge.units,
                npi=clinician.npi,
                clinician=clinician.full_name,
                description=charge.description,
                payer_dependent=charge.fee.payer_dependent,
                invoice_number=charge.invoice_line.invoice.number if invoice_id else None,
                paid=paid,
                written_off=off,
            )
        )
        if clinician.pk not in signers:
            signers[clinician.pk] = Signer(
                name=clinician.full_name,
                credentials=clinician.credentials,
                npi=clinician.npi,
                taxonomy=clinician.taxonomy_code,
                licence=_licence(clinician),
            )
    invoice_ids = {_invoice_id(charge) for charge in charges} - {None}
    movements = [
        Movement(
            day=entry.received_on,
            kind=entry.kind,
            kind_text=entry.get_kind_display(),
            # "Card", not "Card (taken outside kapflow)": the reader is an insurer.
            method=entry.get_method_display().split(" (")[0],
            amount=entry.amount,
            invoice_number=entry.invoice.number,
        )
        for entry in ledger.entries
        if entry.invoice_id in invoice_ids and entry.kind in (Entry.Kind.PAYMENT, Entry.Kind.REFUND)
    ]
    in_period = {charge.pk for charge in charges}
    shared = sorted(
        ledger.invoice_charges[invoice_id][0].invoice_line.invoice.number
        for invoice_id in invoice_ids
        if any(charge.pk not in in_period for charge in ledger.invoice_charges[invoice_id])
    )
    charged = sum((line.amount for line in lines), ZERO)
    paid = sum((line.paid for line in lines), ZERO)
    written_off = sum((line.written_off for line in lines), ZERO)
    profile = ledger.profile
    return Superbill(
        period=period,
        produced_on=timezone.localdate(),
        practice=practice,
        client=client,
        client_name=f"{client.first_name} {client.last_name}",
        client_dob=_day(client.date_of_birth),
        client_sex=client.get_sex_display() or "Not given",
        client_address=client_address(client),
        profile=profile,
        self_pay=profile is None or profile.self_pay,
        diagnoses=[(letter_of[d.pk], d) for d in diagnoses],
        lines=lines,
        movements=movements,
        signers=list(signers.values()),
        charged=charged,
        payments=sum((m.amount for m in movements if m.kind == Entry.Kind.PAYMENT), ZERO),
        refunded=sum((m.amount for m in movements if m.kind == Entry.Kind.REFUND), ZERO),
        paid=paid,
        written_off=written_off,
        balance=charged - paid - written_off,
        shared_invoices=shared,
        problems=problems,
    )


def superbill_pdf(bill: Superbill) -> bytes:
    """The superbill as a PDF (WeasyPrint). Refuses one with problems."""
    from weasyprint import HTML

    if bill.problems:
        raise BillingRefused(*bill.problems)
    html = render_to_string("billing/superbill_pdf.html", {"bill": bill, "practice": bill.practice})
    return HTML(string=html).write_pdf()


def file_name(client: Client, period: Period) -> str:
    return f"superbill-{client.last_name.lower()}-{period.key}.pdf".replace(" ", "-")


def _refuse_unless_may_have(user, client: Client, *, on_portal: bool) -> None:
    """In the office a coordinator or admin (can_bill); on the portal the client, or a guardian
    with legal authority for a minor: the people told that a statement is ready
    (kapflow.billing.selectors.money_recipients), the same as kapflow.portal.access's
    PortalNeed.BILLING, which the portal's page asked first."""
    from kapflow.billing.access import can_bill
    from kapflow.billing.selectors import money_recipients

    if on_portal:
        allowed = not user.is_staff_member and any(
            person.pk == user.pk for person in money_recipients(client)
        )
    else:
        allowed = can_bill(user)
    if not allowed:
        raise BillingRefused(
            "Only the client, or the practice's coordinators and admins, are given a superbill."
        )


@transaction.atomic
def superbill_give(
    *,
    request,
    client: Client,
    period: Period,
    practice: Practice,
    on_portal: bool,
    ledger: Ledger | None = None,
) -> bytes:
    """The superbill's PDF for the person asking (a coordinator or admin, or on the portal the
    client or their guardian), audited as given; BillingRefused with the reasons when it may not
    be given (nothing is audited as given then). Asks who is asking itself, so a page that forgot
    would still be refused: in the office a coordinator or admin (can_bill), on the portal the
    client or a guardian with legal authority for a minor (PortalNeed.BILLING). `ledger`: the
    client's ledger as the caller read it (ledger_for), or None to read it here."""
    _refuse_unless_may_have(request.user, client, on_portal=on_portal)
    bill = superbill_data(client, period, practice, ledger=ledger)
    content = superbill_pdf(bill)
    audit_record(
        request=request,
        action="kapflow.billing.superbill.downloaded",
        client=client,
        obj=client,
        detail={
            "period": period.key,
            "lines": len(bill.lines),
            "where": "portal" if on_portal else "office",
        },
    )
    return content


def superbill_choices(
    client: Client, practice: Practice, *, ledger: Ledger | None = None
) -> list[tuple[Period, list[str]]]:
    """Each period with charges and why its superbill is refused (empty when it may be given),
    for the staff page and the portal: the ledger is read once for all of them (or given, as
    ledger_for read it)."""
    ledger = ledger or ledger_for(client)
    return [
        (period, superbill_problems(client, period, practice, ledger=ledger))
        for period in periods_with_charges(client, ledger.charges)
    ]
