"""Writes to the medical record. Each function is atomic, checks the allowed transition, and
writes its audit row in the same transaction. Nothing here edits a saved screening, clearance or
order: a correction is a new record, or a recorded revocation or discontinuation."""

import calendar
import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.clients.models import Client, OutsideProvider
from kapflow.documents.models import ChartDocument
from kapflow.lib.identifiers import npi_problem
from kapflow.medical import doses, outside, screening
from kapflow.medical.gates import day
from kapflow.medical.models import Clearance, MedicationOrder, Screening


class Refused(Exception):
    """The change is not allowed; `problems` say why, in words for the person asking."""

    def __init__(self, *problems: str):
        self.problems = list(problems)
        super().__init__(" ".join(problems))


def add_months(day: datetime.date, months: int) -> datetime.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def clearance_latest_end(practice, decided_on: datetime.date) -> datetime.date:
    """The latest a clearance decided on `decided_on` may run: the practice's validity period."""
    return add_months(decided_on, practice.clearance_valid_months)


def _require_prescriber(user) -> None:
    # The views refuse everyone else first; this keeps the rule when a service is called
    # from anywhere else (docs/clinical.md: clearance and orders are written by the prescriber only).
    if not (user.is_active and user.is_prescriber):
        raise PermissionDenied("Only a prescriber may do this.")


def may_withdraw(user, record: Clearance | MedicationOrder) -> bool:
    """Whether `user`, a clinician who sees the client's clinical record, may revoke the clearance
    or discontinue the order (docs/outside-prescriber.md): a staff prescriber's by a prescriber;
    one transcribed from an outside prescriber's document by a therapist too (who may be the only
    clinician there is to stop a wrongly transcribed one)."""
    if not user.is_active:
        return False
    return user.is_prescriber or (record.is_outside and user.is_clinician)


def _require_writer(user, record: Clearance | MedicationOrder) -> None:
    if not may_withdraw(user, record):
        raise PermissionDenied(
            "Only a therapist or prescriber may do this."
            if record.is_outside
            else "Only a prescriber may do this."
        )


def _require_clinician(user) -> None:
    # docs/access.md: a clinician on the care team files an outside prescriber's document.
    if not (user.is_active and user.is_clinician):
        raise PermissionDenied("Only a therapist or prescriber files an outside prescriber's document.")


def _outside_source(
    *,
    client: Client,
    provider: OutsideProvider,
    document: ChartDocument,
    kind: str,
    npi: str,
    confirmed,
    fields,
) -> list[str]:
    """The problems with filing `document` from `provider` for `client`: theirs, of the right
    kind, a valid NPI, and every transcribed field confirmed against the document."""
    problems = []
    if provider.client_id != client.pk or provider.kind not in outside.PRESCRIBING_KINDS:
        problems.append(
            "Choose the client's outside psychiatrist, primary-care or other prescribing provider."
        )
    if document.client_id != client.pk or document.kind != kind:
        problems.append(f"Choose a {ChartDocument.Kind(kind).label.lower()} filed on this client's chart.")
    if problem := npi_problem(npi):
        problems.append(problem)
    unconfirmed = [name for name in fields if name not in set(confirmed)]
    if unconfirmed:
        problems.append(
            "Confirm each transcribed field against the document: " + ", ".join(unconfirmed) + "."
        )
    return problems


@transaction.atomic
def screening_record(
    *,
    request,
    client: Client,
    answers: dict[str, bool],
    medications: list[dict],
    notes: str = "",
    entered_by=None,
) -> Screening:
    """Save a complete screening with the flags it raises (raises screening.Incomplete
    otherwise). `entered_by` is the staff member who entered it on the client's behalf."""
    now = timezone.now()
    age = client.age(timezone.localdate(now))
    meds = [{"name": m["name"].strip(), "class": m["class"]} for m in medications if m["name"].strip()]
    flags = screening.flags_for(answers=answers, medications=meds, age=age)
    record = Screening(
        client=client,
        answers={finding.key: answers[finding.key] for finding in screening.FINDINGS},
        medications=meds,
        flags=[flag.as_dict() for flag in flags],
        age=age,
        notes=notes,
        completed_at=now,
        entered_by=entered_by,
    )
    record.full_clean()
    record.save()
    audit_record(
        request=request,
        action="kapflow.medical.screening.recorded",
        client=client,
        obj=record,
        detail={
            "on_behalf": entered_by is not None,
            "exclusion_flags": sum(flag.level == screening.EXCLUSION for flag in flags),
            "review_flags": sum(flag.level == screening.REVIEW for flag in flags),
        },
    )
    return record


