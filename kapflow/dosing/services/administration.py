"""Doses: the first dose behind every gate, boosters within the order, the routes of the session,
and the prescriber on site that intranasal esketamine needs."""

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from kapflow.clients.models import ADULT_AGE
from kapflow.clients.selectors import prescribers_for
from kapflow.controlled import ledger
from kapflow.controlled.models import Lot, RemsEnrolment
from kapflow.dosing import selectors
from kapflow.dosing.models import Administration, PhaseMark, PrescriberOnSite, Runbook
from kapflow.dosing.services.runbook import (
    RunbookRefused,
    _audit,
    _on_the_day,
    _open_runbook,
    _saved,
    _sent_before,
)
from kapflow.medical import doses, routes
from kapflow.medical.gates import order_gate
from kapflow.medical.models import MedicationOrder
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit

# The routes given from the practice's own stock: once the stock ledger is kept, a dose by one of
# them names its lot. A sublingual dose may come from the client's own medicine.
STOCKED_ROUTES = (doses.INTRAMUSCULAR, doses.INTRAVENOUS, doses.INTRANASAL)


def session_routes(runbook: Runbook | None, visit: Visit, *, day: datetime.date) -> list[str]:
    """The routes of this session: those of the doses given, or before any, those of the client's
    orders in force on `day` (any of them may be chosen, so a rule of any applies). One query,
    two before the first dose."""
    given = list(runbook.administrations.values_list("route", flat=True)) if runbook is not None else []
    if given:
        return given
    return list(
        MedicationOrder.objects.filter(client_id=visit.client_id).active(day).values_list("route", flat=True)
    )


def prescriber_on_site_record(
    *, actor, visit: Visit, prescriber, on_site_at: datetime.datetime, request=None
) -> PrescriberOnSite:
    """Record which prescriber is on site for the session, and from when: intranasal esketamine
    is given only with one there (kapflow.medical.routes). Refused for someone who is not an
    active prescriber, for an invited outside prescriber who is not on the client's care team
    (docs/access.md), for a virtual session (the prescriber cannot be on site at the client's
    home), on a signed record and on a visit that did not take place."""
    _on_the_day(on_site_at, visit)
    if not (prescriber.is_prescriber and prescriber.is_active):
        raise RunbookRefused(f"{prescriber.full_name} is not an active prescriber of the practice.")
    if not prescribers_for(visit.client_id).filter(pk=prescriber.pk).exists():
        raise RunbookRefused(
            f"{prescriber.full_name} prescribes from outside the practice and is not on this "
            "client's care team."
        )
    if visit.is_virtual:
        raise RunbookRefused("A virtual session has no prescriber on site: it happens at the client's home.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        record = _saved(
            PrescriberOnSite(runbook=runbook, prescriber=prescriber, on_site_at=on_site_at, recorded_by=actor)
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.prescriber_on_site.recorded",
            visit=visit,
            obj=record,
            detail={"prescriber": prescriber.pk},
        )
    return record


def _booster_problems(
    *, runbook: Runbook, visit: Visit, order: MedicationOrder, route: str, dose_mg: Decimal, given_at
) -> list:
    first = runbook.administrations.filter(is_booster=False).select_related("order").first()
    problems = []
    if visit.status != Visit.Status.IN_PROGRESS:
        return ["A booster is given in a session under way."]
    if first.order_id != order.pk:
        problems.append(f"A booster is given under the session's order ({first.order}).")
        return problems
    if given_at < first.given_at:
        problems.append("A booster comes after the first dose.")
    if route != order.route:
        problems.append(f"The order is for {order.get_route_display().lower()}, not {route}.")
    if (
        order.discontinued_at is not None
        or not order.starts_on <= timezone.localdate(given_at) <= order.ends_on
    ):
        problems.append("The order is not in force today — prescriber.")
    given = runbook.administrations.filter(is_booster=True).count()
    if given >= order.boosters_allowed:
        problems.append(
            f"The order allows {order.boosters_allowed} booster{'s' if order.boosters_allowed != 1 else ''} "
            f"a session; {given} already given — prescriber."
        )
    elif order.booster_max_mg is not None and dose_mg > order.booster_max_mg:
        problems.append(
            f"A booster of {doses.number(dose_mg)} mg is above the order's highest booster, "
            f"{doses.number(order.booster_max_mg)} mg — prescriber."
        )
    return problems


