"""The Good Faith Estimate (docs/good-faith-estimate.md): what a self-pay client's course is
expected to cost, built from the course plan in force at the fees in force, given before the
first medication session and again whenever the plan changes.

- `estimate_lines` prices the plan; `estimate_problems` says why an estimate cannot be given;
  `estimate_issue` writes one (and supersedes the one in force), holding the client's row.
- `plan_changed` is called by the plan's writers (kapflow.pathway.services.course_plan_save and
  kapflow.course.reviews.plan_supersede) in their transaction: a new or changed plan is given
  its estimate at once, or the estimate becomes due (`estimates_due`, the coordinators'
  reminder and page) with the reason it could not be given.
- `dispute` flags a bill that exceeds the estimate by the practice's threshold."""

import calendar
import datetime
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import DatabaseError, transaction
from django.db.models import Exists, Min, OuterRef, Q, Sum
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.billing import fees as fee_schedule
from kapflow.billing.access import can_bill
from kapflow.billing.models import CENT, BillingProfile, Charge, Diagnosis, Estimate, Fee, Invoice
from kapflow.billing.services import BillingRefused, chain_lock, money, statement_notice
from kapflow.clients.models import CareTeamMember, Client
from kapflow.controlled.clocks import business_days_after, is_business_day
from kapflow.lib.gates import UNREAD
from kapflow.pathway.models import CoursePlan
from kapflow.practice.models import Practice
from kapflow.visits.models import DEFAULT_MINUTES, Visit

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")
CMS_LINK = "https://www.cms.gov/nosurprises"

# The items of a course, in the order the client meets them, and who provides each
# (docs/good-faith-estimate.md, "What it lists").
THERAPIST, PRESCRIBER = "therapist", "prescriber"
PROVIDED_BY = {
    Visit.Kind.CONSULTATION: (THERAPIST,),
    Visit.Kind.MEDICAL_EVALUATION: (PRESCRIBER,),
    Visit.Kind.PREPARATION: (THERAPIST,),
    Visit.Kind.MEDICATION: (PRESCRIBER, THERAPIST),
    Visit.Kind.INTEGRATION: (THERAPIST,),
    Visit.Kind.PROGRESS_REVIEW: (THERAPIST,),
}
ONCE_A_CLIENT = (Visit.Kind.CONSULTATION, Visit.Kind.MEDICAL_EVALUATION)

DISCLAIMERS = [
    "This Good Faith Estimate shows the costs of items and services that are reasonably expected "
    "for your health care needs for the course of care planned. The estimate is based on "
    "information known at the time it was created.",
    "This is an estimate: actual charges may differ. The Good Faith Estimate does not include any "
    "unknown or unexpected costs that may arise during treatment. You could be charged more if "
    "complications or special circumstances occur. If this happens, federal law allows you to "
    "dispute (appeal) the bill.",
    "Other items or services your clinicians may recommend (for example care from another "
    "provider or facility, laboratory tests, or medicine from a pharmacy) are not included here "
    "and will be given their own Good Faith Estimate when they are scheduled or when you ask.",
    "This Good Faith Estimate is not a contract and does not require you to obtain the items or "
    "services listed.",
    "If you are billed for more than this Good Faith Estimate, you have the right to dispute the "
    "bill. You may contact the practice to let us know the billed charges are higher than the "
    "estimate and ask us to update the bill, or to negotiate it, or ask if there is financial "
    "help available. You may also start a dispute resolution process with the U.S. Department "
    "of Health and Human Services (HHS), the patient-provider dispute resolution process. You "
    "must start it within 120 calendar days (about 4 months) of the date on the original bill; "
    "there is a $25 fee. If the agency reviewing your dispute agrees with you, you will have to "
    "pay the price on this Good Faith Estimate; if it disagrees and agrees with the practice, "
    "you will have to pay the higher amount.",
    "Starting a dispute will not affect the care you receive from the practice, and the practice "
    "will not treat you differently because you did.",
    f"To learn more and get a form to start the process, go to {CMS_LINK} or call the number "
    "given there. For questions or more information about your right to a Good Faith Estimate, "
    f"visit {CMS_LINK}.",
    "Keep a copy of this Good Faith Estimate in a safe place or take pictures of it. You may "
    "need it if you are billed a higher amount. You may ask the practice for a copy of any "
    "estimate given to you in the last six years.",
]


