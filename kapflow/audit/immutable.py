"""Signed clinical records refuse UPDATE and DELETE at the database, not only in code.

One table, `RULES`, says for each clinical table when its rows are locked and which columns may
still be set once after that; the trigger SQL for SQLite and PostgreSQL is generated from it.
Tables are named as strings: the audit app is a foundation and imports no clinical app.

What a trigger refuses, for a row that is locked:
* DELETE, always (and TRUNCATE of the table on PostgreSQL);
* UPDATE of any column not in `once` (columns added later are refused too: on PostgreSQL the
  whole row is compared, on SQLite the triggers are regenerated from the table's columns after
  every migrate);
* UPDATE of the `once` columns after they were set, i.e. once `sentinel` is not null.
INSERT is never refused here, so a new column with a default never breaks a write.

A `kept` column is one the database keeps up to date itself, from a trigger on another table
(an invoice's amount owed, kapflow.billing.db): it changes as often as that trigger fires. On
PostgreSQL only a trigger may change it (`pg_trigger_depth() > 1`); SQLite cannot tell a
trigger's UPDATE from anyone's, so there it is left out of the comparison.
"""

from dataclasses import dataclass

MESSAGE = "a signed clinical record cannot be changed or deleted"

_RUNBOOK_SIGNED = (
    "EXISTS (SELECT 1 FROM dosing_runbook WHERE id = {row}.runbook_id AND signed_at IS NOT NULL)"
)
ALWAYS = "1 = 1"


@dataclass(frozen=True)
class Rule:
    table: str
    # SQL true when the row is locked; {row} is OLD or NEW.
    locked: str
    # Columns that may still be set once the row is locked, while `sentinel` is null.
    once: tuple[str, ...] = ()
    sentinel: str = ""
    why: str = ""
    # Also locked when the row's new values would put it in a locked parent (an entry moved into
    # a signed runbook). Not for a row locked by its own columns: setting them is the locking.
    check_new: bool = False
    # References that may only be cleared (to NULL), never changed: the database's own
    # ON DELETE SET NULL when the row they point at is removed.
    may_clear: tuple[str, ...] = ()
    # Columns the database keeps up to date from triggers on other tables (see the module's text).
    kept: tuple[str, ...] = ()


# Entries of a medication-session record: locked with the record (Runbook.signed_at). Entries
# are never edited by the code even before signing; a signed record's entries never change.
_RUNBOOK_ENTRIES = (
    "dosing_vitalsreading",
    "dosing_administration",
    "dosing_prescriberonsite",
    "dosing_rating",
    "dosing_adverseevent",
    "dosing_note",
    "dosing_addendum",
    "dosing_dayofchecklist",
    "dosing_safetyplan",
    "dosing_phasemark",
    "dosing_chaperonecheckin",
    "dosing_integrationacknowledgement",
    "dosing_emergencycall",
    "dosing_supplycount",
)

