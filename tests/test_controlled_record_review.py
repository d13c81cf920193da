"""Issue 17, review of the controlled-substance record's writes: a form sent twice (a double
click on "Record receipt", a dropped connection) posts once; lots are locked in one order
(docs/controlled-substances.md, "Locks in one order"); a check that counts is made under the lock
it counts under."""

import datetime
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from kapflow.controlled import inventory as services
from kapflow.controlled import ledger, stock
from kapflow.controlled.ledger import LedgerRefused
from kapflow.controlled.models import Discrepancy, Entry, Inventory, LossReport, Lot
from kapflow.practice.models import Practice
from tests.matrix_stock import dose_posted, given_dose, start_ledger, tablet_lot
from tests.test_stock_ledger import RECIPIENT_DEA, new_lot_receipt

D = Decimal


@pytest.fixture
def started(ada):
    start_ledger(ada)


@pytest.fixture
def lot(started, ada):
    return tablet_lot(ada, lot_number="T-200")


def receipts(lot: Lot) -> list[Entry]:
    return list(lot.entries.filter(kind=Entry.Kind.RECEIPT).order_by("sequence"))


# A form sent twice ---------------------------------------------------------------------------


def test_the_receipt_form_carries_its_own_key(login, priya, started):
    page = login(priya).get(reverse("controlled:receipt")).content.decode()
    assert 'name="entry_key"' in page


def test_a_receipt_into_a_lot_held_sent_twice_is_posted_once(login, priya, lot):
    http = login(priya)
    data = new_lot_receipt(which="existing", lot=lot.pk, containers="2", received_by=priya.pk)
    data["entry_key"] = str(uuid.uuid4())
    first = http.post(reverse("controlled:receipt"), data)
    second = http.post(reverse("controlled:receipt"), data)
    assert first.status_code == second.status_code == 302
    assert second["Location"] == reverse("controlled:lot", args=[lot.pk])
    assert len(receipts(lot)) == 2  # the one tablet_lot made, and this one, once
    assert ledger.balance(lot) == D("300")
    # A new form (a new key) is a new receipt.
    data["entry_key"] = str(uuid.uuid4())
    http.post(reverse("controlled:receipt"), data)
    assert ledger.balance(lot) == D("500")


def test_a_receipt_of_a_new_lot_sent_twice_is_posted_once(login, priya, started):
    http = login(priya)
    data = new_lot_receipt(received_by=priya.pk, entry_key=str(uuid.uuid4()))
    first = http.post(reverse("controlled:receipt"), data)
    second = http.post(reverse("controlled:receipt"), data)
    lot = Lot.objects.get(lot_number="KV-2026-01")
    # The second sending lands on the lot's page as the first did, not on "recorded already".
    assert first.status_code == second.status_code == 302
    assert second["Location"] == reverse("controlled:lot", args=[lot.pk])
    assert len(receipts(lot)) == 1 and ledger.balance(lot) == D("50")


def test_a_transfer_sent_twice_is_posted_once(login, priya, lot):
    http = login(priya)
    data = {
        "quantity": "10",
        "occurred_on": timezone.localdate().isoformat(),
        "person": priya.pk,
        "party_name": "Eastside Clinic",
        "party_address": "2 Elm St, Springfield",
        "party_dea_number": RECIPIENT_DEA,
        "reference": "TR-7",
        "reason": "",
        "entry_key": str(uuid.uuid4()),
    }
    for _ in range(2):
        response = http.post(reverse("controlled:transfer", args=[lot.pk]), data)
        assert response.status_code == 302
    assert lot.entries.filter(kind=Entry.Kind.TRANSFER).count() == 1
    assert ledger.balance(lot) == D("90")


def test_a_loss_report_sent_twice_is_started_once_and_posted_once(ada, lot):
    key = uuid.uuid4()

    def start():
        return services.loss_report_start(
            actor=ada,
            kind=LossReport.Kind.THEFT,
            discovered_at=timezone.now(),
            description="Two tablets missing from the safe.",
            losses=[services.LotLoss(lot, D("2"))],
            practice=Practice.load(),
            entry_key=key,
        )

    assert start() == start()
    assert LossReport.objects.count() == 1
    assert lot.entries.filter(kind=Entry.Kind.LOSS).count() == 1 and ledger.balance(lot) == D("98")


def test_an_inventory_sent_twice_is_saved_once_with_one_discrepancy(ada, lot):
    key = uuid.uuid4()

    def take():
        return services.inventory_take(
            actor=ada,
            kind=Inventory.Kind.BIENNIAL,
            taken_on=timezone.localdate(),
            time_of_day=Inventory.TimeOfDay.CLOSE,
            taken_by=ada,
            counts=[services.LotCount(lot, 0, D("97"))],
            entry_key=key,
        )

    assert take() == take()
    assert Inventory.objects.filter(kind=Inventory.Kind.BIENNIAL).count() == 1
    assert Discrepancy.objects.count() == 1


# A dose put right ------------------------------------------------------------------------------


