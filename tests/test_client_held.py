"""Client-held medicine (issue 17, item 3; docs/client-held-medicine.md): a pharmacy's fills of a
client's sublingual prescription recorded with the order, what the client should hold, and the
runbook's count of what they bring and take, which alerts the prescriber when it does not match."""

import datetime
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.audit.models import AuditEvent
from kapflow.controlled import fills
from kapflow.controlled.fills import FillRefused, fill_problems, fill_record, held, months_after
from kapflow.controlled.models import PharmacyFill
from kapflow.dosing.models import SessionAlert, SupplyCount
from kapflow.dosing.services import supply
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.dosing.services.supply import count_mismatches, own_doses_mg, supply_count_record
from kapflow.medical.models import MedicationOrder
from kapflow.practice.models import Practice
from kapflow.reminders.models import Reminder
from kapflow.visits.models import Room, Visit

pytestmark = pytest.mark.usefixtures("pathway_ready")

D = Decimal


def days_ago(days: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=days)


def sublingual_order(client, prescriber, **fields) -> MedicationOrder:
    values = {
        "drug": "ketamine",
        "route": "sublingual",
        "unit": "mg",
        "dose_min": D(100),
        "dose_max": D(300),
        "sessions_authorised": 6,
        "starts_on": days_ago(60),
        "ends_on": timezone.localdate() + datetime.timedelta(days=60),
    }
    values.update(fields)
    return MedicationOrder.objects.create(client=client, prescriber=prescriber, **values)


def fill(order, who, *, refill=0, quantity=10, strength=100, filled_on=None, refills=2, **fields):
    return fill_record(
        actor=who,
        client=order.client,
        order=order,
        pharmacy=fields.pop("pharmacy", "Elm Compounding"),
        pharmacy_phone="555-0199",
        rx_number="RX-881",
        form=PharmacyFill.Form.TROCHE,
        strength_mg=D(strength),
        quantity=D(quantity),
        refills_authorised=refills,
        refill_number=refill,
        filled_on=filled_on or days_ago(20 - refill),
        lot_number="C-2231",
        **fields,
    )


def session(client, clinician, cora, *, minutes_ago=30, room=None) -> Visit:
    starts_at = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    return Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.IN_PERSON if room else Visit.Modality.VIRTUAL,
        room=room,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=150),
        clinician=clinician,
        created_by=cora,
        status=Visit.Status.IN_PROGRESS,
    )


def count(visit, who, *, brought, taken=0, strength=100, key=None):
    return supply_count_record(
        actor=who,
        visit=visit,
        strength_mg=D(strength),
        brought=D(brought),
        taken=D(taken),
        counted_at=timezone.now(),
        practice=Practice.load(),
        entry_key=key,
    )


@pytest.fixture
def order(avery, priya):
    return sublingual_order(avery, priya)


@pytest.fixture
def filled(order, priya):
    """Avery's prescription filled once: 10 troches of 100 mg."""
    return fill(order, priya)


# --- The rules, without a database ------------------------------------------------------------


def test_six_months_after_the_last_day_of_a_month_is_the_last_day_of_that_month():
    assert months_after(datetime.date(2026, 8, 31), 6) == datetime.date(2027, 2, 28)
    assert months_after(datetime.date(2027, 8, 31), 6) == datetime.date(2028, 2, 29)
    assert months_after(datetime.date(2026, 1, 15), 6) == datetime.date(2026, 7, 15)
    assert months_after(datetime.date(2026, 9, 30), 6) == datetime.date(2027, 3, 30)


TEN = D(10)


def _order(prescribed_on=None):
    return SimpleNamespace(prescribed_on=prescribed_on)


def _fill(refill_number, filled_on, refills=3, quantity=TEN):
    return SimpleNamespace(
        refill_number=refill_number, filled_on=filled_on, refills_authorised=refills, quantity=quantity
    )


TODAY = datetime.date(2026, 12, 5)


