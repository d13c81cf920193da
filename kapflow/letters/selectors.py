"""What a letter reads from the chart, and the lists the letters' pages show.

A letter is made of sections, one for each content category it carries (compose.py says which
reader fills which section of which kind). Every reader here takes structured records only:
dates, decisions, flags, doses, readings, ratings, adverse events, scores. None reads the
client's journal (kapflow.journal), the runbook's free-text notes (kapflow.dosing Note, its
addenda) or anything kept as a psychotherapy process note, and none reads the consultation's
history, supports, expectations or the clinician's own note: a letter's free text is what its
author writes on the letter (docs/letters.md).

A section is a plain dict that JSON keeps as it is (Letter.facts): a heading, `facts` as
(label, value) pairs, `tables` (a caption, a head and rows of strings) and `lines` of prose.
"""

from django.db.models import QuerySet
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.dosing.models import Administration, AdverseEvent, Rating, Runbook, VitalsReading
from kapflow.letters.models import Letter
from kapflow.lib.dates import long_date
from kapflow.measures import instruments
from kapflow.measures.progress import instrument_progress
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.medical.screening import EXCLUSION, medication_class
from kapflow.pathway.models import Consultation, CoursePlan
from kapflow.visits.models import Visit

# The questionnaires a discharge summary reports, by key (kapflow.measures.instruments).
DISCHARGE_INSTRUMENTS = ("phq9", "gad7")


def section(heading: str, *, facts=(), tables=(), lines=()) -> dict:
    return {
        "heading": heading,
        "facts": [[label, value] for label, value in facts],
        "tables": list(tables),
        "lines": list(lines),
    }


def table(caption: str, head: list[str], rows: list[list[str]]) -> dict:
    return {"caption": caption, "head": head, "rows": rows}


def _time(moment) -> str:
    return f"{timezone.localtime(moment):%H:%M}"


def _moment(moment) -> str:
    return f"{long_date(moment)}, {_time(moment)}"


def _name(user) -> str:
    return user.display_name if user is not None else ""


# The readers: each takes what it needs and returns one section.


def consultation_summary(client: Client) -> dict:
    """The latest consultation's date, clinician, decision, and the client's reasons, previous
    treatment and goals as recorded there; when the inquiry came in."""
    consultation = (
        Consultation.objects.filter(client=client)
        .select_related("clinician")
        .order_by("-held_on", "-pk")
        .first()
    )
    facts = [("Client", client.display_name), ("Date of birth", long_date(client.date_of_birth))]
    inquiry_at = client.inquiry.received_at if hasattr(client, "inquiry") else None
    if inquiry_at is not None:
        facts.append(("First contact", long_date(inquiry_at)))
    if consultation is None:
        return section("Consultation", facts=facts, lines=["No consultation is recorded yet."])
    facts += [
        ("Consultation held", long_date(consultation.held_on)),
        ("By", _name(consultation.clinician)),
        ("Decision", consultation.get_decision_display()),
        ("Why KAP, and why now", consultation.why_kap),
        ("Previous treatment", consultation.previous_treatment),
        ("Goals for the work", consultation.goals),
    ]
    return section("Consultation", facts=facts)


def medical_findings(client: Client) -> dict:
    """The latest screening's flags and the medicines listed in it (the current medicines as
    the chart holds them), and the latest clearance decision, if there is one."""
    screening = Screening.objects.filter(client=client).latest_first().first()
    if screening is None:
        return section("Screening and medicines", lines=["No contraindication screening is recorded yet."])
    facts = [("Screening completed", long_date(screening.completed_at))]
    clearance = Clearance.objects.filter(client=client).latest_first().select_related("prescriber").first()
    if clearance is not None:
        words, _level = clearance.status()
        facts.append(("Medical clearance", f"{words}, {long_date(clearance.decided_at)}"))
        if clearance.valid_until:
            facts.append(("Clearance valid until", long_date(clearance.valid_until)))
    flags = screening.flag_list()
    tables = []
    if flags:
        tables.append(
            table(
                "Screening flags",
                ["Level", "Finding", "Why it matters"],
                [
                    ["Exclusion" if flag.level == EXCLUSION else "Review", flag.label, flag.reason]
                    for flag in flags
                ],
            )
        )
    medicines = [
        [row["name"], known.label if (known := medication_class(row.get("class", ""))) else "Other"]
        for row in screening.medications
    ]
    if medicines:
        tables.append(table("Current medicines (as listed at screening)", ["Medicine", "Class"], medicines))
    lines = [] if flags else ["The screening raised no flags."]
    if not medicines:
        lines.append("No current medicines were listed at screening.")
    return section("Screening and medicines", facts=facts, tables=tables, lines=lines)


