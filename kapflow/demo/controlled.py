"""The quick demo practice's controlled-substance record (issue 17; docs/demo.md, "The
controlled-substance record"): the stock ledger from its initial inventory on, receipts of
ketamine vials and Spravato devices, three medication sessions whose doses are posted to the
ledger by the runbook's own services (a ketamine injection with a witnessed waste, a client's own
sublingual troches counted against the pharmacy's fill, and an esketamine session with its
Spravato REMS answers, whose form is still to submit), and a later inventory with a small
discrepancy the practice's DEA registrant explained.

The ledger starts the day after the last injected or intranasal dose the other stories recorded:
those doses carry a lot number in words and were given before the practice kept its ledger
(signed records are not changed). Every record is written through the service a person would
use, dated in the past as the services allow, except where a service dates its row "now" (said
where it happens). Loading again adds nothing: the initial inventory is taken once.
Fictional throughout."""

import datetime
import random
from decimal import Decimal

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.controlled import inventory as inventories
from kapflow.controlled import ledger
from kapflow.controlled.enrolment import enrolment_record
from kapflow.controlled.fills import fill_record
from kapflow.controlled.models import Discrepancy, Inventory, Lot
from kapflow.controlled.stock import lot_receive
from kapflow.demo.runbook import (
    NOTES,
    _at,
    _review_earlier_action_items,
    after_the_dose,
    before_the_dose,
    integration_record,
    spravato_room_get,
)
from kapflow.dosing import rems
from kapflow.dosing.models import (
    Administration,
    Note,
    PhaseMark,
    RemsReport,
    Runbook,
)
from kapflow.dosing.services.administration import STOCKED_ROUTES, dose_record, prescriber_on_site_record
from kapflow.dosing.services.rems import rems_answers_save
from kapflow.dosing.services.supply import supply_count_record
from kapflow.dosing.services.waste import waste_record
from kapflow.medical.doses import number
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.practice.models import Practice
from kapflow.visits.models import DEFAULT_MINUTES, Room, Visit

# The practice's DEA registration (a practitioner's number: B, the registrant's surname's
# initial, six digits and the check digit; kapflow.lib.identifiers).
REGISTRATION_NUMBER = "BR4827311"
# The distributor the practice buys from (a distributor's number begins with P).
SUPPLIER = {
    "supplier_name": "Pacific Coast Medical Distributors",
    "supplier_address": "2200 Harbor Gateway, Torrance, CA 90501",
    "supplier_dea_number": "PC3815620",
}
KETAMINE = {
    "drug": MedicationOrder.Drug.KETAMINE,
    "product": "Ketamine HCl injection 50 mg/mL, 10 mL multi-dose vial",
    "form": Lot.Form.VIAL,
    "strength_mg": Decimal(50),
    "container_quantity": Decimal(10),
    "ndc": "0143-9508-10",
}
SPRAVATO = {
    "drug": MedicationOrder.Drug.ESKETAMINE,
    "product": "Spravato (esketamine) nasal spray, 28 mg device; 56 mg kit of two devices",
    "form": Lot.Form.NASAL_DEVICE,
    "strength_mg": Decimal(28),
    "container_quantity": Decimal(2),
    "ndc": "50458-028-02",
}
PHARMACY = "Ventura Compounding Pharmacy"
TROCHE_MG = Decimal(100)
# Days before the loading day each session is asked for (the diary gives the nearest free day).
INJECTION_DAYS, TROCHE_DAYS, ESKETAMINE_DAYS = 19, 17, 5
# The ledger begins this many days before the loading day (ledger_kept_from).
LEDGER_DAYS = 35
# How many days either side of the one wanted a story's session may move to find room.
BOOK_WITHIN = 7
SESSION_AT = 10 * 60


