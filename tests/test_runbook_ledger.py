"""The runbook's side of the stock ledger (issue 17, item 1; docs/runbook-ledger.md): a dose
names the lot it came from once the practice keeps a ledger and is posted to it in the dose's
transaction, refused with the balance named when the lot holds too little; a sublingual dose may
come from the client's own medicine and posts nothing; what is left of a dose is wasted in front
of a second clinician, who confirms their own sign-in on the screen."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.controlled import ledger
from kapflow.controlled.models import Entry, Inventory, Lot
from kapflow.dosing.forms import DoseForm
from kapflow.dosing.models import Administration
from kapflow.dosing.services.administration import dose_record
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.services.signing import runbook_sign
from kapflow.dosing.services.waste import waste_record
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.test_concurrency import race, ready_session, slowed
from tests.test_dose_rules import im_order, predose, session
from tests.test_runbook import DAY, at, discharge, make_order, rate, vitals

pytestmark = pytest.mark.usefixtures("pathway_ready")

WITNESS_PASSWORD = "a long witness passphrase"


# --- Builders -------------------------------------------------------------------------------------


def start_ledger(who) -> Inventory:
    """The practice's initial inventory: from it on, the stock ledger is kept."""
    return Inventory.objects.create(
        kind=Inventory.Kind.INITIAL,
        taken_on=DAY.date() - datetime.timedelta(days=30),
        time_of_day=Inventory.TimeOfDay.OPENING,
        taken_by=who,
        recorded_by=who,
    )


def stock(who, *, holds="10", number="KX123", expires_on=None, drug="ketamine", form=Lot.Form.VIAL) -> Lot:
    """A lot of ketamine 50 mg/mL (or as given) with `holds` of it on hand."""
    lot = Lot.objects.create(
        drug=drug,
        product="Ketamine HCl injection, 10 mL multi-dose vial",
        form=form,
        strength_mg=Decimal(50),
        container_quantity=Decimal(10),
        lot_number=number,
        expires_on=expires_on or DAY.date() + datetime.timedelta(days=300),
        created_by=who,
    )
    ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.OPENING,
        quantity=Decimal(holds),
        occurred_at=DAY - datetime.timedelta(days=30),
        person=who,
        recorded_by=who,
    )
    return lot


def office_session(client, clinician, cora) -> Visit:
    """An in-person session under way on DAY, its checklist recorded and pre-dose vitals taken."""
    visit = session(client, clinician, cora, room=Room.objects.create(name="Cedar"))
    predose(visit, clinician)
    return visit


def give(visit, who, order, *, mg="40", route="intramuscular", lot=None, lot_number="", minutes=0):
    with time_machine.travel(at(minutes), tick=False):
        return dose_record(
            actor=who,
            visit=visit,
            order=order,
            given_at=at(minutes),
            route=route,
            dose_mg=Decimal(mg),
            lot_number=lot_number,
            lot=lot,
            given_by=who,
            practice=Practice.load(),
        )


def waste(visit, who, dose, witness, *, quantity="0.2", minutes=10, reason="Drew 1 mL, gave 0.8 mL."):
    with time_machine.travel(at(minutes), tick=False):
        return waste_record(
            actor=who,
            visit=visit,
            administration=dose,
            quantity=Decimal(quantity),
            reason=reason,
            wasted_at=at(minutes),
            witness=witness,
            witness_confirmed_at=at(minutes),
        )


@pytest.fixture
def wren(db):
    """A second therapist of the practice, with a password and an authenticator, to witness."""
    user = factories.make_user(
        "Wren Witness",
        roles=("is_therapist",),
        email="wren@example.org",
        password=WITNESS_PASSWORD,
        mfa=False,
    )
    user.totp_secret = factories.enrol_totp(user)
    return user


@pytest.fixture
def vial(ada):
    start_ledger(ada)
    return stock(ada)


@pytest.fixture
def visit(avery, tess, cora):
    return office_session(avery, tess, cora)


