"""The practice's income by month (kapflow/outcomes/income.py, docs/income.md): sums exact to the
cent by month of the practice's calendar, what was owed at each month's end, the period's charges
by visit kind and by billing code, the CSV, a constant number of queries, who may open it, and a
bad period answered with the form."""

import csv
import datetime
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kapflow.audit.models import AuditEvent
from kapflow.billing import services as billing
from kapflow.billing.models import Charge, Entry, Fee, Invoice, InvoiceLine
from kapflow.outcomes.income import build_income, income_csv_rows
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")  # the practice's time zone in the test settings
D = datetime.date
M = Decimal
TODAY = datetime.datetime(2026, 3, 15, 12, tzinfo=LA)


def local(year, month, day, hour=10, minute=0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=LA)


def request_as(user):
    request = RequestFactory().post("/")
    request.user, request.session = user, SessionStore()
    return request


class Ledger:
    """A practice's money written through kapflow.billing.services, each act at its own moment."""

    def __init__(self, admin, clinician):
        self.admin, self.clinician = admin, clinician
        for kind, code, amount, units in [
            (Visit.Kind.THERAPY, "90837", "200.00", 1),
            (Visit.Kind.MEDICATION, "99214", "150.25", 1),
            (Visit.Kind.MEDICATION, "0820T", "300.10", 2),
        ]:
            Fee.objects.create(
                kind=kind,
                code=code,
                units=units,
                description=f"{kind.label} ({code})",
                amount=M(amount),
                effective_from=D(2025, 1, 1),
                created_by=admin,
            )

    def visit(self, client, kind, starts: datetime.datetime) -> list[Charge]:
        """A completed visit, charged (and, where the practice invoices each visit, invoiced) at
        the moment it ends."""
        visit = Visit.objects.create(
            client=client,
            kind=kind,
            starts_at=starts,
            ends_at=starts + datetime.timedelta(minutes=60),
            modality=Visit.Modality.VIRTUAL,
            clinician=self.clinician,
            created_by=self.clinician,
            status=Visit.Status.COMPLETED,
        )
        with time_machine.travel(starts + datetime.timedelta(minutes=60), tick=False):
            return billing.visit_charge(request=request_as(self.clinician), visit=visit)

    def entry(self, invoice, kind, amount, at: datetime.datetime, **fields) -> Entry:
        """An entry recorded at `at`, dated that day of the practice's calendar (as the payment
        form's default date is)."""
        with time_machine.travel(at, tick=False):
            return billing.entry_record(
                request=request_as(self.admin),
                invoice=invoice,
                kind=kind,
                amount=M(amount),
                received_on=at.astimezone(LA).date(),
                **fields,
            )


@pytest.fixture
def ledger(ada, tess, priya):
    """January: a therapy hour ending at 23:30 on the 31st, charged and invoiced then, and paid
    in full at 23:50 (07:50 on 1 February in UTC). February: a medication session at 00:15 on
    the 1st (two codes), paid, part refunded; a therapy hour on the 27th. March: part of
    February's therapy paid, the refunded remainder written off, and a therapy hour charged but
    not yet invoiced."""
    book = Ledger(ada, tess)
    amy = factories.make_client(first_name="Amy", therapist=tess)
    ben = factories.make_client(first_name="Ben", therapist=tess, prescriber=priya)

    [jan] = book.visit(amy, Visit.Kind.THERAPY, local(2026, 1, 31, 23, 30) - datetime.timedelta(hours=1))
    assert jan.service_date == D(2026, 1, 31)
    january = jan.invoice_line.invoice
    book.entry(january, "payment", "200.00", local(2026, 1, 31, 23, 50), method="card")

    session = book.visit(ben, Visit.Kind.MEDICATION, local(2026, 2, 1, 0, 15))
    assert {c.service_date for c in session} == {D(2026, 2, 1)}
    february = session[0].invoice_line.invoice
    paid = book.entry(february, "payment", "450.35", local(2026, 2, 10), method="hsa_fsa")
    book.entry(
        february, "refund", "50.10", local(2026, 2, 20), method="card", reason="Overpaid", refund_of=paid
    )
    book.entry(february, "write_off", "50.10", local(2026, 3, 2), reason="Hardship")

    [late] = book.visit(amy, Visit.Kind.THERAPY, local(2026, 2, 27))
    book.entry(late.invoice_line.invoice, "payment", "120.00", local(2026, 3, 3), method="cash")

    Practice.objects.filter(pk=1).update(invoice_each_visit=False)
    [waiting] = book.visit(amy, Visit.Kind.THERAPY, local(2026, 3, 10))
    assert not InvoiceLine.objects.filter(charge=waiting).exists()
    return book


