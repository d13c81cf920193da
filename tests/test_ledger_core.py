"""The stock ledger's one way in (kapflow.controlled.ledger, docs/controlled-substances.md): the
balance each entry leaves, refusals that name the balance, corrections, exact quantities, and the
database's own guards under the code: no balance below zero, no two entries in one place of a
lot's sequence, nothing edited or deleted. The threaded tests fire two writes at one lot."""

import datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.audit.models import AuditEvent
from kapflow.controlled import ledger
from kapflow.controlled.models import Entry, Inventory, Lot
from tests import factories
from tests.test_concurrency import race, slowed

D = Decimal


def make_lot(user, *, lot_number="KX100", form=Lot.Form.VIAL, strength="50", container="10", drug="ketamine"):
    return Lot.objects.create(
        drug=drug,
        product="Ketamine HCl injection, 10 mL multi-dose vial",
        form=form,
        strength_mg=D(strength),
        container_quantity=D(container),
        ndc="0143-9508-10",
        lot_number=lot_number,
        expires_on=timezone.localdate() + datetime.timedelta(days=400),
        created_by=user,
    )


def receive(lot, user, quantity="10"):
    return ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.RECEIPT,
        quantity=D(quantity),
        occurred_at=timezone.now(),
        person=user,
        recorded_by=user,
        party_name="Henry Schein",
        party_dea_number="AB1234563",
    )


def transfer(lot, user, quantity):
    return ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.TRANSFER,
        quantity=-D(quantity),
        occurred_at=timezone.now(),
        person=user,
        recorded_by=user,
        party_name="Another clinic",
        party_dea_number="AB1234563",
    )


@pytest.mark.django_db
class TestPosting:
    def test_each_entry_leaves_the_balance_and_takes_the_next_place(self, priya):
        lot = make_lot(priya)
        first = receive(lot, priya, "10")
        second = transfer(lot, priya, "3.25")
        assert (first.sequence, first.balance_after) == (1, D("10"))
        assert (second.sequence, second.balance_after) == (2, D("6.75"))
        assert ledger.balance(lot) == D("6.75")
        assert ledger.with_balances(Lot.objects.filter(pk=lot.pk)).get().balance == D("6.75")
        # The balance is the sum of the entries, always.
        assert sum(e.quantity for e in lot.entries.all()) == ledger.balance(lot)

    def test_taking_more_than_the_lot_holds_is_refused_naming_the_balance(self, priya):
        lot = make_lot(priya)
        receive(lot, priya, "0.5")
        with pytest.raises(ledger.LedgerRefused) as refused:
            transfer(lot, priya, "0.8")
        assert str(refused.value) == "Lot KX100 holds 0.5 mL (25 mg): 0.8 mL cannot be taken from it."
        assert lot.entries.count() == 1

    def test_each_post_is_audited_with_the_kind_and_balance(self, priya):
        lot = make_lot(priya)
        entry = receive(lot, priya, "10")
        row = AuditEvent.objects.get(action="kapflow.controlled.entry.posted", object_id=str(entry.pk))
        assert row.detail == {"lot": lot.pk, "kind": "receipt", "quantity": "10", "balance": "10"}

    def test_quantities_are_exact_to_four_places_and_devices_whole(self, priya):
        lot = make_lot(priya)
        with pytest.raises(ledger.LedgerRefused, match="four decimal places"):
            receive(lot, priya, "1.00001")
        spravato = make_lot(priya, lot_number="SP1", form=Lot.Form.NASAL_DEVICE, strength="28", container="1")
        with pytest.raises(ledger.LedgerRefused, match="counted whole"):
            receive(spravato, priya, "1.5")

    def test_a_date_in_the_future_is_refused(self, priya):
        lot = make_lot(priya)
        with pytest.raises(ledger.LedgerRefused, match="future"):
            ledger.entry_post(
                lot=lot,
                kind=Entry.Kind.RECEIPT,
                quantity=D("1"),
                occurred_at=timezone.now() + datetime.timedelta(hours=2),
                person=priya,
                recorded_by=priya,
                party_name="Supplier",
                party_dea_number="AB1234563",
            )

    @pytest.mark.parametrize(
        "strength, dose, expected",
        [("50", "40", "0.8"), ("100", "33.33", "0.3333"), ("10", "35", "3.5"), ("28", "84", "3")],
    )
    def test_a_dose_takes_an_exact_quantity_of_its_lot(self, priya, strength, dose, expected):
        form = Lot.Form.NASAL_DEVICE if strength == "28" else Lot.Form.VIAL
        lot = make_lot(priya, form=form, strength=strength, container="1" if strength == "28" else "10")
        assert ledger.dose_quantity(lot, D(dose)) == D(expected)

    @pytest.mark.parametrize("strength, dose", [("30", "10"), ("28", "30")])
    def test_a_dose_the_lot_cannot_measure_exactly_is_refused(self, priya, strength, dose):
        form = Lot.Form.NASAL_DEVICE if strength == "28" else Lot.Form.VIAL
        lot = make_lot(priya, form=form, strength=strength, container="1")
        with pytest.raises(ledger.LedgerRefused):
            ledger.dose_quantity(lot, D(dose))

    def test_a_lot_fits_a_dose_by_drug_route_and_expiry(self, priya):
        lot = make_lot(priya)
        today = timezone.localdate()
        assert ledger.lot_problems(lot, drug="ketamine", route="intramuscular", day=today) == []
        assert ledger.lot_problems(lot, drug="esketamine", route="intramuscular", day=today)
        assert ledger.lot_problems(lot, drug="ketamine", route="intranasal", day=today)
        later = lot.expires_on + datetime.timedelta(days=1)
        assert "expired" in ledger.lot_problems(lot, drug="ketamine", route="intravenous", day=later)[0]

    def test_the_ledger_starts_with_the_initial_inventory(self, priya):
        assert not ledger.ledger_started()
        Inventory.objects.create(
            kind=Inventory.Kind.INITIAL,
            taken_on=timezone.localdate(),
            time_of_day=Inventory.TimeOfDay.OPENING,
            taken_by=priya,
            recorded_by=priya,
        )
        assert ledger.ledger_started()