def test_a_refill_more_than_six_months_after_the_original_fill_is_refused_with_the_day():
    original = _fill(0, datetime.date(2026, 5, 1))
    problems = fill_problems(
        order=_order(),
        fills=[original],
        refill_number=1,
        refills_authorised=3,
        filled_on=datetime.date(2026, 11, 2),
        today=TODAY,
    )
    assert problems == [
        "A Schedule III prescription is refilled at most 6 months after it was issued (21 CFR 1306.22): "
        "from the original fill, May 1, 2026, that was Nov 1, 2026. A fill after it needs a new "
        "prescription — prescriber."
    ]
    on_the_day = fill_problems(
        order=_order(), fills=[original], refill_number=1, refills_authorised=3,
        filled_on=datetime.date(2026, 11, 1), today=TODAY,
    )  # fmt: skip
    assert on_the_day == []


def test_the_six_months_run_from_the_prescription_when_its_date_is_known():
    problems = fill_problems(
        order=_order(prescribed_on=datetime.date(2026, 3, 1)),
        fills=[],
        refill_number=0,
        refills_authorised=0,
        filled_on=datetime.date(2026, 9, 2),
        today=TODAY,
    )
    assert len(problems) == 1
    assert (
        "filled at most 6 months" in problems[0]
        and "the date of the prescription, Mar 1, 2026" in problems[0]
    )
    assert "before the date of the prescription" in fill_problems(
        order=_order(prescribed_on=datetime.date(2026, 3, 1)), fills=[], refill_number=0,
        refills_authorised=0, filled_on=datetime.date(2026, 2, 27), today=TODAY,
    )[0]  # fmt: skip


@pytest.mark.parametrize(
    ("refill", "allowed", "fills_before", "filled_on", "words"),
    [
        (0, 6, [], datetime.date(2026, 12, 1), "at most 5 refills"),
        (
            3,
            2,
            [_fill(0, datetime.date(2026, 11, 1), refills=2)],
            datetime.date(2026, 12, 1),
            "past the 2 refills",
        ),
        (1, 3, [], datetime.date(2026, 12, 1), "Record the original fill first"),
        (0, 3, [_fill(0, datetime.date(2026, 11, 1))], datetime.date(2026, 12, 1), "recorded already"),
        (1, 2, [_fill(0, datetime.date(2026, 11, 1))], datetime.date(2026, 12, 1), "allows 3 refills, not 2"),
        (
            1,
            3,
            [_fill(0, datetime.date(2026, 11, 1))],
            datetime.date(2026, 10, 1),
            "comes after the original",
        ),
        (0, 3, [], datetime.date(2026, 12, 6), "in the future"),
    ],
)
def test_a_fill_against_the_rules_is_refused_in_words(refill, allowed, fills_before, filled_on, words):
    problems = fill_problems(
        order=_order(),
        fills=fills_before,
        refill_number=refill,
        refills_authorised=allowed,
        filled_on=filled_on,
        today=TODAY,
    )
    assert any(words in problem for problem in problems), problems


def test_a_count_that_matches_says_nothing():
    assert count_mismatches(brought=D(8), taken=D(2), expected=D(8), strength_mg=D(100), own_mg=D(200)) == []


def test_a_count_short_of_what_the_client_should_hold_says_how_many_are_missing():
    assert count_mismatches(brought=D(6), taken=D(0), expected=D(8), strength_mg=D(100), own_mg=D(0)) == [
        "Brought 6, should hold 8: 2 missing."
    ]
    more = count_mismatches(brought=D(9), taken=D(0), expected=D(8), strength_mg=D(100), own_mg=D(0))
    assert more == ["Brought 9, should hold 8: 1 more than the pharmacy's fills recorded here account for."]
    again = count_mismatches(
        brought=D(4),
        taken=D(0),
        expected=D(6),
        strength_mg=D(100),
        own_mg=D(0),
        earlier_difference=(D(-2), datetime.date(2026, 11, 20)),
    )
    assert again == ["Brought 4, should hold 6: 2 missing (the same as at the count of Nov 20)."]


def test_the_taken_check_waits_for_a_dose_from_the_clients_own_medicine():
    # Counted before the dose: nothing to compare with yet.
    assert count_mismatches(brought=D(8), taken=D(2), expected=D(8), strength_mg=D(100), own_mg=D(0)) == []
    # Once a dose is recorded, the units taken must account for its mg.
    assert count_mismatches(brought=D(8), taken=D(2), expected=D(8), strength_mg=D(100), own_mg=D(300)) == [
        "Taken 2 × 100 mg = 200 mg by the count, but the doses recorded from the client's own medicine "
        "come to 300 mg."
    ]