def figures(month):
    return (
        month.charged,
        month.charges,
        month.invoiced,
        month.received,
        month.refunded,
        month.net_received,
        month.written_off,
        month.owed,
    )


def test_each_month_sums_to_the_cent_on_the_practices_calendar(ledger):
    income = build_income(start=D(2026, 1, 1), end=D(2026, 3, 31))
    assert [m.month for m in income.months] == [D(2026, 1, 1), D(2026, 2, 1), D(2026, 3, 1)]
    january, february, march = income.months
    # The visit at 23:30 and the payment at 23:50 on 31 January are January's, though it was
    # already February in UTC; the session at 00:15 on 1 February is February's.
    assert figures(january) == (M("200.00"), 1, M("200.00"), M("200.00"), 0, M("200.00"), 0, M("0.00"))
    assert figures(february) == (
        M("650.35"),
        3,
        M("650.35"),
        M("450.35"),
        M("50.10"),
        M("400.25"),
        0,
        M("250.10"),  # the 27th's therapy and the 50.10 refunded
    )
    assert figures(march) == (M("200.00"), 1, 0, M("120.00"), 0, M("120.00"), M("50.10"), M("80.00"))
    assert figures(income.total) == (
        M("1050.35"),
        5,
        M("850.35"),
        M("770.35"),
        M("50.10"),
        M("720.25"),
        M("50.10"),
        M("80.00"),
    )
    assert all(isinstance(value, Decimal) for value in figures(income.total) if not isinstance(value, int))


def test_what_was_owed_at_the_end_matches_the_invoices_balances(ledger):
    from kapflow.billing.selectors import with_totals

    income = build_income(start=D(2026, 3, 1), end=D(2026, 3, 31))
    balances = sum(invoice.balance for invoice in with_totals(Invoice.objects.all()))
    assert income.months[-1].owed == balances == M("80.00")


def test_a_period_starting_later_carries_what_was_owed_before_it(ledger):
    march = build_income(start=D(2026, 3, 1), end=D(2026, 3, 31))
    assert march.owed_before == M("250.10")
    assert march.months[0].owed == M("80.00")
    later = build_income(start=D(2026, 4, 1), end=D(2026, 5, 31))
    assert [m.owed for m in later.months] == [M("80.00"), M("80.00")]
    assert later.total.charged == 0 and later.by_kind == [] and later.by_code == []


def test_a_period_of_days_is_widened_to_whole_months(ledger):
    income = build_income(start=D(2026, 2, 14), end=D(2026, 2, 15))
    assert (income.start, income.end) == (D(2026, 2, 1), D(2026, 2, 28))
    assert income.total.charged == M("650.35")


def test_the_period_is_charged_by_visit_kind_and_by_code(ledger):
    income = build_income(start=D(2026, 1, 1), end=D(2026, 3, 31))
    assert [(line.label, line.charged, line.charges) for line in income.by_kind] == [
        ("Medication session", M("450.35"), 2),
        ("Therapy session", M("600.00"), 3),
    ]
    assert [(line.label, line.charged, line.charges) for line in income.by_code] == [
        ("0820T", M("300.10"), 1),
        ("90837", M("600.00"), 3),
        ("99214", M("150.25"), 1),
    ]
    assert sum(line.charged for line in income.by_kind) == income.total.charged
    assert sum(line.charged for line in income.by_code) == income.total.charged
    february = build_income(start=D(2026, 2, 1), end=D(2026, 2, 1))
    assert [(line.key, line.charges) for line in february.by_kind] == [("medication", 2), ("therapy", 1)]


