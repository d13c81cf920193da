"""The fee schedule as it stood on a day (docs/billing.md, "The fee schedule"): pure lookups over
the Fee lines, which are few (a practice has tens of lines, not thousands), so each lookup reads
them once and chooses in Python."""

import datetime
from collections.abc import Iterable

from kapflow.billing.models import Fee


def lines_in_force(
    on: datetime.date, *, kind: str | None = None, fees: Iterable[Fee] | None = None
) -> list[Fee]:
    """The lines of the schedule in force on `on` (of one visit kind, if given): for each line
    (kind, length band, code) the latest row from on or before that day, unless that row
    withdrew the line. `fees` may pass rows already read (the GFE reads them once for every kind)."""
    if fees is None:
        rows = Fee.objects.filter(effective_from__lte=on)
        if kind is not None:
            rows = rows.filter(kind=kind)
        fees = rows.order_by("kind", "minutes_from", "code", "-effective_from", "-pk")
    latest: dict[tuple, Fee] = {}
    for fee in fees:
        if fee.effective_from > on or (kind is not None and fee.kind != kind):
            continue
        held = latest.get(fee.line)
        if held is None or (fee.effective_from, fee.pk) > (held.effective_from, held.pk):
            latest[fee.line] = fee
    return sorted(
        (fee for fee in latest.values() if not fee.withdrawn),
        key=lambda fee: (fee.kind, fee.minutes_from, fee.code),
    )


def lines_for(kind: str, minutes: int, on: datetime.date, *, fees: Iterable[Fee] | None = None) -> list[Fee]:
    """What a visit of `kind` lasting `minutes` bills on `on`: the lines of the longest length
    band it reaches. Empty when the schedule has nothing for the kind (not the same as free: a
    free visit has a line with no code)."""
    lines = lines_in_force(on, kind=kind, fees=fees)
    reached = [fee.minutes_from for fee in lines if fee.minutes_from <= minutes]
    if not reached:
        return []
    band = max(reached)
    return [fee for fee in lines if fee.minutes_from == band]


def billable(lines: list[Fee]) -> list[Fee]:
    """The lines that charge something (a free line charges nothing)."""
    return [fee for fee in lines if not fee.is_free]
