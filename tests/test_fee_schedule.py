"""Issue 18, item 1 and part of item 2: the fee schedule (its lookups by date and length band, its
writes by a practice admin alone, its pages) and the billing identifiers of the practice and of
its clinicians (docs/billing.md, "The fee schedule page" and "Identifiers")."""

import datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from kapflow.billing import schedule
from kapflow.billing.fees import lines_for, lines_in_force
from kapflow.billing.models import Charge, Fee
from kapflow.billing.services import BillingRefused, invoice_total, visit_charge
from kapflow.lib.identifiers import npi_problem, taxonomy_problem
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests.factories import ServiceRequest, sign_note
from tests.matrix_notes import held_visit
from tests.test_practice_settings import settings_data

TODAY = timezone.localdate
DAY = datetime.timedelta(days=1)


def line(who, *, kind=Visit.Kind.THERAPY, minutes_from=0, code="90834", amount="150.00", days_ago=30, **more):
    """A line written straight to the table, so that it can be dated in the past (fee_set refuses
    that)."""
    return Fee.objects.create(
        kind=kind,
        minutes_from=minutes_from,
        code=code,
        description=more.pop("description", f"Session {code or 'free'}"),
        amount=Decimal(amount),
        effective_from=TODAY() - days_ago * DAY,
        created_by=who,
        **more,
    )


def set_line(who, **changes):
    values = {
        "kind": Visit.Kind.THERAPY,
        "minutes_from": 0,
        "code": "90834",
        "modifiers": "",
        "units": 1,
        "description": "Psychotherapy, 45 minutes",
        "amount": "150.00",
        "payer_dependent": False,
        "effective_from": TODAY(),
    } | changes
    return schedule.fee_set(request=ServiceRequest(who), **values)


def refusal(who, **changes) -> str:
    with pytest.raises(BillingRefused) as refused:
        set_line(who, **changes)
    return str(refused.value)


# --- Lookups by date and length band -------------------------------------------------------------


def test_a_visit_bills_the_longest_band_it_reaches(ada):
    short = line(ada, minutes_from=0, code="90834", amount="150.00")
    long = line(ada, minutes_from=53, code="90837", amount="180.00")
    assert lines_for(Visit.Kind.THERAPY, 50, TODAY()) == [short]
    assert lines_for(Visit.Kind.THERAPY, 53, TODAY()) == [long]
    assert lines_for(Visit.Kind.THERAPY, 60, TODAY()) == [long]
    assert lines_for(Visit.Kind.INTEGRATION, 60, TODAY()) == []


def test_a_withdrawn_line_no_longer_bills_and_the_shorter_band_takes_over(ada):
    short = line(ada, minutes_from=0, code="90834")
    long = line(ada, minutes_from=53, code="90837", amount="180.00")
    line(ada, minutes_from=53, code="90837", amount="180.00", withdrawn=True, days_ago=5)
    assert lines_for(Visit.Kind.THERAPY, 60, TODAY() - 10 * DAY) == [long]
    assert lines_for(Visit.Kind.THERAPY, 60, TODAY()) == [short]
    assert long not in lines_in_force(TODAY())


def test_two_lines_in_one_band_are_both_billed(ada, priya):
    em = line(ada, kind=Visit.Kind.MEDICATION, code="99214", amount="220.00")
    monitoring = line(
        ada, kind=Visit.Kind.MEDICATION, code="0820T", amount="250.00", units=2, payer_dependent=True
    )
    assert lines_for(Visit.Kind.MEDICATION, 150, TODAY()) == sorted([em, monitoring], key=lambda f: f.code)


def test_a_line_from_tomorrow_is_not_in_force_today(ada):
    today = line(ada, code="90834", amount="150.00")
    tomorrow = set_line(ada, amount="165.00", effective_from=TODAY() + DAY)
    assert lines_for(Visit.Kind.THERAPY, 45, TODAY()) == [today]
    assert lines_for(Visit.Kind.THERAPY, 45, TODAY() + DAY) == [tomorrow]


def test_a_free_line_is_a_line_that_charges_nothing(ada):
    free = set_line(ada, kind=Visit.Kind.DISCOVERY_CALL, code="", amount="", description="Discovery call")
    assert free.is_free and free.amount == 0
    assert lines_for(Visit.Kind.DISCOVERY_CALL, 20, TODAY()) == [free]


# --- fee_set: what it refuses, and who may ----------------------------------------------------------