@time_machine.travel(TODAY, tick=False)
def test_the_page_shows_the_months_and_names_no_client(ledger, ada, login):
    page = login(ada).get(reverse("income:income"), {"start": "2026-01", "end": "2026-03"})
    assert page.status_code == 200
    text = page.content.decode()
    for shown in [
        "January 2026",
        "March 2026",
        "$1,050.35",
        "$720.25",
        "$80.00",
        "0820T",
        "Medication session",
    ]:
        assert shown in text
    assert "Amy" not in text and "Ben" not in text
    event = AuditEvent.objects.filter(action="kapflow.outcomes.income.viewed").get()
    assert event.client_id is None and event.detail == {"from": "2026-01", "to": "2026-03"}
    assert 'href="/outcomes/"' in text  # the sibling link, for an admin


@time_machine.travel(TODAY, tick=False)
def test_it_opens_on_the_last_twelve_months(ledger, cora, login):
    page = login(cora).get(reverse("income:income"))
    assert page.status_code == 200
    income = page.context["income"]
    assert (income.start, income.end) == (D(2025, 4, 1), D(2026, 3, 31)) and len(income.months) == 12
    assert 'href="/outcomes/"' not in page.content.decode()  # the coordinator cannot open it


@time_machine.travel(TODAY, tick=False)
def test_the_csv_holds_the_pages_figures_to_the_cent(ledger, ada, login):
    response = login(ada).get(reverse("income:income_csv"), {"start": "2026-01", "end": "2026-03"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="income-2026-01-to-2026-03.csv"'
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[0] == ["from", "to", "table", "row", "measure", "unit", "value"]
    cells = {(r[2], r[3], r[4]): r[6] for r in rows[1:]}
    assert all(r[:2] == ["2026-01-01", "2026-03-31"] for r in rows[1:])
    assert cells["by month", "2026-01", "received"] == "200.00"
    assert cells["by month", "2026-02", "net received"] == "400.25"
    assert cells["by month", "2026-02", "charges"] == "3"
    assert cells["by month", "2026-03", "written off"] == "50.10"
    assert cells["by month", "total", "charged"] == "1050.35"
    assert cells["by month", "total", "owed"] == "80.00"
    assert cells["by visit kind", "Therapy session", "charged"] == "600.00"
    assert cells["by billing code", "0820T", "charges"] == "1"
    assert "Amy" not in body and "Ben" not in body
    assert AuditEvent.objects.filter(action="kapflow.outcomes.income.downloaded").count() == 1


def test_a_negative_amount_stays_a_number_in_the_csv(ledger):
    """What is owed can fall below zero (a payment dated before its invoice): the CSV writes it as
    a number, not as text guarded against formulas."""
    income = build_income(start=D(2026, 3, 1), end=D(2026, 3, 31))
    income.months[0].owed = M("-12.30")
    buffer = io.StringIO()
    csv.writer(buffer).writerows(income_csv_rows(income))
    assert "-12.30" in buffer.getvalue() and "'-12.30" not in buffer.getvalue()


@time_machine.travel(TODAY, tick=False)
@pytest.mark.parametrize("name", ["income:income", "income:income_csv"])
def test_the_coordinator_and_the_admin_open_it_and_clinicians_do_not(
    name, ledger, ada, cora, tess, priya, login
):
    for person in (ada, cora):
        assert login(person).get(reverse(name)).status_code == 200
    for person in (tess, priya):
        assert login(person).get(reverse(name)).status_code == 403
    assert login(None).get(reverse(name)).status_code == 302


@time_machine.travel(TODAY, tick=False)
def test_the_outcome_report_links_to_it_for_the_admin_only(ada, tess, login):
    assert 'href="/outcomes/income/"' in login(ada).get(reverse("outcomes:report")).content.decode()
    assert 'href="/outcomes/income/"' not in login(tess).get(reverse("outcomes:report")).content.decode()


@time_machine.travel(TODAY, tick=False)
@pytest.mark.parametrize(
    "start, end, message",
    [
        ("2026-13", "2026-03", "for example 2026-03"),
        ("March", "2026-03", "for example 2026-03"),
        ("٢٠٢٦-٠١", "2026-03", "for example 2026-03"),
        ("2026-01-01", "2026-03", "for example 2026-03"),
        ("", "2026-03", "This field is required"),
        ("2026-03", "2026-01", "The period ends before it starts"),
        ("2026-01", "2026-04", "April 2026 has not begun: choose March 2026"),
        ("2010-01", "2026-03", "at most 120 months"),
        ("1999-12", "2026-03", "between January 2000 and December 2100"),
        ("9999-01", "9999-12", "between January 2000 and December 2100"),
    ],
)
@pytest.mark.parametrize("name", ["income:income", "income:income_csv"])
def test_a_bad_period_returns_the_form_with_what_to_fix(name, start, end, message, ada, login):
    page = login(ada).get(reverse(name), {"start": start, "end": end})
    assert page.status_code == 400
    text = page.content.decode()
    assert message in text.replace("&#x27;", "'")
    assert page.context["income"] is None
    if start:
        assert f'value="{start}"' in text  # what was typed stays in the box
    assert not AuditEvent.objects.filter(action__startswith="kapflow.outcomes.income").exists()


# --- A constant number of queries -------------------------------------------------------------


def grow(book: Ledger, clients: int) -> None:
    """Many more rows in every month of the period, written in bulk: a visit with its two charges
    for each client and month, an invoice for them, a payment, a refund and a write-off."""
    fee_e, fee_m = Fee.objects.get(code="99214"), Fee.objects.get(code="0820T")
    number = Invoice.objects.count() + 1000
    for n in range(clients):
        client = factories.make_client(first_name=f"Grown{n}")
        for month in (1, 2, 3):
            day = D(2026, month, 1 + n % 27)
            starts = local(2026, month, day.day)
            visit = Visit.objects.create(
                client=client,
                kind=Visit.Kind.MEDICATION,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(hours=2),
                modality=Visit.Modality.VIRTUAL,
                clinician=book.clinician,
                created_by=book.clinician,
                status=Visit.Status.COMPLETED,
            )
            charges = [
                Charge.objects.create(
                    client=client,
                    visit=visit,
                    fee=fee,
                    service_date=day,
                    clinician=book.clinician,
                    code=fee.code,
                    units=fee.units,
                    description=fee.description,
                    amount=fee.amount,
                    place_of_service="10",
                    created_by=book.admin,
                )
                for fee in (fee_e, fee_m)
            ]
            number += 1
            invoice = Invoice.objects.create(
                client=client, number=number, issued_on=day, due_on=day, created_by=book.admin
            )
            InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, charge=c) for c in charges])
            paid = Entry.objects.create(
                invoice=invoice,
                client=client,
                kind="payment",
                amount=M("400.00"),
                method="card",
                received_on=day,
                created_by=book.admin,
            )
            Entry.objects.bulk_create(
                [
                    Entry(
                        invoice=invoice,
                        client=client,
                        kind="refund",
                        amount=M("0.35"),
                        method="card",
                        reason="Rounding",
                        refund_of=paid,
                        received_on=day,
                        created_by=book.admin,
                    ),
                    Entry(
                        invoice=invoice,
                        client=client,
                        kind="write_off",
                        amount=M("50.00"),
                        reason="Sliding scale",
                        received_on=day,
                        created_by=book.admin,
                    ),
                ]
            )