RULES: tuple[Rule, ...] = (
    # Edited freely while the session runs (caution acknowledgement, discharge, then the lock
    # fields signed_at/signed_by are set by signing); nothing at all once signed.
    Rule("dosing_runbook", "{row}.signed_at IS NOT NULL", why="runbook_sign"),
    *(
        Rule(table, _RUNBOOK_SIGNED, why="entry of a signed runbook", check_new=True)
        for table in _RUNBOOK_ENTRIES
    ),
    # An outside prescriber's acknowledgement by telephone, recorded by the clinician: saved once.
    Rule("dosing_phoneacknowledgement", ALWAYS, why="phone acknowledgement"),
    # A prescriber's review of an adverse event or of a discharge with criteria unmet: one row
    # per item, saved once, never edited (kapflow.dosing.services).
    Rule("dosing_safetyreview", ALWAYS, why="safety review"),
    # A consent signature is saved once; a withdrawal is a new signature row (decision "revoke").
    # A guardian or outside provider taken off the chart no longer speaks for the client: the
    # signature keeps its typed name and loses the link (ON DELETE SET NULL), nothing else.
    Rule("consent_signature", ALWAYS, why="signature_record", may_clear=("guardian_id", "provider_id")),
    # A questionnaire response is saved once; the task that asked for it points at it.
    Rule("measures_response", ALWAYS, why="response_record"),
    # The pathway's and the integration's clinical records are signed by saving them: a later
    # view of things is a new record, never an edit (kapflow.pathway, kapflow.medical and
    # kapflow.integration services).
    Rule("pathway_consultation", ALWAYS, why="consultation_record"),
    Rule("pathway_preparationsession", ALWAYS, why="preparation_record"),
    Rule("medical_screening", ALWAYS, why="screening_record"),
    # A document filed on a chart is never changed or deleted (kapflow.documents.services): a
    # wrong one stays and the right one is filed beside it. An outside provider taken off the
    # chart loses the link (ON DELETE SET NULL); the document keeps the rest.
    Rule("documents_chartdocument", ALWAYS, why="file_document", may_clear=("provider_id",)),
    Rule("integration_integrationrecord", ALWAYS, why="record_save"),
    # A prescriber's override of a medical gate is saved once and may be withdrawn once.
    Rule(
        "pathway_gateoverride",
        ALWAYS,
        once=("withdrawn_at", "withdrawn_by_id"),
        sentinel="withdrawn_at",
        why="gate_override_withdraw",
    ),
    # A clearance is saved once and may be revoked once (clearance_revoke).
    Rule(
        "medical_clearance",
        ALWAYS,
        once=("revoked_at", "revoked_by_id", "revoke_reason"),
        sentinel="revoked_at",
        why="clearance_revoke",
    ),
    # An order is saved once and may be discontinued once (order_discontinue).
    Rule(
        "medical_medicationorder",
        ALWAYS,
        once=("discontinued_at", "discontinued_by_id", "discontinue_reason"),
        sentinel="discontinued_at",
        why="order_discontinue",
    ),
    # A letter is edited while a draft; signing sets its facts, PDF and hash once and locks it
    # (kapflow.letters.services.letter_sign). A signed letter is never changed or deleted.
    Rule(
        "letters_letter",
        "{row}.signed_at IS NOT NULL",
        once=("facts", "signed_by_id", "signed_at", "pdf", "pdf_sha256"),
        sentinel="signed_at",
        why="letter_sign",
    ),
    # A disclosure is written once, by the service that discloses (kapflow.letters.sending), and
    # never edited: the accounting a client may ask for is built from them. A provider taken off
    # the chart loses the link (ON DELETE SET NULL); the recipient's name stays.
    Rule("letters_disclosure", ALWAYS, why="disclosure", may_clear=("provider_id",)),
    # A download link is written once; using it sets when and from where, once (link_use).
    Rule("letters_downloadlink", ALWAYS, once=("used_at", "used_from"), sentinel="used_at", why="link_use"),
    # A visit's progress note is a draft, saved as it is typed, until it is signed; then nothing
    # changes (kapflow.notes.services.note_sign) and corrections are addenda, saved once. A
    # process note and a client's intention for a session are saved once; a later one is new.
    Rule("notes_progressnote", "{row}.signed_at IS NOT NULL", why="note_sign"),
    Rule("notes_noteaddendum", ALWAYS, why="note_addendum"),
    Rule("notes_processnote", ALWAYS, why="process_note"),
    Rule("notes_sessionintention", ALWAYS, why="intention"),
    # A superseded version of a course plan is kept as it was (kapflow.course.reviews.plan_supersede).
    Rule("pathway_courseplan", "{row}.superseded_at IS NOT NULL", why="plan_supersede"),
    # A course review is written, then signed by the therapist and the prescriber: once either
    # has signed its content is fixed; the other signature, the decision taking effect and the
    # plan version it wrote are set once (kapflow.course.reviews.review_sign).
    Rule(
        "course_coursereview",
        "{row}.therapist_signed_at IS NOT NULL OR {row}.prescriber_signed_at IS NOT NULL",
        once=(
            "therapist_signed_by_id",
            "therapist_signed_at",
            "prescriber_signed_by_id",
            "prescriber_signed_at",
            "decided_at",
            "new_plan_id",
        ),
        sentinel="decided_at",
        why="review_sign",
    ),
    # A discharge is a draft until it is signed (kapflow.course.discharge.discharge_sign).
    Rule("course_discharge", "{row}.signed_at IS NOT NULL", why="discharge_sign"),
    # Where an imported questionnaire response came from, and each copy of a record given under
    # the right of access: written once with what they describe (kapflow.records).
    Rule("records_importedresponse", ALWAYS, why="response_import"),
    Rule("records_recordcopy", ALWAYS, why="record_copy"),
    # The controlled-substance record (kapflow.controlled): a lot, each ledger entry, each
    # inventory and its counts, a loss report and its steps, a pharmacy fill and a REMS
    # enrolment are written once. A wrong entry is reversed by a correction entry; the balance
    # each entry left is part of it. A discrepancy is explained once, by the registrant.
    Rule("controlled_lot", ALWAYS, why="lot_receive"),
    Rule("controlled_entry", ALWAYS, why="ledger_post"),
    Rule("controlled_inventory", ALWAYS, why="inventory_take"),
    Rule("controlled_inventorycount", ALWAYS, why="inventory_take"),
    Rule(
        "controlled_discrepancy",
        ALWAYS,
        once=("outcome", "explanation", "explained_by_id", "explained_at"),
        sentinel="explained_at",
        why="discrepancy_explain",
    ),
    Rule("controlled_lossreport", ALWAYS, why="loss_report_start"),
    Rule("controlled_lossreportstep", ALWAYS, why="loss_report_step"),
    Rule(
        "controlled_pharmacyfill",
        ALWAYS,
        once=("voided_at", "voided_by_id", "void_reason"),
        sentinel="voided_at",
        why="fill_void",
    ),
    Rule("controlled_remsenrolment", ALWAYS, why="rems_enrol"),
    # The practice's money (kapflow.billing): a line of the fee schedule, a charge, an invoice and
    # its lines, a payment, refund or write-off, and a Good Faith Estimate are written once. A
    # fee changes by a new line from a date; an estimate is superseded once by the next; a
    # diagnosis is ended once (no longer current, or entered in error).
    Rule("billing_fee", ALWAYS, why="fee_set"),
    Rule("billing_charge", ALWAYS, why="visit_charge", kept=("invoiced",)),
    Rule("billing_invoice", ALWAYS, why="invoice_issue", kept=("owed_cents",)),
    Rule("billing_invoiceline", ALWAYS, why="invoice_issue"),
    Rule("billing_entry", ALWAYS, why="entry_record"),
    Rule(
        "billing_estimate",
        ALWAYS,
        once=("superseded_at",),
        sentinel="superseded_at",
        why="estimate_issue",
    ),
    Rule(
        "billing_diagnosis",
        ALWAYS,
        once=("ended_on", "in_error", "end_reason", "ended_by_id", "ended_at"),
        sentinel="ended_at",
        why="diagnosis_end",
    ),
    # A session's REMS answers are edited while the session runs and fixed when its record is
    # signed; that the form was submitted to the REMS is recorded once after (rems_submit).
    Rule(
        "dosing_remsreport",
        _RUNBOOK_SIGNED,
        once=("submitted_on", "submitted_by_id", "submission_reference"),
        sentinel="submitted_on",
        why="rems_submit",
    ),
)


