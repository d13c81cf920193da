"""Reads for the runbook: the records of a visit turned into the pure rules' inputs."""

import datetime

from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.audit.models import AuditEvent
from kapflow.dosing import rules
from kapflow.dosing.models import (
    ChaperoneCheckin,
    DayOfChecklist,
    IntegrationAcknowledgement,
    PhaseMark,
    Runbook,
    SafetyPlan,
    VitalsReading,
)
from kapflow.lib.gates import GateResult
from kapflow.notes.intentions import intention_columns
from kapflow.pathway import dayof
from kapflow.pathway.dayof import Vitals, predose_vitals_gate
from kapflow.visits.models import Visit


def runbook_of(visit) -> Runbook | None:
    """The visit's runbook if anything has been recorded yet (one query)."""
    return Runbook.objects.filter(visit=visit).first()


def as_reading(vitals: VitalsReading | None) -> rules.Reading | None:
    if vitals is None:
        return None
    return rules.Reading(
        taken_at=vitals.taken_at,
        systolic=vitals.systolic,
        diastolic=vitals.diastolic,
        heart_rate=vitals.heart_rate,
        spo2=vitals.spo2,
    )


def latest_predose(
    runbook: Runbook | None, *, before: datetime.datetime | None = None
) -> VitalsReading | None:
    """The latest pre-dose reading (taken at or before `before`, if given): the baseline."""
    if runbook is None:
        return None
    readings = runbook.vitals.filter(phase=VitalsReading.Phase.PRE_DOSE)
    if before is not None:
        readings = readings.filter(taken_at__lte=before)
    return readings.order_by("-taken_at", "-pk").first()


def predose_gate(runbook: Runbook | None, *, now: datetime.datetime, practice) -> GateResult:
    """The day-of pre-dose vitals gate over the latest pre-dose reading, with the prescriber's
    acknowledgement of that very reading if there is one."""
    return _predose_gate_of(runbook, latest_predose(runbook, before=now), now=now, practice=practice)


def _predose_gate_of(
    runbook, latest: VitalsReading | None, *, now: datetime.datetime, practice
) -> GateResult:
    """The pre-dose gate over `latest`, the reading in force (read by the caller: predose_gate
    reads it afresh, RunbookRecord from the rows it holds)."""
    vitals = None
    if latest is not None:
        vitals = Vitals(
            taken_at=latest.taken_at,
            systolic=latest.systolic,
            diastolic=latest.diastolic,
            heart_rate=latest.heart_rate,
        )
    acknowledged = latest is not None and runbook.caution_acknowledged_reading_id == latest.pk
    return predose_vitals_gate(vitals, now=now, practice=practice, caution_acknowledged=acknowledged)


def session_clock(runbook: Runbook | None, *, now: datetime.datetime, practice) -> rules.Clock:
    given, taken = [], []
    if runbook is not None:
        given = list(runbook.administrations.order_by("given_at", "pk").values_list("given_at", flat=True))
        taken = list(
            runbook.vitals.filter(phase=VitalsReading.Phase.IN_SESSION).values_list("taken_at", flat=True)
        )
    return _session_clock_of(given, taken, now=now, practice=practice)


def _session_clock_of(given: list, taken: list, *, now: datetime.datetime, practice) -> rules.Clock:
    """The clock over the doses' times (`given`, in order) and the in-session readings' (`taken`),
    read by the caller: session_clock afresh, RunbookRecord from the rows it holds."""
    return rules.session_clock(
        first_dose_at=given[0] if given else None,
        last_dose_at=given[-1] if given else None,
        vitals_since_dose=taken,
        now=now,
        practice=practice,
    )


