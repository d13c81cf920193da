"""Route × setting × person (docs/clinical.md, "Route × setting × person"), as pure functions: which
routes may be given where and to whom, and what each needs on the day. No database, no clock:
the facts are gathered once by the caller (kapflow.medical.gates.route_gate at booking and at the
start, the runbook's dose and vitals services on the day) and every choice the practice may make
is a Practice setting passed in as `practice`.

What is not a setting, and why: intranasal esketamine is never given at home and only in a
setting certified under the Spravato REMS, and never to a client under 18 (Spravato is not
approved under 18); those come from the label and the REMS, not from the practice."""

from collections.abc import Iterable
from dataclasses import dataclass

from kapflow.medical.doses import INTRAMUSCULAR, INTRANASAL, INTRAVENOUS, ROUTE_NAMES, SUBLINGUAL

# Who can put each refusal right, as the readiness gates name them.
PRESCRIBER = "prescriber"
COORDINATOR = "coordinator"
CLINICIAN = "clinician"


@dataclass(frozen=True)
class Place:
    """Where the session happens: at home by video, or in one of the practice's rooms."""

    virtual: bool
    room: str = ""  # the room's name, in person
    rems_certified: bool = False  # the room is marked certified under the Spravato REMS
    # The room's REMS setting ID, from its certification: a room marked certified without one is
    # not treated as certified. None: not judged (a place imagined, as the order form's).
    rems_setting_id: str | None = None


@dataclass(frozen=True)
class Refusal:
    """One rule a dose would break: the sentence a clinician reads, and who can resolve it."""

    reason: str
    resolver: str

    def __str__(self) -> str:
        return self.reason


def virtual_allowed(route: str, *, practice) -> bool:
    """May this route be given in a virtual session (the client at home)? Esketamine: never."""
    if route == INTRANASAL:
        return False
    return {
        SUBLINGUAL: practice.virtual_sublingual_allowed,
        INTRAMUSCULAR: practice.virtual_intramuscular_allowed,
        INTRAVENOUS: practice.virtual_intravenous_allowed,
    }[route]


def spo2_required(route: str, *, practice) -> bool:
    return {
        SUBLINGUAL: practice.spo2_required_sublingual,
        INTRAMUSCULAR: practice.spo2_required_intramuscular,
        INTRAVENOUS: practice.spo2_required_intravenous,
        INTRANASAL: practice.spo2_required_intranasal,
    }[route]


def spo2_routes(routes: Iterable[str], *, practice) -> list[str]:
    """The routes among `routes` whose every vitals reading needs SpO2, each once, in order."""
    return [route for route in dict.fromkeys(routes) if spo2_required(route, practice=practice)]


def spo2_problem(routes: Iterable[str], *, spo2: int | None, practice) -> str:
    """Why a reading without SpO2 cannot be saved in a session given by `routes`; empty when it
    may be."""
    needing = spo2_routes(routes, practice=practice)
    if spo2 is not None or not needing:
        return ""
    names = " and ".join(ROUTE_NAMES[route].lower() for route in needing)
    return (
        f"SpO2 is required with every reading for {names} (practice setting): "
        "put the pulse oximeter on and enter the SpO2."
    )


def route_problems(
    route: str,
    *,
    place: Place,
    minor: bool,
    minor_signoff: bool,
    practice,
    prescriber_on_site: bool | None = None,
    rems_enrolled: bool | None = None,
) -> list[Refusal]:
    """Every rule that giving `route` in `place` to this person would break; empty when none.
    `minor`: the client is under 18 on the day. `minor_signoff`: the order carries the
    prescriber's sign-off for a client under 18. `prescriber_on_site`: whether a prescriber is
    recorded on site for the session (None: not judged yet, as at booking and at the start).
    `rems_enrolled`: whether the client's Spravato REMS enrolment is recorded (None: not judged,
    as at booking and at the start; the dose judges it)."""
    name = ROUTE_NAMES[route]
    problems = []
    if place.virtual and not virtual_allowed(route, practice=practice):
        if route == INTRANASAL:
            problems.append(
                Refusal(
                    "Intranasal esketamine is never given at home (Spravato REMS: a certified "
                    "setting only): change the visit to in-office in a REMS-certified room, or the "
                    "order's route — prescriber.",
                    PRESCRIBER,
                )
            )
        else:
            problems.append(
                Refusal(
                    f"{name} is office-only (practice setting): change the visit to in-office, "
                    "or the order's route — prescriber.",
                    PRESCRIBER,
                )
            )
    if route == INTRANASAL and not place.virtual and not place.rems_certified:
        problems.append(
            Refusal(
                f"Intranasal esketamine is given only in a setting certified under the Spravato "
                f"REMS, and {place.room or 'this room'} is not marked as one: book a certified room, "
                "or a practice admin marks this one certified (Rooms) — coordinator.",
                COORDINATOR,
            )
        )
    if (
        route == INTRANASAL
        and not place.virtual
        and place.rems_certified
        and place.rems_setting_id is not None
        and not place.rems_setting_id.strip()
    ):
        problems.append(
            Refusal(
                f"{place.room or 'This room'} is marked certified under the Spravato REMS, but its REMS "
                "setting ID is not recorded, so the setting's certification is not on record: a practice "
                "admin records the setting ID (Rooms) — coordinator.",
                COORDINATOR,
            )
        )
    if minor:
        if route == INTRANASAL:
            problems.append(
                Refusal(
                    "Esketamine is for adults only (Spravato is not approved under 18): change the "
                    "order's route — prescriber.",
                    PRESCRIBER,
                )
            )
        elif route in (INTRAMUSCULAR, INTRAVENOUS) and not practice.minors_injected_allowed:
            problems.append(
                Refusal(
                    f"{name} is for adults only (practice setting): change the order's route — prescriber.",
                    PRESCRIBER,
                )
            )
        elif route == SUBLINGUAL and not minor_signoff:
            problems.append(
                Refusal(
                    "Sublingual ketamine for a client under 18 needs the prescriber's sign-off on "
                    "the order, besides the guardian's consent and the client's assent: write an "
                    "order signed off for a client under 18 — prescriber.",
                    PRESCRIBER,
                )
            )
    if route == INTRANASAL and prescriber_on_site is False:
        problems.append(
            Refusal(
                "Intranasal esketamine needs a prescriber on site: record on the runbook which "
                "prescriber is on site — prescriber.",
                PRESCRIBER,
            )
        )
    if route == INTRANASAL and rems_enrolled is False:
        problems.append(
            Refusal(
                "The client's enrolment in the Spravato REMS is not recorded (each client is enrolled "
                "before the first dose): record it on the client's medical page, REMS enrolment — "
                "prescriber.",
                PRESCRIBER,
            )
        )
    return problems


def self_administration_problem(route: str, *, self_administered: bool) -> str:
    """Only a sublingual dose may be taken by the client under a clinician's observation; the
    other routes are given by the clinician. Empty when allowed."""
    if self_administered and route != SUBLINGUAL:
        return (
            f"Only a sublingual dose may be self-administered; {ROUTE_NAMES[route].lower()} is "
            "given by the clinician: untick “self-administered” — clinician."
        )
    return ""
