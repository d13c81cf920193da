"""Issue 17 in the browser: the controlled-substance record from a receipt to a dose posted from
the runbook to the ledger report (item 6's last test; docs/controlled-substances.md,
docs/stock-ledger.md, docs/runbook-ledger.md, docs/inventory.md, docs/controlled-reports.md).

The practice's prescriber, its DEA registrant, takes the initial inventory (one opened vial
with a little left), records a receipt of a new lot of ketamine 50 mg/mL from the supplier's
invoice and sees it on the stock page. In an in-person intramuscular session the therapist gives
the dose from that lot and the dose table says what it took; a booster from the opened vial,
which holds too little, is refused with its balance named and nothing typed lost, and is given
from the new lot instead. The lot's page shows both administrations and the balance left; the
ledger report shows the receipt and the doses with the client and the balances, and its CSV
says the same.

A second test wastes what is left of a dose in front of a witness, who first types a wrong
password (refused; the password field is empty again, everything else kept), then the right one
with the code from their authenticator app.

With `make screenshots` (KAPFLOW_SCREENSHOTS=1) each step is photographed into
test-artifacts/screenshots/controlled/."""

import csv
import datetime
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from kapflow.controlled import ledger
from kapflow.controlled.models import Entry, Inventory, Lot
from kapflow.dosing.models import Administration
from kapflow.dosing.services.administration import dose_record
from kapflow.dosing.services.checkin import checklist_record, session_start
from kapflow.dosing.services.vitals import vitals_record
from kapflow.medical.models import MedicationOrder
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.browser.conftest import SCREENSHOTS, TAKE_SCREENSHOTS
from tests.browser.pages import accessibility_problems

pytestmark = pytest.mark.browser

SHOTS = SCREENSHOTS / "controlled"
WITNESS_PASSWORD = "a long witness passphrase"
SUPPLIER_DEA = "AB1234563"  # 1 + 3 + 5 + 2 × (2 + 4 + 6) = 33: check digit 3 (kapflow/lib/identifiers.py)
NDC = "0143-9508-10"  # 4-4-2
NEW_LOT = "KX24117"
OPENED_LOT = "KT2209A"


def shot(page: Page, name: str) -> None:
    """A picture of the whole page, when pictures are asked for (`make screenshots`)."""
    if TAKE_SCREENSHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def news(page: Page):
    return page.locator("#runbook .messages")


@pytest.fixture
def people(transactional_db):
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")
    priya = factories.make_user("Priya Prescriber", roles=("is_prescriber",), email="priya@example.org")
    cora = factories.make_user("Cora Coordinator", roles=("is_coordinator",), email="cora@example.org")
    robin = factories.make_client(first_name="Robin", last_name="Reyes", therapist=tess, prescriber=priya)
    practice = Practice.load()
    practice.dea_registrant = priya
    practice.dea_registration_number = "BP1234563"
    practice.dea_registration_expires_on = timezone.localdate() + datetime.timedelta(days=400)
    practice.min_monitoring_minutes = 0
    practice.save()
    return {"tess": tess, "priya": priya, "cora": cora, "robin": robin}


def im_order(people) -> MedicationOrder:
    """Intramuscular ketamine, 0.5–1.0 mg/kg at 70 kg (35–70 mg), one booster of up to 35 mg."""
    today = timezone.localdate()
    return MedicationOrder.objects.create(
        client=people["robin"],
        prescriber=people["priya"],
        drug="ketamine",
        route="intramuscular",
        unit="mg_per_kg",
        weight_kg=Decimal(70),
        dose_min=Decimal("0.5"),
        dose_max=Decimal("1.0"),
        boosters_allowed=1,
        booster_max_mg=Decimal(35),
        sessions_authorised=6,
        starts_on=today - datetime.timedelta(days=5),
        ends_on=today + datetime.timedelta(days=60),
    )