@pytest.mark.django_db
class TestCorrections:
    def test_a_correction_reverses_an_entry_once_with_its_reason(self, priya):
        lot = make_lot(priya)
        wrong = receive(lot, priya, "10")
        correction = ledger.correction_post(actor=priya, entry=wrong, reason="Typed 10 vials for 1")
        assert (correction.quantity, correction.balance_after, correction.reverses) == (
            D("-10"),
            D("0"),
            wrong,
        )
        with pytest.raises(ledger.LedgerRefused, match="reversed already"):
            ledger.correction_post(actor=priya, entry=wrong, reason="again")
        with pytest.raises(ledger.LedgerRefused, match="not reversed"):
            ledger.correction_post(actor=priya, entry=correction, reason="undo")

    def test_a_correction_needs_a_reason_and_a_stock_keeper(self, priya, tess):
        lot = make_lot(priya)
        entry = receive(lot, priya, "10")
        with pytest.raises(ledger.LedgerRefused, match="why"):
            ledger.correction_post(actor=priya, entry=entry, reason="  ")
        with pytest.raises(ledger.LedgerRefused, match="prescriber"):
            ledger.correction_post(actor=tess, entry=entry, reason="mine")

    def test_reversing_a_receipt_already_spent_is_refused(self, priya):
        lot = make_lot(priya)
        entry = receive(lot, priya, "10")
        transfer(lot, priya, "4")
        with pytest.raises(ledger.LedgerRefused, match="holds 6 mL"):
            ledger.correction_post(actor=priya, entry=entry, reason="wrong lot")