def test_only_sublingual_doses_not_from_a_practice_lot_are_the_clients_own():
    doses = [
        SimpleNamespace(route="sublingual", lot_id=None, dose_mg=D(200)),
        SimpleNamespace(route="sublingual", lot_id=None, dose_mg=D(100)),
        SimpleNamespace(route="sublingual", lot_id=7, dose_mg=D(50)),  # from the practice's lot
        SimpleNamespace(route="intramuscular", lot_id=None, dose_mg=D(40)),
    ]
    assert own_doses_mg(doses) == D(300)


# --- Fills ------------------------------------------------------------------------------------


def test_a_prescriber_records_the_fills_and_each_is_audited(order, priya, ada):
    original = fill(order, priya, refills=2)
    refill = fill(order, ada, refill=1, refills=2)
    assert [f.refill_number for f in PharmacyFill.objects.filter(order=order)] == [0, 1]
    assert refill.recorded_by == ada
    rows = AuditEvent.objects.filter(action="kapflow.controlled.fill.recorded")
    assert {row.object_id for row in rows} == {str(original.pk), str(refill.pk)}


def test_a_fill_is_refused_to_a_therapist_and_for_another_route_or_client(order, tess, priya, olive):
    with pytest.raises(FillRefused, match="A prescriber or the practice's admin"):
        fill(order, tess)
    nasal = sublingual_order(order.client, priya, route="intranasal", drug="esketamine")
    with pytest.raises(FillRefused, match="sublingual order"):
        fill(nasal, priya)
    with pytest.raises(FillRefused, match="not this client's"):
        fill_record(
            actor=priya, client=olive, order=order, pharmacy="X", form="troche", strength_mg=D(100),
            quantity=D(1), refills_authorised=0, refill_number=0, filled_on=days_ago(1),
        )  # fmt: skip
    assert not PharmacyFill.objects.exists()


def test_the_same_fill_is_recorded_once(filled, order, priya):
    with pytest.raises(FillRefused, match="The original fill of this prescription is recorded already"):
        fill(order, priya)
    assert PharmacyFill.objects.filter(order=order).count() == 1


def test_what_the_client_holds_is_the_fills_of_a_strength_less_what_the_sessions_took(
    order, priya, tess, cora, avery
):
    fill(order, priya, quantity=10)
    later = sublingual_order(avery, priya, starts_on=days_ago(5))
    fill(later, priya, quantity=6)  # a new prescription at the same strength: the same supply
    fill(later, priya, refill=1, quantity=4, strength=200)  # another strength is counted apart
    first = session(avery, tess, cora, minutes_ago=60 * 24 * 7)
    book = _runbook(first)
    count_at = timezone.now() - datetime.timedelta(days=7)
    SupplyCount.objects.create(
        runbook=book,
        counted_at=count_at,
        brought=D(16),
        taken=D(0),
        expected=D(16),
        strength_mg=D(100),
        recorded_by=tess,
    )
    # A recount in the same session replaces the count before it.
    SupplyCount.objects.create(
        runbook=book,
        counted_at=count_at,
        brought=D(16),
        taken=D(3),
        expected=D(16),
        strength_mg=D(100),
        recorded_by=tess,
    )
    assert held(avery, D(100)) == D(13)
    assert held(avery, D(200)) == D(4)
    assert held(avery, D(100), excluding_runbook=book) == D(16)
    assert [(s.strength_mg, s.held) for s in fills.supplies(avery)] == [(D(100), D(13)), (D(200), D(4))]


def _runbook(visit):
    from kapflow.dosing.models import Runbook

    return Runbook.objects.create(visit=visit)


# --- The runbook's count ----------------------------------------------------------------------


def test_a_count_that_matches_is_saved_without_an_alert(filled, avery, tess, cora):
    visit = session(avery, tess, cora)
    saved = count(visit, tess, brought=10)
    assert (saved.expected, saved.mismatches) == (D(10), [])
    assert not SessionAlert.objects.exists()
    assert AuditEvent.objects.filter(action="kapflow.dosing.supply_count.recorded", client=avery).count() == 1


