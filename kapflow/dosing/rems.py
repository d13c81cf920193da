"""The Spravato REMS patient monitoring form of one session (docs/spravato-rems.md): what the form
holds, read from the runbook where the runbook knows it (dose, devices, lots, the three blood
pressures, the monitoring time, the setting, the client, the enrolment) and from the clinician's
answers (kapflow.dosing.models.RemsReport) for the rest, and what is still missing.

Gather once, judge once: `rems_facts` reads the session's rows (or takes those the runbook page
read already), `rems_form` works the form out of them without touching the database. The signing
service refuses while `missing` is not empty; the PDF prints the same object."""

import datetime
import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import timezone

from kapflow.controlled.models import RemsEnrolment
from kapflow.dosing.models import Administration, AdverseEvent, RemsReport, Runbook, VitalsReading
from kapflow.medical.doses import INTRANASAL
from kapflow.medical.models import MedicationOrder
from kapflow.visits.models import Visit

# One Spravato nasal spray device holds 28 mg of esketamine (label §2; docs/spravato-rems.md).
DEVICE_MG = Decimal(28)


@dataclass
class RemsFacts:
    """The rows the form is worked out from, read once."""

    visit: Visit
    runbook: Runbook | None
    doses: list  # the session's Administration rows, in order
    vitals: list  # its VitalsReading rows, in order
    ratings: list
    events: list
    report: RemsReport | None
    enrolment: RemsEnrolment | None
    earlier_intranasal: bool  # the client had an intranasal dose in an earlier session in kapflow


@dataclass
class Field:
    """One line of the form: its label and the value as printed ("" when not known)."""

    label: str
    value: str


@dataclass
class RemsForm:
    facts: RemsFacts
    practice: object
    doses: list = field(default_factory=list)  # the intranasal doses
    total_mg: Decimal = Decimal(0)
    devices: int | None = None
    lots: list[str] = field(default_factory=list)
    first_device_at: datetime.datetime | None = None
    bp_before: VitalsReading | None = None
    bp_after: VitalsReading | None = None  # the reading nearest first_vitals_minutes after
    bp_discharge: VitalsReading | None = None
    bp_after_target: datetime.datetime | None = None
    bp_after_window: int = 0  # minutes either side of the target
    total_minutes: int | None = None
    provider: object = None
    setting_id: str = ""
    suggested: dict = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def report(self) -> RemsReport | None:
        return self.facts.report

    @property
    def enrolment(self) -> RemsEnrolment | None:
        return self.facts.enrolment

    @property
    def client(self):
        return self.facts.visit.client

    @property
    def session_day(self) -> datetime.date:
        return timezone.localdate(self.facts.visit.starts_at)

    @property
    def due_on(self) -> datetime.date:
        return self.session_day + datetime.timedelta(days=self.practice.rems_form_days)

    @property
    def complete(self) -> bool:
        return not self.missing

    def concomitant_text(self) -> str:
        report = self.report
        if report is None:
            return ""
        if report.no_concomitant:
            return "None of these"
        names = dict(RemsReport.Concomitant.choices)
        return ", ".join(names.get(value, value) for value in report.concomitant)

    def lines(self) -> list[Field]:
        """Every field of the form, in the form's order, as printed on the PDF and the page."""
        report = self.report
        client = self.client
        enrolment = self.enrolment
        practice = self.practice
        visit = self.facts.visit

        def yes_no(value) -> str:
            return "" if value is None else ("Yes" if value else "No")

        def bp(reading) -> str:
            if reading is None:
                return ""
            return (
                f"{reading.systolic}/{reading.diastolic} mmHg at {timezone.localtime(reading.taken_at):%H:%M}"
            )

        return [
            Field("Patient name", f"{client.first_name} {client.last_name}"),
            Field("Date of birth", f"{client.date_of_birth:%Y-%m-%d}"),
            Field(
                "Sex",
                client.get_sex_display()
                if client.sex
                else "not recorded: add it to the client's details, or enter it on the REMS form",
            ),
            Field(
                "Enrolled in the REMS",
                f"Yes, on {enrolment.enrolled_on:%Y-%m-%d}, patient REMS ID {enrolment.patient_rems_id}"
                if enrolment
                else "",
            ),
            Field("First Spravato treatment", yes_no(report.first_treatment if report else None)),
            Field("Concomitant medicines", self.concomitant_text()),
            Field("Healthcare setting", practice.name),
            Field("Setting address", practice.address),
            Field("REMS setting ID", self.setting_id),
            Field(
                "Monitoring healthcare provider",
                f"{self.provider.full_name}, {self.provider.email}" if self.provider else "",
            ),
            Field("Provider phone (the practice's)", practice.phone),
            Field("Treatment date", f"{self.session_day:%Y-%m-%d}"),
            Field(
                "Dose",
                f"{_mg(self.total_mg)} mg ({self.devices} device{'s' if self.devices != 1 else ''} of 28 mg)"
                if self.doses and self.devices
                else "",
            ),
            Field("Lot number", ", ".join(self.lots)),
            Field("Blood pressure before dosing", bp(self.bp_before)),
            Field(
                f"Blood pressure about {practice.first_vitals_minutes} min after dosing", bp(self.bp_after)
            ),
            Field("Blood pressure before discharge", bp(self.bp_discharge)),
            Field(
                "Vital signs acceptable before dosing",
                yes_no(report.vitals_ok_before_dosing if report else None),
            ),
            Field(
                "Vital signs acceptable before discharge",
                yes_no(report.vitals_ok_before_discharge if report else None),
            ),
            Field("Sedation", yes_no(report.sedation if report else None)),
            Field("Dissociation", yes_no(report.dissociation if report else None)),
            Field("Respiratory depression", yes_no(report.respiratory_depression if report else None)),
            Field("Other adverse events", (report.other_adverse_events or "None") if report else ""),
            Field(
                "Total monitoring time (first device to discharge)",
                f"{self.total_minutes} min" if self.total_minutes is not None else "",
            ),
            Field(
                "When the patient could have left, but for the 2-hour rule",
                f"{report.ready_to_leave_minutes} min after the first device"
                if report and report.ready_to_leave_minutes is not None
                else "",
            ),
            Field(
                "Discharged at",
                f"{timezone.localtime(self.facts.runbook.discharged_at):%H:%M}"
                if self.facts.runbook and self.facts.runbook.discharged_at
                else "",
            ),
            Field("Room", visit.room.name if visit.room_id else ""),
        ]


