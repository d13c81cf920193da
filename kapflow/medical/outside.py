"""Rules for what is transcribed from an outside prescriber's document (docs/outside-prescriber.md):
a transcribed order no wider than its prescription (the NPI's check digit is
kapflow.lib.identifiers.npi_problem). Pure functions, tested without a database."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

# The outside providers (kapflow.clients.models.OutsideProvider.Kind) who may prescribe: a
# referring psychiatrist, the client's own doctor, or another (a nurse practitioner). The
# client's existing therapist does not.
PRESCRIBING_KINDS = ("psychiatrist", "primary_care", "other")

# A prescription for a Schedule III substance may not be filled or refilled more than six months
# after the date it was written (21 CFR 1306.22(a)): law, not a practice's choice.
SCHEDULE_III_MONTHS = 6


@dataclass(frozen=True)
class Prescription:
    """What the prescription states, as transcribed."""

    written_on: datetime.date
    strength_mg: Decimal
    quantity: int
    sessions: int
    fill_date: datetime.date | None = None


@dataclass(frozen=True)
class Transcribed:
    """What the order derived from it would allow."""

    highest_dose_mg: Decimal
    boosters: int
    booster_max_mg: Decimal | None
    sessions_authorised: int
    starts_on: datetime.date
    ends_on: datetime.date


def wider_than_prescription(
    order: Transcribed, prescription: Prescription, *, latest_end: datetime.date
) -> dict[str, str]:
    """{field: why} for each way the transcribed order would allow more than the prescription
    states: more sessions, more drug in a session or over the course than is dispensed, dates
    before it was written or after it may be filled. `latest_end` is the last day it may be filled."""
    problems: dict[str, str] = {}
    if order.sessions_authorised > prescription.sessions:
        problems["sessions_authorised"] = (
            f"The prescription is for {prescription.sessions} session"
            f"{'s' if prescription.sessions != 1 else ''}: authorise no more."
        )
    dispensed = prescription.strength_mg * prescription.quantity
    per_session = order.highest_dose_mg + order.boosters * (order.booster_max_mg or Decimal(0))
    if order.highest_dose_mg > dispensed:
        problems["dose_max"] = (
            f"The highest dose ({order.highest_dose_mg:g} mg) is more than the prescription "
            f"dispenses ({dispensed:g} mg)."
        )
    elif per_session * order.sessions_authorised > dispensed:
        problems["quantity"] = (
            f"{order.sessions_authorised} session(s) at up to {per_session:g} mg need "
            f"{per_session * order.sessions_authorised:g} mg; the prescription dispenses "
            f"{prescription.quantity} × {prescription.strength_mg:g} mg = {dispensed:g} mg."
        )
    if order.starts_on < prescription.written_on:
        problems["starts_on"] = "The order cannot start before the prescription was written."
    if order.ends_on > latest_end:
        problems["ends_on"] = (
            f"A Schedule III prescription may be filled for {SCHEDULE_III_MONTHS} months: "
            f"the order ends by {latest_end:%b} {latest_end.day}, {latest_end.year} at the latest."
        )
    if prescription.fill_date is not None and prescription.fill_date < prescription.written_on:
        problems["fill_date"] = "The fill date is before the prescription was written."
    return problems
