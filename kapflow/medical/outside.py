"""Rules for what is transcribed from an outside prescriber's document (docs/outside-prescriber.md):
the NPI's check digit, and a transcribed order no wider than its prescription. Pure functions,
tested without a database."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

# The National Provider Identifier's check digit is the Luhn digit of the nine leading digits
# prefixed with 80840 (the card issuer prefix of US health identifiers, ISO 7812): CMS,
# "Requirements for the NPI check digit".
NPI_PREFIX = "80840"

# The outside providers (kapflow.clients.models.OutsideProvider.Kind) who may prescribe: a
# referring psychiatrist, the client's own doctor, or another (a nurse practitioner). The
# client's existing therapist does not.
PRESCRIBING_KINDS = ("psychiatrist", "primary_care", "other")

# A prescription for a Schedule III substance may not be filled or refilled more than six months
# after the date it was written (21 CFR 1306.22(a)): law, not a practice's choice.
SCHEDULE_III_MONTHS = 6


def luhn_valid(digits: str) -> bool:
    """The Luhn check: doubling every second digit from the right, the sum is a multiple of 10."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def npi_problem(npi: str) -> str:
    """Why `npi` is not a valid NPI ("" when it is): ten digits whose last is the Luhn check digit
    of the first nine prefixed with 80840."""
    if len(npi) != 10 or not npi.isascii() or not npi.isdigit():
        return "An NPI is 10 digits."
    if not luhn_valid(NPI_PREFIX + npi):
        return "This NPI's check digit does not match: check each digit against the document."
    return ""


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
