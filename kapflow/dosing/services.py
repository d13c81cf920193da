"""Writes to the runbook. Each entry is saved the moment it is entered, in its own transaction
with its audit row; none is saved on a signed (locked) record or a cancelled visit. Every
threshold comes from the practice's settings."""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.models import ADULT_AGE
from kapflow.clients.services import access_grants_end
from kapflow.dosing import alerts, rules, selectors
from kapflow.dosing.models import (
    Addendum,
    Administration,
    AdverseEvent,
    ChaperoneCheckin,
    DayOfChecklist,
    IntegrationAcknowledgement,
    Note,
    PhaseMark,
    PrescriberOnSite,
    Rating,
    Runbook,
    SafetyPlan,
    SafetyReview,
    VitalsReading,
)
from kapflow.lib.dates import latest_moment
from kapflow.lib.gates import Status
from kapflow.medical import doses, routes
from kapflow.medical.gates import order_gate
from kapflow.medical.models import MedicationOrder
from kapflow.visits import services as visit_services
from kapflow.visits.models import Visit


class RunbookRefused(Exception):
    def __init__(self, *problems: str):
        super().__init__(" ".join(problems))
        self.problems = list(problems)


class SpO2Required(RunbookRefused):
    """A reading without SpO2 in a session whose route needs it with every reading: the form
    says so beside the SpO2 field."""


CLOSED_VISIT = (Visit.Status.CANCELLED, Visit.Status.NO_SHOW)


def _open_runbook(visit: Visit, *, with_client: bool = False) -> Runbook:
    """The visit's runbook, locked for this transaction and created on the first entry;
    refused when the record is signed or the visit did not take place. `with_client`: the entry
    is given to or measured on the client there and then (a dose, vitals, a rating, a chaperone
    check-in, a phase), so it is refused once the client has been discharged."""
    # The status as it is now (the caller's copy may be older than a start or a check-in).
    visit.refresh_from_db(fields=["status", "status_changed_at"])
    if visit.kind != Visit.Kind.MEDICATION:
        raise RunbookRefused("Only a medication session has a runbook.")
    if visit.status in CLOSED_VISIT:
        raise RunbookRefused(f"This visit was {visit.get_status_display().lower()}: nothing can be recorded.")
    Runbook.objects.get_or_create(visit=visit)
    runbook = Runbook.objects.select_for_update(no_key=True).get(visit=visit)
    if runbook.is_locked:
        raise RunbookRefused("The session record is signed and locked: add an addendum instead.")
    if with_client and runbook.discharged_at is not None:
        raise RunbookRefused(
            f"The client was discharged at {timezone.localtime(runbook.discharged_at):%H:%M}: "
            "nothing more is given or measured in this session. Add a note instead."
        )
    return runbook


def _saved(obj):
    try:
        obj.full_clean()
    except ValidationError as error:
        raise RunbookRefused(
            *[
                f"{name.replace('_', ' ').capitalize()}: {' '.join(errors)}"
                for name, errors in error.message_dict.items()
            ]
        ) from None
    obj.save()
    return obj


def _sent_before(entries, entry_key):
    """The entry a form sent again saved the first time it came (None if it is new): a form's
    entry is saved once however often it is sent (forms.SentOnce). Call it with the runbook
    locked, so that a second sending waits for the first."""
    return entries.filter(entry_key=entry_key).first() if entry_key is not None else None


def _audit(*, request, actor, action: str, visit: Visit, obj, detail: dict | None = None) -> None:
    audit_record(request=request, actor=actor, action=action, client=visit.client, obj=obj, detail=detail)


def _on_the_day(moment: datetime.datetime, visit: Visit) -> None:
    """An entry's time: not in the future, and not long before the session: no earlier than its
    own length before the booked start (a client may arrive early; a time typed a little ahead
    of the clock reads as yesterday, which this refuses rather than backdate the entry)."""
    if moment > timezone.now() + datetime.timedelta(minutes=1):
        raise RunbookRefused("That time is in the future.")
    if moment < visit.starts_at - (visit.ends_at - visit.starts_at):
        booked = timezone.localtime(visit.starts_at)
        raise RunbookRefused(
            f"That time is long before this session (booked for {booked:%b} {booked.day}, "
            f"{booked:%H:%M}): check the time."
        )