@transaction.atomic
def clearance_record(
    *,
    request,
    client: Client,
    screening_reviewed: Screening,
    practice,
    decision: str,
    findings: str,
    resolutions: dict[str, str],
    acknowledged: list[str],
    conditions: str = "",
    systolic: int | None = None,
    diastolic: int | None = None,
    heart_rate: int | None = None,
    weight_kg: Decimal | None = None,
    valid_until: datetime.date | None = None,
) -> Clearance:
    """The prescriber's decision on the client's latest screening. Cleared (with or without
    conditions) is refused unless each exclusion flag of that screening is resolved in writing,
    each review flag acknowledged, the evaluation's vitals recorded, and the end date within the
    practice's validity period."""
    prescriber = request.user
    _require_prescriber(prescriber)
    # Lock the client row: two prescribers deciding at once are taken one after the other.
    Client.objects.select_for_update(no_key=True).filter(pk=client.pk).first()
    if screening_reviewed.client_id != client.pk:
        raise Refused("That screening belongs to another client.")
    latest = Screening.objects.filter(client=client).latest_first().first()
    if latest is None or latest.pk != screening_reviewed.pk:
        raise Refused("A newer screening was entered while you were reviewing. Review its flags instead.")
    exclusion_keys = [flag.key for flag in screening_reviewed.exclusion_flags]
    review_keys = [flag.key for flag in screening_reviewed.review_flags]
    resolutions = {
        key: text.strip() for key, text in resolutions.items() if key in exclusion_keys and text.strip()
    }
    acknowledged = [key for key in review_keys if key in set(acknowledged)]
    today = timezone.localdate()
    if decision in Clearance.GRANTING:
        problems = []
        unresolved = [f.label for f in screening_reviewed.exclusion_flags if f.key not in resolutions]
        if unresolved:
            problems.append(
                "Resolve each exclusion flag in writing before clearing: " + "; ".join(unresolved) + "."
            )
        unacknowledged = [f.label for f in screening_reviewed.review_flags if f.key not in acknowledged]
        if unacknowledged:
            problems.append(
                "Acknowledge each review flag before clearing: " + "; ".join(unacknowledged) + "."
            )
        if None in (systolic, diastolic, heart_rate, weight_kg):
            problems.append("Record blood pressure, heart rate and weight before clearing.")
        latest_end = clearance_latest_end(practice, today)
        if valid_until is None:
            problems.append("Give the date the clearance is valid until.")
        elif not today <= valid_until <= latest_end:
            problems.append(
                f"The clearance may run from today to {day(latest_end)} at most "
                f"({practice.clearance_valid_months} months, a practice setting)."
            )
        if decision == Clearance.Decision.CONDITIONS and not conditions.strip():
            problems.append("Write the conditions of the clearance.")
        if problems:
            raise Refused(*problems)
    else:
        valid_until = None
    clearance = Clearance(
        client=client,
        screening=screening_reviewed,
        prescriber=prescriber,
        decision=decision,
        conditions=conditions.strip(),
        resolutions=resolutions,
        acknowledged=acknowledged,
        systolic=systolic,
        diastolic=diastolic,
        heart_rate=heart_rate,
        weight_kg=weight_kg,
        findings=findings,
        valid_until=valid_until,
    )
    clearance.full_clean()
    clearance.save()
    audit_record(
        request=request,
        action="kapflow.medical.clearance.recorded",
        client=client,
        obj=clearance,
        detail={
            "decision": decision,
            "screening": screening_reviewed.pk,
            "exclusions_resolved": len(resolutions),
            "reviews_acknowledged": len(acknowledged),
        },
    )
    return clearance