@pytest.mark.parametrize("code", ["90837", "0820T", "J0013", "g2082", " 99214 "])
def test_every_shape_of_billing_code_is_accepted(ada, code):
    fee = set_line(ada, code=code)
    assert fee.code == code.strip().upper()


@pytest.mark.parametrize("code", ["9083", "908377", "ABCDE", "0820", "90-83", "J001"])
def test_a_code_of_another_shape_is_refused(ada, code):
    assert schedule.CODE_PROBLEM in refusal(ada, code=code)


def test_each_mistake_is_named(ada):
    assert "A line with no code is a free visit: its fee is 0" in refusal(ada, code="", amount="50")
    assert "Give a fee above zero" in refusal(ada, amount="0")
    assert "dollars and cents" in refusal(ada, amount="12.345")
    assert "dollars and cents" in refusal(ada, amount="twelve")
    assert schedule.MODIFIERS_PROBLEM in refusal(ada, modifiers="95 GT 59 25 XU")
    assert schedule.MODIFIERS_PROBLEM in refusal(ada, modifiers="9")
    assert "whole number from 1" in refusal(ada, units=0)
    assert "Say what the client reads" in refusal(ada, description="  ")
    assert "Choose the kind of visit" in refusal(ada, kind="massage")
    assert "past day" in refusal(ada, effective_from=TODAY() - DAY)
    several = refusal(ada, code="ABC", amount="-3", effective_from=TODAY() - DAY)
    assert schedule.CODE_PROBLEM in several and "past day" in several
    assert not Fee.objects.exists()


def test_modifiers_are_tidied(ada):
    assert set_line(ada, modifiers="gt, 59").modifiers == "GT 59"


def test_a_second_entry_on_the_same_day_puts_a_line_right_and_the_later_one_is_in_force(ada):
    set_line(ada)
    corrected = set_line(ada, amount="160.00")
    [in_force] = lines_in_force(TODAY(), kind=corrected.kind)
    assert in_force == corrected and Fee.objects.count() == 2


@pytest.mark.parametrize("who", ["cora", "tess", "priya"])
def test_only_a_practice_admin_writes_the_schedule(request, ada, who):
    person = request.getfixturevalue(who)
    assert "Only a practice admin" in refusal(person)
    fee = set_line(ada)
    with pytest.raises(BillingRefused, match="Only a practice admin"):
        schedule.fee_withdraw(request=ServiceRequest(person), fee=fee, effective_from=TODAY())
    assert Fee.objects.count() == 1


def test_a_line_set_and_withdrawn_is_audited(ada, audit_rows):
    fee = set_line(ada, code="90837", minutes_from=53, amount="180.00")
    withdrawn = schedule.fee_withdraw(request=ServiceRequest(ada), fee=fee, effective_from=TODAY() + DAY)
    assert withdrawn.withdrawn and withdrawn.line == fee.line
    (set_row,) = audit_rows("kapflow.billing.fee.set")
    assert set_row.detail == {
        "kind": "therapy",
        "minutes_from": 53,
        "code": "90837",
        "amount": "180.00",
        "from": TODAY().isoformat(),
    }
    assert audit_rows("kapflow.billing.fee.withdrawn")[0].detail["from"] == (TODAY() + DAY).isoformat()
    assert lines_for(Visit.Kind.THERAPY, 60, TODAY()) == [fee]
    assert lines_for(Visit.Kind.THERAPY, 60, TODAY() + DAY) == []


def test_a_line_not_in_force_cannot_be_withdrawn(ada):
    later = set_line(ada, effective_from=TODAY() + 10 * DAY)
    with pytest.raises(BillingRefused, match="not in force"):
        schedule.fee_withdraw(request=ServiceRequest(ada), fee=later, effective_from=TODAY())


# --- A change never reaches a charge already made -------------------------------------------------


