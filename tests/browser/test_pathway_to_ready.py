"""The way to the first medication session, in the browser: every gate of the readiness panel
("Ready for a medication session?") resolved by the person who may resolve it, and after each
step the panel's reason for that gate read again, as a tired clinician would read it.

The consent documents (version 1 of each kind) come from a data migration, which the flush
after every browser test empties; `consent_documents` puts them back first."""

import datetime
import importlib
import re

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from playwright.sync_api import Page, expect

from kapflow.clients.models import Client
from kapflow.medical import screening
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.medical.services import clearance_latest_end
from kapflow.pathway.models import Consultation, PreparationSession, Topic
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.browser.conftest import SCREENSHOTS
from tests.browser.pages import h1

pytestmark = pytest.mark.browser

PANEL = "Ready for a medication session?"
GATES = (
    "Consultation",
    "Contraindication screening",
    "Medical clearance",
    "Medication order",
    "Consent",
    "Preparation",
    "Course plan",
)


@pytest.fixture(autouse=True)
def consent_documents(transactional_db):
    """Version 1 of every consent document, as the data migration writes it (it does nothing for
    a kind that already has one)."""
    migration = importlib.import_module("kapflow.consent.migrations.0002_default_documents")
    migration.create(django_apps, None)


@pytest.fixture
def tess():
    return factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")


@pytest.fixture
def priya():
    return factories.make_user("Priya Prescriber", roles=("is_prescriber",), email="priya@example.org")


def day(value: datetime.date) -> str:
    """How the gates write a date: May 3, 2026."""
    return f"{value:%b} {value.day}, {value.year}"


def short_day(value: datetime.date) -> str:
    """How the consent gate writes a date this year: May 3."""
    return f"{value:%b} {value.day}"


def panel(page: Page):
    return page.get_by_role("region", name=PANEL)


def gate_row(page: Page, label: str):
    return panel(page).get_by_role("listitem").filter(has=page.get_by_text(label, exact=True))


def expect_panel(page: Page, verdict: str, gates: dict[str, tuple[str, str]]) -> None:
    """The panel's verdict ("Ready" or "Not yet") and, for every gate, whether it passes or
    blocks (the words a screen reader hears) and its reason. A blocking gate offers "Resolve"."""
    expect(panel(page).locator(".card-head .badge")).to_have_text(verdict)
    expect(panel(page).get_by_role("listitem")).to_have_count(len(GATES))
    for label in GATES:
        state, reason = gates[label]
        row = gate_row(page, label)
        expect(row.locator(".gate-body > .visually-hidden")).to_have_text(f"{state}:")
        expect(row.locator(".gate-reason")).to_have_text(reason)
        resolve = row.get_by_role("link", name=f"Resolve {label.lower()}")
        expect(resolve).to_have_count(1 if state == "blocks" else 0)


def resolve(page: Page, label: str) -> None:
    gate_row(page, label).get_by_role("link", name=f"Resolve {label.lower()}").click()


def who_is_at_the_right_edge(page: Page, label: str) -> bool:
    """Who resolves a blocking gate reads in a column of its own, at the panel's right edge, not
    run on after the reason."""
    who = gate_row(page, label).locator(".gate-who").bounding_box()
    row = gate_row(page, label).bounding_box()
    return abs((who["x"] + who["width"]) - (row["x"] + row["width"])) < 2


def expect_pathway(page: Page, client: Client) -> None:
    expect(page).to_have_url(re.compile(rf"/clients/{client.pk}/pathway/$"))
    expect(h1(page)).to_have_text(client.display_name)


def sign(page: Page, *, signer: str, typed_name: str, agree: bool) -> None:
    """On a "present for signing" page: the signer chooses who they are, types their name and
    decides."""
    page.get_by_role("group", name="Who is signing").get_by_label(signer).check()
    page.get_by_label("Full name, typed by the person signing").fill(typed_name)
    decision = "I agree" if agree else "I do not agree"
    page.get_by_role("group", name="Decision").get_by_label(decision, exact=True).check()
    page.get_by_role("button", name="Record the decision").click()


def present(page: Page, client: Client, document: str) -> None:
    """From the pathway's Consent gate to the document, shown in full for signing."""
    page.goto(f"/clients/{client.pk}/pathway/")
    resolve(page, "Consent")
    expect(page).to_have_url(re.compile(rf"/clients/{client.pk}/consent/$"))
    expect(page.get_by_role("heading", name="Consent", exact=True)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=document)
    row.get_by_role("link", name="Present for signing").click()
    expect(page.get_by_role("heading", name="The decision")).to_be_visible()


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"pathway-{name}.png", full_page=True)


