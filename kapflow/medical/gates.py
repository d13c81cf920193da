"""The medical readiness gates of docs/clinical.md: screening, clearance, order. Each is a plain function
over the database returning a GateResult whose reason a tired clinician reads at a glance and
which names who can resolve it."""

import datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from kapflow.clients.models import ADULT_AGE, Client
from kapflow.lib.dates import long_date as day
from kapflow.lib.gates import UNREAD, GateResult, Status
from kapflow.medical import doses, routes
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.practice.models import Practice

PRESCRIBER = "prescriber"
THERAPIST = "therapist"


def _result(key: str, label: str, passed: bool, reason: str, resolver: str, url: str = "") -> GateResult:
    return GateResult(
        key=key,
        label=label,
        status=Status.PASS if passed else Status.FAIL,
        reason=reason,
        resolver=resolver,
        url=url,
    )


def latest_screening(client: Client) -> Screening | None:
    return Screening.objects.filter(client=client).latest_first().first()


def unresolved_exclusions(screening: Screening, *, clearances: list[Clearance] | None = None) -> list:
    """The screening's exclusion flags that no standing (unrevoked) clearance reviewing it has
    resolved in writing. One query when there are exclusion flags, none otherwise, nor when
    `clearances` gives the client's clearances, read already (any order, any screening)."""
    exclusions = screening.exclusion_flags
    if not exclusions:
        return []
    if clearances is None:
        standing = screening.clearances.filter(revoked_at__isnull=True).values_list("resolutions", flat=True)
    else:
        standing = [
            clearance.resolutions
            for clearance in clearances
            if clearance.screening_id == screening.pk and clearance.revoked_at is None
        ]
    resolved: set[str] = set()
    for resolutions in standing:
        resolved |= {key for key, text in (resolutions or {}).items() if str(text).strip()}
    return [flag for flag in exclusions if flag.key not in resolved]


def screening_gate(
    client: Client,
    *,
    today: datetime.date | None = None,
    practice: Practice | None = None,
    latest=UNREAD,
    clearances: list[Clearance] | None = None,
) -> GateResult:
    """PASS when the latest screening was completed within the practice's validity period and a
    prescriber has resolved each of its exclusion flags in writing (in a clearance reviewing it).
    `latest`: the client's latest_screening, when the caller has read it (None: there is none);
    `clearances`: every clearance of the client, when the caller has read them."""
    today = today or timezone.localdate()
    practice = practice or Practice.load()
    label = "Contraindication screening"
    key = "screening"
    new_url = reverse("medical:screening_new", args=[client.pk])
    if latest is UNREAD:
        latest = latest_screening(client)
    if latest is None:
        return _result(
            key,
            label,
            False,
            "No contraindication screening yet — therapist or prescriber.",
            THERAPIST,
            new_url,
        )
    through = latest.valid_through(practice.screening_valid_days)
    if through < today:
        return _result(
            key,
            label,
            False,
            f"Contraindication screening out of date: done {day(timezone.localdate(latest.completed_at))}, "
            f"valid {practice.screening_valid_days} days (to {day(through)}). "
            "Repeat it — therapist or prescriber.",
            THERAPIST,
            new_url,
        )
    open_flags = unresolved_exclusions(latest, clearances=clearances)
    if open_flags:
        names = "; ".join(flag.label for flag in open_flags)
        count = f"{len(open_flags)} exclusion flag{'s' if len(open_flags) > 1 else ''}"
        return _result(
            key,
            label,
            False,
            f"{count} not resolved: {names} — prescriber.",
            PRESCRIBER,
            reverse("medical:clearance_new", args=[client.pk]),
        )
    done = day(timezone.localdate(latest.completed_at))
    resolved = len(latest.exclusion_flags)
    detail = (
        f"{resolved} exclusion flag{'s' if resolved > 1 else ''} resolved by the prescriber"
        if resolved
        else ("no exclusion flags")
    )
    return _result(
        key,
        label,
        True,
        f"Screening of {done}: {detail}; valid to {day(through)}.",
        "",
        reverse("medical:screening_detail", args=[client.pk, latest.pk]),
    )


def current_clearance(client: Client) -> Clearance | None:
    """The latest clearance decision: a later decision supersedes an earlier one."""
    return (
        Clearance.objects.filter(client=client)
        .select_related("prescriber", "filed_by")
        .latest_first()
        .first()
    )