def ledger_kept_from(today: datetime.date) -> datetime.date:
    """The first day the demo practice keeps its stock ledger: LEDGER_DAYS before the loading
    day. The other stories give no injected or intranasal dose from then on (an esketamine course
    of theirs ends before it: kapflow.demo.outcomes, kapflow.demo.alumni), so that this story has
    the same weeks for its sessions whatever the day it is loaded: when a course of theirs ran
    into the last week, the ledger began days before now, and this story's sessions found no room."""
    return today - datetime.timedelta(days=LEDGER_DAYS)


def ledger_start_day(today: datetime.date) -> datetime.date:
    """The day of the initial inventory: the day after the last injected or intranasal dose
    recorded before the practice kept its ledger, and no earlier than `ledger_kept_from`."""
    last = Administration.objects.filter(route__in=STOCKED_ROUTES).aggregate(last=Max("given_at"))["last"]
    earliest = ledger_kept_from(today)
    if last is None:
        return earliest
    return max(timezone.localdate(last) + datetime.timedelta(days=1), earliest)


@transaction.atomic
def add_controlled_story(staff, schedule) -> None:
    if ledger.ledger_started():
        return
    rng = random.Random(1717)  # noqa: S311  (made-up demo data, not secrets)
    practice = Practice.load()
    if practice.dea_registrant_id is None:
        practice.dea_registrant = staff["prescriber"]
        practice.dea_registration_number = REGISTRATION_NUMBER
        practice.dea_registration_expires_on = schedule.today + datetime.timedelta(days=540)
        practice.save()
    registrant, admin = practice.dea_registrant, staff["admin"]
    start = ledger_start_day(schedule.today)
    vials, devices = _open_ledger(registrant, admin, start)
    begins = schedule.at(start + datetime.timedelta(days=2), 0)
    clients = {c.first_name: c for c in Client.objects.filter(stage=Client.Stage.COURSE).order_by("pk")}
    if theo := clients.get("Theo"):
        _injection_session(theo, staff, schedule, practice, rng, lot=vials, after=begins)
    if imani := clients.get("Imani"):
        _troche_session(imani, staff, schedule, practice, rng, after=begins)
    if caleb := clients.get("Caleb"):
        _esketamine_session(caleb, staff, schedule, practice, rng, lot=devices, after=begins)
    # The action items of the records written before these sessions' were reviewed at them.
    _review_earlier_action_items()
    _later_inventory(registrant, practice, schedule.today)


def _open_ledger(registrant, admin, start: datetime.date) -> tuple[Lot, Lot]:
    """The initial inventory (an opened vial and one Spravato kit on hand) and the first
    receipts the next day. Returns the lots the sessions draw from: the opened vial's and the
    kit's (used first, as they expire first)."""
    expires = start + datetime.timedelta(days=300)
    inventories.initial_inventory_take(
        actor=registrant,
        taken_on=start,
        time_of_day=Inventory.TimeOfDay.OPENING,
        taken_by=registrant,
        rows=[
            inventories.OpeningRow(
                **KETAMINE,
                lot_number="KH24081",
                expires_on=expires,
                full_containers=1,
                open_quantity=Decimal("6.4"),
            ),
            inventories.OpeningRow(**SPRAVATO, lot_number="SPR3312", expires_on=expires, full_containers=1),
        ],
        note="The practice starts its stock ledger: every lot on hand counted at the opening of business.",
    )
    received = start + datetime.timedelta(days=1)
    later = start + datetime.timedelta(days=420)
    for described, lot_number, containers, reference in (
        (KETAMINE, "KH24117", 5, "PCMD-INV-40817"),
        (SPRAVATO, "SPR3390", 4, "PCMD-INV-40818"),
    ):
        lot_receive(
            actor=admin,
            received_by=registrant,
            containers=containers,
            received_on=received,
            reference=reference,
            new_lot=Lot(**described, lot_number=lot_number, expires_on=later),
            **SUPPLIER,
        )
    lots = Lot.objects.filter(lot_number__in=["KH24081", "SPR3312"])
    by_number = {lot.lot_number: lot for lot in lots}
    return by_number["KH24081"], by_number["SPR3312"]


# The sessions -------------------------------------------------------------------------------


def _therapist(client: Client):
    return client.care_team.get(role="primary_therapist").user


