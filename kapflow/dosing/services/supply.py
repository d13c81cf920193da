"""Client-held medicine counted in the runbook (docs/client-held-medicine.md): the units of a
pharmacy-filled sublingual prescription the client brought, those taken in the session, against
what the client should hold (kapflow.controlled.fills.held). A count that does not match is kept
with its reasons in words and alerts the prescriber (kapflow.dosing.alerts).

Two checks, each made when it can be:

- **brought**: always, against what the client should hold at that strength;
- **taken**: the units taken × the strength against the mg of the session's sublingual doses
  not given from a practice lot (the client's own medicine). It is made once such a dose is
  recorded: a count before the dose checks what was brought, and the runbook shows the doses
  against the count until they agree (record the count again after the dose: the latest count
  of a session is the one that stands)."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from kapflow.controlled import fills
from kapflow.controlled.models import ZERO
from kapflow.dosing import alerts
from kapflow.dosing.models import Administration, Runbook, SessionAlert, SupplyCount
from kapflow.dosing.services.runbook import (
    RunbookRefused,
    _audit,
    _on_the_day,
    _open_runbook,
    _saved,
    _sent_before,
)
from kapflow.medical.doses import SUBLINGUAL, number
from kapflow.visits.models import Visit


def _units(value: Decimal) -> str:
    return number(value)


def own_doses_mg(doses) -> Decimal:
    """The mg of the session's sublingual doses that did not come from a practice lot: the
    client's own medicine. `doses`: the session's Administrations."""
    return sum((dose.dose_mg for dose in doses if dose.route == SUBLINGUAL and dose.lot_id is None), ZERO)


def count_mismatches(
    *,
    brought: Decimal,
    taken: Decimal,
    expected: Decimal,
    strength_mg: Decimal,
    own_mg: Decimal,
    other_taken_mg: Decimal = ZERO,
    earlier_difference: tuple[Decimal, datetime.date] | None = None,
) -> list[str]:
    """What does not match in a count, in words; none when it all matches. Pure: no query.

    `expected`: what the client should hold; `own_mg`: the mg of the session's doses from the
    client's own medicine (0: none recorded yet, and the taken check waits); `other_taken_mg`:
    the mg taken by this session's counts at other strengths; `earlier_difference`: the
    previous session's difference at this strength and its day, said when it is the same one."""
    problems = []
    if expected < 0:
        problems.append(
            f"Brought {_units(brought)}, but the counts record {_units(-expected)} more taken than the "
            "pharmacy's fills recorded here: record the fill the client has had since (a prescriber or "
            "the practice's admin)."
        )
    elif brought != expected:
        difference = brought - expected
        if difference < 0:
            problems.append(
                f"Brought {_units(brought)}, should hold {_units(expected)}: {_units(-difference)} missing."
            )
        else:
            problems.append(
                f"Brought {_units(brought)}, should hold {_units(expected)}: {_units(difference)} more than "
                "the pharmacy's fills recorded here account for."
            )
        if earlier_difference is not None and earlier_difference[0] == difference:
            day = earlier_difference[1]
            problems[-1] = problems[-1][:-1] + f" (the same as at the count of {day:%b} {day.day})."
    counted_mg = taken * strength_mg + other_taken_mg
    if own_mg > 0 and counted_mg != own_mg:
        problems.append(
            f"Taken {_units(taken)} × {number(strength_mg)} mg = {number(counted_mg)} mg by the count, but "
            f"the doses recorded from the client's own medicine come to {number(own_mg)} mg."
        )
    return problems


def _earlier_difference(runbook: Runbook, client_id: int, strength_mg: Decimal):
    """The previous session's standing count at this strength: its brought − expected and its day."""
    previous = (
        SupplyCount.objects.filter(runbook__visit__client_id=client_id, strength_mg=strength_mg)
        .exclude(runbook=runbook)
        .order_by("-pk")
        .first()
    )
    if previous is None:
        return None
    return previous.brought - previous.expected, timezone.localdate(previous.counted_at)


