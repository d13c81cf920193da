"""Issue 13, item 3: the audit log reads as sentences ("T. Therapist viewed A. Alvarez's runbook").

Every action code kapflow writes has a sentence (kapflow.audit.sentences.SENTENCES): the code base
is read for the codes, literal or built, and a code without one fails here. Names are the first
initial and the last name, for staff and clients; the object (a visit's date, a document's title)
is named where the row has it."""

import ast
import datetime
import functools
import itertools
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from kapflow.audit import sentences
from kapflow.audit.migrations import __path__ as migrations_path
from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record

ROOT = Path(settings.BASE_DIR) / "kapflow"
CODE = re.compile(r"kapflow(\.[a-z0-9_]+){2,3}")
T0 = datetime.datetime(2026, 3, 2, 17, 0, tzinfo=datetime.UTC)


def _importable(dotted: str) -> bool:
    """A module path or a module's attribute (settings, URL confs, task providers), not a code."""
    try:
        import_string(dotted)
    except ImportError:
        try:
            __import__(dotted)
        except ImportError:
            return False
    return True


def _journal_verbs() -> list[str]:
    """The portal's journal pages pass the tail of their code to `_client(request, id, "verb")`."""
    tree = ast.parse((ROOT / "portal" / "views" / "journal.py").read_text())
    return sorted(
        {
            node.args[2].value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and ast.unparse(node.func) == "_client"
            and len(node.args) == 3
            and isinstance(node.args[2], ast.Constant)
        }
    )


def _contact_nouns() -> list[str]:
    from kapflow.clients.views import CONTACT_KINDS

    return sorted({noun for noun, *_rest in CONTACT_KINDS.values()})


def _visit_verbs() -> list[str]:
    from kapflow.visits.services import _VERB

    return sorted(_VERB.values())


# The parts of built codes (f-strings) that are variables: what each can be, read from the code
# that gives it its values. A new f-string code with a variable part must be added here.
VARIABLE_PARTS = {
    ("clients/services.py", "noun"): _contact_nouns,
    ("clients/views.py", "noun"): _contact_nouns,
    ("portal/views/journal.py", "verb"): _journal_verbs,
    ("visits/services.py", "_VERB[to]"): _visit_verbs,
}


def _expansions(path: Path, node: ast.JoinedStr) -> list[str]:
    choices = []
    for part in node.values:
        if isinstance(part, ast.Constant):
            choices.append([str(part.value)])
            continue
        value = part.value
        if isinstance(value, ast.IfExp) and all(
            isinstance(v, ast.Constant) for v in (value.body, value.orelse)
        ):
            choices.append([value.body.value, value.orelse.value])
            continue
        key = (str(path.relative_to(ROOT)), ast.unparse(value))
        assert key in VARIABLE_PARTS, (
            f"{path}:{node.lineno} builds an audit action code from {key[1]!r}: add what it can be to "
            "VARIABLE_PARTS in tests/test_audit_sentences.py, and a sentence for each code to "
            "kapflow/audit/sentences.py"
        )
        choices.append(VARIABLE_PARTS[key]())
    return ["".join(parts) for parts in itertools.product(*choices)]


@functools.cache
def written_codes() -> dict[str, str]:
    """Every audit action code in kapflow's source, literal or built, with where it is (the
    sentences themselves, and the migrations, are not read)."""
    found: dict[str, str] = {}
    skipped_keywords = {"dispatch_uid", "name"}
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts or path == ROOT / "audit" / "sentences.py":
            continue
        tree = ast.parse(path.read_text())
        skip = set()
        for node in ast.walk(tree):
            # Signal receivers' and tasks' ids look like codes and are not.
            if isinstance(node, ast.keyword) and node.arg in skipped_keywords:
                skip.add(id(node.value))
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "lock_task":
                skip.update(id(arg) for arg in node.args)
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.JoinedStr):
                head = node.values[0] if node.values else None
                built_code = isinstance(head, ast.Constant) and str(head.value).startswith("kapflow.")
                if built_code and id(node) not in skip:  # a receiver's id built from its app's label
                    for code in _expansions(path, node):
                        found.setdefault(code, where)
                for part in node.values:
                    if isinstance(part, ast.Constant):
                        skip.add(id(part))
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and CODE.fullmatch(node.value)
                and not _importable(node.value)
            ):
                found.setdefault(node.value, where)
    return found