def test_a_short_count_alerts_the_prescriber_once_however_often_it_is_sent(filled, avery, tess, cora, priya):
    visit = session(avery, tess, cora)
    key = "0b3f1f2e-7d27-4f52-9a51-6a1f9c1d2e3f"
    first = count(visit, tess, brought=8, key=key)
    again = count(visit, tess, brought=8, key=key)
    assert first.pk == again.pk
    assert first.mismatches == ["Brought 8, should hold 10: 2 missing."]
    (alert,) = SessionAlert.objects.all()
    assert (alert.kind, alert.supply_count_id, alert.notified_user) == ("supply_count", first.pk, priya)
    assert "2 missing" in alert.summary
    assert Reminder.objects.filter(recipient=priya, kind=Reminder.Kind.SESSION_ALERT).count() == 1


def test_the_next_session_expects_what_the_last_one_left(filled, avery, tess, cora):
    earlier = session(avery, tess, cora, minutes_ago=30)
    count(earlier, tess, brought=10, taken=3)
    later = session(avery, tess, cora, minutes_ago=10)
    assert count(later, tess, brought=7).mismatches == []
    # A recount in the first session replaces its count: it now took 2, so 8 are expected later.
    count(earlier, tess, brought=10, taken=2)
    assert held(avery, D(100), excluding_runbook=later.runbook) == D(8)


def test_taken_is_checked_against_the_doses_from_the_clients_own_medicine(
    filled, order, avery, tess, cora, priya
):
    from tests.test_concurrency import give, ready_session

    visit = ready_session(
        avery,
        tess,
        cora,
        room=Room.objects.create(name="Cedar"),
        starts_at=timezone.now() - datetime.timedelta(minutes=30),
    )
    give(visit, tess, order, mg=200)()  # sublingual, no practice lot: the client's own troches
    assert count(visit, tess, brought=10, taken=2).mismatches == []
    wrong = count(visit, tess, brought=10, taken=3)
    assert wrong.mismatches == [
        "Taken 3 × 100 mg = 300 mg by the count, but the doses recorded from the client's own medicine "
        "come to 200 mg."
    ]
    assert SessionAlert.objects.get().supply_count == wrong


def test_a_count_is_refused_for_a_strength_never_filled_and_taken_past_brought(filled, avery, tess, cora):
    visit = session(avery, tess, cora)
    with pytest.raises(RunbookRefused, match="No pharmacy fill of 50 mg"):
        count(visit, tess, brought=3, strength=50)
    with pytest.raises(RunbookRefused, match="more than brought"):
        count(visit, tess, brought=1, taken=2)
    with pytest.raises(RunbookRefused, match="therapist or prescriber"):
        count(visit, cora, brought=10)
    assert not SupplyCount.objects.exists()


# --- The pages ---------------------------------------------------------------------------------


def test_the_fills_page_lists_the_fills_and_offers_the_form_to_those_who_record(
    filled, avery, login, tess, priya
):
    url = reverse("fills:list", args=[avery.pk])
    page = login(tess).get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Elm Compounding" in html and "RX-881" in html and "Original" in html
    assert 'id="fill-form-h"' not in html and "you can read them here" in html
    assert "2 refills left" in html
    assert AuditEvent.objects.filter(
        action="kapflow.controlled.fills.viewed", actor=tess, client=avery
    ).exists()
    assert 'id="fill-form-h"' in login(priya).get(url).content.decode()