def clearance_gate(client: Client, *, today: datetime.date | None = None, clearance=UNREAD) -> GateResult:
    """PASS when the latest clearance is cleared or cleared with conditions, not revoked and
    not expired. `clearance`: the client's current_clearance, when the caller has read it (None:
    there is none)."""
    today = today or timezone.localdate()
    label = "Medical clearance"
    key = "clearance"
    new_url = reverse("medical:clearance_new", args=[client.pk])
    if clearance is UNREAD:
        clearance = current_clearance(client)
    if clearance is None:
        return _result(key, label, False, "No medical clearance yet — prescriber.", PRESCRIBER, new_url)
    url = reverse("medical:clearance_detail", args=[client.pk, clearance.pk])
    decided = day(timezone.localdate(clearance.decided_at))
    if clearance.revoked_at is not None:
        return _result(
            key,
            label,
            False,
            f"Medical clearance revoked on {day(timezone.localdate(clearance.revoked_at))} — prescriber.",
            PRESCRIBER,
            url,
        )
    if clearance.decision == Clearance.Decision.NOT_CLEARED and clearance.is_outside:
        return _result(
            key,
            label,
            False,
            f"Not medically cleared by {clearance.decided_by()} (letter of {day(clearance.letter_dated)}) "
            "— prescriber.",
            PRESCRIBER,
            url,
        )
    if clearance.decision == Clearance.Decision.NOT_CLEARED:
        return _result(
            key, label, False, f"Not medically cleared (decided {decided}) — prescriber.", PRESCRIBER, url
        )
    if clearance.decision == Clearance.Decision.DEFERRED:
        return _result(
            key, label, False, f"Medical clearance deferred on {decided} — prescriber.", PRESCRIBER, url
        )
    if clearance.is_expired(today):
        if clearance.is_outside:
            return _result(
                key,
                label,
                False,
                f"Medical clearance by {clearance.decided_by()} (letter of {day(clearance.letter_dated)}) "
                f"expired on {day(clearance.valid_until)} — file a new letter from the prescriber.",
                THERAPIST,
                url,
            )
        return _result(
            key,
            label,
            False,
            f"Medical clearance expired on {day(clearance.valid_until)} — prescriber.",
            PRESCRIBER,
            url,
        )
    by = clearance.decided_by() if clearance.is_outside else clearance.prescriber.display_name
    if clearance.decision == Clearance.Decision.CONDITIONS:
        reason = f"Cleared with conditions by {by} until {day(clearance.valid_until)}: {clearance.conditions}"
    else:
        reason = f"Cleared by {by} until {day(clearance.valid_until)}."
    if clearance.is_outside:
        reason = (
            f"{reason.rstrip('.')} — letter of {day(clearance.letter_dated)}, "
            f"filed by {clearance.filed_by.display_name}."
        )
    return _result(key, label, True, reason, "", url)


def order_gate(
    client: Client,
    *,
    today: datetime.date | None = None,
    route: str | None = None,
    dose_mg: Decimal | int | None = None,
    orders: list[MedicationOrder] | None = None,
) -> GateResult:
    """PASS when an order is in force today (not discontinued, within its dates, sessions
    remaining), for `route` if given, with `dose_mg` within its range if given. Sessions
    remaining are the sessions authorised less the sessions dosed under the order
    (MedicationOrder.administrations_count, from the runbook's first doses). `orders`: every
    order of the client, newest first, when the caller has read them (a page, with their counts
    of sessions dosed: MedicationOrderQuerySet.with_dosed_sessions); a write leaves them for the
    gate to read, with their counts, in one query."""
    today = today or timezone.localdate()
    label = "Medication order"
    key = "order"
    new_url = reverse("medical:order_new", args=[client.pk])
    if orders is None:
        orders = list(
            MedicationOrder.objects.filter(client=client).with_dosed_sessions().order_by("-created_at", "-pk")
        )
    if not orders:
        return _result(key, label, False, "No medication order — prescriber.", PRESCRIBER, new_url)
    active = [order for order in orders if order.is_active(today)]
    route_name = MedicationOrder.Route(route).label.lower() if route else ""
    candidates = [order for order in active if order.route == route] if route else active
    if not candidates:
        return _result(
            key, label, False, _no_order_reason(orders, active, route, route_name, today), PRESCRIBER, new_url
        )
    if dose_mg is not None:
        dose = Decimal(dose_mg)
        fitting = [order for order in candidates if order.range_mg()[0] <= dose <= order.range_mg()[1]]
        if not fitting:
            ranges = ", ".join(_range_text(order) for order in candidates)
            return _result(
                key,
                label,
                False,
                f"{doses.number(dose)} mg is outside the order's range ({ranges}) — prescriber.",
                PRESCRIBER,
                reverse("medical:order_detail", args=[client.pk, candidates[0].pk]),
            )
        candidates = fitting
    order = candidates[0]
    left = order.sessions_remaining()
    return _result(
        key,
        label,
        True,
        f"Order in force: {order.get_route_display().lower()} {order.dose_text}; "
        f"{left} of {order.sessions_authorised} session{'s' if order.sessions_authorised > 1 else ''} "
        f"left; until {day(order.ends_on)}.",
        "",
        reverse("medical:order_detail", args=[client.pk, order.pk]),
    )


