"""The stock pages in the access matrix (tests/test_access_matrix.py): a prescriber of the
practice (Priya) and the practice admin (Ada) keep the stock ledger; every other member of staff
is refused outright (403), an invited outside prescriber too; a visitor is sent to sign in.

Also the builders the screenshot walk (tests/browser/walk.py) opens the lot pages with."""

import datetime
from decimal import Decimal

from django.utils import timezone

from kapflow.controlled import ledger
from kapflow.controlled.models import Entry, Inventory, Lot
from kapflow.medical.models import MedicationOrder
from tests.access_rules import FORBIDDEN, LOGIN, OK


def stock_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "priya") else FORBIDDEN


def _lot(w, c):
    return {"lot_id": w["stock_lot"].pk}


MATRIX = {
    "controlled:stock": ("get", stock_page, None),
    "controlled:receipt": ("get", stock_page, None),
    "controlled:lot": ("get", stock_page, _lot),
    "controlled:transfer": ("get", stock_page, _lot),
    "controlled:return": ("get", stock_page, _lot),
    "controlled:destruction": ("get", stock_page, _lot),
    "controlled:correction": (
        "get",
        stock_page,
        lambda w, c: {"lot_id": w["stock_lot"].pk, "entry_id": w["stock_receipt"].pk},
    ),
    "controlled:dose_repost": (
        "get",
        stock_page,
        lambda w, c: {"lot_id": w["stock_lot"].pk, "entry_id": w["stock_dose"].pk},
    ),
}


def start_ledger(who) -> None:
    """The initial inventory, which starts the ledger (its own pages are another feature's)."""
    if not Inventory.objects.filter(kind=Inventory.Kind.INITIAL).exists():
        Inventory.objects.create(
            kind=Inventory.Kind.INITIAL,
            taken_on=timezone.localdate(),
            time_of_day=Inventory.TimeOfDay.OPENING,
            taken_by=who,
            recorded_by=who,
        )


def tablet_lot(who, *, lot_number: str, tablets: int = 100) -> Lot:
    """A lot of 100 mg ketamine tablets with `tablets` received (posted straight to the ledger)."""
    lot = Lot.objects.create(
        drug=MedicationOrder.Drug.KETAMINE,
        product="Ketamine HCl 100 mg rapid-dissolve tablets (compounded)",
        form=Lot.Form.TABLET,
        strength_mg=Decimal("100"),
        container_quantity=Decimal("100"),
        lot_number=lot_number,
        expires_on=timezone.localdate() + datetime.timedelta(days=365),
        created_by=who,
    )
    ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.RECEIPT,
        quantity=Decimal(tablets),
        occurred_at=timezone.now(),
        person=who,
        recorded_by=who,
        party_name="Valley Compounding Pharmacy",
        party_address="1 Main St, Van Nuys, CA",
        party_dea_number="AB1234563",
        document_reference="INV-1",
        containers=1,
    )
    return lot


def dose_posted(administration, lot: Lot) -> Entry:
    """`administration` posted to `lot` (as the runbook does, without its gates)."""
    return ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.ADMINISTRATION,
        quantity=-(administration.dose_mg / lot.strength_mg),
        occurred_at=administration.given_at,
        person=administration.given_by,
        recorded_by=administration.recorded_by,
        administration=administration,
        client=administration.runbook.visit.client,
    )


def given_dose(client, prescriber, given_by):
    """A 200 mg sublingual dose given to `client` in a medication session today."""
    from kapflow.dosing.models import Administration, Runbook
    from kapflow.visits.models import Visit
    from tests import factories

    now = timezone.now()
    visit = Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=now - datetime.timedelta(hours=1),
        ends_at=now + datetime.timedelta(hours=1),
        clinician=given_by,
        created_by=given_by,
    )
    runbook = Runbook.objects.create(visit=visit)
    return Administration.objects.create(
        runbook=runbook,
        order=factories.standing_order(client, prescriber),
        given_at=now - datetime.timedelta(minutes=30),
        route="sublingual",
        dose_mg=Decimal("200"),
        lot_number="",
        given_by=given_by,
        recorded_by=given_by,
    )


def build(world):
    start_ledger(world["ada"])
    lot = tablet_lot(world["ada"], lot_number="MATRIX-STOCK-1")
    world["stock_lot"] = lot
    world["stock_receipt"] = lot.entries.get(kind=Entry.Kind.RECEIPT)
    world["stock_dose"] = dose_posted(given_dose(world["avery"], world["priya"], world["tess"]), lot)


# The screenshot walk (tests/browser/walk.py): a lot of the demo practice, one of its entries, and
# a dose's posting, made for the walk where the demo has none.
def walk_lot(d) -> Lot:
    lot = ledger.with_balances(Lot.objects.all()).filter(balance__gt=0).order_by("pk").first()
    if lot is None:
        who = d.user("prescriber")
        start_ledger(who)
        lot = tablet_lot(who, lot_number="WALK-1")
    return lot


def walk_entry(d) -> dict:
    lot = walk_lot(d)
    entry = lot.entries.exclude(kind=Entry.Kind.CORRECTION).filter(reversal__isnull=True).first()
    return {"lot_id": lot.pk, "entry_id": entry.pk}


def walk_dose(d) -> dict:
    entry = Entry.objects.filter(kind=Entry.Kind.ADMINISTRATION).order_by("pk").first()
    if entry is None:
        administration = d.session.runbook.administrations.first()
        entry = dose_posted(administration, tablet_lot(d.user("prescriber"), lot_number="WALK-DOSE-1"))
    return {"lot_id": entry.lot_id, "entry_id": entry.pk}