def test_who_keeps_stock_and_who_witnesses(db):
    admin = factories.make_user("Admin", roles=("is_practice_admin",), mfa=False)
    prescriber = factories.make_user("Prescriber", roles=("is_prescriber",), mfa=False)
    outside = factories.make_user("Outside", roles=("is_prescriber",), mfa=False)
    outside.outside_practice = True
    therapist = factories.make_user("Therapist", roles=("is_therapist",), mfa=False)
    coordinator = factories.make_user("Coordinator", roles=("is_coordinator",), mfa=False)
    assert [ledger.can_keep_stock(u) for u in (admin, prescriber, outside, therapist, coordinator)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert [ledger.can_witness(u) for u in (admin, prescriber, outside, therapist, coordinator)] == [
        False,
        True,
        False,
        True,
        False,
    ]


@pytest.mark.django_db
class TestTheDatabaseGuards:
    """Under the code: what the database refuses of a writer that went round entry_post."""

    def _raw(self, lot, user, **fields):
        values = {
            "lot": lot,
            "sequence": 2,
            "kind": Entry.Kind.TRANSFER,
            "quantity": D("-1"),
            "balance_after": D("9"),
            "occurred_at": timezone.now(),
            "person": user,
            "recorded_by": user,
        } | fields
        with transaction.atomic():
            Entry.objects.create(**values)

    def test_no_balance_below_zero(self, priya):
        lot = make_lot(priya)
        receive(lot, priya, "1")
        with pytest.raises(IntegrityError):
            self._raw(lot, priya, quantity=D("-2"), balance_after=D("-1"))

    def test_no_two_entries_in_one_place_of_the_sequence(self, priya):
        lot = make_lot(priya)
        receive(lot, priya, "10")
        with pytest.raises(IntegrityError):
            self._raw(lot, priya, sequence=1)

    def test_an_outgoing_entry_is_negative_and_a_receipt_names_its_supplier(self, priya):
        lot = make_lot(priya)
        receive(lot, priya, "10")
        with pytest.raises(IntegrityError):
            self._raw(lot, priya, quantity=D("1"), balance_after=D("11"))
        with pytest.raises(IntegrityError):
            self._raw(lot, priya, kind=Entry.Kind.RECEIPT, quantity=D("1"), balance_after=D("11"))

    def test_a_waste_is_witnessed_by_someone_else(self, priya, tess):
        lot = make_lot(priya)
        receive(lot, priya, "10")
        waste = {
            "kind": Entry.Kind.WASTE,
            "reason": "drawn, not given",
            "witness_confirmed_at": timezone.now(),
        }
        with pytest.raises(IntegrityError):
            self._raw(lot, priya, **waste, witness=priya)
        with pytest.raises(IntegrityError):
            self._raw(lot, priya, **waste | {"witness_confirmed_at": None}, witness=tess)
        self._raw(lot, priya, **waste, witness=tess)

    def test_no_entry_or_lot_is_changed_or_deleted(self, priya):
        lot = make_lot(priya)
        entry = receive(lot, priya, "10")
        for sql, args in [
            ("UPDATE controlled_entry SET quantity = 20, balance_after = 20 WHERE id = %s", [entry.pk]),
            ("DELETE FROM controlled_entry WHERE id = %s", [entry.pk]),
            ("UPDATE controlled_lot SET lot_number = 'OTHER' WHERE id = %s", [lot.pk]),
            ("DELETE FROM controlled_lot WHERE id = %s", [lot.pk]),
        ]:
            with (
                pytest.raises(DatabaseError, match="cannot be changed"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(sql, args)
        entry.refresh_from_db()
        assert entry.quantity == D("10")


@pytest.fixture(scope="module", autouse=True)
def _triggers_back_at_the_end(django_db_blocker):
    """The append-only triggers, back on once the threaded tests' last flush has run."""
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
class TestAtTheSameInstant:
    """Two writes at one lot from two threads, each on its own connection, released together,
    with a pause between reading the balance and writing (so that without the lock both would
    read it first)."""

    @pytest.fixture(autouse=True)
    def _triggers(self, db):
        install_triggers(connection)
        yield
        drop_triggers(connection)

    def test_two_writers_cannot_both_spend_the_last_stock(self, priya, monkeypatch):
        lot = make_lot(priya)
        receive(lot, priya, "10")
        slowed(monkeypatch, ledger, "_latest")
        results = race(lambda: transfer(lot, priya, "6"), lambda: transfer(lot, priya, "6"))
        posted = [r for r in results if isinstance(r, Entry)]
        refused = [r for r in results if isinstance(r, ledger.LedgerRefused)]
        assert len(posted) == 1 and len(refused) == 1, results
        assert "holds 4 mL" in str(refused[0])
        assert ledger.balance(lot) == D("4") == sum(e.quantity for e in lot.entries.all())

    def test_without_the_lock_the_sequence_still_lets_only_one_through(self, priya, monkeypatch):
        """A writer that skipped the lot's lock: both read the same latest entry, both try to
        write the next place in the sequence, and the database takes one."""
        lot = make_lot(priya)
        receive(lot, priya, "10")
        monkeypatch.setattr(ledger, "_lock", lambda lot: None)
        slowed(monkeypatch, ledger, "_latest")
        results = race(lambda: transfer(lot, priya, "6"), lambda: transfer(lot, priya, "6"))
        posted = [r for r in results if isinstance(r, Entry)]
        assert len(posted) == 1, results
        assert isinstance(
            next(r for r in results if not isinstance(r, Entry)), ledger.LedgerRefused | DatabaseError
        )
        assert ledger.balance(lot) == D("4") == sum(e.quantity for e in lot.entries.all())
