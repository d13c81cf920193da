"""Inventories, discrepancies and theft or loss reports (kapflow.controlled.inventory,
docs/inventory.md): the initial inventory that starts the ledger, later counts beside the
ledger's balance, the registrant's one explanation of a discrepancy, loss reports with their
dates and the emails that tell the registrant and the admins, the reminders, and the admin's
dashboard panel."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.controlled import clocks, ledger
from kapflow.controlled import inventory as services
from kapflow.controlled.models import (
    Discrepancy,
    Entry,
    Inventory,
    InventoryCount,
    LossReport,
    LossReportStep,
    Lot,
)
from kapflow.practice.models import Practice
from kapflow.reminders import sources
from kapflow.reminders.emails import render_reminders
from kapflow.reminders.models import Reminder
from tests import factories

D = Decimal


@pytest.fixture
def practice(priya):
    practice = Practice.load()
    practice.dea_registrant = priya
    practice.save(update_fields=["dea_registrant"])
    return practice


def vial_row(lot_number="KX100", *, full=2, open_ml="3.5", **fields) -> services.OpeningRow:
    return services.OpeningRow(
        **{
            "drug": "ketamine",
            "product": "Ketamine HCl injection, 10 mL multi-dose vial",
            "form": Lot.Form.VIAL,
            "strength_mg": D("50"),
            "container_quantity": D("10"),
            "ndc": "0143-9508-10",
            "lot_number": lot_number,
            "expires_on": timezone.localdate() + datetime.timedelta(days=400),
            "full_containers": full,
            "open_quantity": D(open_ml),
        }
        | fields
    )


def start(who, *rows, taken_on=None) -> Inventory:
    return services.initial_inventory_take(
        actor=who,
        taken_on=taken_on or timezone.localdate(),
        time_of_day=Inventory.TimeOfDay.OPENING,
        taken_by=who,
        rows=list(rows),
    )


def count(who, *counts, kind=Inventory.Kind.BIENNIAL) -> Inventory:
    return services.inventory_take(
        actor=who,
        kind=kind,
        taken_on=timezone.localdate(),
        time_of_day=Inventory.TimeOfDay.CLOSE,
        taken_by=who,
        counts=[services.LotCount(lot, full, D(open_q)) for lot, full, open_q in counts],
    )


def short_by_two(who) -> Discrepancy:
    """A lot of 23.5 mL counted at 21.5 mL: a discrepancy of -2 mL."""
    start(who, vial_row())
    lot = Lot.objects.get()
    count(who, (lot, 2, "1.5"))
    return Discrepancy.objects.get()


# The initial inventory ------------------------------------------------------------------------


def _initial_post(who, **extra):
    data = {
        "taken_on": timezone.localdate().isoformat(),
        "time_of_day": "opening",
        "taken_by": str(who.pk),
        "note": "",
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "0",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "60",
    }
    return data | extra


def test_the_initial_inventory_makes_each_lot_and_posts_its_count_as_the_opening(ada, login, audit_rows):
    expires = (timezone.localdate() + datetime.timedelta(days=300)).isoformat()
    data = _initial_post(
        ada,
        **{
            "form-0-drug": "ketamine",
            "form-0-product": "Ketamine HCl injection, 10 mL vial",
            "form-0-form": "vial",
            "form-0-strength_mg": "50",
            "form-0-container_quantity": "10",
            "form-0-ndc": "0143-9508-10",
            "form-0-lot_number": "KX1",
            "form-0-expires_on": expires,
            "form-0-full_containers": "3",
            "form-0-open_quantity": "4.25",
            "form-1-drug": "ketamine",
            "form-1-product": "Ketamine 100 mg troches (compounded)",
            "form-1-form": "tablet",
            "form-1-strength_mg": "100",
            "form-1-container_quantity": "30",
            "form-1-compounded": "on",
            "form-1-lot_number": "TR9",
            "form-1-expires_on": expires,
            "form-1-full_containers": "1",
        },
    )
    assert not ledger.ledger_started()
    response = login(ada).post(reverse("inventory:initial"), data)
    inventory = Inventory.objects.get(kind=Inventory.Kind.INITIAL)
    assert response.status_code == 302 and response["Location"] == reverse(
        "inventory:detail", args=[inventory.pk]
    )
    assert ledger.ledger_started()
    vial, troches = Lot.objects.get(lot_number="KX1"), Lot.objects.get(lot_number="TR9")
    assert ledger.balance(vial) == D("34.25")  # 3 × 10 mL + 4.25 mL
    assert ledger.balance(troches) == D("30")
    assert troches.ndc == ""
    opening = Entry.objects.get(lot=vial)
    assert (opening.kind, opening.quantity, opening.containers) == (Entry.Kind.OPENING, D("34.25"), 3)
    assert InventoryCount.objects.get(lot=vial).expected == D("34.25")
    assert [row.detail["lots"] for row in audit_rows("kapflow.controlled.inventory.taken")] == [2]
    page = login(ada).get(response["Location"])
    assert b"34.25 mL" in page.content


def test_an_initial_inventory_of_no_stock_is_an_inventory(ada, login):
    # Saved with no rows only when the person says there is no stock.
    empty = login(ada).post(reverse("inventory:initial"), _initial_post(ada))
    assert empty.status_code == 200 and b"No lot is filled in" in empty.content
    assert not ledger.ledger_started()
    response = login(ada).post(reverse("inventory:initial"), _initial_post(ada, no_stock="on"))
    assert response.status_code == 302
    assert ledger.ledger_started() and not Lot.objects.exists()
    # Taken once: the page now says so, and a second one is refused.
    again = login(ada).post(reverse("inventory:initial"), _initial_post(ada, no_stock="on"))
    assert again.status_code == 200 and b"was taken on" in again.content
    assert Inventory.objects.count() == 1
    with pytest.raises(services.InventoryRefused, match="taken already"):
        start(ada)


def test_a_lot_needs_its_ndc_unless_compounded(ada):
    with pytest.raises(services.InventoryRefused, match="NDC"):
        start(ada, vial_row(ndc=""))
    with pytest.raises(services.InventoryRefused, match="4-4-2"):
        start(ada, vial_row(ndc="12345"))
    start(ada, vial_row(ndc="", compounded=True))
    assert Lot.objects.get().ndc == ""


def test_a_lot_listed_twice_or_counted_at_nothing_is_refused(ada):
    with pytest.raises(services.InventoryRefused, match="twice"):
        start(ada, vial_row(), vial_row())
    with pytest.raises(services.InventoryRefused, match="nothing is counted"):
        start(ada, vial_row(full=0, open_ml="0"))
    assert not Inventory.objects.exists() and not Lot.objects.exists()


def test_add_a_row_sends_the_form_back_as_typed_with_one_row_more(ada, login):
    data = _initial_post(ada, **{"form-0-lot_number": "KEEP-ME", "add_row": "1"})
    response = login(ada).post(reverse("inventory:initial"), data)
    assert response.status_code == 200
    assert b"KEEP-ME" in response.content
    assert b'name="form-2-lot_number"' in response.content
    assert b"things to fix" not in response.content and b"One thing to fix" not in response.content
    assert not Inventory.objects.exists()


HOSTILE = [
    {"form-TOTAL_FORMS": "abc"},
    {"form-TOTAL_FORMS": "999999999", "form-0-strength_mg": "1"},
    {"form-TOTAL_FORMS": "-5"},
    {"taken_on": "2026-13-45", "time_of_day": "midnight", "taken_by": "x"},
    {"taken_on": "9999-12-31"},
    {
        "form-0-drug": "heroin",
        "form-0-form": "vial",
        "form-0-strength_mg": "NaN",
        "form-0-container_quantity": "1e999",
        "form-0-full_containers": "-1",
        "form-0-open_quantity": "Infinity",
        "form-0-lot_number": "x" * 500,
        "form-0-expires_on": "yesterday",
    },
    {"form-0-lot_number": "\x00<script>", "form-0-full_containers": "99999999999999999999"},
]


@pytest.mark.parametrize("bad", HOSTILE)
def test_hostile_input_to_the_initial_inventory_comes_back_as_form_errors(ada, login, bad):
    response = login(ada).post(reverse("inventory:initial"), _initial_post(ada) | bad)
    assert response.status_code == 200
    assert not Inventory.objects.exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "initial"},
        {"full_1": "-3"},
        {"open_1": "NaN"},
        {"open_1": "1e50"},
        {"taken_on": ""},
        {"taken_by": "999999999999999999999"},
    ],
)
def test_hostile_input_to_a_count_comes_back_as_form_errors(ada, login, bad):
    start(ada, vial_row())
    lot = Lot.objects.get()
    data = {
        "kind": "biennial",
        "taken_on": timezone.localdate().isoformat(),
        "time_of_day": "close",
        "taken_by": str(ada.pk),
        f"full_{lot.pk}": "2",
        f"open_{lot.pk}": "3.5",
    }
    bad = {key.replace("_1", f"_{lot.pk}"): value for key, value in bad.items()}
    response = login(ada).post(reverse("inventory:new"), data | bad)
    assert response.status_code == 200
    assert Inventory.objects.count() == 1


# Later inventories ---------------------------------------------------------------------------


def test_a_count_stands_beside_the_ledger_and_a_difference_is_a_discrepancy(ada, priya, login, practice):
    start(ada, vial_row("A"), vial_row("B", full=1, open_ml="0"))
    a, b = Lot.objects.get(lot_number="A"), Lot.objects.get(lot_number="B")
    data = {
        "kind": "biennial",
        "taken_on": timezone.localdate().isoformat(),
        "time_of_day": "close",
        "taken_by": str(priya.pk),
        f"full_{a.pk}": "2",
        f"open_{a.pk}": "1.5",
        f"full_{b.pk}": "1",
        f"open_{b.pk}": "0",
    }
    response = login(priya).post(reverse("inventory:new"), data)
    inventory = Inventory.objects.get(kind=Inventory.Kind.BIENNIAL)
    assert response.status_code == 302
    counts = {c.lot.lot_number: c for c in inventory.counts.select_related("lot")}
    assert (counts["A"].counted, counts["A"].expected) == (D("21.5"), D("23.5"))
    assert (counts["B"].counted, counts["B"].expected) == (D("10"), D("10"))
    discrepancy = Discrepancy.objects.get()
    assert discrepancy.count == counts["A"] and discrepancy.difference == D("-2")
    page = login(priya).get(reverse("inventory:detail", args=[inventory.pk]))
    assert b"23.5 mL" in page.content and b"Waiting for Priya Prescriber" in page.content


def test_every_lot_holding_stock_is_counted(ada):
    start(ada, vial_row("A"), vial_row("B"))
    a = Lot.objects.get(lot_number="A")
    with pytest.raises(services.InventoryRefused, match="lot B is not counted"):
        count(ada, (a, 2, "3.5"))
    assert Inventory.objects.count() == 1


def test_a_lot_counted_last_time_is_counted_again_though_empty(ada):
    start(ada, vial_row("A", full=1, open_ml="0"))
    lot = Lot.objects.get()
    ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.TRANSFER,
        quantity=D("-10"),
        occurred_at=timezone.now(),
        person=ada,
        recorded_by=ada,
        party_name="Another clinic",
        party_dea_number="AB1234563",
    )
    assert list(services.lots_to_count()) == [lot]


def test_only_those_who_keep_stock_take_an_inventory(ada, tess):
    start(ada, vial_row())
    with pytest.raises(services.InventoryRefused, match="prescriber of the practice or a practice admin"):
        count(tess, (Lot.objects.get(), 2, "3.5"))
    with pytest.raises(services.InventoryRefused, match="prescriber of the practice or a practice admin"):
        services.initial_inventory_take(
            actor=tess, taken_on=timezone.localdate(), time_of_day="opening", taken_by=tess, rows=[]
        )


def test_no_later_inventory_before_the_initial_one(ada, login):
    with pytest.raises(services.InventoryRefused, match="initial inventory first"):
        count(ada)
    page = login(ada).get(reverse("inventory:new"))
    assert page.status_code == 200 and b"Take the initial inventory" in page.content


def refused(statement: str, params) -> None:
    """Raw SQL, as code that forgot the rules or a person at the database prompt would run it."""
    with (
        pytest.raises(DatabaseError, match="signed clinical record"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, params)


# Discrepancies -------------------------------------------------------------------------------


def _explain(http, discrepancy, outcome, text="Recounted with a second person: it matches."):
    return http.post(
        reverse("inventory:discrepancy", args=[discrepancy.pk]), {"outcome": outcome, "explanation": text}
    )


def test_only_the_registrant_explains_a_discrepancy(ada, priya, login, practice):
    discrepancy = short_by_two(ada)
    page = login(ada).get(reverse("inventory:discrepancy", args=[discrepancy.pk]))
    assert page.status_code == 200 and b"Priya Prescriber, the practice" in page.content
    assert b'name="explanation"' not in page.content
    assert _explain(login(ada), discrepancy, "counting_error").status_code == 403
    with pytest.raises(services.InventoryRefused, match="Only the practice's DEA registrant"):
        services.discrepancy_explain(
            actor=ada, discrepancy=discrepancy, outcome="counting_error", explanation="x", practice=practice
        )
    assert Discrepancy.objects.get().explained_at is None
    response = _explain(login(priya), discrepancy, "counting_error")
    assert response.status_code == 302
    explained = Discrepancy.objects.get()
    assert (explained.outcome, explained.explained_by) == ("counting_error", priya)


def test_without_a_registrant_the_page_says_who_names_one(ada, priya, login):
    discrepancy = short_by_two(ada)
    page = login(priya).get(reverse("inventory:discrepancy", args=[discrepancy.pk]))
    assert b"has not named its DEA registrant" in page.content
    assert b"A practice admin names one in Settings" in page.content
    assert _explain(login(priya), discrepancy, "counting_error").status_code == 403


def test_an_explanation_is_written_once(ada, priya, login, practice):
    discrepancy = short_by_two(ada)
    _explain(login(priya), discrepancy, "counting_error")
    again = _explain(login(priya), discrepancy, "loss", "Changed my mind")
    assert again.status_code == 302
    assert Discrepancy.objects.get().outcome == "counting_error"
    with pytest.raises(services.InventoryRefused, match="explained already"):
        services.discrepancy_explain(
            actor=priya, discrepancy=discrepancy, outcome="loss", explanation="x", practice=practice
        )
    # And at the database: no UPDATE of an explained discrepancy, not even by hand.
    refused("UPDATE controlled_discrepancy SET explanation = 'rewritten' WHERE id = %s", [discrepancy.pk])
    refused("UPDATE controlled_discrepancy SET outcome = 'loss' WHERE id = %s", [discrepancy.pk])
    refused("DELETE FROM controlled_discrepancy WHERE id = %s", [discrepancy.pk])


def test_an_unexplained_discrepancy_is_explained_by_an_update_once(ada):
    discrepancy = short_by_two(ada)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE controlled_discrepancy SET outcome = 'counting_error', explanation = 'ok', "
            "explained_by_id = %s, explained_at = %s WHERE id = %s",
            [ada.pk, timezone.now(), discrepancy.pk],
        )
    assert Discrepancy.objects.get().explanation == "ok"


def test_a_loss_posts_the_missing_quantity_with_a_closed_report(ada, priya, login, practice):
    discrepancy = short_by_two(ada)
    lot = discrepancy.count.lot
    response = _explain(login(priya), discrepancy, "loss", "A vial cracked in the cabinet; not reported.")
    assert response.status_code == 302
    entry = Entry.objects.get(kind=Entry.Kind.LOSS)
    assert (entry.lot, entry.quantity, entry.balance_after) == (lot, D("-2"), D("21.5"))
    report = entry.loss_report
    assert report.discrepancy == discrepancy and report.kind == LossReport.Kind.MINOR
    assert list(report.steps.values_list("step", flat=True)) == [LossReportStep.Step.CLOSED]
    assert not Reminder.objects.exists()  # nothing owed to the DEA: nobody emailed


def test_a_theft_opens_a_report_with_its_dates_and_tells_the_registrant_and_admins(
    ada, priya, login, practice, django_capture_on_commit_callbacks
):
    discrepancy = short_by_two(ada)
    other_admin = factories.make_user("Abe Admin", roles=("is_practice_admin",), email="abe@example.org")
    with django_capture_on_commit_callbacks(execute=False):
        _explain(login(priya), discrepancy, "theft", "The cabinet was forced.")
    report = LossReport.objects.get()
    day = timezone.localdate(report.discovered_at)
    assert report.kind == LossReport.Kind.THEFT
    assert report.notice_due_on == clocks.notice_due_on(day, practice.loss_notice_business_days)
    assert report.form_due_on == day + datetime.timedelta(days=practice.loss_form_days)
    assert not report.steps.exists()
    told = Reminder.objects.filter(key=f"controlled:loss:{report.pk}")
    assert {r.recipient for r in told} == {ada, priya, other_admin}
    assert {r.kind for r in told} == {Reminder.Kind.CONTROLLED}
    assert Entry.objects.get(kind=Entry.Kind.LOSS).quantity == D("-2")


def test_a_surplus_is_never_a_loss(ada, priya, login, practice):
    start(ada, vial_row())
    count(ada, (Lot.objects.get(), 2, "5"))  # 25 mL counted, 23.5 held
    discrepancy = Discrepancy.objects.get()
    assert discrepancy.difference == D("1.5")
    page = login(priya).get(reverse("inventory:discrepancy", args=[discrepancy.pk]))
    assert b"that is not a loss" in page.content and b'value="loss"' not in page.content
    with pytest.raises(services.InventoryRefused, match="not a loss"):
        services.discrepancy_explain(
            actor=priya, discrepancy=discrepancy, outcome="loss", explanation="x", practice=practice
        )
    response = _explain(login(priya), discrepancy, "theft")
    assert response.status_code == 200 and not Entry.objects.filter(kind=Entry.Kind.LOSS).exists()


def test_a_loss_found_at_a_count_cannot_take_the_lot_below_zero(ada, priya, practice):
    discrepancy = short_by_two(ada)  # 23.5 held, 21.5 counted
    lot = discrepancy.count.lot
    ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.TRANSFER,
        quantity=D("-22.5"),
        occurred_at=timezone.now(),
        person=ada,
        recorded_by=ada,
        party_name="Another clinic",
        party_dea_number="AB1234563",
    )
    with pytest.raises(services.InventoryRefused, match="holds 1 mL"):
        services.discrepancy_explain(
            actor=priya, discrepancy=discrepancy, outcome="loss", explanation="Lost.", practice=practice
        )
    assert Discrepancy.objects.get().explained_at is None and not LossReport.objects.exists()


# Loss reports --------------------------------------------------------------------------------


def _report_post(http, lot=None, quantity="", **extra):
    data = {
        "kind": "theft",
        "discovered_on": timezone.localdate().isoformat(),
        "discovered_time": "00:01",
        "description": "The lock of the cabinet was forced overnight.",
    }
    if lot is not None:
        data[f"lost_{lot.pk}"] = quantity
    return http.post(reverse("inventory:loss_new"), data | extra)


def test_any_clinician_reports_a_loss_and_it_is_posted_and_told(
    ada, tess, priya, login, practice, django_capture_on_commit_callbacks
):
    start(ada, vial_row())
    lot = Lot.objects.get()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _report_post(login(tess), lot, "10")
    report = LossReport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "inventory:loss_detail", args=[report.pk]
    )
    assert report.discovered_by == tess and report.recorded_by == tess
    entry = Entry.objects.get(kind=Entry.Kind.LOSS)
    assert (entry.quantity, entry.balance_after, entry.loss_report) == (D("-10"), D("13.5"), report)
    told = Reminder.objects.filter(key=f"controlled:loss:{report.pk}").select_related("recipient")
    assert {r.recipient for r in told} == {ada, priya}
    assert all(r.client_id is None for r in told)
    assert callbacks  # queued once the report is saved
    # The email names no client and no detail of the loss, and leads staff to kapflow.
    email = render_reminders([told[0]], practice)
    assert "controlled-substance record" in email.text
    assert "cabinet" not in email.text and "/portal/" not in email.text
    page = login(tess).get(response["Location"])
    assert b"Who was told" in page.content and b"Priya Prescriber" in page.content


def test_a_loss_cannot_take_the_lot_below_zero(ada, tess, login, practice):
    start(ada, vial_row())
    lot = Lot.objects.get()
    response = _report_post(login(tess), lot, "30")
    assert response.status_code == 200
    assert b"holds 23.5 mL" in response.content
    assert not LossReport.objects.exists() and not Reminder.objects.exists()
    assert ledger.balance(lot) == D("23.5")


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "burglary"},
        {"discovered_on": "2026-02-30"},
        {"discovered_time": "25:61"},
        {"description": ""},
        {"discovered_on": (datetime.date.today() + datetime.timedelta(days=30)).isoformat()},
    ],
)
def test_hostile_input_to_a_loss_report_comes_back_as_form_errors(ada, tess, login, practice, bad):
    start(ada, vial_row())
    lot = Lot.objects.get()
    response = _report_post(login(tess), lot, "NaN", **bad)
    assert response.status_code == 200
    assert not LossReport.objects.exists()


def test_a_coordinator_cannot_report_a_loss(cora, login):
    assert login(cora).get(reverse("inventory:loss_new")).status_code == 403
    with pytest.raises(services.InventoryRefused):
        services.loss_report_start(
            actor=cora,
            kind="theft",
            discovered_at=timezone.now(),
            description="x",
            losses=[],
            practice=Practice.load(),
        )


def _report(who, practice, *, discovered_at=None) -> LossReport:
    return services.loss_report_start(
        actor=who,
        kind=LossReport.Kind.LOSS,
        discovered_at=discovered_at or timezone.now(),
        description="A vial is missing from the cabinet.",
        losses=[],
        practice=practice,
    )


def test_steps_are_recorded_once_each_and_closing_needs_the_form(ada, tess, priya, login, practice):
    report = _report(tess, practice)
    today = timezone.localdate().isoformat()
    url = reverse("inventory:loss_step", args=[report.pk])
    assert login(tess).post(url, {"step": "notice", "done_on": today}).status_code == 403
    closing = login(ada).post(url, {"step": "closed", "done_on": today})
    assert closing.status_code == 200 and b"once DEA Form 106 is filed" in closing.content
    assert login(priya).post(url, {"step": "notice", "done_on": today}).status_code == 302
    with pytest.raises(services.InventoryRefused, match="recorded already"):
        services.loss_report_step_record(
            actor=ada, report=report, step="notice", done_on=timezone.localdate(), practice=practice
        )
    assert (
        login(ada).post(url, {"step": "form_106", "done_on": today, "reference": "106-77"}).status_code == 302
    )
    assert login(ada).post(url, {"step": "closed", "done_on": today}).status_code == 302
    assert list(report.steps.values_list("step", flat=True)) == ["notice", "form_106", "closed"]
    assert not services.loss_reports(open_only=True).exists()


# Reminders -----------------------------------------------------------------------------------


def _due(now, practice):
    return sources.controlled(now, now, practice)


def test_the_biennial_reminder_falls_on_the_right_day(ada, priya, practice):
    with time_machine.travel(datetime.datetime(2024, 2, 29, 9, tzinfo=datetime.UTC), tick=False):
        start(ada, taken_on=datetime.date(2024, 2, 29))
    due_on = datetime.date(2026, 2, 28)
    remind_on = due_on - datetime.timedelta(days=practice.inventory_reminder_days)

    def at(day):
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(9)))

    assert _due(at(remind_on - datetime.timedelta(days=1)), practice) == []
    found = _due(at(remind_on), practice)
    assert {d.recipient for d in found} == {ada, priya}
    assert {d.key for d in found} == {"controlled:inventory:20260228"}
    assert {d.kind for d in found} == {Reminder.Kind.CONTROLLED} and {d.client for d in found} == {None}
    assert {timezone.localdate(d.due_at) for d in found} == {remind_on}
    # On the day due, still the one reminder; the day after, once more as overdue.
    assert {d.key for d in _due(at(due_on), practice)} == {"controlled:inventory:20260228"}
    assert {d.key for d in _due(at(due_on + datetime.timedelta(days=1)), practice)} == {
        "controlled:inventory:20260228",
        "controlled:inventory_overdue:20260228",
    }


def test_an_inventory_taken_moves_the_reminder_and_drops_the_old_one(ada, practice):
    with time_machine.travel(datetime.datetime(2024, 3, 1, 9, tzinfo=datetime.UTC), tick=False):
        start(ada, taken_on=datetime.date(2024, 3, 1))
    now = timezone.make_aware(datetime.datetime(2026, 2, 20, 9))
    assert services.still_due_keys({"controlled:inventory:20260301"}, now) == {
        "controlled:inventory:20260301"
    }
    with time_machine.travel(now, tick=False):
        count(ada)
    assert services.still_due_keys({"controlled:inventory:20260301"}, now) == set()
    assert _due(now, practice) == []


def test_a_loss_report_s_dates_remind_until_the_step_is_recorded(ada, tess, priya, practice):
    found_at = timezone.make_aware(datetime.datetime(2026, 12, 4, 10))  # a Friday
    with time_machine.travel(found_at, tick=False):
        report = _report(tess, practice, discovered_at=found_at)
    assert report.notice_due_on == datetime.date(2026, 12, 7)  # Monday, over the weekend
    saturday = timezone.make_aware(datetime.datetime(2026, 12, 5, 9))
    monday = timezone.make_aware(datetime.datetime(2026, 12, 7, 9))
    with time_machine.travel(saturday, tick=False):
        assert _due(saturday, practice) == []
    with time_machine.travel(monday, tick=False):
        found = _due(monday, practice)
        assert {d.key for d in found} == {f"controlled:loss_notice:{report.pk}"}
        assert {d.recipient for d in found} == {ada, priya}
        services.loss_report_step_record(
            actor=priya, report=report, step="notice", done_on=datetime.date(2026, 12, 7), practice=practice
        )
        assert _due(monday, practice) == []
        assert services.still_due_keys({f"controlled:loss_notice:{report.pk}"}, monday) == set()
    form_day = timezone.make_aware(datetime.datetime.combine(report.form_due_on, datetime.time(9)))
    with time_machine.travel(form_day, tick=False):
        assert {d.key for d in _due(form_day, practice)} == {f"controlled:loss_form:{report.pk}"}


def test_the_reminders_read_a_fixed_number_of_queries(ada, tess, practice):
    start(ada, taken_on=timezone.localdate() - datetime.timedelta(days=800))
    old = timezone.now() - datetime.timedelta(days=60)
    _report(tess, practice, discovered_at=old)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            _due(timezone.now(), practice)
        return len(captured)

    first = queries()
    for _ in range(4):
        _report(tess, practice, discovered_at=old)
    assert queries() == first


# The dashboard panel --------------------------------------------------------------------------


def test_the_dashboard_panel_shows_the_dates_and_who_was_told(ada, tess, priya, login, practice):
    start(ada, vial_row(), taken_on=timezone.localdate() - datetime.timedelta(days=740))
    count(ada, (Lot.objects.get(), 2, "1.5"))  # today: the next is due in two years
    report = _report(tess, practice)
    page = login(ada).get(reverse("home"))
    assert b"Controlled substances" in page.content
    assert b"Discrepancies waiting for Priya Prescriber" in page.content
    assert b"Told: Ada Admin, Priya Prescriber" in page.content
    assert reverse("inventory:loss_detail", args=[report.pk]).encode() in page.content
    today = timezone.localdate()
    left = clocks.days_left(clocks.next_inventory_due(today), today)
    assert f"{left} days left".encode() in page.content
    assert b"Controlled substances" in login(priya).get(reverse("home")).content
    assert b"Controlled substances" not in login(tess).get(reverse("home")).content


def test_the_panel_is_red_when_the_inventory_is_overdue(ada, login, practice):
    start(ada, taken_on=timezone.localdate() - datetime.timedelta(days=800))
    page = login(ada).get(reverse("home")).content.decode()
    assert "overdue</span>" in page and 'badge--danger">' in page


def test_the_panel_reads_a_fixed_number_of_queries(ada, tess, practice):
    with CaptureQueriesContext(connection) as nothing:
        services.dashboard_panel(practice, timezone.localdate())
    assert len(nothing) == 1  # no inventory, nothing waiting, nothing open: one query
    start(ada, vial_row("A"), vial_row("B"))
    count(ada, *[(lot, 2, "1.5") for lot in Lot.objects.all()])
    _report(tess, practice)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            panel = services.dashboard_panel(practice, timezone.localdate())
        return len(captured), panel

    first, panel = queries()
    assert len(panel.waiting) == 2 and len(panel.reports) == 1
    start_more = [_report(tess, practice) for _ in range(3)]
    second, panel = queries()
    assert len(panel.reports) == 4 and len(start_more) == 3
    assert second == first


# At the same instant -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
class TestCountedUnderTheLotsLock:
    """An inventory's count and a ledger write at one lot, from two threads released together.
    The count reads the balance under the lot's row lock and pauses before saving: a transfer
    that came second must wait until the inventory is saved, so the balance kept beside the count
    is the one the ledger really had."""

    @pytest.fixture(autouse=True)
    def _triggers(self, db):
        from kapflow.audit.db import drop_triggers, install_triggers

        install_triggers(connection)
        yield
        drop_triggers(connection)

    def test_a_write_waits_for_the_count_that_read_the_balance_first(self, ada, monkeypatch):
        import time

        from tests.test_concurrency import PAUSE, race

        start(ada, vial_row())
        lot = Lot.objects.get()
        reads = []
        original = services.balance_at

        def read_then_pause(of, moment):
            value = original(of, moment)
            reads.append((timezone.now(), value))
            time.sleep(PAUSE)
            return value

        monkeypatch.setattr(services, "balance_at", read_then_pause)

        def transfer():
            return ledger.entry_post(
                lot=lot,
                kind=Entry.Kind.TRANSFER,
                quantity=D("-3.5"),
                occurred_at=timezone.now(),
                person=ada,
                recorded_by=ada,
                party_name="Another clinic",
                party_dea_number="AB1234563",
            )

        results = race(lambda: count(ada, (lot, 2, "3.5")), transfer)
        assert not [r for r in results if isinstance(r, Exception)], results
        counted = InventoryCount.objects.get(inventory__kind=Inventory.Kind.BIENNIAL)
        moved = Entry.objects.get(kind=Entry.Kind.TRANSFER)
        ((read_at, _value),) = reads
        if counted.expected == D("23.5"):
            # The count read first: the transfer could only write once the inventory was saved.
            assert moved.recorded_at >= read_at + datetime.timedelta(seconds=PAUSE * 0.9)
            assert not Discrepancy.objects.exists()
        else:
            # The transfer went first: the count stands beside what it left.
            assert counted.expected == D("20") and Discrepancy.objects.get().difference == D("3.5")
        assert ledger.balance(lot) == D("20")


@pytest.mark.parametrize(
    "bad",
    [
        {"outcome": "bogus", "explanation": "x"},
        {"outcome": "loss", "explanation": ""},
        {"outcome": "loss", "explanation": "x" * 6000},
        {"outcome": ["loss", "theft"], "explanation": "\x00"},
    ],
)
def test_hostile_input_to_an_explanation_comes_back_as_form_errors(ada, priya, login, practice, bad):
    discrepancy = short_by_two(ada)
    response = login(priya).post(reverse("inventory:discrepancy", args=[discrepancy.pk]), bad)
    assert response.status_code == 200
    assert Discrepancy.objects.get().explained_at is None


@pytest.mark.parametrize(
    "bad",
    [
        {"step": "notice", "done_on": "tomorrow"},
        {"step": "teleported", "done_on": "2026-12-01"},
        {"step": "notice", "done_on": "2999-01-01"},
        {"step": "notice", "done_on": "1999-01-01"},
        {"step": "notice", "done_on": "2026-12-01", "reference": "r" * 500},
    ],
)
def test_hostile_input_to_a_step_comes_back_as_form_errors(ada, tess, login, practice, bad):
    report = _report(tess, practice)
    response = login(ada).post(reverse("inventory:loss_step", args=[report.pk]), bad)
    assert response.status_code == 200
    assert not report.steps.exists()


def test_a_page_for_a_record_that_is_not_there_is_404(ada, login):
    http = login(ada)
    for name, kwargs in [
        ("inventory:detail", {"inventory_id": 99999}),
        ("inventory:discrepancy", {"discrepancy_id": 99999}),
        ("inventory:loss_detail", {"report_id": 99999}),
    ]:
        assert http.get(reverse(name, kwargs=kwargs)).status_code == 404
    assert http.get("/controlled/inventories/99999999999999999999999/").status_code == 404


def test_a_count_stands_beside_what_the_lot_held_when_it_was_taken(ada):
    """An inventory taken at yesterday's close and typed in this morning, after a transfer
    posted this morning: the count is compared with yesterday evening's balance, so the
    morning's entry is no discrepancy."""
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    start(ada, vial_row(), taken_on=yesterday - datetime.timedelta(days=1))
    lot = Lot.objects.get()
    ledger.entry_post(
        lot=lot,
        kind="transfer",
        quantity=D("-3.5"),
        occurred_at=timezone.now(),
        person=ada,
        recorded_by=ada,
        party_name="Another clinic",
        party_dea_number="AB1234563",
    )
    inventory = services.inventory_take(
        actor=ada,
        kind=Inventory.Kind.BIENNIAL,
        taken_on=yesterday,
        time_of_day=Inventory.TimeOfDay.CLOSE,
        taken_by=ada,
        counts=[services.LotCount(lot, 2, D("3.5"))],
    )
    (counted,) = inventory.counts.all()
    assert (counted.counted, counted.expected) == (D("23.5"), D("23.5"))
    assert not Discrepancy.objects.exists()


def test_a_registrant_who_is_no_longer_a_prescriber_no_longer_answers_for_the_stock(priya, practice):
    assert services.is_registrant(priya, practice)
    priya.is_prescriber = False
    priya.is_therapist = True
    priya.save()
    assert not services.is_registrant(priya, practice)
