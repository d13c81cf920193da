"""An independent review of the billing ledger's correctness (docs/billing.md): money exact to the
cent on both databases, the locks behind every limit, and no request answering 500."""

import datetime
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.billing import services
from kapflow.billing.models import Charge, Invoice
from kapflow.billing.selectors import client_balance
from kapflow.practice.models import Practice
from tests.factories import ServiceRequest
from tests.matrix_billing import charged_visit, completed_visit, fee_line
from tests.test_concurrency import race

D = Decimal

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite runs one writer at a time: nothing to race"
)


@pytest.fixture(scope="module", autouse=True)
def _triggers_back_at_the_end(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
class TestAtTheSameInstant:
    @pytest.fixture(autouse=True)
    def _triggers(self, db):
        install_triggers(connection)
        yield
        drop_triggers(connection)

    @on_postgres
    def test_invoicing_a_completed_visit_never_deadlocks_with_an_issuer(
        self, ada, cora, avery, olive, priya, colin, monkeypatch
    ):
        """The completed visit's charge writes its audit row (the chain's lock, held to the end)
        and then invoices; a coordinator issuing an invoice at the same moment must not hold a
        lock the first waits for while waiting for the chain's lock itself."""
        fee_line(ada, amount="150.00")
        Practice.load()
        Practice.objects.filter(pk=1).update(invoice_each_visit=False)
        charged_visit(olive, colin, ada, days_ago=2)
        Practice.objects.filter(pk=1).update(invoice_each_visit=True)
        visit = completed_visit(avery, priya, days_ago=1)
        read = services.uninvoiced

        def slow_read(client):
            waiting = list(read(client))
            time.sleep(0.6)
            return read(client).filter(pk__in=[c.pk for c in waiting])

        def issue():
            monkeypatch.setattr(services, "uninvoiced", slow_read)
            return services.invoice_issue(request=ServiceRequest(cora), client=olive)

        def charge():
            time.sleep(0.2)
            return services.visit_charge(request=ServiceRequest(ada), visit=visit)

        results = race(issue, charge)
        assert isinstance(results[0], Invoice), results
        assert isinstance(results[1], list) and len(results[1]) == 1, results
        assert sorted(Invoice.objects.values_list("number", flat=True)) == [1, 2]
        assert client_balance(avery) == client_balance(olive) == D("150.00")

    @on_postgres
    def test_a_plan_change_and_an_estimate_asked_for_at_once_neither_deadlock_nor_go_stale(
        self, ada, cora, tess, priya, avery, monkeypatch
    ):
        """The plan's writer gives the estimate after its own audit row (the chain's lock held);
        a coordinator's "give a new estimate now" at the same moment must not hold the client's
        row meanwhile: one deadlocks, or the estimate left in force prices the old plan."""
        from kapflow.billing import estimates
        from kapflow.billing.models import Estimate
        from tests.test_estimates import PRIYA_NPI, TESS_NPI, TIN, fake_request, save_plan, set_fees

        practice = Practice.load()
        practice.tax_id, practice.npi, practice.address = TIN, "1234567893", "1 Main St, Van Nuys, CA"
        practice.save()
        tess.npi, priya.npi = TESS_NPI, PRIYA_NPI
        tess.save(update_fields=["npi"])
        priya.save(update_fields=["npi"])
        set_fees(ada)
        save_plan(tess, avery, sessions=8)
        eight = Estimate.objects.get(client=avery, superseded_at__isnull=True).total
        errors = []
        monkeypatch.setattr(estimates.logger, "exception", lambda *a, **k: errors.append(a))
        original = estimates.covers_from_for

        def slow_for_the_coordinator(current, plan, today, months):
            answer = original(current, plan, today, months)
            if plan.planned_sessions == 8:
                time.sleep(0.6)
            return answer

        monkeypatch.setattr(estimates, "covers_from_for", slow_for_the_coordinator)

        def ask():
            return estimates.estimate_issue(
                request=fake_request(cora), client=avery, reason=Estimate.Reason.ASKED
            )

        def change():
            time.sleep(0.2)
            return save_plan(tess, avery, sessions=12)

        results = race(ask, change)
        assert isinstance(results[0], Estimate), results
        assert not isinstance(results[1], Exception), results
        assert errors == []
        in_force = Estimate.objects.get(client=avery, superseded_at__isnull=True)
        assert in_force.total > eight
        assert in_force.plan.planned_sessions == 12

    @on_postgres
    def test_two_admins_refunding_the_same_payment_cannot_both_pass(
        self, ada, cora, avery, priya, monkeypatch
    ):
        from kapflow.billing.models import Entry
        from kapflow.billing.services import BillingRefused
        from tests.factories import make_user
        from tests.test_concurrency import slowed

        fee_line(ada, amount="100.00")
        (charge,) = charged_visit(avery, priya, ada)
        invoice = charge.invoice_line.invoice
        payment = services.entry_record(
            request=ServiceRequest(cora),
            invoice=invoice,
            kind="payment",
            amount=D("100.00"),
            received_on=timezone.localdate(),
            method="card",
        )
        second_admin = make_user("Abe Admin", roles=("is_practice_admin",))
        slowed(monkeypatch, services, "refundable")

        def refund(who):
            return lambda: services.entry_record(
                request=ServiceRequest(who),
                invoice=invoice,
                kind="refund",
                amount=D("100.00"),
                received_on=timezone.localdate(),
                method="card",
                reason="Cancelled course.",
                refund_of=payment,
            )

        results = race(refund(ada), refund(second_admin))
        assert sorted(type(r).__name__ for r in results) == ["BillingRefused", "Entry"], results
        assert any(isinstance(r, BillingRefused) and "$0.00" in str(r) for r in results)
        assert Entry.objects.filter(kind="refund").count() == 1

    @on_postgres
    def test_one_diagnosis_recorded_twice_at_once_is_recorded_once(self, tess, priya, avery, monkeypatch):
        from kapflow.billing import diagnoses
        from kapflow.billing.models import Diagnosis
        from kapflow.billing.services import BillingRefused

        original = Diagnosis.objects.filter

        def slow_filter(*args, **kwargs):
            answer = original(*args, **kwargs)
            if "ended_at__isnull" in kwargs:
                time.sleep(0.4)
            return answer

        monkeypatch.setattr(Diagnosis.objects, "filter", slow_filter)

        def record(who):
            return lambda: diagnoses.diagnosis_record(
                request=ServiceRequest(who),
                client=avery,
                code="F41.1",
                description="",
                diagnosed_on=timezone.localdate(),
            )

        results = race(record(tess), record(priya))
        assert sorted(type(r).__name__ for r in results) == ["BillingRefused", "Diagnosis"], results
        assert isinstance([r for r in results if not isinstance(r, Diagnosis)][0], BillingRefused)
        assert Diagnosis.objects.count() == 1


# No request answers 500 ----------------------------------------------------------------------

ODD_AMOUNTS = [
    "1e400",
    "-1e400",
    "NaN",
    "sNaN",
    "-0",
    "Infinity",
    "-Infinity",
    "١٢٣",
    "9" * 40,
    "0." + "0" * 40 + "1",
    "1e-400",
    "12,,3",
    "$",
    "",
]
ODD_DATES = ["0001-01-01", "9999-12-31", "10000-01-01", "0000-01-01", "2026-02-30", "١٢٣", "x"]
ODD_MONTHS = ["0000-01", "0001-01", "9999-12", "2026-13", "2026-00", "١٢٣٤-٠١", "99999-01", "-2026-01"]


@pytest.mark.django_db
def test_odd_amounts_dates_and_ids_never_answer_500(ada, cora, tess, avery, priya, login):
    from django.urls import reverse

    from kapflow.billing.models import Entry

    fee_line(ada, amount="150.00")
    (charge,) = charged_visit(avery, priya, ada)
    invoice = charge.invoice_line.invoice
    payment = services.entry_record(
        request=ServiceRequest(ada),
        invoice=invoice,
        kind="payment",
        amount=D("50.00"),
        received_on=timezone.localdate(),
        method="cash",
    )
    admin, clinician = login(ada), login(tess)
    today = timezone.localdate().isoformat()
    posts = [
        (
            reverse("client_billing:payment", args=[avery.pk, invoice.pk]),
            {"amount": "1.00", "method": "cash", "received_on": today},
        ),
        (
            reverse("client_billing:refund", args=[avery.pk, invoice.pk]),
            {
                "amount": "1.00",
                "payment": str(payment.pk),
                "method": "cash",
                "reason": "x",
                "received_on": today,
            },
        ),
        (
            reverse("client_billing:write_off", args=[avery.pk, invoice.pk]),
            {"amount": "1.00", "reason": "x", "received_on": today},
        ),
        (
            reverse("fees:new"),
            {
                "kind": "therapy",
                "minutes_from": "0",
                "code": "90837",
                "units": "1",
                "description": "x",
                "amount": "1.00",
                "effective_from": today,
            },
        ),
    ]
    for url, form in posts:
        for amount in ODD_AMOUNTS:
            response = admin.post(url, form | {"amount": amount})
            assert response.status_code < 500, (url, amount)
        for field in ("received_on", "effective_from"):
            if field in form:
                for day in ODD_DATES:
                    response = admin.post(url, form | {field: day})
                    assert response.status_code < 500, (url, day)
    for day in ODD_DATES:
        assert admin.get(reverse("fees:schedule"), {"on": day}).status_code < 500, day
        response = clinician.post(
            reverse("diagnoses:new", args=[avery.pk]),
            {"listed": "F33.1", "code": "", "description": "", "diagnosed_on": day},
        )
        assert response.status_code < 500, day
    for month in ODD_MONTHS:
        for query in ({"start": month, "end": "2026-01"}, {"start": "2025-01", "end": month}):
            for name in ("income", "income_csv"):
                response = admin.get(reverse(f"income:{name}"), query)
                assert response.status_code < 500, (name, query)
    for bad in (0, 2**31, 2**63, 10**30):
        for url in (
            f"/clients/{avery.pk}/billing/invoices/{bad}/",
            f"/clients/{bad}/billing/",
            f"/clients/{avery.pk}/billing/estimates/{bad}/",
            f"/clients/{avery.pk}/diagnoses/{bad}/end/",
            f"/billing/fees/{bad}/",
            f"/clients/{avery.pk}/billing/visits/{bad}/charge/",
        ):
            assert admin.get(url).status_code in (403, 404, 405), url
            assert admin.post(url, {}).status_code in (403, 404, 405), url
    # Nothing odd was recorded (a payment dated long ago is the one odd date a payment takes).
    odd = Entry.objects.exclude(pk=payment.pk).exclude(received_on=datetime.date(1, 1, 1))
    assert list(odd.values_list("kind", "amount", "received_on")) == []


# The right to dispute ------------------------------------------------------------------------


def _estimate(client, who, *, total, covers_from):
    from kapflow.billing.estimates import valid_until_for
    from kapflow.billing.models import Estimate

    return Estimate.objects.create(
        client=client,
        reason=Estimate.Reason.ASKED,
        issued_by=who,
        covers_from=covers_from,
        valid_until=valid_until_for(covers_from, 12),
        total=D(total),
        content={},
        superseded_at=timezone.now(),  # passed to dispute() as it is: none is in force
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("fee", "flagged"), [("250.00", True), ("249.99", False)])
def test_the_dispute_opens_at_400_00_over_and_not_at_399_99(ada, avery, priya, fee, flagged):
    from kapflow.billing.estimates import dispute

    fee_line(ada, amount=fee)
    estimate = _estimate(
        avery, ada, total="100.00", covers_from=timezone.localdate() - datetime.timedelta(days=9)
    )
    charged_visit(avery, priya, ada, days_ago=3)
    charged_visit(avery, priya, ada, days_ago=2)
    found = dispute(avery, Practice.load(), estimate=estimate)
    assert (found is not None) == flagged
    if flagged:
        # The page prints these as they are: exact cents, on SQLite too.
        assert (str(found.billed), str(found.over_by)) == ("500.00", "400.00")


@pytest.mark.django_db
def test_the_dispute_counts_from_the_first_bill_for_the_estimates_services(ada, cora, avery, priya):
    from kapflow.billing.estimates import dispute

    today = timezone.localdate()
    fee_line(ada, amount="300.00")
    Practice.load()
    Practice.objects.filter(pk=1).update(invoice_each_visit=False)
    estimate = _estimate(avery, ada, total="100.00", covers_from=today - datetime.timedelta(days=5))
    charged_visit(avery, priya, ada, days_ago=10)  # before the estimate's period
    late = services.invoice_issue(
        request=ServiceRequest(cora), client=avery, issued_on=today - datetime.timedelta(days=3)
    )
    charged_visit(avery, priya, ada, days_ago=2)
    charged_visit(avery, priya, ada, days_ago=1)
    services.invoice_issue(request=ServiceRequest(cora), client=avery)
    found = dispute(avery, Practice.load(), estimate=estimate)
    assert late.issued_on >= estimate.covers_from
    assert found.billed == D("600.00") and found.first_bill_on == today
    assert found.last_day == today + datetime.timedelta(days=Practice.load().estimate_dispute_days)


# Charging a visit ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("line", "charged"),
    [
        ("", "95"),
        ("95", "95"),
        ("GT 95", "GT 95"),
        ("25 59 76", "25 59 76 95"),
        ("25 59 76 77", "25 59 76 77"),
    ],
)
def test_a_video_visit_carries_pos_10_and_95_once_and_at_most_four_modifiers(
    ada, avery, priya, line, charged
):
    fee_line(ada, modifiers=line)
    (charge,) = charged_visit(avery, priya, ada)
    assert (charge.place_of_service, charge.modifiers) == ("10", charged)