def session_ready_for_its_dose(people) -> Visit:
    """An in-person session started in the Cedar Room, its day-of checklist passing, the
    integration acknowledged and the pre-dose vitals taken (with SpO2, which an intramuscular
    session needs with every reading): what is left is the dose."""
    tess, practice = people["tess"], Practice.load()
    start = timezone.now() - datetime.timedelta(minutes=20)
    visit = Visit.objects.create(
        client=people["robin"],
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.IN_PERSON,
        room=Room.objects.create(name="Cedar Room"),
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=150),
        clinician=tess,
        created_by=people["cora"],
        status=Visit.Status.CHECKED_IN,
    )
    now = timezone.now()
    checklist_record(
        actor=tess,
        visit=visit,
        transport_without_driving=True,
        transport_detail="Partner drives home",
        last_food_at=now - datetime.timedelta(hours=6),
        last_liquid_at=now - datetime.timedelta(hours=3),
        substances=[],
        pregnancy="not_applicable",
        practice=practice,
    )
    factories.acknowledge_integration(visit, tess)
    session_start(actor=tess, visit=visit, practice=practice)
    vitals_record(
        actor=tess,
        visit=visit,
        phase="pre_dose",
        taken_at=timezone.now() - datetime.timedelta(minutes=2),
        systolic=122,
        diastolic=78,
        heart_rate=70,
        spo2=98,
        practice=practice,
    )
    return visit


def runbook_url(visit: Visit) -> str:
    return f"/clients/{visit.client_id}/visits/{visit.pk}/runbook/"


def downloaded(page: Page, link) -> bytes:
    with page.expect_download() as download:
        link.click()
    return Path(download.value.path()).read_bytes()