def _book(schedule, client, clinician, *, days_ago: int, rooms, after, others=()):
    """A medication session near `days_ago` before the loading day, after `after`, ended at least
    a day before now, and its integration session within the window after it; both completed.
    The days nearest the one wanted are tried in turn (later first at an equal distance, as the
    schedule does), up to BOOK_WITHIN of it: the day wanted moves with the weekday the demo is
    loaded on, and its neighbours may hold the client's own course (a session the next day leaves
    no room for the integration within its window). None when no day has room for both."""
    window = datetime.timedelta(hours=Practice.load().integration_window_hours)
    integration_rooms = list(Room.objects.filter(active=True, rems_certified=False).order_by("pk"))
    wanted = schedule.today - datetime.timedelta(days=days_ago)
    days = [wanted] + [
        wanted + datetime.timedelta(days=step * distance)
        for distance in range(1, BOOK_WITHIN + 1)
        for step in (1, -1)
    ]
    tried = (
        _book_on(
            schedule,
            client,
            clinician,
            day,
            rooms=rooms,
            integration_rooms=integration_rooms,
            window=window,
            after=after,
            others=others,
        )
        for day in days
    )
    found = next((both for both in tried if both is not None), None)
    if found is None:
        return None
    booking, follow = found
    session = Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        modality=Visit.Modality.IN_PERSON,
        room=booking.room,
        clinician=clinician,
        # Under way while its record is kept (the runbook's services record into a session under
        # way); completed when the record is signed.
        status=Visit.Status.IN_PROGRESS,
        status_changed_at=booking.starts_at,
        created_by=_coordinator(),
    )
    session.other_clinicians.set(others)
    Visit.objects.create(
        client=client,
        kind=Visit.Kind.INTEGRATION,
        starts_at=follow.starts_at,
        ends_at=follow.ends_at,
        modality=Visit.Modality.IN_PERSON,
        room=follow.room,
        clinician=clinician,
        status=Visit.Status.COMPLETED,
        status_changed_at=follow.ends_at,
        created_by=_coordinator(),
    )
    return session


def _book_on(
    schedule, client, clinician, day: datetime.date, *, rooms, integration_rooms, window, after, others
):
    """_book's medication session on `day` and its integration session `window` after it at most,
    held in the schedule, each in one of its rooms. None (nothing held) when either has no room."""
    booking = schedule.book(
        client=client,
        clinician=clinician,
        others=others,
        around=schedule.at(day, SESSION_AT),
        minutes=DEFAULT_MINUTES[Visit.Kind.MEDICATION],
        rooms=rooms,
        earliest=after,
        latest=schedule.now - datetime.timedelta(days=3),
        days=0,
    )
    if booking is None:
        return None
    follow = schedule.book(
        client=client,
        clinician=clinician,
        around=booking.ends_at + datetime.timedelta(hours=20),
        minutes=DEFAULT_MINUTES[Visit.Kind.INTEGRATION],
        rooms=integration_rooms,
        earliest=booking.ends_at,
        latest=min(booking.ends_at + window, schedule.now - datetime.timedelta(hours=2)),
    )
    if follow is None:
        schedule.release(booking, client=client, clinician=clinician, others=others)
        return None
    return booking, follow


def _coordinator():
    from kapflow.accounts.models import User

    return User.objects.filter(is_coordinator=True).order_by("pk").first()


