"""Writing the fee schedule (docs/billing.md, "The fee schedule page"): a new line from a date, or
a line withdrawn from a date. Nothing is edited: a line is a new Fee row, and the rows already
written (and the charges made at them) stay as they are. A practice admin's act alone
(kapflow.billing.access.can_set_fees), checked here as well as on the pages.

A line may start today or later, never on a past day: the schedule of a day already gone is what
the visits of that day were (or will be) charged at, and a line slipped in behind them would make
the schedule and the charges disagree."""

import datetime
import re
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.billing import fees as fee_schedule
from kapflow.billing.access import can_set_fees
from kapflow.billing.models import Fee
from kapflow.billing.services import BillingRefused, parse_amount
from kapflow.lib.dates import long_date
from kapflow.lib.params import LATEST_DATE
from kapflow.visits.models import Visit

# CPT: five digits (90837), or four digits and a letter (Category III 0820T, Category II 3008F);
# HCPCS Level II: a letter and four digits (J0013, G2082).
CODE = re.compile(r"\d{5}|\d{4}[A-Z]|[A-Z]\d{4}")
MODIFIER = re.compile(r"[A-Z0-9]{2}")
MAX_MODIFIERS = 4
MAX_MINUTES = 600
MAX_UNITS = 99

CODE_PROBLEM = (
    "A billing code is five characters: five digits (90837), four digits and a letter (0820T), or a "
    "letter and four digits (J0013). Leave it empty for a free visit."
)
MODIFIERS_PROBLEM = (
    "Modifiers are up to four codes of two letters or digits, separated by spaces, for example 95 or GT 59."
)
PAST_PROBLEM = (
    "A line cannot start on a past day: the visits of that day were charged at the schedule as it "
    "was. Choose today or a later day."
)

# Codes a KAP practice commonly uses (docs/billing.md, "The fee schedule"), offered as choices
# on the form with what each means. Any code of the right shape is accepted.
COMMON_CODES = [
    ("90791", "Psychiatric diagnostic evaluation (untimed)"),
    ("90792", "Psychiatric diagnostic evaluation with medical services (prescribers only)"),
    ("90832", "Psychotherapy, 16–37 minutes"),
    ("90834", "Psychotherapy, 38–52 minutes"),
    ("90837", "Psychotherapy, 53 minutes or more"),
    ("90833", "Psychotherapy with an E/M visit, 16–37 minutes (add-on)"),
    ("90836", "Psychotherapy with an E/M visit, 38–52 minutes (add-on)"),
    ("90838", "Psychotherapy with an E/M visit, 53 minutes or more (add-on)"),
    ("90853", "Group psychotherapy"),
    ("99204", "New patient office visit (E/M), 45 minutes or moderate decision making"),
    ("99205", "New patient office visit (E/M), 60 minutes or high decision making"),
    ("99213", "Established patient office visit (E/M), 20 minutes or low decision making"),
    ("99214", "Established patient office visit (E/M), 30 minutes or moderate decision making"),
    ("99215", "Established patient office visit (E/M), 40 minutes or high decision making"),
    (
        "0820T",
        "Monitoring during psychedelic medication therapy, first professional, each hour (payer decides)",
    ),
    ("0821T", "The same, a second professional alongside, each hour (add-on; payer decides)"),
    ("0822T", "The same, clinical staff alongside, each hour (add-on; payer decides)"),
    ("G2082", "Medicare: esketamine visit, up to 56 mg, with 2 hours' observation"),
    ("G2083", "Medicare: esketamine visit, over 56 mg, with 2 hours' observation"),
    ("J0013", "Esketamine nasal spray, 1 mg (from 1 January 2026)"),
    ("96372", "Intramuscular injection"),
    ("96365", "Intravenous infusion, first hour"),
    ("96366", "Intravenous infusion, each further hour"),
]
PAYER_DEPENDENT_CODES = {"0820T", "0821T", "0822T"}


def code_problem(code: str) -> str:
    """Why `code` is not a billing code's shape ("" when it is, or when it is empty: a free line)."""
    if code and not CODE.fullmatch(code):
        return CODE_PROBLEM
    return ""


def clean_code(code: str) -> str:
    return (code or "").strip().upper()


def clean_modifiers(text: str) -> str:
    """ "gt, 59" -> "GT 59"; BillingRefused when it is not up to four two-character modifiers."""
    tokens = [token for token in re.split(r"[\s,]+", (text or "").strip().upper()) if token]
    if len(tokens) > MAX_MODIFIERS or not all(MODIFIER.fullmatch(token) for token in tokens):
        raise BillingRefused(MODIFIERS_PROBLEM)
    return " ".join(tokens)


def money_for_line(code: str, amount) -> Decimal:
    """The fee: above zero for a line with a code (parse_amount's rules), 0 for a free line."""
    text = "" if amount is None else str(amount).strip()
    if not code:
        cleaned = text.replace(",", "").removeprefix("$").strip() or "0"
        try:
            free = Decimal(cleaned) == 0
        except InvalidOperation:
            free = False
        if not free:
            raise BillingRefused(
                "A line with no code is a free visit: its fee is 0. Give a code to charge for it."
            )
        return Decimal("0.00")
    if not text:
        raise BillingRefused("Give the fee in dollars and cents, for example 150.00.")
    try:
        return parse_amount(text)
    except BillingRefused as refused:
        if refused.problems == ["Give an amount above zero."]:
            raise BillingRefused("Give a fee above zero: a free visit is a line with no code.") from None
        raise