def _first_dose_problems(*, runbook, visit, order, route, dose_mg, given_at, practice) -> list:
    if visit.status != Visit.Status.IN_PROGRESS:
        return ["Start the session before the first dose."]
    # The gates that let the session start are checked again at the dose: a clearance that
    # expired, a consent withdrawn or an order discontinued since the start still blocks it.
    gates = [blocker.result for blocker in visit_services.start_blockers(visit, practice=practice)]
    gates += [
        selectors.checklist_gate(visit, runbook, now=given_at, practice=practice),
        selectors.predose_gate(runbook, now=given_at, practice=practice),
        # Soft: an integration booked in the window, or the therapist's written acknowledgement.
        selectors.integration_gate(visit, runbook, practice=practice),
    ]
    problems = []
    for gate in gates:
        if not gate.passed:
            problems.append(f"{gate.label}: {gate.reason} (who can clear it: the {gate.resolver})")
    if problems:
        return problems
    gate = order_gate(visit.client, today=timezone.localdate(given_at), route=route, dose_mg=dose_mg)
    if not gate.passed:
        return [gate.reason]
    low, high = order.range_mg()
    if (
        order.route != route
        or not low <= dose_mg <= high
        or not order.is_active(timezone.localdate(given_at))
    ):
        return [f"{doses.number(dose_mg)} mg {route} does not fit the chosen order ({order}) — prescriber."]
    # Route × setting × person, judged on the facts of the day, the prescriber on site among them.
    place = routes.Place(
        virtual=visit.is_virtual,
        room=visit.room.name if visit.room_id else "",
        rems_certified=bool(visit.room_id and visit.room.rems_certified),
        rems_setting_id=visit.room.rems_setting_id if visit.room_id else None,
    )
    day = timezone.localdate(given_at)
    return [
        problem.reason
        for problem in routes.route_problems(
            route,
            place=place,
            minor=visit.client.age(timezone.localdate(given_at)) < ADULT_AGE,
            minor_signoff=order.minor_signoff,
            practice=practice,
            prescriber_on_site=runbook.prescribers_on_site.exists(),
            # Spravato REMS: each client is enrolled before the first dose (asked only for it).
            rems_enrolled=(
                RemsEnrolment.objects.filter(client_id=visit.client_id, enrolled_on__lte=day).exists()
                if route == doses.INTRANASAL
                else None
            ),
        )
    ]


def dose_record(
    *,
    actor,
    visit: Visit,
    order: MedicationOrder,
    given_at: datetime.datetime,
    route: str,
    dose_mg: Decimal,
    lot_number: str,
    given_by,
    practice,
    self_administered: bool = False,
    lot: Lot | None = None,
    entry_key=None,
    request=None,
) -> Administration:
    """Record a dose given, against `order`. The session's first dose needs the session started,
    the gates that let it start still passing, the day-of gates passed (the day-of checklist, the
    pre-dose vitals or their caution acknowledged by a prescriber, an integration booked in the
    window or acknowledged in writing) and the order gate passed for this route and dose; it
    marks the medicine phase if nobody has. Later doses are boosters, within the order's count
    and highest booster. `self_administered`: a sublingual dose the client took under the
    observation of `given_by` (recorded as its observer). A form sent again with the same
    `entry_key` records nothing new: the dose it saved the first time is returned.

    `lot`: the practice's stock lot the dose came from. Once the practice keeps a stock ledger
    (kapflow.controlled.ledger.ledger_started) an injected or intranasal dose names one, and the
    dose is posted to its ledger in the same transaction, refused with the lot's balance named
    when the lot holds too little. A sublingual dose may name one, or come from the client's own
    pharmacy-filled medicine (`lot_number` in words)."""
    dose_mg = Decimal(dose_mg)
    _on_the_day(given_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)  # locked: a second sending waits here
        if (saved := _sent_before(runbook.administrations, entry_key)) is not None:
            return saved
        if order.client_id != visit.client_id:
            raise RunbookRefused("That order is not this client's.")
        if not given_by.is_clinician:
            raise RunbookRefused(
                "A dose is observed by a therapist or prescriber."
                if self_administered
                else "A dose is given by a therapist or prescriber."
            )
        if problem := routes.self_administration_problem(route, self_administered=self_administered):
            raise RunbookRefused(problem)
        booster = runbook.administrations.exists()
        if not booster:
            # A first dose uses up one of the order's sessions authorised, counted across every
            # runbook of the client: lock the order (the row that holds the limit), so that two
            # first doses sent at once in two sessions count one after the other. The runbook
            # lock above serialises only this session. (SQLite: the IMMEDIATE transaction holds
            # the database's one write lock already.)
            order = MedicationOrder.objects.select_for_update(no_key=True).get(pk=order.pk)
        if booster:
            problems = _booster_problems(
                runbook=runbook, visit=visit, order=order, route=route, dose_mg=dose_mg, given_at=given_at
            )
        else:
            problems = _first_dose_problems(
                runbook=runbook,
                visit=visit,
                order=order,
                route=route,
                dose_mg=dose_mg,
                given_at=given_at,
                practice=practice,
            )
        if lot is None and route in STOCKED_ROUTES and ledger.ledger_started():
            problems.append(
                f"Choose the lot the dose came from: the practice keeps a stock ledger, and "
                f"{doses.ROUTE_NAMES[route].lower()} is given from the practice's stock."
            )
        if problems:
            raise RunbookRefused(*problems)
        given = _saved(
            Administration(
                runbook=runbook,
                order=order,
                given_at=given_at,
                route=route,
                dose_mg=dose_mg,
                lot_number=lot.lot_number if lot is not None else lot_number,
                lot=lot,
                given_by=given_by,
                self_administered=self_administered,
                observed_by=given_by if self_administered else None,
                is_booster=booster,
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
        if lot is not None:
            # Posted with the dose, or neither is saved: the lot's row is locked last, after the
            # runbook and the order, as every other writer of the ledger takes it alone.
            try:
                ledger.administration_post(administration=given, lot=lot, drug=order.drug, request=request)
            except ledger.LedgerRefused as refused:
                raise RunbookRefused(*refused.problems) from None
        if not booster and not runbook.phase_marks.filter(phase=PhaseMark.Phase.MEDICINE).exists():
            _saved(
                PhaseMark(
                    runbook=runbook, phase=PhaseMark.Phase.MEDICINE, started_at=given_at, recorded_by=actor
                )
            )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.dose.recorded",
            visit=visit,
            obj=given,
            detail={"booster": booster, "order": order.pk, "self_administered": self_administered},
        )
    return given
