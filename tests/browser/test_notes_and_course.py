"""Issue 15 in the browser: the notes a therapist owes and writes through a week, and a client's
course from a preparation note to a signed discharge summary (docs/notes.md, docs/intentions.md,
docs/course.md).

A therapist signs in to the dashboard's "Notes owed", oldest first; opens each visit's note from
there, writes it while the autosave says it saved, reloads mid-way to find the typing still
there, and signs it, which completes the visit; the preparation note's topics and intentions
count towards the readiness gate; at the end nothing is owed. Then one client's thread: a
preparation note, the client's intention on the portal, the runbook's opening phase showing it,
the integration note starting from it, a course review signed by the therapist and the
prescriber deciding to end, and the discharge written and signed, whose summary shows the
sessions, the change in the PHQ-9 and GAD-7 and the crisis resources; the chart says Discharged.

Running a medication session in the browser has its own tests (test_runbook_session.py): here
the sessions themselves are made in the database, signed, as tests/test_letters.py makes them.
The note editors, the review and the summary are checked by axe-core for serious problems."""

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from kapflow.clients.models import Client
from kapflow.course.models import CourseReview, Discharge
from kapflow.dosing.models import Administration, Runbook
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.measures.instruments import GAD7, PHQ9
from kapflow.measures.models import Response
from kapflow.notes.models import ProgressNote, SessionIntention
from kapflow.pathway.models import Consultation, CoursePlan, PreparationSession, Topic
from kapflow.visits.models import Visit
from tests import factories
from tests.browser import walk
from tests.browser.conftest import SCREENSHOTS, TAKE_SCREENSHOTS
from tests.browser.pages import PASSWORD, accessibility_problems, sign_in_through_form
from tests.matrix_notes import held_visit

pytestmark = pytest.mark.browser

SHOTS = SCREENSHOTS / "notes-and-course"
TOTP_SECRET = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U"
NOTHING_OWED = "None: every visit of yours that has begun has its note signed."
SAVED = re.compile(r"^Saved at \d\d:\d\d$")
PANEL = "Ready for a medication session?"
INTENTION = "To meet the grief about my brother with less fear, and to feel my body again."
PREPARED = "To stop bracing against sadness."


def shot(page: Page, name: str) -> None:
    """A picture of the whole page, when pictures are asked for (`make screenshots`)."""
    if TAKE_SCREENSHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def serious_problems(page: Page) -> list[str]:
    """The page's own checks (one <h1>, a <main>, labels, no sideways scrolling) and every axe-core
    violation whose impact is serious or critical."""
    return accessibility_problems(page) + [
        problem for problem in walk.axe_problems(page) if re.search(r"\((serious|critical)\)", problem)
    ]


def hold_session(visit: Visit, prescriber, *, days_ago: float, mg: str = "175") -> Visit:
    """The medication session `visit`, moved to `days_ago` and run: a dose given, the client
    discharged home, the record signed, the visit completed (the runbook in the browser has its own tests)."""
    start = timezone.now() - datetime.timedelta(days=days_ago)
    Visit.objects.filter(pk=visit.pk).update(
        starts_at=start, ends_at=start + datetime.timedelta(hours=2), status=Visit.Status.COMPLETED
    )
    order = factories.standing_order(visit.client, prescriber)
    runbook = Runbook.objects.create(visit=visit)
    Administration.objects.create(
        runbook=runbook,
        order=order,
        given_at=start + datetime.timedelta(minutes=10),
        route="sublingual",
        dose_mg=Decimal(mg),
        lot_number="KL24007",
        given_by=prescriber,
        recorded_by=prescriber,
    )
    Runbook.objects.filter(pk=runbook.pk).update(
        discharged_at=start + datetime.timedelta(minutes=120),
        discharged_by=prescriber,
        alert_and_oriented=True,
        steady_on_feet=True,
        escort_present=True,
    )
    Runbook.objects.filter(pk=runbook.pk).update(
        signed_at=start + datetime.timedelta(minutes=130), signed_by=prescriber
    )
    visit.refresh_from_db()
    return visit