# --- An adult, from the consultation to ready ----------------------------------------------------


def test_an_adult_goes_from_consultation_to_ready(open_page, console_errors, tess, priya):
    client = factories.make_client(
        first_name="Jordan", last_name="Ellis", age=35, therapist=tess, prescriber=priya
    )
    factories.add_emergency_contact(client)
    practice = Practice.load()
    today = timezone.localdate()
    gates = {
        "Consultation": ("blocks", "No consultation recorded yet."),
        "Contraindication screening": (
            "blocks",
            "No contraindication screening yet — therapist or prescriber.",
        ),
        "Medical clearance": ("blocks", "No medical clearance yet — prescriber."),
        "Medication order": ("blocks", "No medication order — prescriber."),
        "Consent": ("blocks", "Needs the KAP consent."),
        "Preparation": ("blocks", "No preparation session yet."),
        # No plan written: no count to keep yet (kapflow/pathway/course.py).
        "Course plan": ("passes", "No course plan written yet."),
    }

    # The chart opens with the panel: nothing is in place yet, and every gate says who resolves it.
    page = open_page(tess)
    page.goto(f"/clients/{client.pk}/")
    expect(h1(page)).to_have_text("Jordan Ellis")
    expect_panel(page, "Not yet", gates)
    page.get_by_role("link", name="Pathway", exact=True).click()
    expect_pathway(page, client)
    expect_panel(page, "Not yet", gates)
    assert who_is_at_the_right_edge(page, "Consultation"), "'Resolved by …' is not in its own column"

    # Tess records the consultation: Jordan goes on to screening.
    resolve(page, "Consultation")
    expect(page.get_by_role("heading", name="Record a consultation")).to_be_visible()
    expect(page.get_by_label("Held on")).to_have_value(today.isoformat())
    page.get_by_label("Why KAP, and why now").fill("Ten years of depression; two medicines have not held.")
    page.get_by_label("What they have been experiencing; history").fill("Recurrent depression since college.")
    page.get_by_label("Previous treatment").fill("Sertraline, bupropion; CBT for two years.")
    page.get_by_label("Current supports").fill("A partner, a weekly therapist, a running group.")
    page.get_by_label("Expectations and hopes").fill("Not a cure: a way to loosen the self-criticism.")
    page.get_by_label("Goals for the work").fill("To be kinder to myself; to enjoy things again.")
    page.get_by_label("Go on to screening").check()
    page.get_by_role("button", name="Save the consultation").click()
    expect_pathway(page, client)
    expect(page.get_by_role("status")).to_contain_text("Consultation saved: go on to screening.")
    gates["Consultation"] = ("passes", f"Consultation on {day(today)}: go on to screening.")
    expect_panel(page, "Not yet", gates)

    # Tess enters the screening with Jordan: every finding "no", one medicine without interactions.
    resolve(page, "Contraindication screening")
    expect(page.get_by_role("heading", name="Contraindication screening for Jordan Ellis")).to_be_visible()
    for finding in screening.FINDINGS:
        page.get_by_role("group", name=finding.text).get_by_label("No", exact=True).check()
    page.get_by_label("Medication", exact=True).first.fill("Sertraline 100 mg")
    page.get_by_label("Class", exact=True).first.select_option(label="Other (no listed interaction)")
    page.get_by_role("button", name="Save the screening").click()
    expect(page).to_have_url(re.compile(rf"/clients/{client.pk}/medical/screening/\d+/$"))
    expect(page.get_by_role("status")).to_contain_text("Screening saved: no flags.")
    page.goto(f"/clients/{client.pk}/pathway/")
    valid_to = today + datetime.timedelta(days=practice.screening_valid_days)
    gates["Contraindication screening"] = (
        "passes",
        f"Screening of {day(today)}: no exclusion flags; valid to {day(valid_to)}.",
    )
    expect_panel(page, "Not yet", gates)

    # Priya, the prescriber, reads the screening on her own computer, then clears Jordan.
    prescriber = open_page(priya)
    prescriber.goto(f"/clients/{client.pk}/medical/")
    screening_card = prescriber.get_by_role("region", name="Contraindication screening")
    expect(screening_card).to_contain_text("No flags: every finding answered no")
    screening_card.get_by_role("link", name="Every answer").click()
    expect(prescriber.get_by_text("Entered by Tess Therapist on the client's behalf.")).to_be_visible()
    expect(prescriber.get_by_role("listitem").filter(has_text="Sertraline 100 mg")).to_contain_text(
        "Other (no listed interaction)"
    )
    prescriber.goto(f"/clients/{client.pk}/pathway/")
    expect_panel(prescriber, "Not yet", gates)
    resolve(prescriber, "Medical clearance")
    expect(prescriber.get_by_role("heading", name="Medical clearance for Jordan Ellis")).to_be_visible()
    expect(prescriber.get_by_role("group", name="Exclusion flags")).to_contain_text("None.")
    prescriber.get_by_label("Systolic (mmHg)").fill("118")
    prescriber.get_by_label("Diastolic (mmHg)").fill("76")
    prescriber.get_by_label("Heart rate (bpm)").fill("68")
    prescriber.get_by_label("Weight (kg)").fill("72.5")
    prescriber.get_by_label("Evaluation findings").fill(
        "History and examination unremarkable; BP normal; no cardiac history. Suitable for sublingual KAP."
    )
    prescriber.get_by_role("group", name="Decision").get_by_label("Cleared", exact=True).check()
    clearance_end = clearance_latest_end(practice, today)
    expect(prescriber.get_by_label("Valid until")).to_have_value(clearance_end.isoformat())
    prescriber.get_by_role("button", name="Save the decision").click()
    expect(prescriber.get_by_role("status")).to_contain_text("Clearance recorded: cleared.")
    prescriber.goto(f"/clients/{client.pk}/pathway/")
    gates["Medical clearance"] = ("passes", f"Cleared by Priya Prescriber until {day(clearance_end)}.")
    expect_panel(prescriber, "Not yet", gates)

    # Priya writes the order: sublingual lozenges, 200–300 mg, six sessions.
    resolve(prescriber, "Medication order")
    expect(prescriber.get_by_role("heading", name="Medication order for Jordan Ellis")).to_be_visible()
    prescriber.get_by_label("Drug").select_option(label="Ketamine (racemic), DEA Schedule III")
    prescriber.get_by_label("Sublingual / oral lozenge").check()
    prescriber.get_by_role("group", name="Dose").get_by_label("mg", exact=True).check()
    prescriber.get_by_label("Lowest dose").fill("200")
    prescriber.get_by_label("Highest dose").fill("300")
    prescriber.get_by_label("Medication sessions authorised").fill("6")
    expect(prescriber.get_by_label("Valid from")).to_have_value(today.isoformat())
    order_end = today + datetime.timedelta(days=120)
    prescriber.get_by_label("Valid until").fill(order_end.isoformat())
    prescriber.get_by_role("button", name="Save the order").click()
    expect(prescriber.get_by_role("status")).to_contain_text(
        "Order saved: sublingual / oral lozenge 200–300 mg."
    )
    prescriber.goto(f"/clients/{client.pk}/pathway/")
    gates["Medication order"] = (
        "passes",
        "Order in force: sublingual / oral lozenge 200–300 mg; 6 of 6 sessions left; "
        f"until {day(order_end)}.",
    )
    expect_panel(prescriber, "Not yet", gates)

    # Tess presents the KAP consent; Jordan signs by typing their full name, as it is on file.
    present(page, client, "KAP informed consent")
    expect(
        page.get_by_role("heading", name="Informed consent for ketamine-assisted psychotherapy (KAP)")
    ).to_be_visible()
    sign(page, signer="Jordan Ellis (the client)", typed_name="Jordan", agree=True)
    expect(page.get_by_text("Nothing was recorded yet.")).to_be_visible()
    expect(page.get_by_label("Full name, typed by the person signing")).to_have_accessible_description(
        re.compile("“Jordan” does not match the name on file, “Jordan Ellis”.")
    )
    sign(page, signer="Jordan Ellis (the client)", typed_name="jordan  ellis", agree=True)
    # (The form posts to "#decision"; the browser keeps that fragment across the redirect.)
    expect(page).to_have_url(re.compile(rf"/clients/{client.pk}/consent/(#decision)?$"))
    expect(page.get_by_role("status")).to_contain_text(
        "Recorded: Jordan Ellis agreed to the KAP consent, version 1."
    )
    page.goto(f"/clients/{client.pk}/pathway/")
    gates["Consent"] = ("passes", f"Agreed: KAP consent (version 1, {short_day(today)}).")
    expect_panel(page, "Not yet", gates)

    # Tess records the preparation session: all nine topics, and Jordan's intentions.
    resolve(page, "Preparation")
    expect(page.get_by_role("heading", name="Record a preparation session")).to_be_visible()
    topics = page.get_by_role("group", name="Topics covered in this session")
    for topic in Topic:
        topics.get_by_label(topic.label).check()
    intentions = "I want to meet the critical voice with curiosity instead of fear."
    page.get_by_label("Intentions, in the client's own words").fill(intentions)
    page.get_by_label("Day-of instructions given").check()
    page.get_by_role("button", name="Save the session").click()
    expect_pathway(page, client)
    expect(page.get_by_role("status")).to_contain_text("Preparation session saved.")
    gates["Preparation"] = (
        "passes",
        "1 preparation session; every topic covered; intentions recorded.",
    )
    expect_panel(page, "Ready", gates)
    preparation = page.get_by_role("region", name="Preparation")
    expect(preparation.get_by_role("listitem").filter(has_text="(covered)")).to_have_count(len(Topic))
    expect(preparation).to_contain_text(intentions)

    # The chart's panel agrees.
    page.get_by_role("link", name="Chart", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/clients/{client.pk}/$"))
    expect_panel(page, "Ready", gates)

    page.goto(f"/clients/{client.pk}/pathway/")
    expect_panel(page, "Ready", gates)
    screenshot(page, "adult-ready")

    # A medication session later today: Tess's day on the dashboard, and her calendar's day,
    # each fetch its readiness badge after the page (one request for all of the page's badges).
    starts = timezone.now() + datetime.timedelta(minutes=10)
    if timezone.localtime(starts).date() == today:
        session = Visit.objects.create(
            client=client,
            kind=Visit.Kind.MEDICATION,
            starts_at=starts,
            ends_at=starts + datetime.timedelta(minutes=150),
            modality=Visit.Modality.IN_PERSON,  # a virtual one would need the telehealth consent
            room=Room.objects.create(name="Garden Room"),
            clinician=tess,
            created_by=tess,
        )
        for path in ("/", "/calendar/day/"):
            page.goto(path)
            expect(page.locator(f"#rb-{session.pk}")).to_have_text("Ready")
    assert console_errors == []


# --- A minor: the guardian's consent and the minor's own assent ---------------------------------


def minor_ready_but_for_consent(tess, priya) -> Client:
    """Mia, 16, with her mother (who can give consent) on the chart, and every gate but consent
    already passing: written straight to the database, as the adult test walks them in the
    browser."""
    today = timezone.localdate()
    mia = factories.make_client(
        first_name="Mia",
        last_name="Moreno",
        age=16,
        therapist=tess,
        prescriber=priya,
        stage=Client.Stage.PREPARATION,
    )
    factories.add_guardian(mia)
    factories.add_emergency_contact(mia)
    Consultation.objects.create(
        client=mia,
        clinician=tess,
        why_kap="Depression that two medicines and a year of therapy have not shifted.",
        history="Low mood since 13; one hospital stay.",
        previous_treatment="Fluoxetine, sertraline; weekly therapy.",
        supports="Her mother; a school counsellor.",
        expectations="To feel less stuck.",
        goals="Go back to school full time.",
        decision=Consultation.Decision.PROCEED,
    )
    answers = dict.fromkeys((finding.key for finding in screening.FINDINGS), False)
    flags = screening.flags_for(answers=answers, medications=[], age=16)
    assert [flag.key for flag in flags] == ["age"]
    record = Screening.objects.create(
        client=mia, answers=answers, flags=[flag.as_dict() for flag in flags], age=16, entered_by=tess
    )
    Clearance.objects.create(
        client=mia,
        screening=record,
        prescriber=priya,
        decision=Clearance.Decision.CLEARED,
        acknowledged=["age"],
        systolic=112,
        diastolic=70,
        heart_rate=72,
        weight_kg=58,
        findings="Well adolescent; examination unremarkable. Off-label use discussed with her mother.",
        valid_until=today + datetime.timedelta(days=180),
    )
    MedicationOrder.objects.create(
        client=mia,
        prescriber=priya,
        drug=MedicationOrder.Drug.KETAMINE,
        route=MedicationOrder.Route.SUBLINGUAL,
        dose_min=100,
        dose_max=150,
        sessions_authorised=4,
        starts_on=today,
        ends_on=today + datetime.timedelta(days=90),
    )
    PreparationSession.objects.create(
        client=mia, clinician=tess, topics=Topic.values, intentions="To feel like myself at school again."
    )
    return mia


def expect_consent(page: Page, client: Client, state: str, reason: str) -> None:
    """The pathway page, every gate but consent passing, and consent as given."""
    page.goto(f"/clients/{client.pk}/pathway/")
    expect_pathway(page, client)
    row = gate_row(page, "Consent")
    expect(row.locator(".gate-body > .visually-hidden")).to_have_text(f"{state}:")
    expect(row.locator(".gate-reason")).to_have_text(reason)
    for label in GATES:
        if label != "Consent":
            expect(gate_row(page, label).locator(".gate-body > .visually-hidden")).to_have_text("passes:")
    expect(panel(page).locator(".card-head .badge")).to_have_text("Ready" if state == "passes" else "Not yet")


def test_a_minor_is_blocked_until_both_guardian_consent_and_assent(open_page, console_errors, tess, priya):
    mia = minor_ready_but_for_consent(tess, priya)
    today = timezone.localdate()
    page = open_page(tess)

    expect_consent(page, mia, "blocks", "Needs the guardian's consent and Mia's own assent.")
    expect(gate_row(page, "Consent").locator(".gate-who")).to_contain_text("Who can resolve it: the guardian")

    # Mia's mother reads the guardian consent and agrees, typing her own name.
    present(page, mia, "Guardian consent")
    expect(
        page.get_by_role(
            "heading", name="Consent of a parent or legal guardian for ketamine-assisted psychotherapy"
        )
    ).to_be_visible()
    sign(page, signer="Pat Guardian (mother)", typed_name="Pat Guardian", agree=True)
    expect(page.get_by_role("status")).to_contain_text(
        "Recorded: Pat Guardian agreed to the guardian consent, version 1."
    )
    expect_consent(page, mia, "blocks", "Needs Mia's own assent.")

    # Mia reads her own assent and agrees.
    present(page, mia, "Mia's own assent")
    expect(
        page.get_by_role("heading", name="Your own agreement (assent) to ketamine-assisted psychotherapy")
    ).to_be_visible()
    sign(page, signer="Mia Moreno (the client)", typed_name="Mia Moreno", agree=True)
    expect(page.get_by_role("status")).to_contain_text(
        "Recorded: Mia Moreno agreed to the assent, version 1."
    )
    expect_consent(
        page,
        mia,
        "passes",
        f"Agreed: guardian consent (version 1, {short_day(today)}), assent (version 1, {short_day(today)}).",
    )
    screenshot(page, "minor-ready")
    assert console_errors == []


def test_a_minor_is_blocked_when_the_guardian_or_the_minor_does_not_agree(
    open_page, console_errors, tess, priya
):
    mia = minor_ready_but_for_consent(tess, priya)
    when = short_day(timezone.localdate())
    page = open_page(tess)

    # Her mother says no at first: the refusal is named, and the assent is still needed too.
    present(page, mia, "Guardian consent")
    sign(page, signer="Pat Guardian (mother)", typed_name="Pat Guardian", agree=False)
    expect(page.get_by_role("status")).to_contain_text(
        "Recorded: Pat Guardian did not agree to the guardian consent, version 1."
    )
    expect_consent(
        page,
        mia,
        "blocks",
        f"Pat Guardian did not agree to the guardian consent on {when}. Needs Mia's own assent.",
    )

    # After her questions are answered she agrees; then Mia herself says no, and that blocks.
    present(page, mia, "Guardian consent")
    sign(page, signer="Pat Guardian (mother)", typed_name="Pat Guardian", agree=True)
    expect_consent(page, mia, "blocks", "Needs Mia's own assent.")
    present(page, mia, "Mia's own assent")
    sign(page, signer="Mia Moreno (the client)", typed_name="Mia Moreno", agree=False)
    expect(page.get_by_role("status")).to_contain_text(
        "Recorded: Mia Moreno did not agree to the assent, version 1."
    )
    expect_consent(page, mia, "blocks", f"Mia did not agree to the assent on {when}.")
    expect(gate_row(page, "Consent").locator(".gate-who")).to_contain_text("Who can resolve it: the client")
    screenshot(page, "minor-refused")
    assert console_errors == []