@transaction.atomic
def clearance_revoke(*, request, clearance: Clearance, reason: str) -> Clearance:
    """Withdraw a clearance that granted clearance, with the reason: a staff prescriber's
    clearance by a prescriber, an outside transcription also by a therapist (the view reaches the
    client as one of its clinicians)."""
    clearance = Clearance.objects.select_for_update(no_key=True).get(pk=clearance.pk)
    _require_writer(request.user, clearance)
    if clearance.revoked_at is not None:
        raise Refused("This clearance was already revoked.")
    if not clearance.grants:
        raise Refused(
            f"Only a clearance can be revoked; this decision was “{clearance.get_decision_display()}”."
        )
    if not reason.strip():
        raise Refused("Write the reason for revoking.")
    clearance.revoked_at = timezone.now()
    clearance.revoked_by = request.user
    clearance.revoke_reason = reason.strip()
    clearance.full_clean()
    clearance.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    audit_record(
        request=request,
        action="kapflow.medical.clearance.revoked",
        client=clearance.client,
        obj=clearance,
        detail={"outside": clearance.is_outside},
    )
    return clearance


@transaction.atomic
def order_create(
    *,
    request,
    client: Client,
    practice,
    drug: str,
    route: str,
    unit: str,
    dose_min: Decimal,
    dose_max: Decimal,
    weight_kg: Decimal | None,
    boosters_allowed: int,
    booster_max_mg: Decimal | None,
    sessions_authorised: int,
    starts_on: datetime.date,
    ends_on: datetime.date,
    instructions: str = "",
    confirmed_outside_typical: bool = False,
    minor_signoff: bool = False,
) -> MedicationOrder:
    """A prescriber's medication order. A range outside the practice's typical range for the
    route is refused unless the prescriber confirmed it (the confirmation is kept on the order).
    `minor_signoff`: the prescriber signs the order off for a client under 18 (kept only for a
    client under 18; the dose rules of kapflow.medical.routes ask for it)."""
    _require_prescriber(request.user)
    outside = doses.outside_typical(
        practice=practice, route=route, unit=unit, dose_min=dose_min, dose_max=dose_max, weight_kg=weight_kg
    )
    if outside and not confirmed_outside_typical:
        raise Refused(outside + " Confirm the dose to save it.")
    order = MedicationOrder(
        client=client,
        prescriber=request.user,
        drug=drug,
        route=route,
        unit=unit,
        dose_min=dose_min,
        dose_max=dose_max,
        weight_kg=weight_kg,
        boosters_allowed=boosters_allowed,
        booster_max_mg=booster_max_mg if boosters_allowed else None,
        sessions_authorised=sessions_authorised,
        starts_on=starts_on,
        ends_on=ends_on,
        instructions=instructions,
        confirmed_outside_typical=bool(outside),
        minor_signoff=bool(minor_signoff) and client.is_minor,
    )
    order.full_clean()
    order.save()
    audit_record(
        request=request,
        action="kapflow.medical.order.created",
        client=client,
        obj=order,
        detail={
            "route": route,
            "outside_typical_confirmed": bool(outside),
            "minor_signoff": order.minor_signoff,
        },
    )
    return order


@transaction.atomic
def order_discontinue(*, request, order: MedicationOrder, reason: str) -> MedicationOrder:
    """Stop an order, with the reason. An order is never edited: a changed dose is a new order,
    and the old one is discontinued. A staff prescriber's order is stopped by a prescriber; one
    transcribed from an outside prescription also by a therapist (the view reaches the client as
    one of its clinicians)."""
    order = MedicationOrder.objects.select_for_update(no_key=True).get(pk=order.pk)
    _require_writer(request.user, order)
    if order.discontinued_at is not None:
        raise Refused("This order was already discontinued.")
    if not reason.strip():
        raise Refused("Write the reason for discontinuing.")
    order.discontinued_at = timezone.now()
    order.discontinued_by = request.user
    order.discontinue_reason = reason.strip()
    order.full_clean()
    order.save(update_fields=["discontinued_at", "discontinued_by", "discontinue_reason"])
    audit_record(
        request=request,
        action="kapflow.medical.order.discontinued",
        client=order.client,
        obj=order,
        detail={"outside": order.is_outside},
    )
    return order


CLEARANCE_TRANSCRIBED = (
    "outside_name",
    "outside_credentials",
    "outside_npi",
    "letter_dated",
    "valid_until",
    "decision",
    "conditions",
    "findings",
)