def test_an_invoice_issued_before_a_fee_change_keeps_its_amount(ada, tess, avery):
    old = line(ada, code="90834", amount="150.00")
    visit = held_visit(avery, tess)
    sign_note(visit, tess)  # completing the visit charges it and, by default, invoices it
    visit.refresh_from_db()
    assert visit.status == Visit.Status.COMPLETED
    visit_charge(request=ServiceRequest(tess), visit=visit)  # a second call charges nothing more
    (charge,) = Charge.objects.filter(visit=visit)
    invoice = charge.invoice_line.invoice
    assert (
        charge.fee == old
        and charge.amount == Decimal("150.00")
        and invoice_total(invoice) == Decimal("150.00")
    )

    new = set_line(ada, amount="175.00")
    assert lines_for(Visit.Kind.THERAPY, 50, TODAY()) == [new]
    charge.refresh_from_db()
    old.refresh_from_db()
    assert charge.amount == Decimal("150.00") and old.amount == Decimal("150.00")
    assert invoice_total(invoice) == Decimal("150.00")
    # The rows themselves refuse an edit (docs/security/audit.md).
    for rows, change in (
        (Fee.objects.filter(pk=old.pk), {"amount": 1}),
        (Charge.objects.all(), {"amount": 1}),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            rows.update(**change)


# --- The pages ------------------------------------------------------------------------------------


def test_the_coordinator_reads_the_schedule_and_cannot_write_it(login, ada, cora):
    fee = line(ada, kind=Visit.Kind.MEDICATION, code="0820T", amount="250.00", payer_dependent=True)
    http = login(cora)
    html = http.get(reverse("fees:schedule")).content.decode()
    assert "0820T" in html and "$250.00" in html and "Payer decides" in html
    assert reverse("fees:new") not in html and "Only a practice admin changes the schedule" in html
    assert http.get(reverse("fees:line", args=[fee.pk])).status_code == 200
    for url in (
        reverse("fees:new"),
        reverse("fees:change", args=[fee.pk]),
        reverse("fees:withdraw", args=[fee.pk]),
    ):
        assert http.post(url, {"effective_from": TODAY().isoformat(), "amount": "1.00"}).status_code == 403
    assert Fee.objects.count() == 1


def test_a_clinician_is_refused_the_schedule(login, tess):
    assert login(tess).get(reverse("fees:schedule")).status_code == 403


def test_the_schedule_on_a_date_and_the_lines_coming_later(login, ada):
    line(ada, code="90834", amount="150.00", days_ago=30)
    set_line(ada, amount="165.00", effective_from=TODAY() + 7 * DAY)
    http = login(ada)
    today = http.get(reverse("fees:schedule")).content.decode()
    assert "$150.00" in today and "$165.00" in today  # in force, and coming later
    later = http.get(reverse("fees:schedule"), {"on": (TODAY() + 8 * DAY).isoformat()}).content.decode()
    assert "$165.00" in later and "$150.00" not in later
    before = http.get(reverse("fees:schedule"), {"on": (TODAY() - 60 * DAY).isoformat()}).content.decode()
    assert "No line: visits of this kind are not charged" in before
    bad = http.get(reverse("fees:schedule"), {"on": "31/02/2026"})
    assert bad.status_code == 200 and "Enter a valid date" in bad.content.decode()


def test_an_admin_adds_a_line_and_a_mistake_keeps_what_was_typed(login, ada, audit_rows):
    http = login(ada)
    form = {
        "kind": "medication",
        "minutes_from": "0",
        "code": "0820",
        "modifiers": "",
        "units": "2",
        "description": "Monitoring during the medication session",
        "amount": "250.00",
        "payer_dependent": "on",
        "effective_from": TODAY().isoformat(),
    }
    page = http.post(reverse("fees:new"), form)
    html = page.content.decode()
    assert page.status_code == 200 and "four digits and a letter (0820T)" in html
    assert 'value="0820"' in html and 'value="Monitoring during the medication session"' in html
    assert not Fee.objects.exists()
    assert http.post(reverse("fees:new"), form | {"code": "0820t"}).status_code == 302
    fee = Fee.objects.get()
    assert (fee.code, fee.units, fee.amount, fee.payer_dependent) == ("0820T", 2, Decimal("250.00"), True)
    assert audit_rows("kapflow.billing.fee.set")


def test_change_the_fee_keeps_the_line_and_starts_a_new_entry(login, ada):
    old = line(ada, code="90837", minutes_from=53, amount="180.00", description="Psychotherapy, 60 minutes")
    http = login(ada)
    page = http.get(reverse("fees:change", args=[old.pk])).content.decode()
    assert 'value="180.00"' in page and 'value="Psychotherapy, 60 minutes"' in page
    response = http.post(
        reverse("fees:change", args=[old.pk]),
        {
            # A changed code or kind is ignored: the line keeps its own.
            "code": "90834",
            "kind": "integration",
            "minutes_from": "0",
            "modifiers": "",
            "units": "1",
            "description": "Psychotherapy, 60 minutes",
            "amount": "195.00",
            "effective_from": (TODAY() + DAY).isoformat(),
        },
    )
    assert response.status_code == 302
    new = Fee.objects.latest("pk")
    assert new.line == old.line and new.amount == Decimal("195.00")
    history = http.get(reverse("fees:line", args=[old.pk])).content.decode()
    assert "$180.00" in history and "$195.00" in history and "In force today" in history


def test_withdraw_from_a_date(login, ada):
    fee = line(ada)
    http = login(ada)
    assert http.get(reverse("fees:withdraw", args=[fee.pk])).status_code == 200
    past = http.post(reverse("fees:withdraw", args=[fee.pk]), {"effective_from": (TODAY() - DAY).isoformat()})
    assert past.status_code == 200 and "past day" in past.content.decode()
    done = http.post(reverse("fees:withdraw", args=[fee.pk]), {"effective_from": TODAY().isoformat()})
    assert done.status_code == 302
    assert lines_for(Visit.Kind.THERAPY, 50, TODAY()) == []


def test_an_unknown_line_is_404(login, ada):
    assert login(ada).get(reverse("fees:line", args=[999999])).status_code == 404


# --- Identifiers ----------------------------------------------------------------------------------


def test_the_npi_check_digit_and_the_taxonomy_shape():
    assert npi_problem("1234567893") == ""
    assert "check digit" in npi_problem("1234567890")
    assert taxonomy_problem("1041C0700X") == "" and taxonomy_problem("2084P0800X") == ""
    assert taxonomy_problem("1041C0700") and taxonomy_problem("1041C07000")


@pytest.mark.parametrize(
    "field, typed, message",
    [
        ("tax_id", "123-456789", "NN-NNNNNNN"),
        ("npi", "1234567890", "check digit"),
        ("npi", "12345", "An NPI is 10 digits."),
        ("taxonomy_code", "1041C07", "ending in X"),
        ("place_of_service_in_person", "1", "two digits"),
        ("virtual_modifier", "9", "two letters or digits"),
    ],
)
def test_the_practice_settings_refuse_a_bad_identifier_and_keep_it(login, ada, field, typed, message):
    response = login(ada).post(reverse("practice_settings"), settings_data(**{field: typed}))
    html = response.content.decode()
    assert response.status_code == 200 and message in html
    assert f'value="{typed}"' in html
    assert getattr(Practice.load(), field) == getattr(Practice(), field)


def test_the_practice_identifiers_are_saved_and_audited(login, ada, audit_rows):
    response = login(ada).post(
        reverse("practice_settings"),
        settings_data(tax_id="123456789", npi="1234567893", taxonomy_code="261qm0801x"),
    )
    assert response.status_code == 302
    practice = Practice.load()
    assert (practice.tax_id, practice.npi, practice.taxonomy_code) == (
        "12-3456789",
        "1234567893",
        "261QM0801X",
    )
    changed = audit_rows("kapflow.practice.settings.updated")[-1].detail["changed"]
    assert sorted(changed) == ["npi", "tax_id", "taxonomy_code"]


def staff_data(member, **changes):
    data = {
        "full_name": member.full_name,
        "email": member.email,
        "credentials": member.credentials,
        "is_therapist": "on" if member.is_therapist else "",
        "is_prescriber": "on" if member.is_prescriber else "",
        "npi": "",
        "taxonomy_code": "",
        "license_type": "",
        "license_number": "",
        "license_state": "",
    }
    return {name: value for name, value in (data | changes).items() if value}


def test_the_staff_form_refuses_a_bad_npi_and_licence_state(login, ada, tess):
    response = login(ada).post(
        reverse("accounts:staff_edit", args=[tess.pk]),
        staff_data(tess, npi="1234567890", license_state="C1"),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "check digit" in html and "two letters" in html and 'value="1234567890"' in html
    tess.refresh_from_db()
    assert tess.npi == "" and tess.license_state == ""


def test_a_clinician_s_identifiers_are_saved_and_audited(login, ada, tess, audit_rows):
    response = login(ada).post(
        reverse("accounts:staff_edit", args=[tess.pk]),
        staff_data(
            tess,
            npi="1234567893",
            taxonomy_code="1041c0700x",
            license_type="LCSW",
            license_number="LCS 12345",
            license_state="ca",
        ),
    )
    assert response.status_code == 302
    tess.refresh_from_db()
    assert (tess.npi, tess.taxonomy_code, tess.license_state) == ("1234567893", "1041C0700X", "CA")
    changed = audit_rows("kapflow.accounts.staff.updated")[-1].detail["changed"]
    assert {"npi", "taxonomy_code", "license_type", "license_number", "license_state"} <= set(changed)