def test_a_receipt_a_dose_from_the_runbook_and_the_ledger_report(
    open_page, people, pathway_ready, console_errors
):
    priya, tess, robin = people["priya"], people["tess"], people["robin"]
    today = timezone.localdate()
    expires = today.replace(year=today.year + 2)

    # 1. The initial inventory: one opened vial of an older lot, 0.6 mL left in it.
    stock = open_page(priya)
    stock.goto("/controlled/")
    expect(stock.get_by_text("The stock ledger has not started yet.")).to_be_visible()
    expect(stock.get_by_role("link", name="Record a receipt")).to_have_count(0)
    shot(stock, "1-stock-not-started")
    stock.get_by_role("link", name="Take the initial inventory").click()
    expect(stock.get_by_role("heading", level=1)).to_have_text("The initial inventory")
    stock.get_by_label("At the opening of business").check()
    row = stock.get_by_role("group", name="Lot 1")
    row.get_by_label("Drug", exact=True).select_option(label="Ketamine (racemic), DEA Schedule III")
    row.get_by_label("Product, as on the label").fill("Ketamine HCl injection, 10 mL multi-dose vial")
    row.get_by_label("Finished form").select_option(label="Injection solution (vial)")
    row.get_by_label("Strength (mg per mL, device or tablet)").fill("50")
    row.get_by_label("Each container holds (mL, devices or tablets)").fill("10")
    row.get_by_label("NDC", exact=True).fill(NDC)
    row.get_by_label("Lot number", exact=True).fill(OPENED_LOT)
    row.get_by_label("Expiry date").fill((today + datetime.timedelta(days=200)).isoformat())
    row.get_by_label("Unopened containers").fill("0")
    row.get_by_label("In opened containers").fill("0.6")
    shot(stock, "2-initial-inventory-filled")
    assert accessibility_problems(stock) == []
    stock.get_by_role("button", name="Save the initial inventory").click()
    expect(
        stock.get_by_text("The initial inventory is saved and the ledger is started from it.")
    ).to_be_visible()
    shot(stock, "3-initial-inventory-saved")

    # 2. A receipt of a new lot, typed from the invoice.
    stock.goto("/controlled/")
    stock.get_by_role("link", name="Record a receipt").click()
    expect(stock.get_by_role("heading", level=1)).to_have_text("Record a receipt")
    stock.get_by_label("A new lot, described from its label").check()
    stock.get_by_label("Drug", exact=True).select_option(label="Ketamine (racemic), DEA Schedule III")
    stock.get_by_label("Product", exact=True).fill("Ketamine HCl injection, 10 mL multi-dose vial")
    stock.get_by_label("Injection solution (vial)").check()
    stock.get_by_label("Strength (mg in each mL, device or tablet)").fill("50")
    stock.get_by_label("Each container holds (mL, devices or tablets)").fill("10")
    stock.get_by_label("NDC", exact=True).fill(NDC)
    stock.get_by_label("Lot number").fill(NEW_LOT)
    stock.get_by_label("Expiry date").fill(expires.isoformat())
    stock.get_by_label("Containers received").fill("2")
    expect(stock.get_by_label("Date received")).to_have_value(today.isoformat())
    stock.get_by_label("Supplier's name").fill("Henry Schein")
    stock.get_by_label("Supplier's address").fill("135 Duryea Rd, Melville, NY 11747")
    # A DEA number with a wrong check digit is refused, everything else kept.
    stock.get_by_label("Supplier's DEA number").fill("AB1234567")
    stock.get_by_label("Invoice or packing slip number").fill("INV-77812")
    stock.get_by_role("button", name="Record the receipt").click()
    expect(stock.get_by_text(re.compile(r"check digit \(for example AB1234563\)")).first).to_be_visible()
    expect(stock.get_by_label("Lot number")).to_have_value(NEW_LOT)
    expect(stock.get_by_label("Invoice or packing slip number")).to_have_value("INV-77812")
    shot(stock, "4-receipt-refused-dea")
    stock.get_by_label("Supplier's DEA number").fill(SUPPLIER_DEA)
    shot(stock, "5-receipt-filled")
    assert accessibility_problems(stock) == []
    stock.get_by_role("button", name="Record the receipt").click()
    expect(
        stock.get_by_text(
            f"Received 2 × 10 mL = 20 mL (1000 mg) into lot {NEW_LOT}. It now holds 20 mL (1000 mg)."
        )
    ).to_be_visible()
    expect(stock.get_by_role("heading", level=1)).to_contain_text(f"Lot {NEW_LOT}")
    shot(stock, "6-lot-after-receipt")

    stock.goto("/controlled/")
    lots = stock.get_by_role("table", name="Lots and their balances")
    new_row = lots.get_by_role("row").filter(has=stock.get_by_role("link", name=NEW_LOT))
    expect(new_row).to_contain_text("20 mL")
    expect(new_row).to_contain_text("1000 mg")
    expect(new_row).to_contain_text(NDC)
    opened_row = lots.get_by_role("row").filter(has=stock.get_by_role("link", name=OPENED_LOT))
    expect(opened_row).to_contain_text("0.6 mL")
    shot(stock, "7-stock-on-hand")
    assert accessibility_problems(stock) == []

    # 3. The dose, from the new lot, in the runbook.
    order = im_order(people)
    visit = session_ready_for_its_dose(people)
    runbook = open_page(tess)
    runbook.goto(runbook_url(visit))
    dose_form = runbook.locator("#dose-form")
    lot_choice = dose_form.get_by_label("From the lot")
    expect(lot_choice.locator("option")).to_have_text(
        [
            "None: the client's own medicine (sublingual only)",
            re.compile(rf"^Ketamine 50 mg/mL, lot {OPENED_LOT}, 0.6 mL left, expires "),
            re.compile(rf"^Ketamine 50 mg/mL, lot {NEW_LOT}, 20 mL left, expires {expires:%Y-%m}$"),
        ]
    )
    dose_form.get_by_label("Against the order").select_option(str(order.pk))
    dose_form.get_by_label("Route").select_option("intramuscular")
    dose_form.get_by_label("Dose (mg)").fill("50")
    lot_choice.select_option(label=f"Ketamine 50 mg/mL, lot {NEW_LOT}, 20 mL left, expires {expires:%Y-%m}")
    shot(runbook, "8-runbook-dose-form")
    dose_form.get_by_role("button", name="Record the dose").click()
    expect(news(runbook)).to_contain_text("Dose recorded.")
    doses = runbook.get_by_role("table", name="Doses given")
    expect(doses.get_by_role("row").nth(1)).to_contain_text(f"1 mL of lot {NEW_LOT}")
    shot(runbook, "9-runbook-dose-recorded")

    # A booster from the opened vial, which holds too little: refused, its balance named.
    runbook.get_by_text("Give a booster", exact=True).click()
    dose_form.get_by_label("Against the order").select_option(str(order.pk))
    dose_form.get_by_label("Route").select_option("intramuscular")
    dose_form.get_by_label("Dose (mg)").fill("35")
    dose_form.get_by_label("From the lot").select_option(
        label=f"Ketamine 50 mg/mL, lot {OPENED_LOT}, 0.6 mL left, expires "
        f"{today + datetime.timedelta(days=200):%Y-%m}"
    )
    dose_form.get_by_role("button", name="Record a booster").click()
    expect(runbook.locator("#runbook")).to_contain_text(
        f"Lot {OPENED_LOT} holds 0.6 mL (30 mg): 0.7 mL cannot be taken from it."
    )
    expect(dose_form).to_contain_text(
        f"Lot {OPENED_LOT} holds 0.6 mL; this dose takes 0.7 mL. Nothing was recorded: choose another lot."
    )
    expect(dose_form.get_by_label("Dose (mg)")).to_have_value("35")
    expect(dose_form.get_by_label("Route")).to_have_value("intramuscular")
    expect(doses.get_by_role("row")).to_have_count(2)  # the heading and the first dose
    shot(runbook, "10-runbook-booster-refused")
    dose_form.get_by_label("From the lot").select_option(
        label=f"Ketamine 50 mg/mL, lot {NEW_LOT}, 19 mL left, expires {expires:%Y-%m}"
    )
    dose_form.get_by_role("button", name="Record a booster").click()
    expect(news(runbook)).to_contain_text("Booster recorded.")
    expect(doses.get_by_role("row")).to_have_count(3)
    expect(doses.get_by_role("row").filter(has_text="Booster")).to_contain_text(f"0.7 mL of lot {NEW_LOT}")
    shot(runbook, "11-runbook-booster-recorded")

    new_lot = Lot.objects.get(lot_number=NEW_LOT)
    assert ledger.balance(new_lot) == Decimal("18.3")
    assert ledger.balance(Lot.objects.get(lot_number=OPENED_LOT)) == Decimal("0.6")
    assert list(Administration.objects.order_by("given_at").values_list("lot__lot_number", flat=True)) == [
        NEW_LOT,
        NEW_LOT,
    ]

    # 4. The lot's page: both administrations, and the balance left.
    stock.goto(f"/controlled/lots/{new_lot.pk}/")
    expect(stock.locator("dl.facts")).to_contain_text("18.3 mL (915 mg)")
    entries = stock.get_by_role("table", name=f"Entries of lot {NEW_LOT}")
    administrations = entries.get_by_role("row").filter(has_text="Administration")
    expect(administrations).to_have_count(2)
    expect(administrations.first).to_contain_text("−0.7 mL (35 mg)")
    expect(administrations.first).to_contain_text("18.3 mL (915 mg)")
    expect(administrations.first).to_contain_text(f"Client: {robin.display_name}")
    expect(administrations.first).to_contain_text("Tess Therapist")
    expect(entries.get_by_role("row").filter(has_text="Receipt")).to_contain_text(f"DEA {SUPPLIER_DEA}")
    shot(stock, "12-lot-after-doses")
    assert accessibility_problems(stock) == []

    # 5. The ledger report for the lot, and its CSV.
    stock.goto("/controlled/reports/")
    expect(stock.get_by_role("heading", level=1)).to_have_text("Controlled-substance ledger")
    stock.get_by_role("combobox", name=re.compile(r"^Lot\b")).select_option(str(new_lot.pk))
    stock.get_by_role("button", name="Show the ledger").click()
    balances = stock.get_by_role("region", name=re.compile(r"^Balances"))
    expect(balances.get_by_role("row").filter(has_text=NEW_LOT)).to_contain_text("18.3 mL")
    report = stock.get_by_role("region", name="Entries")
    expect(report).to_contain_text("3 entries in the period")
    receipt_row = report.get_by_role("row").filter(has_text="Receipt")
    expect(receipt_row).to_contain_text("+20 mL")
    expect(receipt_row).to_contain_text(
        f"Henry Schein, 135 Duryea Rd, Melville, NY 11747, DEA {SUPPLIER_DEA}"
    )
    expect(receipt_row).to_contain_text("INV-77812")
    given = report.get_by_role("row").filter(has_text="Administration")
    expect(given).to_have_count(2)
    expect(given.first).to_contain_text("Robin Reyes")
    expect(given.first).to_contain_text("19 mL")
    expect(given.last).to_contain_text("18.3 mL")
    expect(report).not_to_contain_text(OPENED_LOT)
    shot(stock, "13-ledger-report")
    assert accessibility_problems(stock) == []

    body = downloaded(stock, stock.get_by_role("link", name="Download as CSV")).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(body)))
    assert lines[0][0] == "period from"
    assert lines[2] == [NEW_LOT, "0", "0", "18.3", "915", "mL"]  # the receipt is in the period
    header = lines.index(next(line for line in lines if line[:2] == ["lot number", "NDC"]))
    rows = [dict(zip(lines[header], line, strict=True)) for line in lines[header + 1 :]]
    assert [(row["kind"], row["quantity (unit)"], row["balance after (unit)"]) for row in rows] == [
        ("Receipt", "20", "20"),
        ("Administration", "-1", "19"),
        ("Administration", "-0.7", "18.3"),
    ]
    assert rows[0]["DEA number"] == SUPPLIER_DEA and rows[0]["reference"] == "INV-77812"
    assert {row["client"] for row in rows[1:]} == {"Robin Reyes"}
    assert {row["by"] for row in rows[1:]} == {"Tess Therapist"}
    assert rows[1]["NDC"] == NDC and rows[1]["date"] == today.isoformat()
    assert Entry.objects.filter(lot=new_lot).count() == 3
    assert Inventory.objects.get().taken_by == priya
    assert console_errors == []