# --- Dates -------------------------------------------------------------------------------------


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` later, or the last day of that month when it has no such day."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def valid_until_for(covers_from: datetime.date, months: int) -> datetime.date:
    """The last day an estimate covering from `covers_from` may cover (45 CFR 149.610: recurring
    services for up to 12 months): the day before the same day `months` later."""
    return add_months(covers_from, months) - datetime.timedelta(days=1)


def business_days_before(day: datetime.date, count: int) -> datetime.date:
    """The `count`th business day before `day` (Monday to Friday)."""
    due, left = day, count
    while left > 0:
        due -= datetime.timedelta(days=1)
        if is_business_day(due):
            left -= 1
    return due


def deadline(
    changed_on: datetime.date,
    *,
    session_on: datetime.date | None = None,
    booked_on: datetime.date | None = None,
) -> datetime.date:
    """The last day to give the estimate (docs/good-faith-estimate.md, "When it is due").

    With a medication session booked (on `booked_on`, for `session_on`): booked 10 or more days
    ahead, within 3 business days of the booking; 3 or more days ahead, within 1 business day;
    and in every case at least 1 business day before the session (a scope change). A booking
    made earlier than the change that made the estimate due counts from the change. With no
    session booked, within 3 business days of the change, as for a client who asks."""
    if session_on is None:
        return business_days_after(changed_on, 3)
    start = max(booked_on or changed_on, changed_on)
    ahead = (session_on - start).days
    if ahead >= 10:
        due = business_days_after(start, 3)
    elif ahead >= 3:
        due = business_days_after(start, 1)
    else:
        due = start
    return min(due, business_days_before(session_on, 1))


# --- Lines -------------------------------------------------------------------------------------


@dataclass
class Line:
    kind: str
    label: str
    count: int
    code: str
    modifiers: str
    units: int
    fee: Decimal
    amount: Decimal
    description: str
    payer_dependent: bool
    provided_by: tuple[str, ...]

    def as_content(self) -> dict:
        return {
            "kind": self.kind,
            "label": self.label,
            "count": self.count,
            "code": self.code,
            "modifiers": self.modifiers,
            "units": self.units,
            "units_total": self.units * self.count,
            "fee": str(self.fee),
            "amount": str(self.amount),
            "description": self.description,
            "payer_dependent": self.payer_dependent,
            "provided_by": list(self.provided_by),
        }


@dataclass
class Priced:
    """The plan, priced: its lines, the kinds no fee line covers, and how many of each kind."""

    lines: list[Line] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


def maintenance_sessions(plan: CoursePlan, covers_from: datetime.date, valid_until: datetime.date) -> int:
    """A maintenance plan's sessions in the estimate's period: one every `maintenance_weeks`
    weeks, the first at the start (at least one)."""
    days = (valid_until - covers_from).days + 1
    return max(1, -(-days // (7 * (plan.maintenance_weeks or 1))))


def plan_counts(
    plan: CoursePlan,
    practice: Practice,
    *,
    covers_from: datetime.date,
    valid_until: datetime.date,
    received: set[str] = frozenset(),
) -> dict[str, int]:
    """How many of each kind of visit the plan expects: a consultation and a medical evaluation
    (unless already received before the estimate's period), the practice's preparation sessions,
    the medication sessions (a maintenance plan's in the period, at its interval, without
    preparation), an integration session after each where the plan says so, and the progress
    reviews at the plan's review points."""
    maintenance = plan.kind == CoursePlan.Kind.MAINTENANCE
    sessions = maintenance_sessions(plan, covers_from, valid_until) if maintenance else plan.planned_sessions
    counts = {kind: (0 if kind in received else 1) for kind in ONCE_A_CLIENT}
    counts[Visit.Kind.PREPARATION] = 0 if maintenance else practice.estimate_preparation_sessions
    counts[Visit.Kind.MEDICATION] = sessions
    counts[Visit.Kind.INTEGRATION] = sessions if plan.integration_after_each else 0
    counts[Visit.Kind.PROGRESS_REVIEW] = len([p for p in plan.review_points if p <= sessions])
    return counts


def received_before(client: Client, day: datetime.date) -> set[str]:
    """The once-a-client kinds (consultation, medical evaluation) the client completed before
    `day`: not listed again on a later course's estimate. One query."""
    return _received_by_client([client.pk], day).get(client.pk, set())


def _received_by_client(clients, day: datetime.date) -> dict[int, set[str]]:
    """`received_before` for each of the `clients` (ids) that received any. One query."""
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    received: dict[int, set[str]] = {}
    for client_id, kind in Visit.objects.filter(
        client_id__in=clients, kind__in=ONCE_A_CLIENT, status=Visit.Status.COMPLETED, starts_at__lt=start
    ).values_list("client_id", "kind"):
        received.setdefault(client_id, set()).add(kind)
    return received


def estimate_lines(
    plan: CoursePlan,
    practice: Practice,
    on: datetime.date,
    *,
    covers_from: datetime.date | None = None,
    received: set[str] = frozenset(),
    fees: list[Fee] | None = None,
) -> Priced:
    """The plan priced at the fee lines in force on `on`: each kind's lines for a visit of its
    usual length (kapflow.visits.models.DEFAULT_MINUTES), times the count the plan expects. A
    kind with a count but no line in the schedule is `unpriced`. One query (the fee lines), none
    when `fees` (_fees_on's) are given."""
    covers_from = covers_from or on
    valid_until = valid_until_for(covers_from, practice.estimate_months)
    counts = plan_counts(plan, practice, covers_from=covers_from, valid_until=valid_until, received=received)
    fees = _fees_on(on) if fees is None else fees
    priced = Priced(counts=counts)
    for kind, count in counts.items():
        if count <= 0:
            continue
        lines = fee_schedule.lines_for(kind, DEFAULT_MINUTES[kind], on, fees=fees)
        if not lines:
            priced.unpriced.append(kind)
            continue
        for fee in lines:
            priced.lines.append(
                Line(
                    kind=kind,
                    label=Visit.Kind(kind).label,
                    count=count,
                    code=fee.code,
                    modifiers=fee.modifiers,
                    units=fee.units,
                    fee=fee.amount,
                    amount=fee.amount * count,
                    description=fee.description,
                    payer_dependent=fee.payer_dependent,
                    provided_by=PROVIDED_BY[kind],
                )
            )
    return priced


# --- Who, and whether it may be given ----------------------------------------------------------


def is_self_pay(client: Client) -> bool:
    """Whether the client pays for their own care (no billing profile: self-pay, the default)."""
    profile = BillingProfile.objects.filter(client=client).values_list("self_pay", flat=True).first()
    return True if profile is None else profile


def self_pay_q() -> Q:
    return Q(billing_profile__isnull=True) | Q(billing_profile__self_pay=True)


def plan_in_force(client: Client) -> CoursePlan | None:
    """The plan the estimate is for: the one in force, unless its course has ended."""
    return CoursePlan.objects.current().filter(client=client, ended_at__isnull=True).first()


def _fees_on(on: datetime.date) -> list[Fee]:
    """The fee lines that had begun by `on` (fee_schedule.lines_for picks among them). One query."""
    return list(Fee.objects.filter(effective_from__lte=on))


def clinicians(client: Client) -> list[CareTeamMember]:
    """The therapists and prescribers on the care team who provide the course's items."""
    return _clinicians_by_client([client.pk]).get(client.pk, [])


def _clinicians_by_client(clients) -> dict[int, list[CareTeamMember]]:
    """`clinicians` of each of the `clients` (ids) that has any. One query."""
    team: dict[int, list[CareTeamMember]] = {}
    for member in (
        CareTeamMember.objects.filter(
            client_id__in=clients,
            role__in=(
                CareTeamMember.Role.PRIMARY_THERAPIST,
                CareTeamMember.Role.THERAPIST,
                CareTeamMember.Role.PRESCRIBER,
            ),
            user__is_active=True,
        )
        .select_related("user")
        .order_by("client_id", "role", "user__full_name")
    ):
        team.setdefault(member.client_id, []).append(member)
    return team


def estimate_problems(client: Client, practice: Practice, *, plan: CoursePlan | None = None) -> list[str]:
    """Why an estimate cannot be given now, each as the person who can fix it reads it; empty
    when it can."""
    plan = plan if plan is not None else plan_in_force(client)
    today = timezone.localdate()
    if plan is None:
        # No plan to price: neither the fee lines nor the visits received are read.
        return _problems(practice, plan, on=today, fees=[], received=set(), team=clinicians(client))
    return _problems(
        practice,
        plan,
        on=today,
        fees=_fees_on(today),
        received=received_before(client, today),
        team=clinicians(client),
    )


def _problems(
    practice: Practice,
    plan: CoursePlan | None,
    *,
    on: datetime.date,
    fees: list[Fee],
    received: set[str],
    team: list[CareTeamMember],
) -> list[str]:
    """estimate_problems on the day `on`, from what it reads (the fee lines begun by then, the
    once-a-client visits received before, the care team's clinicians): no query."""
    problems = []
    if plan is None:
        problems.append("The client has no course plan in force: the estimate is built from the plan.")
    else:
        priced = estimate_lines(plan, practice, on, received=received, fees=fees)
        for kind in priced.unpriced:
            problems.append(
                f"The fee schedule has no line for a {Visit.Kind(kind).label.lower()}: a practice admin "
                "adds one on the Fees page."
            )
    if not practice.tax_id.strip():
        problems.append("The practice's tax ID (EIN) is not recorded in the practice settings.")
    if not practice.npi.strip():
        problems.append("The practice's NPI is not recorded in the practice settings.")
    if not practice.address.strip():
        problems.append("The practice's address is not recorded in the practice settings.")
    if not team:
        problems.append("The client has no therapist or prescriber on the care team.")
    for member in team:
        if not member.user.npi.strip():
            problems.append(f"{member.user.full_name}'s NPI is not recorded on their staff record.")
    return problems


# --- The estimate's content --------------------------------------------------------------------


def plan_terms(plan: CoursePlan) -> dict:
    """What of the plan the estimate depends on: when any of it changes, a new estimate is due."""
    return {
        "plan": plan.pk,
        "course": plan.course_number,
        "kind": plan.kind,
        "planned_sessions": plan.planned_sessions,
        "maintenance_weeks": plan.maintenance_weeks,
        "integration_after_each": plan.integration_after_each,
        "review_points": plan.review_points,
        "cadence": plan.cadence_words,
        "modality": plan.modality,
    }


def _same_terms(estimate: Estimate, plan: CoursePlan) -> bool:
    return _same_terms_as(estimate.content.get("terms"), plan)


def _same_terms_as(held: dict | None, plan: CoursePlan) -> bool:
    """Whether the terms an estimate was made for (its content's "terms") are the plan's now."""
    terms = dict(plan_terms(plan))
    held = dict(held or {})
    terms.pop("plan"), held.pop("plan", None)
    return held == terms


def is_current_for(estimate: Estimate | None, plan: CoursePlan | None, today: datetime.date) -> bool:
    """Whether the estimate in force still answers for the plan in force: it was made for the
    plan's terms as they are now and it has not run out."""
    return (
        estimate is not None
        and plan is not None
        and estimate.valid_until >= today
        and _same_terms(estimate, plan)
    )


def first_session(client: Client, *, after: datetime.datetime | None = None) -> Visit | None:
    """The client's next medication session still scheduled (with the day it was booked)."""
    return (
        Visit.objects.filter(
            client=client,
            kind=Visit.Kind.MEDICATION,
            status=Visit.Status.SCHEDULED,
            starts_at__gte=after or timezone.now(),
        )
        .order_by("starts_at", "pk")
        .first()
    )


def primary_service(plan: CoursePlan, counts: dict[str, int]) -> str:
    sessions = counts[Visit.Kind.MEDICATION]
    plural = "session" if sessions == 1 else "sessions"
    course = "Maintenance" if plan.kind == CoursePlan.Kind.MAINTENANCE else "A course of"
    what = f"{course} ketamine-assisted psychotherapy: {sessions} medication {plural}, {plan.cadence_words}"
    if counts[Visit.Kind.INTEGRATION]:
        what += ", each followed by an integration session"
    return what + f" ({plan.get_modality_display().lower()})."


def build_content(
    *,
    client: Client,
    plan: CoursePlan,
    practice: Practice,
    priced: Priced,
    issued_on: datetime.date,
    covers_from: datetime.date,
    valid_until: datetime.date,
) -> dict:
    diagnoses = [
        {"code": d.code, "description": d.description}
        for d in Diagnosis.objects.filter(client=client).order_by("diagnosed_on", "pk")
        if d.current_on(issued_on)
    ]
    team = clinicians(client)
    session = first_session(client)
    return {
        "client": {
            "name": f"{client.first_name} {client.last_name}",
            "date_of_birth": client.date_of_birth.isoformat(),
        },
        "primary_service": primary_service(plan, priced.counts),
        "first_session": timezone.localdate(session.starts_at).isoformat() if session else "",
        "frequency": plan.cadence_words,
        "lines": [line.as_content() for line in priced.lines],
        "total": str(priced.total),
        "diagnoses": diagnoses,
        "practice": {
            "name": practice.name,
            "npi": practice.npi,
            "tax_id": practice.tax_id,
            "taxonomy": practice.taxonomy_code,
            "address": practice.address,
            "phone": practice.phone,
            "email": practice.email,
        },
        "clinicians": [
            {
                "name": member.user.full_name,
                "credentials": member.user.credentials,
                "role": member.get_role_display(),
                "provides": PRESCRIBER if member.role == CareTeamMember.Role.PRESCRIBER else THERAPIST,
                "npi": member.user.npi,
                "taxonomy": member.user.taxonomy_code,
            }
            for member in team
        ],
        "location": practice.address,
        "separately": "Any laboratory tests, medicine dispensed by a pharmacy, and care from other "
        "providers or facilities are scheduled and billed separately, each with its own estimate.",
        "issued_on": issued_on.isoformat(),
        "covers_from": covers_from.isoformat(),
        "valid_until": valid_until.isoformat(),
        "months": practice.estimate_months,
        "dispute_threshold": str(practice.estimate_dispute_threshold),
        "dispute_days": practice.estimate_dispute_days,
        "disclaimers": DISCLAIMERS,
        "cms_link": CMS_LINK,
        "terms": plan_terms(plan),
    }


# --- Reads -------------------------------------------------------------------------------------


def current_estimate(client: Client) -> Estimate | None:
    return Estimate.objects.filter(client=client, superseded_at__isnull=True).first()


def estimates_of(client: Client) -> list[Estimate]:
    """Every estimate the client was given, newest first (kept, never deleted)."""
    return list(
        Estimate.objects.filter(client=client).select_related("issued_by").order_by("-issued_at", "-pk")
    )


# --- Writes ------------------------------------------------------------------------------------


def covers_from_for(
    current: Estimate | None, plan: CoursePlan, today: datetime.date, months: int
) -> datetime.date:
    """A re-issued estimate keeps the day its course's first estimate covered from, while that
    period has not run out; a new course, or a period run out, starts today."""
    if current is None or current.plan_id is None:
        return today
    held = (current.content.get("terms") or {}).get("course")
    if held != plan.course_number or (current.content.get("terms") or {}).get("kind") != plan.kind:
        return today
    if valid_until_for(current.covers_from, months) < today:
        return today
    return current.covers_from


@transaction.atomic
def estimate_issue(
    *, request, client: Client, reason: str, plan: CoursePlan | None = None, practice: Practice | None = None
) -> Estimate:
    """Give the client a new Good Faith Estimate for the plan in force and supersede the one in
    force, in one transaction with its audit row; the client is told an estimate is ready.
    Holds the audit chain's lock first, so that two issues at once are one after the other (the
    second supersedes the first); the database's one_estimate_in_force is the last word."""
    user = request.user
    reason = Estimate.Reason(reason)
    if reason in (Estimate.Reason.ASKED, Estimate.Reason.RENEWED) and not can_bill(user):
        raise BillingRefused("Only the practice's coordinators and admins give an estimate on request.")
    # Not the client's row: a changed plan is given its estimate after the plan's audit row
    # (services.chain_lock says why); the estimate in force is locked only under this lock.
    chain_lock()
    practice = practice or Practice.load()
    if not is_self_pay(client):
        raise BillingRefused(
            "The client's care is billed to their insurer: a Good Faith Estimate is for self-pay clients."
        )
    plan = plan if plan is not None else plan_in_force(client)
    problems = estimate_problems(client, practice, plan=plan)
    if problems:
        raise BillingRefused(*problems)
    today = timezone.localdate()
    current = (
        Estimate.objects.select_for_update(no_key=True)
        .filter(client=client, superseded_at__isnull=True)
        .first()
    )
    covers_from = covers_from_for(current, plan, today, practice.estimate_months)
    valid_until = valid_until_for(covers_from, practice.estimate_months)
    priced = estimate_lines(
        plan, practice, today, covers_from=covers_from, received=received_before(client, covers_from)
    )
    content = build_content(
        client=client,
        plan=plan,
        practice=practice,
        priced=priced,
        issued_on=today,
        covers_from=covers_from,
        valid_until=valid_until,
    )
    now = timezone.now()
    if current is not None:
        current.superseded_at = now
        current.save(update_fields=["superseded_at"])
    estimate = Estimate.objects.create(
        client=client,
        plan=plan,
        reason=reason,
        issued_at=now,
        issued_by=user,
        covers_from=covers_from,
        valid_until=valid_until,
        total=priced.total,
        content=content,
    )
    audit_record(
        request=request,
        action="kapflow.billing.estimate.issued",
        client=client,
        obj=estimate,
        detail={
            "reason": reason.value,
            "lines": len(priced.lines),
            "total": str(priced.total),
            "superseded": current.pk if current else None,
        },
    )
    statement_notice(client=client, key=f"estimate:{estimate.pk}")
    return estimate


def plan_changed(*, request, plan: CoursePlan) -> Estimate | None:
    """Called by the plan's writers in their transaction, the plan in force locked: a self-pay
    client's new or changed plan is given its estimate at once when nothing is missing. When
    something is, nothing is written and the estimate is due (`estimates_due`). A change that
    leaves the estimate's terms as they were (the goals, say) gives no new estimate."""
    client = plan.client
    if not is_self_pay(client):
        return None
    practice = Practice.load()
    current = current_estimate(client)
    if is_current_for(current, plan, timezone.localdate()):
        return None
    if estimate_problems(client, practice, plan=plan):
        return None
    reason = Estimate.Reason.PLAN if current is None else Estimate.Reason.PLAN_CHANGED
    try:
        with transaction.atomic():
            return estimate_issue(request=request, client=client, reason=reason, plan=plan, practice=practice)
    except (BillingRefused, DatabaseError):
        # The plan is saved all the same; the estimate is due and the coordinators are told.
        logger.exception("The estimate for client %s could not be given with the plan.", client.pk)
        return None


# --- Due ---------------------------------------------------------------------------------------


@dataclass
class EstimateDue:
    client: Client
    # None: a medication session is booked and no course plan is written yet.
    plan: CoursePlan | None
    estimate: Estimate | None
    changed_on: datetime.date
    session: Visit | None
    due_on: datetime.date
    why: str
    # Why it cannot be given now (estimate_problems); None until with_problems reads them, for
    # the rows a page shows (the reminders need none).
    problems: list[str] | None


# What of a plan its terms are read from (plan_terms), and when it was written and changed.
_PLAN_FIELDS = (
    "client_id",
    "created_at",
    "updated_at",
    "course_number",
    "kind",
    "planned_sessions",
    "maintenance_weeks",
    "integration_after_each",
    "review_after",
    "cadence",
    "cadence_note",
    "modality",
)


def _next_sessions(clients, now: datetime.datetime) -> dict[int, Visit]:
    """Each of the `clients`' (ids) next medication session still scheduled. One query."""
    sessions: dict[int, Visit] = {}
    for visit in Visit.objects.filter(
        client_id__in=clients, kind=Visit.Kind.MEDICATION, status=Visit.Status.SCHEDULED, starts_at__gte=now
    ).order_by("starts_at", "pk"):
        sessions.setdefault(visit.client_id, visit)
    return sessions


def estimates_due(today: datetime.date | None = None) -> list[EstimateDue]:
    """Self-pay clients whose plan in force has no estimate that answers for it (none given,
    the plan changed since, or it ran out), with the last day to give it and why it was not
    given. The practice's current plans and estimates are read as plain values (a group
    practice has thousands; the terms of an estimate as the database extracts them from its
    content), then only the due clients' rows. Queries: the plans, the estimates' terms, then
    for the due clients their clients, estimates and sessions: the same number however many are
    due. What stops each being given is left to `with_problems`, for the rows a page shows."""
    today = today or timezone.localdate()
    now = timezone.now()
    active = Client.objects.filter(self_pay_q()).exclude(
        stage__in=(Client.Stage.DISCHARGED, Client.Stage.NOT_PROCEEDING)
    )
    # A plan not changed since an estimate in force was given, which has not run out, is
    # answered for (its terms are as the estimate took them): left out in SQL. The rest (none
    # given, run out, or the plan saved since) are compared term by term below.
    answered = Estimate.objects.filter(
        client_id=OuterRef("client_id"),
        superseded_at__isnull=True,
        valid_until__gte=today,
        issued_at__gte=OuterRef("updated_at"),
    )
    plans = list(
        CoursePlan.objects.current()
        .filter(ended_at__isnull=True)
        .exclude(Exists(answered))
        .only(*_PLAN_FIELDS)
    )
    # Then which of them are self-pay clients whose course runs, on their ids alone: as a filter of
    # the query above, SQLite would read every client of the practice first.
    kept = set(active.filter(pk__in={plan.client_id for plan in plans}).values_list("pk", flat=True))
    plans = [plan for plan in plans if plan.client_id in kept]
    held = {
        client_id: (valid_until, terms or {})
        for client_id, valid_until, terms in Estimate.objects.filter(
            client_id__in=[plan.client_id for plan in plans], superseded_at__isnull=True
        ).values_list("client_id", "valid_until", "content__terms")
    }
    due = []
    for plan in plans:
        valid_until, terms = held.get(plan.client_id, (None, None))
        if valid_until is not None and valid_until >= today and _same_terms_as(terms, plan):
            continue
        if valid_until is None:
            why, changed_on = "No estimate has been given for this plan.", timezone.localdate(plan.created_at)
        elif valid_until < today:
            why, changed_on = "The last estimate ran out.", valid_until + datetime.timedelta(days=1)
        else:
            why, changed_on = "The plan changed after the last estimate.", timezone.localdate(plan.updated_at)
        due.append((plan, why, changed_on))
    ids = [plan.client_id for plan, _why, _changed in due]
    clients = Client.objects.in_bulk(ids)
    in_force = {
        e.client_id: e for e in Estimate.objects.filter(client_id__in=ids, superseded_at__isnull=True)
    }
    sessions = _next_sessions(ids, now)
    found = []
    for plan, why, changed_on in due:
        plan.client = client = clients[plan.client_id]
        session = sessions.get(plan.client_id)
        due_on = deadline(
            changed_on,
            session_on=timezone.localdate(session.starts_at) if session else None,
            booked_on=timezone.localdate(session.created_at) if session else None,
        )
        found.append(
            EstimateDue(client, plan, in_force.get(client.pk), changed_on, session, due_on, why, None)
        )
    found += _booked_without_plan(now, today, active)
    found.sort(key=lambda item: (item.due_on, item.client.last_name, item.client.pk))
    return found


def with_problems(rows: list[EstimateDue], practice: Practice) -> list[EstimateDue]:
    """`rows` (estimates_due's, or the page's share of them) with each one's problems worked out:
    three queries however many rows (the fee lines, the visits received, the care teams), so a
    page of the soonest due costs the same whatever the number due."""
    waiting = [row for row in rows if row.problems is None]
    if waiting:
        today = timezone.localdate()
        ids = [row.client.pk for row in waiting]
        fees, received, teams = _fees_on(today), _received_by_client(ids, today), _clinicians_by_client(ids)
        for row in waiting:
            row.problems = _problems(
                practice,
                row.plan,
                on=today,
                fees=fees,
                received=received.get(row.client.pk, set()),
                team=teams.get(row.client.pk, []),
            )
    return rows


def _booked_without_plan(now: datetime.datetime, today: datetime.date, active) -> list[EstimateDue]:
    """Self-pay clients (of `active`) with a medication session booked and no course plan in
    force: the estimate is due from the booking (the law counts from scheduling), and cannot be
    given until the plan it is built from is written. Which clients, as plain values (those
    booked, those of them with a plan, those without one who are self-pay and active); then
    only theirs: clients, estimates and sessions."""
    booked = set(
        Visit.objects.filter(
            kind=Visit.Kind.MEDICATION, status=Visit.Status.SCHEDULED, starts_at__gte=now
        ).values_list("client_id", flat=True)
    )
    planned = set(
        CoursePlan.objects.current()
        .filter(ended_at__isnull=True, client_id__in=booked)
        .values_list("client_id", flat=True)
    )
    ids = sorted(active.filter(pk__in=booked - planned).values_list("pk", flat=True))
    held = {e.client_id: e for e in Estimate.objects.filter(client_id__in=ids, superseded_at__isnull=True)}
    ids = [pk for pk in ids if pk not in held or held[pk].valid_until < today]
    clients = Client.objects.in_bulk(ids)
    found = []
    for client_id, session in _next_sessions(ids, now).items():
        booked_on = timezone.localdate(session.created_at)
        due_on = deadline(booked_on, session_on=timezone.localdate(session.starts_at), booked_on=booked_on)
        found.append(
            EstimateDue(
                clients[client_id],
                None,
                held.get(client_id),
                booked_on,
                session,
                due_on,
                "A medication session is booked and no course plan is written yet.",
                ["Write the course plan: the estimate is built from it."],
            )
        )
    return found


def needs_estimate(client: Client, *, plan=UNREAD) -> bool:
    """Whether a self-pay client with a medication session booked has no estimate answering for
    it: none for the plan in force, or, with no plan written yet, none in force at all (the visit
    page asks, of a scheduled medication session, and warns). `plan`: plan_in_force(client),
    when the caller has read it."""
    if not is_self_pay(client):
        return False
    plan = plan_in_force(client) if plan is UNREAD else plan
    estimate = current_estimate(client)
    if plan is None:
        return estimate is None or estimate.valid_until < timezone.localdate()
    return not is_current_for(estimate, plan, timezone.localdate())


# --- The right to dispute ----------------------------------------------------------------------


@dataclass
class Dispute:
    estimate: Estimate
    estimated: Decimal
    billed: Decimal
    over_by: Decimal
    threshold: Decimal
    first_bill_on: datetime.date | None
    last_day: datetime.date | None

    @property
    def over_by_text(self) -> str:
        return money(self.over_by)


def dispute(client: Client, practice: Practice, *, estimate: Estimate | None = None) -> Dispute | None:
    """When the client has been billed at least the practice's threshold (45 CFR 149.620: $400)
    more than the estimate's total for its period (charges dated from its covers_from to its
    valid_until), the amounts and the last day to start a dispute (the practice's dispute days
    after the first invoice billing a charge of that period). None otherwise. Three queries."""
    estimate = estimate or current_estimate(client)
    if estimate is None:
        return None
    in_period = Charge.objects.filter(
        client=client, service_date__gte=estimate.covers_from, service_date__lte=estimate.valid_until
    )
    # Quantized: SQLite sums decimals as floating point (1400 may come back 1399.99999999999).
    billed = (in_period.aggregate(total=Sum("amount"))["total"] or ZERO).quantize(CENT)
    over_by = billed - estimate.total
    if over_by < practice.estimate_dispute_threshold:
        return None
    # The first bill for the estimate's services: an invoice issued later for a visit before
    # them (the consultation invoiced late) is not it, and would shorten the 120 days.
    first = Invoice.objects.filter(client=client, lines__charge__in=in_period).aggregate(
        first=Min("issued_on")
    )["first"]
    return Dispute(
        estimate=estimate,
        estimated=estimate.total,
        billed=billed,
        over_by=over_by,
        threshold=practice.estimate_dispute_threshold,
        first_bill_on=first,
        last_day=first + datetime.timedelta(days=practice.estimate_dispute_days) if first else None,
    )


# --- The coordinators' reminder ----------------------------------------------------------------


def _due_key(item: EstimateDue) -> str:
    about = f"plan{item.plan.pk}" if item.plan is not None else f"session{item.session.pk}"
    return f"estimate_due:{about}:{item.changed_on:%Y%m%d}"


def due_reminders(now: datetime.datetime) -> list[tuple]:
    """(key, person, client, due_at) for each estimate due, for every active coordinator and
    practice admin with an email address (kapflow.reminders.sources.estimates_due)."""
    from kapflow.accounts.models import User

    found = estimates_due(timezone.localdate(now))
    if not found:
        return []
    people = list(
        User.objects.filter(Q(is_coordinator=True) | Q(is_practice_admin=True), is_active=True)
        .exclude(email="")
        .order_by("pk")
    )
    return [
        (
            _due_key(item),
            person,
            item.client,
            timezone.make_aware(datetime.datetime.combine(item.changed_on, datetime.time.min)),
        )
        for item in found
        for person in people
    ]


def due_reminder_keys(now: datetime.datetime) -> set[str]:
    return {_due_key(item) for item in estimates_due(timezone.localdate(now))}