def _queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured.captured_queries)


@time_machine.travel(TODAY, tick=False)
def test_it_counts_in_a_constant_number_of_queries(ledger, ada, login):
    http = login(ada)
    period = {"start": "2025-12", "end": "2026-03"}
    http.get(reverse("income:income"), period)  # the session's first request checks more
    small_build = _queries(lambda: build_income(start=D(2025, 12, 1), end=D(2026, 3, 31)))
    small_page = _queries(lambda: http.get(reverse("income:income"), period))
    small_csv = _queries(lambda: http.get(reverse("income:income_csv"), period))
    before = build_income(start=D(2025, 12, 1), end=D(2026, 3, 31))

    grow(ledger, clients=12)
    large_build = _queries(lambda: build_income(start=D(2025, 12, 1), end=D(2026, 3, 31)))
    large_page = _queries(lambda: http.get(reverse("income:income"), period))
    large_csv = _queries(lambda: http.get(reverse("income:income_csv"), period))

    assert small_build == large_build == 5
    assert small_page == large_page and small_csv == large_csv
    after = build_income(start=D(2025, 12, 1), end=D(2026, 3, 31))
    added = 12 * 3
    assert after.total.charges == before.total.charges + 2 * added
    assert after.total.charged == before.total.charged + added * M("450.35")
    assert after.total.received == before.total.received + added * M("400.00")
    assert after.total.owed == before.total.owed + added * (
        M("450.35") - M("400.00") + M("0.35") - M("50.00")
    )
