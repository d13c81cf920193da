"""Readiness for a medication session: every gate of docs/clinical.md's table, in its order, each a
plain function over the database returning a GateResult (kapflow.lib.gates). The chart's panel,
the pathway page and (later) the runbook and the calendar call `readiness()`.

The gates checked on the day itself (virtual safety plan, day-of checklist, pre-dose vitals,
integration booked) are in kapflow.pathway.dayof: pure functions over what the runbook records,
which the runbook calls with its session's records."""

from dataclasses import dataclass

from django.urls import reverse

from kapflow.clients.models import Client
from kapflow.lib.dates import long_date
from kapflow.lib.gates import UNREAD, GateResult, Status
from kapflow.pathway.models import GateOverride, Topic
from kapflow.practice.models import practice_for


def consultation_gate(client: Client, *, consultations: list | None = None) -> GateResult:
    """Passes on a completed consultation whose decision was to go on to screening.
    `consultations`: every consultation of the client, when the caller has read them already."""
    url = reverse("pathway:consultation_new", args=[client.pk])
    if consultations is None:
        latest = client.consultations.order_by("-held_on", "-pk").first()
    else:  # the same one: the latest held, the latest recorded among those held the same day
        latest = max(consultations, key=lambda c: (c.held_on, c.pk), default=None)
    if latest is None:
        return GateResult(
            "consultation", "Consultation", Status.FAIL, "No consultation recorded yet.", "therapist", url
        )
    when = long_date(latest.held_on)
    detail = reverse("pathway:consultation_detail", args=[client.pk, latest.pk])
    if latest.decision == latest.Decision.PROCEED:
        return GateResult(
            "consultation",
            "Consultation",
            Status.PASS,
            f"Consultation on {when}: go on to screening.",
            "therapist",
            detail,
        )
    verdict = (
        "found KAP not a fit" if latest.decision == latest.Decision.NOT_A_FIT else "deferred the decision"
    )
    return GateResult(
        "consultation",
        "Consultation",
        Status.FAIL,
        f"The consultation on {when} {verdict}: {latest.decision_reason}",
        "therapist",
        detail,
    )


def preparation_gate(client: Client) -> GateResult:
    """Passes after at least one preparation session, once every topic has been covered (across
    sessions) and the client's intentions are recorded."""
    url = reverse("pathway:preparation_new", args=[client.pk])
    sessions = list(client.preparation_sessions.all())
    if not sessions:
        return GateResult(
            "preparation", "Preparation", Status.FAIL, "No preparation session yet.", "therapist", url
        )
    covered = {topic for session in sessions for topic in session.topics}
    missing = [topic.label[0].lower() + topic.label[1:] for topic in Topic if topic.value not in covered]
    if missing:
        count = "One topic" if len(missing) == 1 else f"{len(missing)} topics"
        return GateResult(
            "preparation",
            "Preparation",
            Status.FAIL,
            f"{count} not covered yet: {'; '.join(missing)}.",
            "therapist",
            url,
        )
    if not any(session.intentions.strip() for session in sessions):
        return GateResult(
            "preparation",
            "Preparation",
            Status.FAIL,
            "The client's intentions are not recorded yet.",
            "therapist",
            url,
        )
    n = len(sessions)
    return GateResult(
        "preparation",
        "Preparation",
        Status.PASS,
        f"{n} preparation session{'s' if n > 1 else ''}; every topic covered; intentions recorded.",
        "therapist",
        url,
    )


@dataclass(frozen=True)
class Gate:
    """One row of the readiness panel: the gate's own answer, and the override that lets a
    failing medical gate pass, if a prescriber wrote one."""

    result: GateResult
    override: GateOverride | None = None

    @property
    def passed(self) -> bool:
        return self.result.passed or self.override is not None

    @property
    def overridable(self) -> bool:
        return self.result.key in GateOverride.Gate.values and not self.result.passed


def readiness(
    client: Client,
    *,
    virtual: bool | None = None,
    practice=None,
    consent=None,
    consultations=None,
    visit=None,
    plan=UNREAD,
    position=None,
) -> list[Gate]:
    """Every pathway gate for the client's next medication session, in docs/clinical.md's order.
    `virtual` defaults to whether the course plan includes virtual sessions. What a page has
    read already in this request is not read again: `consent`, the client's consent_status
    (kapflow.consent.selectors), and `consultations`, the client's consultations (a list). The
    preparation gate reads client.preparation_sessions.all(), so a prefetch of them serves it.
    `visit`: the medication session these gates are asked for, which the course gate does not
    count against itself once it has begun. `plan`: the client's plan in force, read already
    (None: none written), and `position`, where the client stands in it (the chart's Course
    card has read both: kapflow.course.reviews.CourseCard), for the course gate."""
    from kapflow.consent.gates import consent_gate
    from kapflow.medical.gates import clearance_gate, order_gate, screening_gate
    from kapflow.pathway.course import course_gate, current_plan

    if plan is UNREAD:
        plan = current_plan(client)
    if virtual is None:
        virtual = bool(plan and plan.has_virtual_sessions)
    overrides = {
        override.gate: override
        for override in client.gate_overrides.filter(withdrawn_at__isnull=True).select_related("prescriber")
    }
    results = [
        consultation_gate(client, consultations=consultations),
        screening_gate(client, practice=practice),
        clearance_gate(client),
        order_gate(client),
        consent_gate(client, virtual=virtual, status=consent),
        preparation_gate(client),
        course_gate(client, plan=plan, visit=visit, current=position),
    ]
    return [Gate(result, overrides.get(result.key) if not result.passed else None) for result in results]


def is_ready(gates: list[Gate]) -> bool:
    return all(gate.passed for gate in gates)


def readiness_context(request, client: Client, clinical: bool, **read) -> dict:
    """What the readiness panel (pathway/_readiness.html) needs; nothing for a viewer who may
    not see clinical content. `read`: readiness()'s virtual, consent, consultations, plan and position."""
    if not clinical:
        return {}
    gates = readiness(client, practice=practice_for(request), **read)
    context = {"gates": gates, "ready": is_ready(gates)}
    if client.has_left_care:
        # Why, when a clinician moved the client there by hand (kapflow.clients.services.stage_change):
        # the latest change by hand, if it is to where the client is. A record that moved them
        # since (a consultation's "not a fit", a discharge) has its own reason, and an older
        # change to this stage is not why they are here now.
        latest = client.stage_changes.select_related("changed_by").first()
        if latest is not None and latest.to_stage == client.stage:
            context["left_care_change"] = latest
    return context