def discharge_state(
    runbook: Runbook | None,
    *,
    alert_and_oriented: bool = False,
    steady_on_feet: bool = False,
    escort_present: bool = False,
) -> rules.DischargeState:
    if runbook is None:
        return rules.DischargeState(None, None, None)
    last = runbook.administrations.order_by("-given_at", "-pk").first()
    latest = runbook.vitals.order_by("-taken_at", "-pk").first()
    rating = runbook.ratings.order_by("-rated_at", "-pk").first()
    return rules.DischargeState(
        last_dose_at=last.given_at if last else None,
        latest_vitals=as_reading(latest),
        baseline=as_reading(latest_predose(runbook)),
        latest_sedation=rating.sedation if rating else None,
        latest_dissociation=rating.dissociation if rating else None,
        latest_rating_at=rating.rated_at if rating else None,
        alert_and_oriented=alert_and_oriented,
        steady_on_feet=steady_on_feet,
        escort_present=escort_present,
    )


def avoid_substances(practice) -> list[str]:
    """The practice's substances to avoid in the 24 h before a dose, as a list."""
    return [part.strip() for part in practice.avoid_substances.split(",") if part.strip()]


def latest_checklist(runbook: Runbook | None) -> DayOfChecklist | None:
    """The checklist in force: the latest recorded (older ones are kept, superseded)."""
    if runbook is None:
        return None
    return (
        runbook.checklists.select_related("recorded_by", "medications_reviewed_by")
        .order_by("-recorded_at", "-pk")
        .first()
    )


def latest_safety_plan(runbook: Runbook | None) -> SafetyPlan | None:
    if runbook is None:
        return None
    return runbook.safety_plans.select_related("recorded_by").order_by("-recorded_at", "-pk").first()


def open_suicidality_alert(client) -> bool:
    from kapflow.measures.models import Alert

    return Alert.objects.open().filter(client=client, kind=Alert.Kind.SUICIDALITY).exists()


def as_checklist(checklist: DayOfChecklist | None, *, client) -> dayof.DayOfChecklist | None:
    """The recorded checklist as the day-of gate's value, with the client's open suicidality
    alert read from the measures now (an alert raised after check-in still counts)."""
    if checklist is None:
        return None
    return _checklist_value(checklist, open_alert=open_suicidality_alert(client))


def _checklist_value(checklist: DayOfChecklist | None, *, open_alert: bool) -> dayof.DayOfChecklist | None:
    """The recorded checklist as the day-of gate's value, with the client's open suicidality
    alert (`open_alert`) as the caller read it."""
    if checklist is None:
        return None
    return dayof.DayOfChecklist(
        transport_without_driving=checklist.transport_without_driving,
        last_food_at=checklist.last_food_at,
        last_liquid_at=checklist.last_liquid_at,
        substances_in_last_24h=tuple(checklist.substances),
        pregnancy_possible=checklist.pregnancy == DayOfChecklist.Pregnancy.POSSIBLE,
        new_medications_since_clearance=checklist.new_medication_list(),
        new_medications_reviewed_by_prescriber=checklist.medications_reviewed_by_id is not None,
        open_suicidality_alert=open_alert,
        suicidality_alert_reviewed=checklist.suicidality_alert_reviewed,
    )


def as_safety_plan(plan: SafetyPlan | None) -> dayof.SafetyPlan | None:
    if plan is None:
        return None
    return dayof.SafetyPlan(
        address=plan.address,
        chaperone_name=plan.chaperone_name,
        chaperone_phone=plan.chaperone_phone,
        chaperone_is_adult=plan.chaperone_is_adult,
        chaperone_present=plan.chaperone_present,
        emergency_contact=plan.emergency_contact,
        nearest_emergency_department=plan.nearest_emergency_department,
        has_bp_cuff=plan.has_bp_cuff,
    )


def safety_plan_gate(visit: Visit, runbook: Runbook | None = None) -> GateResult:
    """The virtual safety plan gate over the latest plan recorded on the visit's runbook."""
    if runbook is None and visit.is_virtual:
        runbook = runbook_of(visit)
    plan = as_safety_plan(latest_safety_plan(runbook)) if visit.is_virtual else None
    return dayof.virtual_safety_plan_gate(plan, virtual=visit.is_virtual)