@pytest.fixture
def order(avery, priya):
    return im_order(avery, priya)  # 0.5–1.0 mg/kg at 70 kg: 35–70 mg


def runbook_url(visit, name="runbook"):
    return reverse(f"dosing:{name}", args=[visit.client_id, visit.pk])


# --- A dose from a lot ----------------------------------------------------------------------------


def test_a_dose_from_a_lot_posts_what_it_took_and_leaves_the_balance(visit, tess, order, vial, avery):
    dose = give(visit, tess, order, lot=vial)
    entry = Entry.objects.get(kind=Entry.Kind.ADMINISTRATION)
    assert (entry.lot, entry.administration, entry.client, entry.person) == (vial, dose, avery, tess)
    assert entry.quantity == Decimal("-0.8")  # 40 mg of 50 mg/mL
    assert entry.balance_after == Decimal("9.2")
    assert ledger.balance(vial) == Decimal("9.2")
    assert (dose.lot, dose.lot_number) == (vial, "KX123")


def test_a_dose_larger_than_the_lot_holds_is_refused_naming_the_balance_and_nothing_is_saved(
    visit, tess, order, ada
):
    start_ledger(ada)
    short = stock(ada, holds="0.5")
    with pytest.raises(RunbookRefused) as refused:
        give(visit, tess, order, lot=short)
    assert "Lot KX123 holds 0.5 mL (25 mg): 0.8 mL cannot be taken from it." in str(refused.value)
    assert not Administration.objects.exists()
    assert list(Entry.objects.values_list("kind", flat=True)) == [Entry.Kind.OPENING]
    assert ledger.balance(short) == Decimal("0.5")


def test_a_stocked_route_needs_a_lot_once_the_ledger_is_kept_and_not_before(visit, tess, order, ada):
    # Before the initial inventory, a dose carries its lot number in words and nothing is posted.
    before = give(visit, tess, order, lot_number="KX-OLD")
    assert (before.lot, before.lot_number) == (None, "KX-OLD")
    assert not Entry.objects.exists()
    start_ledger(ada)
    with pytest.raises(RunbookRefused, match="Choose the lot the dose came from"):
        give(visit, tess, order, mg="20", lot_number="KX-OLD", minutes=20)  # a booster
    assert Administration.objects.count() == 1


def test_an_expired_lot_is_refused(visit, tess, order, ada):
    start_ledger(ada)
    old = stock(ada, number="KX-OLD", expires_on=DAY.date() - datetime.timedelta(days=1))
    with pytest.raises(RunbookRefused, match=r"Lot KX-OLD expired on 2026-05-03: it is not given"):
        give(visit, tess, order, lot=old)
    assert not Administration.objects.exists()
    assert Entry.objects.count() == 1


def test_a_sublingual_dose_from_the_clients_own_medicine_posts_nothing(avery, tess, priya, cora, vial):
    visit = office_session(avery, tess, cora)
    order = make_order(avery, priya)  # sublingual ketamine, 200–300 mg
    dose = give(visit, tess, order, mg="250", route="sublingual", lot_number="RX-778 (pharmacy label)")
    assert (dose.lot, dose.lot_number) == (None, "RX-778 (pharmacy label)")
    assert list(Entry.objects.values_list("kind", flat=True)) == [Entry.Kind.OPENING]


# --- The dose form ---------------------------------------------------------------------------------


def test_the_dose_form_offers_the_lots_that_fit_labelled_with_what_they_hold(avery, visit, order, ada):
    start_ledger(ada)
    good = stock(ada, holds="7.2")
    stock(ada, number="EMPTY", holds="0.8")  # emptied below
    ledger.entry_post(
        lot=Lot.objects.get(lot_number="EMPTY"),
        kind=Entry.Kind.DESTRUCTION,
        quantity=Decimal("-0.8"),
        occurred_at=DAY - datetime.timedelta(days=2),
        person=ada,
        recorded_by=ada,
    )
    stock(ada, number="OLD", expires_on=DAY.date() - datetime.timedelta(days=1))
    stock(ada, number="SPRAY", drug="esketamine", form=Lot.Form.NASAL_DEVICE)
    with time_machine.travel(at(0), tick=False):
        form = DoseForm(client=avery, visit=visit)
        choices = [(str(value), label) for value, label in form.fields["lot"].choices]
    assert choices[1:] == [(str(good.pk), "Ketamine 50 mg/mL, lot KX123, 7.2 mL left, expires 2027-02")]
    assert choices[0][1] == "None: the client's own medicine (sublingual only)"


