"""Every page of kapflow, for the screenshot walk (test_screenshot_walk.py): the demo practice
(`manage.py load_demo`) with a medication session under way, and for each role the pages that
role may open, found from the access matrix (tests/test_access_matrix.py) so that a page added
with its line in the matrix is walked too, or the walk says it has no way to reach it.

Each page is checked at four widths, phone to desktop, for sideways scrolling, and once by
axe-core (every rule it runs by default: WCAG 2.x A and AA, colour contrast, landmarks, heading
order). Every role opens every page it may, but axe and the screenshot are taken once per page,
by one of the roles that open it, chosen so that the roles' walks take about as long as each
other (pytest-xdist runs them side by side); the dashboard and the chart, which differ most
from role to role, are checked by every role. axe costs a third of a second a page or more."""

import datetime
import fcntl
import importlib
import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field

from axe_playwright_python.sync_playwright import Axe
from django.apps import apps as django_apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page

from kapflow.accounts.models import User
from kapflow.clients.models import CareTeamMember, Client, EmergencyContact, Guardian, OutsideProvider
from kapflow.consent.models import ConsentDocument
from kapflow.demo.portal import CLIENT_EMAIL, GUARDIAN_EMAIL
from kapflow.demo.quick import load_demo
from kapflow.dosing.services.administration import dose_record
from kapflow.dosing.services.checkin import checklist_record, session_start
from kapflow.dosing.services.session import note_record, rating_record
from kapflow.dosing.services.vitals import vitals_record
from kapflow.inquiries.models import Inquiry
from kapflow.medical.models import MedicationOrder
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories
from tests.dbsetup import run_file
from tests.matrix_documents import walk_document
from tests.matrix_letters import walk_letter

WIDTHS = (375, 768, 1024, 1440)
# axe runs once per page, at a width where the desktop layout has just taken over: running it at
# every width quadruples the walk's time and finds the same things.
AXE_WIDTH = 1024
# One screenshot per page: staff pages as on a desk, the portal as on a phone.
STAFF_SCREENSHOT_WIDTH, PORTAL_SCREENSHOT_WIDTH = 1440, 375
HEIGHT = 900

# The access matrix's personas for the roles walked here (tests/access_rules.py).
PERSONAS = {"admin": "ada", "therapist": "tess", "prescriber": "priya", "coordinator": "cora"}
CHECKED_BY_EVERY_ROLE = {"home", "clients:chart", "chart-minor"}
# What a page costs the walk, opened at four widths, and checked by axe and photographed.
VISIT_COST, CHECK_COST = 2, 3

# URL names that are not pages a person opens: fragments fetched by htmx, files, and writes.
NOT_PAGES = {
    "keepalive",
    "healthz",  # JSON for the load balancer (tests/test_health.py)
    "calendar:badges",  # the calendar's readiness badges, fetched after the page
    "calendar:feed",  # an iCalendar file
    "dosing:live",  # the runbook's moving parts, refreshed in place
    "outcomes:report_csv",
    "portal:visit_ics",
    "documents:download",  # a file, sent as an attachment
    "letters:card",  # the chart's Letters card, fetched after the chart
    "letters:pdf",  # a PDF file
}
# Pages walked once, signed out or in the portal walk, rather than once per staff role.
WALKED_ELSEWHERE = {"start", "start_thanks", "accounts:staff_welcome", "portal:accept", "portal:access_ended"}


@dataclass
class Demo:
    """The demo practice, and the records of its client in a course (Omar Rossi) that the
    staff pages are opened on: his therapist and prescriber, a colleague added to his care team
    (the demo's second therapist, walked as "therapist"), and a medication session under way."""

    staff: dict[str, User]
    client: Client
    session: Visit
    minor: Client
    portal_client: User
    guardian: User
    ids: dict[str, int] = field(default_factory=dict)

    def user(self, role: str) -> User:
        """The demo's staff member walked as `role` (its admin is an admin and nothing else)."""
        return self.staff[role]

    def keys(self) -> dict:
        """What names these records, to find them again in a copy of the database."""
        return {
            "staff": {role: user.pk for role, user in self.staff.items()},
            **{name: getattr(self, name).pk for name in _RECORDS},
            "ids": self.ids,
        }

    @classmethod
    def from_keys(cls, keys: dict) -> "Demo":
        staff = User.objects.in_bulk(keys["staff"].values())
        return cls(
            staff={role: staff[pk] for role, pk in keys["staff"].items()},
            **{name: model.objects.get(pk=keys[name]) for name, model in _RECORDS.items()},
            ids=keys["ids"],
        )