def _range_text(order: MedicationOrder) -> str:
    low, high = order.range_mg()
    return f"{doses.number(low)} mg" if low == high else f"{doses.number(low)}–{doses.number(high)} mg"


def _no_order_reason(orders, active, route, route_name, today) -> str:
    if route and active:
        others = ", ".join(sorted({order.get_route_display().lower() for order in active}))
        return f"No order for {route_name} (orders in force: {others}) — prescriber."
    relevant = [order for order in orders if not route or order.route == route]
    if not relevant:
        return f"No medication order for {route_name} — prescriber."
    latest = relevant[0]
    what = f"The {route_name} order" if route else "The medication order"
    if latest.discontinued_at is not None:
        return f"{what} was discontinued on {day(timezone.localdate(latest.discontinued_at))} — prescriber."
    if today < latest.starts_on:
        return f"{what} starts on {day(latest.starts_on)}; none in force today — prescriber."
    if today > latest.ends_on:
        return f"{what} ended on {day(latest.ends_on)} — prescriber."
    return f"{what} has no sessions left ({latest.sessions_authorised} authorised) — prescriber."


def route_gate(
    client: Client,
    *,
    virtual: bool,
    room=None,
    today: datetime.date | None = None,
    practice: Practice | None = None,
) -> GateResult:
    """Route × setting × person (kapflow.medical.routes) for a medication session in this
    setting (`virtual`, or in person in `room`) on `today`: PASS when some order in force may be
    given there to this client, or when no order is in force yet (the order gate says so); FAIL
    names every rule the orders in force would break and how to resolve it. Whether a prescriber
    is on site is judged at the dose, not here. One query (the orders in force)."""
    today = today or timezone.localdate()
    practice = practice or Practice.load()
    key, label = "route", "Route and setting"
    orders = list(MedicationOrder.objects.filter(client=client).active(today).order_by("-created_at", "-pk"))
    if not orders:
        return _result(key, label, True, "No order in force yet: its route is checked once there is one.", "")
    place = routes.Place(
        virtual=virtual,
        room=room.name if room is not None else "",
        rems_certified=bool(room is not None and room.rems_certified),
        rems_setting_id=room.rems_setting_id if room is not None else None,
    )
    minor = client.age(today) < ADULT_AGE
    judged = [
        (
            order,
            routes.route_problems(
                order.route, place=place, minor=minor, minor_signoff=order.minor_signoff, practice=practice
            ),
        )
        for order in orders
    ]
    where = "at home (virtual)" if virtual else f"in {place.room or 'the office'}"
    allowed = [order for order, problems in judged if not problems]
    if allowed:
        names = ", ".join(dict.fromkeys(order.get_route_display().lower() for order in allowed))
        return _result(
            key,
            label,
            True,
            f"{names[:1].upper()}{names[1:]} may be given {where}.",
            "",
            reverse("medical:order_detail", args=[client.pk, allowed[0].pk]),
        )
    problems = list(dict.fromkeys(problem for _order, found in judged for problem in found))
    return _result(
        key,
        label,
        False,
        " ".join(problem.reason for problem in problems),
        problems[0].resolver,
        reverse("medical:order_detail", args=[client.pk, judged[0][0].pk]),
    )