@transaction.atomic
def clearance_transcribe(
    *,
    request,
    client: Client,
    screening_reviewed: Screening,
    practice,
    provider: OutsideProvider,
    document: ChartDocument,
    outside_name: str,
    outside_credentials: str,
    outside_npi: str,
    letter_dated: datetime.date,
    decision: str,
    conditions: str,
    findings: str,
    valid_until: datetime.date | None,
    confirmed: list[str],
    resolutions: dict[str, str] | None = None,
    acknowledged: list[str] | None = None,
) -> Clearance:
    """An outside prescriber's clearance letter, transcribed by a clinician of the care team and
    confirmed field by field against the filed letter. The filer is recorded with the time; the
    letter's exclusion and review flags are resolved as the letter states. A letter is filed once."""
    filer = request.user
    _require_clinician(filer)
    Client.objects.select_for_update(no_key=True).filter(pk=client.pk).first()
    problems = _outside_source(
        client=client,
        provider=provider,
        document=document,
        kind=ChartDocument.Kind.CLEARANCE,
        npi=outside_npi,
        confirmed=confirmed,
        fields=CLEARANCE_TRANSCRIBED,
    )
    if screening_reviewed.client_id != client.pk:
        problems.append("That screening belongs to another client.")
    if Clearance.objects.filter(document=document).exists():
        problems.append("This letter was already transcribed.")
    if decision not in (
        Clearance.Decision.CLEARED,
        Clearance.Decision.CONDITIONS,
        Clearance.Decision.NOT_CLEARED,
    ):
        problems.append("Choose the letter's decision: cleared, cleared with conditions, or not cleared.")
    today = timezone.localdate()
    if letter_dated > today:
        problems.append("The letter's date is in the future.")
    exclusion_keys = [flag.key for flag in screening_reviewed.exclusion_flags]
    review_keys = [flag.key for flag in screening_reviewed.review_flags]
    resolutions = {
        key: text.strip()
        for key, text in (resolutions or {}).items()
        if key in exclusion_keys and text.strip()
    }
    acknowledged = [key for key in review_keys if key in set(acknowledged or [])]
    if letter_dated > today:
        raise Refused(*problems)
    if decision in Clearance.GRANTING:
        latest_end = clearance_latest_end(practice, letter_dated)
        if valid_until is None:
            problems.append("Give the date the letter says the clearance is valid until.")
        elif not letter_dated <= valid_until <= latest_end:
            problems.append(
                f"A clearance of {day(letter_dated)} may run to {day(latest_end)} at most "
                f"({practice.clearance_valid_months} months, a practice setting)."
            )
        unresolved = [f.label for f in screening_reviewed.exclusion_flags if f.key not in resolutions]
        if unresolved:
            problems.append(
                "Write what the letter says of each exclusion flag: " + "; ".join(unresolved) + "."
            )
        unacknowledged = [f.label for f in screening_reviewed.review_flags if f.key not in acknowledged]
        if unacknowledged:
            problems.append(
                "Tick each review flag the letter addresses before filing it as a clearance: "
                + "; ".join(unacknowledged)
                + "."
            )
        if decision == Clearance.Decision.CONDITIONS and not conditions.strip():
            problems.append("Write the conditions the letter states.")
    else:
        valid_until = None
    if problems:
        raise Refused(*problems)
    now = timezone.now()
    clearance = Clearance(
        client=client,
        screening=screening_reviewed,
        prescriber=None,
        decided_at=now,
        decision=decision,
        conditions=conditions.strip(),
        resolutions=resolutions,
        acknowledged=acknowledged,
        findings=findings,
        valid_until=valid_until,
        outside_provider=provider,
        document=document,
        outside_name=outside_name.strip(),
        outside_credentials=outside_credentials.strip(),
        outside_npi=outside_npi,
        letter_dated=letter_dated,
        confirmed_fields=list(CLEARANCE_TRANSCRIBED),
        filed_by=filer,
        filed_at=now,
    )
    clearance.full_clean()
    clearance.save()
    audit_record(
        request=request,
        action="kapflow.medical.clearance.transcribed",
        client=client,
        obj=clearance,
        detail={"decision": decision, "document": document.pk, "provider": provider.pk},
    )
    return clearance


ORDER_TRANSCRIBED = (
    "outside_name",
    "outside_npi",
    "prescribed_on",
    "drug",
    "strength_form",
    "strength_mg",
    "quantity",
    "directions",
    "sessions_prescribed",
    "pharmacy",
    "fill_date",
    "route",
    "unit",
    "dose_min",
    "dose_max",
    "weight_kg",
    "boosters_allowed",
    "booster_max_mg",
    "sessions_authorised",
    "starts_on",
    "ends_on",
)


