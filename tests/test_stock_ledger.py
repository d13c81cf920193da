"""Issue 17, item 1: the stock pages and every ledger entry a person posts from them
(docs/stock-ledger.md): receipts (a new lot or one the practice holds), transfers, returns,
destruction by a reverse distributor or on site before two witnesses, the reversal of an entry,
and a dose posted to the lot it came from after its posting was reversed."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from hypothesis import given
from hypothesis import strategies as st

from kapflow.audit import immutable
from kapflow.controlled import ledger, stock
from kapflow.controlled.ledger import LedgerRefused
from kapflow.controlled.models import Entry, Lot
from kapflow.lib.identifiers import DEA_NUMBER_PROBLEM
from tests import factories
from tests.matrix_stock import dose_posted, given_dose, start_ledger, tablet_lot
from tests.test_hostile_input import HOSTILE, HUGE_IDS, hostile_value

SUPPLIER_DEA = "AB1234563"  # 1 + 3 + 5 + 2 × (2 + 4 + 6) = 33: check digit 3


def dea(prefix: str, six: str) -> str:
    d = [int(c) for c in six]
    return f"{prefix}{six}{(d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10}"


RECIPIENT_DEA = dea("FR", "246801")
PASSWORD = "witness-pass-2026"


@pytest.fixture
def started(ada):
    start_ledger(ada)


@pytest.fixture
def lot(started, ada):
    return tablet_lot(ada, lot_number="T-100")


@pytest.fixture
def wendy(db):
    return factories.make_user(
        "Wendy Witness", roles=("is_therapist",), email="wendy@example.org", mfa=False, password=PASSWORD
    )


@pytest.fixture
def walt(db):
    return factories.make_user(
        "Walt Witness", roles=("is_therapist",), email="walt@example.org", mfa=False, password=PASSWORD
    )


def new_lot_receipt(**overrides) -> dict:
    today = timezone.localdate()
    data = {
        "which": "new",
        "drug": "ketamine",
        "product": "Ketamine HCl injection, 10 mL multi-dose vial",
        "form": "vial",
        "strength_mg": "50",
        "container_quantity": "10",
        "ndc": "0409-2051-05",
        "lot_number": "KV-2026-01",
        "expires_on": (today + datetime.timedelta(days=400)).isoformat(),
        "containers": "5",
        "received_on": today.isoformat(),
        "supplier_name": "Henry Schein Medical",
        "supplier_address": "135 Duryea Rd, Melville, NY",
        "supplier_dea_number": SUPPLIER_DEA,
        "reference": "INV-88231",
    }
    return data | overrides


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# Receipts ---------------------------------------------------------------------------------


def test_it_receives_a_new_lot_with_its_entry_and_balance(login, priya, started):
    http = login(priya)
    response = http.post(reverse("controlled:receipt"), new_lot_receipt(received_by=priya.pk))
    lot = Lot.objects.get(lot_number="KV-2026-01")
    assert response.status_code == 302 and response["Location"] == reverse("controlled:lot", args=[lot.pk])
    [entry] = lot.entries.all()
    assert (entry.kind, entry.quantity, entry.balance_after, entry.containers) == (
        Entry.Kind.RECEIPT,
        Decimal("50"),
        Decimal("50"),
        5,
    )
    assert (entry.party_name, entry.party_dea_number, entry.document_reference) == (
        "Henry Schein Medical",
        SUPPLIER_DEA,
        "INV-88231",
    )
    assert entry.person == priya and entry.recorded_by == priya and lot.created_by == priya
    assert ledger.balance(lot) == Decimal("50")
    page = text(http.get(response["Location"]))
    assert "5 × 10 mL = 50 mL (2500 mg)" in page
    assert "50 mL (2500 mg)" in page and "Henry Schein Medical" in page


def test_it_receives_into_a_lot_the_practice_holds(login, ada, priya, lot):
    response = login(ada).post(
        reverse("controlled:receipt"),
        new_lot_receipt(which="existing", lot=lot.pk, containers="2", received_by=priya.pk),
    )
    assert response.status_code == 302
    latest = lot.entries.order_by("-sequence").first()
    # Two containers of 100 tablets on top of the 100 the lot held.
    assert (latest.quantity, latest.balance_after, latest.person) == (Decimal("200"), Decimal("300"), priya)
    assert Lot.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("supplier_dea_number", "AB1234564", DEA_NUMBER_PROBLEM),
        ("supplier_dea_number", "1234567AB", DEA_NUMBER_PROBLEM),
        ("ndc", "12345678901", "ten digits in three groups"),
        ("ndc", "", "tick “compounded: no NDC”"),
        ("received_on", "2100-01-01", "in the future"),
        ("expires_on", "2020-01-01", "expired"),
        ("containers", "0", "greater than or equal to 1"),
        ("strength_mg", "", "Give the strength"),
    ],
)
def test_a_receipt_that_does_not_check_out_comes_back_with_what_was_typed(
    login, priya, started, field, value, says
):
    data = new_lot_receipt(received_by=priya.pk, **{field: value})
    response = login(priya).post(reverse("controlled:receipt"), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert escape(says) in page or says in page
    assert 'id="form-errors"' in page
    for kept in ("Henry Schein Medical", "135 Duryea Rd, Melville, NY", "INV-88231"):
        assert kept in page
    assert not Lot.objects.exists() and not Entry.objects.exists()


def test_a_compounded_product_is_received_without_an_ndc(login, priya, started):
    data = new_lot_receipt(
        received_by=priya.pk,
        form="tablet",
        ndc="",
        compounded="on",
        strength_mg="100",
        container_quantity="30",
    )
    assert login(priya).post(reverse("controlled:receipt"), data).status_code == 302
    assert Lot.objects.get().ndc == ""


def test_a_lot_described_again_is_sent_to_choose_it(login, priya, started):
    http = login(priya)
    http.post(reverse("controlled:receipt"), new_lot_receipt(received_by=priya.pk))
    again = new_lot_receipt(received_by=priya.pk, lot_number="kv-2026-01 ")
    response = http.post(reverse("controlled:receipt"), again)
    assert response.status_code == 200
    assert "is recorded already: choose it under" in text(response)
    assert Lot.objects.count() == 1 and Entry.objects.count() == 1


def test_a_receipt_is_refused_before_the_initial_inventory(login, priya):
    response = login(priya).post(reverse("controlled:receipt"), new_lot_receipt(received_by=priya.pk))
    assert response.status_code == 200
    assert "starts with the initial inventory" in text(response)
    assert not Lot.objects.exists()
    page = text(login(priya).get(reverse("controlled:stock")))
    assert "The stock ledger has not started yet." in page
    assert f'<a href="{reverse("inventory:initial")}">Take the initial inventory</a>' in page


def test_the_person_receiving_keeps_the_ledger(priya, tess, started):
    with pytest.raises(LedgerRefused, match="does not keep the stock ledger"):
        stock.lot_receive(
            actor=priya,
            received_by=tess,
            containers=1,
            received_on=timezone.localdate(),
            supplier_name="S",
            supplier_address="A",
            supplier_dea_number=SUPPLIER_DEA,
            reference="R",
            new_lot=Lot(
                drug="ketamine",
                product="P",
                form="vial",
                strength_mg=Decimal("10"),
                container_quantity=Decimal("20"),
                ndc="0409-2051-05",
                lot_number="X",
                expires_on=timezone.localdate() + datetime.timedelta(days=30),
            ),
        )


# Stock sent out -------------------------------------------------------------------------------


def send(**overrides) -> dict:
    data = {
        "quantity": "10",
        "occurred_on": timezone.localdate().isoformat(),
        "party_name": "Valley Ketamine Clinic",
        "party_address": "2 Oak Ave, Burbank, CA",
        "party_dea_number": RECIPIENT_DEA,
        "reference": "TR-7",
    }
    return data | overrides


def test_a_transfer_is_posted_with_the_registrant(login, priya, lot):
    response = login(priya).post(reverse("controlled:transfer", args=[lot.pk]), send(person=priya.pk))
    assert response.status_code == 302
    entry = lot.entries.order_by("-sequence").first()
    assert (entry.kind, entry.quantity, entry.balance_after) == (
        Entry.Kind.TRANSFER,
        Decimal("-10"),
        Decimal("90"),
    )
    assert (entry.party_name, entry.party_dea_number, entry.document_reference) == (
        "Valley Ketamine Clinic",
        RECIPIENT_DEA,
        "TR-7",
    )


def test_a_transfer_below_zero_is_refused_naming_the_balance(login, priya, lot):
    response = login(priya).post(
        reverse("controlled:transfer", args=[lot.pk]), send(person=priya.pk, quantity="100.5")
    )
    assert response.status_code == 200
    assert "Lot T-100 holds 100 tablets (10000 mg): 100.5 tablets cannot be taken from it." in text(response)
    assert "Valley Ketamine Clinic" in text(response)  # what was typed is kept
    assert lot.entries.count() == 1


def test_a_return_needs_the_suppliers_dea_number(login, ada, lot):
    response = login(ada).post(
        reverse("controlled:return", args=[lot.pk]), send(person=ada.pk, party_dea_number="XX0000001")
    )
    assert response.status_code == 200 and escape(DEA_NUMBER_PROBLEM) in response.content.decode()
    response = login(ada).post(reverse("controlled:return", args=[lot.pk]), send(person=ada.pk))
    assert response.status_code == 302
    assert lot.entries.order_by("-sequence").first().kind == Entry.Kind.RETURN


def test_a_destruction_by_a_reverse_distributor_names_it(login, priya, lot):
    url = reverse("controlled:destruction", args=[lot.pk])
    data = {
        "method": "reverse_distributor",
        "quantity": "5",
        "occurred_on": timezone.localdate().isoformat(),
        "person": priya.pk,
        "reference": "F41-0012",
        "reason": "Expired",
    }
    response = login(priya).post(url, data)
    assert response.status_code == 200 and "Needed when a reverse distributor takes the stock." in text(
        response
    )
    response = login(priya).post(
        url, data | {"party_name": "EXP Pharmaceutical", "party_dea_number": RECIPIENT_DEA}
    )
    assert response.status_code == 302
    entry = lot.entries.order_by("-sequence").first()
    assert (entry.kind, entry.quantity, entry.party_name, entry.witness) == (
        Entry.Kind.DESTRUCTION,
        Decimal("-5"),
        "EXP Pharmaceutical",
        None,
    )


def on_site(person, first_email, second_email, first_password=PASSWORD, **overrides) -> dict:
    data = {
        "method": "on_site",
        "quantity": "3",
        "occurred_on": timezone.localdate().isoformat(),
        "person": person.pk,
        "reference": "F41-0013",
        "reason": "Damaged tablets, rendered non-retrievable in a denaturing kit",
        "witness_email": first_email,
        "witness_password": first_password,
        "second_witness_email": second_email,
        "second_witness_password": PASSWORD,
    }
    return data | overrides


def test_a_destruction_on_site_is_witnessed_by_two_confirmed_people(
    login, priya, lot, wendy, walt, audit_rows
):
    response = login(priya).post(
        reverse("controlled:destruction", args=[lot.pk]), on_site(priya, wendy.email, walt.email)
    )
    assert response.status_code == 302
    entry = lot.entries.order_by("-sequence").first()
    assert (entry.kind, entry.quantity, entry.witness, entry.second_witness) == (
        Entry.Kind.DESTRUCTION,
        Decimal("-3"),
        wendy,
        walt,
    )
    assert entry.witness_confirmed_at and entry.second_witness_confirmed_at
    confirmed = audit_rows("kapflow.accounts.witness.confirmed")
    assert [row.detail["user"] for row in confirmed] == [wendy.pk, walt.pk]
    assert all(row.actor == priya and row.detail["purpose"] == "destruction" for row in confirmed)


def test_a_wrong_witness_password_is_refused_and_audited(login, priya, lot, wendy, walt, audit_rows):
    response = login(priya).post(
        reverse("controlled:destruction", args=[lot.pk]),
        on_site(priya, wendy.email, walt.email, first_password="wrong"),
    )
    assert response.status_code == 200
    page = text(response)
    assert "First witness: The witness&#x27;s email and password do not match." in page
    assert PASSWORD not in page  # a password is never sent back
    assert lot.entries.count() == 1
    [refused] = audit_rows("kapflow.accounts.witness.refused")
    assert refused.actor == priya and refused.detail == {"purpose": "destruction", "step": "password"}


@pytest.mark.parametrize("who", ["same twice", "the person destroying"])
def test_the_two_witnesses_are_two_people_other_than_the_one_destroying(login, ada, lot, wendy, walt, who):
    if who == "same twice":
        data, says = on_site(ada, wendy.email, wendy.email.upper()), "two different people"
    else:
        # Ada is no clinician, so a witness she cannot be either way; Wendy destroys here.
        wendy.is_prescriber = True
        wendy.save()
        data, says = on_site(wendy, wendy.email, walt.email), "cannot also witness it"
    response = login(ada).post(reverse("controlled:destruction", args=[lot.pk]), data)
    assert response.status_code == 200 and says in text(response)
    assert lot.entries.count() == 1


def test_the_database_refuses_a_witness_who_is_the_person_destroying(priya, lot):
    with pytest.raises(DatabaseError), transaction.atomic():
        Entry.objects.create(
            lot=lot,
            sequence=2,
            kind=Entry.Kind.DESTRUCTION,
            quantity=Decimal("-1"),
            balance_after=Decimal("99"),
            occurred_at=timezone.now(),
            person=priya,
            recorded_by=priya,
            witness=lot.created_by,
            witness_confirmed_at=timezone.now(),
            second_witness=priya,
            second_witness_confirmed_at=timezone.now(),
        )


# Corrections and doses ---------------------------------------------------------------------


def test_an_entry_is_reversed_once_with_its_reason(login, priya, lot):
    receipt = lot.entries.get()
    url = reverse("controlled:correction", args=[lot.pk, receipt.pk])
    http = login(priya)
    assert http.post(url, {"reason": "   "}).status_code == 200
    response = http.post(url, {"reason": "Entered twice: the invoice was the same delivery"})
    assert response.status_code == 302
    correction = lot.entries.order_by("-sequence").first()
    assert (correction.kind, correction.quantity, correction.balance_after, correction.reverses) == (
        Entry.Kind.CORRECTION,
        Decimal("-100"),
        Decimal("0"),
        receipt,
    )
    assert "reversed by #2" in text(http.get(reverse("controlled:lot", args=[lot.pk])))
    # Twice: the page says so, and a form sent anyway is refused.
    assert "was reversed already, by entry #2" in text(http.get(url))
    response = http.post(url, {"reason": "again"})
    assert response.status_code == 200 and "That entry has been reversed already." in text(response)
    # A correction is not itself reversed.
    response = http.post(reverse("controlled:correction", args=[lot.pk, correction.pk]), {"reason": "undo"})
    assert "A correction is not reversed" in text(response)
    assert lot.entries.count() == 2


def test_a_reversed_dose_is_posted_to_the_lot_it_came_from(login, priya, tess, avery, lot, ada, audit_rows):
    other = tablet_lot(ada, lot_number="T-200")
    administration = given_dose(avery, priya, tess)
    posting = dose_posted(administration, lot)
    http = login(priya)
    repost = reverse("controlled:dose_repost", args=[lot.pk, posting.pk])
    # Not while the dose is still posted.
    assert "This dose is still posted to lot T-100." in text(http.get(repost))
    response = http.post(
        reverse("controlled:correction", args=[lot.pk, posting.pk]), {"reason": "Wrong lot: vial was T-200"}
    )
    assert response.status_code == 302 and response["Location"] == repost
    page = text(http.get(repost))
    assert "The runbook&#x27;s record of the dose" in page and avery.display_name in page
    # The lot it was wrongly posted to is not offered again.
    response = http.post(repost, {"lot": lot.pk, "reason": "x"})
    assert response.status_code == 200 and lot.entries.count() == 3
    response = http.post(repost, {"lot": other.pk, "reason": "The tablets came from T-200"})
    assert response.status_code == 302
    moved = other.entries.order_by("-sequence").first()
    assert (
        moved.kind,
        moved.administration,
        moved.client,
        moved.quantity,
        moved.person,
        moved.recorded_by,
    ) == (
        Entry.Kind.ADMINISTRATION,
        administration,
        avery,
        Decimal("-2"),
        tess,
        priya,
    )
    assert stock.posted_for_dose(administration) == Decimal("-2")
    assert (
        f'This dose is posted to lot T-200, as <a href="{reverse("controlled:lot", args=[other.pk])}">'
        in text(http.get(repost))
    )
    # Once only.
    with pytest.raises(LedgerRefused, match="still posted"):
        stock.dose_repost(actor=priya, administration=administration, lot=other, reason="again")
    opened = audit_rows("kapflow.controlled.entry.opened")
    assert opened and all(row.client == avery for row in opened)


def test_the_lot_page_audits_the_clients_it_names(login, priya, tess, avery, olive, colin, lot, audit_rows):
    dose_posted(given_dose(avery, priya, tess), lot)
    dose_posted(given_dose(olive, priya, colin), lot)
    page = text(login(priya).get(reverse("controlled:lot", args=[lot.pk])))
    assert avery.display_name in page and olive.display_name in page
    [row] = audit_rows("kapflow.controlled.lot.viewed")
    assert row.detail["clients"] == sorted([avery.pk, olive.pk]) and row.actor == priya


def test_the_ledger_is_shown_newest_or_oldest_first_a_page_at_a_time(login, priya, lot, monkeypatch):
    from kapflow.controlled import stock_views

    monkeypatch.setattr(stock_views, "ENTRIES_PER_PAGE", 2)
    for n in range(4):
        stock.stock_send(
            actor=priya,
            lot=lot,
            kind=Entry.Kind.RETURN,
            quantity=Decimal(1),
            occurred_on=timezone.localdate(),
            person=priya,
            party_name="Supplier",
            party_address="Somewhere",
            party_dea_number=SUPPLIER_DEA,
            reference=f"R{n}",
        )
    http = login(priya)
    url = reverse("controlled:lot", args=[lot.pk])
    newest = http.get(url)
    assert [row["entry"].sequence for row in newest.context["rows"]] == [5, 4]
    assert "Ledger, newest first" in text(newest) and "Page 1 of 3" in text(newest)
    oldest = http.get(url, {"order": "oldest", "page": "3"})
    assert [row["entry"].sequence for row in oldest.context["rows"]] == [5]
    assert "Ledger, oldest first" in text(oldest)


# The stock page ----------------------------------------------------------------------------------


def test_the_stock_page_marks_expiry_in_words_and_hides_empty_lots(login, ada, lot):
    today = timezone.localdate()
    expiring = Lot.objects.create(
        drug="ketamine",
        product="Ketamine 10 mg/mL",
        form="vial",
        strength_mg=Decimal("10"),
        container_quantity=Decimal("20"),
        ndc="0409-2053-10",
        lot_number="EXP-SOON",
        expires_on=today + datetime.timedelta(days=10),
        created_by=ada,
    )
    ledger.entry_post(
        lot=expiring,
        kind=Entry.Kind.OPENING,
        quantity=Decimal("20"),
        occurred_at=timezone.now(),
        person=ada,
        recorded_by=ada,
    )
    expired = Lot.objects.create(
        drug="ketamine",
        product="Ketamine 10 mg/mL",
        form="vial",
        strength_mg=Decimal("10"),
        container_quantity=Decimal("20"),
        ndc="0409-2053-10",
        lot_number="EXP-PAST",
        expires_on=today - datetime.timedelta(days=1),
        created_by=ada,
    )
    ledger.entry_post(
        lot=expired,
        kind=Entry.Kind.OPENING,
        quantity=Decimal("5"),
        occurred_at=timezone.now(),
        person=ada,
        recorded_by=ada,
    )
    empty = Lot.objects.create(
        drug="esketamine",
        product="Spravato 56 mg kit",
        form="nasal_device",
        strength_mg=Decimal("28"),
        container_quantity=Decimal("2"),
        ndc="50458-028-02",
        lot_number="EMPTY-1",
        expires_on=today + datetime.timedelta(days=300),
        created_by=ada,
    )
    http = login(ada)
    page = text(http.get(reverse("controlled:stock")))
    assert "Expires within 60 days" in page and "Expired: not to be given" in page
    assert "20 mL" in page and "200 mg" in page and "100 tablets" in page and "10000 mg" in page
    assert "EMPTY-1" not in page and "1 empty lot hidden" in page
    assert "EMPTY-1" in text(http.get(reverse("controlled:stock"), {"empty": "1"}))
    assert empty.pk


def test_the_stock_page_runs_the_same_queries_however_many_lots(login, ada, started):
    http = login(ada)
    url = reverse("controlled:stock")
    tablet_lot(ada, lot_number="Q-0")
    http.get(url)
    with CaptureQueriesContext(connection) as one:
        assert http.get(url).status_code == 200
    for n in range(1, 8):
        tablet_lot(ada, lot_number=f"Q-{n}")
    with CaptureQueriesContext(connection) as eight:
        response = http.get(url)
    assert len(response.context["rows"]) == 8
    assert len(eight) == len(one)


def test_the_navigation_offers_the_stock_to_those_who_keep_it(login, ada, priya, tess, cora):
    link = f'href="{reverse("controlled:stock")}"'
    for user, shown in ((ada, True), (priya, True), (tess, False), (cora, False)):
        assert (link in login(user).get(reverse("home")).content.decode()) == shown, user


@pytest.mark.parametrize("name", ["controlled:stock", "controlled:receipt"])
def test_only_stock_keepers_reach_the_pages(login, tess, colin, cora, name):
    url = reverse(name)
    assert "/accounts/login/" in login(None).get(url)["Location"]
    for user in (tess, colin, cora):
        assert login(user).get(url).status_code == 403
        assert login(user).post(url, new_lot_receipt()).status_code == (
            403 if name == "controlled:receipt" else 405
        )
    assert not Lot.objects.exists()


def test_a_therapist_cannot_post_from_the_lot_pages(login, tess, lot):
    for name in ("controlled:transfer", "controlled:return", "controlled:destruction"):
        assert login(tess).post(reverse(name, args=[lot.pk]), send(person=tess.pk)).status_code == 403
    receipt = lot.entries.get()
    assert (
        login(tess)
        .post(reverse("controlled:correction", args=[lot.pk, receipt.pk]), {"reason": "x"})
        .status_code
        == 403
    )
    assert lot.entries.count() == 1


# The database --------------------------------------------------------------------------------


def _sql(statement: str, params) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE controlled_entry SET quantity = 1000 WHERE id = %s",
        "UPDATE controlled_entry SET balance_after = 1000 WHERE id = %s",
        "DELETE FROM controlled_entry WHERE id = %s",
    ],
)
def test_no_entry_can_be_edited_or_deleted_at_the_database(lot, statement):
    entry = lot.entries.get()
    with pytest.raises(DatabaseError, match=immutable.MESSAGE.split(" cannot")[0]):
        _sql(statement, [entry.pk])
    entry.refresh_from_db()
    assert (entry.quantity, entry.balance_after) == (Decimal("100"), Decimal("100"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE controlled_lot SET lot_number = 'OTHER' WHERE id = %s",
        "UPDATE controlled_lot SET expires_on = '2099-01-01' WHERE id = %s",
        "DELETE FROM controlled_lot WHERE id = %s",
    ],
)
def test_no_lot_can_be_edited_or_deleted_at_the_database(lot, statement):
    with pytest.raises(DatabaseError, match=immutable.MESSAGE.split(" cannot")[0]):
        _sql(statement, [lot.pk])
    assert Lot.objects.get(pk=lot.pk).lot_number == "T-100"


def test_the_database_refuses_a_balance_below_zero(priya, lot):
    with pytest.raises(DatabaseError), transaction.atomic():
        Entry.objects.create(
            lot=lot,
            sequence=2,
            kind=Entry.Kind.TRANSFER,
            quantity=Decimal("-101"),
            balance_after=Decimal("-1"),
            occurred_at=timezone.now(),
            person=priya,
            recorded_by=priya,
            party_name="X",
            party_dea_number=RECIPIENT_DEA,
        )


# Hostile input -------------------------------------------------------------------------------


def test_a_huge_or_unknown_id_is_not_found(login, ada, lot):
    http = login(ada)
    receipt = lot.entries.get()
    for huge in [*HUGE_IDS, 0, 999999]:
        for url in (
            reverse("controlled:lot", args=[huge]),
            reverse("controlled:transfer", args=[huge]),
            reverse("controlled:destruction", args=[huge]),
            reverse("controlled:correction", args=[lot.pk, huge]),
            reverse("controlled:correction", args=[huge, receipt.pk]),
            reverse("controlled:dose_repost", args=[lot.pk, huge]),
        ):
            assert http.get(url).status_code == 404, url
    # A receipt is not a dose: it is not posted again to another lot.
    assert http.get(reverse("controlled:dose_repost", args=[lot.pk, receipt.pk])).status_code == 404


RECEIPT_FIELDS = [*new_lot_receipt(), "lot", "received_by", "compounded"]
SEND_FIELDS = [
    "quantity",
    "occurred_on",
    "person",
    "party_name",
    "party_address",
    "party_dea_number",
    "reference",
]
DESTROY_FIELDS = [
    *SEND_FIELDS,
    "method",
    "reason",
    "witness_email",
    "witness_password",
    "second_witness_email",
]


@HOSTILE
@given(
    whole=st.booleans(),
    data=st.fixed_dictionaries({}, optional=dict.fromkeys(RECEIPT_FIELDS, hostile_value)),
)
def test_the_receipt_takes_anything(login, priya, started, whole, data):
    """Anything in any field, alone (the rest a good receipt) or with nothing else."""
    sent = (new_lot_receipt(received_by=priya.pk) if whole else {}) | data
    response = login(priya).post(reverse("controlled:receipt"), sent)
    assert response.status_code in (200, 302)
    if response.status_code == 200 and sent:
        assert response.context["form"].errors
        assert 'id="form-errors"' in response.content.decode()


@HOSTILE
@given(
    name=st.sampled_from(["controlled:transfer", "controlled:return", "controlled:destruction"]),
    data=st.fixed_dictionaries({}, optional=dict.fromkeys(DESTROY_FIELDS, hostile_value)),
)
def test_the_lot_forms_take_anything(login, priya, lot, wendy, walt, name, data):
    base = send(person=priya.pk) | on_site(priya, wendy.email, walt.email)
    response = login(priya).post(reverse(name, args=[lot.pk]), base | data)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert response.context["form"].errors


@HOSTILE
@given(reason=hostile_value, order=hostile_value, page=hostile_value, empty=hostile_value)
def test_the_lot_page_and_a_correction_take_anything(login, priya, lot, reason, order, page, empty):
    http = login(priya)
    assert (
        http.get(reverse("controlled:lot", args=[lot.pk]), {"order": order, "page": page}).status_code == 200
    )
    assert http.get(reverse("controlled:stock"), {"empty": empty}).status_code == 200
    assert http.get(reverse("controlled:receipt"), {"lot": page}).status_code == 200
    entry = lot.entries.exclude(kind=Entry.Kind.CORRECTION).order_by("sequence").first()
    response = http.post(reverse("controlled:correction", args=[lot.pk, entry.pk]), {"reason": reason})
    assert response.status_code in (200, 302)


# Two people putting the same dose right at once ------------------------------------------------


@pytest.fixture(scope="module")
def _triggers_back_at_the_end(django_db_blocker):
    """The append-only triggers, back on once the committed test below has been flushed."""
    yield
    from kapflow.audit.db import install_triggers

    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture
def committed(transactional_db, _triggers_back_at_the_end):
    """A test whose writes commit (threads see them): the triggers are on while it runs and
    lifted for the flush that empties the database after it (as tests/test_concurrency.py)."""
    from kapflow.audit.db import drop_triggers, install_triggers

    install_triggers(connection)
    yield
    drop_triggers(connection)


@pytest.mark.concurrency
def test_a_dose_is_posted_again_once_when_two_try_at_the_same_instant(
    committed, monkeypatch, ada, priya, tess, avery
):
    from tests.test_concurrency import race, slowed

    start_ledger(ada)
    first, second, third = (tablet_lot(ada, lot_number=f"R-{n}") for n in range(3))
    administration = given_dose(avery, priya, tess)
    posting = dose_posted(administration, first)
    ledger.correction_post(actor=priya, entry=posting, reason="Wrong lot")
    slowed(monkeypatch, stock, "posted_for_dose")
    results = race(
        lambda: stock.dose_repost(actor=priya, administration=administration, lot=second, reason="R-1"),
        lambda: stock.dose_repost(actor=ada, administration=administration, lot=third, reason="R-2"),
    )
    posted = [r for r in results if isinstance(r, Entry)]
    refused = [r for r in results if isinstance(r, LedgerRefused)]
    assert len(posted) == 1 and len(refused) == 1, results
    assert "still posted" in str(refused[0])
    assert stock.posted_for_dose(administration) == Decimal("-2")
