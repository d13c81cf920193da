"""The money ledger (docs/billing.md): balances exact to the cent, the service's limits and who
may pass them, a completed visit's charge at the fee of its day, the database refusing to change
a row, two people at once, and the staff's billing pages (the client's account, an invoice, the
practice's page): what they show, what they refuse, their constant number of queries, and that
nothing on them reads a progress note."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.audit.models import AuditEvent
from kapflow.billing import services
from kapflow.billing.models import BillingProfile, Charge, Entry, Fee, Invoice, InvoiceLine
from kapflow.billing.selectors import add_totals, client_balance, with_totals
from kapflow.billing.services import BillingRefused
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories
from tests.factories import ServiceRequest
from tests.matrix_billing import charged_visit, completed_visit, fee_line
from tests.matrix_notes import held_visit
from tests.test_concurrency import race, slowed

D = Decimal
TODAY = timezone.localdate


def pay(invoice, who, amount, kind="payment", **fields):
    fields.setdefault("method", "" if kind == "write_off" else "cash")
    if kind in ("refund", "write_off"):
        fields.setdefault("reason", "Agreed with the client.")
    return services.entry_record(
        request=ServiceRequest(who),
        invoice=invoice,
        kind=kind,
        amount=D(amount),
        received_on=TODAY(),
        **fields,
    )


def invoiced(client, clinician, who, **kwargs) -> Invoice:
    (charge,) = charged_visit(client, clinician, who, **kwargs)
    return charge.invoice_line.invoice


def dated(invoice, *, issued_days_ago: int, due_days_ago: int) -> None:
    """Give an invoice an issue day and a due day in the past (negative: in the future), in the
    database, with the append-only triggers lifted for the change."""
    with connection.cursor() as cursor:
        drop_triggers(connection)
        cursor.execute(
            "UPDATE billing_invoice SET issued_on = %s, due_on = %s WHERE id = %s",
            [
                TODAY() - datetime.timedelta(days=issued_days_ago),
                TODAY() - datetime.timedelta(days=due_days_ago),
                invoice.pk,
            ],
        )
        install_triggers(connection)


def balance_of(invoice) -> Decimal:
    return with_totals(Invoice.objects.filter(pk=invoice.pk)).get().balance


# Balances are the exact sum of the rows ------------------------------------------------------

cents = st.integers(min_value=1, max_value=500_000).map(lambda n: D(n).scaleb(-2))
operation = st.tuples(
    st.sampled_from(["payment", "refund", "write_off"]), st.integers(min_value=0, max_value=2), cents
)


@pytest.mark.django_db
@given(
    charges=st.lists(st.tuples(st.integers(min_value=0, max_value=2), cents), min_size=1, max_size=8),
    operations=st.lists(operation, max_size=12),
)
def test_balances_are_the_exact_sum_of_the_charges_and_entries(ada, avery, tess, charges, operations):
    """Random charges on up to three invoices and random payments, refunds and write-offs: each
    invoice's balance (with_totals, invoice_balance) and the client's are the exact Decimal sum,
    to the cent; a movement the ledger refuses (more than the balance, more than is left of a
    payment) changes nothing."""
    with transaction.atomic():
        visit = completed_visit(avery, tess)
        fee = fee_line(ada, kind=Visit.Kind.THERAPY, code="90834", amount="1.00", days_ago=400)
        made: dict[int, list[Charge]] = {}
        for number, (which, amount) in enumerate(charges):
            made.setdefault(which, []).append(
                Charge.objects.create(
                    client=avery,
                    visit=visit,
                    fee=fee,
                    service_date=TODAY(),
                    clinician=tess,
                    code=f"X{number:04d}",
                    description="A line",
                    amount=amount,
                    place_of_service="11",
                    created_by=ada,
                )
            )
        invoices, expected = [], []
        for group in made.values():
            invoices.append(services.invoice_issue(request=ServiceRequest(ada), client=avery, charges=group))
            expected.append(sum((charge.amount for charge in group), D("0")))
        payments: list[list[list]] = [[] for _ in invoices]  # [entry, left] per invoice
        for kind, which, amount in operations:
            index = which % len(invoices)
            invoice = invoices[index]
            if kind == "refund":
                left = [item for item in payments[index] if item[1] > 0]
                if not left:
                    continue
                target = left[0]
                if amount > target[1]:
                    with pytest.raises(BillingRefused, match="left to refund"):
                        pay(invoice, ada, amount, "refund", refund_of=target[0])
                    continue
                pay(invoice, ada, amount, "refund", refund_of=target[0])
                target[1] -= amount
                expected[index] += amount
                continue
            if amount > expected[index]:
                with pytest.raises(BillingRefused, match="owed"):
                    pay(invoice, ada, amount, kind)
                continue
            entry = pay(invoice, ada, amount, kind)
            if kind == "payment":
                payments[index].append([entry, amount])
            expected[index] -= amount
        totals = {i.pk: i for i in with_totals(Invoice.objects.filter(client=avery))}
        kept = dict(Invoice.objects.filter(client=avery).values_list("pk", "owed_cents"))
        listed = {i.pk: i for i in add_totals(list(Invoice.objects.filter(client=avery)))}
        for invoice, owed in zip(invoices, expected, strict=True):
            assert totals[invoice.pk].balance == owed
            # The account page's grouped figures are with_totals' own.
            fields = ("total", "paid", "refunded", "written_off", "balance")
            assert [getattr(listed[invoice.pk], f) for f in fields] == [
                getattr(totals[invoice.pk], f) for f in fields
            ]
            assert services.invoice_balance(invoice) == owed
            # The amount the database keeps on the invoice ("what is owed" reads it) agrees.
            assert kept[invoice.pk] == int(owed * 100)
        assert client_balance(avery) == sum(expected, D("0"))
        transaction.set_rollback(True)


# The service's limits -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_payment_above_the_balance_is_refused_naming_the_balance(ada, cora, avery, priya):
    fee_line(ada, amount="150.00")
    invoice = invoiced(avery, priya, ada)
    pay(invoice, cora, "100.00")
    with pytest.raises(BillingRefused, match=r"has \$50\.00 owed: \$50\.01 cannot be paid"):
        pay(invoice, cora, "50.01")
    with pytest.raises(BillingRefused, match="written off"):
        pay(invoice, ada, "50.01", "write_off")
    pay(invoice, cora, "50.00")
    assert balance_of(invoice) == D("0.00")
    assert Entry.objects.filter(invoice=invoice).count() == 2


@pytest.mark.django_db
def test_a_refund_above_what_is_left_of_the_payment_is_refused(ada, avery, priya):
    fee_line(ada, amount="150.00")
    invoice = invoiced(avery, priya, ada)
    payment = pay(invoice, ada, "120.00")
    pay(invoice, ada, "100.00", "refund", refund_of=payment)
    with pytest.raises(BillingRefused, match=r"Only \$20\.00 of that payment is left to refund"):
        pay(invoice, ada, "20.01", "refund", refund_of=payment)
    pay(invoice, ada, "20.00", "refund", refund_of=payment)
    assert balance_of(invoice) == D("150.00")


@pytest.mark.django_db
def test_a_coordinator_cannot_refund_or_write_off_even_at_the_service(ada, cora, tess, avery, priya):
    fee_line(ada, amount="150.00")
    invoice = invoiced(avery, priya, ada)
    payment = pay(invoice, cora, "100.00")
    with pytest.raises(BillingRefused, match="Only a practice admin"):
        pay(invoice, cora, "10.00", "refund", refund_of=payment)
    with pytest.raises(BillingRefused, match="Only a practice admin"):
        pay(invoice, cora, "10.00", "write_off")
    # A clinician records no payment and issues no invoice.
    with pytest.raises(BillingRefused, match="coordinators and admins"):
        pay(invoice, tess, "10.00")
    with pytest.raises(BillingRefused, match="coordinators and admins"):
        services.invoice_issue(request=ServiceRequest(tess), client=avery)
    assert list(Entry.objects.values_list("kind", flat=True)) == ["payment"]


# A completed visit is charged at the fee of its day -----------------------------------------


@pytest.mark.django_db
def test_signing_a_note_charges_the_visit_at_the_fee_in_force_and_invoices_it(ada, tess, avery):
    fee_line(ada, kind=Visit.Kind.THERAPY, code="90834", amount="140.00", days_ago=60)
    fee_line(ada, kind=Visit.Kind.THERAPY, code="90834", amount="150.00", days_ago=10)  # the one in force
    fee_line(ada, kind=Visit.Kind.THERAPY, code="90837", amount="200.00", days_ago=60, minutes_from=53)
    fee_line(ada, kind=Visit.Kind.THERAPY, code="90834", amount="175.00", days_ago=-5)  # not yet
    visit = held_visit(avery, tess)  # 50 minutes, by video, yesterday
    factories.sign_note(visit, tess)
    visit.refresh_from_db()
    assert visit.status == Visit.Status.COMPLETED
    (charge,) = Charge.objects.filter(visit=visit)
    assert (charge.code, charge.amount, charge.modifiers, charge.place_of_service) == (
        "90834",
        D("150.00"),
        "95",
        "10",
    )
    assert charge.clinician == tess and charge.service_date == timezone.localdate(visit.starts_at)
    invoice = charge.invoice_line.invoice
    assert invoice.client == avery and invoice.due_on == invoice.issued_on + datetime.timedelta(days=30)
    assert client_balance(avery) == D("150.00")


@pytest.mark.django_db
def test_completing_a_visit_with_invoice_each_visit_off_leaves_the_charge_waiting(ada, tess, avery):
    Practice.load()
    Practice.objects.filter(pk=1).update(invoice_each_visit=False)
    fee_line(ada, kind=Visit.Kind.THERAPY, code="90834", amount="150.00")
    visit = held_visit(avery, tess)
    factories.sign_note(visit, tess)
    (charge,) = Charge.objects.filter(visit=visit)
    assert not InvoiceLine.objects.filter(charge=charge).exists()
    assert client_balance(avery) == D("0.00")
    assert list(services.uninvoiced(avery)) == [charge]


@pytest.mark.django_db
def test_a_discovery_call_completed_through_visit_transition_charges_nothing(ada, tess, avery, cora):
    from kapflow.visits.services import visit_transition

    fee_line(ada, kind=Visit.Kind.DISCOVERY_CALL, code="", amount="0")
    starts = timezone.now() - datetime.timedelta(hours=2)
    call = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.DISCOVERY_CALL,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=20),
        modality=Visit.Modality.VIRTUAL,
        clinician=tess,
        created_by=cora,
        status=Visit.Status.IN_PROGRESS,
    )
    visit_transition(request=ServiceRequest(cora), visit=call, to=Visit.Status.COMPLETED)
    assert not Charge.objects.exists()
    # And the billing page does not list it as a visit not charged: it owes nothing.
    from kapflow.billing.accounts import uncharged_visits

    assert uncharged_visits(Visit.objects.all()) == []


@pytest.mark.django_db
def test_an_old_invoice_keeps_its_fee_after_a_new_line_from_a_later_date(ada, avery, priya):
    fee_line(ada, amount="150.00", days_ago=30)
    old = invoiced(avery, priya, ada, days_ago=3)
    fee_line(ada, amount="180.00", days_ago=1)
    new = invoiced(avery, priya, ada, days_ago=0)
    totals = {i.pk: i.total for i in with_totals(Invoice.objects.all())}
    assert totals == {old.pk: D("150.00"), new.pk: D("180.00")}
    assert services.invoice_total(old) == D("150.00")
    assert new.number == old.number + 1


# The database refuses a change ----------------------------------------------------------------


@pytest.mark.django_db
def test_no_fee_charge_invoice_or_entry_is_changed_or_deleted_in_the_database(ada, avery, priya):
    fee = fee_line(ada, amount="150.00")
    invoice = invoiced(avery, priya, ada)
    charge = Charge.objects.get()
    entry = pay(invoice, ada, "10.00")
    for sql, args in [
        ("UPDATE billing_fee SET amount = 1 WHERE id = %s", [fee.pk]),
        ("DELETE FROM billing_fee WHERE id = %s", [fee.pk]),
        ("UPDATE billing_charge SET amount = 1 WHERE id = %s", [charge.pk]),
        ("DELETE FROM billing_charge WHERE id = %s", [charge.pk]),
        ("UPDATE billing_invoice SET number = 999 WHERE id = %s", [invoice.pk]),
        ("DELETE FROM billing_invoice WHERE id = %s", [invoice.pk]),
        ("UPDATE billing_entry SET amount = 1 WHERE id = %s", [entry.pk]),
        ("DELETE FROM billing_entry WHERE id = %s", [entry.pk]),
        ("DELETE FROM billing_invoiceline WHERE charge_id = %s", [charge.pk]),
    ]:
        with (
            pytest.raises(DatabaseError, match="cannot be changed"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, args)
    entry.refresh_from_db()
    charge.refresh_from_db()
    assert (entry.amount, charge.amount) == (D("10.00"), D("150.00"))


@pytest.mark.django_db
def test_what_an_invoice_owes_is_kept_by_the_database_whoever_writes_the_rows(ada, avery, priya):
    """The triggers of kapflow.billing.db, for rows written past the services (as the demo's
    bulk loads write them): a line adds its charge, a payment takes its amount off, a refund puts
    it back; an entry that would take the invoice below zero is refused by its CHECK."""
    fee_line(ada, amount="150.00")
    invoice = invoiced(avery, priya, ada)

    def owed() -> int:
        return Invoice.objects.values_list("owed_cents", flat=True).get(pk=invoice.pk)

    assert owed() == 15000
    fields = {"invoice": invoice, "client": avery, "received_on": TODAY(), "created_by": ada}
    (payment,) = Entry.objects.bulk_create(
        [Entry(kind="payment", amount=D("100.10"), method="cash", **fields)]
    )
    assert owed() == 4990
    Entry.objects.create(
        kind="refund", amount=D("0.10"), method="cash", reason="Rounding", refund_of=payment, **fields
    )
    assert owed() == 5000
    with pytest.raises(IntegrityError), transaction.atomic():
        Entry.objects.create(kind="write_off", amount=D("50.01"), reason="Too much", **fields)
    Entry.objects.create(kind="write_off", amount=D("50.00"), reason="Hardship", **fields)
    assert owed() == 0 and balance_of(invoice) == 0


@pytest.mark.django_db
def test_a_record_read_before_the_database_kept_its_column_never_writes_the_old_value_back(ada, avery, priya):
    """kapflow.lib.kept: a visit (or invoice, or charge) saved whole from what it read before
    the trigger fired leaves the kept column as the database set it."""
    fee_line(ada, amount="150.00")
    visit = completed_visit(avery, priya)
    stale = Visit.objects.get(pk=visit.pk)
    (charge,) = services.visit_charge(request=ServiceRequest(ada), visit=visit)
    stale.cancel_reason = ""
    stale.save()
    assert Visit.objects.values_list("charged", flat=True).get(pk=visit.pk) is True
    invoice = Invoice.objects.get(pk=charge.invoice_line.invoice_id)
    assert invoice.owed_cents == 15000 and Charge.objects.get(pk=charge.pk).invoiced
    assert Visit.objects.filter(pk=visit.pk, charged=False).exists() is False


@pytest.mark.django_db
def test_only_the_database_itself_changes_what_an_invoice_owes(ada, avery, priya):
    fee_line(ada, amount="150.00")
    invoice = invoiced(avery, priya, ada)
    sql = "UPDATE billing_invoice SET owed_cents = 0 WHERE id = %s"
    if connection.vendor == "postgresql":
        with (
            pytest.raises(DatabaseError, match="cannot be changed"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [invoice.pk])
    else:
        # SQLite cannot tell a trigger's UPDATE from anyone's (kapflow.audit.immutable): the
        # column stays writable there, and docs/billing.md says so.
        with connection.cursor() as cursor:
            cursor.execute(sql, [invoice.pk])
        assert Invoice.objects.values_list("owed_cents", flat=True).get(pk=invoice.pk) == 0


# The client's account page --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_account_page_shows_the_balance_invoices_waiting_charges_and_visits_not_charged(
    ada, cora, avery, priya, login
):
    fee_line(ada, amount="150.00")
    paid = invoiced(avery, priya, ada, days_ago=5)
    pay(paid, cora, "150.00")
    part = invoiced(avery, priya, ada, days_ago=4)
    pay(part, cora, "40.00")
    invoiced(avery, priya, ada, days_ago=3)
    overdue = invoiced(avery, priya, ada, days_ago=2)
    Practice.objects.filter(pk=1).update(invoice_each_visit=False)
    charged_visit(avery, priya, ada, days_ago=1)  # waits for an invoice
    uncharged = completed_visit(avery, priya, days_ago=1.5)  # no charge: the schedule bills it
    # A completed visit of a kind with no line, and one whose lines are all free: not listed.
    completed_visit(avery, priya, kind=Visit.Kind.INTEGRATION)
    fee_line(ada, kind=Visit.Kind.DISCOVERY_CALL, code="", amount="0")
    completed_visit(avery, priya, kind=Visit.Kind.DISCOVERY_CALL)
    # Overdue: an invoice due yesterday (made so in the database, triggers lifted for the test).
    dated(overdue, issued_days_ago=40, due_days_ago=10)
    http = login(cora)
    response = http.get(reverse("client_billing:account", args=[avery.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "$410.00" in page  # 0 + 110 + 150 + 150 owed
    for words in ("Paid", "Part paid", "Owed", "Overdue"):
        assert f">{words}</span>" in page
    assert [row["status"] for row in response.context["rows"]] == ["Owed", "Part paid", "Paid", "Overdue"]
    assert len(response.context["waiting"]) == 1 and "Issue an invoice for these" in page
    assert [row.visit for row in response.context["uncharged"]] == [uncharged]
    assert "Charge at the fees of its day" in page
    assert AuditEvent.objects.filter(action="kapflow.billing.account.viewed", client=avery).exists()

    # Issue the waiting charge's invoice; charge the visit not charged (invoice each visit off).
    waiting = response.context["waiting"][0]
    response = http.post(reverse("client_billing:issue", args=[avery.pk]), {"charge": [waiting.pk]})
    invoice = Invoice.objects.order_by("-number").first()
    assert response.status_code == 302 and response["Location"].endswith(f"/invoices/{invoice.pk}/")
    assert invoice.lines.get().charge == waiting
    response = http.post(reverse("client_billing:charge_visit", args=[avery.pk, uncharged.pk]))
    assert response.status_code == 302
    (charge,) = Charge.objects.filter(visit=uncharged)
    assert charge.amount == D("150.00") and charge.created_by == cora
    # Issuing again: nothing listed waits any more.
    response = http.post(
        reverse("client_billing:issue", args=[avery.pk]), {"charge": [waiting.pk]}, follow=True
    )
    assert "Nothing listed is waiting" in response.content.decode()


@pytest.mark.django_db
def test_a_long_account_lists_the_newest_invoices_and_every_one_owed_and_can_show_all(
    ada, cora, avery, priya, login
):
    fee_line(ada, amount="100.00")
    made = [invoiced(avery, priya, ada, days_ago=20 - n) for n in range(15)]  # oldest first
    for invoice in made[1:]:
        pay(invoice, cora, "100.00")
    http = login(cora)
    url = reverse("client_billing:account", args=[avery.pk])
    response = http.get(url)
    shown = [row["invoice"].pk for row in response.context["rows"]]
    # The twelve newest, newest first, then the oldest: paid long ago it would be hidden, but it
    # is still owed.
    assert shown == [invoice.pk for invoice in reversed(made[3:])] + [made[0].pk]
    page = response.content.decode()
    assert "13 of 15 invoices" in page and "?invoices=all" in page
    assert "$100.00" in page  # the balance is of every invoice
    response = http.get(url + "?invoices=all")
    assert len(response.context["rows"]) == 15 and "Show all" not in response.content.decode()


@pytest.mark.django_db
def test_the_billing_profile_checks_the_npi_and_audits_the_names_of_what_changed(cora, avery, login):
    http = login(cora)
    url = reverse("client_billing:profile", args=[avery.pk])
    form = {
        "self_pay": "on",
        "insurer": "Blue Shield",
        "member_id": "XQZ123",
        "referring_name": "Dr. Rivera",
        "referring_npi": "1234567890",
    }
    response = http.post(url, form)
    assert response.status_code == 200
    page = response.content.decode()
    assert "check digit does not match" in page and 'value="XQZ123"' in page
    assert not BillingProfile.objects.exists()
    response = http.post(url, form | {"referring_npi": "1234567893"})
    assert response.status_code == 302
    profile = BillingProfile.objects.get(client=avery)
    assert (profile.member_id, profile.referring_npi, profile.updated_by) == ("XQZ123", "1234567893", cora)
    response = http.post(url, form | {"referring_npi": "1234567893", "member_id": "NEW999"})
    assert response.status_code == 302
    rows = AuditEvent.objects.filter(action="kapflow.billing.profile.changed", client=avery).order_by("pk")
    assert rows.count() == 2
    assert rows.last().detail == {"changed": ["member_id"]}
    assert "NEW999" not in str(rows.last().detail) and "XQZ123" not in str(rows.first().detail)
    assert BillingProfile.objects.count() == 1


# An invoice -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_invoice_page_shows_lines_and_entries_and_takes_a_payment(ada, cora, avery, priya, login):
    fee_line(ada, amount="150.00", modifiers="25")
    invoice = invoiced(avery, priya, ada)
    http = login(cora)
    url = reverse("client_billing:invoice", args=[avery.pk, invoice.pk])
    page = http.get(url).content.decode()
    for shown in ("99214", "25 95", "Priya Prescriber", "$150.00", "Progress review", "Record a payment"):
        assert shown in page, shown
    # The coordinator is not offered a refund or a write-off, and is refused them outright.
    assert "Refund a payment" not in page and "Write it off" not in page
    payment_url = reverse("client_billing:payment", args=[avery.pk, invoice.pk])
    form = {"amount": "150.01", "method": "card", "reference": "T-88", "received_on": TODAY().isoformat()}
    response = http.post(payment_url, form)
    assert response.status_code == 200
    page = response.content.decode()
    assert "has $150.00 owed: $150.01 cannot be paid" in page and 'value="150.01"' in page
    assert http.post(payment_url, form | {"amount": "12.345"}).status_code == 200
    assert not Entry.objects.exists()
    response = http.post(payment_url, form | {"amount": "$100"})
    assert response.status_code == 302
    entry = Entry.objects.get()
    assert (entry.amount, entry.method, entry.reference, entry.created_by) == (
        D("100.00"),
        "card",
        "T-88",
        cora,
    )
    for name in ("refund", "write_off"):
        assert (
            http.post(reverse(f"client_billing:{name}", args=[avery.pk, invoice.pk]), {}).status_code == 403
        )
    # The admin refunds part of it, and writes off some of the rest.
    admin = login(ada)
    page = admin.get(url).content.decode()
    assert "Refund a payment" in page and "Write it off" in page
    refund = {
        "payment": entry.pk,
        "amount": "30.00",
        "method": "card",
        "reason": "Session cut short",
        "received_on": TODAY().isoformat(),
    }
    refund_url = reverse("client_billing:refund", args=[avery.pk, invoice.pk])
    response = admin.post(refund_url, refund | {"amount": "100.01"})
    assert response.status_code == 200 and "Only $100.00 of that payment is left" in response.content.decode()
    assert admin.post(refund_url, refund).status_code == 302
    write_off = {"amount": "20.00", "reason": "Hardship", "received_on": TODAY().isoformat()}
    assert (
        admin.post(reverse("client_billing:write_off", args=[avery.pk, invoice.pk]), write_off).status_code
        == 302
    )
    assert balance_of(invoice) == D("60.00")
    page = http.get(url).content.decode()
    assert "Session cut short" in page and "Hardship" in page and "$60.00" in page
    assert ">Part paid</span>" in page


@pytest.mark.django_db
def test_a_payment_form_sent_twice_is_recorded_once(ada, cora, avery, priya, login):
    fee_line(ada, amount="150.00")
    invoice = invoiced(avery, priya, ada)
    payment_url = reverse("client_billing:payment", args=[avery.pk, invoice.pk])
    key = str(uuid.uuid4())
    form = {"amount": "50", "method": "cash", "received_on": TODAY().isoformat(), "entry_key": key}
    http = login(cora)
    assert http.post(payment_url, form).status_code == 302
    assert http.post(payment_url, form).status_code == 302  # the double click
    assert Entry.objects.get().amount == D("50.00") and balance_of(invoice) == D("100.00")
    # A new form (a new key) is a new payment.
    assert http.post(payment_url, form | {"entry_key": str(uuid.uuid4())}).status_code == 302
    assert Entry.objects.count() == 2


def test_an_invoice_of_another_client_is_not_found(ada, cora, avery, olive, priya, colin, login):
    fee_line(ada, amount="150.00")
    invoice = invoiced(olive, colin, ada)
    http = login(cora)
    assert http.get(reverse("client_billing:invoice", args=[avery.pk, invoice.pk])).status_code == 404
    assert (
        http.post(reverse("client_billing:payment", args=[avery.pk, invoice.pk]), {"amount": "1"}).status_code
        == 404
    )
    visit = completed_visit(olive, colin)
    assert http.post(reverse("client_billing:charge_visit", args=[avery.pk, visit.pk])).status_code == 404


# The practice's billing page ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_billing_page_shows_what_is_owed_by_client_and_by_age(
    ada, cora, avery, olive, priya, colin, login
):
    fee_line(ada, amount="150.00")
    invoiced(avery, priya, ada)
    late = invoiced(olive, colin, ada)
    pay(late, cora, "25.00")
    dated(late, issued_days_ago=80, due_days_ago=45)
    Practice.objects.filter(pk=1).update(invoice_each_visit=False)
    charged_visit(avery, priya, ada)
    completed_visit(olive, colin, days_ago=2)
    response = login(cora).get(reverse("billing:overview"))
    assert response.status_code == 200
    owed = response.context["owed"]
    assert [(d.client, d.balance) for d in owed.debtors] == [(olive, D("125.00")), (avery, D("150.00"))]
    assert owed.by_age["current"] == D("150.00") and owed.by_age["31_60"] == D("125.00")
    assert owed.total == D("275.00") == client_balance(avery) + client_balance(olive)
    assert [row["client"] for row in response.context["waiting"]] == [avery]
    assert [row.visit.client for row in response.context["uncharged"]] == [olive]
    page = response.content.decode()
    assert "31–60 days overdue" in page and "$275.00" in page
    # Each row links to its own client's account (the URL is reversed once for every row).
    for client, times in ((avery, 2), (olive, 2)):  # owed, and waiting for an invoice or not charged
        assert page.count(f'href="{reverse("client_billing:account", args=[client.pk])}"') == times
    row = AuditEvent.objects.get(action="kapflow.billing.overview.viewed")
    assert row.detail == {"clients": sorted([avery.pk, olive.pk])}


@pytest.mark.django_db
def test_what_is_owed_is_summed_by_the_age_of_each_invoice_on_both_sides_of_every_edge(
    ada, cora, avery, olive, priya, colin
):
    """Each open invoice counts in the column of its days overdue, at each column's first and
    last day; the debtors come oldest due first, each with their count of invoices; the scope
    given is kept."""
    from kapflow.billing.accounts import owed_by_client
    from kapflow.clients.models import Client

    fee_line(ada, amount="150.00")
    today = TODAY()
    column = {
        -3: "current", 0: "current", 1: "1_30", 30: "1_30", 31: "31_60",
        60: "31_60", 61: "61_90", 90: "61_90", 91: "over_90", 400: "over_90",
    }  # fmt: skip
    invoices = [invoiced(*((avery, priya) if n % 2 else (olive, colin)), ada) for n in range(len(column))]
    pay(invoices[3], cora, "0.37")
    for invoice, days in zip(invoices, column, strict=True):
        dated(invoice, issued_days_ago=days + 30, due_days_ago=days)
    expected = {}
    for invoice, days in zip(invoices, column, strict=True):
        key = (invoice.client_id, column[days])
        expected[key] = expected.get(key, Decimal("0")) + services.invoice_balance(invoice)
    owed = owed_by_client(Client.objects.all(), today)
    found = {
        (debtor.client_id, key): amount
        for debtor in owed.debtors
        for key, amount in debtor.by_age.items()
        if amount
    }
    assert found == expected
    assert expected[(avery.pk, "1_30")] == Decimal("149.63")  # the part paid is not owed
    assert [d.client_id for d in owed.debtors] == [avery.pk, olive.pk]  # the oldest due day first
    assert owed.debtors[0].oldest_due == today - datetime.timedelta(days=400)
    assert [d.invoices for d in owed.debtors] == [5, 5]
    assert owed.total == sum(expected.values()) == sum(d.balance for d in owed.debtors)
    only_avery = owed_by_client(Client.objects.filter(pk=avery.pk), today)
    assert [d.client_id for d in only_avery.debtors] == [avery.pk]
    assert only_avery.total == sum(amount for (who, _key), amount in expected.items() if who == avery.pk)


@pytest.mark.django_db
def test_the_navigation_and_the_chart_link_to_billing_only_for_coordinators_and_admins(
    cora, ada, tess, avery, login
):
    for who, shown in ((cora, True), (ada, True), (tess, False)):
        page = login(who).get(reverse("clients:chart", args=[avery.pk])).content.decode()
        assert (reverse("billing:overview") in page) is shown, who
        assert (reverse("client_billing:account", args=[avery.pk]) in page) is shown, who


def _clients_with_invoices(count, ada, clinician):
    """`count` clients, each with an invoice part paid, a charge waiting and a visit not charged."""
    if not Fee.objects.exists():
        fee_line(ada, amount="150.00")
    for _ in range(count):
        client = factories.make_client(therapist=clinician)
        pay(invoiced(client, clinician, ada, days_ago=3), ada, "10.00")
        completed_visit(client, clinician, days_ago=2)  # not charged
        Practice.objects.filter(pk=1).update(invoice_each_visit=False)
        charged_visit(client, clinician, ada, days_ago=1)  # waits for an invoice
        Practice.objects.filter(pk=1).update(invoice_each_visit=True)


@pytest.mark.django_db
def test_the_billing_page_runs_the_same_queries_for_3_clients_as_for_30(ada, cora, tess, login):
    http = login(cora)
    http.get(reverse("billing:overview"))  # the session's first request (MFA's look) not counted

    def counted() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert http.get(reverse("billing:overview")).status_code == 200
        return len(queries)

    Practice.load()
    _clients_with_invoices(3, ada, tess)
    small = counted()
    _clients_with_invoices(27, ada, tess)
    large = counted()
    response = http.get(reverse("billing:overview"))
    assert len(response.context["owed"].debtors) == 30 and len(response.context["uncharged"]) == 30
    assert len(response.context["waiting"]) == 30
    assert small == large, (small, large)


@pytest.mark.django_db
def test_the_billing_pages_lists_show_the_oldest_and_all_on_asking(ada, cora, tess, login, monkeypatch):
    """The clients waiting for an invoice and the visits not charged: the oldest LIST_CAP of each,
    a line that says how many there are with "Show all", and every row on asking; the audit row
    names the clients shown, and the pages of what is owed keep the choice."""
    from kapflow.billing import views

    monkeypatch.setattr(views, "LIST_CAP", 2)
    _clients_with_invoices(3, ada, tess)
    http = login(cora)
    url = reverse("billing:overview")
    response = http.get(url)
    waiting, uncharged = response.context["waiting"], response.context["uncharged"]
    assert (len(waiting), waiting.total, len(uncharged), uncharged.total) == (2, 3, 2, 3)
    page = response.content.decode()
    assert "The oldest 2 of 3 clients are shown." in page and "The oldest 2 of 3 visits are shown." in page
    assert 'href="?waiting=all#waiting-h"' in page and 'href="?uncharged=all#uncharged-h"' in page
    shown = {row["client"].pk for row in waiting} | {row.visit.client_id for row in uncharged}
    shown |= {debtor.client.pk for debtor in response.context["page"].object_list}
    assert AuditEvent.objects.filter(action="kapflow.billing.overview.viewed").last().detail == {
        "clients": sorted(shown)
    }
    response = http.get(url, {"waiting": "all"})
    assert len(response.context["waiting"]) == 3 and len(response.context["uncharged"]) == 2
    page = response.content.decode()
    assert "All 3 clients are shown." in page and 'href="?#waiting-h"' in page
    # Paging what is owed keeps the whole list that was asked for.
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    page = http.get(url, {"waiting": "all"}).content.decode()
    assert 'href="?waiting=all&amp;page=2"' in page


# Nothing clinical on the billing pages ---------------------------------------------------------

SECRET = "Spoke of the lighthouse dream and her brother's letter."


@pytest.mark.django_db
def test_the_coordinator_reading_every_billing_page_never_sees_a_note(ada, cora, tess, avery, login):
    fee_line(ada, kind=Visit.Kind.THERAPY, code="90834", amount="150.00")
    visit = held_visit(avery, tess)
    factories.sign_note(visit, tess, subjective=SECRET, data=SECRET, plan=SECRET + " Plan.")
    Practice.objects.filter(pk=1).update(invoice_each_visit=False)
    factories.sign_note(
        held_visit(avery, tess, days_ago=2), tess, subjective=SECRET, data=SECRET, plan=SECRET
    )
    Practice.objects.filter(pk=1).update(invoice_each_visit=True)
    completed = held_visit(avery, tess, days_ago=3)
    Visit.objects.filter(pk=completed.pk).update(status=Visit.Status.COMPLETED)
    invoice = Invoice.objects.get()
    http = login(cora)
    pages = [
        reverse("billing:overview"),
        reverse("client_billing:account", args=[avery.pk]),
        reverse("client_billing:invoice", args=[avery.pk, invoice.pk]),
    ]
    for url in pages:
        response = http.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert "lighthouse" not in page and "Plan." not in page, url
        assert "90834" in page or url == pages[0]
    # And a form that comes back with errors shows none either.
    response = http.post(reverse("client_billing:payment", args=[avery.pk, invoice.pk]), {"amount": "x"})
    assert response.status_code == 200 and "lighthouse" not in response.content.decode()


# Two people at once -----------------------------------------------------------------------------


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
    @pytest.fixture(autouse=True)
    def _triggers(self, db):
        install_triggers(connection)
        yield
        drop_triggers(connection)

    def test_two_payments_of_the_last_balance_cannot_both_pass(self, ada, cora, avery, priya, monkeypatch):
        fee_line(ada, amount="200.00")
        invoice = invoiced(avery, priya, ada)
        slowed(monkeypatch, services, "invoice_balance")
        results = race(lambda: pay(invoice, cora, "200.00"), lambda: pay(invoice, ada, "200.00"))
        recorded = [r for r in results if isinstance(r, Entry)]
        refused = [r for r in results if isinstance(r, BillingRefused)]
        assert len(recorded) == 1 and len(refused) == 1, results
        assert "$0.00 owed" in str(refused[0])
        assert balance_of(invoice) == D("0.00")

    def test_two_issuers_never_repeat_a_number_or_bill_a_charge_twice(
        self, ada, cora, avery, olive, priya, colin, monkeypatch
    ):
        fee_line(ada, amount="150.00")
        Practice.load()
        Practice.objects.filter(pk=1).update(invoice_each_visit=False)
        for client, clinician in ((avery, priya), (olive, colin)):
            charged_visit(client, clinician, ada, days_ago=2)
            charged_visit(client, clinician, ada, days_ago=1)
        read = services.uninvoiced

        def counted_then_paused(client):
            waiting = read(client)
            ids = [charge.pk for charge in waiting]
            import time

            time.sleep(0.4)
            return waiting.filter(pk__in=ids)

        monkeypatch.setattr(services, "uninvoiced", counted_then_paused)
        results = race(
            lambda: services.invoice_issue(request=ServiceRequest(cora), client=avery),
            lambda: services.invoice_issue(request=ServiceRequest(ada), client=avery),
            lambda: services.invoice_issue(request=ServiceRequest(ada), client=olive),
        )
        issued = [r for r in results if isinstance(r, Invoice)]
        refused = [r for r in results if not isinstance(r, Invoice)]
        assert len(issued) == 2 and len(refused) == 1, results
        assert isinstance(refused[0], BillingRefused | DatabaseError)
        numbers = list(Invoice.objects.values_list("number", flat=True))
        assert sorted(numbers) == [1, 2]
        assert InvoiceLine.objects.count() == Charge.objects.count() == 4
        assert client_balance(avery) == client_balance(olive) == D("300.00")