def checklist_gate(visit: Visit, runbook: Runbook | None, *, now: datetime.datetime, practice) -> GateResult:
    return _checklist_gate_of(
        as_checklist(latest_checklist(runbook), client=visit.client), now=now, practice=practice
    )


def _checklist_gate_of(value: dayof.DayOfChecklist | None, *, now: datetime.datetime, practice) -> GateResult:
    return dayof.day_of_checklist_gate(
        value,
        now=now,
        fasting_food_hours=practice.fasting_food_hours,
        fasting_liquid_minutes=practice.fasting_liquid_minutes,
    )


def latest_integration_acknowledgement(runbook: Runbook | None) -> IntegrationAcknowledgement | None:
    if runbook is None:
        return None
    return (
        runbook.integration_acknowledgements.select_related("acknowledged_by")
        .order_by("-acknowledged_at", "-pk")
        .first()
    )


# An argument not given (None is an answer: no integration session booked).
_UNREAD = object()


def booked_integration_at(visit: Visit) -> datetime.datetime | None:
    """When the first integration session booked after this medication session starts (a live
    visit of the client's, of the integration kind)."""
    return (
        Visit.objects.live()
        .filter(client_id=visit.client_id, kind=Visit.Kind.INTEGRATION, starts_at__gte=visit.starts_at)
        .order_by("starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )


def integration_gate(visit: Visit, runbook: Runbook | None = None, *, practice) -> GateResult:
    """(Soft.) The first integration session booked after this one, within the practice's
    integration window (docs/clinical.md's gate; the same window in which kapflow.integration.window
    counts a booking as in time rather than late); without one in time, the therapist's written
    acknowledgement lets it pass."""
    return _integration_gate_of(visit, latest_integration_acknowledgement(runbook), practice=practice)


def _integration_gate_of(
    visit: Visit, ack: IntegrationAcknowledgement | None, *, practice, booked_at=_UNREAD
) -> GateResult:
    """`booked_at`: booked_integration_at(visit) when the caller has it (RunbookRecord), else read."""
    if booked_at is _UNREAD:
        booked_at = booked_integration_at(visit)
    words = ""
    if ack is not None:
        when = timezone.localtime(ack.acknowledged_at)
        words = f"by {ack.acknowledged_by.full_name} at {when:%H:%M} — {ack.reason}"
    return dayof.integration_booked_gate(
        booked_at,
        session_at=visit.ends_at,
        expected_hours=practice.integration_window_hours,
        acknowledged=ack is not None,
        acknowledgement=words,
    )


def day_of_gates(
    visit: Visit, runbook: Runbook | None, *, now: datetime.datetime, practice
) -> list[GateResult]:
    """The readiness strip at the top of the runbook, in docs/clinical.md's order: the virtual safety
    plan (virtual sessions only), the day-of checklist, the pre-dose vitals, the integration
    booking (soft)."""
    return _in_order(
        visit,
        plan=lambda: safety_plan_gate(visit, runbook),
        checklist=lambda: checklist_gate(visit, runbook, now=now, practice=practice),
        predose=lambda: predose_gate(runbook, now=now, practice=practice),
        integration=lambda: integration_gate(visit, runbook, practice=practice),
    )


def _in_order(visit: Visit, *, plan, checklist, predose, integration) -> list[GateResult]:
    """The strip's gates in their order, the safety plan for a virtual session only: one list for
    day_of_gates and RunbookRecord.day_of_gates, which read their rows differently."""
    gates = [plan()] if visit.is_virtual else []
    return [*gates, checklist(), predose(), integration()]


PHASES = [
    (PhaseMark.Phase.OPENING, "opening_reflection_minutes"),
    (PhaseMark.Phase.MEDICINE, "medicine_minutes"),
    (PhaseMark.Phase.INTEGRATION, "integration_processing_minutes"),
]


def phase_times(runbook: Runbook | None, *, now: datetime.datetime, practice) -> list[rules.PhaseTime]:
    """The session's phases, each timed against the practice's planned minutes."""
    marks = {}
    if runbook is not None:
        marks = dict(runbook.phase_marks.values_list("phase", "started_at"))
    return _phase_times_of(runbook, marks, now=now, practice=practice)


def _phase_times_of(runbook: Runbook | None, marks: dict, *, now: datetime.datetime, practice):
    order = [(phase.value, phase.label, getattr(practice, field)) for phase, field in PHASES]
    return rules.phase_times(
        marks=marks, order=order, now=now, ended_at=runbook.discharged_at if runbook else None
    )


def chaperone_clock(visit: Visit, runbook: Runbook | None, *, now: datetime.datetime, practice):
    first = None
    checkins = []
    if runbook is not None and visit.is_virtual:
        dose = runbook.administrations.order_by("given_at", "pk").first()
        first = dose.given_at if dose else None
        checkins = list(runbook.chaperone_checkins.values_list("checked_at", flat=True))
    return _chaperone_clock_of(visit, runbook, first, checkins, now=now, practice=practice)


def _chaperone_clock_of(visit: Visit, runbook, first, checkins: list, *, now: datetime.datetime, practice):
    return rules.chaperone_clock(
        virtual=visit.is_virtual,
        first_dose_at=first,
        checkins=checkins,
        now=now,
        practice=practice,
        discharged=bool(runbook and runbook.discharged_at),
    )


def chaperone_checkins(runbook: Runbook | None) -> list[ChaperoneCheckin]:
    if runbook is None:
        return []
    return list(runbook.chaperone_checkins.select_related("recorded_by"))


def adverse_events_to_review(clients):
    """Adverse events in the sessions of `clients` (a queryset) that no prescriber has reviewed
    yet, oldest first, with their visit and client (a queryset: the dashboard reads its first
    rows, its "Show all" list pages through it)."""
    from kapflow.dosing.models import AdverseEvent

    # The scope checked event by event (Exists): the database walks the few unreviewed events,
    # not every visit of every client in `clients`.
    return (
        AdverseEvent.objects.filter(review__isnull=True)
        .filter(Exists(clients.filter(pk=OuterRef("runbook__visit__client_id"))))
        .select_related("runbook__visit__client")
        # What a row shows (the client's name, the event, when): fewer columns to compile and read.
        .only(
            "runbook__visit__client__first_name",
            "runbook__visit__client__last_name",
            "runbook__visit__client__preferred_name",
            "noted_at",
            "kind",
            "severity",
        )
        .order_by("noted_at", "pk")
    )


def discharge_overrides_to_review(clients):
    """Discharges with criteria unmet (a prescriber's written override) in the sessions of
    `clients` that no prescriber has reviewed yet, oldest first (a queryset, as above)."""
    return (
        Runbook.objects.filter(discharged_at__isnull=False, override_review__isnull=True)
        .exclude(override_reason="")
        .filter(Exists(clients.filter(pk=OuterRef("visit__client_id"))))
        .select_related("visit__client", "discharged_by")
        # What a row shows (the client's name, the discharge and its reason), as above.
        .only(
            "visit__client__first_name",
            "visit__client__last_name",
            "visit__client__preferred_name",
            "discharged_at",
            "discharged_by__full_name",
            "override_reason",
        )
        .order_by("discharged_at", "pk")
    )


def override_review_of(runbook: Runbook | None):
    """The prescriber's review of this session's discharge override, if there was one."""
    from kapflow.dosing.models import SafetyReview

    if runbook is None or not runbook.override_reason:
        return None
    return SafetyReview.objects.filter(discharge_override=runbook).select_related("reviewed_by").first()


def runbook_viewed_since(*, user, client, action: str, since: datetime.datetime) -> bool:
    """Whether `user` has opened this client's runbook (its audit row `action`) since `since`:
    one query over the audit log's client index, bounded by the time."""
    return AuditEvent.objects.filter(client=client, at__gte=since, actor=user, action=action).exists()


# --- The page's reads, each kind of row once ---------------------------------------------------


class RunbookRecord:
    """A runbook's rows for the page and its live panel, each kind read once (one query each,
    whatever the number of rows; a session has a handful of each), and the selectors above
    answered from them in Python: the latest pre-dose reading, the clock, the discharge state...
    The write paths (kapflow.dosing.services) keep the selectors above, which read afresh.

    `full` adds what only the page shows (ratings, events, notes, addenda, prescribers on site);
    the live panel reads without it. A session's chaperone check-ins and safety plans are read
    only for a virtual session, the only kind that shows or uses them."""

    def __init__(self, visit: Visit, *, full: bool = False, people=()):
        self.visit = visit
        self.full = full
        # The client's integration_visits(), when the caller read them (runbook_visits): the
        # integration gate reads its booking from them rather than again.
        self.integration_visits = None
        # The runbook, with which kinds of row it has (_kinds_sql): a kind it has none of is not
        # asked for. A session has no addenda, alerts or emergency calls, most of the time. Read
        # with the visit when it came from runbook_visits or medication_visit (no query here),
        # else on its own.
        if hasattr(visit, "runbook_kinds"):
            book = getattr(visit, "runbook", None)  # None: no runbook yet (nothing recorded)
            if book is not None:
                book.kinds = visit.runbook_kinds
        else:
            book = (
                Runbook.objects.filter(visit=visit)
                .annotate(kinds=RawSQL(_kinds_sql(), ()))  # noqa: S611 (model names only, no input)
                .first()
            )
        self.book = book
        virtual = visit.is_virtual
        self.vitals, self.doses, self.checklists, self.plans, self.checkins = [], [], [], [], []
        self.marks, self.integration_ack = [], None
        self.ratings, self.events, self.notes, self.addenda, self.prescribers_on_site = [], [], [], [], []
        self.reviews = {}  # {adverse event pk: its prescriber's review}, with `full`
        self.present = set()
        if book is None:
            return
        self.present = present = _kinds_of(book.kinds)
        if "vitals" in present:
            self.vitals = list(book.vitals.order_by("taken_at", "pk"))
        if "administrations" in present:
            self.doses = list(book.administrations.select_related("order").order_by("given_at", "pk"))
        if "checklists" in present:
            self.checklists = list(book.checklists.order_by("recorded_at", "pk"))
        if virtual and "safety_plans" in present:
            self.plans = list(book.safety_plans.order_by("recorded_at", "pk"))
        if virtual and "chaperone_checkins" in present:
            self.checkins = list(book.chaperone_checkins.order_by("checked_at", "pk"))
        if "phase_marks" in present:
            self.marks = list(
                book.phase_marks.order_by("started_at", "pk").values_list("phase", "started_at")
            )
        if "integration_acknowledgements" in present:
            self.integration_ack = book.integration_acknowledgements.order_by(
                "-acknowledged_at", "-pk"
            ).first()
        if full:
            if "ratings" in present:
                self.ratings = list(book.ratings.order_by("rated_at", "pk"))
            if "adverse_events" in present:
                # With each one's prescriber review (one-to-one), joined in rather than read apart.
                self.events = list(book.adverse_events.select_related("review").order_by("noted_at", "pk"))
                self.reviews = {
                    event.pk: review for event in self.events if (review := getattr(event, "review", None))
                }
            if "notes" in present:
                self.notes = list(book.notes.order_by("written_at", "pk"))
            if "addenda" in present:
                self.addenda = list(book.addenda.order_by("created_at", "pk"))
            if "prescribers_on_site" in present:
                self.prescribers_on_site = list(book.prescribers_on_site.order_by("on_site_at", "pk"))
        # The people named on these rows (who recorded, gave, signed...): one query for all of
        # them rather than a join on every list. A session names a handful of people.
        _attach_people(
            people,
            [book],
            self.vitals,
            self.doses,
            self.checklists,
            self.plans,
            self.checkins,
            [self.integration_ack] if self.integration_ack else [],
            self.ratings,
            self.events,
            self.notes,
            self.addenda,
            self.prescribers_on_site,
            list(self.reviews.values()),
        )

    def has(self, kind: str) -> bool:
        """Whether the runbook has rows of this kind (a related name of Runbook's: "session_alerts")."""
        return kind in self.present

    @property
    def first_dose_at(self) -> datetime.datetime | None:
        return self.doses[0].given_at if self.doses else None

    def latest_predose(self, *, before: datetime.datetime | None = None) -> VitalsReading | None:
        """As latest_predose(): the latest pre-dose reading taken at or before `before`."""
        readings = [
            reading
            for reading in self.vitals
            if reading.phase == VitalsReading.Phase.PRE_DOSE
            and (before is None or reading.taken_at <= before)
        ]
        return readings[-1] if readings else None

    @property
    def latest_vitals(self) -> VitalsReading | None:
        return self.vitals[-1] if self.vitals else None

    @property
    def checklist(self) -> DayOfChecklist | None:
        """As latest_checklist(): the checklist in force."""
        return self.checklists[-1] if self.checklists else None

    @property
    def plan(self) -> SafetyPlan | None:
        return self.plans[-1] if self.plans else None

    def predose_gate(self, *, now: datetime.datetime, practice) -> GateResult:
        """As predose_gate()."""
        return _predose_gate_of(self.book, self.latest_predose(before=now), now=now, practice=practice)

    def day_of_gates(self, *, now: datetime.datetime, practice, open_alert: bool) -> list[GateResult]:
        """As day_of_gates(), with the client's open suicidality alert (`open_alert`) read by the
        caller."""
        visit = self.visit
        return _in_order(
            visit,
            plan=lambda: dayof.virtual_safety_plan_gate(as_safety_plan(self.plan), virtual=True),
            checklist=lambda: _checklist_gate_of(
                _checklist_value(self.checklist, open_alert=open_alert), now=now, practice=practice
            ),
            predose=lambda: self.predose_gate(now=now, practice=practice),
            integration=lambda: _integration_gate_of(
                visit, self.integration_ack, practice=practice, booked_at=self._booked_integration_at()
            ),
        )

    def _booked_integration_at(self):
        """As booked_integration_at(), from `integration_visits` when the caller read them."""
        if self.integration_visits is None:
            return _UNREAD
        return min(
            (
                visit.starts_at
                for visit in self.integration_visits
                if visit.kind == Visit.Kind.INTEGRATION
                and visit.holds_time
                and visit.starts_at >= self.visit.starts_at
            ),
            default=None,
        )

    def session_clock(self, *, now: datetime.datetime, practice) -> rules.Clock:
        """As session_clock()."""
        given = [dose.given_at for dose in self.doses]
        taken = [
            reading.taken_at for reading in self.vitals if reading.phase == VitalsReading.Phase.IN_SESSION
        ]
        return _session_clock_of(given, taken, now=now, practice=practice)

    def discharge_state(self) -> rules.DischargeState:
        """As discharge_state() with the clinician's observations ticked: the objective criteria."""
        if self.book is None:
            return rules.DischargeState(None, None, None)
        ratings = self.ratings if self.full else None
        if ratings is None:  # the live panel's record: the latest rating alone
            rating = self.book.ratings.order_by("-rated_at", "-pk").first() if self.has("ratings") else None
        else:
            rating = max(ratings, key=lambda r: (r.rated_at, r.pk)) if ratings else None
        last = self.doses[-1] if self.doses else None
        return rules.DischargeState(
            last_dose_at=last.given_at if last else None,
            latest_vitals=as_reading(self.latest_vitals),
            baseline=as_reading(self.latest_predose()),
            latest_sedation=rating.sedation if rating else None,
            latest_dissociation=rating.dissociation if rating else None,
            latest_rating_at=rating.rated_at if rating else None,
            alert_and_oriented=True,
            steady_on_feet=True,
            escort_present=True,
        )

    def phase_times(self, *, now: datetime.datetime, practice) -> list[rules.PhaseTime]:
        """As phase_times()."""
        return _phase_times_of(self.book, dict(self.marks), now=now, practice=practice)

    def chaperone_clock(self, *, now: datetime.datetime, practice):
        """As chaperone_clock()."""
        visit, book = self.visit, self.book
        first = None
        checkins = []
        if book is not None and visit.is_virtual:
            first = self.first_dose_at
            checkins = [checkin.checked_at for checkin in self.checkins]
        return _chaperone_clock_of(visit, book, first, checkins, now=now, practice=practice)


def _attach_people(known, *lists) -> None:
    """Set every user foreign key of the rows in `lists` (recorded_by, given_by, signed_by...)
    as select_related would have, so that reading the attribute asks nothing: from the users
    already read in this request (`known`: the client's care team), and one
    query for any other."""
    wanted = []
    for rows in lists:
        for row in rows:
            for field in row._meta.concrete_fields:
                if field.is_relation and field.related_model is User:
                    user_id = getattr(row, field.attname)
                    if user_id is not None:
                        wanted.append((row, field, user_id))
    if not wanted:
        return
    people = {user.pk: user for user in known}
    missing = {user_id for _, _, user_id in wanted} - people.keys()
    if missing:
        people.update(User.objects.in_bulk(missing))
    for row, field, user_id in wanted:
        field.set_cached_value(row, people[user_id])


# The runbook's kinds of row, by related name (RunbookRecord.present).
_KINDS = (
    "vitals",
    "administrations",
    "checklists",
    "safety_plans",
    "chaperone_checkins",
    "phase_marks",
    "integration_acknowledgements",
    "ratings",
    "adverse_events",
    "notes",
    "addenda",
    "prescribers_on_site",
    "session_alerts",
    "emergency_calls",
    "supply_counts",
)


def _integration_rows() -> Q:
    """integration_visits' rows: the completed medication sessions and the integration visits
    that hold their time (not cancelled)."""
    return Q(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED) | (
        Q(kind=Visit.Kind.INTEGRATION) & ~Q(status=Visit.Status.CANCELLED)
    )


def _is_integration_row(visit: Visit) -> bool:
    """_integration_rows(), of a visit in hand."""
    if visit.kind == Visit.Kind.MEDICATION:
        return visit.status == Visit.Status.COMPLETED
    return visit.kind == Visit.Kind.INTEGRATION and visit.holds_time


def integration_visits(visit: Visit) -> list[Visit]:
    """The client's completed medication sessions and its integration visits that hold their time
    (not cancelled), with their clinicians, in Visit's order: what the runbook shows of a
    completed session's integration (integration_standing) and its integration gate's booking
    (RunbookRecord.integration_visits) both come from, where they were read apart. The runbook's
    views read them with the visit itself (runbook_visits)."""
    return list(
        Visit.objects.filter(client_id=visit.client_id)
        .filter(_integration_rows())
        .select_related("clinician")
    )


def integration_standing(client, visit: Visit, visits: list[Visit], *, practice, now=None):
    """kapflow.integration.window.client_standings' answer for this one session (None if it has
    none: not completed), from integration_visits()' `visits` and the client's integration
    records: two queries fewer. The same rule, `standings`, fed the same rows (the integration
    visits that count there: neither cancelled nor no-shows). A session still missing its
    booking in an open window needs proposed hours: client_standings is asked then, as it was
    (the two days after a session), so that how hours are proposed is written once."""
    from kapflow.integration.models import IntegrationRecord
    from kapflow.integration.window import Standing, client_standings, standings

    now = now or timezone.now()
    records = list(
        IntegrationRecord.objects.filter(client_id=visit.client_id).only(
            "pk", "follows_id", "recorded_at", "late_by"
        )
    )
    answers = standings(
        medication=[
            v for v in visits if v.kind == Visit.Kind.MEDICATION and v.status == Visit.Status.COMPLETED
        ],
        integration=[
            v
            for v in visits
            if v.kind == Visit.Kind.INTEGRATION
            and v.status not in (Visit.Status.CANCELLED, Visit.Status.NO_SHOW)
        ],
        records=records,
        window_hours=practice.integration_window_hours,
        expected_hours=practice.integration_expected_hours,
        now=now,
    )
    answer = next((answer for answer in answers if answer.session.pk == visit.pk), None)
    if answer is not None and answer.standing is Standing.MISSING and answer.window_open:
        answers = client_standings(client, practice=practice, now=now, records=records)
        answer = next((answer for answer in answers if answer.session.pk == visit.pk), None)
    return answer


def medication_visit(client, visit_id) -> Visit:
    """runbook_visits' visit alone, for the live panel's poll (every 30 s: the client's whole
    history of visits is not read again for it; its integration gate reads its one booking)."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        client.visits.select_related("clinician", "runbook").annotate(
            runbook_kinds=RawSQL(_kinds_sql(), ())  # noqa: S611 (model names only, no input)
        ),
        pk=visit_id,
        kind=Visit.Kind.MEDICATION,
    )


def runbook_visits(client, visit_id) -> tuple[Visit, list[Visit]]:
    """The client's medication visit `visit_id` for the runbook (404 if the client has none such),
    with its clinician and its runbook, and which kinds of row the runbook has (`runbook_kinds`,
    as RunbookRecord reads them); and the client's integration_visits() (for the integration
    gate, and a completed session's integration): one query, where the visit, its runbook, the
    integration booked and the integration's standing each read their own. `client` is one the
    scoping helpers gave (kapflow.clients.access)."""
    from django.http import Http404

    rows = list(
        client.visits.filter(Q(pk=visit_id, kind=Visit.Kind.MEDICATION) | _integration_rows())
        .select_related("clinician", "runbook")
        # Over the runbook joined in (select_related): 0 for a visit without one.
        .annotate(runbook_kinds=RawSQL(_kinds_sql(), ()))  # noqa: S611 (model names only, no input)
        # The client's intention for the session, for the opening phase (kapflow.notes.intentions).
        .annotate(**intention_columns())
    )
    visit = next((row for row in rows if row.pk == visit_id and row.kind == Visit.Kind.MEDICATION), None)
    if visit is None:
        raise Http404("No such visit.")
    return visit, [row for row in rows if _is_integration_row(row)]


def _kinds_sql() -> str:
    """An SQL expression over the runbook row being read: a bit for each kind of row in _KINDS
    it has at least one of (an EXISTS on each table's runbook index), summed. Written out rather
    than as fourteen ORM subqueries, which would cost more to build than the query they spare."""
    from django.db import connection

    quote = connection.ops.quote_name
    runbook_id = f"{quote(Runbook._meta.db_table)}.{quote(Runbook._meta.pk.column)}"
    parts = []
    for index, kind in enumerate(_KINDS):
        field = Runbook._meta.get_field(kind).field  # the child's foreign key to the runbook
        table, column = quote(field.model._meta.db_table), quote(field.column)
        parts.append(
            f"(CASE WHEN EXISTS (SELECT 1 FROM {table} WHERE {table}.{column} = {runbook_id})"  # noqa: S608
            f" THEN {1 << index} ELSE 0 END)"
        )
    return "(" + " + ".join(parts) + ")"


def _kinds_of(bits: int) -> set[str]:
    return {kind for index, kind in enumerate(_KINDS) if bits & (1 << index)}