@transaction.atomic
def order_transcribe(
    *,
    request,
    client: Client,
    practice,
    provider: OutsideProvider,
    document: ChartDocument,
    confirmed: list[str],
    outside_name: str,
    outside_npi: str,
    prescribed_on: datetime.date,
    strength_form: str,
    strength_mg: Decimal,
    quantity: int,
    directions: str,
    sessions_prescribed: int,
    pharmacy: str,
    fill_date: datetime.date | None,
    drug: str,
    route: str,
    unit: str,
    dose_min: Decimal,
    dose_max: Decimal,
    weight_kg: Decimal | None,
    boosters_allowed: int,
    booster_max_mg: Decimal | None,
    sessions_authorised: int,
    starts_on: datetime.date,
    ends_on: datetime.date,
) -> MedicationOrder:
    """An outside prescriber's prescription, transcribed into an order the dose rules read, by a
    clinician of the care team who confirmed each field against it. Refused when the order would
    be wider than the prescription (kapflow.medical.outside.wider_than_prescription). The
    directions are the order's instructions."""
    filer = request.user
    _require_clinician(filer)
    # Lock the client row: the same prescription sent twice at once is filed once.
    Client.objects.select_for_update(no_key=True).filter(pk=client.pk).first()
    problems = _outside_source(
        client=client,
        provider=provider,
        document=document,
        kind=ChartDocument.Kind.PRESCRIPTION,
        npi=outside_npi,
        confirmed=confirmed,
        fields=ORDER_TRANSCRIBED,
    )
    if MedicationOrder.objects.filter(document=document).exists():
        problems.append("This prescription was already transcribed.")
    if prescribed_on > timezone.localdate():
        raise Refused(*problems, "The prescription's date is in the future.")
    if unit == MedicationOrder.Unit.MG_PER_KG and weight_kg is None:
        raise Refused("Give the weight the prescription's mg/kg dose is written for.")
    _low, high = doses.range_mg(unit=unit, dose_min=dose_min, dose_max=dose_max, weight_kg=weight_kg)
    wider = outside.wider_than_prescription(
        outside.Transcribed(
            highest_dose_mg=high,
            boosters=boosters_allowed,
            booster_max_mg=booster_max_mg if boosters_allowed else None,
            sessions_authorised=sessions_authorised,
            starts_on=starts_on,
            ends_on=ends_on,
        ),
        outside.Prescription(
            written_on=prescribed_on,
            strength_mg=strength_mg,
            quantity=quantity,
            sessions=sessions_prescribed,
            fill_date=fill_date,
        ),
        latest_end=add_months(prescribed_on, outside.SCHEDULE_III_MONTHS),
    )
    problems.extend(wider.values())
    if problems:
        raise Refused(*problems)
    now = timezone.now()
    order = MedicationOrder(
        client=client,
        prescriber=None,
        created_at=now,
        drug=drug,
        route=route,
        unit=unit,
        dose_min=dose_min,
        dose_max=dose_max,
        weight_kg=weight_kg,
        boosters_allowed=boosters_allowed,
        booster_max_mg=booster_max_mg if boosters_allowed else None,
        sessions_authorised=sessions_authorised,
        starts_on=starts_on,
        ends_on=ends_on,
        instructions=directions.strip(),
        # The outside prescriber chose the dose: it is not the practice's to confirm.
        confirmed_outside_typical=bool(
            doses.outside_typical(
                practice=practice,
                route=route,
                unit=unit,
                dose_min=dose_min,
                dose_max=dose_max,
                weight_kg=weight_kg,
            )
        ),
        outside_provider=provider,
        document=document,
        outside_name=outside_name.strip(),
        outside_npi=outside_npi,
        prescribed_on=prescribed_on,
        strength_form=strength_form.strip(),
        strength_mg=strength_mg,
        quantity=quantity,
        directions=directions.strip(),
        sessions_prescribed=sessions_prescribed,
        pharmacy=pharmacy.strip(),
        fill_date=fill_date,
        confirmed_fields=list(ORDER_TRANSCRIBED),
        filed_by=filer,
        filed_at=now,
    )
    order.full_clean()
    order.save()
    audit_record(
        request=request,
        action="kapflow.medical.order.transcribed",
        client=client,
        obj=order,
        detail={"route": route, "document": document.pk, "provider": provider.pk},
    )
    return order