def _route(route: str) -> str:
    return MedicationOrder.Route(route).label if route in MedicationOrder.Route.values else route


def session_record(runbook: Runbook) -> dict:
    """One medication session: its doses, vitals with the alerts they raised when taken (against
    the practice's thresholds then, as the runbook showed them), ratings and discharge."""
    visit = runbook.visit
    doses = list(Administration.objects.filter(runbook=runbook).order_by("given_at", "pk"))
    vitals = list(VitalsReading.objects.filter(runbook=runbook).order_by("taken_at", "pk"))
    ratings = list(Rating.objects.filter(runbook=runbook).order_by("rated_at", "pk"))
    facts = [("Session", _moment(visit.starts_at)), ("Setting", visit.get_modality_display())]
    tables = [
        table(
            "Doses",
            ["Time", "Dose", "Route"],
            [
                [
                    _time(d.given_at),
                    f"{'Booster ' if d.is_booster else ''}{d.dose_mg.normalize():f} mg",
                    _route(d.route),
                ]
                for d in doses
            ],
        ),
        table(
            "Vital signs",
            ["Time", "When", "Blood pressure", "Heart rate", "SpO2", "Alerts"],
            [
                [
                    _time(v.taken_at),
                    v.get_phase_display(),
                    f"{v.systolic}/{v.diastolic}",
                    str(v.heart_rate),
                    f"{v.spo2}%" if v.spo2 is not None else "",
                    " ".join(v.alerts) or "None",
                ]
                for v in vitals
            ],
        ),
        table(
            "Ratings",
            ["Time", "Sedation (UMSS)", "Dissociation"],
            [[_time(r.rated_at), r.get_sedation_display(), r.get_dissociation_display()] for r in ratings],
        ),
    ]
    alerted = sum(1 for v in vitals if v.alerts)
    lines = [f"{alerted} of {len(vitals)} vital-sign readings crossed an alert threshold."]
    if runbook.discharged_at is None:
        lines.append("No discharge is recorded.")
    else:
        facts.append(("Discharged", _time(runbook.discharged_at)))
        criteria = [
            ("Alert and oriented", runbook.alert_and_oriented),
            ("Steady on feet", runbook.steady_on_feet),
            ("Escort or transport present", runbook.escort_present),
        ]
        facts += [(label, "Yes" if met else "No") for label, met in criteria]
        if runbook.override_unmet:
            facts.append(("Discharged with criteria unmet", "; ".join(runbook.override_unmet)))
            facts.append(("Reason", runbook.override_reason))
    return section("The session", facts=facts, tables=tables, lines=lines)


def _events_table(events, caption: str) -> dict:
    return table(
        caption,
        ["When", "Event", "Severity", "Action taken"],
        [
            [_moment(e.noted_at), e.get_kind_display(), e.get_severity_display(), e.action_taken]
            for e in events
        ],
    )


def session_adverse_events(runbook: Runbook) -> dict:
    """The adverse events noted in one session."""
    events = list(AdverseEvent.objects.filter(runbook=runbook).order_by("noted_at", "pk"))
    if not events:
        return section("Adverse events", lines=["No adverse event was noted in this session."])
    return section("Adverse events", tables=[_events_table(events, "Noted in this session")])


def course_adverse_events(client: Client) -> dict:
    """Every adverse event noted in the client's medication sessions."""
    events = list(AdverseEvent.objects.filter(runbook__visit__client=client).order_by("noted_at", "pk"))
    if not events:
        return section("Adverse events", lines=["No adverse event was noted in any session."])
    return section("Adverse events", tables=[_events_table(events, "Noted in the medication sessions")])


def _completed_sessions(client: Client) -> QuerySet:
    # The same sessions the progress charts mark (kapflow.measures.progress): completed
    # medication visits.
    return client.visits.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED).order_by(
        "starts_at", "pk"
    )


