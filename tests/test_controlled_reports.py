"""Issue 17, item 5: what a registrant shows an inspector. The ledger by lot and period (the
balance at the start, every entry, the balance at the end) and the dispensing record of 21 CFR
1304.22(c), each as a page, a CSV and a PDF, for whoever keeps the stock; every read audited
with the clients it names (docs/controlled-reports.md)."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from kapflow.audit.models import AuditEvent
from kapflow.controlled import reports
from kapflow.controlled.ledger import correction_post, entry_post
from kapflow.practice.models import Practice
from tests import factories
from tests.matrix_controlled_reports import at, give, make_lot, receive

pytestmark = pytest.mark.django_db

LEDGER, DISPENSING = "controlled_reports:ledger", "controlled_reports:dispensing"


def pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def period_query(start: datetime.date, end: datetime.date, **more) -> dict:
    return {"date_from": start.isoformat(), "date_to": end.isoformat(), **more}


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def practice(priya):
    practice = Practice.load()
    practice.name = "Oak Hill Ketamine Therapy"
    practice.address = "400 Oak Hill Rd, Pasadena CA 91101"
    practice.dea_registrant = priya
    practice.dea_registration_number = "BP1234563"
    practice.save()
    return practice


@pytest.fixture
def ledger(practice, priya, tess, avery, olive, today):
    """A vial lot: 20 mL received 40 days ago; doses to Avery 21 days ago (before the period of
    the tests), on the period's first day just after midnight, on its last day just before
    midnight, and the day after it; a witnessed waste inside; a dose reversed by a correction."""
    avery.address_line, avery.city, avery.region, avery.postal_code = "12 Elm St", "Pasadena", "CA", "91104"
    avery.save()
    lot = make_lot(priya)
    start, end = today - datetime.timedelta(days=20), today - datetime.timedelta(days=10)
    receive(lot, priya, Decimal("20"), at=at(today - datetime.timedelta(days=40)))
    give(lot, avery, priya, Decimal("1.5"), at=at(start - datetime.timedelta(days=1), 23, 59))
    first = give(lot, avery, priya, Decimal("2"), at=at(start, 0, 1))
    entry_post(
        lot=lot,
        kind="waste",
        quantity=Decimal("-0.25"),
        occurred_at=at(start, 0, 30),
        person=tess,
        recorded_by=tess,
        witness=priya,
        witness_confirmed_at=at(start, 0, 30),
        reason="Left in the syringe after the dose",
    )
    give(lot, olive, priya, Decimal("1"), at=at(end, 23, 59))
    correction_post(actor=priya, entry=first, reason="Posted to the wrong lot", occurred_at=at(end, 9))
    give(lot, avery, priya, Decimal("3"), at=at(end + datetime.timedelta(days=1), 0, 0))
    return {"lot": lot, "start": start, "end": end}


# The ledger report.


def test_it_shows_the_balances_at_the_period_boundaries(ledger, login, ada):
    """20 in; 1.5 out the minute before the period; in it: −2, −0.25, −1, +2 (the correction);
    3 out the first minute after it."""
    summaries = reports.lot_summaries(
        reports.Scope(lot_id=ledger["lot"].pk), reports.Period(ledger["start"], ledger["end"])
    )
    (summary,) = summaries
    assert summary.opening == Decimal("18.5")
    assert summary.closing == Decimal("17.25")
    assert summary.now == Decimal("14.25")
    response = login(ada).get(
        reverse(LEDGER), period_query(ledger["start"], ledger["end"], lot=ledger["lot"].pk)
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "18.5 mL (925 mg)" in page and "17.25 mL (862.5 mg)" in page
    assert "4 entries in the period" in page
    assert "Reversed by #" in page and "Reverses #" in page
    assert "Left in the syringe" in page and "Priya Prescriber" in page


def test_the_opening_balance_is_the_recorded_balance_before_the_first_entry(ledger):
    period = reports.Period(ledger["start"], ledger["end"])
    entries = list(reports.period_entries(reports.Scope(lot_id=ledger["lot"].pk), period))
    (summary,) = reports.lot_summaries(reports.Scope(), period)
    assert entries[0].balance_after - entries[0].quantity == summary.opening
    assert entries[-1].balance_after == summary.closing


def test_the_page_opens_on_the_retention_period(ledger, login, priya, practice, today):
    practice.controlled_retention_years = 3
    practice.save()
    response = login(priya).get(reverse(LEDGER))
    assert response.status_code == 200
    page = response.content.decode()
    assert "at least <strong>3 years</strong>" in page
    assert "never deletes a ledger entry" in page
    oldest = today - datetime.timedelta(days=40)
    assert f"{oldest:%b} {oldest.day}, {oldest.year}" in page
    assert response.context["form"].period == reports.Period(reports.years_before(today, 3), today)
    assert "7 entries in the period" in page


def test_the_ledger_csv_holds_the_balances_and_every_entry(ledger, login, ada, audit_rows, avery, olive):
    query = period_query(ledger["start"], ledger["end"], drug="ketamine")
    response = login(ada).get(reverse("controlled_reports:ledger_csv"), query)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].endswith(f'ledger-{ledger["start"]}-to-{ledger["end"]}.csv"')
    rows = csv_rows(response)
    assert rows[0] == ["period from", ledger["start"].isoformat(), "to", ledger["end"].isoformat()]
    assert rows[2] == ["KX-1001", "18.5", "925", "17.25", "862.5", "mL"]
    header = rows.index(reports.LEDGER_HEADER)
    entries = [dict(zip(reports.LEDGER_HEADER, row, strict=True)) for row in rows[header + 1 :]]
    assert [e["kind"] for e in entries] == [
        "Administration",
        "Waste (witnessed)",
        "Administration",
        "Correction",
    ]
    dose = entries[0]
    assert (dose["quantity (unit)"], dose["quantity (mg)"], dose["balance after (unit)"]) == (
        "-2",
        "-100",
        "16.5",
    )
    assert dose["client"] == "Avery Alvarez" and dose["by"] == "Priya Prescriber"
    assert entries[1]["witness"] == "Priya Prescriber" and entries[1]["by"] == "Tess Therapist"
    assert entries[3]["reason"] == "Posted to the wrong lot" and entries[3]["reversal"].startswith(
        "Reverses #"
    )
    (row,) = audit_rows("kapflow.controlled.report.downloaded")
    assert row.detail["format"] == "csv" and row.detail["report"] == "ledger"
    assert row.detail["clients"] == sorted([avery.pk, olive.pk])


def test_a_csv_cell_never_starts_a_formula(ledger, login, ada, priya, today):
    lot = make_lot(priya, lot_number="=HYPERLINK(1)")
    receive(lot, priya, Decimal("5"), at=at(today - datetime.timedelta(days=1)), reference="+1-800")
    response = login(ada).get(reverse("controlled_reports:ledger_csv"), {"lot": lot.pk})
    text = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK(1)" in text and "'+1-800" in text
    assert ",-2," not in text  # that lot has no dose; the other's numbers stay numbers below
    response = login(ada).get(reverse("controlled_reports:ledger_csv"), {"lot": ledger["lot"].pk})
    assert ",-2,-100," in b"".join(response.streaming_content).decode()


def test_the_ledger_pdf_names_the_registrant_the_period_and_its_maker(ledger, login, ada, audit_rows, today):
    response = login(ada).get(
        reverse("controlled_reports:ledger_pdf"), period_query(ledger["start"], ledger["end"])
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    for words in (
        "Oak Hill Ketamine Therapy",
        "400 Oak Hill Rd, Pasadena CA 91101",
        "DEA registration BP1234563",
        "registrant Priya Prescriber",
        "Ada Admin",
        "Controlled-substance ledger",
        "page 1 of",
        "18.5 mL (925 mg)",
        "17.25 mL (862.5 mg)",
        "Left in the syringe",
        "Avery Alvarez",
    ):
        assert words in text, words
    assert f"{ledger['start']:%B} {ledger['start'].day}, {ledger['start'].year}" in text
    (row,) = audit_rows("kapflow.controlled.report.downloaded")
    assert row.detail["format"] == "pdf" and len(row.detail["clients"]) == 2


def test_a_pdf_past_its_size_is_refused_with_the_count(ledger, login, ada, monkeypatch):
    monkeypatch.setattr(reports, "PDF_MAX_ENTRIES", 3)
    response = login(ada).get(
        reverse("controlled_reports:ledger_pdf"), period_query(ledger["start"], ledger["end"])
    )
    assert response.status_code == 400
    assert "The period holds 4 entries; a PDF holds at most 3" in response.content.decode()
    assert not AuditEvent.objects.filter(action="kapflow.controlled.report.downloaded").exists()


def test_the_ledger_page_is_paged(ledger, login, ada, monkeypatch):
    monkeypatch.setattr(reports, "PAGE_SIZE", 3)
    http = login(ada)
    query = period_query(ledger["start"], ledger["end"])
    first = http.get(reverse(LEDGER), query).content.decode()
    assert "Page 1 of 2" in first and "1 to 3 shown" in first
    second = http.get(reverse(LEDGER), {**query, "page": "2"})
    assert "Page 2 of 2" in second.content.decode() and len(second.context["rows"]) == 1
    assert http.get(reverse(LEDGER), {**query, "page": "٢"}).context["page"].number == 1


def test_the_page_view_is_audited_with_the_clients_it_shows(ledger, login, priya, audit_rows, avery, olive):
    login(priya).get(reverse(LEDGER), period_query(ledger["start"], ledger["end"]))
    (row,) = audit_rows("kapflow.controlled.report.viewed")
    assert row.detail["report"] == "ledger" and row.detail["clients"] == sorted([avery.pk, olive.pk])
    assert row.actor == priya


# The dispensing record.


def test_the_dispensing_record_holds_what_1304_22_c_asks(ledger, login, ada, audit_rows, avery, olive):
    query = period_query(ledger["start"], ledger["end"])
    response = login(ada).get(reverse("controlled_reports:dispensing_csv"), query)
    rows = csv_rows(response)
    doses = [dict(zip(reports.DISPENSING_HEADER, row, strict=True)) for row in rows[2:]]
    assert [dose["client"] for dose in doses] == ["Avery Alvarez", "Olive Okafor"]
    avery_dose = doses[0]
    assert avery_dose["date"] == ledger["start"].isoformat() and avery_dose["time"] == "00:01"
    assert avery_dose["substance"] == "Ketamine (racemic)"
    assert (
        avery_dose["finished form"] == "Injection solution (vial)"
        and avery_dose["strength (mg per unit)"] == "50"
    )
    assert (avery_dose["quantity (unit)"], avery_dose["unit"], avery_dose["quantity (mg)"]) == (
        "2",
        "mL",
        "100",
    )
    assert avery_dose["client's address"] == "12 Elm St, Pasadena, CA 91104"
    assert avery_dose["given by"] == "Priya Prescriber" and avery_dose["lot number"] == "KX-1001"
    assert avery_dose["order id"].isdigit() and avery_dose["balance after (unit)"] == "16.5"
    assert avery_dose["reversal"].startswith("Reversed by #")
    (row,) = audit_rows("kapflow.controlled.report.downloaded")
    assert row.detail["report"] == "dispensing" and row.detail["clients"] == sorted([avery.pk, olive.pk])


def test_the_dispensing_pdf(ledger, login, priya, audit_rows):
    query = period_query(ledger["start"], ledger["end"])
    response = login(priya).get(reverse("controlled_reports:dispensing_pdf"), query)
    assert response.status_code == 200
    text = pdf_text(response.content)
    wanted = [
        "Dispensing record",
        "DEA registration BP1234563",
        "Avery Alvarez",
        "12 Elm St, Pasadena, CA 91104",
    ]
    for words in [*wanted, "Olive Okafor", "KX-1001", "2 doses", "page 1 of 1"]:
        assert words in text, words
    assert "Tess Therapist" not in text  # the waste is not a dose
    assert len(audit_rows("kapflow.controlled.report.downloaded")[0].detail["clients"]) == 2


def test_the_dispensing_page(ledger, login, ada, audit_rows):
    response = login(ada).get(reverse(DISPENSING), period_query(ledger["start"], ledger["end"]))
    page = response.content.decode()
    assert "2 doses" in page and "12 Elm St, Pasadena, CA 91104" in page
    assert "2 mL (100 mg)" in page and "−2 mL" not in page  # a dose as given, without the ledger's sign
    assert audit_rows("kapflow.controlled.report.viewed")[0].detail["report"] == "dispensing"


# Who may read them, and what a query string can do.


@pytest.mark.parametrize(
    "name", ["ledger", "ledger_csv", "ledger_pdf", "dispensing", "dispensing_csv", "dispensing_pdf"]
)
def test_only_the_stock_keepers_may_read_them(name, ledger, login, tess, cora, ada, priya):
    url = reverse(f"controlled_reports:{name}")
    for user in (tess, cora):
        assert login(user).get(url).status_code == 403
    assert login(None).get(url).status_code == 302
    outside = factories.make_user("Oscar Outside", roles=("is_prescriber",))
    outside.outside_practice = True
    outside.save()
    assert login(outside).get(url).status_code == 403
    assert login(priya).get(url).status_code == 200
    assert login(ada).post(url).status_code == 405


@pytest.mark.parametrize(
    "query",
    [
        {"date_from": "2026-02-30"},
        {"date_from": "9999-12-31"},
        {"date_to": "0001-01-01"},
        {"date_from": "2026-05-02", "date_to": "2026-05-01"},
        {"lot": "9" * 40},
        {"lot": "١٢"},
        {"lot": "-1"},
        {"drug": "heroin"},
        {"date_from": "\x00"},
        {"date_to": "1e309"},
    ],
)
@pytest.mark.parametrize(
    "name", ["ledger", "ledger_csv", "ledger_pdf", "dispensing", "dispensing_csv", "dispensing_pdf"]
)
def test_hostile_queries_come_back_to_the_form(name, query, ledger, login, ada):
    if name.startswith("dispensing") and set(query) <= {"lot", "drug"}:
        query = {**query, "date_from": "tomorrow"}
    response = login(ada).get(reverse(f"controlled_reports:{name}"), query)
    assert response.status_code == 400
    assert "thing" in response.content.decode() and "to fix" in response.content.decode()


def test_a_period_that_ends_before_it_starts_says_what_to_fix(ledger, login, ada):
    response = login(ada).get(reverse(LEDGER), {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    assert "The period ends before it starts" in response.content.decode()
    assert 'value="2026-05-02"' in response.content.decode()


# Queries: the same few whatever the size of the ledger.


def _queries(http, url, query) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = http.get(url, query)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    "name", ["ledger", "ledger_csv", "ledger_pdf", "dispensing", "dispensing_csv", "dispensing_pdf"]
)
def test_the_queries_do_not_grow_with_the_ledger(name, practice, login, ada, priya, avery, olive, today):
    lots = [make_lot(priya, lot_number=f"L-{n}") for n in range(2)]
    http = login(ada)
    url = reverse(f"controlled_reports:{name}")
    http.get(reverse(LEDGER))  # the session's first request checks the second factor once
    counts = []
    for size in (2, 12):
        for lot in lots:
            receive(lot, priya, Decimal("100"), at=at(today - datetime.timedelta(days=30)))
            for n in range(size):
                give(
                    lot,
                    (avery, olive)[n % 2],
                    priya,
                    Decimal("0.5"),
                    at=at(today - datetime.timedelta(days=20 - n % 10)),
                )
        counts.append(_queries(http, url, {}))
    assert counts[0] == counts[1]
    assert counts[1] <= 15  # 13 on SQLite and 14 on PostgreSQL when written
