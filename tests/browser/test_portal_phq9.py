"""A client fills a PHQ-9 on the portal and the therapist sees it on the chart (issue 5); with
question 9 above 0, the client sees the crisis resources at once and the therapist the alert."""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.measures.models import MeasureTask
from tests import factories
from tests.browser.pages import accessibility_problems, h1

pytestmark = pytest.mark.browser

QUESTIONS = 9


def _people():
    tess = factories.make_user("Tess Therapist", roles=("is_therapist",), email="tess@example.org")
    cleo = factories.make_user("Cleo Client", roles=("is_client",), email="cleo@example.org", mfa=False)
    avery = factories.make_client(first_name="Avery", last_name="Alvarez", therapist=tess, stage="course")
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    MeasureTask.objects.create(
        client=avery,
        instrument="phq9",
        reason="weekly",
        due_at=timezone.now() - datetime.timedelta(hours=2),
    )
    return tess, cleo, avery


def _fill(page, choices: dict[int, str], *, skip=()):
    for number in range(1, QUESTIONS + 1):
        if number in skip:
            continue
        group = page.get_by_role("group", name=re.compile(rf"^{number}\. "))
        group.get_by_role("radio", name=choices.get(number, "Not at all")).check()


def _open_the_form_from_the_to_do_list(page, avery):
    page.goto(f"/portal/{avery.pk}/to-do/")
    page.get_by_role("link", name="Fill in: Mood questionnaire (PHQ-9)").click()
    expect(h1(page)).to_have_text("Mood questionnaire (PHQ-9)")
    expect(page.get_by_text("Over the last 2 weeks")).to_be_visible()
    assert accessibility_problems(page) == []


def test_a_client_fills_a_phq9_and_the_therapist_sees_it(open_page, console_errors):
    tess, cleo, avery = _people()
    page = open_page(cleo)
    _open_the_form_from_the_to_do_list(page, avery)

    # One question left out: refused, naming it, with every other answer kept.
    _fill(page, {1: "Several days", 2: "More than half the days", 4: "Several days"}, skip=(7,))
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("alert")).to_contain_text("question 7 is not answered yet")
    expect(
        page.get_by_role("group", name=re.compile(r"^2\. ")).get_by_role(
            "radio", name="More than half the days"
        )
    ).to_be_checked()

    page.get_by_role("group", name=re.compile(r"^7\. ")).get_by_role("radio", name="Several days").check()
    page.get_by_role("button", name="Send my answers").click()
    expect(h1(page)).to_have_text("Thank you — your answers are saved")
    assert page.get_by_text("If you are thinking about hurting yourself, please reach out now").count() == 0
    assert accessibility_problems(page) == []

    staff = open_page(tess)
    staff.goto(f"/clients/{avery.pk}/measures/")
    latest = staff.get_by_role("region", name="Latest PHQ-9")
    expect(latest).to_contain_text("5")
    expect(latest).to_contain_text("Mild")
    # In every result, as the client's own answers; and in the schedule, as done.
    expect(staff.get_by_role("row").filter(has_text="The client").filter(has_text="PHQ-9")).to_contain_text(
        "5"
    )
    expect(staff.get_by_role("table", name="Forms asked of the client on the portal")).to_contain_text(
        "Done 5, mild"
    )
    # And on the progress chart: a point for it, the latest, on the SVG.
    staff.goto(f"/clients/{avery.pk}/measures/progress/")
    chart = staff.locator("section.progress-instrument").filter(has_text="PHQ-9").locator("svg[role=img]")
    expect(chart).to_be_visible()
    assert chart.locator("circle > title").last.text_content().endswith(": 5, Mild")
    assert console_errors == []


def test_an_item_9_answer_shows_crisis_resources_and_alerts_the_therapist(open_page, console_errors):
    tess, cleo, avery = _people()
    page = open_page(cleo)
    _open_the_form_from_the_to_do_list(page, avery)
    _fill(page, {2: "Several days", 9: "Several days"})
    page.get_by_role("button", name="Send my answers").click()

    crisis = page.get_by_role("alert")
    expect(crisis).to_contain_text("call or text 988")
    expect(h1(page)).to_have_text("If you are thinking about hurting yourself, please reach out now")
    # Shown first: above the confirmation that the answers are saved, in view without scrolling.
    crisis_box = crisis.bounding_box()
    saved_box = page.get_by_role("heading", name="Your answers are saved").bounding_box()
    assert crisis_box["y"] < saved_box["y"] and crisis_box["y"] < 900
    assert accessibility_problems(page) == []

    staff = open_page(tess)
    staff.goto(f"/clients/{avery.pk}/")
    expect(staff.get_by_role("alert").filter(has_text="Urgent — same-day follow-up needed")).to_be_visible()
    staff.goto(f"/clients/{avery.pk}/measures/")
    expect(staff.get_by_role("region", name="Latest PHQ-9")).to_contain_text("2")
    assert console_errors == []