def _run(visit: Visit, practice, rng, *, dose, during=None, after_discharge=None) -> Runbook:
    """One medication session recorded as kapflow.demo.runbook.signed_runbook records it, minute
    by minute, but with the dose (and what goes with it: a count, a waste, the REMS answers)
    recorded through the runbook's services. `dose(dose_at)` records the dose; `during(given)`
    runs before the discharge, `after_discharge(given, discharged)` after it, before signing."""
    start, who = visit.starts_at, visit.clinician
    book = Runbook.objects.create(visit=visit, created_at=_at(start, -25))
    base, baseline = before_the_dose(book, who, rng, transport="Partner drives home", food=300, liquid=90)
    dose_at = _at(start, practice.opening_reflection_minutes)
    given = dose(dose_at)  # marks the medicine phase
    last_reading = after_the_dose(book, practice, who, dose_at=dose_at, base=base, baseline=baseline)
    if during is not None:
        during(given)
    integration_at = _at(dose_at, practice.medicine_minutes)
    PhaseMark.objects.create(
        runbook=book,
        phase="integration",
        started_at=integration_at,
        recorded_by=who,
        recorded_at=integration_at,
    )
    for n, text in enumerate(NOTES):
        written = _at(start, [5, practice.opening_reflection_minutes + 10, 70, 100][n])
        Note.objects.create(runbook=book, written_at=written, text=text, author=who, recorded_at=written)
    discharged = max(_at(dose_at, practice.min_monitoring_minutes + 5), _at(last_reading, 5))
    book.refresh_from_db()
    book.alert_and_oriented = book.steady_on_feet = book.escort_present = True
    book.discharged_at, book.discharged_by = discharged, who
    book.save(
        update_fields=[
            "alert_and_oriented",
            "steady_on_feet",
            "escort_present",
            "discharged_at",
            "discharged_by",
        ]
    )
    if after_discharge is not None:
        after_discharge(given, discharged)
    # Signed as the signing service signs (kapflow.dosing.services.signing.runbook_sign), dated
    # ten minutes after the discharge: an esketamine session only with its REMS form complete.
    form = rems.form_for(visit, practice=practice)
    if form is not None and form.missing:
        raise ValueError(f"{visit}: the REMS form is not complete: {form.missing}")
    book.signed_at, book.signed_by = _at(discharged, 10), who
    book.save(update_fields=["signed_at", "signed_by"])
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.COMPLETED, status_changed_at=book.signed_at)
    visit.refresh_from_db()
    integration_record(visit, rng)
    return book


def _order(client: Client, *, on: datetime.date, **fields) -> MedicationOrder:
    """A prescriber's order, dated the day it was written (the order service dates its row now,
    so the demo writes the same row itself, checked as the service checks it)."""
    prescriber = client.care_team.get(role="prescriber").user
    written = timezone.make_aware(datetime.datetime.combine(on, datetime.time(16)))
    order = MedicationOrder(
        client=client,
        prescriber=prescriber,
        created_at=written,
        starts_on=on,
        ends_on=on + datetime.timedelta(days=120),
        **fields,
    )
    order.full_clean()
    order.save()
    return order


def _injection_session(client, staff, schedule, practice, rng, *, lot: Lot, after) -> None:
    """A ketamine injection (intramuscular), given by the prescriber from the opened vial, and
    what was left in the syringe wasted before the therapist as witness."""
    therapist, prescriber = _therapist(client), staff["prescriber"]
    visit = _book(
        schedule,
        client,
        therapist,
        days_ago=INJECTION_DAYS,
        rooms=list(Room.objects.filter(active=True, rems_certified=False).order_by("pk")),
        after=after,
        others=(prescriber,),
    )
    if visit is None:
        return
    weight = (
        Clearance.objects.filter(client=client)
        .order_by("-decided_at")
        .values_list("weight_kg", flat=True)
        .first()
    )
    order = _order(
        client,
        on=timezone.localdate(visit.starts_at) - datetime.timedelta(days=5),
        drug=MedicationOrder.Drug.KETAMINE,
        route=MedicationOrder.Route.INTRAMUSCULAR,
        unit=MedicationOrder.Unit.MG_PER_KG,
        dose_min=Decimal("0.5"),
        dose_max=Decimal("0.9"),
        weight_kg=weight or Decimal(80),
        sessions_authorised=2,
        instructions="Deltoid; one injection. Prescriber on site throughout.",
    )
    low, high = order.range_mg()
    # The middle of the range, down to 5 mg: a volume of the 50 mg/mL vial to a tenth of a mL.
    dose_mg = max(low, Decimal(int((low + high) / 2 / 5) * 5))

    def dose(at):
        prescriber_on_site_record(
            actor=prescriber, visit=visit, prescriber=prescriber, on_site_at=_at(visit.starts_at, 5)
        )
        return dose_record(
            actor=prescriber,
            visit=visit,
            order=order,
            given_at=at,
            route=order.route,
            dose_mg=dose_mg,
            lot_number="",
            given_by=prescriber,
            practice=practice,
            lot=lot,
        )

    def waste(given):
        wasted_at = _at(given.given_at, 3)
        drawn = ledger.dose_quantity(lot, dose_mg) + Decimal("0.2")
        # The witness confirms who they are on the screen (kapflow.accounts.witness): the demo
        # cannot type their password, so it records the confirmation as that service returns it,
        # at the moment of the waste.
        waste_record(
            actor=prescriber,
            visit=visit,
            administration=given,
            quantity=Decimal("0.2"),
            reason=f"Drew {number(drawn)} mL, gave {number(drawn - Decimal('0.2'))} mL; 0.2 mL left in "
            "the syringe, squirted into the drug disposal pouch.",
            wasted_at=wasted_at,
            witness=therapist,
            witness_confirmed_at=wasted_at,
        )

    _run(visit, practice, rng, dose=dose, during=waste)