def test_the_source_is_read_for_codes_literal_and_built():
    codes = written_codes()
    # Literal, a module constant, chosen by a condition, and each kind of built code.
    for code in (
        "kapflow.dosing.runbook.viewed",
        "kapflow.portal.invitation.password_refused",
        "kapflow.consent.release.revoked",
        "kapflow.clients.emergency_contact.removed",
        "kapflow.journal.draft.opened",
        "kapflow.visits.visit.no_show",
        "kapflow.pathway.course_plan.updated",
        "kapflow.integration.action_item.status_changed",
    ):
        assert code in codes, code
    assert "kapflow.reminders.sweep" not in codes and "kapflow.accounts.audit_sign_in" not in codes
    assert "kapflow.consent.portal.todos" not in codes  # a dotted path, imported by name
    assert len(codes) > 150


def test_every_code_kapflow_writes_has_a_sentence():
    missing = {code: where for code, where in written_codes().items() if code not in sentences.SENTENCES}
    assert not missing, (
        "audit action codes without a sentence in kapflow/audit/sentences.py (SENTENCES): "
        + ", ".join(f"{code} ({where})" for code, where in sorted(missing.items()))
    )


def test_every_sentence_is_for_a_code_kapflow_writes():
    """No sentence for a misspelt or forgotten code: one no longer written goes to RETIRED."""
    stale = set(sentences.SENTENCES) - set(written_codes()) - sentences.RETIRED
    assert not stale, sorted(stale)


def test_the_actions_naming_clients_are_indexed_for_the_client_filter():
    """Every audit_record(...) whose detail lists "clients" is one the migration indexed."""
    from importlib import import_module

    migration = import_module("kapflow.audit.migrations.0005_named_clients")
    naming = set()
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "audit_record"):
                continue
            kw = {k.arg: k.value for k in node.keywords}
            detail, action = kw.get("detail"), kw.get("action")
            if isinstance(detail, ast.Dict) and any(
                isinstance(k, ast.Constant) and k.value == "clients" for k in detail.keys
            ):
                assert isinstance(action, ast.Constant), f"{path}:{node.lineno}"
                naming.add(action.value)
    assert naming == set(migration.NAMING_CLIENTS)
    command = import_module("kapflow.audit.management.commands.audit_index_clients")
    assert naming == set(command.NAMING_CLIENTS)
    assert Path(migrations_path[0]).is_dir()


def test_every_sentence_renders_for_a_bare_row():
    """No placeholder without its words, whatever the row lacks."""
    named = sentences.Named()
    for code, sentence in sentences.SENTENCES.items():
        assert sentences.placeholders(sentence.template) <= set(sentences.GENERIC), code
        line = sentences.line(AuditEvent(action=code, detail={}), named)
        assert line.known and "{" not in line.sentence, code
        assert sentences.label(code)[:1].isupper(), code


def test_the_action_names_are_distinct():
    labels = [sentences.label(code) for code in sentences.SENTENCES]
    assert len(labels) == len(set(labels))


@pytest.mark.parametrize(
    ("full", "short"),
    [("Dana Whitfield", "D. Whitfield"), ("Mary Ann Alvarez", "M. Alvarez"), ("Cher", "Cher"), ("  ", "")],
)
def test_short_names(full, short):
    assert sentences.short_name(full) == short


pytestmark_db = pytest.mark.django_db


def _sentence(event) -> str:
    [line] = sentences.describe([AuditEvent.objects.for_review().get(pk=event.pk)])
    text = re.sub(r"<[^>]+>", "", str(line.sentence)).replace("&#x27;", "'")
    return f"{text} ({line.note})" if line.note else text


