"""The income page serves figures kept in the shared cache (kapflow.outcomes.cached.INCOME,
kapflow.lib.kept_figures) only while none of the ledger's rows they are drawn from has changed:
a payment recorded for last month must show the moment it is recorded."""

import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kapflow.billing.models import Entry, Invoice
from kapflow.outcomes import cached
from kapflow.outcomes.income import build_income, income_csv_rows
from tests.test_income import D, ledger, local  # noqa: F401 (the fixture)

# The cache as every process shares it (Redis), and a request outside the test's transaction.
from tests.test_outcomes_cache import (  # noqa: F401 (the fixtures)
    as_a_request_outside_a_transaction,
    served_again_from_the_cache,
    shared_cache,
)

pytestmark = pytest.mark.django_db

PERIOD = {"start": "2026-01", "end": "2026-03"}


def served(http) -> list[list[str]]:
    download = http.get(reverse("income:income_csv"), PERIOD)
    assert download.status_code == 200
    return list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))


def worked_out() -> list[list[str]]:
    rows = income_csv_rows(build_income(start=D(2026, 1, 1), end=D(2026, 3, 31)))
    return [[str(value) for value in row] for row in rows]


def total_received(rows) -> str:
    """The period's total received, from the CSV's line for it (docs/income.md, "The download")."""
    [value] = [row[-1] for row in rows[1:] if row[3:5] == ["total", "received"]]
    return value


@pytest.mark.usefixtures("as_a_request_outside_a_transaction")
def test_the_figures_are_served_again_from_the_cache_unchanged(ledger, ada, login):  # noqa: F811
    http = login(ada)
    http.get(reverse("income:income"))  # the session's first request reads more (another period)
    served_again_from_the_cache(lambda: served(http), worked_out)


@pytest.mark.usefixtures("as_a_request_outside_a_transaction")
def test_a_payment_recorded_for_last_month_shows_at_once(ledger, ada, login):  # noqa: F811
    http = login(ada)
    before = served(http)
    invoice = Invoice.objects.filter(owed_cents__gt=0).order_by("pk").first()
    ledger.entry(invoice, "payment", "10.00", local(2026, 3, 20), method="cash")
    after = served(http)
    assert total_received(after) != total_received(before)
    assert after == worked_out()


@pytest.mark.usefixtures("as_a_request_outside_a_transaction")
def test_a_row_added_without_a_signal_changes_the_key(ledger, ada, login):  # noqa: F811
    """A bulk load (the demo's) sends no signal; the newest row of each input changes the key."""
    http = login(ada)
    served(http)
    key = cached.INCOME.key(D(2026, 1, 1).isoformat(), D(2026, 3, 1).isoformat())
    paid = Entry.objects.filter(kind=Entry.Kind.PAYMENT).order_by("pk").last()
    Entry.objects.bulk_create(
        [
            Entry(
                invoice=paid.invoice,
                client_id=paid.client_id,
                kind=Entry.Kind.REFUND,
                amount=paid.amount,
                received_on=D(2026, 3, 25),
                method="cash",
                reason="Bulk-loaded",
                refund_of=paid,
                created_by=ada,
            )
        ]
    )
    assert cached.INCOME.key(D(2026, 1, 1).isoformat(), D(2026, 3, 1).isoformat()) != key
    assert served(http) == worked_out()


def test_a_change_replaces_the_token_again_once_committed(ledger, django_capture_on_commit_callbacks):  # noqa: F811
    """Figures worked out while a change was being committed are kept under the token the
    commit then replaces, so they are never read; and a change to the ledger leaves the outcome
    report's token alone."""
    report_token = cached.REPORT.token()
    invoice = Invoice.objects.filter(owed_cents__gt=0).order_by("pk").first()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ledger.entry(invoice, "payment", "1.00", local(2026, 3, 21), method="cash")
    during = cached.INCOME.token()
    for callback in callbacks:
        callback()
    assert cached.INCOME.token() != during
    assert cached.REPORT.token() == report_token


def test_figures_worked_out_inside_a_transaction_are_not_kept(ledger, ada, login):  # noqa: F811
    http = login(ada)
    served(http)
    with CaptureQueriesContext(connection) as second:
        served(http)
    with CaptureQueriesContext(connection) as third:
        served(http)
    assert len(third.captured_queries) == len(second.captured_queries)


def test_every_table_the_figures_read_is_an_input(ledger):  # noqa: F811
    """A table build_income reads that is not among the inputs would change unseen."""
    with CaptureQueriesContext(connection) as queries:
        build_income(start=D(2026, 1, 1), end=D(2026, 3, 31))
    read = set()
    for query in queries.captured_queries:
        read.update(re.findall(r'(?:FROM|JOIN) "([a-z_]+)"', query["sql"]))
    assert read, "no table found in the queries"
    assert read <= {model._meta.db_table for model in cached.INCOME.inputs}