def test_before_the_ledger_the_dose_form_asks_for_the_lot_number_only(avery, visit, order):
    form = DoseForm(client=avery, visit=visit)
    assert "lot" not in form.fields
    assert form.fields["lot_number"].required


def _dose_data(order, who, **changes):
    return {
        "order": order.pk,
        "route": "intramuscular",
        "dose_mg": "40",
        "lot_number": "",
        "given_by": who.pk,
        **changes,
    }


def test_the_dose_form_asks_for_a_lot_for_a_stocked_route(avery, visit, order, tess, vial):
    form = DoseForm(_dose_data(order, tess), client=avery, visit=visit)
    assert not form.is_valid()
    assert "Choose the lot the dose came from" in form.errors["lot"][0]
    sublingual = DoseForm(_dose_data(order, tess, route="sublingual"), client=avery, visit=visit)
    assert not sublingual.is_valid()
    assert "type the lot number on the label" in sublingual.errors["lot_number"][0]
    both = DoseForm(_dose_data(order, tess, lot=vial.pk, lot_number="RX-1"), client=avery, visit=visit)
    assert not both.is_valid()
    assert "clear this lot number" in both.errors["lot_number"][0]


def test_a_refused_dose_reads_well_on_the_runbook_and_keeps_what_was_typed(
    login, avery, visit, order, tess, ada, audit_rows
):
    start_ledger(ada)
    short = stock(ada, holds="0.5")
    with time_machine.travel(at(0), tick=False):
        response = login(tess).post(runbook_url(visit, "dose"), _dose_data(order, tess, lot=short.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Lot KX123 holds 0.5 mL (25 mg): 0.8 mL cannot be taken from it." in html
    assert "Lot KX123 holds 0.5 mL; this dose takes 0.8 mL. Nothing was recorded: choose another lot." in html
    form = response.context["dose_form"]
    assert form.data["dose_mg"] == "40" and form["lot"].value() == str(short.pk)
    assert f'<option value="{short.pk}" selected>' in html
    assert not Administration.objects.exists()
    assert len(audit_rows("kapflow.dosing.dose.refused")) == 1


def test_the_runbook_shows_what_a_dose_took_from_its_lot(login, avery, visit, order, tess, vial):
    with time_machine.travel(at(0), tick=False):
        response = login(tess).post(runbook_url(visit, "dose"), _dose_data(order, tess, lot=vial.pk))
    assert response.status_code == 302
    assert Entry.objects.filter(kind=Entry.Kind.ADMINISTRATION, quantity=Decimal("-0.8")).exists()
    with time_machine.travel(at(5), tick=False):
        html = login(tess).get(runbook_url(visit)).content.decode()
    assert "0.8 mL of lot KX123" in html
    assert "Record waste" in html


# --- Waste -----------------------------------------------------------------------------------------


def test_a_waste_witnessed_by_another_clinician_is_posted_with_the_dose(
    visit, tess, order, vial, wren, avery
):
    dose = give(visit, tess, order, lot=vial)
    entry = waste(visit, tess, dose, wren)
    assert entry.kind == Entry.Kind.WASTE
    assert (entry.administration, entry.client, entry.person, entry.witness) == (dose, avery, tess, wren)
    assert entry.quantity == Decimal("-0.2")
    assert entry.balance_after == Decimal("9.0") == ledger.balance(vial)
    assert entry.witness_confirmed_at == at(10)
    # Sent again (a double click): saved once.
    assert waste(visit, tess, dose, wren) == entry
    assert Entry.objects.filter(kind=Entry.Kind.WASTE).count() == 1


def test_the_witness_cannot_be_the_person_wasting(visit, tess, order, vial):
    dose = give(visit, tess, order, lot=vial)
    with pytest.raises(RunbookRefused, match="The witness is someone other than the person wasting"):
        waste(visit, tess, dose, tess)
    assert not Entry.objects.filter(kind=Entry.Kind.WASTE).exists()


def test_the_database_refuses_a_waste_witnessed_by_the_person_wasting(visit, tess, order, vial, avery):
    dose = give(visit, tess, order, lot=vial)
    with pytest.raises(IntegrityError, match="ledger_waste_witnessed_by_another"), transaction.atomic():
        Entry.objects.create(
            lot=vial,
            sequence=3,
            kind=Entry.Kind.WASTE,
            quantity=Decimal("-0.2"),
            balance_after=Decimal("9.0"),
            occurred_at=at(10),
            person=tess,
            witness=tess,
            witness_confirmed_at=at(10),
            reason="Drew 1 mL, gave 0.8 mL.",
            administration=dose,
            client=avery,
            recorded_by=tess,
        )


def test_a_waste_of_more_than_the_lot_holds_is_refused_naming_the_balance(visit, tess, order, ada, wren):
    start_ledger(ada)
    lot = stock(ada, holds="1")
    dose = give(visit, tess, order, lot=lot)
    with pytest.raises(RunbookRefused, match=r"Lot KX123 holds 0.2 mL \(10 mg\): 0.5 mL cannot be taken"):
        waste(visit, tess, dose, wren, quantity="0.5")
    assert ledger.balance(lot) == Decimal("0.2")


def test_a_waste_is_refused_for_a_dose_from_no_lot_and_from_someone_not_a_clinician(
    avery, tess, priya, cora, vial, wren
):
    visit = office_session(avery, tess, cora)
    own = give(visit, tess, make_order(avery, priya), mg="250", route="sublingual", lot_number="RX-1")
    with pytest.raises(RunbookRefused, match="came from no lot of the practice's stock"):
        waste(visit, tess, own, wren)
    with pytest.raises(
        RunbookRefused,
        match="Waste is recorded by the clinician who wastes it: a therapist or prescriber of the practice",
    ):
        waste(visit, cora, own, wren)
    with pytest.raises(RunbookRefused, match="Cora Coordinator cannot witness a waste"):
        waste(visit, tess, own, cora)
    outside = factories.make_user("Otto Outside", roles=("is_prescriber",), mfa=False)
    outside.outside_practice = True
    outside.save()
    with pytest.raises(RunbookRefused, match="Otto Outside cannot witness a waste"):
        waste(visit, tess, own, outside)
    with pytest.raises(RunbookRefused, match="a therapist or prescriber of the practice"):
        waste(visit, outside, own, wren)


def test_a_waste_after_the_discharge_is_recorded_and_after_the_signature_is_refused(
    visit, tess, order, vial, wren
):
    dose = give(visit, tess, order, lot=vial)
    vitals(visit, tess, 100, spo2=98)
    rate(visit, tess, 100)
    discharge(visit, tess, 120)
    assert waste(visit, tess, dose, wren, minutes=122).balance_after == Decimal("9.0")
    with time_machine.travel(at(125), tick=False):
        runbook_sign(actor=tess, visit=visit)
    with pytest.raises(RunbookRefused, match="signed and locked"):
        waste(visit, tess, dose, wren, quantity="0.1", minutes=130)
    assert Entry.objects.filter(kind=Entry.Kind.WASTE).count() == 1


def _waste_data(dose, witness, **changes):
    return {
        "administration": dose.pk,
        "quantity": "0.2",
        "reason": "Drew 1 mL, gave 0.8 mL; 0.2 mL left in the syringe.",
        "witness_email": witness.email,
        "witness_password": WITNESS_PASSWORD,
        "witness_code": factories.totp_code(witness.totp_secret),
        **changes,
    }


def test_the_witness_signs_in_on_the_runbook_and_the_waste_is_shown_with_them(
    login, visit, tess, order, vial, wren, audit_rows
):
    dose = give(visit, tess, order, lot=vial)
    http = login(tess)
    with time_machine.travel(at(10), tick=False):
        response = http.post(runbook_url(visit, "waste"), _waste_data(dose, wren))
    assert response.status_code == 302
    entry = Entry.objects.get(kind=Entry.Kind.WASTE)
    assert (entry.person, entry.witness, entry.quantity) == (tess, wren, Decimal("-0.2"))
    assert len(audit_rows("kapflow.accounts.witness.confirmed")) == 1
    [recorded] = audit_rows("kapflow.dosing.waste.recorded")
    assert recorded.client_id == visit.client_id and recorded.detail["user"] == wren.pk
    with time_machine.travel(at(12), tick=False):
        html = http.get(runbook_url(visit)).content.decode()
    assert "0.2 mL of lot KX123" in html
    assert "witnessed by Wren Witness" in html
    # The dose's waste is recorded: it is not offered again.
    assert "Record waste" not in html


def test_a_wrong_witness_password_is_refused_audited_and_never_sent_back(
    login, visit, tess, order, vial, wren, audit_rows
):
    dose = give(visit, tess, order, lot=vial)
    with time_machine.travel(at(10), tick=False):
        response = login(tess).post(
            runbook_url(visit, "waste"), _waste_data(dose, wren, witness_password="not-the-password-xyz")
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert "The witness&#x27;s email and password do not match." in html
    assert "not-the-password-xyz" not in html
    assert "Drew 1 mL, gave 0.8 mL; 0.2 mL left in the syringe." in html  # what was typed is kept
    assert not Entry.objects.filter(kind=Entry.Kind.WASTE).exists()
    [refused] = audit_rows("kapflow.accounts.witness.refused")
    assert refused.detail == {"purpose": "waste", "step": "password"}
    [waste_refused] = audit_rows("kapflow.dosing.waste.refused")
    assert waste_refused.client_id == visit.client_id


def test_the_waster_cannot_sign_in_as_their_own_witness_on_the_runbook(login, visit, tess, order, vial):
    tess.set_password(WITNESS_PASSWORD)
    tess.save()
    Authenticator.objects.filter(user=tess).delete()
    tess.totp_secret = factories.enrol_totp(tess)
    dose = give(visit, tess, order, lot=vial)
    with time_machine.travel(at(10), tick=False):
        response = login(tess).post(runbook_url(visit, "waste"), _waste_data(dose, tess))
    assert response.status_code == 200
    assert "The witness is someone other than the person wasting" in response.content.decode()
    assert not Entry.objects.filter(kind=Entry.Kind.WASTE).exists()


def test_only_this_sessions_doses_from_a_lot_may_be_wasted_from(login, visit, tess, order, vial, wren):
    give(visit, tess, order, lot=vial)
    with time_machine.travel(at(10), tick=False):
        response = login(tess).post(runbook_url(visit, "waste"), _waste_data(Administration(pk=987654), wren))
    assert response.status_code == 200
    assert response.context["waste_form"].errors["administration"]
    assert not Entry.objects.filter(kind=Entry.Kind.WASTE).exists()


# --- Two doses at once from a lot that holds enough for one (PostgreSQL, threads) ----------------


@pytest.fixture(scope="module")
def _audit_triggers_back_at_the_end(django_db_blocker):
    """The append-only triggers, back on once this module's committing test has been flushed."""
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture
def committing(_audit_triggers_back_at_the_end, db):
    """As tests/test_concurrency.py: the triggers on while the test runs, lifted for the flush."""
    install_triggers(connection)
    yield
    drop_triggers(connection)


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("committing")
def test_two_doses_at_once_from_a_lot_that_holds_one_give_one(
    monkeypatch, avery, olive, tess, colin, priya, cora
):
    today = timezone.localdate()
    factories.add_emergency_contact(olive)
    Inventory.objects.create(
        kind=Inventory.Kind.INITIAL, taken_on=today, time_of_day="opening", taken_by=priya, recorded_by=priya
    )
    lot = Lot.objects.create(
        drug="ketamine",
        product="Ketamine HCl injection, 10 mL multi-dose vial",
        form=Lot.Form.VIAL,
        strength_mg=Decimal(50),
        container_quantity=Decimal(10),
        lot_number="KX-LAST",
        expires_on=today + datetime.timedelta(days=300),
        created_by=priya,
    )
    ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.OPENING,
        quantity=Decimal("1.0"),
        occurred_at=timezone.now() - datetime.timedelta(hours=1),
        person=priya,
        recorded_by=priya,
    )
    now = timezone.now()
    sessions = [
        ready_session(
            avery,
            tess,
            cora,
            room=Room.objects.create(name="Cedar"),
            starts_at=now - datetime.timedelta(minutes=30),
        ),
        ready_session(
            olive,
            colin,
            cora,
            room=Room.objects.create(name="Willow"),
            starts_at=now - datetime.timedelta(minutes=20),
        ),
    ]
    orders = [
        make_order(
            client,
            priya,
            route="intramuscular",
            dose_min=Decimal(35),
            dose_max=Decimal(70),
            boosters_allowed=0,
            booster_max_mg=None,
            starts_on=today - datetime.timedelta(days=10),
            ends_on=today + datetime.timedelta(days=80),
        )
        for client in (avery, olive)
    ]
    # Between reading the lot's balance and writing the entry: without the lot's lock, both
    # doses would read 1.0 mL and both be posted.
    slowed(monkeypatch, ledger, "_latest")

    def dose_in(visit, who, order):
        def call():
            return dose_record(
                actor=who,
                visit=visit,
                order=order,
                given_at=timezone.now(),
                route="intramuscular",
                dose_mg=Decimal(40),
                lot_number="",
                lot=lot,
                given_by=who,
                practice=Practice.load(),
            )

        return call

    results = race(dose_in(sessions[0], tess, orders[0]), dose_in(sessions[1], colin, orders[1]))

    given = [r for r in results if isinstance(r, Administration)]
    refused = [r for r in results if isinstance(r, RunbookRefused)]
    assert len(given) == 1, results
    assert len(refused) == 1, results
    assert "Lot KX-LAST holds 0.2 mL (10 mg): 0.8 mL cannot be taken from it." in str(refused[0])
    assert Administration.objects.count() == 1
    entries = list(Entry.objects.filter(lot=lot).order_by("sequence"))
    assert [e.sequence for e in entries] == [1, 2]
    held = ledger.balance(lot)
    assert held == Decimal("0.2") == sum(e.quantity for e in entries)
    assert held >= 0


@pytest.mark.parametrize(
    "changes",
    [
        {"witness_code": "000000"},
        {"administration": "99999999999999999999", "quantity": "1e9"},
        {"administration": "abc", "quantity": "-1", "witness_email": "not an email"},
        {"quantity": "0.00001", "reason": "\x00", "witness_code": "x" * 40},
        {"quantity": "NaN", "at": "25:99", "witness_password": ""},
        {"quantity": "Infinity", "witness_email": "nobody@example.org"},
    ],
)
def test_the_waste_and_dose_forms_take_hostile_input_without_a_500(
    login, visit, tess, order, vial, wren, changes
):
    dose = give(visit, tess, order, lot=vial)
    http = login(tess)
    data = {key: value for key, value in {**_waste_data(dose, wren), **changes}.items() if value is not None}
    with time_machine.travel(at(10), tick=False):
        for headers in ({}, {"HX-Request": "true"}):
            response = http.post(runbook_url(visit, "waste"), data, headers=headers)
            assert response.status_code == 200
            assert response.context["waste_form"].errors
            bad_lot = _dose_data(order, tess, lot=changes.get("administration", "abc"), dose_mg="20")
            assert http.post(runbook_url(visit, "dose"), bad_lot, headers=headers).status_code == 200
    assert not Entry.objects.filter(kind=Entry.Kind.WASTE).exists()
    assert Administration.objects.count() == 1