@pytest.mark.django_db
def test_a_visit_charged_twice_is_charged_once_and_a_missed_one_never(ada, avery, priya):
    from kapflow.visits.models import Visit

    fee_line(ada)
    visit = completed_visit(avery, priya)
    assert len(services.visit_charge(request=ServiceRequest(ada), visit=visit)) == 1
    assert services.visit_charge(request=ServiceRequest(ada), visit=visit) == []
    assert Charge.objects.count() == Invoice.objects.count() == 1
    for status in (Visit.Status.CANCELLED, Visit.Status.NO_SHOW):
        other = completed_visit(avery, priya, days_ago=2)
        Visit.objects.filter(pk=other.pk).update(status=status, cancel_reason="Unwell")
        with pytest.raises(services.BillingRefused):
            services.visit_charge(request=ServiceRequest(ada), visit=other)
    assert Charge.objects.count() == 1


# Superbills ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_invoice_across_two_months_splits_its_payment_oldest_first(ada, cora, tess, avery):
    from kapflow.billing import superbill
    from kapflow.billing.models import Entry
    from kapflow.visits.models import Visit
    from tests.test_superbills import TESS_NPI, charge_visit, diagnose, fee, give_address, identify

    identify((tess, TESS_NPI))
    give_address(avery)
    this_month = timezone.localdate().replace(day=1)
    before = (this_month - datetime.timedelta(days=1)).replace(day=20)
    after = before + datetime.timedelta(days=15)  # the next month (5th or 4th)
    after = min(after, timezone.localdate())
    if after.month == before.month:
        pytest.skip("today is too early in the month for two months of visits")
    diagnose(
        avery,
        tess,
        "F33.1",
        "Major depressive disorder, recurrent, moderate",
        before - datetime.timedelta(days=30),
    )
    fee(ada, Visit.Kind.INTEGRATION, "90837", "200.00")
    Practice.objects.filter(pk=Practice.load().pk).update(invoice_each_visit=False)
    charge_visit(avery, tess, before, Visit.Kind.INTEGRATION, cora)
    charge_visit(avery, tess, after, Visit.Kind.INTEGRATION, cora)
    invoice = services.invoice_issue(request=ServiceRequest(cora), client=avery)
    services.entry_record(
        request=ServiceRequest(cora),
        invoice=invoice,
        kind="payment",
        amount=D("250.00"),
        received_on=timezone.localdate(),
        method=Entry.Method.CARD,
    )
    practice = Practice.load()
    first = superbill.superbill_data(avery, superbill.month_period(before.year, before.month), practice)
    second = superbill.superbill_data(avery, superbill.month_period(after.year, after.month), practice)
    assert first.problems == second.problems == []
    assert (first.charged, first.paid, first.balance) == (D("200.00"), D("200.00"), D("0.00"))
    assert (second.charged, second.paid, second.balance) == (D("200.00"), D("50.00"), D("150.00"))
    for bill in (first, second):
        assert bill.charged == sum(line.amount for line in bill.lines)
        assert bill.paid == sum(line.paid for line in bill.lines)
        assert [line.pointers for line in bill.lines] == ["A"] and bill.shared_invoices == [invoice.number]