def vitals_record(
    *,
    actor,
    visit: Visit,
    phase: str,
    taken_at: datetime.datetime,
    systolic: int,
    diastolic: int,
    heart_rate: int,
    spo2: int | None,
    practice,
    entry_key=None,
    request=None,
) -> VitalsReading:
    """Save a reading with the alerts it raises, computed now against the pre-dose baseline
    (rises are measured only for in-session readings). Sent again with the same `entry_key`,
    the reading saved the first time is returned."""
    _on_the_day(taken_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)
        if (saved := _sent_before(runbook.vitals, entry_key)) is not None:
            return saved
        if phase == VitalsReading.Phase.PRE_DOSE and runbook.administrations.exists():
            raise RunbookRefused("A dose was already given: record in-session vitals instead.")
        if problem := routes.spo2_problem(
            session_routes(runbook, visit, day=timezone.localdate(taken_at)), spo2=spo2, practice=practice
        ):
            raise SpO2Required(problem)
        baseline = None
        if phase == VitalsReading.Phase.IN_SESSION:
            baseline = selectors.as_reading(selectors.latest_predose(runbook, before=taken_at))
        reading = rules.Reading(taken_at, systolic, diastolic, heart_rate, spo2)
        vitals = _saved(
            VitalsReading(
                runbook=runbook,
                phase=phase,
                taken_at=taken_at,
                systolic=systolic,
                diastolic=diastolic,
                heart_rate=heart_rate,
                spo2=spo2,
                alerts=rules.reading_alerts(reading, baseline=baseline, practice=practice),
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.vitals.recorded",
            visit=visit,
            obj=vitals,
            detail={"phase": phase, "alerts": len(vitals.alerts)},
        )
        # A prescriber hears of an alarming reading at once (kapflow.dosing.alerts).
        alerts.vitals_alerts_raise(reading=vitals, practice=practice, request=request, actor=actor)
    return vitals


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
    active prescriber, for a virtual session (the prescriber cannot be on site at the client's
    home), on a signed record and on a visit that did not take place."""
    _on_the_day(on_site_at, visit)
    if not (prescriber.is_prescriber and prescriber.is_active):
        raise RunbookRefused(f"{prescriber.full_name} is not an active prescriber of the practice.")
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


def caution_acknowledge(*, actor, visit: Visit, practice, request=None) -> Runbook:
    """A prescriber acknowledges a pre-dose reading above the caution level (never one at the
    hold level: that gate fails outright)."""
    if not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber acknowledges a caution reading.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        gate = selectors.predose_gate(runbook, now=timezone.now(), practice=practice)
        if gate.status is not Status.ACKNOWLEDGE:
            raise RunbookRefused(f"Nothing to acknowledge: {gate.reason}")
        runbook.caution_acknowledged_reading = selectors.latest_predose(runbook, before=timezone.now())
        runbook.caution_acknowledged_by = actor
        runbook.save(update_fields=["caution_acknowledged_reading", "caution_acknowledged_by"])
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.caution.acknowledged",
            visit=visit,
            obj=runbook.caution_acknowledged_reading,
        )
    return runbook


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
    )
    return [
        problem.reason
        for problem in routes.route_problems(
            route,
            place=place,
            minor=visit.client.age(timezone.localdate(given_at)) < ADULT_AGE,
            minor_signoff=order.minor_signoff,
            practice=practice,
            prescriber_on_site=runbook.prescribers_on_site.exists(),
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
    `entry_key` records nothing new: the dose it saved the first time is returned."""
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
        if problems:
            raise RunbookRefused(*problems)
        given = _saved(
            Administration(
                runbook=runbook,
                order=order,
                given_at=given_at,
                route=route,
                dose_mg=dose_mg,
                lot_number=lot_number,
                given_by=given_by,
                self_administered=self_administered,
                observed_by=given_by if self_administered else None,
                is_booster=booster,
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
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


def rating_record(
    *, actor, visit: Visit, rated_at, sedation: int, dissociation: int, entry_key=None, request=None
) -> Rating:
    _on_the_day(rated_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)
        if (saved := _sent_before(runbook.ratings, entry_key)) is not None:
            return saved
        rating = _saved(
            Rating(
                runbook=runbook,
                rated_at=rated_at,
                sedation=sedation,
                dissociation=dissociation,
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
        _audit(request=request, actor=actor, action="kapflow.dosing.rating.recorded", visit=visit, obj=rating)
        alerts.rating_alerts_raise(rating=rating, request=request, actor=actor)
    return rating


def adverse_event_record(
    *,
    actor,
    visit: Visit,
    noted_at,
    kind: str,
    severity: str,
    action_taken: str,
    entry_key=None,
    request=None,
) -> AdverseEvent:
    _on_the_day(noted_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if (saved := _sent_before(runbook.adverse_events, entry_key)) is not None:
            return saved
        event = _saved(
            AdverseEvent(
                runbook=runbook,
                noted_at=noted_at,
                kind=kind,
                severity=severity,
                action_taken=action_taken,
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.adverse_event.recorded",
            visit=visit,
            obj=event,
            detail={"kind": kind, "severity": severity},
        )
        alerts.adverse_event_alerts_raise(event=event, request=request, actor=actor)
    return event


def note_record(*, actor, visit: Visit, written_at, text: str, entry_key=None, request=None) -> Note:
    _on_the_day(written_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if (saved := _sent_before(runbook.notes, entry_key)) is not None:
            return saved
        note = _saved(
            Note(runbook=runbook, written_at=written_at, text=text, entry_key=entry_key, author=actor)
        )
        _audit(request=request, actor=actor, action="kapflow.dosing.note.recorded", visit=visit, obj=note)
    return note


def discharge_record(
    *,
    actor,
    visit: Visit,
    alert_and_oriented: bool,
    steady_on_feet: bool,
    escort_present: bool,
    practice,
    override_reason: str = "",
    request=None,
) -> Runbook:
    """Discharge the client when every criterion holds (rules.discharge_unmet); with criteria
    unmet, only a prescriber may discharge, and only with a written reason."""
    now = timezone.now()
    override_reason = override_reason.strip()
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if runbook.discharged_at is not None:
            raise RunbookRefused("The client was already discharged.")
        if visit.status != Visit.Status.IN_PROGRESS:
            raise RunbookRefused("Start the session first: a client is discharged from a session under way.")
        state = selectors.discharge_state(
            runbook,
            alert_and_oriented=alert_and_oriented,
            steady_on_feet=steady_on_feet,
            escort_present=escort_present,
        )
        unmet = rules.discharge_unmet(state, now=now, practice=practice)
        if unmet and not override_reason:
            raise RunbookRefused(*unmet)
        if unmet and not actor.is_prescriber:
            raise RunbookRefused("Only a prescriber may discharge with criteria unmet.", *unmet)
        runbook.alert_and_oriented = alert_and_oriented
        runbook.steady_on_feet = steady_on_feet
        runbook.escort_present = escort_present
        runbook.discharged_at = now
        runbook.discharged_by = actor
        runbook.override_reason = override_reason if unmet else ""
        runbook.override_unmet = unmet
        runbook.save(
            update_fields=[
                "alert_and_oriented",
                "steady_on_feet",
                "escort_present",
                "discharged_at",
                "discharged_by",
                "override_reason",
                "override_unmet",
            ]
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.discharge.overridden" if unmet else "kapflow.dosing.discharge.recorded",
            visit=visit,
            obj=runbook,
            detail={"unmet": len(unmet)} if unmet else None,
        )
    return runbook


def runbook_sign(*, actor, visit: Visit, request=None) -> Runbook:
    """Sign the session record: nothing can be added or changed after this; corrections are
    addenda. Signed after discharge."""
    if not actor.is_clinician:
        raise RunbookRefused("The session record is signed by a therapist or prescriber.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if runbook.discharged_at is None:
            raise RunbookRefused("Record the discharge before signing.")
        # Every row this signing changes is locked before its first audit row is written (the
        # audit chain's lock is taken then, and held to the end: docs/security/audit.md).
        list(Visit.objects.select_for_update(no_key=True).filter(pk=visit.pk).values_list("pk"))
        runbook.signed_at = timezone.now()
        runbook.signed_by = actor
        runbook.save(update_fields=["signed_at", "signed_by"])
        # An on-call prescriber let in for this session's alerts is let out again.
        access_grants_end(source=alerts.runbook_grant_source(runbook), request=request, actor=actor)
        # The signed record closes the session: a session still running is completed with it.
        if visit.status == Visit.Status.IN_PROGRESS:
            visit_services.visit_transition(
                request=_Actor(request, actor), visit=visit, to=Visit.Status.COMPLETED
            )
        _audit(request=request, actor=actor, action="kapflow.dosing.runbook.signed", visit=visit, obj=runbook)
    return runbook


def addendum_add(*, actor, visit: Visit, text: str, request=None) -> Addendum:
    """A correction to a signed record, kept under it with its author and time."""
    text = text.strip()
    if not text:
        raise RunbookRefused("Write the addendum.")
    with transaction.atomic():
        runbook = Runbook.objects.select_for_update(no_key=True).filter(visit=visit).first()
        if runbook is None or not runbook.is_locked:
            raise RunbookRefused("Addenda are for a signed record; until then, add a note.")
        addendum = _saved(Addendum(runbook=runbook, text=text, author=actor))
        _audit(
            request=request, actor=actor, action="kapflow.dosing.addendum.added", visit=visit, obj=addendum
        )
    return addendum


class _Actor:
    """What visit_transition's audit row needs from a request, for a service called without one
    (tests, the demo): the acting user."""

    def __init__(self, request, actor):
        self._request = request
        self.user = actor

    def __getattr__(self, name):
        if self._request is None:
            raise AttributeError(name)
        return getattr(self._request, name)


def checklist_record(
    *,
    actor,
    visit: Visit,
    transport_without_driving: bool,
    transport_detail: str = "",
    last_food_at,
    last_liquid_at,
    substances: list[str],
    pregnancy: str,
    new_medications: str = "",
    medications_reviewed: bool = False,
    suicidality_alert_reviewed: bool = False,
    practice,
    request=None,
) -> DayOfChecklist:
    """Record the day-of checklist (a newer one supersedes the older, which is kept). Only a
    prescriber records the new medications as reviewed. `last_food_at` and `last_liquid_at` may
    be times of day: the latest such moment not after now."""
    now = timezone.now()
    allowed = selectors.avoid_substances(practice)
    unknown = [name for name in substances if name not in allowed]
    if unknown:
        raise RunbookRefused(f"Not on the practice's list of substances: {', '.join(unknown)}.")
    if medications_reviewed and not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber records the new medications as reviewed.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        if runbook.administrations.exists():
            raise RunbookRefused("The dose was given: the day-of checklist can no longer change.")
        checklist = _saved(
            DayOfChecklist(
                runbook=runbook,
                transport_without_driving=transport_without_driving,
                transport_detail=transport_detail.strip(),
                last_food_at=latest_moment(last_food_at, now),
                last_liquid_at=latest_moment(last_liquid_at, now),
                substances=list(substances),
                pregnancy=pregnancy,
                new_medications=new_medications.strip(),
                medications_reviewed_by=actor if medications_reviewed and new_medications.strip() else None,
                suicidality_alert_reviewed=suicidality_alert_reviewed,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.checklist.recorded",
            visit=visit,
            obj=checklist,
            detail={"substances": len(substances), "new_medications": bool(checklist.new_medications)},
        )
    return checklist


def medications_review(*, actor, visit: Visit, request=None) -> DayOfChecklist:
    """A prescriber reviews the new medications on the latest checklist: a copy of it is recorded
    with the prescriber as reviewer (the older one is kept)."""
    if not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber reviews new medications.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        latest = selectors.latest_checklist(runbook)
        if latest is None or not latest.new_medication_list():
            raise RunbookRefused("No new medications on the checklist to review.")
        if latest.medications_reviewed_by_id is not None:
            raise RunbookRefused("The new medications were already reviewed.")
        fields = {
            field.name: getattr(latest, field.name)
            for field in DayOfChecklist._meta.concrete_fields
            if field.name not in ("id", "recorded_at", "recorded_by", "medications_reviewed_by")
        }
        checklist = _saved(
            DayOfChecklist(
                **fields, medications_reviewed_by=actor, recorded_by=actor, recorded_at=timezone.now()
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.medications.reviewed",
            visit=visit,
            obj=checklist,
        )
    return checklist


def safety_plan_record(
    *,
    actor,
    visit: Visit,
    address: str,
    chaperone_name: str,
    chaperone_phone: str,
    chaperone_is_adult: bool,
    chaperone_present: bool,
    emergency_contact: str,
    nearest_emergency_department: str,
    has_bp_cuff: bool,
    request=None,
) -> SafetyPlan:
    """Record a virtual session's safety plan (a newer one supersedes the older, which is kept)."""
    if not visit.is_virtual:
        raise RunbookRefused("An in-person session needs no virtual safety plan.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        plan = _saved(
            SafetyPlan(
                runbook=runbook,
                address=address.strip(),
                chaperone_name=chaperone_name.strip(),
                chaperone_phone=chaperone_phone.strip(),
                chaperone_is_adult=chaperone_is_adult,
                chaperone_present=chaperone_present,
                emergency_contact=emergency_contact.strip(),
                nearest_emergency_department=nearest_emergency_department.strip(),
                has_bp_cuff=has_bp_cuff,
                recorded_by=actor,
            )
        )
        gate = selectors.safety_plan_gate(visit, runbook)
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.safety_plan.recorded",
            visit=visit,
            obj=plan,
            detail={"passes": gate.passed},
        )
    return plan


def session_start(*, actor, visit: Visit, request=None, practice=None) -> Visit:
    """Start the medication session (the visit's every hard gate checked by visit_transition,
    the virtual safety plan among them) and mark the opening reflection."""
    with transaction.atomic():
        try:
            visit = visit_services.visit_transition(
                request=_Actor(request, actor), visit=visit, to=Visit.Status.IN_PROGRESS, practice=practice
            )
        except visit_services.VisitRefused as refused:
            raise RunbookRefused(*refused.problems) from None
        runbook = _open_runbook(visit)
        if not runbook.phase_marks.exists():
            mark = _saved(
                PhaseMark(
                    runbook=runbook,
                    phase=PhaseMark.Phase.OPENING,
                    started_at=visit.status_changed_at,
                    recorded_by=actor,
                )
            )
            _audit(
                request=request,
                actor=actor,
                action="kapflow.dosing.phase.marked",
                visit=visit,
                obj=mark,
                detail={"phase": mark.phase},
            )
    return visit


def phase_mark(*, actor, visit: Visit, phase: str, started_at: datetime.datetime, request=None) -> PhaseMark:
    """Mark when a phase began; each phase once, in the session's order, in a started session."""
    _on_the_day(started_at, visit)
    phase = PhaseMark.Phase(phase)
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)
        if visit.status != Visit.Status.IN_PROGRESS:
            raise RunbookRefused("Start the session first.")
        marks = dict(runbook.phase_marks.values_list("phase", "started_at"))
        if phase in marks:
            raise RunbookRefused(f"{phase.label} already began at {timezone.localtime(marks[phase]):%H:%M}.")
        earlier = list(PhaseMark.Phase)[: list(PhaseMark.Phase).index(phase)]
        later = [moment for key, moment in marks.items() if key not in earlier]
        if any(started_at < marks[key] for key in earlier if key in marks) or any(
            started_at > moment for moment in later
        ):
            raise RunbookRefused(f"{phase.label} comes after the phases before it: check the time.")
        mark = _saved(PhaseMark(runbook=runbook, phase=phase, started_at=started_at, recorded_by=actor))
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.phase.marked",
            visit=visit,
            obj=mark,
            detail={"phase": phase.value},
        )
    return mark


def chaperone_checkin_record(
    *,
    actor,
    visit: Visit,
    checked_at,
    chaperone_present: bool,
    client_ok: bool,
    note: str = "",
    entry_key=None,
    request=None,
) -> ChaperoneCheckin:
    """A virtual session's chaperone check-in."""
    _on_the_day(checked_at, visit)
    if not visit.is_virtual:
        raise RunbookRefused("Chaperone check-ins are for virtual sessions.")
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)
        if (saved := _sent_before(runbook.chaperone_checkins, entry_key)) is not None:
            return saved
        checkin = _saved(
            ChaperoneCheckin(
                runbook=runbook,
                checked_at=checked_at,
                chaperone_present=chaperone_present,
                client_ok=client_ok,
                note=note.strip(),
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.chaperone.checked",
            visit=visit,
            obj=checkin,
            detail={"present": chaperone_present, "client_ok": client_ok},
        )
        alerts.checkin_alerts_raise(checkin=checkin, request=request, actor=actor)
    return checkin


def integration_book(
    *, actor, visit: Visit, starts_at: datetime.datetime, minutes: int, request=None
) -> Visit:
    """Book the integration session after this medication session, with its clinician, in the
    same modality (and room), through the schedule's own booking (clashes refused)."""
    if visit.status != Visit.Status.COMPLETED:
        raise RunbookRefused("The integration is booked once the session is complete.")
    if starts_at < visit.ends_at:
        raise RunbookRefused("The integration comes after the medication session.")
    if starts_at > visit.ends_at + datetime.timedelta(days=90):
        raise RunbookRefused("That is months away: book the integration soon after the session.")
    slot = visit_services.Slot(
        kind=Visit.Kind.INTEGRATION,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=minutes),
        clinician=visit.clinician,
        modality=visit.modality,
        room=visit.room,
        video_link=visit.video_link,
    )
    try:
        return visit_services.visit_book(request=_Actor(request, actor), client=visit.client, slot=slot)
    except visit_services.VisitRefused as refused:
        raise RunbookRefused(*refused.problems) from None


def integration_acknowledge(
    *, actor, visit: Visit, reason: str, practice, request=None
) -> IntegrationAcknowledgement:
    """The soft "integration booked" gate, acknowledged in writing by a clinician: the session
    may go ahead without an integration booked within the practice's window. Refused when there
    is nothing to acknowledge (one is booked in time, or it was already acknowledged), on a
    signed record and on a visit that did not take place."""
    reason = reason.strip()
    if not actor.is_clinician:
        raise RunbookRefused("The therapist acknowledges a session without an integration booked.")
    if not reason:
        raise RunbookRefused("Say why the session goes ahead without an integration booked.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        gate = selectors.integration_gate(visit, runbook, practice=practice)
        if gate.passed:
            raise RunbookRefused(f"Nothing to acknowledge: {gate.reason}")
        ack = _saved(IntegrationAcknowledgement(runbook=runbook, reason=reason, acknowledged_by=actor))
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.integration.acknowledged",
            visit=visit,
            obj=ack,
        )
    return ack


def adverse_event_review(*, actor, event: AdverseEvent, note: str = "", request=None) -> SafetyReview:
    """A prescriber marks an adverse event reviewed: it leaves their queue. Once only."""
    if not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber reviews adverse events.")
    with transaction.atomic():
        event = (
            AdverseEvent.objects.select_for_update(of=("self",), no_key=True)
            .select_related("runbook__visit__client")
            .get(pk=event.pk)
        )
        if SafetyReview.objects.filter(adverse_event=event).exists():
            raise RunbookRefused("This adverse event was already reviewed.")
        review = _saved(SafetyReview(adverse_event=event, note=note.strip(), reviewed_by=actor))
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.adverse_event.reviewed",
            visit=event.runbook.visit,
            obj=review,
            detail={"adverse_event": event.pk},
        )
    return review


def discharge_override_review(*, actor, visit: Visit, note: str = "", request=None) -> SafetyReview:
    """A prescriber marks a discharge with criteria unmet reviewed: it leaves their queue."""
    if not actor.is_prescriber:
        raise RunbookRefused("Only a prescriber reviews a discharge override.")
    with transaction.atomic():
        runbook = Runbook.objects.select_for_update(no_key=True).filter(visit=visit).first()
        if runbook is None or runbook.discharged_at is None or not runbook.override_reason:
            raise RunbookRefused("This session's discharge did not override any criterion.")
        if SafetyReview.objects.filter(discharge_override=runbook).exists():
            raise RunbookRefused("This discharge override was already reviewed.")
        review = _saved(SafetyReview(discharge_override=runbook, note=note.strip(), reviewed_by=actor))
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.discharge_override.reviewed",
            visit=visit,
            obj=review,
        )
    return review