def _mg(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)


def is_esketamine_session(doses: list, visit: Visit, *, day: datetime.date | None = None) -> bool:
    """Whether the REMS form belongs to this session: an intranasal dose was given, or before any
    dose, an intranasal order is in force on the day (one query then)."""
    if doses:
        return any(dose.route == INTRANASAL for dose in doses)
    day = day or timezone.localdate(visit.starts_at)
    return MedicationOrder.objects.filter(client_id=visit.client_id, route=INTRANASAL).active(day).exists()


def current_enrolment(client_id: int, *, on: datetime.date) -> RemsEnrolment | None:
    """The client's latest REMS enrolment dated on or before `on`. One query."""
    return (
        RemsEnrolment.objects.filter(client_id=client_id, enrolled_on__lte=on)
        .select_related("prescriber", "document")
        .order_by("-enrolled_on", "-pk")
        .first()
    )


def rems_facts(visit: Visit, *, record=None) -> RemsFacts:
    """The rows the form needs. `record`: the runbook page's kapflow.dosing.selectors.RunbookRecord
    (read with `full`), whose rows are used as they are; without it they are read here (about
    seven queries)."""
    if record is not None:
        runbook, doses, vitals = record.book, record.doses, record.vitals
        ratings, events = record.ratings, record.events
    else:
        runbook = Runbook.objects.filter(visit=visit).first()
        if runbook is None:
            doses, vitals, ratings, events = [], [], [], []
        else:
            doses = list(runbook.administrations.select_related("order").order_by("given_at", "pk"))
            vitals = list(runbook.vitals.order_by("taken_at", "pk"))
            ratings = list(runbook.ratings.order_by("rated_at", "pk"))
            events = list(runbook.adverse_events.order_by("noted_at", "pk"))
    report = (
        RemsReport.objects.filter(runbook=runbook).select_related("answered_by", "submitted_by").first()
        if runbook is not None
        else None
    )
    first = next((dose for dose in doses if dose.route == INTRANASAL), None)
    before = first.given_at if first is not None else visit.starts_at
    earlier = (
        Administration.objects.filter(
            runbook__visit__client_id=visit.client_id, route=INTRANASAL, given_at__lt=before
        )
        .exclude(runbook__visit=visit)
        .exists()
    )
    return RemsFacts(
        visit=visit,
        runbook=runbook,
        doses=doses,
        vitals=vitals,
        ratings=ratings,
        events=events,
        report=report,
        enrolment=current_enrolment(visit.client_id, on=timezone.localdate(visit.starts_at)),
        earlier_intranasal=earlier,
    )