def _name(rule: Rule, suffix: str) -> str:
    return f"immutable_{rule.table}_{suffix}"


def _sqlite_locked(rule: Rule, row: str) -> str:
    return "(" + rule.locked.format(row=row) + ")"


def sqlite_install(rule: Rule, columns: list[str]) -> list[str]:
    """Statements for one table; `columns` are its current columns (triggers are regenerated
    after every migrate, so a column added later is covered as soon as it exists)."""
    once = [c for c in rule.once if c in columns]
    clearable = [c for c in rule.may_clear if c in columns]
    fixed = [c for c in columns if c not in once and c not in clearable and c not in rule.kept]
    fixed_changed = " OR ".join(
        [f'OLD."{c}" IS NOT NEW."{c}"' for c in fixed]
        + [f'(OLD."{c}" IS NOT NEW."{c}" AND NEW."{c}" IS NOT NULL)' for c in clearable]
    )
    changed = f"({fixed_changed or '0'})"
    if once:
        once_changed = " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in once)
        changed = f"({changed} OR (OLD.{rule.sentinel} IS NOT NULL AND ({once_changed})))"
    locked = _sqlite_locked(rule, "OLD")
    if rule.check_new:
        locked = f"({locked} OR {_sqlite_locked(rule, 'NEW')})"
    return [
        *sqlite_drop(rule),
        f"""CREATE TRIGGER {_name(rule, "update")} BEFORE UPDATE ON {rule.table}
            FOR EACH ROW WHEN {locked} AND {changed}
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
        f"""CREATE TRIGGER {_name(rule, "delete")} BEFORE DELETE ON {rule.table}
            FOR EACH ROW WHEN {_sqlite_locked(rule, "OLD")}
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    ]