@pytest.mark.django_db
def test_a_day_with_no_current_diagnosis_refuses_the_superbill_naming_it(ada, cora, tess, avery):
    from kapflow.billing import superbill
    from kapflow.visits.models import Visit
    from tests.test_superbills import (
        TESS_NPI,
        charge_visit,
        diagnose,
        fee,
        give_address,
        identify,
        last_month,
    )

    identify((tess, TESS_NPI))
    give_address(avery)
    day1, day2 = last_month()
    fee(ada, Visit.Kind.INTEGRATION, "90837", "200.00")
    charge_visit(avery, tess, day1, Visit.Kind.INTEGRATION, cora)
    charge_visit(avery, tess, day2, Visit.Kind.INTEGRATION, cora)
    # Current on the 10th, ended on the 17th itself (no longer current from that day).
    diagnose(
        avery,
        tess,
        "F41.1",
        "Generalized anxiety disorder",
        day1,
        ended_on=day2,
        ended_by=tess,
        ended_at=timezone.now(),
        end_reason="Resolved.",
    )
    bill = superbill.superbill_data(avery, superbill.month_period(day1.year, day1.month), Practice.load())
    assert len(bill.problems) == 1 and f"{day2:%B} {day2.day}, {day2.year}" in bill.problems[0]
    with pytest.raises(services.BillingRefused):
        superbill.superbill_pdf(bill)