# The records a Demo names besides its staff, and their models.
_RECORDS = {"client": Client, "session": Visit, "minor": Client, "portal_client": User, "guardian": User}


def demo_practice() -> Demo:
    """The demo practice with its medication session of the day under way.

    Loading it is 7–11 s of a walk. On SQLite the first walk of a test run loads it and
    keeps a copy of the database, and each later walk of the run, on any pytest-xdist worker,
    puts that copy back instead (SQLite's backup, well under a second): four loads fewer a run.
    The copy is taken as the walk would find a fresh load, before any page is opened (a later
    walk finds the session under way a few minutes longer, as after `make run`), and each walk's
    database is emptied when it ends (the browser tests' flush), so no walk sees another's
    visits. On PostgreSQL each walk loads it."""
    if connection.vendor != "sqlite":
        return _load_demo_practice()
    kept = run_file("walk-demo.sqlite3")
    with open(run_file("walk-demo.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker loads, the others wait for its copy
        connection.ensure_connection()
        if kept.exists():
            with closing(sqlite3.connect(kept)) as copy:
                copy.backup(connection.connection)
            # The copy arrived through the write-ahead log: written into the database file, the
            # live server's connections read it from there.
            connection.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return Demo.from_keys(json.loads(run_file("walk-demo.json").read_text()))
        demo = _load_demo_practice()
        run_file("walk-demo.json").write_text(json.dumps(demo.keys()))
        partial = run_file("walk-demo.partial")
        with closing(sqlite3.connect(partial)) as copy:
            connection.connection.backup(copy)
        partial.rename(kept)  # whole or not at all: a worker killed half-way leaves no copy
        return demo


def _load_demo_practice() -> Demo:
    """Load the demo practice and start its medication session of the day."""
    if not ConsentDocument.objects.exists():  # emptied by the flush after an earlier browser test
        importlib.import_module("kapflow.consent.migrations.0002_default_documents").create(django_apps, None)
    staff = load_demo()["staff"]
    portal_client = User.objects.get(email=CLIENT_EMAIL)
    client = Client.objects.get(portal_user=portal_client)
    CareTeamMember.objects.get_or_create(
        client=client, user=staff["therapist"], defaults={"role": CareTeamMember.Role.THERAPIST}
    )
    # The demo's portal client is cleared by an outside psychiatrist's letter (kapflow.demo.outside)
    # and has no prescriber of the practice; the walk's prescriber joins the team to see the pages.
    CareTeamMember.objects.get_or_create(
        client=client, user=staff["prescriber"], defaults={"role": CareTeamMember.Role.PRESCRIBER}
    )
    EmergencyContact.objects.create(
        client=client, name="Samira Rossi-Castellanos", relationship="sister", phone="(818) 555-0188"
    )
    provider = OutsideProvider.objects.create(
        client=client,
        name="Dr. Evangelina Montgomery-Whitfield",
        kind=OutsideProvider.Kind.PSYCHIATRIST,
        organisation="San Fernando Valley Integrated Behavioral Health Associates",
        phone="(818) 555-0177",
        release=OutsideProvider.Release.SIGNED,
        release_expires_on=timezone.localdate() + datetime.timedelta(days=180),
    )
    guardian_user = User.objects.get(email=GUARDIAN_EMAIL)
    minor = Guardian.objects.get(portal_user=guardian_user).client
    session = _session_under_way(client)
    demo = Demo(
        staff=staff,
        client=client,
        session=session,
        minor=minor,
        portal_client=portal_client,
        guardian=guardian_user,
    )
    signed = client.visits.filter(kind=Visit.Kind.MEDICATION, runbook__signed_at__isnull=False)
    demo.ids = {
        "provider": provider.pk,
        "signature": client.consent_signatures.latest("pk").pk,
        "consent_document": ConsentDocument.objects.filter(kind="kap").latest("version").pk,
        "signed_session": signed.latest("starts_at").pk,
        "integration_record": client.integration_records.latest("pk").pk,
        "response": client.responses.latest("pk").pk,
        "alert": client.alerts.latest("pk").pk,
        "screening": client.screenings.latest("pk").pk,
        "clearance": client.clearances.latest("pk").pk,
        "order": client.medication_orders.latest("pk").pk,
        "consultation": client.consultations.latest("pk").pk,
        "preparation": client.preparation_sessions.latest("pk").pk,
        "next_visit": client.visits.filter(status=Visit.Status.SCHEDULED).earliest("starts_at").pk,
        "inquiry": Inquiry.objects.filter(status=Inquiry.Status.NEW).earliest("pk").pk,
        "task_open": client.measure_tasks.filter(response__isnull=True, withdrawn_at__isnull=True)
        .earliest("due_at")
        .pk,
        "task_done": client.measure_tasks.filter(response__isnull=False).latest("pk").pk,
        "journal_entry": client.journal_entries.latest("pk").pk,
    }
    return demo


def _session_under_way(client: Client) -> Visit:
    """The demo's medication session of the day, moved to now and run to a few minutes after the
    dose: day-of checklist, pre-dose vitals, the start, the dose, a reading, a rating, a note."""
    now = timezone.now()
    minutes = lambda n: now + datetime.timedelta(minutes=n)  # noqa: E731
    visit = client.visits.get(kind=Visit.Kind.MEDICATION, status=Visit.Status.CHECKED_IN)
    Visit.objects.filter(pk=visit.pk).update(starts_at=minutes(-30), ends_at=minutes(120))
    visit.refresh_from_db()
    who, practice = visit.clinician, Practice.load()
    order = MedicationOrder.objects.active(timezone.localdate()).get(client=client)
    checklist_record(
        actor=who,
        visit=visit,
        transport_without_driving=True,
        transport_detail="Her partner drives her home",
        last_food_at=minutes(-300),
        last_liquid_at=minutes(-120),
        substances=[],
        pregnancy="not_applicable",
        suicidality_alert_reviewed=True,
        practice=practice,
    )
    factories.acknowledge_integration(visit, who)
    reading = {"systolic": 122, "diastolic": 78, "heart_rate": 70, "spo2": 98, "practice": practice}
    vitals_record(actor=who, visit=visit, phase="pre_dose", taken_at=minutes(-20), **reading)
    visit = session_start(actor=who, visit=visit, practice=practice)
    dose_record(
        actor=who,
        visit=visit,
        order=order,
        given_at=minutes(-15),
        route=order.route,
        dose_mg=order.dose_min,
        lot_number="LOT-7",
        given_by=who,
        practice=practice,
    )
    reading |= {"systolic": 161, "heart_rate": 84}  # a rise of 39: no alert, close to one
    vitals_record(actor=who, visit=visit, phase="in_session", taken_at=minutes(-5), **reading)
    rating_record(actor=who, visit=visit, rated_at=minutes(-4), sedation=1, dissociation=2)
    note_record(actor=who, visit=visit, written_at=minutes(-3), text="Eyes shaded, music on. Settled.")
    return visit


def _client(d: Demo) -> dict:
    return {"client_id": d.client.pk}


def _with(**names):
    """kwargs of the focus client plus the demo's records named (url kwarg -> Demo.ids key)."""
    return lambda d: {"client_id": d.client.pk} | {kwarg: d.ids[key] for kwarg, key in names.items()}


# URL name -> the kwargs that open it on the demo, for every page a staff role may reach.
STAFF_PAGES = {
    "home": None,
    "queue_alerts": None,
    "queue_reviews": None,
    "queue_maintenance": None,
    "queue_integrations": None,
    "queue_action_items": None,
    "queue_session_alerts": None,
    "queue_clearances": None,
    "queue_orders": None,
    "queue_events": None,
    "queue_overrides": None,
    "queue_arrivals": None,
    "clients:caseload": None,
    "clients:new": None,
    "clients:chart": _client,
    "clients:edit": _client,
    "clients:care_team": _client,
    "clients:stage": _client,
    "clients:contact_new": lambda d: {"client_id": d.client.pk, "kind": "providers"},
    "clients:contact_edit": lambda d: (
        {"client_id": d.client.pk, "kind": "providers"} | {"contact_id": d.ids["provider"]}
    ),
    "consent:status": _client,
    "consent:present": lambda d: {"client_id": d.client.pk, "kind": "kap"},
    "consent:present_release": _with(provider_id="provider"),
    "consent:signature": _with(signature_id="signature"),
    "consent_documents:list": None,
    "consent_documents:detail": lambda d: {"document_id": d.ids["consent_document"]},
    "consent_documents:new": lambda d: {"kind": "kap"},
    "dosing:runbook": lambda d: {"client_id": d.client.pk, "visit_id": d.session.pk},
    "integration:overview": _client,
    "integration:record_new": _client,
    "integration:record_detail": _with(record_id="integration_record"),
    "journal:list": _client,
    "documents:list": _client,
    "documents:new": _client,
    "documents:detail": lambda d: {
        "client_id": d.client.pk,
        "document_id": walk_document(d.client).pk,
    },
    "letters:list": _client,
    "letters:new": _client,
    "letters:detail": lambda d: {"client_id": d.client.pk, "letter_id": walk_letter(d.client).pk},
    "measures:list": _client,
    "measures:progress": _client,
    "measures:new": lambda d: {"client_id": d.client.pk, "instrument": "phq9"},
    "measures:detail": _with(response_id="response"),
    "measures:alert_close": _with(alert_id="alert"),
    "medical:summary": _client,
    "medical:screening_new": _client,
    "medical:screening_detail": _with(screening_id="screening"),
    "medical:clearance_new": _client,
    "medical:clearance_detail": _with(clearance_id="clearance"),
    "medical:order_new": _client,
    "medical:order_detail": _with(order_id="order"),
    "medical:clearance_transcribe": _client,
    "medical:order_transcribe": _client,
    "pathway:overview": _client,
    "pathway:consultation_new": _client,
    "pathway:consultation_detail": _with(consultation_id="consultation"),
    "pathway:preparation_new": _client,
    "pathway:preparation_detail": _with(session_id="preparation"),
    "pathway:plan": _client,
    "pathway:override_new": lambda d: {"client_id": d.client.pk, "gate": "clearance"},
    "visits:list": _client,
    "visits:new": _client,
    "visits:series": _client,
    "visits:detail": lambda d: {"client_id": d.client.pk, "visit_id": d.session.pk},
    "visits:reschedule": _with(visit_id="next_visit"),
    "calendar:week": None,
    "calendar:day": None,
    "calendar:month": None,
    "calendar:feed_settings": None,
    "calendar:rooms": None,
    "outcomes:report": None,
    "inquiries:inbox": None,
    "inquiries:detail": lambda d: {"inquiry_id": d.ids["inquiry"]},
    "inquiries:convert": lambda d: {"inquiry_id": d.ids["inquiry"]},
    "accounts:staff": None,
    "accounts:staff_invite": None,
    "accounts:staff_edit": lambda d: {"user_id": d.staff["therapist"].pk},
    "reminders:list": None,
    "audit_log": None,
    "practice_settings": None,
    "ops_export:page": None,
}

# The same pages again with something more to show, for the roles that may open the page itself.
VARIANTS = {
    "clients:caseload": [("search", "?q=Rossi")],
    "calendar:week": [("next", "?week=next")],
}


# Portal pages: the client's own (measures, progress, journal) and those a guardian sees too.
PORTAL_PAGES = {
    "portal:home": None,
    "portal:client_home": _client,
    "portal:todo": _client,
    "portal:preparation": _client,
    "portal:day_of": _client,
    "portal:guide": lambda d: {"client_id": d.client.pk, "topic": "the-session"},
    "portal:consents": _client,
    "portal:consent_sign": lambda d: {"client_id": d.client.pk, "kind": "telehealth"},
}
PORTAL_OWN_PAGES = {
    "portal:progress": _client,
    "portal_measures:list": _client,
    "portal_measures:task": _with(task_id="task_open"),
    "portal_measures:thanks": _with(task_id="task_done"),
    "portal_journal:list": _client,
    "portal_journal:new": _client,
    "portal_journal:entry": _with(entry_id="journal_entry"),
}


# Sending letters, disclosures and the portal's release page (tests/matrix_letter_sending.py).
# The provider's public download page is walked by tests/browser/test_letter_link.py.
def _walk_provider(d: Demo) -> dict:
    from tests.matrix_letter_sending import walk_provider

    return {"client_id": d.client.pk, "provider_id": walk_provider(d.client).pk}


STAFF_PAGES |= {
    "letter_sending:page": lambda d: {"client_id": d.client.pk, "letter_id": walk_letter(d.client).pk},
    "disclosures:list": _client,
    "disclosures:new": _client,
}
PORTAL_PAGES["portal:release_sign"] = _walk_provider


# The client's intention for their latest medication session (tests/matrix_intentions.py).
def _walk_intention(d: Demo) -> dict:
    sessions = d.client.visits.filter(kind=Visit.Kind.MEDICATION).exclude(status=Visit.Status.CANCELLED)
    return {"client_id": d.client.pk, "visit_id": sessions.latest("starts_at").pk}


PORTAL_OWN_PAGES["portal:intention"] = _walk_intention


# The therapist's own process notes (tests/matrix_process_notes.py), walked as their author, and
# the whole list of notes owed.
def _walk_process_note(d: Demo) -> dict:
    from tests.matrix_process_notes import walk_process_note

    note = walk_process_note(d.client, d.user("therapist"))
    return {"client_id": d.client.pk, "note_id": note.pk}


STAFF_PAGES |= {
    "queue_notes": None,
    "process_notes:list": _client,
    "process_notes:new": _client,
    "process_notes:detail": _walk_process_note,
}
NOT_PAGES |= {"disclosures:export"}  # a CSV file
# Importing a questionnaire from another system (tests/matrix_response_import.py): its first step.
STAFF_PAGES["records_import:start"] = _client
# The right of access (tests/matrix_record_access.py): the staff page for a written request and
# the portal's "Your record" page (a guardian sees it too, with how to ask in writing).
STAFF_PAGES["records_copy:page"] = _client
# Client-held medicine: the pharmacy fills of a client (tests/matrix_fills.py).
STAFF_PAGES["fills:list"] = _client
PORTAL_PAGES["portal:record"] = _client


# The progress notes (tests/matrix_notes.py), the course reviews and the discharge
# (tests/matrix_course.py, tests/matrix_discharge.py), on the demo client.
def _walk_visit_note(d: Demo) -> dict:
    from tests.matrix_notes import walk_visit

    return {"client_id": d.client.pk, "visit_id": walk_visit(d.client).pk}


def _walk_note(d: Demo) -> dict:
    from tests.matrix_notes import walk_note

    return {"client_id": d.client.pk, "note_id": walk_note(d.client).pk}


def _walk_review(d: Demo) -> dict:
    """The demo client's latest course review, or one decided now (continue, signed by both) on
    the plan in force: decided, so that the form for a new review opens rather than leading to
    it."""
    from kapflow.course.models import CourseReview
    from kapflow.pathway.models import CoursePlan

    review = CourseReview.objects.filter(client=d.client).first()
    if review is None:
        now = timezone.now()
        review = CourseReview.objects.create(
            client=d.client,
            plan=CoursePlan.objects.current().filter(client=d.client).first(),
            summary="Sleeping better; PHQ-9 down by half. Go on as planned.",
            decision=CourseReview.Decision.CONTINUE,
            written_by=d.user("therapist"),
            therapist_signed_by=d.user("therapist"),
            therapist_signed_at=now,
            prescriber_signed_by=d.user("prescriber"),
            prescriber_signed_at=now,
            decided_at=now,
        )
    return {"client_id": d.client.pk, "review_id": review.pk}


def _walk_discharge(d: Demo) -> dict:
    from tests.matrix_discharge import walk_discharge

    return {"client_id": d.client.pk, "discharge_id": walk_discharge(d.client).pk}


STAFF_PAGES |= {
    "notes:list": _client,
    "notes:visit": _walk_visit_note,
    "notes:detail": _walk_note,
    "course:review_new": _client,
    "course:review_detail": _walk_review,
    "course:discharge_list": _client,
    "course:discharge_new": _client,
    "course:discharge_detail": _walk_discharge,
}
WALKED_ELSEWHERE |= {"letter_links:download"}
# The controlled-substance reports (tests/matrix_controlled_reports.py): the two pages; their
# CSV and PDF are files.
STAFF_PAGES |= {"controlled_reports:ledger": None, "controlled_reports:dispensing": None}
NOT_PAGES |= {
    "controlled_reports:ledger_csv",
    "controlled_reports:ledger_pdf",
    "controlled_reports:dispensing_csv",
    "controlled_reports:dispensing_pdf",
}


# Inventories, discrepancies and theft or loss reports (tests/matrix_inventory.py).
def _walk_inventory(d: Demo) -> dict:
    from tests.matrix_inventory import walk_discrepancy

    return {"inventory_id": walk_discrepancy(d.user("admin")).count.inventory_id}


def _walk_discrepancy(d: Demo) -> dict:
    from tests.matrix_inventory import walk_discrepancy

    return {"discrepancy_id": walk_discrepancy(d.user("admin")).pk}


def _walk_loss_report(d: Demo) -> dict:
    from tests.matrix_inventory import walk_loss_report

    return {"report_id": walk_loss_report(d.user("admin")).pk}


STAFF_PAGES |= {
    "inventory:list": None,
    "inventory:initial": None,
    "inventory:new": None,
    "inventory:detail": _walk_inventory,
    "inventory:discrepancy": _walk_discrepancy,
    "inventory:losses": None,
    "inventory:loss_new": None,
    "inventory:loss_detail": _walk_loss_report,
}

# The Spravato REMS (tests/matrix_rems.py): the practice's forms to submit and a client's
# enrolment; the form's PDF is a file.
STAFF_PAGES |= {"rems:list": None, "rems_enrolment:enrolment": _client}
NOT_PAGES |= {"dosing:rems_pdf"}


# The stock pages (tests/matrix_stock.py): the stock on hand, a receipt, a lot's ledger and the
# entries posted from it, on a lot of the demo (or one made for the walk).
def _walk_lot(d: Demo) -> dict:
    from tests.matrix_stock import walk_lot

    return {"lot_id": walk_lot(d).pk}


def _walk_stock_entry(d: Demo) -> dict:
    from tests.matrix_stock import walk_entry

    return walk_entry(d)


def _walk_dose_entry(d: Demo) -> dict:
    from tests.matrix_stock import walk_dose

    return walk_dose(d)


STAFF_PAGES |= {
    "controlled:stock": None,
    "controlled:receipt": None,
    "controlled:lot": _walk_lot,
    "controlled:transfer": _walk_lot,
    "controlled:return": _walk_lot,
    "controlled:destruction": _walk_lot,
    "controlled:correction": _walk_stock_entry,
    "controlled:dose_repost": _walk_dose_entry,
}


# The money ledger (tests/matrix_billing.py): the practice's billing page, the client's account
# and one of its invoices (made for the walk where the demo has none).
def _walk_invoice(d: Demo) -> dict:
    from tests.matrix_billing import walk_invoice

    return {"client_id": d.client.pk, "invoice_id": walk_invoice(d).pk}


STAFF_PAGES |= {
    "billing:overview": None,
    "client_billing:account": _client,
    "client_billing:invoice": _walk_invoice,
}


# The rest of billing (tests/matrix_fees.py, matrix_diagnoses.py, matrix_estimates.py,
# matrix_superbills.py, matrix_income.py, matrix_portal_billing.py): the fee schedule and a
# line of it, the demo client's diagnoses, estimates and superbills, the practice's estimates due
# and income, and the portal's statements and estimates (the client's own: the demo guardian's
# minor has no bills to show).
def _walk_fee(d: Demo) -> dict:
    from tests.matrix_fees import walk_fee

    return walk_fee(d)


def _walk_diagnosis(d: Demo) -> dict:
    from kapflow.billing.models import Diagnosis

    diagnosis = Diagnosis.objects.filter(client=d.client, ended_on__isnull=True).order_by("pk").first()
    if diagnosis is None:
        diagnosis = Diagnosis.objects.create(
            client=d.client,
            code="F33.1",
            description="Major depressive disorder, recurrent, moderate",
            diagnosed_on=timezone.localdate() - datetime.timedelta(days=30),
            diagnosed_by=d.user("therapist"),
        )
    return {"client_id": d.client.pk, "diagnosis_id": diagnosis.pk}


def _walk_estimate(d: Demo) -> dict:
    from kapflow.billing.models import Estimate

    estimate = Estimate.objects.filter(client=d.client).order_by("-pk").first()
    if estimate is None:
        from tests.matrix_estimates import build

        world = {"cora": d.user("coordinator"), "avery": d.client, "olive": d.minor}
        build(world)
        estimate = world["estimates"][d.client.pk]
    return {"client_id": d.client.pk, "estimate_id": estimate.pk}


STAFF_PAGES |= {
    "fees:schedule": None,
    "fees:line": _walk_fee,
    "fees:new": None,
    "fees:change": _walk_fee,
    "fees:withdraw": _walk_fee,
    "diagnoses:list": _client,
    "diagnoses:new": _client,
    "diagnoses:end": _walk_diagnosis,
    "estimates:list": _client,
    "estimates:detail": _walk_estimate,
    "estimates:new": _client,
    "estimates_due:list": None,
    "superbills:list": _client,
    "income:income": None,
}
PORTAL_OWN_PAGES |= {
    "portal_billing:statements": _client,
    "portal_billing:invoice": _walk_invoice,
    "portal_estimates:list": _client,
    "portal_estimates:detail": _walk_estimate,
}
NOT_PAGES |= {
    "estimates:pdf",  # a PDF file
    "portal_estimates:pdf",  # a PDF file
    "superbills:download",  # a PDF file
    "portal_billing:superbill",  # a PDF file
    "income:income_csv",  # a CSV file
}


@dataclass
class WalkedPage:
    name: str
    path: str
    checked: bool  # by axe, and photographed, here (another role's walk does it otherwise)


def _staff_page_names(role: str) -> list[str]:
    """The names of the pages `role` opens: the access matrix's pages that role may open, with
    their VARIANTS, and a few more (named as in `staff_pages`)."""
    from tests.access_rules import OK
    from tests.test_access_matrix import MATRIX

    names = []
    for name in STAFF_PAGES:
        if MATRIX[name][1](PERSONAS[role], "avery") == OK:
            names += [name] + [f"{name}-{label}" for label, _query in VARIANTS.get(name, [])]
    if role == "admin":  # the same for everyone: walked once
        names += ["two-factor", "not-found"]
    if role in ("admin", "coordinator", "prescriber"):  # on the minor's care team, or all clients
        names.append("chart-minor")
    if role in ("therapist", "prescriber"):  # the signed record of an earlier session
        names.append("runbook-signed")
    return names


def _path(name: str, demo: Demo) -> str:
    extra = {
        "two-factor": "/accounts/2fa/",
        "not-found": "/no-such-page/",
        "chart-minor": reverse("clients:chart", args=[demo.minor.pk]),
        "runbook-signed": reverse("dosing:runbook", args=[demo.client.pk, demo.ids["signed_session"]]),
    }
    if name in extra:
        return extra[name]
    url_name, _, label = name.partition("-")
    build = STAFF_PAGES[url_name]
    query = dict(VARIANTS.get(url_name, [])).get(label, "")
    return reverse(url_name, kwargs=build(demo) if build else None) + query


def _checked_by() -> dict[str, set[str]]:
    """role -> the pages it checks: each page by the role, among those that open it, whose walk
    is the shortest so far (the same answer in every pytest-xdist worker)."""
    names = {role: _staff_page_names(role) for role in PERSONAS}
    cost = {role: VISIT_COST * len(names[role]) for role in PERSONAS}
    checks = {role: set() for role in PERSONAS}
    every = dict.fromkeys(name for role in PERSONAS for name in names[role])  # in walking order
    for name in every:
        openers = [role for role in PERSONAS if name in names[role]]
        for role in openers if name in CHECKED_BY_EVERY_ROLE else [min(openers, key=cost.get)]:
            checks[role].add(name)
            cost[role] += CHECK_COST
    return checks


def staff_pages(role: str, demo: Demo) -> list[WalkedPage]:
    """Every page `role` may open, in the order of STAFF_PAGES."""
    checked = _checked_by()[role]
    return [WalkedPage(name, _path(name, demo), name in checked) for name in _staff_page_names(role)]


def portal_pages(who: str, demo: Demo) -> list[WalkedPage]:
    """The portal as the client ("client") or as the guardian of the demo's teenager."""
    client = demo.client if who == "client" else demo.minor
    view = Demo(**{**demo.__dict__, "client": client})
    pages = dict(PORTAL_PAGES) | (PORTAL_OWN_PAGES if who == "client" else {})
    return [
        WalkedPage(name, reverse(name, kwargs=build(view) if build else None), checked=True)
        for name, build in pages.items()
    ]


def unwalked_page_names() -> set[str]:
    """URL names in the access matrix that answer GET and that no walk here opens."""
    from tests.test_access_matrix import MATRIX

    walked = STAFF_PAGES.keys() | PORTAL_PAGES.keys() | PORTAL_OWN_PAGES.keys() | WALKED_ELSEWHERE
    return {name for name, (method, _r, _k) in MATRIX.items() if method == "get"} - walked - NOT_PAGES


# Run in the page: how far it scrolls sideways, and the element that reaches furthest right.
_OVERFLOW_SCRIPT = """
() => {
  const root = document.documentElement;
  const overflow = root.scrollWidth - root.clientWidth;
  if (overflow <= 0) return null;
  // Sticking out of a box that scrolls or clips (a .table-wrap) moves nothing on the page,
  // unless the element is positioned against something outside that box.
  const clipped = (el) => {
    const position = getComputedStyle(el).position;
    if (position === "fixed") return false;
    const first = position === "absolute" ? el.offsetParent : el.parentElement;
    for (let up = first; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX === "visible") continue;
      return up.getBoundingClientRect().right <= root.clientWidth;
    }
    return false;
  };
  let widest = null, right = 0;
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= root.clientWidth || clipped(el)) continue;
    // The outermost element that sticks out, unless a child sticks out further.
    if (box.right > right + 1) { right = box.right; widest = el; }
  }
  const describe = (el) => {
    if (!el) return "?";
    const classes = el.classList.length ? "." + Array.from(el.classList).join(".") : "";
    const id = el.id ? "#" + el.id : "";
    const text = (el.textContent || "").replace(/\\s+/g, " ").trim().slice(0, 60);
    const width = Math.round(el.getBoundingClientRect().width);
    return `<${el.tagName.toLowerCase()}${id}${classes}> ${width}px wide, "${text}"`;
  };
  return {overflow, widest: describe(widest)};
}
"""

_axe = Axe()


def overflow_problem(page: Page, width: int) -> str | None:
    found = page.evaluate(_OVERFLOW_SCRIPT)
    if found is None:
        return None
    return f"at {width}px the page scrolls sideways by {found['overflow']}px; widest: {found['widest']}"


def axe_problems(page: Page) -> list[str]:
    """One line per axe-core violation, naming the rule, its impact and the first elements."""
    response = _axe.run(page).response
    problems = []
    for violation in response["violations"]:
        targets = [", ".join(node["target"]) for node in violation["nodes"]]
        shown = "; ".join(targets[:3]) + (f" (+{len(targets) - 3} more)" if len(targets) > 3 else "")
        problems.append(f"axe {violation['id']} ({violation['impact']}): {violation['help']} [{shown}]")
    return problems


def check_widths(page: Page, name: str, *, axe: bool = True, screenshot=None) -> list[str]:
    """Sideways scrolling at every width, and with `axe` the axe-core rules at AXE_WIDTH; with
    `screenshot` (a folder and a width), a picture of the whole page at that width, named
    <name>-<width>.png (clients_chart for clients:chart). Goes from the width the page is at to
    the other end, where the next page starts, so as to lay each page out three times, not four."""
    problems = []
    widths = WIDTHS if page.viewport_size["width"] == WIDTHS[0] else WIDTHS[::-1]
    for width in widths:
        if page.viewport_size["width"] != width:
            page.set_viewport_size({"width": width, "height": HEIGHT})
        if (problem := overflow_problem(page, width)) is not None:
            problems.append(problem)
        if axe and width == AXE_WIDTH:
            problems += axe_problems(page)
        if screenshot is not None and width == screenshot[1]:
            # No ":" from the URL names: artifact uploads refuse it in a file name.
            file_name = f"{name.replace(':', '_')}-{width}.png"
            page.screenshot(path=screenshot[0] / file_name, full_page=True)
    return problems
