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
from kapflow.lib.text import mid_sentence
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
    missing = [mid_sentence(topic.label) for topic in Topic if topic.value not in covered]
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
    read: "Read | None" = None,
) -> list[Gate]:
    """Every pathway gate for the client's next medication session, in docs/clinical.md's order.
    `virtual` defaults to whether the course plan includes virtual sessions. What a page has
    read already in this request is not read again: `consent`, the client's consent_status
    (kapflow.consent.selectors), and `consultations`, the client's consultations (a list). The
    preparation gate reads client.preparation_sessions.all(), so a prefetch of them serves it.
    `visit`: the medication session these gates are asked for, which the course gate does not
    count against itself once it has begun. `plan`: the client's plan in force, read already
    (None: none written), and `position`, where the client stands in it (the chart's Course
    card has read both: kapflow.course.reviews.CourseCard), for the course gate. `read`:
    everything the gates read of the client, read for many clients at once (read_many): the
    gates then read nothing more."""
    from kapflow.consent.gates import consent_gate
    from kapflow.consent.selectors import consent_status
    from kapflow.medical.gates import clearance_gate, order_gate, screening_gate
    from kapflow.pathway.course import course_gate, current_plan

    if read is not None:
        plan, position, consultations = read.plan, read.position, read.consultations
    if plan is UNREAD:
        plan = current_plan(client)
    if virtual is None:
        virtual = bool(plan and plan.has_virtual_sessions)
    if read is not None:
        consent = consent_status(client, virtual=virtual, published=read.published, decisions=read.decisions)
        medical = {"latest": read.latest_screening, "clearances": read.clearances}
        cleared = {"clearance": read.clearances[0] if read.clearances else None}
        ordered = {"orders": read.orders}
        course = {"discharged": read.discharged, "ending": read.ending}
        overrides = read.overrides
    else:
        medical, cleared, ordered, course = {}, {}, {}, {}
        overrides = client.gate_overrides.filter(withdrawn_at__isnull=True).select_related("prescriber")
    overrides = {override.gate: override for override in overrides}
    results = [
        consultation_gate(client, consultations=consultations),
        screening_gate(client, practice=practice, **medical),
        clearance_gate(client, **cleared),
        order_gate(client, **ordered),
        consent_gate(client, virtual=virtual, status=consent),
        preparation_gate(client),
        course_gate(client, plan=plan, visit=visit, current=position, **course),
    ]
    return [Gate(result, overrides.get(result.key) if not result.passed else None) for result in results]


@dataclass
class Read:
    """What readiness() reads of one client, read for many clients at once by read_many."""

    consultations: list
    latest_screening: object  # Screening | None
    clearances: list  # every clearance of the client, the current one first
    orders: list  # newest first, each with its sessions dosed
    published: list  # the published consent documents (the same for every client)
    decisions: list  # the client's consent decisions, newest first
    plan: object  # CoursePlan | None
    position: object  # Position | None
    discharged: bool  # a signed discharge
    ending: object  # the day a course review decided to end the plan's course, or None
    overrides: list  # the gate overrides not withdrawn


def read_many(clients: list[Client]) -> dict[int, Read]:
    """Everything readiness() reads of each of `clients`, in a fixed number of queries however
    many there are (fourteen; thirteen when none has a course plan, none for no client): each
    read as the gate that reads it alone would, in the same order, so that
    readiness(client, read=...) answers as readiness(client) does (tests/test_demo.py compares
    the two for every client of the demo practice)."""
    from django.db.models import prefetch_related_objects

    from kapflow.consent.models import Signature
    from kapflow.consent.selectors import published_documents
    from kapflow.course.models import Discharge
    from kapflow.medical.models import Clearance, MedicationOrder, Screening
    from kapflow.pathway.course import NOT_COUNTED, Position, end_decided_from, latest_decided_reviews
    from kapflow.pathway.models import Consultation, CoursePlan
    from kapflow.visits.models import Visit

    if not clients:
        return {}
    prefetch_related_objects(clients, "preparation_sessions", "guardians", "outside_providers")
    ids = [client.pk for client in clients]

    def by_client(rows) -> dict[int, list]:
        """The rows of each client, in the order read."""
        grouped: dict[int, list] = {pk: [] for pk in ids}
        for row in rows:
            grouped[row.client_id].append(row)
        return grouped

    consultations = by_client(Consultation.objects.filter(client__in=ids))
    screenings = by_client(Screening.objects.filter(client__in=ids).latest_first())
    clearances = by_client(
        Clearance.objects.filter(client__in=ids).select_related("prescriber", "filed_by").latest_first()
    )
    orders = by_client(
        MedicationOrder.objects.filter(client__in=ids).with_dosed_sessions().order_by("-created_at", "-pk")
    )
    published = published_documents()
    decisions = by_client(
        Signature.objects.filter(client__in=ids)
        .select_related("document", "presented_by")
        .order_by("-signed_at", "-pk")
    )
    plans: dict[int, CoursePlan] = {}
    for plan in CoursePlan.objects.current().filter(client__in=ids):  # current_plan's order
        plans.setdefault(plan.client_id, plan)
    sessions = by_client(
        Visit.objects.filter(client__in=ids, kind=Visit.Kind.MEDICATION)
        .exclude(status__in=NOT_COUNTED)
        .order_by("starts_at", "pk")
        .only("client_id", "starts_at", "status")
    )
    reviews: dict[int, tuple] = {}
    for row in latest_decided_reviews([plan.pk for plan in plans.values()]):
        reviews.setdefault(row[0], row)
    discharged = set(
        Discharge.objects.filter(client__in=ids, signed_at__isnull=False).values_list("client_id", flat=True)
    )
    overrides = by_client(
        GateOverride.objects.filter(client__in=ids, withdrawn_at__isnull=True).select_related("prescriber")
    )
    read = {}
    for client in clients:
        plan = plans.get(client.pk)
        position = None
        if plan is not None:
            since = plan.counts_from
            position = Position(
                plan,
                tuple(
                    (visit.pk, visit.status)
                    for visit in sessions[client.pk]
                    if since is None or visit.starts_at >= since
                ),
            )
        read[client.pk] = Read(
            consultations=consultations[client.pk],
            latest_screening=next(iter(screenings[client.pk]), None),
            clearances=clearances[client.pk],
            orders=orders[client.pk],
            published=published,
            decisions=decisions[client.pk],
            plan=plan,
            position=position,
            discharged=client.pk in discharged,
            ending=end_decided_from(reviews.get(plan.pk)) if plan is not None else None,
            overrides=overrides[client.pk],
        )
    return read


def readiness_for_visits(visits, *, practice) -> dict[int, list[Gate]]:
    """The gates of each of `visits` (medication sessions, each with its client loaded), as
    readiness(visit.client, virtual=visit.is_virtual, visit=visit) answers them, in a fixed
    number of queries however many sessions and clients (read_many)."""
    # One object per client, which read_many's prefetches fill (the visits' own may be many).
    clients = {visit.client_id: visit.client for visit in visits}
    read = read_many(list(clients.values()))
    return {
        visit.pk: readiness(
            clients[visit.client_id],
            virtual=visit.is_virtual,
            practice=practice,
            visit=visit,
            read=read[visit.client_id],
        )
        for visit in visits
    }


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