def _refuse_unless_admin(request) -> None:
    if not can_set_fees(request.user):
        raise BillingRefused("Only a practice admin sets the fee schedule.")


def _refuse_past(effective_from: datetime.date) -> None:
    if effective_from is None:
        raise BillingRefused("Give the day the line is in force from.")
    if effective_from < timezone.localdate():
        raise BillingRefused(PAST_PROBLEM)
    if effective_from > LATEST_DATE:
        raise BillingRefused(f"Choose a day before {long_date(LATEST_DATE)}.")


def _create(**values) -> Fee:
    """The row. A second row for the same line and day is allowed: the later one is in force
    (kapflow.billing.fees.lines_in_force), which is how a mistake made today, or a change set
    for a later day, is put right without editing anything."""
    return Fee.objects.create(**values)


@transaction.atomic
def fee_set(
    *,
    request,
    kind: str,
    minutes_from: int,
    code: str,
    modifiers: str,
    units: int,
    description: str,
    amount,
    payer_dependent: bool,
    effective_from: datetime.date,
) -> Fee:
    """Write a new line of the schedule, in force from `effective_from` (today or later) until a
    later line for the same kind, length band and code. A line with no code is a free visit
    (amount 0). BillingRefused lists every problem found."""
    _refuse_unless_admin(request)
    problems = []
    if kind not in Visit.Kind.values:
        problems.append("Choose the kind of visit.")
    try:
        minutes_from = int(minutes_from)
    except (TypeError, ValueError):
        minutes_from = -1
    if not 0 <= minutes_from <= MAX_MINUTES:
        problems.append("Give the length in whole minutes, 0 for a visit of any length.")
    code = clean_code(code)
    if code_problem(code):
        problems.append(CODE_PROBLEM)
    try:
        modifiers = clean_modifiers(modifiers)
    except BillingRefused as refused:
        problems.extend(refused.problems)
    try:
        units = int(units)
    except (TypeError, ValueError):
        units = 0
    if not 1 <= units <= MAX_UNITS:
        problems.append(f"Give the units as a whole number from 1 to {MAX_UNITS}.")
    description = (description or "").strip()
    if not description:
        problems.append(
            "Say what the client reads on the invoice, for example “Integration session, 60 minutes”."
        )
    elif len(description) > 120:
        problems.append("Keep the words on the invoice to 120 characters.")
    try:
        amount = money_for_line(code, amount)
    except BillingRefused as refused:
        problems.extend(refused.problems)
    try:
        _refuse_past(effective_from)
    except BillingRefused as refused:
        problems.extend(refused.problems)
    if problems:
        raise BillingRefused(*problems)
    fee = _create(
        kind=kind,
        minutes_from=minutes_from,
        code=code,
        modifiers=modifiers if code else "",
        units=units,
        description=description,
        amount=amount,
        payer_dependent=bool(payer_dependent) and bool(code),
        effective_from=effective_from,
        created_by=request.user,
    )
    audit_record(
        request=request,
        action="kapflow.billing.fee.set",
        obj=fee,
        detail={
            "kind": kind,
            "minutes_from": minutes_from,
            "code": code or "free",
            "amount": str(amount),
            "from": effective_from.isoformat(),
        },
    )
    return fee


@transaction.atomic
def fee_withdraw(*, request, fee: Fee, effective_from: datetime.date) -> Fee:
    """End a line (the kind, band and code of `fee`) from `effective_from` (today or later): a
    row marked withdrawn, so visits of that kind stop billing the code from that day. A change
    of the line already set for a later day still comes into force on its day."""
    _refuse_unless_admin(request)
    _refuse_past(effective_from)
    held = next(
        (
            line
            for line in fee_schedule.lines_in_force(effective_from, kind=fee.kind)
            if line.line == fee.line
        ),
        None,
    )
    if held is None:
        raise BillingRefused(
            f"This line is not in force on {long_date(effective_from)}: there is nothing to withdraw "
            "that day."
        )
    withdrawn = _create(
        kind=held.kind,
        minutes_from=held.minutes_from,
        code=held.code,
        modifiers=held.modifiers,
        units=held.units,
        description=held.description,
        amount=held.amount,
        payer_dependent=held.payer_dependent,
        withdrawn=True,
        effective_from=effective_from,
        created_by=request.user,
    )
    audit_record(
        request=request,
        action="kapflow.billing.fee.withdrawn",
        obj=withdrawn,
        detail={
            "kind": held.kind,
            "minutes_from": held.minutes_from,
            "code": held.code or "free",
            "from": effective_from.isoformat(),
        },
    )
    return withdrawn


def line_history(fee: Fee) -> list[Fee]:
    """Every row of the line `fee` belongs to (same kind, band and code), latest first."""
    return list(
        Fee.objects.filter(kind=fee.kind, minutes_from=fee.minutes_from, code=fee.code)
        .select_related("created_by")
        .order_by("-effective_from", "-pk")
    )