def _troche_session(client, staff, schedule, practice, rng, *, after) -> None:
    """The client's own sublingual troches: the pharmacy's fill recorded with the order, and a
    session in which the client took two of the twelve brought, counted after the dose."""
    therapist, prescriber = _therapist(client), staff["prescriber"]
    visit = _book(
        schedule,
        client,
        therapist,
        days_ago=TROCHE_DAYS,
        rooms=list(Room.objects.filter(active=True, rems_certified=False).order_by("pk")),
        after=after,
    )
    if visit is None:
        return
    day = timezone.localdate(visit.starts_at)
    order = (
        MedicationOrder.objects.filter(client=client, route=MedicationOrder.Route.SUBLINGUAL)
        .active(day)
        .order_by("-created_at")
        .first()
    )
    if order is None:
        raise ValueError(f"{client}: no sublingual order in force on {day}")
    fill = fill_record(
        actor=prescriber,
        client=client,
        order=order,
        pharmacy=PHARMACY,
        pharmacy_phone="(818) 555-0142",
        rx_number="RX-3318207",
        form="troche",
        strength_mg=TROCHE_MG,
        quantity=Decimal(12),
        refills_authorised=1,
        refill_number=0,
        filled_on=day - datetime.timedelta(days=4),
        lot_number="VC2611-118",
    )
    low, _high = order.range_mg()
    units = low / TROCHE_MG

    def dose(at):
        return dose_record(
            actor=therapist,
            visit=visit,
            order=order,
            given_at=at,
            route=order.route,
            dose_mg=low,
            lot_number=fill.lot_number,
            given_by=therapist,
            practice=practice,
            self_administered=True,
        )

    def count(given):
        supply_count_record(
            actor=therapist,
            visit=visit,
            strength_mg=TROCHE_MG,
            brought=fill.quantity,
            taken=units,
            counted_at=_at(given.given_at, 20),
            practice=practice,
        )

    _run(visit, practice, rng, dose=dose, during=count)


