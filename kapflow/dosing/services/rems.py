"""The Spravato REMS answers of a session, saved while its record is open, and the form's
submission to the REMS, recorded once after the record is signed (docs/spravato-rems.md)."""

import datetime

from django.db import transaction
from django.utils import timezone

from kapflow.audit.services import audit_record
from kapflow.dosing import rems
from kapflow.dosing.models import Administration, RemsReport
from kapflow.dosing.services.runbook import RunbookRefused, _audit, _open_runbook, _saved
from kapflow.visits.models import Visit

ANSWERS = (
    "first_treatment",
    "concomitant",
    "no_concomitant",
    "sedation",
    "dissociation",
    "respiratory_depression",
    "other_adverse_events",
    "vitals_ok_before_dosing",
    "vitals_ok_before_discharge",
    "ready_to_leave_minutes",
)


def rems_answers_save(*, actor, visit: Visit, answers: dict, request=None) -> RemsReport:
    """Save the clinician's REMS answers for this session (each save replaces the last; the
    answers are fixed when the record is signed). Refused for anyone but a therapist or
    prescriber, on a signed record, in a session that is not an esketamine one, and for answers
    that contradict each other (a class ticked with "none of these")."""
    if not actor.is_clinician:
        raise RunbookRefused("The REMS answers are given by a therapist or prescriber.")
    unknown = set(answers) - set(ANSWERS)
    if unknown:
        raise RunbookRefused(f"Not a REMS answer: {', '.join(sorted(unknown))}.")
    concomitant = list(dict.fromkeys(answers.get("concomitant") or []))
    allowed = set(RemsReport.Concomitant.values)
    if any(value not in allowed for value in concomitant):
        raise RunbookRefused("Choose the concomitant medicines from the list.")
    if concomitant and answers.get("no_concomitant"):
        raise RunbookRefused("Tick the classes the client takes, or “none of these”, not both: untick one.")
    with transaction.atomic():
        runbook = _open_runbook(visit)
        doses = list(Administration.objects.filter(runbook=runbook))
        if not rems.is_esketamine_session(doses, visit):
            raise RunbookRefused(
                "This session has no intranasal esketamine dose or order: it needs no REMS form."
            )
        report = RemsReport.objects.filter(runbook=runbook).first() or RemsReport(runbook=runbook)
        for name in ANSWERS:
            if name in answers:
                setattr(report, name, answers[name])
        report.concomitant = concomitant
        report.other_adverse_events = (report.other_adverse_events or "").strip()
        report.answered_by = actor
        report.answered_at = timezone.now()
        created = report.pk is None
        _saved(report)
        _audit(
            request=request,
            actor=actor,
            action="kapflow.dosing.rems.answered",
            visit=visit,
            obj=report,
            detail={"first": created},
        )
    return report


def rems_submission_record(
    *, actor, report: RemsReport, submitted_on: datetime.date, reference: str, practice, request=None
) -> RemsReport:
    """Record that the session's form was submitted to the REMS, on which day and under which
    confirmation number: once, after the record is signed. By a prescriber or a practice admin
    (docs/spravato-rems.md, "Who")."""
    if not (actor.is_prescriber or actor.is_practice_admin) or actor.outside_practice:
        raise RunbookRefused("A prescriber or a practice admin records the form's submission.")
    reference = (reference or "").strip()
    if not reference:
        raise RunbookRefused("Enter the confirmation number the REMS gave.")
    today = timezone.localdate()
    with transaction.atomic():
        report = (
            RemsReport.objects.select_for_update(no_key=True)
            .select_related("runbook__visit__client")
            .get(pk=report.pk)
        )
        session_day = timezone.localdate(report.runbook.visit.starts_at)
        if report.runbook.signed_at is None:
            raise RunbookRefused("Sign the session record first: the form is submitted from a signed record.")
        if report.submitted_on is not None:
            raise RunbookRefused(
                f"Already recorded as submitted on {report.submitted_on:%Y-%m-%d} "
                f"(confirmation {report.submission_reference})."
            )
        if submitted_on > today:
            raise RunbookRefused("The submission date is in the future: enter the day it was submitted.")
        if submitted_on < session_day:
            raise RunbookRefused(
                f"The submission date is before the session ({session_day:%Y-%m-%d}): check the date."
            )
        report.submitted_on = submitted_on
        report.submitted_by = actor
        report.submission_reference = reference[:80]
        report.save(update_fields=["submitted_on", "submitted_by", "submission_reference"])
        late = (submitted_on - session_day).days > practice.rems_form_days
        audit_record(
            request=request,
            actor=actor,
            action="kapflow.dosing.rems.submitted",
            client=report.runbook.visit.client,
            obj=report,
            detail={"late": late},
        )
    return report