def sqlite_drop(rule: Rule) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {_name(rule, suffix)}" for suffix in ("update", "delete")]


def _pg_locked(rule: Rule, row: str) -> str:
    return "(" + rule.locked.format(row=row).replace("1 = 1", "TRUE") + ")"


def postgres_install(rule: Rule) -> list[str]:
    function = _name(rule, "guard")
    allowed = "ARRAY[" + ", ".join(f"'{c}'" for c in (*rule.once, *rule.may_clear)) + "]::text[]"
    if rule.kept:
        # A kept column changes only from inside a trigger (depth 1 is this guard itself).
        kept = "ARRAY[" + ", ".join(f"'{c}'" for c in rule.kept) + "]::text[]"
        allowed = f"({allowed} || CASE WHEN pg_trigger_depth() > 1 THEN {kept} ELSE ARRAY[]::text[] END)"
    once_check = "".join(
        f"""
            IF NEW.{c} IS DISTINCT FROM OLD.{c} AND NEW.{c} IS NOT NULL THEN
                RAISE EXCEPTION '{MESSAGE}';
            END IF;"""
        for c in rule.may_clear
    )
    if rule.once:
        once_check += f"""
            IF OLD.{rule.sentinel} IS NOT NULL AND to_jsonb(NEW) IS DISTINCT FROM to_jsonb(OLD) THEN
                RAISE EXCEPTION '{MESSAGE}';
            END IF;"""
    return [
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                RAISE EXCEPTION '{MESSAGE}';
            END IF;
            IF TG_OP = 'DELETE' THEN
                IF {_pg_locked(rule, "OLD")} THEN
                    RAISE EXCEPTION '{MESSAGE}';
                END IF;
                RETURN OLD;
            END IF;
            IF {_pg_locked(rule, "OLD")}{f" OR {_pg_locked(rule, 'NEW')}" if rule.check_new else ""} THEN
                -- The whole row but the columns that may be set once: a column added later
                -- is refused without regenerating this function.
                IF (to_jsonb(NEW) - {allowed}) IS DISTINCT FROM (to_jsonb(OLD) - {allowed}) THEN
                    RAISE EXCEPTION '{MESSAGE}';
                END IF;{once_check}
            END IF;
            RETURN NEW;
        END; $$ LANGUAGE plpgsql""",
        *postgres_drop(rule),
        f"""CREATE TRIGGER {_name(rule, "change")} BEFORE UPDATE OR DELETE ON {rule.table}
            FOR EACH ROW EXECUTE FUNCTION {function}()""",
        f"""CREATE TRIGGER {_name(rule, "truncate")} BEFORE TRUNCATE ON {rule.table}
            FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
    ]


def postgres_drop(rule: Rule) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {_name(rule, suffix)} ON {rule.table}" for suffix in ("change", "truncate")
    ]


def trigger_names(rule: Rule, vendor: str) -> list[str]:
    """The triggers `install` leaves on this table (the tests check they exist after migrate)."""
    suffixes = ("update", "delete") if vendor == "sqlite" else ("change", "truncate")
    return [_name(rule, suffix) for suffix in suffixes]
