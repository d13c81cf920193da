"""The four kinds of letter: what each may carry and where each part comes from. One table,
`KINDS`; the author of a letter chooses among its kind's categories (minimum necessary: they
may send less, never more), and each chosen category adds one section read from the chart by
kapflow.letters.selectors (docs/letters.md)."""

from collections.abc import Callable
from dataclasses import dataclass

from kapflow.clients.models import Client
from kapflow.consent.categories import Category
from kapflow.dosing.models import Runbook
from kapflow.letters import selectors
from kapflow.letters.models import Letter
from kapflow.lib.dates import long_date

Kind = Letter.Kind


@dataclass(frozen=True)
class Part:
    category: str
    # Reads the section from the chart: (client, runbook) -> section (selectors.section).
    read: Callable[[Client, Runbook | None], dict]


@dataclass(frozen=True)
class KindSpec:
    purpose: str  # why the letter is written, said on the letter
    parts: tuple[Part, ...]  # in the order the letter shows them
    about_a_session: bool = False  # a post-session summary is about one signed medication session
    has_recommendations: bool = True
    body_label: str = "Letter"
    body_help: str = ""

    @property
    def categories(self) -> list[str]:
        return [part.category for part in self.parts]


KINDS: dict[str, KindSpec] = {
    Kind.REFERRAL: KindSpec(
        purpose="Referral for a medical evaluation before ketamine-assisted psychotherapy",
        parts=(
            # The client's own account at the consultation: a category of its own, so a release
            # for "dates of care" never carries it.
            Part(Category.HISTORY, lambda client, runbook: selectors.consultation_summary(client)),
            Part(Category.MEDICAL, lambda client, runbook: selectors.medical_findings(client)),
        ),
        has_recommendations=False,
        body_label="Your request",
        body_help="What you ask the provider to evaluate, in your own words.",
    ),
    Kind.POST_SESSION: KindSpec(
        purpose="Summary of a ketamine medication session for the prescriber",
        parts=(
            Part(Category.SESSIONS, lambda client, runbook: selectors.session_record(runbook)),
            Part(Category.ADVERSE_EVENTS, lambda client, runbook: selectors.session_adverse_events(runbook)),
        ),
        about_a_session=True,
        body_help="Anything the prescriber should know about this session, in your own words.",
    ),
    Kind.COLLABORATION: KindSpec(
        purpose="Coordination of care with the client's therapist",
        parts=(Part(Category.COURSE, lambda client, runbook: selectors.course_summary(client)),),
        body_help="Your letter to the client's therapist.",
    ),
    Kind.DISCHARGE: KindSpec(
        purpose="Discharge summary at the end of a course of ketamine-assisted psychotherapy",
        parts=(
            Part(Category.COURSE, lambda client, runbook: selectors.course_summary(client)),
            Part(Category.MEASURES, lambda client, runbook: selectors.measures_change(client)),
            Part(Category.ADVERSE_EVENTS, lambda client, runbook: selectors.course_adverse_events(client)),
        ),
        body_label="Summary",
        body_help="The course in your words: condition at discharge, reason for ending.",
    ),
}


def spec(kind: str) -> KindSpec:
    return KINDS[kind]


def chosen(kind: str, categories) -> list[str]:
    """The categories asked for that the kind can carry, in the kind's order."""
    asked = set(categories)
    return [category for category in KINDS[kind].categories if category in asked]


def compose(*, client: Client, kind: str, categories, runbook: Runbook | None, practice) -> dict:
    """What the letter says, read from the chart now: the letterhead, the client, and one
    section for each chosen category. Plain JSON (kept in Letter.facts at signing)."""
    kind_spec = KINDS[kind]
    wanted = set(categories)
    sections = []
    for part in kind_spec.parts:
        if part.category in wanted:
            sections.append({"category": part.category, **part.read(client, runbook)})
    return {
        "letterhead": {
            "name": practice.name,
            "address": practice.address,
            "phone": practice.phone,
            "email": practice.email,
        },
        "purpose": kind_spec.purpose,
        "client": {
            "name": f"{client.first_name} {client.last_name}",
            "date_of_birth": long_date(client.date_of_birth),
        },
        "sections": sections,
    }
