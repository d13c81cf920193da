"""Audit rows as sentences a practice owner reads: "D. Whitfield viewed M. Alvarez's runbook".

`SENTENCES` is the one place that says what each action code means. Every code that kapflow
writes has an entry (tests/test_audit_sentences.py reads the code base for the codes and fails
on one without a sentence); a code the log holds but kapflow no longer writes reads as its code.

A template names the row's parts in braces:

- `{actor}`: who did it ("D. Whitfield"; "Someone not signed in"; "kapflow" for background work);
- `{client}`, `{client_s}` (possessive): the row's client, "M. Alvarez";
- `{clients}`: the clients a dashboard, list or calendar read named ("M. Alvarez, O. Okafor and
  12 more"), or the row's client;
- `{person}`, `{person_s}`: the account the row is about (a sign-in, a staff change);
- `{member}`: the person named in the detail (care team, access grants);
- `{visit}`: the visit the row is about, with its date, where the row names one;
- `{document}`: the consent document, with its version;
- `{kind}`, `{instrument}`, `{stage}`, `{phase}`, `{gate}`, `{list}`: a value of the detail, in
  words.

A sentence may add a note from the detail, shown in brackets: "(wrong password)".

Names are written as the first initial and the last name, for staff and clients alike. Rows are
described a page at a time (`describe`): the names and objects they need are read in at most
one query per kind (people, clients, visits, runbooks, consent documents), whatever the number of
rows."""

import dataclasses
import functools
import html
import string
from collections import defaultdict
from collections.abc import Callable, Iterable
from urllib.parse import quote

from django.apps import apps
from django.conf import settings
from django.utils import dateformat, formats, timezone, translation
from django.utils.safestring import SafeString

from kapflow.audit.models import AuditEvent, named_client_ids

Note = Callable[[dict], str]


# A page of the log writes a few thousand small pieces of HTML (names, links, cells), and
# Django's format_html spends most of its time per call checking each argument for a lazy
# translation. These two do what format_html and conditional_escape do, without that check:
# a value that is already HTML (has __html__: a SafeString, a link made here) goes in as it is,
# anything else is escaped as text.
def _escape(value) -> str:
    return value.__html__() if hasattr(value, "__html__") else html.escape(str(value))


def _html(template: str, *args, **kwargs) -> SafeString:
    return SafeString(template.format(*map(_escape, args), **{k: _escape(v) for k, v in kwargs.items()}))


@dataclasses.dataclass(frozen=True)
class Sentence:
    template: str
    note: Note | None = None


def _words(value) -> str:
    text = str(value)
    return WORDS.get(text, text.replace("_", " "))


def said(*keys: str, words: dict | None = None, prefix: str = "") -> Note:
    """A note made of detail values: each key's value in words (`words` first), joined by ", "."""

    def note(detail: dict) -> str:
        found = []
        for key in keys:
            value = detail.get(key)
            if value in (None, "", [], {}):
                continue
            found.append((words or {}).get(value) if (words or {}).get(value) is not None else _words(value))
        return prefix + ", ".join(text for text in found if text) if found else ""

    return note


def changed(detail: dict) -> str:
    names = detail.get("changed")
    if not isinstance(names, list) or not names:
        return ""
    return "changed: " + ", ".join(str(name).replace("_", " ") for name in names)