def test_a_fill_sent_from_the_page_is_saved_and_one_with_errors_comes_back(order, avery, login, priya):
    http = login(priya)
    url = reverse("fills:new", args=[avery.pk])
    data = {
        "order": order.pk,
        "pharmacy": "Elm Compounding",
        "form": "rapid_dissolve",
        "strength_mg": "150",
        "quantity": "8",
        "refills_authorised": "1",
        "refill_number": "0",
        "filled_on": days_ago(3).isoformat(),
    }
    response = http.post(url, data)
    assert response.status_code == 302
    saved = PharmacyFill.objects.get()
    assert (saved.strength_mg, saved.quantity, saved.recorded_by) == (D(150), D(8), priya)
    again = http.post(url, data | {"refill_number": "2", "pharmacy": "Typed pharmacy"})
    html = again.content.decode()
    assert again.status_code == 200
    assert "past the 1 refill" in html and 'value="Typed pharmacy"' in html
    late = http.post(url, data | {"refill_number": "1", "filled_on": days_ago(1 - 200).isoformat()})
    assert "in the future" in late.content.decode()
    assert PharmacyFill.objects.count() == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"strength_mg": "NaN"},
        {"quantity": "1e400"},
        {"quantity": "-3"},
        {"refill_number": "99999999999999999999"},
        {"order": "not-a-number"},
        {"filled_on": "0000-00-00"},
        {"form": "syringe"},
        {"pharmacy": "x" * 5000},
        {"order": "999999"},
    ],
)
def test_hostile_input_comes_back_as_a_form_error(changes, order, avery, login, priya):
    data = {
        "order": order.pk,
        "pharmacy": "Elm",
        "form": "troche",
        "strength_mg": "100",
        "quantity": "8",
        "refills_authorised": "0",
        "refill_number": "0",
        "filled_on": days_ago(3).isoformat(),
    } | changes
    response = login(priya).post(reverse("fills:new", args=[avery.pk]), data)
    assert response.status_code == 200
    assert not PharmacyFill.objects.exists()


def test_another_clients_order_cannot_be_chosen(order, olive, login, ada, priya):
    sublingual_order(olive, priya)
    data = {
        "order": order.pk,
        "pharmacy": "Elm",
        "form": "troche",
        "strength_mg": "100",
        "quantity": "8",
        "refills_authorised": "0",
        "refill_number": "0",
        "filled_on": days_ago(3).isoformat(),
    }
    response = login(ada).post(reverse("fills:new", args=[olive.pk]), data)
    assert "Choose one of this client&#x27;s sublingual orders" in response.content.decode()
    assert not PharmacyFill.objects.exists()


def test_the_fills_page_is_refused_and_hidden_as_the_access_rules_say(
    filled, avery, login, tess, colin, cora
):
    url = reverse("fills:list", args=[avery.pk])
    assert login(colin).get(url).status_code == 404
    assert login(cora).get(url).status_code == 403
    assert login(tess).post(reverse("fills:new", args=[avery.pk]), {}).status_code == 403
    assert login(None).get(url).status_code == 302


def test_the_runbook_counts_only_a_client_with_a_fill_in_force(
    order, avery, olive, colin, login, tess, priya, cora
):
    visit = session(avery, tess, cora)
    url = reverse("dosing:runbook", args=[avery.pk, visit.pk])
    assert 'id="supply-h"' not in login(tess).get(url).content.decode()
    fill(order, priya)
    html = login(tess).get(url).content.decode()
    assert (
        'id="supply-h"' in html and "should hold <strong>10</strong>" in html and 'id="supply-form"' in html
    )


def test_a_count_sent_from_the_runbook_shows_what_did_not_match_and_who_was_told(
    filled, avery, login, tess, cora
):
    visit = session(avery, tess, cora)
    http = login(tess)
    response = http.post(
        reverse("dosing:supply_count", args=[avery.pk, visit.pk]),
        {"strength_mg": "100.00", "brought": "6", "taken": "0"},
        follow=True,
    )
    html = response.content.decode()
    assert "Brought 6, should hold 10: 4 missing." in html
    assert "Prescriber told: P. Prescriber" in html
    assert SupplyCount.objects.get().mismatches == ["Brought 6, should hold 10: 4 missing."]


