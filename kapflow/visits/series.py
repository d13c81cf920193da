"""The course plan's proposal for its series of medication sessions (and the integration visit
after each): a pure function of the plan, the first date and the practice's integration window.
The person booking edits the list before confirming it."""

import datetime
from dataclasses import dataclass

from kapflow.pathway.models import CoursePlan
from kapflow.visits.models import DEFAULT_MINUTES, Visit

# Days from one medication session to the next. About twice a week alternates 3 and 4 days, so
# the sessions fall on the same two weekdays; a custom cadence starts weekly for the person to
# edit.
STEPS = {
    CoursePlan.Cadence.TWICE_WEEKLY: (3, 4),
    CoursePlan.Cadence.WEEKLY: (7,),
    CoursePlan.Cadence.FORTNIGHTLY: (14,),
    CoursePlan.Cadence.CUSTOM: (7,),
}


@dataclass(frozen=True)
class Proposed:
    kind: str
    number: int  # which medication session of the course it belongs to
    day: datetime.date
    time: datetime.time
    minutes: int

    @property
    def label(self) -> str:
        kind = "Medication session" if self.kind == Visit.Kind.MEDICATION else "Integration after"
        return f"{kind} {self.number}"


def propose(
    *,
    plan: CoursePlan,
    first_day: datetime.date,
    at: datetime.time,
    integration_expected_hours: int,
) -> list[Proposed]:
    """The plan's medication sessions from `first_day` at `at`, one cadence step apart; with an
    integration visit after each when the plan wants one: the next day at the same time, or
    sooner when the practice expects integration within less than a day."""
    steps = STEPS[CoursePlan.Cadence(plan.cadence)]
    medication_minutes = DEFAULT_MINUTES[Visit.Kind.MEDICATION]
    integration_minutes = DEFAULT_MINUTES[Visit.Kind.INTEGRATION]
    # The integration visit must start within the expected hours of the session's start.
    after = datetime.timedelta(hours=min(24, integration_expected_hours))
    if after < datetime.timedelta(minutes=medication_minutes):
        after = datetime.timedelta(minutes=medication_minutes)
    rows, day = [], first_day
    for number in range(1, plan.planned_sessions + 1):
        rows.append(Proposed(Visit.Kind.MEDICATION, number, day, at, medication_minutes))
        if plan.integration_after_each:
            moment = datetime.datetime.combine(day, at) + after
            rows.append(
                Proposed(Visit.Kind.INTEGRATION, number, moment.date(), moment.time(), integration_minutes)
            )
        day += datetime.timedelta(days=steps[(number - 1) % len(steps)])
    return rows
