"""What a course review and a discharge summary report, drawn from the course's own records
(docs/course.md): the sessions held against the plan, the doses given, the PHQ-9 and GAD-7 from
baseline to the latest with response and remission, the adverse events, and (at discharge) the
action items the client carries forward. Sections in the shape the letters use
(kapflow.letters.selectors.section), so one template shows them all; frozen into the record's
`facts` when it is signed, so that the record keeps saying what its signers saw."""

from decimal import Decimal

from django.db.models import Count, Max, Min, Q

from kapflow.clients.models import Client
from kapflow.dosing.models import Administration
from kapflow.integration.models import ActionItem
from kapflow.letters.selectors import (
    consultation_summary,
    course_adverse_events,
    course_summary,
    measures_change,
    section,
    table,
)
from kapflow.lib.dates import long_date
from kapflow.medical.models import MedicationOrder
from kapflow.pathway.course import Position


def _mg(value: Decimal) -> str:
    return f"{value.normalize():f} mg"


def doses_given(client: Client) -> dict:
    """Per medicine and route: the sessions with a dose, the range of first doses, and the
    boosters given."""
    rows = (
        Administration.objects.filter(runbook__visit__client=client)
        .values("order__drug", "route")
        .annotate(
            sessions=Count("runbook", distinct=True),
            lowest=Min("dose_mg"),
            highest=Max("dose_mg"),
            boosters=Count("pk", filter=Q(is_booster=True)),
        )
        .order_by("order__drug", "route")
    )
    body = [
        [
            MedicationOrder.Drug(row["order__drug"]).label,
            MedicationOrder.Route(row["route"]).label
            if row["route"] in MedicationOrder.Route.values
            else row["route"],
            str(row["sessions"]),
            _mg(row["lowest"])
            if row["lowest"] == row["highest"]
            else f"{_mg(row['lowest'])} to {_mg(row['highest'])}",
            str(row["boosters"]),
        ]
        for row in rows
    ]
    if not body:
        return section("Medicine given", lines=["No dose is recorded."])
    return section(
        "Medicine given",
        tables=[
            table(
                "Doses, by medicine and route", ["Medicine", "Route", "Sessions", "Doses", "Boosters"], body
            )
        ],
    )


CARRIED_FORWARD = "carried forward"


def action_items_at_discharge(client: Client) -> dict:
    """Every action item of the client's integration records, oldest first, with its status as
    the discharge finds it. Those still open or in progress are what the client carries forward
    after the course: signing the discharge leaves them as they are (a review, not the discharge,
    changes a status) and the summary says so."""
    items = list(ActionItem.objects.filter(client=client).order_by("created_at", "pk"))
    return action_items_section(items)


def action_items_section(items: list[ActionItem]) -> dict:
    """The section of `items` (a client's, oldest first): action_items_at_discharge, and the
    demo practices, which read every client's items at once."""
    heading = "Action items"
    if not items:
        return section(heading, lines=["No action item was written in an integration record."])
    rows = [
        [
            item.text,
            long_date(item.created_at),
            f"{item.get_status_display()}, {CARRIED_FORWARD}" if item.is_open else item.get_status_display(),
        ]
        for item in items
    ]
    carried = sum(1 for item in items if item.is_open)
    if carried:
        line = (
            f"{carried} of {len(items)} {'is' if carried == 1 else 'are'} still open at discharge and "
            f"{CARRIED_FORWARD}: the client goes on with {'it' if carried == 1 else 'them'} after the course."
        )
    else:
        line = "None is left open: each was done or let go before the discharge."
    return section(
        heading,
        tables=[
            table("From the integration records", ["Action item", "Written", "Status at discharge"], rows)
        ],
        lines=[line],
    )


def where_the_course_stands(current: Position | None) -> dict:
    if current is None:
        return section("The plan", lines=["No course plan is written."])
    plan = current.plan
    facts = [
        (
            "Plan",
            f"{plan.get_kind_display()} {plan.course_number}"
            if plan.kind == plan.Kind.COURSE
            else "Maintenance",
        ),
        ("Sessions held", f"{current.held} of {current.planned} planned"),
        ("How often", plan.cadence_words),
        ("Goals", plan.goals),
    ]
    if plan.review_points:
        facts.append(("Review points", ", ".join(f"after session {n}" for n in plan.review_points)))
    return section("The plan", facts=facts)


def review_facts(client: Client, current: Position | None) -> dict:
    """What the reviewers look at: the plan and the sessions held, the scores, the adverse events."""
    return {
        "sections": [
            where_the_course_stands(current),
            measures_change(client),
            doses_given(client),
            course_adverse_events(client),
        ]
    }


def discharge_facts(client: Client) -> dict:
    """The discharge summary's facts: why the client came, the course and its sessions (the
    plan's goals, count and cadence among them), the medicine given, the scores from first to
    last, the adverse events, and the action items with what is carried forward."""
    return {
        "sections": [
            consultation_summary(client),
            course_summary(client),
            doses_given(client),
            measures_change(client),
            course_adverse_events(client),
            action_items_at_discharge(client),
        ]
    }