def counted(key: str, one: str, many: str) -> Note:
    def note(detail: dict) -> str:
        value = detail.get(key)
        if isinstance(value, list):
            value = len(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return ""
        return f"{value} {one if value == 1 else many}"

    return note


def flags(**meanings: str) -> Note:
    """A note naming the detail's true flags: flags(on_behalf="entered by staff")."""

    def note(detail: dict) -> str:
        return ", ".join(text for key, text in meanings.items() if detail.get(key) is True)

    return note


def both(*notes: Note) -> Note:
    def note(detail: dict) -> str:
        return "; ".join(text for text in (each(detail) for each in notes) if text)

    return note


def _denied(detail: dict) -> str:
    parts = [str(detail.get(key)) for key in ("method", "path") if detail.get(key)]
    status = detail.get("status")
    answer = {403: "forbidden", 404: "not found"}.get(status, str(status) if status else "")
    return " ".join(parts) + (f", answered {answer}" if answer else "")


def _filters(detail: dict) -> str:
    names = [FILTER_NAMES.get(key, key) for key in detail if key in FILTER_NAMES]
    return "filtered by " + ", ".join(names) if names else ""


def _moved(detail: dict) -> str:
    before, after = detail.get("from"), detail.get("to")
    return f"from {_words(before)} to {_words(after)}" if before and after else ""


# Detail values in words, where the value itself is not already a word.
WORDS = {
    "phq9": "PHQ-9",
    "gad7": "GAD-7",
    "pcl5": "PCL-5",
    "dayof": "day-before instructions",
    "session_alert": "session alert",
    "totp": "authenticator app",
    "recovery_codes": "recovery codes",
    "pre_dose": "pre-dose",
    "in_session": "in-session",
    "kap": "KAP informed consent",
    "telehealth": "telehealth consent",
    "guardian": "guardian consent",
    "assent": "minor's assent",
    "release": "release of information",
}
FILTER_NAMES = {
    "client": "client",
    "actor": "person",
    "action": "action",
    "date_from": "date",
    "date_to": "date",
    "before": "page",
    "after": "page",
}
SIGN_IN_STEP = {
    "password": "wrong password",
    "inactive_account": "the account is not active",
    "second_factor": "wrong two-factor code",
    "reauthentication": "wrong code when confirming it was them",
}
SIGN_OUT_REASON = {
    "signed_out": "",
    "idle": "idle for too long",
    "lifetime": "the session reached its time limit",
}

CONTACT_NOUNS = {
    "guardian": "a guardian",
    "emergency_contact": "an emergency contact",
    "outside_provider": "an outside provider",
}
VISIT_VERBS = {
    "checked_in": "{actor} checked {client} in for the {visit}",
    "started": "{actor} started {client_s} {visit}",
    "completed": "{actor} marked {client_s} {visit} completed",
    "cancelled": "{actor} cancelled {client_s} {visit}",
    "no_show": "{actor} marked {client} as not having come to the {visit}",
}
# A discharge's reason (kapflow.course.models.Discharge.Reason), in words: the audit app imports
# no clinical app.
DISCHARGE_REASONS = {
    "completed": "completed the course",
    "withdrew": "the client chose to stop",
    "referred": "referred elsewhere",
    "clinical": "stopped for clinical reasons",
    "lost": "lost to follow-up",
}

S = Sentence
SENTENCES: dict[str, Sentence] = {
    # Sign-in and accounts
    "kapflow.accounts.signin.succeeded": S("{actor} signed in", said("via", prefix="via ")),
    "kapflow.accounts.signin.failed": S(
        "Someone failed to sign in as {person}", said("step", words=SIGN_IN_STEP)
    ),
    "kapflow.accounts.signin.refused_inactive": S(
        "{person} gave the right password, but the account is not active: sign-in was refused"
    ),
    "kapflow.accounts.signout.succeeded": S("{actor} signed out", said("reason", words=SIGN_OUT_REASON)),
    "kapflow.accounts.mfa.enrolled": S("{actor} set up two-factor sign-in", said("type")),
    "kapflow.accounts.mfa.removed": S("{actor} removed a two-factor sign-in method", said("type")),
    "kapflow.accounts.mfa.reset": S("{actor} made new two-factor recovery codes", said("type")),
    "kapflow.accounts.mfa.recovery_code_used": S("Someone signed in as {person} with a recovery code"),
    "kapflow.accounts.email.added": S("{actor} added an email address to {person_s} account"),
    "kapflow.accounts.email.removed": S("{actor} removed an email address from {person_s} account"),
    "kapflow.accounts.email.changed": S("{actor} changed {person_s} sign-in email address"),
    "kapflow.accounts.email.confirmed": S("{actor} confirmed an email address of {person_s} account"),
    "kapflow.accounts.password.changed": S("{actor} changed {person_s} password"),
    "kapflow.accounts.password.set": S("{actor} set a password for {person_s} account"),
    "kapflow.accounts.password.reset": S("Someone reset {person_s} password from an emailed link"),
    "kapflow.accounts.invitation.accepted": S("{actor} accepted their staff invitation"),
    "kapflow.accounts.staff.invited": S("{actor} invited {person} to join the staff", said("roles")),
    "kapflow.accounts.staff.updated": S("{actor} changed {person_s} staff account", changed),
    "kapflow.accounts.staff.deactivated": S("{actor} deactivated {person_s} account"),
    "kapflow.accounts.staff.reactivated": S("{actor} reactivated {person_s} account"),
    "kapflow.accounts.staff.roles_set_from_command": S(
        "{actor} set {person_s} roles from the command line",
        both(said("added", prefix="added "), said("removed", prefix="removed ")),
    ),
    "kapflow.accounts.staff.self_grant_refused": S("{actor} was refused a change to their own roles"),
    # The audit log
    "kapflow.audit.access.denied": S("{actor} was refused {client_s} records", _denied),
    "kapflow.audit.log.viewed": S("{actor} viewed the audit log", _filters),
    # Clients
    "kapflow.clients.caseload.viewed": S(
        "{actor} viewed the caseload", counted("shown", "client shown", "clients shown")
    ),
    "kapflow.clients.chart.viewed": S("{actor} viewed {client_s} chart"),
    "kapflow.clients.client.created": S("{actor} added {client} as a new client"),
    "kapflow.clients.client.opened_for_edit": S("{actor} opened {client_s} details to edit them"),
    "kapflow.clients.client.updated": S("{actor} changed {client_s} details", changed),
    "kapflow.clients.client.stage_changed": S("{actor} moved {client} to the {stage} stage"),
    "kapflow.clients.stage.opened": S("{actor} opened {client_s} stage to change it"),
    "kapflow.clients.care_team.opened": S("{actor} opened {client_s} care team to change it"),
    "kapflow.clients.care_team.added": S("{actor} added {member} to {client_s} care team", said("role")),
    "kapflow.clients.care_team.changed": S(
        "{actor} changed the role of {member} on {client_s} care team", said("role")
    ),
    "kapflow.clients.care_team.removed": S(
        "{actor} removed {member} from {client_s} care team", said("role")
    ),
    "kapflow.clients.access.granted": S("{actor} gave {member} access to {client_s} records", said("source")),
    "kapflow.clients.access.ended": S(
        "{actor} ended the access of {member} to {client_s} records", said("source")
    ),
    # Consent
    "kapflow.consent.documents.viewed": S("{actor} viewed the consent documents"),
    "kapflow.consent.document.viewed": S("{actor} viewed {document}"),
    "kapflow.consent.document.drafted": S("{actor} started a new draft of {document}"),
    "kapflow.consent.document.draft_updated": S("{actor} edited the draft of {document}"),
    "kapflow.consent.document.published": S("{actor} published {document}"),
    "kapflow.consent.document.presented": S("{actor} presented {document} to {client} to sign"),
    "kapflow.consent.signature.recorded": S(
        "{actor} recorded {client_s} signature on {document}", said("decision")
    ),
    "kapflow.consent.signature.viewed": S("{actor} viewed {client_s} signed {document}"),
    "kapflow.consent.status.viewed": S("{actor} viewed {client_s} consent status"),
    "kapflow.consent.release.signed": S(
        "{actor} recorded {client_s} release of information to an outside provider"
    ),
    "kapflow.consent.release.revoked": S("{actor} recorded that {client} revoked a release of information"),
    # The dashboard
    "kapflow.dashboard.viewed": S("{actor} viewed the dashboard, which named {clients}"),
    "kapflow.dashboard.list_viewed": S("{actor} viewed the dashboard list “{list}”, which named {clients}"),
    # Medication sessions (the runbook)
    "kapflow.dosing.runbook.viewed": S("{actor} viewed {client_s} runbook"),
    "kapflow.dosing.runbook.opened": S("{actor} opened {client_s} runbook to add to it"),
    "kapflow.dosing.runbook.refreshed": S("{actor} refreshed {client_s} runbook"),
    "kapflow.dosing.runbook.signed": S("{actor} signed {client_s} runbook for the {visit}"),
    "kapflow.dosing.addendum.added": S("{actor} added an addendum to {client_s} signed runbook"),
    "kapflow.dosing.checklist.recorded": S("{actor} recorded {client_s} day-of checklist"),
    "kapflow.dosing.medications.reviewed": S("{actor} reviewed {client_s} medications before the session"),
    "kapflow.dosing.safety_plan.recorded": S("{actor} recorded {client_s} safety plan"),
    "kapflow.dosing.vitals.recorded": S("{actor} recorded {client_s} vitals", said("phase")),
    "kapflow.dosing.caution.acknowledged": S("{actor} acknowledged a vitals caution in {client_s} runbook"),
    "kapflow.dosing.prescriber_on_site.recorded": S(
        "{actor} recorded the prescriber on site for {client_s} session"
    ),
    "kapflow.dosing.dose.recorded": S(
        "{actor} recorded a dose for {client}",
        flags(booster="booster", self_administered="self-administered"),
    ),
    "kapflow.dosing.dose.refused": S("{actor} was refused recording a dose for {client} at the {visit}"),
    "kapflow.dosing.waste.recorded": S(
        "{actor} recorded the waste left of a dose given to {client}, witnessed by {member}"
    ),
    "kapflow.dosing.waste.refused": S(
        "{actor} was refused recording a waste for {client} at the {visit}",
        said("step", words={"witness": "the witness was not confirmed", "waste": "the waste was refused"}),
    ),
    "kapflow.dosing.phase.marked": S("{actor} marked the {phase} phase of {client_s} session"),
    "kapflow.dosing.rating.recorded": S("{actor} recorded a rating in {client_s} runbook"),
    "kapflow.dosing.note.recorded": S("{actor} added a note to {client_s} runbook"),
    "kapflow.dosing.chaperone.checked": S("{actor} recorded a chaperone check-in for {client}"),
    "kapflow.dosing.adverse_event.recorded": S(
        "{actor} recorded an adverse event for {client}", said("kind", "severity")
    ),
    "kapflow.dosing.adverse_event.reviewed": S("{actor} reviewed an adverse event of {client}"),
    "kapflow.dosing.session_alert.raised": S("{actor} raised a session alert for {client}", said("kind")),
    "kapflow.dosing.session_alert.seen": S("{actor} saw a session alert for {client}", said("kind")),
    "kapflow.dosing.emergency.called": S("{actor} recorded an emergency call for {client}"),
    "kapflow.dosing.discharge.recorded": S("{actor} discharged {client} from the {visit}"),
    "kapflow.dosing.discharge.overridden": S(
        "{actor} discharged {client} from the {visit} with an override",
        counted("unmet", "criterion unmet", "criteria unmet"),
    ),
    "kapflow.dosing.discharge_override.reviewed": S("{actor} reviewed the discharge override for {client}"),
    "kapflow.dosing.integration.acknowledged": S("{actor} recorded {client_s} integration acknowledgement"),
    # The Spravato REMS monitoring form (kapflow.dosing.rems, docs/spravato-rems.md)
    "kapflow.dosing.rems.answered": S("{actor} saved the Spravato REMS answers in {client_s} runbook"),
    "kapflow.dosing.rems.pdf_requested": S(
        "{actor} asked for {client_s} Spravato REMS monitoring form as a PDF"
    ),
    "kapflow.dosing.rems.submitted": S(
        "{actor} recorded {client_s} Spravato REMS monitoring form as submitted",
        flags(late="after its due date"),
    ),
    "kapflow.dosing.rems.list_viewed": S(
        "{actor} viewed the Spravato REMS forms to submit, which named {clients}"
    ),
    "kapflow.controlled.rems_enrolment.viewed": S("{actor} viewed {client_s} Spravato REMS enrolment"),
    "kapflow.controlled.rems_enrolment.recorded": S("{actor} recorded {client_s} Spravato REMS enrolment"),
    # Diagnoses (kapflow.billing.diagnoses)
    "kapflow.billing.diagnosis.viewed": S("{actor} viewed {client_s} diagnoses"),
    "kapflow.billing.diagnosis.recorded": S("{actor} recorded a diagnosis of {client}"),
    "kapflow.billing.diagnosis.ended": S(
        "{actor} ended one of {client_s} diagnoses", flags(in_error="entered in error")
    ),
    # Superbills and statements (kapflow.billing.superbill, kapflow.portal.views.billing)
    "kapflow.billing.superbills.viewed": S("{actor} viewed {client_s} superbills"),
    "kapflow.billing.superbill.opened": S("{actor} asked for a superbill of {client}"),
    "kapflow.billing.superbill.downloaded": S(
        "{actor} downloaded a superbill of {client}",
        said("period", "where", words={"portal": "on the portal", "office": "in the office"}),
    ),
    "kapflow.portal.billing.viewed": S("{actor} viewed {client_s} statements in the portal"),
    "kapflow.portal.invoice.viewed": S("{actor} viewed an invoice of {client} in the portal"),
    "kapflow.portal.superbill.opened": S("{actor} asked for a superbill of {client} in the portal"),
    # The money ledger (kapflow.billing.services, kapflow.billing.views)
    "kapflow.billing.charge.created": S("{actor} charged {client} for a visit", said("code", "amount")),
    "kapflow.billing.invoice.issued": S(
        "{actor} issued an invoice to {client}", said("number", "total", prefix="number ")
    ),
    "kapflow.billing.entry.payment": S(
        "{actor} recorded a payment from {client}", said("invoice", "amount", prefix="invoice ")
    ),
    "kapflow.billing.entry.refund": S(
        "{actor} recorded a refund to {client}", said("invoice", "amount", prefix="invoice ")
    ),
    "kapflow.billing.entry.write_off": S(
        "{actor} wrote off part of {client_s} bill", said("invoice", "amount", prefix="invoice ")
    ),
    "kapflow.billing.account.viewed": S("{actor} viewed {client_s} billing account"),
    "kapflow.billing.account.opened": S("{actor} opened {client_s} billing account to change it"),
    "kapflow.billing.invoice.viewed": S("{actor} viewed an invoice of {client}"),
    "kapflow.billing.invoice.opened": S("{actor} opened an invoice of {client} to record money against it"),
    "kapflow.billing.profile.changed": S("{actor} changed {client_s} billing profile", changed),
    "kapflow.billing.overview.viewed": S("{actor} viewed the practice's billing page, which named {clients}"),
    # Inquiries
    "kapflow.inquiries.inbox.viewed": S(
        "{actor} viewed the inquiries inbox", said("show", prefix="showing ")
    ),
    "kapflow.inquiries.inquiry.received": S("{actor} sent an inquiry from the website"),
    "kapflow.inquiries.inquiry.viewed": S("{actor} viewed an inquiry"),
    "kapflow.inquiries.inquiry.triaged": S("{actor} triaged an inquiry", changed),
    "kapflow.inquiries.inquiry.converted": S("{actor} turned an inquiry into {client_s} record"),
    "kapflow.inquiries.inquiry.declined": S("{actor} declined an inquiry"),
    # Integration
    "kapflow.integration.overview.viewed": S("{actor} viewed {client_s} integration overview"),
    "kapflow.integration.record.opened": S("{actor} opened an integration record of {client} to write it"),
    "kapflow.integration.record.recorded": S("{actor} recorded an integration session of {client}"),
    "kapflow.integration.record.viewed": S("{actor} viewed an integration record of {client}"),
    "kapflow.integration.action_item.opened": S("{actor} opened an action item of {client}"),
    "kapflow.integration.action_item.added": S("{actor} added an action item to {client_s} integration plan"),
    "kapflow.integration.action_item.status_changed": S(
        "{actor} changed the status of an action item of {client}", _moved
    ),
    "kapflow.integration.action_item.reviewed": S("{actor} reviewed an action item of {client}"),
    # Journal
    "kapflow.journal.journal.viewed": S("{actor} opened {client_s} journal"),
    "kapflow.journal.editor.opened": S("{actor} opened {client_s} journal to write"),
    "kapflow.journal.entry.opened": S("{actor} opened an entry of {client_s} journal"),
    "kapflow.journal.draft.opened": S("{actor} opened a draft in {client_s} journal"),
    "kapflow.journal.draft.saved": S("{actor} saved a draft in {client_s} journal"),
    "kapflow.journal.draft.discarded": S("{actor} discarded a draft in {client_s} journal"),
    "kapflow.journal.entry.written": S("{actor} wrote an entry in {client_s} journal"),
    "kapflow.journal.entry.revised": S("{actor} revised an entry in {client_s} journal"),
    "kapflow.journal.entry.shared": S("{actor} shared an entry of {client_s} journal with the therapist"),
    "kapflow.journal.entry.unshared": S("{actor} stopped sharing an entry of {client_s} journal"),
    "kapflow.journal.shared.viewed": S("{actor} viewed {client_s} shared journal entries"),
    "kapflow.journal.shared.read": S(
        "{actor} read {client_s} shared journal entries", counted("entries", "entry", "entries")
    ),
    # Letters (kapflow.letters): making and signing them, and reading them and their PDFs
    "kapflow.letters.list.viewed": S("{actor} viewed {client_s} letters"),
    "kapflow.letters.card.viewed": S("{actor} viewed the letters on {client_s} chart"),
    "kapflow.letters.letter.opened": S("{actor} opened {client_s} letters to write or sign one"),
    "kapflow.letters.letter.viewed": S("{actor} viewed a letter about {client}"),
    "kapflow.letters.letter.drafted": S("{actor} drafted a letter about {client}", said("kind")),
    "kapflow.letters.letter.edited": S("{actor} edited a draft letter about {client}", changed),
    "kapflow.letters.letter.signed": S("{actor} signed a letter about {client}", said("kind")),
    "kapflow.letters.pdf.viewed": S(
        "{actor} opened the PDF of a letter about {client}", flags(signed="the signed file")
    ),
    # Sending letters and disclosures (kapflow.letters.sending), and signing a release on the portal
    "kapflow.letters.sending.viewed": S("{actor} viewed where a letter about {client} has gone"),
    "kapflow.letters.sending.opened": S("{actor} opened a letter about {client} to send it"),
    "kapflow.letters.letter.sent": S("{actor} emailed a download link to a letter about {client}"),
    "kapflow.letters.letter.downloaded": S(
        "{actor} downloaded a letter about {client} to send it", said("method", prefix="by ")
    ),
    "kapflow.letters.letter.send_refused": S(
        "{actor} was refused sending a letter about {client}", said("why")
    ),
    "kapflow.letters.link.opened": S("{actor} opened the download page of a letter about {client}"),
    "kapflow.letters.link.used": S("{actor} downloaded a letter about {client} through its emailed link"),
    "kapflow.letters.link.refused": S(
        "{actor} tried a letter's download link that cannot be used", said("why")
    ),
    "kapflow.letters.disclosures.viewed": S("{actor} viewed {client_s} disclosures"),
    "kapflow.letters.disclosure.opened": S("{actor} opened {client_s} disclosures to record one"),
    "kapflow.letters.disclosure.recorded": S(
        "{actor} recorded a disclosure of {client_s} information", said("basis")
    ),
    "kapflow.letters.disclosures.export_opened": S("{actor} opened {client_s} accounting of disclosures"),
    "kapflow.letters.disclosures.exported": S(
        "{actor} downloaded {client_s} accounting of disclosures",
        flags(required_only="required entries only"),
    ),
    "kapflow.portal.release.opened": S("{actor} opened a release of information of {client} in the portal"),
    # Measures
    "kapflow.measures.responses.viewed": S("{actor} viewed {client_s} questionnaire answers"),
    "kapflow.measures.response.opened": S("{actor} opened a questionnaire to enter {client_s} answers"),
    "kapflow.measures.response.recorded": S(
        "{actor} recorded {client_s} answers to {instrument}", flags(on_behalf="entered by staff")
    ),
    "kapflow.measures.response.viewed": S("{actor} viewed {client_s} answers to a questionnaire"),
    "kapflow.measures.progress.viewed": S("{actor} viewed {client_s} progress"),
    "kapflow.measures.alert.raised": S(
        "{client_s} answers raised an alert, entered by {actor}", said("assigned", prefix="for the ")
    ),
    "kapflow.measures.alert.opened": S("{actor} opened an alert about {client_s} answers"),
    "kapflow.measures.alert.closed": S("{actor} closed an alert about {client_s} answers"),
    "kapflow.measures.task.created": S("{actor} asked {client} to answer {instrument}", said("reason")),
    "kapflow.measures.task.completed": S(
        "{actor} completed {client_s} {instrument} questionnaire", said("reason")
    ),
    "kapflow.measures.task.withdrawn": S("{actor} withdrew a questionnaire asked of {client}", said("why")),
    "kapflow.measures.portal.tasks_viewed": S("{actor} viewed {client_s} questionnaires in the portal"),
    "kapflow.measures.portal.task_opened": S("{actor} opened a questionnaire of {client} in the portal"),
    "kapflow.measures.portal.thanks_viewed": S("{actor} finished a questionnaire of {client} in the portal"),
    "kapflow.records.import.opened": S("{actor} opened the import of a questionnaire for {client}"),
    "kapflow.records.import.previewed": S("{actor} previewed a questionnaire to import for {client}"),
    "kapflow.records.response.imported": S("{actor} imported {client_s} answers to {instrument}"),
    # The right of access: copies of the record (kapflow.records.access)
    "kapflow.records.copies.viewed": S("{actor} viewed the copies given of {client_s} record"),
    "kapflow.records.copy.opened": S("{actor} asked for a copy of {client_s} record"),
    "kapflow.records.copy.given": S(
        "{actor} gave a copy of {client_s} record",
        said("format", "method", words={"pdf": "PDF", "fhir": "FHIR", "in_person": "in person"}),
    ),
    # The controlled-substance record (kapflow.controlled)
    "kapflow.accounts.witness.confirmed": S(
        "{actor} had {member} confirm who they are, as a witness",
        said("purpose", words={"waste": "to a waste", "destruction": "to a destruction on site"}),
    ),
    "kapflow.accounts.witness.refused": S(
        "{actor} was refused a witness's confirmation",
        said(
            "step",
            words={
                "password": "wrong email or password",
                "second_factor": "wrong authenticator code",
                "throttled": "too many tries",
                "role": "not on the staff",
            },
        ),
    ),
    "kapflow.controlled.entry.posted": S(
        "{actor} posted an entry to the controlled-substance ledger",
        said("kind", words={"opening": "stock on hand at the initial inventory"}),
    ),
    # Client-held medicine (kapflow.controlled.fills, kapflow.dosing.services.supply)
    "kapflow.controlled.fills.viewed": S("{actor} viewed {client_s} pharmacy fills"),
    "kapflow.controlled.fills.opened": S("{actor} opened {client_s} pharmacy fills to record one"),
    "kapflow.controlled.fill.recorded": S("{actor} recorded a pharmacy fill of {client_s} prescription"),
    "kapflow.controlled.fill.voided": S(
        "{actor} marked a pharmacy fill of {client_s} prescription entered in error"
    ),
    "kapflow.dosing.supply_count.recorded": S(
        "{actor} counted {client_s} own medicine in the runbook", flags(mismatch="it did not match")
    ),
    # Inventories, discrepancies and theft or loss reports (kapflow.controlled.inventory)
    "kapflow.controlled.inventories.viewed": S("{actor} viewed the controlled-substance inventories"),
    "kapflow.controlled.inventory.opened": S(
        "{actor} opened a controlled-substance inventory to take it", said("kind")
    ),
    "kapflow.controlled.inventory.taken": S(
        "{actor} took a controlled-substance inventory",
        said("kind", "taken_on"),
    ),
    "kapflow.controlled.inventory.viewed": S("{actor} viewed a controlled-substance inventory"),
    "kapflow.controlled.discrepancy.viewed": S("{actor} viewed an inventory discrepancy"),
    "kapflow.controlled.discrepancy.explained": S(
        "{actor} explained an inventory discrepancy",
        said(
            "outcome",
            words={
                "counting_error": "a counting error",
                "ledger_error": "an error in the ledger",
                "loss": "a loss",
                "theft": "theft or significant loss",
            },
        ),
    ),
    "kapflow.controlled.loss_reports.viewed": S("{actor} viewed the theft and loss reports"),
    "kapflow.controlled.loss_report.opened": S("{actor} opened the form to report a theft or loss"),
    "kapflow.controlled.loss_report.viewed": S("{actor} viewed a theft or loss report"),
    "kapflow.controlled.loss_report.started": S(
        "{actor} reported a theft or loss of controlled substances",
        said("kind", words={"in_transit": "lost in transit", "loss": "significant loss"}),
    ),
    "kapflow.controlled.loss_report.step_recorded": S(
        "{actor} recorded a step of a theft or loss report",
        said("step", words={"notice": "notice sent to the DEA", "form_106": "DEA Form 106 filed"}),
    ),
    # The stock pages (kapflow.controlled.stock_views)
    "kapflow.controlled.stock.viewed": S("{actor} viewed the controlled-substance stock on hand"),
    "kapflow.controlled.lot.viewed": S(
        "{actor} viewed a lot's controlled-substance ledger, which named {clients}"
    ),
    "kapflow.controlled.lot.created": S(
        "{actor} recorded a new lot of a controlled substance", said("lot_number")
    ),
    "kapflow.controlled.entry.opened": S(
        "{actor} opened a controlled-substance ledger entry",
        said("purpose", words={"correction": "to reverse it", "repost": "to post the dose to another lot"}),
    ),
    # The controlled-substance reports (kapflow.controlled.report_views)
    "kapflow.controlled.report.viewed": S(
        "{actor} viewed a controlled-substance report, which named {clients}",
        said("report", "from", "to", words={"ledger": "the ledger", "dispensing": "the dispensing record"}),
    ),
    "kapflow.controlled.report.downloaded": S(
        "{actor} downloaded a controlled-substance report, which named {clients}",
        said(
            "report",
            "format",
            "from",
            "to",
            words={"ledger": "the ledger", "dispensing": "the dispensing record", "csv": "CSV", "pdf": "PDF"},
        ),
    ),
    # The practice's whole data, exported by its admin (kapflow.ops.export)
    "kapflow.ops.export.downloaded": S(
        "{actor} exported the practice's records",
        said("via", words={"page": "from the settings page", "command": "on the server"}),
    ),
    "kapflow.portal.record.viewed": S("{actor} opened the page of {client_s} record in the portal"),
    "kapflow.portal.record.requested": S("{actor} asked for a copy of {client_s} record in the portal"),
    # Medical
    "kapflow.medical.summary.viewed": S("{actor} viewed {client_s} medical summary"),
    "kapflow.medical.screening.opened": S("{actor} opened {client_s} medical screening to fill it in"),
    "kapflow.medical.screening.recorded": S(
        "{actor} recorded {client_s} medical screening", flags(on_behalf="entered by staff")
    ),
    "kapflow.medical.screening.viewed": S("{actor} viewed {client_s} medical screening"),
    "kapflow.medical.clearance.opened": S("{actor} opened {client_s} medical clearance to write it"),
    "kapflow.medical.clearance.recorded": S(
        "{actor} recorded {client_s} medical clearance", said("decision")
    ),
    "kapflow.medical.clearance.viewed": S("{actor} viewed {client_s} medical clearance"),
    "kapflow.medical.clearance.revoked": S("{actor} revoked {client_s} medical clearance"),
    "kapflow.medical.order.opened": S("{actor} opened a medication order of {client} to write it"),
    "kapflow.medical.order.created": S("{actor} wrote a medication order for {client}", said("route")),
    "kapflow.medical.order.viewed": S("{actor} viewed {client_s} medication order"),
    "kapflow.medical.order.discontinued": S("{actor} discontinued {client_s} medication order"),
    "kapflow.medical.clearance.transcribed": S(
        "{actor} filed an outside prescriber's clearance letter for {client}", said("decision")
    ),
    "kapflow.medical.order.transcribed": S(
        "{actor} filed an outside prescriber's prescription for {client}", said("route")
    ),
    "kapflow.dosing.caution.phoned": S(
        "{actor} recorded an outside prescriber's telephone acknowledgement of a vitals caution for {client}"
    ),
    # Documents filed on a chart (kapflow.documents)
    "kapflow.documents.list.viewed": S("{actor} viewed the list of {client_s} documents"),
    "kapflow.documents.upload.opened": S("{actor} opened the upload form for {client_s} documents"),
    "kapflow.documents.document.filed": S(
        "{actor} filed a document on {client_s} chart",
        said(
            "kind",
            "type",
            words={
                "outside_records": "records from another provider",
                "ecg": "ECG",
                "letter": "letter received",
                "clearance": "clearance letter",
            },
        ),
    ),
    "kapflow.documents.document.viewed": S("{actor} viewed a document on {client_s} chart"),
    "kapflow.documents.document.downloaded": S("{actor} downloaded a document from {client_s} chart"),
    "kapflow.documents.document.file_missing": S(
        "{actor} asked for a document of {client_s} chart whose file is missing from storage"
    ),
    # Progress notes of clinical visits (kapflow.notes): the rows never carry a note's words.
    "kapflow.notes.list.viewed": S("{actor} viewed {client_s} progress notes"),
    "kapflow.notes.note.opened": S("{actor} opened a progress note of {client} to write it"),
    "kapflow.notes.note.viewed": S("{actor} read a progress note of {client}"),
    "kapflow.notes.note.begun": S(
        "{actor} began a progress note of {client}",
        said("kind", "format", words={"soap": "SOAP", "dap": "DAP", "birp": "BIRP"}),
    ),
    "kapflow.notes.note.draft_saved": S("{actor} saved a draft progress note of {client}", changed),
    "kapflow.notes.note.signed": S(
        "{actor} signed a progress note of {client}",
        both(said("kind"), flags(late_entry="a late entry")),
    ),
    "kapflow.notes.addendum.opened": S("{actor} opened a progress note of {client} to add to it"),
    "kapflow.notes.addendum.added": S("{actor} added an addendum to a progress note of {client}"),
    # Psychotherapy process notes (kapflow.notes.process): the rows never carry a note's words.
    "kapflow.notes.process.listed": S("{actor} opened their own process notes of {client}"),
    "kapflow.notes.process.opened": S("{actor} opened the form for a process note of {client}"),
    "kapflow.notes.process.written": S("{actor} wrote a process note of {client}"),
    "kapflow.notes.process.viewed": S("{actor} read one of their own process notes of {client}"),
    # Discharge (kapflow.course.discharge): the rows carry the reason's code, never the words.
    "kapflow.course.discharges.viewed": S("{actor} viewed {client_s} discharge records"),
    "kapflow.course.discharge.opened": S("{actor} opened {client_s} discharge to write or sign it"),
    "kapflow.course.discharge.viewed": S("{actor} viewed a discharge record of {client}"),
    "kapflow.course.discharge.drafted": S(
        "{actor} drafted the discharge of {client}", said("reason", words=DISCHARGE_REASONS)
    ),
    "kapflow.course.discharge.edited": S("{actor} edited the draft discharge of {client}", changed),
    "kapflow.course.discharge.signed": S(
        "{actor} signed the discharge of {client}",
        both(
            said("reason", words=DISCHARGE_REASONS),
            counted("cancelled", "session cancelled", "sessions cancelled"),
        ),
    ),
    "kapflow.course.plan.ended": S("{actor} ended {client_s} course plan by discharging them"),
    # Outcomes
    "kapflow.outcomes.report.viewed": S("{actor} viewed the outcomes report"),
    "kapflow.outcomes.report.downloaded": S("{actor} downloaded the outcomes report"),
    "kapflow.outcomes.income.viewed": S("{actor} viewed the practice's income by month"),
    "kapflow.outcomes.income.downloaded": S("{actor} downloaded the practice's income by month"),
    # Pathway
    "kapflow.pathway.overview.viewed": S("{actor} viewed {client_s} pathway"),
    "kapflow.pathway.consultation.opened": S("{actor} opened {client_s} consultation to record it"),
    "kapflow.pathway.consultation.recorded": S("{actor} recorded {client_s} consultation", said("decision")),
    "kapflow.pathway.consultation.viewed": S("{actor} viewed {client_s} consultation"),
    "kapflow.pathway.preparation.opened": S("{actor} opened a preparation session of {client} to record it"),
    "kapflow.pathway.preparation.recorded": S("{actor} recorded a preparation session of {client}"),
    "kapflow.pathway.preparation.viewed": S("{actor} viewed a preparation session of {client}"),
    "kapflow.pathway.course_plan.opened": S("{actor} opened {client_s} course plan to edit it"),
    "kapflow.pathway.course_plan.created": S("{actor} wrote {client_s} course plan"),
    "kapflow.pathway.course_plan.updated": S("{actor} changed {client_s} course plan", changed),
    "kapflow.pathway.course_plan.superseded": S(
        "{actor} put a new version of {client_s} course plan in force",
        said("why", words={"extended": "extended by a course review", "new_course": "a new course"}),
    ),
    "kapflow.course.review.opened": S("{actor} opened {client_s} course review to write or sign it"),
    "kapflow.course.review.viewed": S("{actor} viewed a course review of {client}"),
    "kapflow.course.review.written": S("{actor} wrote a course review of {client}", said("decision")),
    "kapflow.course.review.signed": S("{actor} signed a course review of {client}", said("as", prefix="as ")),
    "kapflow.course.review.decided": S(
        "A course review of {client} took effect with its second signature", said("decision")
    ),
    "kapflow.pathway.override.opened": S("{actor} opened a gate override of {client}"),
    "kapflow.pathway.gate.overridden": S("{actor} overrode the {gate} gate for {client}"),
    "kapflow.pathway.gate.override_withdrawn": S(
        "{actor} withdrew the override of the {gate} gate for {client}"
    ),
    # The client portal
    "kapflow.portal.records.listed": S("{actor} listed the records they may open in the portal"),
    "kapflow.portal.home.viewed": S("{actor} opened {client_s} portal home"),
    "kapflow.portal.intention.opened": S("{actor} opened {client_s} intention for a session in the portal"),
    "kapflow.notes.intention.entered": S(
        "{actor} entered {client_s} intention for a medication session",
        said(
            "source",
            words={
                "portal": "on the portal",
                "opening": "in the opening reflection",
                "clinician": "before the day",
            },
        ),
    ),
    "kapflow.portal.todo.viewed": S("{actor} viewed {client_s} to-do list in the portal"),
    "kapflow.portal.consents.viewed": S("{actor} viewed {client_s} consents in the portal"),
    # Good Faith Estimates on the portal (kapflow.portal.views.estimates)
    "kapflow.portal.estimates.viewed": S("{actor} viewed {client_s} Good Faith Estimates in the portal"),
    "kapflow.portal.estimate.viewed": S("{actor} viewed a Good Faith Estimate of {client} in the portal"),
    "kapflow.portal.estimate.downloaded": S(
        "{actor} downloaded a Good Faith Estimate of {client} from the portal"
    ),
    # Good Faith Estimates (kapflow.billing.estimates, kapflow.billing.estimate_views)
    "kapflow.billing.estimate.issued": S(
        "{actor} gave {client} a Good Faith Estimate",
        said(
            "reason",
            words={
                "plan": "the course plan was made",
                "plan_changed": "the course plan changed",
                "asked": "the client asked",
                "renewed": "the last estimate ran out",
            },
        ),
    ),
    "kapflow.billing.estimates.viewed": S("{actor} viewed {client_s} Good Faith Estimates"),
    "kapflow.billing.estimate.viewed": S("{actor} viewed a Good Faith Estimate of {client}"),
    "kapflow.billing.estimate.downloaded": S("{actor} downloaded a Good Faith Estimate of {client}"),
    "kapflow.billing.estimate.opened": S("{actor} opened a new Good Faith Estimate for {client}"),
    "kapflow.billing.estimates_due.viewed": S("{actor} viewed the estimates due, which named {clients}"),
    "kapflow.portal.consent.opened": S("{actor} opened a consent of {client} in the portal"),
    "kapflow.portal.preparation.viewed": S("{actor} viewed {client_s} preparation in the portal"),
    "kapflow.portal.day_of.viewed": S("{actor} viewed {client_s} day-of instructions in the portal"),
    "kapflow.portal.progress.viewed": S("{actor} viewed {client_s} progress in the portal"),
    "kapflow.portal.visit.calendar_downloaded": S("{actor} added a visit of {client} to their own calendar"),
    "kapflow.portal.invitation.opened": S("{actor} opened {client_s} portal invitation page"),
    "kapflow.portal.invitation.sent": S(
        "{actor} sent {client} a portal invitation", said("to", prefix="to ")
    ),
    "kapflow.portal.invitation.viewed": S("{actor} opened {client_s} portal invitation link"),
    "kapflow.portal.invitation.refused": S(
        "{actor} followed a portal invitation link that is no longer valid"
    ),
    "kapflow.portal.invitation.password_refused": S(
        "{actor} typed a wrong password on {client_s} portal invitation"
    ),
    "kapflow.portal.invitation.revoked": S("{actor} withdrew {client_s} portal invitation", said("why")),
    "kapflow.portal.invitation.accepted": S(
        "{actor} accepted {client_s} portal invitation", said("account", prefix="account ")
    ),
    "kapflow.portal.access.opened": S("{actor} opened {client_s} portal access page"),
    "kapflow.portal.access.ended": S("{actor} ended portal access to {client_s} records"),
    "kapflow.portal.progress.opened": S("{actor} opened what {client} sees of their progress"),
    "kapflow.portal.progress.shown": S("{actor} let {client} see their progress in the portal"),
    "kapflow.portal.progress.hidden": S("{actor} hid {client_s} progress from the portal"),
    # Practice settings
    "kapflow.practice.settings.updated": S("{actor} changed the practice settings", changed),
    # The fee schedule (kapflow.billing.schedule)
    "kapflow.billing.fee.set": S(
        "{actor} set a line of the fee schedule", said("kind", "code", "amount", "from")
    ),
    "kapflow.billing.fee.withdrawn": S(
        "{actor} withdrew a line of the fee schedule", said("kind", "code", "from")
    ),
    # Reminders
    "kapflow.reminders.list.viewed": S("{actor} viewed the reminders", said("status", prefix="showing ")),
    "kapflow.reminders.reminder.created": S("{actor} queued a {kind} reminder for {client}"),
    "kapflow.reminders.reminder.sent": S(
        "{actor} sent {client} a {kind} reminder", counted("attempt", "attempt", "attempts")
    ),
    "kapflow.reminders.reminder.attempt_failed": S(
        "{actor} could not send {client} a {kind} reminder, and will try again",
        counted("attempt", "attempt", "attempts"),
    ),
    "kapflow.reminders.reminder.failed": S(
        "{actor} gave up sending {client} a {kind} reminder", counted("attempt", "attempt", "attempts")
    ),
    "kapflow.reminders.reminder.not_needed": S(
        "{actor} found a {kind} reminder for {client} no longer needed"
    ),
    "kapflow.reminders.reminder.requeued": S("{actor} queued a {kind} reminder for {client} again"),
    # Visits and the calendar
    "kapflow.visits.calendar.viewed": S("{actor} viewed the calendar, which named {clients}"),
    "kapflow.visits.readiness.viewed": S("{actor} viewed the readiness of {clients}"),
    "kapflow.visits.list.viewed": S("{actor} viewed {client_s} visits"),
    "kapflow.visits.booking.opened": S("{actor} opened the booking form for {client}"),
    "kapflow.visits.series.opened": S("{actor} opened the series booking for {client}"),
    "kapflow.visits.visit.booked": S("{actor} booked {client_s} {visit}"),
    "kapflow.visits.visit.viewed": S("{actor} viewed {client_s} {visit}"),
    "kapflow.visits.visit.opened": S("{actor} opened {client_s} {visit} to change it"),
    "kapflow.visits.reschedule.opened": S("{actor} opened {client_s} {visit} to reschedule it"),
    "kapflow.visits.visit.rescheduled": S("{actor} rescheduled {client_s} {visit}", changed),
    **{f"kapflow.visits.visit.{verb}": S(template) for verb, template in VISIT_VERBS.items()},
    "kapflow.visits.room.created": S("{actor} added a room", flags(rems_certified="REMS certified")),
    "kapflow.visits.room.updated": S("{actor} changed a room", flags(rems_certified="REMS certified")),
    "kapflow.visits.feed.created": S("{actor} made a calendar feed address"),
    "kapflow.visits.feed.revoked": S("{actor} turned a calendar feed address off"),
    "kapflow.visits.feed.fetched": S(
        "{actor_s} calendar feed was fetched", counted("visits", "visit", "visits")
    ),
    # A client's guardians, emergency contacts and outside providers (kapflow.clients.views)
    **{
        f"kapflow.clients.{noun}.{verb}": S(
            template.format(contact=contact, actor="{actor}", client_s="{client_s}")
        )
        for noun, contact in CONTACT_NOUNS.items()
        for verb, template in {
            "opened": "{actor} opened {contact} of {client_s} record",
            "added": "{actor} added {contact} to {client_s} record",
            "updated": "{actor} changed {contact} on {client_s} record",
            "removed": "{actor} removed {contact} from {client_s} record",
        }.items()
    },
}

# Codes kapflow wrote once and writes no more, kept for the rows that hold them.
RETIRED: frozenset[str] = frozenset()

# What a placeholder reads as where there is no row: the action filter's list.
GENERIC = {
    "actor": "someone",
    "actor_s": "someone's",
    "client": "a client",
    "client_s": "a client's",
    "clients": "clients",
    "person": "someone",
    "person_s": "someone's",
    "member": "someone",
    "visit": "visit",
    "document": "a consent document",
    "instrument": "a questionnaire",
    "kind": "",
    "stage": "next",
    "phase": "next",
    "gate": "a",
    "list": "…",
}
# How many clients a multi-client row names by name before "and N more".
NAMED_CLIENTS = 3


def placeholders(template: str) -> set[str]:
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name is not None}