# Every money reader exact to the cent ----------------------------------------------------------

_cents = st.integers(min_value=1, max_value=99_999_999).map(lambda n: D(n).scaleb(-2))


@pytest.mark.django_db
@given(fees=st.lists(_cents, min_size=1, max_size=5), parts=st.lists(_cents, min_size=1, max_size=4))
def test_every_sum_of_money_is_exact_to_the_cent(ada, cora, avery, priya, fees, parts):
    """Charges and payments of any cents: the invoice's balance, the client's, what is owed by
    client and by age, the waiting charges, the income page and the dispute's figures are the
    exact Decimal sums, with two places (SQLite sums REAL)."""
    from kapflow.billing.accounts import owed_by_client, waiting_by_client
    from kapflow.billing.estimates import dispute
    from kapflow.billing.models import Entry, Fee
    from kapflow.billing.selectors import with_totals
    from kapflow.clients.models import Client
    from kapflow.outcomes.income import build_income

    Practice.load()
    Practice.objects.filter(pk=1).update(invoice_each_visit=False)
    kinds = ["progress_review", "therapy", "integration", "preparation", "consultation"][: len(fees)]
    fees = fees[: len(kinds)]
    start = Invoice.objects.count()
    for kind, amount in zip(kinds, fees, strict=True):
        Fee.objects.filter(kind=kind).exists() or fee_line(ada, kind=kind, code="90837", amount=str(amount))
    made = []
    for kind in kinds:
        made += services.visit_charge(
            request=ServiceRequest(ada), visit=completed_visit(avery, priya, kind=kind)
        )
    charged = sum((c.amount for c in made), D("0"))
    waiting = {row["client"].pk: row["total"] for row in waiting_by_client(Client.objects.all())}
    assert (
        str(waiting[avery.pk])
        == f"{sum(c.amount for c in Charge.objects.filter(client=avery, invoice_line__isnull=True)):.2f}"
    )
    invoice = services.invoice_issue(request=ServiceRequest(cora), client=avery)
    assert Invoice.objects.count() == start + 1
    paid = D("0")
    for part in parts:
        if paid + part <= charged:
            services.entry_record(
                request=ServiceRequest(cora),
                invoice=invoice,
                kind="payment",
                amount=part,
                received_on=timezone.localdate(),
                method=Entry.Method.CASH,
            )
            paid += part
    row = with_totals(Invoice.objects.filter(pk=invoice.pk)).get()
    assert (row.total, row.paid, row.balance) == (charged, paid, charged - paid)
    assert services.invoice_balance(invoice) == charged - paid
    assert str(services.invoice_balance(invoice)) == f"{charged - paid:.2f}"
    balance = client_balance(avery)
    expected = sum((i.total - i.paid for i in with_totals(Invoice.objects.filter(client=avery))), D("0"))
    assert balance == expected and str(balance) == f"{expected:.2f}"
    owed = owed_by_client(Client.objects.filter(pk=avery.pk), timezone.localdate())
    assert owed.total == balance
    income = build_income(start=timezone.localdate() - datetime.timedelta(days=60), end=timezone.localdate())
    all_charges = sum(Charge.objects.values_list("amount", flat=True), D("0"))
    all_paid = sum(Entry.objects.values_list("amount", flat=True), D("0"))
    assert (income.total.charged, income.total.received) == (all_charges, all_paid)
    assert str(income.total.charged) == f"{all_charges:.2f}"
    assert income.total.owed == sum((i.balance for i in with_totals(Invoice.objects.all())), D("0"))
    estimate = _estimate(
        avery, ada, total="0.01", covers_from=timezone.localdate() - datetime.timedelta(days=40)
    )
    found = dispute(avery, Practice.load(), estimate=estimate)
    billed = sum(
        Charge.objects.filter(client=avery, service_date__gte=estimate.covers_from).values_list(
            "amount", flat=True
        ),
        D("0"),
    )
    if billed - D("0.01") >= D("400.00"):
        assert str(found.billed) == f"{billed:.2f}" and found.over_by == billed - D("0.01")