@pytestmark_db
class TestSentences:
    def test_a_read_names_the_person_and_the_client(self, tess, avery):
        event = audit_record(actor=tess, action="kapflow.dosing.runbook.viewed", client=avery, obj=avery)
        assert _sentence(event) == "T. Therapist viewed A. Alvarez’s runbook"

    def test_a_failed_sign_in_says_why(self, tess):
        event = audit_record(
            action="kapflow.accounts.signin.failed",
            obj=tess,
            detail={"step": "password", "account_exists": True},
        )
        assert _sentence(event) == "Someone failed to sign in as T. Therapist (wrong password)"
        unknown = audit_record(
            action="kapflow.accounts.signin.failed", detail={"step": "password", "account_exists": False}
        )
        assert (
            _sentence(unknown)
            == "Someone failed to sign in as an email address with no account (wrong password)"
        )

    def test_a_signature_names_the_session_by_its_date(self, priya, avery, settings):
        from kapflow.dosing.models import Runbook
        from kapflow.visits.models import Visit

        settings.TIME_ZONE = "America/Los_Angeles"
        visit = Visit.objects.create(
            client=avery,
            kind=Visit.Kind.MEDICATION,
            modality=Visit.Modality.VIRTUAL,
            starts_at=T0,
            ends_at=T0 + datetime.timedelta(hours=2),
            clinician=priya,
            created_by=priya,
        )
        runbook = Runbook.objects.create(visit=visit)
        event = audit_record(actor=priya, action="kapflow.dosing.runbook.signed", client=avery, obj=runbook)
        assert (
            _sentence(event)
            == "P. Prescriber signed A. Alvarez’s runbook for the medication session of Mar 2, 2026"
        )

    def test_a_document_is_named_by_its_title_and_version(self, ada):
        from kapflow.consent.models import ConsentDocument

        document = ConsentDocument.objects.create(kind="kap", version=7, title="Consent to KAP", body="Text.")
        event = audit_record(actor=ada, action="kapflow.consent.document.published", obj=document)
        assert _sentence(event) == "A. Admin published “Consent to KAP” (version 7)"

    def test_a_signature_names_the_document_from_its_detail(self, cora, avery):
        event = audit_record(
            actor=cora,
            action="kapflow.consent.signature.recorded",
            client=avery,
            detail={"kind": "kap", "version": 3, "decision": "agree"},
        )
        assert _sentence(event) == (
            "C. Coordinator recorded A. Alvarez’s signature on the KAP informed consent (version 3) (agree)"
        )

    def test_a_dashboard_read_names_its_clients_and_how_many_more(self, tess, avery, olive):
        event = audit_record(
            actor=tess,
            action="kapflow.dashboard.viewed",
            detail={"clients": [avery.pk, olive.pk, 10**6, 10**6 + 1]},
        )
        # The first three by id (one of which no longer exists), then how many more.
        assert (
            _sentence(event)
            == "T. Therapist viewed the dashboard, which named A. Alvarez, O. Okafor and 2 more clients"
        )

    def test_a_care_team_change_names_the_member(self, ada, tess, avery):
        event = audit_record(
            actor=ada,
            action="kapflow.clients.access.granted",
            client=avery,
            detail={"user": tess.pk, "source": "care team"},
        )
        assert _sentence(event) == "A. Admin gave T. Therapist access to A. Alvarez’s records (care team)"

    def test_background_work_and_the_signed_out_are_named_so(self, avery):
        queued = audit_record(
            action="kapflow.reminders.reminder.created", client=avery, detail={"kind": "dayof"}
        )
        assert _sentence(queued) == "Kapflow queued a day-before instructions reminder for A. Alvarez"
        event = AuditEvent.objects.create(
            action="kapflow.inquiries.inquiry.received", ip_address="203.0.113.9"
        )
        assert _sentence(event) == "Someone not signed in sent an inquiry from the website"

    def test_a_code_without_a_sentence_reads_as_its_code(self, tess):
        event = audit_record(actor=tess, action="kapflow.demo.thing.done")
        [line] = sentences.describe([event])
        assert not line.known and "kapflow.demo.thing.done" in line.sentence

    def test_names_are_escaped(self, tess):
        tess.full_name = "Tess <b>Therapist</b>"
        tess.save()
        event = audit_record(actor=tess, action="kapflow.clients.caseload.viewed", detail={"shown": 2})
        [line] = sentences.describe([AuditEvent.objects.for_review().get(pk=event.pk)])
        assert "<b>" not in line.sentence and "&lt;b&gt;" in line.sentence
        assert line.note == "2 clients shown"