def course_summary(client: Client) -> dict:
    """The course plan, the medication sessions completed (how many, when), the integration
    sessions held, and the dates of the first and last visits."""
    plan = CoursePlan.objects.current().filter(client=client).first()
    sessions = list(_completed_sessions(client).values_list("starts_at", flat=True))
    visits = client.visits.filter(status=Visit.Status.COMPLETED)
    first = visits.order_by("starts_at").values_list("starts_at", flat=True).first()
    last = visits.order_by("-starts_at").values_list("starts_at", flat=True).first()
    integrations = visits.filter(kind=Visit.Kind.INTEGRATION).count()
    facts = [("Client", client.display_name), ("Date of birth", long_date(client.date_of_birth))]
    if first is not None:
        facts += [("First visit", long_date(first)), ("Latest visit", long_date(last))]
    if plan is not None:
        facts += [
            ("Planned medication sessions", str(plan.planned_sessions)),
            (
                "Cadence",
                plan.cadence_note if plan.cadence == plan.Cadence.CUSTOM else plan.get_cadence_display(),
            ),
            ("Where", plan.get_modality_display()),
            ("Goals of the course", plan.goals),
        ]
    facts += [
        ("Medication sessions completed", str(len(sessions))),
        ("Integration sessions held", str(integrations)),
    ]
    tables = []
    if sessions:
        tables.append(
            table(
                "Medication sessions",
                ["Session", "Date"],
                [[str(n), long_date(at)] for n, at in enumerate(sessions, 1)],
            )
        )
    return section("Course of treatment", facts=facts, tables=tables)


def measures_change(client: Client) -> dict:
    """PHQ-9 and GAD-7 from baseline to the latest score, with response and remission as the
    progress page judges them (kapflow.measures.progress and scoring.change, docs/clinical.md)."""
    sessions = list(_completed_sessions(client).values_list("starts_at", flat=True))
    responses = list(
        client.responses.filter(instrument__in=DISCHARGE_INSTRUMENTS).order_by("completed_at", "pk")
    )
    rows, lines = [], []
    for key in DISCHARGE_INSTRUMENTS:
        instrument = instruments.INSTRUMENTS[key]
        progress = instrument_progress(instrument, [r for r in responses if r.instrument == key], sessions)
        if progress is None:
            lines.append(f"No {instrument.name} is recorded.")
            continue
        baseline, latest, change = progress["baseline"], progress["latest"], progress["change"]
        if change is None:
            lines.append(
                f"{instrument.name}: one score only, {baseline.total} ({baseline.band}) on {baseline.date}."
            )
            continue
        remission = (
            "Not defined" if instrument.remission_below is None else ("Yes" if change.remission else "No")
        )
        rows.append(
            [
                instrument.name,
                f"{baseline.total} ({baseline.band}), {baseline.date}",
                f"{latest.total} ({latest.band}), {latest.date}",
                f"{latest.total - baseline.total:+d}",
                "Yes" if change.response else "No",
                remission,
            ]
        )
        if progress["baseline_note"]:
            lines.append(f"{instrument.name}: {progress['baseline_note']}")
    lines.append(
        "Response: a fall of at least half from baseline. Remission: a latest score below "
        + " and ".join(
            f"{instruments.INSTRUMENTS[key].remission_below} on the {instruments.INSTRUMENTS[key].name}"
            for key in DISCHARGE_INSTRUMENTS
            if instruments.INSTRUMENTS[key].remission_below is not None
        )
        + "."
    )
    tables = (
        [
            table(
                "Baseline to latest",
                ["Measure", "Baseline", "Latest", "Change", "Response", "Remission"],
                rows,
            )
        ]
        if rows
        else []
    )
    return section("Symptom scores", tables=tables, lines=lines)


# The letters' pages.


def client_letters(client: Client) -> QuerySet[Letter]:
    """The client's letters, newest first, with their providers and authors (one query)."""
    return client.letters.select_related("provider", "created_by", "signed_by")


def letters_for(client: Client, *, limit: int | None = None) -> list[Letter]:
    return list(client_letters(client)[:limit])


def letter_for(client: Client, letter_id) -> Letter | None:
    try:
        return client.letters.select_related("provider", "created_by", "signed_by", "runbook__visit").get(
            pk=int(letter_id)
        )
    except (Letter.DoesNotExist, ValueError, TypeError):
        return None


def signed_sessions(client: Client) -> QuerySet[Runbook]:
    """The client's medication sessions whose record is signed: what a post-session summary may
    be about, newest first."""
    return (
        Runbook.objects.filter(visit__client=client, signed_at__isnull=False)
        .select_related("visit")
        .order_by("-visit__starts_at", "-pk")
    )