def nearest_reading(readings: list, *, target: datetime.datetime, window: datetime.timedelta):
    """The reading taken nearest `target`, no further from it than `window` either side; of two
    as near, the earlier. None when none is in the window."""
    within = [r for r in readings if abs(r.taken_at - target) <= window]
    return min(within, key=lambda r: (abs(r.taken_at - target), r.taken_at), default=None)


def rems_form(facts: RemsFacts, *, practice) -> RemsForm:
    """The form worked out of `facts`, with every field it still lacks named in `missing`, each
    in words that say what to do. No database."""
    form = RemsForm(facts=facts, practice=practice)
    visit, runbook, report = facts.visit, facts.runbook, facts.report
    missing = form.missing
    form.doses = [dose for dose in facts.doses if dose.route == INTRANASAL]
    if form.doses:
        first = form.doses[0]
        form.first_device_at = first.given_at
        form.total_mg = sum((dose.dose_mg for dose in form.doses), Decimal(0))
        devices = form.total_mg / DEVICE_MG
        if devices == devices.to_integral_value():
            form.devices = int(devices)
        else:
            missing.append(
                f"The esketamine doses add up to {_mg(form.total_mg)} mg, which is not a whole number "
                "of 28 mg devices: check the doses and add an addendum — clinician."
            )
        form.lots = list(
            dict.fromkeys(dose.lot_number.strip() for dose in form.doses if dose.lot_number.strip())
        )
        if not form.lots:
            missing.append(
                "The lot number of the esketamine devices: it is recorded with the dose — clinician."
            )
        # Before dosing: the last reading taken at or before the first device.
        before = [r for r in facts.vitals if r.taken_at <= first.given_at]
        form.bp_before = before[-1] if before else None
        after = [r for r in facts.vitals if r.taken_at > first.given_at]
        # About 40 min after: the reading nearest the practice's first-vitals time after the first
        # device, within half the practice's vitals interval either side (docs/spravato-rems.md).
        form.bp_after_target = first.given_at + datetime.timedelta(minutes=practice.first_vitals_minutes)
        form.bp_after_window = max(1, practice.vitals_interval_minutes // 2)
        form.bp_after = nearest_reading(
            after, target=form.bp_after_target, window=datetime.timedelta(minutes=form.bp_after_window)
        )
        discharged = runbook.discharged_at if runbook is not None else None
        if discharged is not None:
            last = [r for r in after if r.taken_at <= discharged]
            form.bp_discharge = last[-1] if last else None
            form.total_minutes = max(0, math.floor((discharged - first.given_at).total_seconds() / 60))
        if form.bp_before is None:
            missing.append("A blood pressure taken before the first device — clinician.")
        if form.bp_after is None:
            low = practice.first_vitals_minutes - form.bp_after_window
            high = practice.first_vitals_minutes + form.bp_after_window
            missing.append(
                f"A blood pressure about {practice.first_vitals_minutes} min after the first device "
                f"(between {max(low, 0)} and {high} min) — clinician."
            )
        if discharged is None:
            missing.append("The discharge: the form counts the monitoring time up to it — clinician.")
        elif form.bp_discharge is None:
            missing.append("A blood pressure before discharge, after the dose — clinician.")
    else:
        missing.append("The esketamine dose: no intranasal dose is recorded in this session.")
    form.provider = visit.clinician
    room = visit.room if visit.room_id else None
    form.setting_id = room.rems_setting_id.strip() if room is not None else ""
    if room is None or not room.rems_certified or not form.setting_id:
        missing.append(
            "The setting's REMS certification: the room is marked certified with its REMS setting ID "
            "(Rooms) — practice admin."
        )
    if not practice.address.strip():
        missing.append("The setting's address: the practice address (Settings) — practice admin.")
    if facts.enrolment is None:
        missing.append(
            "The client's REMS enrolment: record it on the client's medical page (REMS enrolment) "
            "— prescriber."
        )
    form.suggested = _suggestions(form, facts, practice)
    missing.extend(_answers_missing(report, form))
    return form


ANSWER_LABELS = {
    "first_treatment": "Whether this is the client's first Spravato treatment",
    "concomitant": "Concomitant medicines (tick the classes taken, or “none of these”)",
    "sedation": "Sedation: yes or no",
    "dissociation": "Dissociation: yes or no",
    "respiratory_depression": "Respiratory depression: yes or no",
    "vitals_ok_before_dosing": "Vital signs acceptable before dosing: yes or no",
    "vitals_ok_before_discharge": "Vital signs acceptable before discharge: yes or no",
    "ready_to_leave_minutes": "When the client could have left but for the 2-hour rule (minutes)",
}


def _answers_missing(report: RemsReport | None, form: RemsForm) -> list[str]:
    """The clinician's answers still to give, each named, in the section's order."""
    if report is None:
        return [f"{label} — clinician (REMS section)." for label in ANSWER_LABELS.values()]
    found = []
    for name, label in ANSWER_LABELS.items():
        if name == "concomitant":
            empty = not report.no_concomitant and not report.concomitant
        else:
            empty = getattr(report, name) is None
        if empty:
            found.append(f"{label} — clinician (REMS section).")
    if (
        report.ready_to_leave_minutes is not None
        and form.total_minutes is not None
        and report.ready_to_leave_minutes > form.total_minutes
    ):
        found.append(
            f"The client could have left {report.ready_to_leave_minutes} min after the first device, "
            f"but was monitored {form.total_minutes} min in all: check the minutes "
            "— clinician (REMS section)."
        )
    return found


def _suggestions(form: RemsForm, facts: RemsFacts, practice) -> dict:
    """What the runbook suggests for the clinician's answers (never saved by itself): a first
    treatment when kapflow holds no earlier intranasal dose of the client; sedation or
    dissociation when a rating after the first device was above 0 or an adverse event of that kind
    was recorded; respiratory depression when an SpO2 after the first device fell below the
    practice's alert level; the other adverse events in words."""
    start = form.first_device_at
    ratings = [r for r in facts.ratings if start is None or r.rated_at >= start]
    readings = [r for r in facts.vitals if start is not None and r.taken_at > start]
    kinds = {event.kind for event in facts.events}
    others = [
        f"{event.get_kind_display()} ({event.get_severity_display().lower()})"
        for event in facts.events
        if event.kind not in (AdverseEvent.Kind.SEDATION, AdverseEvent.Kind.DISSOCIATION)
    ]
    return {
        "first_treatment": not facts.earlier_intranasal,
        "sedation": any(r.sedation > 0 for r in ratings) or AdverseEvent.Kind.SEDATION in kinds,
        "dissociation": any(r.dissociation > 0 for r in ratings) or AdverseEvent.Kind.DISSOCIATION in kinds,
        "respiratory_depression": any(
            r.spo2 is not None and r.spo2 < practice.spo2_alert_below for r in readings
        ),
        "other_adverse_events": "; ".join(others),
    }


def form_for(visit: Visit, *, practice, record=None) -> RemsForm | None:
    """The session's REMS form, or None when the session is not an esketamine one."""
    doses = record.doses if record is not None else None
    if doses is None:
        doses = list(Administration.objects.filter(runbook__visit=visit).order_by("given_at", "pk"))
    if not is_esketamine_session(doses, visit):
        return None
    return rems_form(rems_facts(visit, record=record), practice=practice)


def rems_pdf(form: RemsForm, *, produced_by) -> bytes:
    """The form as a PDF (WeasyPrint, as kapflow.letters.pdf and kapflow.records.pdf print), to
    copy into the REMS portal or send as the REMS asks."""
    from weasyprint import HTML

    html = render_to_string(
        "dosing/rems_pdf.html",
        {
            "form": form,
            "lines": form.lines(),
            "produced_at": timezone.localtime(),
            "produced_by": produced_by,
        },
    )
    return HTML(string=html).write_pdf()


def open_reports(clients):
    """The REMS reports of signed sessions not yet recorded as submitted, for the clients of
    `clients` (a queryset), oldest session first. One query (rems_report_open_idx)."""
    return (
        RemsReport.objects.filter(
            submitted_on__isnull=True,
            runbook__signed_at__isnull=False,
            runbook__visit__client__in=clients,
        )
        .select_related("runbook__visit__client", "runbook__signed_by", "runbook__visit__clinician")
        .order_by("runbook__visit__starts_at", "pk")
    )


def due_on(report: RemsReport, *, practice) -> datetime.date:
    return timezone.localdate(report.runbook.visit.starts_at) + datetime.timedelta(
        days=practice.rems_form_days
    )