def test_a_dose_with_its_waste_recorded_is_posted_again_once_its_posting_is_reversed(ada, priya, tess, avery):
    """The waste of what was left of a dose names the dose; it is not a posting of the dose,
    and does not stop the dose being put right."""
    start_ledger(ada)
    wrong, right = tablet_lot(ada, lot_number="W-1"), tablet_lot(ada, lot_number="W-2")
    administration = given_dose(avery, priya, tess)
    posting = dose_posted(administration, wrong)
    ledger.entry_post(
        lot=wrong,
        kind=Entry.Kind.WASTE,
        quantity=D("-0.5"),
        occurred_at=timezone.now(),
        person=tess,
        recorded_by=tess,
        administration=administration,
        client=avery,
        witness=priya,
        witness_confirmed_at=timezone.now(),
        reason="Half a tablet left",
    )
    ledger.correction_post(actor=priya, entry=posting, reason="Wrong lot")
    assert stock.posted_for_dose(administration) == 0
    moved = stock.dose_repost(actor=priya, administration=administration, lot=right, reason="W-2")
    assert moved.quantity == D("-2") and ledger.balance(right) == D("98")
    assert stock.posted_for_dose(administration) == D("-2")


# At the same instant -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _triggers_back_at_the_end(django_db_blocker):
    yield
    from kapflow.audit.db import install_triggers

    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture
def committed(transactional_db, _triggers_back_at_the_end):
    """Writes commit (threads see them): the triggers are on while the test runs and lifted for
    the flush after it (as tests/test_concurrency.py)."""
    from kapflow.audit.db import drop_triggers, install_triggers

    install_triggers(connection)
    yield
    drop_triggers(connection)


@pytest.mark.concurrency
def test_two_loss_reports_over_the_same_lots_in_opposite_orders_never_deadlock(committed, monkeypatch, ada):
    from tests.test_concurrency import race, slowed

    start_ledger(ada)
    first, second = tablet_lot(ada, lot_number="L-1"), tablet_lot(ada, lot_number="L-2")
    # Each posting pauses once it holds its lot: without one order, each report would hold one
    # lot and wait for the other's.
    slowed(monkeypatch, services, "entry_post")

    def report(lots):
        return lambda: services.loss_report_start(
            actor=ada,
            kind=LossReport.Kind.LOSS,
            discovered_at=timezone.now(),
            description="Tablets missing.",
            losses=[services.LotLoss(lot, D("1")) for lot in lots],
            practice=Practice.load(),
        )

    results = race(report([first, second]), report([second, first]))
    assert all(isinstance(r, LossReport) for r in results), results
    assert ledger.balance(first) == ledger.balance(second) == D("98")


@pytest.mark.concurrency
def test_a_receipt_sent_twice_at_the_same_instant_is_posted_once(committed, ada, priya):
    from tests.test_concurrency import race

    start_ledger(ada)
    lot = tablet_lot(ada, lot_number="R-1")
    key = uuid.uuid4()

    def receive():
        return stock.lot_receive(
            actor=priya,
            received_by=priya,
            containers=1,
            received_on=timezone.localdate(),
            supplier_name="Valley Compounding Pharmacy",
            supplier_address="1 Main St, Van Nuys, CA",
            supplier_dea_number="AB1234563",
            reference="INV-2",
            lot=lot,
            entry_key=key,
        )

    results = race(receive, receive)
    assert all(isinstance(r, Entry) for r in results), results
    assert results[0].pk == results[1].pk
    assert ledger.balance(lot) == D("200")


@pytest.mark.concurrency
def test_an_entry_reversed_by_two_people_at_once_is_reversed_once_and_the_other_told(
    committed, monkeypatch, ada, priya
):
    from tests.test_concurrency import PAUSE, race

    start_ledger(ada)
    lot = tablet_lot(ada, lot_number="C-1")
    entry = lot.entries.get()
    # Each reversal reads whether the entry was reversed, then pauses before posting: without
    # the lot's lock around the read, both read "not yet" and the second fails at the database.
    original = ledger.entry_post

    def paused_then_posted(**kwargs):
        time.sleep(PAUSE)
        return original(**kwargs)

    monkeypatch.setattr(ledger, "entry_post", paused_then_posted)

    def reverse_it(who):
        return lambda: ledger.correction_post(actor=who, entry=entry, reason="Posted twice")

    results = race(reverse_it(ada), reverse_it(priya))
    posted = [r for r in results if isinstance(r, Entry)]
    refused = [r for r in results if isinstance(r, LedgerRefused)]
    assert len(posted) == 1 and len(refused) == 1, results
    assert "reversed already" in str(refused[0])
    assert ledger.balance(lot) == D("0")


def test_no_entry_quantity_is_a_float():
    """Every quantity and balance column is a Decimal field (never a FloatField)."""
    from django.db import models

    from kapflow.controlled import models as controlled_models
    from kapflow.dosing.models import Administration, RemsReport, SupplyCount

    found = [
        f"{model.__name__}.{field.name}"
        for model in (
            *[
                m
                for m in vars(controlled_models).values()
                if isinstance(m, type) and issubclass(m, models.Model)
            ],
            Administration,
            SupplyCount,
            RemsReport,
        )
        for field in model._meta.get_fields()
        if isinstance(field, models.FloatField)
    ]
    assert found == []


def test_an_inventory_is_due_two_years_on_and_29_february_on_28_february():
    from kapflow.controlled import clocks

    assert clocks.next_inventory_due(datetime.date(2024, 2, 29)) == datetime.date(2026, 2, 28)
    assert clocks.next_inventory_due(datetime.date(2025, 3, 1)) == datetime.date(2027, 3, 1)