def medication_visit(client, clinician, *, starts_in: datetime.timedelta) -> Visit:
    start = timezone.now() + starts_in
    return Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=2),
        clinician=clinician,
        created_by=clinician,
    )


def respond(client, instrument, total: int, days_ago: float) -> Response:
    return Response.objects.create(
        client=client,
        instrument=instrument.key,
        version="1",
        answers={},
        total=total,
        band=instrument.band_for(total).label,
        completed_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


def owed(page: Page):
    return page.get_by_role("region", name="Notes owed")


def saved_line(page: Page):
    """The editor's line under the form that says whether the draft is saved (a live region)."""
    return page.locator("#note-saved")


def today(page: Page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Today", exact=True).first.click()
    expect(owed(page)).to_be_visible()


def write_and_sign(page: Page, sections: dict[str, str], *, done: str) -> None:
    """Fill the editor's fields by their labels, see the draft saved, and sign (the page's
    dialog handler says yes to "Sign the note?")."""
    for label, text in sections.items():
        page.get_by_role("textbox", name=label, exact=True).fill(text)
    expect(saved_line(page)).to_have_text(SAVED)
    page.get_by_role("button", name="Sign the note").click()
    expect(page.get_by_text(done)).to_be_visible()


def expect_completed(page: Page, kind_label: str) -> None:
    """From the signed note to its visit's page: the visit is completed."""
    page.get_by_role("link", name="The visit", exact=True).click()
    visit_card = page.get_by_role("region", name=kind_label, exact=True)
    expect(visit_card).to_contain_text("Completed")
    expect(page.get_by_role("link", name="Signed note")).to_be_visible()


@pytest.fixture
def week(transactional_db):
    """Tess's week: four clients whose visits have begun and whose notes are not written, the
    oldest (a preparation four days ago) past the practice's 72 hours."""
    tess = factories.make_user(
        "Tess Therapist", roles=("is_therapist",), email="tess@example.org", mfa=False, password=PASSWORD
    )
    tess.credentials = "LMFT"
    tess.save(update_fields=["credentials"])
    factories.enrol_totp(tess, TOTP_SECRET)
    priya = factories.make_user("Priya Prescriber", roles=("is_prescriber",), email="priya@example.org")
    clients = {
        name: factories.make_client(first_name=name, last_name=last, therapist=tess, prescriber=priya)
        for name, last in (("Avery", "Alvarez"), ("Blake", "Bryant"), ("Casey", "Chen"), ("Dana", "Diaz"))
    }
    session = medication_visit(clients["Blake"], tess, starts_in=datetime.timedelta(days=-1))
    hold_session(session, priya, days_ago=3)
    visits = {
        "Avery": held_visit(clients["Avery"], tess, kind=Visit.Kind.PREPARATION, days_ago=4),
        "Blake": held_visit(clients["Blake"], tess, kind=Visit.Kind.INTEGRATION, days_ago=2),
        "Casey": held_visit(clients["Casey"], tess, kind=Visit.Kind.THERAPY, days_ago=1),
        "Dana": held_visit(clients["Dana"], tess, kind=Visit.Kind.PROGRESS_REVIEW, days_ago=2 / 24),
    }
    # Not owed: someone else's visit, a cancelled one, and one still to come.
    held_visit(clients["Casey"], priya, kind=Visit.Kind.MEDICAL_EVALUATION, days_ago=1)
    Visit.objects.filter(
        pk=held_visit(clients["Casey"], tess, kind=Visit.Kind.THERAPY, days_ago=3).pk
    ).update(status=Visit.Status.CANCELLED, cancel_reason="The client was ill.")
    held_visit(clients["Dana"], tess, kind=Visit.Kind.THERAPY, days_ago=-2)
    return {"tess": tess, "clients": clients, "visits": visits, "session": session}


def test_a_therapists_week_of_notes_from_owed_to_none(open_page, week, console_errors):
    clients, visits = week["clients"], week["visits"]
    page = open_page()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in_through_form(page, "tess@example.org", totp_secret=TOTP_SECRET)

    # The dashboard: four notes owed, oldest first, the oldest overdue.
    card = owed(page)
    expect(card.get_by_role("link")).to_have_text(
        [clients[name].display_name for name in ("Avery", "Blake", "Casey", "Dana")]
    )
    rows = card.get_by_role("listitem")
    expect(rows.nth(0)).to_contain_text("Preparation session of")
    expect(rows.nth(0)).to_contain_text("not begun")
    expect(rows.nth(0)).to_contain_text("Overdue")
    for index in (1, 2, 3):
        expect(rows.nth(index)).not_to_contain_text("Overdue")
    shot(page, "1-dashboard-notes-owed")

    # 1. The oldest, a preparation: typed, saved, the page reloaded, the typing still there.
    card.get_by_role("link", name=clients["Avery"].display_name).click()
    expect(page).to_have_url(
        re.compile(rf"/clients/{clients['Avery'].pk}/notes/visits/{visits['Avery'].pk}/$")
    )
    page.wait_for_load_state("load")  # the editor's script is running: the typing below is autosaved
    expect(saved_line(page)).to_have_text("Not saved yet")
    subjective = "Nervous about the first session; slept badly. Asked what the medicine feels like."
    page.get_by_role("textbox", name="Subjective", exact=True).fill(subjective)
    expect(saved_line(page)).to_have_text(SAVED)
    assert ProgressNote.objects.get(visit=visits["Avery"]).sections["subjective"] == subjective
    # A draft is not a preparation session: the readiness gate counts signed notes only.
    assert not PreparationSession.objects.filter(client=clients["Avery"]).exists()
    page.reload()
    expect(page.get_by_role("textbox", name="Subjective", exact=True)).to_have_value(subjective)
    expect(saved_line(page)).to_have_text(SAVED)
    # Away to the dashboard, which says the draft is saved, and back from there.
    today(page)
    expect(owed(page).get_by_role("listitem").nth(0)).to_contain_text("draft saved")
    owed(page).get_by_role("link", name=clients["Avery"].display_name).click()
    expect(page.get_by_role("textbox", name="Subjective", exact=True)).to_have_value(subjective)
    topics = page.get_by_role("checkbox")
    expect(topics).to_have_count(len(Topic))
    for topic in Topic:
        page.get_by_role("checkbox", name=topic.label).check()
    page.get_by_role("textbox", name="Intentions, in the client's own words").fill(PREPARED)
    page.get_by_role("textbox", name="Risk assessment").fill("No suicidal thoughts; safety plan reviewed.")
    expect(saved_line(page)).to_have_text(SAVED)
    shot(page, "2-note-editor-preparation")
    assert serious_problems(page) == []
    write_and_sign(
        page,
        {"Objective": "Calm, engaged.", "Plan": "First medication session next week."},
        done="Note signed (a late entry); the preparation session is completed.",
    )
    expect(page.get_by_text("Late entry: written and signed on")).to_be_visible()
    shot(page, "3-note-signed")
    expect_completed(page, "Preparation session")
    # The topics and intentions count towards the readiness gate.
    page.get_by_role("link", name=clients["Avery"].display_name).first.click()
    preparation = (
        page.get_by_role("region", name=PANEL)
        .get_by_role("listitem")
        .filter(has=page.get_by_text("Preparation", exact=True))
    )
    expect(preparation.locator(".gate-reason")).to_have_text(
        "1 preparation session; every topic covered; intentions recorded."
    )
    prepared = PreparationSession.objects.get(client=clients["Avery"])
    assert set(prepared.topics) == set(Topic.values) and prepared.intentions == PREPARED

    # 2. The integration: it names the session it follows.
    today(page)
    expect(owed(page).get_by_role("link")).to_have_text(
        [clients[name].display_name for name in ("Blake", "Casey", "Dana")]
    )
    owed(page).get_by_role("link", name=clients["Blake"].display_name).click()
    follows = page.get_by_role("region", name="The session this integration follows")
    expect(follows).to_contain_text(
        f"Medication session of {timezone.localtime(week['session'].starts_at):%A}"
    )
    expect(follows).to_contain_text("No intention was recorded for that session.")
    write_and_sign(
        page,
        {
            "Subjective": "Felt held; saw his father's garden.",
            "Integration themes": "Grief, and permission to rest.",
            "Plan": "Walk daily; journal.",
        },
        done="Note signed; the integration session is completed.",
    )
    expect_completed(page, "Integration session")

    # 3. The therapy session, and 4. today's progress review.
    today(page)
    owed(page).get_by_role("link", name=clients["Casey"].display_name).click()
    write_and_sign(
        page,
        {"Subjective": "Work stress lower.", "Plan": "Weekly, same time."},
        done="Note signed; the therapy session is completed.",
    )
    expect_completed(page, "Therapy session")
    today(page)
    owed(page).get_by_role("link", name=clients["Dana"].display_name).click()
    expect(page.get_by_text("is written and signed in the client's course review")).to_be_visible()
    write_and_sign(
        page,
        {"Assessment": "PHQ-9 down from 17 to 9.", "Plan": "Course review with the prescriber."},
        done="Note signed; the progress review is completed.",
    )
    expect_completed(page, "Progress review")

    today(page)
    expect(owed(page)).to_contain_text(NOTHING_OWED)
    shot(page, "4-dashboard-nothing-owed")
    for visit in visits.values():
        visit.refresh_from_db()
        assert visit.status == Visit.Status.COMPLETED
        note = ProgressNote.objects.get(visit=visit)
        assert note.is_signed and note.signature == "Tess Therapist, LMFT"
    assert console_errors == []


@pytest.fixture
def course(transactional_db):
    """Robin, in a one-session course with Tess and Priya: consulted, planned, her PHQ-9 and GAD-7
    taken before the course; a preparation held three days ago, the medication session coming in
    two hours, and the integration booked (as held) for after it."""
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")
    tess.credentials = "LMFT"
    tess.save(update_fields=["credentials"])
    priya = factories.make_user("Priya Prescriber", roles=("is_prescriber",), email="priya@example.org")
    robin_user = factories.make_user(
        "Robin Reyes", roles=("is_client",), email="robin@example.org", mfa=False
    )
    robin = factories.make_client(
        first_name="Robin", last_name="Reyes", therapist=tess, prescriber=priya, stage=Client.Stage.COURSE
    )
    robin.portal_user = robin_user
    robin.save(update_fields=["portal_user"])
    Consultation.objects.create(
        client=robin,
        held_on=timezone.localdate() - datetime.timedelta(days=30),
        clinician=tess,
        why_kap="Depression since her brother's death, unchanged by two antidepressants",
        history="h",
        previous_treatment="Sertraline, then bupropion",
        supports="Partner",
        expectations="e",
        goals="Grieve without going under",
        decision=Consultation.Decision.PROCEED,
    )
    CoursePlan.objects.create(client=robin, goals="Lift the depression", planned_sessions=1, updated_by=tess)
    respond(robin, PHQ9, 18, days_ago=20)
    respond(robin, GAD7, 14, days_ago=20)
    preparation = held_visit(robin, tess, kind=Visit.Kind.PREPARATION, days_ago=2.8)
    session = medication_visit(robin, tess, starts_in=datetime.timedelta(hours=2))
    integration = held_visit(robin, tess, kind=Visit.Kind.INTEGRATION, days_ago=1)
    return {
        "tess": tess,
        "priya": priya,
        "robin_user": robin_user,
        "robin": robin,
        "preparation": preparation,
        "session": session,
        "integration": integration,
    }


def test_from_a_preparation_note_to_a_signed_discharge_summary(open_page, course, console_errors):
    tess, priya, robin = course["tess"], course["priya"], course["robin"]
    session = course["session"]
    page = open_page(tess)
    page.on("dialog", lambda dialog: dialog.accept())

    # The preparation note, from the visit's page.
    page.goto(reverse("visits:detail", args=[robin.pk, course["preparation"].pk]))
    page.get_by_role("link", name="Write the note").click()
    for topic in (Topic.INTENTIONS, Topic.DAY_OF, Topic.INTEGRATION):
        page.get_by_role("checkbox", name=topic.label).check()
    page.get_by_role("textbox", name="Intentions, in the client's own words").fill(PREPARED)
    write_and_sign(
        page,
        {"Subjective": "Ready, a little afraid.", "Plan": "Medication session booked."},
        done="Note signed; the preparation session is completed.",
    )

    # The client enters her intention on the portal, for the session in two hours.
    portal = open_page(course["robin_user"])
    portal.goto(reverse("portal:client_home", args=[robin.pk]))
    portal.get_by_role("textbox", name=re.compile(r"^Your intention for your session on")).fill(INTENTION)
    portal.get_by_role("button", name="Save my intention").click()
    expect(portal.get_by_text("Saved. Your therapist will read it before your session.")).to_be_visible()
    expect(portal.get_by_text(INTENTION)).to_be_visible()
    shot(portal, "5-portal-intention")
    assert SessionIntention.objects.get(visit=session).source == SessionIntention.Source.PORTAL

    # The runbook's opening phase shows it, with the intentions set in preparation.
    page.goto(reverse("dosing:runbook", args=[robin.pk, session.pk]))
    intention = page.get_by_role("region", name="Intention", exact=True)
    expect(intention).to_contain_text(INTENTION)
    expect(intention).to_contain_text("Entered by Robin Reyes on the portal")
    expect(intention).to_contain_text(PREPARED)
    shot(page, "6-runbook-intention")

    # The session is held (in the database), and her scores fall after it.
    hold_session(session, priya, days_ago=2, mg="200")
    respond(robin, PHQ9, 6, days_ago=0.5)
    respond(robin, GAD7, 4, days_ago=0.5)

    # The integration note starts from the intention.
    page.goto(reverse("visits:detail", args=[robin.pk, course["integration"].pk]))
    page.get_by_role("link", name="Write the note").click()
    follows = page.get_by_role("region", name="The session this integration follows")
    expect(follows).to_contain_text(INTENTION)
    shot(page, "6b-note-editor-integration")
    assert serious_problems(page) == []
    write_and_sign(
        page,
        {
            "Subjective": "She spoke to her brother in the session, and cried, and rested.",
            "Integration themes": "Grief held rather than fought.",
            "Plan": "Course review with the prescriber.",
        },
        done="Note signed; the integration session is completed.",
    )
    expect(page.get_by_role("region", name="The session this integration follows")).to_contain_text(INTENTION)
    assert ProgressNote.objects.get(visit=course["integration"]).session_intention == INTENTION

    # A course review from the chart's Course card: the one planned session is held.
    page.goto(reverse("clients:chart", args=[robin.pk]))
    course_card = page.get_by_role("region", name="Course", exact=True)
    expect(course_card).to_contain_text("Session 1 of 1")
    expect(course_card).to_contain_text("Review due after session 1")
    course_card.get_by_role("link", name=re.compile(r"^write (a course|the) review$")).click()
    page.get_by_role("textbox", name="Progress, in the reviewers' words").fill(
        "PHQ-9 from 18 to 6, GAD-7 from 14 to 4 after one session; she wants to go on in weekly therapy."
    )
    page.get_by_label("End the course (discharge)").check()
    page.get_by_role("button", name="Write the review").click()
    expect(
        page.get_by_text("The course review is written: the therapist and the prescriber sign it next.")
    ).to_be_visible()
    shot(page, "7-review-written")
    assert serious_problems(page) == []
    page.get_by_role("button", name="Sign as the therapist").click()
    expect(
        page.get_by_text("Signed as the therapist. The review waits for the other signature.")
    ).to_be_visible()

    # The prescriber, in another browser, signs from her dashboard.
    prescriber = open_page(priya)
    prescriber.goto("/")
    waiting = prescriber.get_by_role("region", name="Course reviews waiting for your signature")
    expect(waiting).to_contain_text("the therapist has signed")
    waiting.get_by_role("link", name=robin.display_name).click()
    prescriber.get_by_role("button", name="Sign as the prescriber").click()
    expect(
        prescriber.get_by_text("Both have signed: the course ends. Write the discharge next.")
    ).to_be_visible()
    shot(prescriber, "8-review-decided")
    review = CourseReview.objects.get(client=robin)
    assert review.is_decided and review.decision == CourseReview.Decision.END

    # An action item from an integration record, still open: the discharge carries it forward.
    record = IntegrationRecord.objects.create(client=robin, clinician=tess, themes="Grief held.")
    ActionItem.objects.create(client=robin, record=record, text="Call my brother on Sundays")

    # The discharge, written and signed by the therapist.
    page.reload()
    page.get_by_role("link", name="Write the discharge").click()
    page.get_by_label("Completed the course").check()
    page.get_by_role("textbox", name="Condition and risk at discharge").fill(
        "Mood lifted; no suicidal ideation; low risk."
    )
    page.get_by_role("textbox", name="Aftercare recommendations").fill(
        "Weekly therapy with Tess; come back if the low mood returns."
    )
    page.get_by_role("textbox", name="Referrals").fill("Grief group at the community centre.")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Draft saved. Read the summary through, then sign it.")).to_be_visible()
    expect(page.get_by_text("1 action item is still open. Signing leaves it as it is")).to_be_visible()
    shot(page, "8b-discharge-draft")
    assert serious_problems(page) == []
    page.get_by_role("button", name="Sign the discharge").click()
    expect(page.get_by_text(f"Signed. {robin.display_name} is discharged")).to_be_visible()

    # The summary: the session, the scores' change with response and remission, crisis resources.
    the_course = page.get_by_role("region", name="The course", exact=True)
    sessions = the_course.get_by_role("table", name="Medication sessions")
    expect(sessions.get_by_role("row")).to_have_count(2)
    scores = the_course.get_by_role("table", name="Baseline to latest")
    phq9 = scores.get_by_role("row").filter(has_text="PHQ-9")
    gad7 = scores.get_by_role("row").filter(has_text="GAD-7")
    expect(phq9.get_by_role("cell")).to_have_text(
        [PHQ9.name, re.compile(r"^18 "), re.compile(r"^6 "), "-12", "Yes", "No"]
    )
    expect(gad7.get_by_role("cell")).to_have_text(
        [GAD7.name, re.compile(r"^14 "), re.compile(r"^4 "), "-10", "Yes", "Yes"]
    )
    items = page.get_by_role("region", name="Action items").get_by_role("table")
    expect(items.get_by_role("row").filter(has_text="Call my brother on Sundays")).to_contain_text(
        "Open, carried forward"
    )
    at_discharge = page.get_by_role("region", name="At discharge")
    expect(at_discharge).to_contain_text("988")
    expect(at_discharge).to_contain_text("Grief group at the community centre.")
    expect(page.get_by_role("region", name="Discharge summary")).to_contain_text("Tess Therapist, LMFT, ")
    shot(page, "9-discharge-summary")
    assert serious_problems(page) == []
    discharge = Discharge.objects.get(client=robin)
    assert discharge.is_signed and discharge.facts.get("crisis_resources")

    # The chart: Discharged, leading to the summary.
    page.get_by_role("link", name=robin.display_name).first.click()
    expect(page.get_by_role("region", name="Client")).to_contain_text("Discharged")
    expect(page.get_by_role("region", name="Course", exact=True)).to_contain_text("Course ended")
    shot(page, "10-chart-discharged")
    page.get_by_role("link", name="Discharge summary", exact=True).click()
    expect(page.get_by_role("row").filter(has_text="Completed the course")).to_contain_text("Signed")
    robin.refresh_from_db()
    assert robin.stage == Client.Stage.DISCHARGED
    assert console_errors == []
