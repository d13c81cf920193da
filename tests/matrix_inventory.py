"""The inventory, discrepancy and loss-report pages in the access matrix
(tests/test_access_matrix.py). Inventories and discrepancies: a prescriber of the practice
(Priya, who is also the practice's DEA registrant here) and the practice admin (Ada); every other
member of staff is refused outright (403), an invited outside prescriber too. Loss reports are
started and read by any clinician of the practice and the admin (a coordinator is refused); their
steps are recorded by the registrant or the admin alone. A visitor is sent to sign in.

Also the builders the screenshot walk (tests/browser/walk.py) opens the pages with."""

import datetime
from decimal import Decimal

from django.utils import timezone

from kapflow.controlled import clocks, ledger
from kapflow.controlled.models import Discrepancy, Entry, Inventory, InventoryCount, LossReport, Lot
from kapflow.medical.models import MedicationOrder
from kapflow.practice.models import Practice
from tests.access_rules import FORBIDDEN, LOGIN, OK


def stock_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "priya") else FORBIDDEN


def loss_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "tess", "colin", "priya") else FORBIDDEN


MATRIX = {
    "inventory:list": ("get", stock_page, None),
    "inventory:initial": ("get", stock_page, None),
    "inventory:new": ("get", stock_page, None),
    "inventory:detail": ("get", stock_page, lambda w, c: {"inventory_id": w["inventory"].pk}),
    "inventory:discrepancy": ("get", stock_page, lambda w, c: {"discrepancy_id": w["discrepancy"].pk}),
    "inventory:losses": ("get", loss_page, None),
    "inventory:loss_new": ("get", loss_page, None),
    "inventory:loss_detail": ("get", loss_page, lambda w, c: {"report_id": w["loss_report"].pk}),
    # Who records a step: the registrant (Priya) or the admin. An empty form comes back with errors.
    "inventory:loss_step": ("post", stock_page, lambda w, c: {"report_id": w["loss_report"].pk}),
}


def counted_inventory(who) -> tuple[Inventory, Discrepancy]:
    """An inventory that found 2 mL less than the ledger held in a vial lot, and its discrepancy
    (written straight to the tables: the services have their own tests)."""
    today = timezone.localdate()
    lot = Lot.objects.create(
        drug=MedicationOrder.Drug.KETAMINE,
        product="Ketamine HCl injection, 10 mL multi-dose vial",
        form=Lot.Form.VIAL,
        strength_mg=Decimal("50"),
        container_quantity=Decimal("10"),
        ndc="0143-9508-10",
        lot_number=f"INV{Lot.objects.count() + 1}",
        expires_on=today + datetime.timedelta(days=400),
        created_by=who,
    )
    ledger.entry_post(
        lot=lot,
        kind=Entry.Kind.OPENING,
        quantity=Decimal("20"),
        occurred_at=timezone.now(),
        person=who,
        recorded_by=who,
    )
    inventory = Inventory.objects.create(
        kind=Inventory.Kind.OTHER,
        taken_on=today,
        time_of_day=Inventory.TimeOfDay.CLOSE,
        taken_by=who,
        recorded_by=who,
    )
    count = InventoryCount.objects.create(
        inventory=inventory,
        lot=lot,
        full_containers=1,
        open_quantity=Decimal("8"),
        counted=Decimal("18"),
        expected=Decimal("20"),
    )
    return inventory, Discrepancy.objects.create(count=count, difference=Decimal("-2"))


def loss_report(who) -> LossReport:
    now = timezone.now()
    day = timezone.localdate(now)
    return LossReport.objects.create(
        kind=LossReport.Kind.THEFT,
        discovered_at=now,
        discovered_by=who,
        description="The cabinet's lock was forced; one vial is missing.",
        notice_due_on=clocks.notice_due_on(day, 1),
        form_due_on=clocks.form_due_on(day, 45),
        recorded_by=who,
    )


def build(world):
    practice = Practice.load()
    practice.dea_registrant = world["priya"]
    practice.save(update_fields=["dea_registrant"])
    world["inventory"], world["discrepancy"] = counted_inventory(world["ada"])
    world["loss_report"] = loss_report(world["tess"])


def walk_discrepancy(who) -> Discrepancy:
    """The screenshot walk's discrepancy (tests/browser/walk.py): the first waiting one, or one
    made now."""
    found = Discrepancy.objects.filter(explained_at__isnull=True).select_related("count").first()
    return found or counted_inventory(who)[1]


def walk_loss_report(who) -> LossReport:
    return LossReport.objects.first() or loss_report(who)