def _esketamine_session(client, staff, schedule, practice, rng, *, lot: Lot, after) -> None:
    """Spravato in the REMS-certified room: the client enrolled in the REMS with the prescriber,
    the prescriber on site, two devices from the kit on hand, and the clinician's REMS answers.
    Its form is still to submit (within the practice's days), so the list of forms shows it."""
    therapist, prescriber = _therapist(client), staff["prescriber"]
    visit = _book(
        schedule, client, therapist, days_ago=ESKETAMINE_DAYS, rooms=[spravato_room_get()], after=after
    )
    if visit is None:
        return
    day = timezone.localdate(visit.starts_at)
    enrolled = day - datetime.timedelta(days=3)
    enrolment_record(
        actor=prescriber,
        client=client,
        prescriber=prescriber,
        enrolled_on=enrolled,
        patient_rems_id=f"PT-{client.pk:06d}",
    )
    order = _order(
        client,
        on=enrolled,
        drug=MedicationOrder.Drug.ESKETAMINE,
        route=MedicationOrder.Route.INTRANASAL,
        unit=MedicationOrder.Unit.MG,
        dose_min=Decimal(56),
        dose_max=Decimal(84),
        sessions_authorised=8,
        instructions="Two devices (56 mg) five minutes apart; blood pressure before and after.",
    )
    medicines = (
        Screening.objects.filter(client=client)
        .order_by("-completed_at")
        .values_list("medications", flat=True)
        .first()
        or []
    )
    classes = ["benzodiazepines"] if any(m.get("class") == "benzodiazepine" for m in medicines) else []

    def dose(at):
        prescriber_on_site_record(
            actor=therapist, visit=visit, prescriber=prescriber, on_site_at=_at(visit.starts_at, 5)
        )
        return dose_record(
            actor=therapist,
            visit=visit,
            order=order,
            given_at=at,
            route=order.route,
            dose_mg=order.dose_min,
            lot_number="",
            given_by=therapist,
            practice=practice,
            lot=lot,
        )

    def answer(given, discharged):
        form = rems.form_for(visit, practice=practice)
        report = rems_answers_save(
            actor=therapist,
            visit=visit,
            answers={
                "first_treatment": form.suggested["first_treatment"],
                "concomitant": classes,
                "no_concomitant": not classes,
                "sedation": form.suggested["sedation"],
                "dissociation": form.suggested["dissociation"],
                "respiratory_depression": form.suggested["respiratory_depression"],
                "other_adverse_events": form.suggested["other_adverse_events"],
                "vitals_ok_before_dosing": True,
                "vitals_ok_before_discharge": True,
                "ready_to_leave_minutes": practice.min_monitoring_minutes - practice.vitals_interval_minutes,
            },
        )
        # The service dates the answers now; they were given at the discharge, before signing.
        RemsReport.objects.filter(pk=report.pk).update(answered_at=_at(discharged, 5))

    _run(visit, practice, rng, dose=dose, after_discharge=answer)


# A later inventory ------------------------------------------------------------------------


def _later_inventory(registrant, practice, today: datetime.date) -> None:
    """An inventory the registrant took yesterday at the close of business: every lot holding
    stock counted, the opened vial 0.1 mL short of the ledger; the registrant explains it as the
    demo is loaded, as a small loss (not theft or significant: posted to the ledger, nothing owed to the
    DEA)."""
    counts, short = [], None
    for lot in inventories.lots_to_count():
        held = lot.balance or Decimal(0)
        full = int(held // lot.container_quantity)
        opened = held - full * lot.container_quantity
        if short is None and lot.form == Lot.Form.VIAL and opened >= Decimal("0.1"):
            opened -= Decimal("0.1")
            short = lot
        counts.append(inventories.LotCount(lot=lot, full_containers=full, open_quantity=opened))
    inventory = inventories.inventory_take(
        actor=registrant,
        kind=Inventory.Kind.OTHER,
        taken_on=today - datetime.timedelta(days=1),
        time_of_day=Inventory.TimeOfDay.CLOSE,
        taken_by=registrant,
        counts=counts,
        note="Counted before the new registration year, with the practice admin.",
    )
    for discrepancy in Discrepancy.objects.filter(count__inventory=inventory).select_related("count__lot"):
        inventories.discrepancy_explain(
            actor=registrant,
            discrepancy=discrepancy,
            outcome=Discrepancy.Outcome.LOSS,
            explanation=(
                f"The opened vial of lot {discrepancy.count.lot.lot_number} holds 0.1 mL less than the "
                "ledger: what stays in a syringe's hub each time a dose is drawn, over the vial's "
                "doses. Not theft or a significant loss. Posted as a loss; the team records the "
                "syringe's residue as witnessed waste from now on."
            ),
            practice=practice,
        )