# --- Waste, witnessed -------------------------------------------------------------------------


@pytest.fixture
def wren(people):
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


def test_a_waste_is_recorded_once_the_witness_confirms_who_they_are(
    open_page, people, wren, pathway_ready, console_errors
):
    priya, tess = people["priya"], people["tess"]
    Inventory.objects.create(
        kind=Inventory.Kind.INITIAL,
        taken_on=timezone.localdate() - datetime.timedelta(days=30),
        time_of_day=Inventory.TimeOfDay.OPENING,
        taken_by=priya,
        recorded_by=priya,
    )
    lot = Lot.objects.create(
        drug="ketamine",
        product="Ketamine HCl injection, 10 mL multi-dose vial",
        form=Lot.Form.VIAL,
        strength_mg=Decimal(50),
        container_quantity=Decimal(10),
        ndc=NDC,
        lot_number=NEW_LOT,
        expires_on=timezone.localdate() + datetime.timedelta(days=300),
        created_by=priya,
    )
    ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.OPENING,
        quantity=Decimal(10),
        occurred_at=timezone.now() - datetime.timedelta(days=30),
        person=priya,
        recorded_by=priya,
    )
    order = im_order(people)
    visit = session_ready_for_its_dose(people)
    dose_record(
        actor=tess,
        visit=visit,
        order=order,
        given_at=timezone.now(),
        route="intramuscular",
        dose_mg=Decimal(40),
        lot_number="",
        lot=lot,
        given_by=tess,
        practice=Practice.load(),
    )

    page = open_page(tess)
    page.goto(runbook_url(visit))
    page.get_by_text("Record waste", exact=True).click()
    form = page.locator("#waste-form")
    expect(form.get_by_label("Left of the dose")).to_have_value(str(Administration.objects.get().pk))
    form.get_by_label("Quantity wasted").fill("0.2")
    form.get_by_label("What was wasted, and why").fill("Drew 1 mL, gave 0.8 mL; 0.2 mL wasted in the sink.")
    form.get_by_label("Witness's email").fill("wren@example.org")
    form.get_by_label("Witness's password").fill("not the witness's password")
    form.get_by_label("Witness's authenticator code").fill(factories.totp_code(wren.totp_secret))
    form.get_by_role("button", name="Record the waste").click()
    expect(page.locator("#runbook")).to_contain_text("The witness's email and password do not match.")
    expect(form.get_by_label("Witness's password")).to_have_value("")
    expect(form.get_by_label("Witness's email")).to_have_value("wren@example.org")
    expect(form.get_by_label("Quantity wasted")).to_have_value("0.2")
    expect(form.get_by_label("What was wasted, and why")).to_have_value(
        "Drew 1 mL, gave 0.8 mL; 0.2 mL wasted in the sink."
    )
    assert not Entry.objects.filter(kind=Entry.Kind.WASTE).exists()
    shot(page, "14-waste-refused")
    assert accessibility_problems(page) == []

    form.get_by_label("Witness's password").fill(WITNESS_PASSWORD)
    form.get_by_label("Witness's authenticator code").fill(factories.totp_code(wren.totp_secret))
    form.get_by_role("button", name="Record the waste").click()
    expect(news(page)).to_contain_text(
        f"Waste of 0.2 mL of lot {NEW_LOT} recorded, witnessed by Wren Witness."
    )
    wasted = page.locator("#runbook").get_by_role("listitem").filter(has_text="witnessed by")
    expect(wasted).to_contain_text(f"0.2 mL of lot {NEW_LOT}")
    expect(wasted).to_contain_text("wasted by Tess Therapist, witnessed by Wren Witness")
    shot(page, "15-waste-recorded")

    entry = Entry.objects.get(kind=Entry.Kind.WASTE)
    assert (entry.person, entry.witness, entry.quantity) == (tess, wren, Decimal("-0.2"))
    assert ledger.balance(lot) == Decimal("9")  # 10 − 0.8 − 0.2
    assert console_errors == []
