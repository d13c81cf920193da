"""What a course review and a discharge summary report, drawn from the course's own records
(docs/course.md): the sessions held against the plan, the doses given, the PHQ-9 and GAD-7 from
baseline to the latest with response and remission, and the adverse events. Sections in the
shape the letters use (kapflow.letters.selectors.section), so one template shows them all;
frozen into the record's `facts` when it is signed, so that the record keeps saying what its
signers saw."""

from decimal import Decimal

from django.db.models import Count, Max, Min, Q

from kapflow.clients.models import Client
from kapflow.dosing.models import Administration
from kapflow.letters.selectors import (
    consultation_summary,
    course_adverse_events,
    course_summary,
    measures_change,
    section,
    table,
)
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
    last, and the adverse events."""
    return {
        "sections": [
            consultation_summary(client),
            course_summary(client),
            doses_given(client),
            measures_change(client),
            course_adverse_events(client),
        ]
    }