def test_a_count_form_with_errors_comes_back_with_what_was_typed(filled, avery, login, tess, cora):
    visit = session(avery, tess, cora)
    response = login(tess).post(
        reverse("dosing:supply_count", args=[avery.pk, visit.pk]),
        {"strength_mg": "100.00", "brought": "2", "taken": "5"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "More than the client brought" in html and 'value="5"' in html
    for hostile in ({"brought": "NaN"}, {"strength_mg": "1e9"}, {"taken": "-1"}, {"brought": "9" * 40}):
        data = {"strength_mg": "100.00", "brought": "2", "taken": "0"} | hostile
        assert (
            login(tess).post(reverse("dosing:supply_count", args=[avery.pk, visit.pk]), data).status_code
            == 200
        )
    assert not SupplyCount.objects.exists()


# --- Two counts at once -----------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _triggers_back_at_the_end(django_db_blocker):
    """The append-only triggers, back on once the threaded test's flush has run."""
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture
def committed(transactional_db):
    """For a test whose threads commit: the triggers on while it runs, lifted for the flush
    after it (set up after the database, so torn down before its flush), as
    tests/test_concurrency.py does."""
    install_triggers(connection)
    yield
    drop_triggers(connection)


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_counts_at_once_in_two_sessions_never_count_from_the_same_balance(
    committed, monkeypatch, avery, tess, priya, cora
):
    # A double booking: two sessions of Avery under way, each counting the same troches at once.
    # Without the lock on the client's row both would read 10 and both expect 10; with it the
    # second waits for the first, and expects what the first left.
    from tests.test_concurrency import PAUSE, race

    order = sublingual_order(avery, priya)
    fill(order, priya, quantity=10)
    first = session(avery, tess, cora, minutes_ago=30)
    second = session(avery, priya, cora, minutes_ago=20)
    original = fills.held

    def held_then_paused(*args, **kwargs):
        answer = original(*args, **kwargs)
        time.sleep(PAUSE)
        return answer

    monkeypatch.setattr(supply.fills, "held", held_then_paused)

    results = race(
        lambda: count(first, tess, brought=10, taken=2),
        lambda: count(second, priya, brought=10, taken=3),
    )

    assert all(isinstance(result, SupplyCount) for result in results), results
    expected = sorted(result.expected for result in results)
    # One counted from 10; the other from what the first took away (10 − 2 or 10 − 3).
    assert expected[1] == D(10)
    assert expected[0] in (D(8), D(7))
    # And the one that came second, short of what it expected, alerted the prescriber.
    assert SessionAlert.objects.filter(kind="supply_count").count() == 1


def test_a_fill_entered_in_error_stays_stops_counting_and_frees_its_place(filled, order, priya, tess, login):
    from django.db import DatabaseError, connection, transaction

    from kapflow.audit.models import AuditEvent
    from kapflow.controlled.fills import fill_void

    with pytest.raises(FillRefused, match="prescriber"):
        fill_void(actor=tess, fill=filled, reason="wrong quantity")
    with pytest.raises(FillRefused, match="what was wrong"):
        fill_void(actor=priya, fill=filled, reason=" ")
    response = login(priya).post(
        reverse("fills:void", args=[order.client_id, filled.pk]), {"reason": "The label says 12, not 10."}
    )
    assert response.status_code == 302
    filled.refresh_from_db()
    assert filled.voided_by == priya and filled.void_reason == "The label says 12, not 10."
    assert AuditEvent.objects.filter(
        action="kapflow.controlled.fill.voided", object_id=str(filled.pk)
    ).exists()
    assert held(order.client, D(100)) == D(0)
    # The original fill's place is free for the right one, recorded beside the wrong one.
    right = fill(order, priya, quantity=12)
    assert right.refill_number == 0 and held(order.client, D(100)) == D(12)
    page = login(priya).get(reverse("fills:list", args=[order.client_id])).content.decode()
    assert "Entered in error" in page and "The label says 12, not 10." in page
    with pytest.raises(FillRefused, match="already"):
        fill_void(actor=priya, fill=filled, reason="again")
    # Once marked, nothing of it changes at the database.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE controlled_pharmacyfill SET void_reason = 'other' WHERE id = %s", [filled.pk])


def test_the_medicine_page_costs_the_same_queries_however_many_orders(avery, priya, login):
    """Each order's status (on its card and among the fill form's choices) counts its dosed
    sessions in the orders' own query: on the code before, one COUNT for each order in its
    dates, twice (13 queries against 19 with three more)."""
    from django.test.utils import CaptureQueriesContext

    http = login(priya)
    url = reverse("fills:list", args=[avery.pk])
    sublingual_order(avery, priya)
    http.get(url)  # the session's first request reads what the later ones keep in it

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert http.get(url).status_code == 200
        return len(captured)

    one = queries()
    # Orders within their dates (a new prescription written while the last is still in date):
    # the status of each is read from its sessions left.
    for days in (40, 30, 20):
        assert sublingual_order(avery, priya, starts_on=days_ago(days)).status()[0] == "Active"
    assert queries() == one