def _plain(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def label(code: str) -> str:
    """What an action is called in the action filter: its sentence about no one in particular
    ("Someone viewed a client's runbook"); the code itself for one without a sentence."""
    sentence = SENTENCES.get(code)
    if sentence is None:
        return code
    text = " ".join(sentence.template.format_map(GENERIC).split())
    return _plain(text.removeprefix("someone ").removeprefix("Someone "))


AREAS = {
    "accounts": "Sign-in and staff accounts",
    "audit": "Audit log",
    "clients": "Clients",
    "consent": "Consent",
    "course": "Course reviews and discharge",
    "dashboard": "Dashboard",
    "dosing": "Medication sessions (runbook)",
    "inquiries": "Inquiries",
    "integration": "Integration",
    "journal": "Journal",
    "measures": "Questionnaires",
    "medical": "Medical",
    "notes": "Clinical notes",
    "outcomes": "Outcomes report",
    "pathway": "Pathway",
    "portal": "Client portal",
    "practice": "Practice settings",
    "ops": "Backup and export",
    "records": "Copies and imports of the record",
    "reminders": "Reminders",
    "visits": "Visits and calendar",
}


def area(code: str) -> str:
    parts = code.split(".")
    app = parts[1] if len(parts) > 2 and parts[0] == "kapflow" else ""
    return AREAS.get(app, "Other")


# Names


def short_name(full_name: str) -> str:
    """ "Dana Whitfield" -> "D. Whitfield"; a single name as it is."""
    parts = full_name.split()
    if len(parts) < 2:
        return full_name.strip()
    return f"{parts[0][0]}. {parts[-1]}"


def client_short_name(client) -> str:
    """The legal first name's initial and the last name: "M. Alvarez"."""
    return short_name(f"{client.first_name} {client.last_name}")


def _possessive(html: SafeString | str) -> SafeString:
    return _html("{}’s", html)


def _person_link(user) -> SafeString:
    return _html(
        '<a href="?actor={}" title="Only lines by {}">{}</a>',
        user.pk,
        user.full_name,
        short_name(user.full_name),
    )


def _client_link(client) -> SafeString:
    record = f"K-{client.pk:05d}"
    return _html(
        '<a href="?client={}" title="Only lines about {}">{}</a>', record, record, client_short_name(client)
    )


# Reading what a page of rows names, a query per kind


@dataclasses.dataclass
class Named:
    users: dict[int, object] = dataclasses.field(default_factory=dict)
    clients: dict[int, object] = dataclasses.field(default_factory=dict)
    visits: dict[str, object] = dataclasses.field(default_factory=dict)
    runbooks: dict[str, object] = dataclasses.field(default_factory=dict)
    documents: dict[str, object] = dataclasses.field(default_factory=dict)


USER, VISIT, RUNBOOK, DOCUMENT = "accounts.user", "visits.visit", "dosing.runbook", "consent.consentdocument"


def _pks(values: Iterable[str]) -> set[int]:
    return {int(value) for value in values if str(value).isdigit()}


def read_named(events: list[AuditEvent]) -> Named:
    """Everything the sentences of these rows name beyond their actor and client (which the page's
    query joins): at most one query each for people, clients, visits, runbooks and documents."""
    wanted: dict[str, set] = defaultdict(set)
    for event in events:
        if event.object_type in (USER, VISIT, RUNBOOK, DOCUMENT):
            wanted[event.object_type].add(event.object_id)
        member = event.detail.get("user") if isinstance(event.detail, dict) else None
        if isinstance(member, int) and not isinstance(member, bool):
            wanted["member"].add(str(member))
        wanted["clients"].update(str(pk) for pk in named_client_ids(event.detail)[:NAMED_CLIENTS])
    named = Named()
    user_ids = _pks(wanted[USER] | wanted["member"]) - {e.actor_id for e in events if e.actor is not None}
    named.users = {e.actor_id: e.actor for e in events if e.actor is not None}
    if user_ids:
        User = apps.get_model("accounts", "User")
        named.users.update((u.pk, u) for u in User.objects.filter(pk__in=user_ids).only("id", "full_name"))
    client_ids = _pks(wanted["clients"]) - {e.client_id for e in events if e.client is not None}
    named.clients = {e.client_id: e.client for e in events if e.client is not None}
    if client_ids:
        Client = apps.get_model("clients", "Client")
        named.clients.update(
            (c.pk, c) for c in Client.objects.filter(pk__in=client_ids).only("id", "first_name", "last_name")
        )
    if wanted[VISIT]:
        Visit = apps.get_model("visits", "Visit")
        named.visits = {
            str(v.pk): v
            for v in Visit.objects.filter(pk__in=_pks(wanted[VISIT])).only("id", "kind", "starts_at")
        }
    if wanted[RUNBOOK]:
        Runbook = apps.get_model("dosing", "Runbook")
        named.runbooks = {
            str(r.pk): r.visit
            for r in Runbook.objects.filter(pk__in=_pks(wanted[RUNBOOK]))
            .select_related("visit")
            .only("id", "visit__id", "visit__kind", "visit__starts_at")
        }
    if wanted[DOCUMENT]:
        Document = apps.get_model("consent", "ConsentDocument")
        named.documents = {
            str(d.pk): d
            for d in Document.objects.filter(pk__in=_pks(wanted[DOCUMENT])).only(
                "id", "title", "version", "kind"
            )
        }
    return named


# One row in words


class _Words:
    """The words for one row's placeholders, made when a template asks for them."""

    def __init__(self, event: AuditEvent, named: Named):
        self.event, self.named = event, named
        self.detail = event.detail if isinstance(event.detail, dict) else {}

    def __getitem__(self, name: str):
        return getattr(self, f"_{name}")()

    def _actor(self):
        event = self.event
        if event.actor is not None:
            return _person_link(event.actor)
        if event.actor_label:
            return event.actor_label
        if event.ip_address or event.request_id:
            return "Someone not signed in"
        return "kapflow"

    def _actor_s(self):
        return _possessive(self._actor())

    def _client(self):
        event = self.event
        if event.client is not None:
            return _client_link(event.client)
        asked = str(self.detail.get("client_id", ""))
        if asked.isdigit():
            return f"client K-{int(asked):05d}"
        return "a client"

    def _client_s(self):
        return _possessive(self._client())

    def _clients(self):
        ids = named_client_ids(self.detail)
        if not ids:
            return self._client() if self.event.client is not None else "no client"
        shown = [self.named.clients[pk] for pk in ids[:NAMED_CLIENTS] if pk in self.named.clients]
        links = [_client_link(client) for client in shown]
        more = len(ids) - len(links)
        if more:
            links.append(_html("{} more client{}", more, "" if more == 1 else "s"))
        if len(links) == 1:
            return links[0]
        return _html("{} and {}", SafeString(", ".join(links[:-1])), links[-1])

    def _person(self):
        event = self.event
        user = (
            self.named.users.get(int(event.object_id))
            if event.object_type == USER and event.object_id.isdigit()
            else None
        )
        if user is not None:
            return _person_link(user)
        if self.detail.get("account_exists") is False:
            return "an email address with no account"
        return "an account"

    def _person_s(self):
        return _possessive(self._person())

    def _member(self):
        member = self.detail.get("user")
        if isinstance(member, int) and member in self.named.users:
            return _person_link(self.named.users[member])
        return str(member) if member else "someone"

    def _visit(self):
        event = self.event
        visit = None
        if event.object_type == VISIT:
            visit = self.named.visits.get(event.object_id)
        elif event.object_type == RUNBOOK:
            visit = self.named.runbooks.get(event.object_id)
        if visit is None:
            return "visit"
        when = formats.date_format(timezone.localtime(visit.starts_at), "M j, Y")
        return _html("{} of {}", visit.get_kind_display().lower(), when)

    def _document(self):
        event = self.event
        document = self.named.documents.get(event.object_id) if event.object_type == DOCUMENT else None
        if document is not None:
            return _html("“{}” (version {})", document.title, document.version)
        kind, version = self.detail.get("kind"), self.detail.get("version")
        if kind:
            return f"the {_words(kind)}" + (f" (version {version})" if version else "")
        return "a consent document"

    def _value(self, key: str, default: str) -> str:
        value = self.detail.get(key)
        return _words(value) if value not in (None, "") else default

    def _instrument(self):
        return self._value("instrument", "a questionnaire")

    def _kind(self):
        return self._value("kind", "")

    def _stage(self):
        return self._value("stage", "next")

    def _phase(self):
        return self._value("phase", "next")

    def _gate(self):
        return self._value("gate", "a")

    def _list(self):
        return self._value("list", "…")


@dataclasses.dataclass(frozen=True)
class Line:
    """One row of the page: the row, its sentence, the note from its detail, and what the row's
    other cells show (its time, its place in the chain and its technical record), made here once
    per row: the page's cost is its rows, and a template tag per value per row was most of it."""

    event: AuditEvent
    sentence: SafeString
    note: str
    known: bool

    @functools.cached_property
    def number(self) -> str:
        """The row's place in the chain (its id before the chain existed)."""
        return _value(self.event.seq or self.event.pk)

    @property
    def when(self) -> SafeString:
        """The time in the practice's zone, as the `date` filter writes it: "c" for the machine,
        "M j, Y" and "H:i:s T" for the reader."""
        at = timezone.localtime(self.event.at)
        return _html(
            '<time datetime="{}">{} <span class="muted">{}</span></time>',
            at.isoformat(),
            _day(at.date(), translation.get_language()),
            f"{at:%H:%M:%S} {_zone(at)}",
        )

    @property
    def record(self) -> SafeString:
        """The "Technical record": the raw row, every column and every key of the detail."""
        event = self.event
        items = [
            (
                "Action",
                _html(
                    '<a href="?action={}" title="Only lines of this action"><code>{}</code></a>',
                    quote(event.action),
                    event.action,
                ),
            )
        ]
        if event.client_id:
            record = f"K-{event.client_id:05d}"
            items.append(
                (
                    "Client",
                    _html('<a href="?client={}" title="Only this client\'s lines">{}</a>', record, record),
                )
            )
        if event.actor_label:
            items.append(("Account", event.actor_label))
        if event.object_type:
            items.append(("Record", _html("<code>{} {}</code>", event.object_type, event.object_id)))
        if isinstance(event.detail, dict):
            items.extend(
                (key, _html("<code>{}</code>", _value(value))) for key, value in event.detail.items()
            )
        if event.ip_address:
            items.append(("From", event.ip_address))
        if event.request_id:
            items.append(("Request", _html("<code>{}</code>", event.request_id)))
        items.append(("Line", self.number))
        return SafeString("".join(f"<dt>{_escape(dt)}</dt><dd>{_escape(dd)}</dd>" for dt, dd in items))


def _value(value) -> str:
    """A value as a template's {{ value }} writes it (localized, then as text). A whole number
    without thousands separators (the practice's setting) is its digits: the common case, and
    localize's slowest."""
    if isinstance(value, str) or (type(value) is int and not settings.USE_THOUSAND_SEPARATOR):
        return str(value)
    return str(formats.localize(value))


def _zone(at) -> str:
    """The zone's abbreviation as the `date` filter's "T" writes it: none in the hour a clock
    change makes ambiguous (or skips), where Django's DateFormat leaves it out."""
    ambiguous = at.utcoffset() != at.replace(fold=not at.fold).utcoffset()
    return "" if ambiguous else str(at.tzname())


@functools.lru_cache(maxsize=256)
def _day(day, language: str | None) -> str:
    """A day as "M j, Y" writes it (in words of the language: the month's abbreviation); a page's
    rows share a few days."""
    return dateformat.format(day, "M j, Y")


@functools.cache
def _parsed(template: str) -> tuple[str, tuple[str, ...], tuple]:
    """A sentence's template with its spaces normalised, its placeholders, and its first part
    (literal text, placeholder name): parsed once per action, not once per row."""
    template = " ".join(template.split())
    return template, tuple(placeholders(template)), next(iter(string.Formatter().parse(template)))[:2]


def describe(events: list[AuditEvent]) -> list[Line]:
    """The page's rows as sentences (the queries: `read_named`)."""
    named = read_named(events)
    return [line(event, named) for event in events]


def line(event: AuditEvent, named: Named) -> Line:
    sentence = SENTENCES.get(event.action)
    if sentence is None:
        words = _Words(event, named)
        return Line(event, _html("{}: {}", words["actor"], event.action), "", known=False)
    words = _Words(event, named)
    template, names, first = _parsed(sentence.template)
    values = {name: words[name] for name in names}
    # A sentence starts with a capital: its own first word, or the plain words of its first
    # placeholder ("someone not signed in"); a link (a name) is left as it is.
    if first[0]:
        template = template[:1].upper() + template[1:]
    elif not isinstance(values[first[1]], SafeString):
        values[first[1]] = _plain(str(values[first[1]]))
    text = _html(template, **values)
    detail = event.detail if isinstance(event.detail, dict) else {}
    return Line(event, text, sentence.note(detail) if sentence.note else "", known=True)