def supply_count_record(
    *,
    actor,
    visit: Visit,
    strength_mg: Decimal,
    brought: Decimal,
    taken: Decimal,
    counted_at: datetime.datetime,
    practice,
    entry_key=None,
    request=None,
) -> SupplyCount:
    """Count the client's own medicine at `strength_mg`: the units brought and those taken in the
    session, against what the client should hold (read under the client's row lock, so that two
    counts at once in two sessions of one client count one after the other). A count that does
    not match raises one alert to the prescriber. Refused for someone who is not a clinician, a
    strength the client has no fill of, taken more than brought, on a signed record, after the
    discharge, on a visit that did not take place. Sent again with the same `entry_key`, the
    count saved the first time is returned."""
    brought, taken, strength_mg = Decimal(brought), Decimal(taken), Decimal(strength_mg)
    if not actor.is_clinician:
        raise RunbookRefused("A therapist or prescriber counts the client's medicine with them.")
    if brought < 0 or taken < 0:
        raise RunbookRefused("Count in units: none is 0.")
    if taken > brought:
        raise RunbookRefused(
            f"Taken ({_units(taken)}) is more than brought ({_units(brought)}): the client takes from "
            "what they brought. Check the numbers."
        )
    _on_the_day(counted_at, visit)
    with transaction.atomic():
        runbook = _open_runbook(visit, with_client=True)  # locked: a second sending waits here
        if (saved := _sent_before(runbook.supply_counts, entry_key)) is not None:
            return saved
        client = fills.client_locked(visit.client)  # what the client holds is counted under it
        day = timezone.localdate(counted_at)
        strengths = {supply.strength_mg for supply in fills.supplies(client)}
        if strength_mg not in strengths:
            raise RunbookRefused(
                f"No pharmacy fill of {number(strength_mg)} mg is recorded for this client: record it on the "
                "client's medicine page first (a prescriber or the practice's admin)."
            )
        expected = fills.held(client, strength_mg, on=day, excluding_runbook=runbook)
        doses = list(Administration.objects.filter(runbook=runbook))
        # This session's counts at the other strengths that stand (a client with two strengths).
        others = {}
        for count in runbook.supply_counts.exclude(strength_mg=strength_mg).order_by("pk"):
            others[count.strength_mg] = count.taken * count.strength_mg
        mismatches = count_mismatches(
            brought=brought,
            taken=taken,
            expected=expected,
            strength_mg=strength_mg,
            own_mg=own_doses_mg(doses),
            other_taken_mg=sum(others.values(), ZERO),
            earlier_difference=_earlier_difference(runbook, client.pk, strength_mg),
        )
        count = _saved(
            SupplyCount(
                runbook=runbook,
                counted_at=counted_at,
                brought=brought,
                taken=taken,
                expected=expected,
                strength_mg=strength_mg,
                mismatches=mismatches,
                entry_key=entry_key,
                recorded_by=actor,
            )
        )
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.supply_count.recorded",
            visit=visit,
            obj=count,
            detail={"strength_mg": str(strength_mg), "mismatch": bool(mismatches)},
        )
        if mismatches:
            alerts.session_alert_raise(
                runbook=runbook,
                kind=SessionAlert.Kind.SUPPLY_COUNT,
                source={"supply_count": count},
                summary=f"{number(strength_mg)} mg: " + " ".join(mismatches),
                practice=practice,
                request=request,
                actor=actor,
            )
    return count


# --- The runbook's section ---------------------------------------------------------------------


@dataclass
class CountShown:
    count: SupplyCount
    standing: bool
    alert: SessionAlert | None = None


@dataclass
class SupplySection:
    """What the runbook's "Client-held medicine" section shows."""

    supplies: list  # kapflow.controlled.fills.Supply, held as the client arrived (before this session)
    counts: list[CountShown] = field(default_factory=list)
    own_mg: Decimal = ZERO
    counted_mg: Decimal = ZERO

    @property
    def strengths(self) -> list[Decimal]:
        return [supply.strength_mg for supply in self.supplies]

    @property
    def waiting(self) -> str:
        """The taken check still to make, in words ("" when there is none)."""
        standing = [shown.count for shown in self.counts if shown.standing]
        if not standing:
            return ""
        if self.own_mg == 0 and self.counted_mg > 0:
            return (
                f"The count says {number(self.counted_mg)} mg taken, and no dose from the client's own "
                "medicine is recorded yet: record the dose (the count and the doses are compared here)."
            )
        if self.own_mg > 0 and self.counted_mg != self.own_mg:
            return (
                f"Doses from the client's own medicine: {number(self.own_mg)} mg; counted as taken: "
                f"{number(self.counted_mg)} mg. Count again after the dose: the latest count stands."
            )
        return ""


def count_strengths(visit: Visit) -> list[Decimal]:
    """The strengths a count in this session may be of: each the client was filled, when the
    runbook counts client-held medicine at all (a fill of a sublingual order in force on the
    session's day); none otherwise. Two queries, one when there is none."""
    if not fills.has_supply_for_session(visit.client, timezone.localdate(visit.starts_at)):
        return []
    return [supply.strength_mg for supply in fills.supplies(visit.client)]


def supply_section(
    *, visit: Visit, runbook: Runbook | None, doses, session_alerts, locked: bool, counted: bool = True
) -> SupplySection | None:
    """The section, or None when the runbook shows none: an open record whose client has no fill
    of a sublingual order in force on the session's day, or a signed one with no count
    (`counted`: whether the runbook has any, as the page's RunbookRecord knows it, so that a
    signed record reads nothing more when it has none). One query when there is none on an open
    record; four at most."""
    if locked and (runbook is None or not counted):
        return None
    client = visit.client  # read with the visit by the page
    counts = []
    if locked:
        counts = list(runbook.supply_counts.select_related("recorded_by").order_by("pk"))
        if not counts:
            return None
    elif not fills.has_supply_for_session(client, timezone.localdate(visit.starts_at)):
        return None
    elif runbook is not None:
        counts = list(runbook.supply_counts.select_related("recorded_by").order_by("pk"))
    # What the client should hold as they arrived: today's, for an open record only (on a signed
    # one each count says what it expected).
    section = SupplySection(supplies=[] if locked else fills.supplies(client, excluding_runbook=runbook))
    latest = {count.strength_mg: count.pk for count in counts}
    by_count = {alert.supply_count_id: alert for alert in session_alerts if alert.supply_count_id}
    for count in counts:
        standing = latest[count.strength_mg] == count.pk
        section.counts.append(CountShown(count, standing, by_count.get(count.pk)))
        if standing:
            section.counted_mg += count.taken * count.strength_mg
    section.own_mg = own_doses_mg(doses)
    return section
