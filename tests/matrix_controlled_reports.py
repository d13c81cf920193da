"""The controlled-substance reports in the access matrix (tests/test_access_matrix.py), and the
small builders of a ledger that their tests (tests/test_controlled_reports.py) and the browser
walk use."""

import datetime
from decimal import Decimal

from django.utils import timezone

from tests import factories
from tests.access_rules import FORBIDDEN, LOGIN, OK


def stock_page(role, target):
    """The stock ledger and its reports: whoever keeps the stock (the practice's prescribers and
    its admins, kapflow.controlled.ledger.can_keep_stock); every other role is refused."""
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "priya") else FORBIDDEN


MATRIX = {
    "controlled_reports:ledger": ("get", stock_page, None),
    "controlled_reports:ledger_csv": ("get", stock_page, None),
    "controlled_reports:ledger_pdf": ("get", stock_page, None),
    "controlled_reports:dispensing": ("get", stock_page, None),
    "controlled_reports:dispensing_csv": ("get", stock_page, None),
    "controlled_reports:dispensing_pdf": ("get", stock_page, None),
}


def build(world):
    """A lot with a receipt and a dose to Avery, so that every report has a row to show."""
    lot = make_lot(world["priya"])
    receive(lot, world["priya"], Decimal("10"), at=timezone.now() - datetime.timedelta(days=3))
    give(lot, world["avery"], world["priya"], Decimal("1.5"), at=timezone.now() - datetime.timedelta(days=2))


def at(day: datetime.date, hour: int = 12, minute: int = 0) -> datetime.datetime:
    """A moment of `day` in the practice's time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def make_lot(
    by, *, lot_number: str = "KX-1001", strength: str = "50", form: str = "vial", drug: str = "ketamine"
):
    from kapflow.controlled.models import Lot

    return Lot.objects.create(
        drug=drug,
        product="Ketamine HCl injection, 10 mL multi-dose vial",
        form=form,
        strength_mg=Decimal(strength),
        container_quantity=Decimal("10"),
        ndc="0409-2053-10",
        lot_number=lot_number,
        expires_on=timezone.localdate() + datetime.timedelta(days=700),
        created_by=by,
    )


def receive(lot, person, quantity: Decimal, *, at: datetime.datetime, reference: str = "INV-2207"):
    from kapflow.controlled.ledger import entry_post

    return entry_post(
        lot=lot,
        kind="receipt",
        quantity=quantity,
        occurred_at=at,
        person=person,
        recorded_by=person,
        party_name="Henry Schein",
        party_address="135 Duryea Rd, Melville NY 11747",
        party_dea_number="RH0123456",
        document_reference=reference,
        containers=1,
    )


def give(lot, client, person, quantity: Decimal, *, at: datetime.datetime):
    """A dose of `quantity` of `lot` given to `client` by `person` at `at`, in a medication
    session of its own, posted to the ledger."""
    from kapflow.controlled.ledger import entry_post
    from kapflow.dosing.models import Administration, Runbook
    from kapflow.visits.models import Room, Visit

    room, _ = Room.objects.get_or_create(name="Treatment room (ledger tests)")
    visit = Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        status=Visit.Status.COMPLETED,
        modality=Visit.Modality.IN_PERSON,
        room=room,
        starts_at=at - datetime.timedelta(minutes=10),
        ends_at=at + datetime.timedelta(hours=2),
        clinician=person,
        created_by=person,
    )
    administration = Administration.objects.create(
        runbook=Runbook.objects.create(visit=visit),
        order=factories.standing_order(client, person),
        given_at=at,
        route="intramuscular",
        dose_mg=quantity * lot.strength_mg,
        lot_number=lot.lot_number,
        lot=lot,
        given_by=person,
        recorded_by=person,
    )
    return entry_post(
        lot=lot,
        kind="administration",
        quantity=-quantity,
        occurred_at=at,
        person=person,
        recorded_by=person,
        administration=administration,
        client=client,
    )
