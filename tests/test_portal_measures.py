"""Completing measures on the client portal (issue 5, item 2 onwards): the forms waiting, one
form answered, the thank-you page with crisis resources for a PHQ-9 item 9 answer above 0, the
refusals, the to-do provider, and the staff's view of the schedule."""

import datetime
import re

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.measures.models import Alert, MeasureTask, Response
from kapflow.measures.portal import todos
from kapflow.practice.models import Practice
from kapflow.reminders.models import Reminder
from kapflow.reminders.services import ATTEMPTS
from kapflow.reminders.tasks import send_reminders
from kapflow.visits.models import Visit
from tests import factories

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def portal_avery(avery, cleo):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    return avery


def task(client, instrument="phq9", reason="weekly", due=-HOUR, **fields):
    return MeasureTask.objects.create(
        client=client, instrument=instrument, reason=reason, due_at=timezone.now() + due, **fields
    )


def url(name, client, t=None):
    return reverse(f"portal_measures:{name}", args=[client.pk] + ([t.pk] if t else []))


def answers(n=9, value=1, **items):
    data = {f"item_{k}": value for k in range(1, n + 1)}
    data.update({f"item_{k}": v for k, v in items.items()})
    return {k: v for k, v in data.items() if v is not None}


def test_it_lists_the_forms_waiting_in_plain_words(portal_avery, tess, cleo, login):
    starts = timezone.now() + 20 * HOUR
    session = Visit.objects.create(
        client=portal_avery,
        kind="medication",
        starts_at=starts,
        ends_at=starts + 2 * HOUR,
        modality="virtual",
        clinician=tess,
        created_by=tess,
    )
    task(portal_avery, "gad7", "pre_session", visit=session)
    task(portal_avery, "pcl5", "baseline", due=48 * HOUR)  # not yet due: not shown
    task(portal_avery, "phq9", withdrawn_at=timezone.now())  # withdrawn: not shown
    page = login(cleo).get(url("list", portal_avery)).content.decode()
    assert "Anxiety questionnaire (GAD-7)" in page
    assert "Before your medication session on" in page
    assert "PCL-5" not in page and "Mood questionnaire" not in page
    assert "call or text 988" in page  # the portal's crisis footer


def test_it_shows_the_instrument_with_its_instructions_and_every_option(portal_avery, cleo, login):
    t = task(portal_avery)
    page = login(cleo).get(url("task", portal_avery, t)).content.decode()
    assert "Over the last 2 weeks" in page
    assert page.count("<fieldset") == 9 and page.count('type="radio"') == 36
    assert "Nearly every day" in page and "<legend>" in page


def test_it_saves_the_clients_answers_through_the_scoring_service(portal_avery, cleo, login, audit_rows):
    t = task(portal_avery, reason="pre_session")
    response = login(cleo).post(url("task", portal_avery, t), answers(**{"9": 0}))
    assert response.status_code == 302 and response["Location"] == url("thanks", portal_avery, t)
    saved = Response.objects.get()
    t.refresh_from_db()
    assert t.response == saved and not t.is_open
    assert (saved.total, saved.band, saved.context, saved.entered_by) == (8, "Mild", "pre_session", None)
    [recorded] = audit_rows("kapflow.measures.response.recorded")
    [completed] = audit_rows("kapflow.measures.task.completed")
    assert recorded.actor == completed.actor == cleo and completed.client == portal_avery
    assert not Alert.objects.exists()
    page = login(cleo).get(response["Location"]).content.decode()
    assert "your answers are saved" in page and "reach out now" not in page


def test_an_item_9_answer_shows_crisis_resources_first_and_alerts_the_therapist(
    portal_avery, cleo, tess, login, django_capture_on_commit_callbacks
):
    practice = Practice.load()
    practice.crisis_resources = "Call or text 988 now. Oak Hill's on-call line: (818) 555-0100."
    practice.save()
    t = task(portal_avery)
    http = login(cleo)
    with django_capture_on_commit_callbacks(execute=True):
        response = http.post(url("task", portal_avery, t), answers(value=0, **{"9": 1}), follow=True)
    page = response.content.decode()
    main = page[page.index('id="main"') :]
    crisis = main.index('role="alert"')
    assert crisis < main.index("Your answers are saved")
    assert main.index("Oak Hill&#x27;s on-call line") < main.index("Your answers are saved")
    [alert] = Alert.objects.all()
    assert (alert.client, alert.assigned_to, alert.response.total) == (portal_avery, tess, 1)
    [email] = mail.outbox
    assert email.to == [tess.email] and "Avery" not in email.body
    assert email.subject == "Urgent: a client needs same-day follow-up"
    # It went through the reminders' outbox, so a failure would be retried and shown.
    [notice] = Reminder.objects.all()
    assert (notice.kind, notice.key, notice.recipient, notice.status) == (
        "urgent",
        f"alert:{alert.pk}",
        tess,
        "sent",
    )


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


def test_an_urgent_notice_the_mail_server_refuses_is_retried_then_shown_to_the_admin(
    portal_avery, cleo, tess, ada, login, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.test_portal_measures.RefusingBackend"
    with django_capture_on_commit_callbacks(execute=True):
        login(cleo).post(url("task", portal_avery, task(portal_avery)), answers(value=0, **{"9": 1}))
    [notice] = Reminder.objects.all()
    assert (notice.status, notice.attempts) == ("queued", 1)  # its retry waits on the queue
    for _ in range(ATTEMPTS - 1):
        send_reminders.call(reminder_ids=[notice.pk])
    notice.refresh_from_db()
    assert notice.status == "failed"
    page = login(ada).get(reverse("reminders:list")).content.decode()
    table = page[page.index("<table") :]
    assert "Staff notice" in table and tess.email in table and "Urgent" not in table


def test_an_urgent_notice_for_an_alert_closed_before_it_went_is_not_sent(
    portal_avery, cleo, tess, login, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.test_portal_measures.RefusingBackend"
    with django_capture_on_commit_callbacks(execute=True):
        login(cleo).post(url("task", portal_avery, task(portal_avery)), answers(value=0, **{"9": 1}))
    Alert.objects.update(closed_at=timezone.now(), closed_by=tess, follow_up="Phoned; safe, plan agreed.")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    [notice] = Reminder.objects.all()
    assert send_reminders.call(reminder_ids=[notice.pk]) == "not needed"
    assert mail.outbox == []


def test_with_the_primary_therapist_away_the_alert_goes_to_the_next_clinician_of_the_care_team(
    portal_avery, cleo, tess, priya, login, django_capture_on_commit_callbacks
):
    tess.is_active = False
    tess.save(update_fields=["is_active"])
    t = task(portal_avery)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(cleo).post(url("task", portal_avery, t), answers(value=0, **{"9": 2}), follow=True)
    [alert] = Alert.objects.all()
    assert alert.assigned_to == priya
    assert [email.to for email in mail.outbox] == [[priya.email]]
    assert "Your care team has been told" in response.content.decode()
    assert "Avery" in login(priya).get(reverse("home")).content.decode()


def test_an_alert_nobody_could_take_is_on_the_dashboard_of_every_clinician_who_sees_the_client(
    portal_avery, cleo, tess, colin, login
):
    from kapflow.clients.models import CareTeamMember

    CareTeamMember.objects.filter(client=portal_avery).delete()
    t = task(portal_avery)
    response = login(cleo).post(url("task", portal_avery, t), answers(value=0, **{"9": 1}), follow=True)
    page = response.content.decode()
    assert "Your care team has been told" not in page and "today and tell them" in page
    [alert] = Alert.objects.all()
    assert alert.assigned_to is None
    # Nobody on the care team: it shows to a clinician who sees every client, not to others.
    assert "Urgent" not in login(colin).get(reverse("home")).content.decode()
    settings_practice = Practice.load()
    settings_practice.open_caseload = True
    settings_practice.save()
    assert "Avery" in login(colin).get(reverse("home")).content.decode()


def test_an_incomplete_form_is_refused_naming_the_missing_questions_and_keeps_the_answers(
    portal_avery, cleo, login
):
    t = task(portal_avery)
    response = login(cleo).post(url("task", portal_avery, t), answers(**{"3": None, "9": None, "1": 2}))
    page = response.content.decode()
    assert response.status_code == 200
    assert "questions 3 and 9 are not answered yet" in page
    checked = re.findall(r'<input type="radio" name="item_(\d)" value="(\d)"[^>]* checked>', page)
    assert checked == [("1", "2"), ("2", "1"), ("4", "1"), ("5", "1"), ("6", "1"), ("7", "1"), ("8", "1")]
    assert not Response.objects.exists() and MeasureTask.objects.get().is_open


@pytest.mark.parametrize(
    "data",
    [{}, {"item_1": "7"}, {"item_1": "x" * 5000}, {"item_1": ["1", "2"]}, {"item_9": "-1"}],
)
def test_garbage_is_refused_without_a_500(portal_avery, cleo, login, data):
    t = task(portal_avery)
    response = login(cleo).post(url("task", portal_avery, t), data)
    assert response.status_code == 200 and "fix" in response.content.decode()
    assert not Response.objects.exists()


@pytest.mark.parametrize("bad", ["99999999999999999999", "0", "123456789"])
def test_huge_or_missing_ids_answer_404(portal_avery, cleo, login, bad):
    http = login(cleo)
    assert http.get(f"/portal/{portal_avery.pk}/measures/{bad}/").status_code == 404
    assert http.get(f"/portal/{bad}/measures/").status_code == 404


def test_a_form_done_or_withdrawn_cannot_be_answered_again(portal_avery, cleo, login):
    http = login(cleo)
    t = task(portal_avery)
    http.post(url("task", portal_avery, t), answers())
    again = http.get(url("task", portal_avery, t))
    assert again.status_code == 200 and "You already completed this form" in again.content.decode()
    posted = http.post(url("task", portal_avery, t), answers(value=3))
    assert posted.status_code == 409 and Response.objects.count() == 1
    gone = task(portal_avery, "gad7", withdrawn_at=timezone.now())
    assert "no longer needed" in http.get(url("task", portal_avery, gone)).content.decode()
    assert http.post(url("task", portal_avery, gone), answers(7)).status_code == 409
    early = task(portal_avery, "pcl5", "baseline", due=30 * HOUR)
    assert "This form opens on" in http.get(url("task", portal_avery, early)).content.decode()
    assert Response.objects.count() == 1


def test_the_thanks_page_of_an_unanswered_form_leads_to_the_form(portal_avery, cleo, login):
    t = task(portal_avery)
    response = login(cleo).get(url("thanks", portal_avery, t))
    assert response.status_code == 302 and response["Location"] == url("task", portal_avery, t)


def test_a_task_of_another_client_answers_404(portal_avery, olive, cleo, login):
    theirs = task(olive)
    http = login(cleo)
    assert http.get(reverse("portal_measures:task", args=[portal_avery.pk, theirs.pk])).status_code == 404
    assert (
        http.post(reverse("portal_measures:task", args=[portal_avery.pk, theirs.pk]), answers()).status_code
        == 404
    )
    assert not Response.objects.exists()


def test_a_guardian_never_reaches_a_minors_measures(tess, gail, login):
    minor = factories.make_client(first_name="Mia", age=15, therapist=tess)
    factories.add_guardian(minor).__class__.objects.filter(client=minor).update(portal_user=gail)
    t = task(minor)
    http = login(gail)
    assert http.get(url("list", minor)).status_code == 404
    assert http.get(url("task", minor, t)).status_code == 404
    assert http.post(url("task", minor, t), answers()).status_code == 404
    assert todos(minor, gail) == []


def test_todos_are_the_clients_waiting_forms_in_one_query(portal_avery, cleo, olive):
    task(portal_avery, "phq9")
    task(portal_avery, "gad7", due=-2 * HOUR)
    task(portal_avery, "pcl5", "baseline", due=5 * HOUR)
    task(olive, "gad7")
    with CaptureQueriesContext(connection) as few:
        listed = todos(portal_avery, cleo)
    assert [todo.title for todo in listed] == [
        "Fill in: Anxiety questionnaire (GAD-7)",
        "Fill in: Mood questionnaire (PHQ-9)",
    ]
    assert listed[0].kind == "measure" and listed[0].url.endswith(
        f"/measures/{listed[0].url.split('/')[-2]}/"
    )
    for n in range(12):
        task(portal_avery, "phq9", due=-(n + 3) * HOUR)
    with CaptureQueriesContext(connection) as many:
        assert len(todos(portal_avery, cleo)) == 14
    assert len(few) == len(many) == 1


def test_todos_are_listed_by_the_portals_registry(portal_avery, cleo):
    from kapflow.portal.todo import todos_for

    task(portal_avery)
    assert any(todo.kind == "measure" for todo in todos_for(portal_avery, cleo))


def _count_list_page(http, client):
    with CaptureQueriesContext(connection) as queries:
        assert http.get(url("list", client)).status_code == 200
    return len(queries)


def test_the_portal_list_runs_the_same_queries_as_data_grows(portal_avery, cleo, login):
    http = login(cleo)
    http.get(url("list", portal_avery))  # the session's first look at MFA is not counted
    for instrument in ("phq9", "gad7"):
        t = task(portal_avery, instrument)
        http.post(url("task", portal_avery, t), answers(7 if instrument == "gad7" else 9))
    task(portal_avery, "pcl5", "baseline")
    small = _count_list_page(http, portal_avery)
    for n in range(15):
        task(portal_avery, "phq9", due=-(n + 2) * HOUR)
        done = task(portal_avery, "gad7", due=-(n + 2) * HOUR)
        http.post(url("task", portal_avery, done), answers(7))
    assert _count_list_page(http, portal_avery) == small


def test_the_staff_measures_page_shows_the_schedule_in_constant_queries(portal_avery, cleo, tess, login):
    staff = login(tess)
    staff.get(reverse("measures:list", args=[portal_avery.pk]))
    done = task(portal_avery, "phq9")
    login(cleo).post(url("task", portal_avery, done), answers())
    task(portal_avery, "gad7", withdrawn_at=timezone.now())
    task(portal_avery, "pcl5", "baseline", due=HOUR)
    with CaptureQueriesContext(connection) as small:
        page = staff.get(reverse("measures:list", args=[portal_avery.pk])).content.decode()
    assert "Forms asked of the client on the portal" in page
    for word in ("Done", "Withdrawn", "Scheduled", "9, mild"):
        assert word in page
    for n in range(10):
        t = task(portal_avery, "phq9", due=-(n + 2) * HOUR)
        login(cleo).post(url("task", portal_avery, t), answers())
        task(portal_avery, "gad7", due=-(n + 2) * HOUR)
    with CaptureQueriesContext(connection) as large:
        staff.get(reverse("measures:list", args=[portal_avery.pk]))
    assert len(small) == len(large)


def test_a_result_in_the_staff_pages_forms_keeps_the_bands_capitals(portal_avery, cleo, tess, login):
    """A band after the score starts small, and keeps its acronyms: "provisional PTSD", not
    "provisional ptsd"."""
    done = task(portal_avery, "pcl5", "baseline")
    login(cleo).post(url("task", portal_avery, done), answers(20, 2))
    page = login(tess).get(reverse("measures:list", args=[portal_avery.pk])).content.decode()
    assert "40, provisional PTSD (33 or above)</a>" in page


def test_a_pcl5_typed_in_by_staff_is_told_with_the_bands_capitals(avery, tess, login):
    """The same band in the message after a staff entry and in the progress chart's words."""
    http = login(tess)
    response = http.post(
        reverse("measures:new", args=[avery.pk, "pcl5"]),
        {**answers(20, 2), "context": "baseline"},
        follow=True,
    )
    assert "PCL-5 saved: 40, provisional PTSD (33 or above)." in response.content.decode()
    page = http.get(reverse("measures:progress", args=[avery.pk])).content.decode()
    assert "Baseline 40 (provisional PTSD (33 or above))" in page


def test_the_staff_form_refuses_an_empty_post_naming_every_question(avery, tess, login):
    response = login(tess).post(reverse("measures:new", args=[avery.pk, "gad7"]), {})
    page = response.content.decode()
    assert response.status_code == 200 and "questions 1, 2, 3, 4, 5, 6 and 7 are not answered yet" in page
    assert not Response.objects.exists()


def test_a_form_the_therapist_enters_for_the_client_answers_the_waiting_portal_task(
    portal_avery, cleo, tess, login, audit_rows
):
    """Filled in on paper in the office and typed in by the therapist: the portal stops asking
    for it, and no reminder goes out for it."""
    waiting = task(portal_avery, "phq9", reason="pre_session")
    other = task(portal_avery, "gad7", reason="pre_session")
    login(tess).post(
        reverse("measures:new", args=[portal_avery.pk, "phq9"]),
        {**answers(**{"9": 0}), "context": "pre_session"},
    )
    waiting.refresh_from_db()
    other.refresh_from_db()
    assert waiting.response is not None and waiting.response.entered_by == tess
    assert other.is_open
    [row] = audit_rows("kapflow.measures.task.completed")
    assert row.detail["on_behalf"] is True and row.actor == tess
    page = login(cleo).get(url("list", portal_avery)).content.decode()
    assert 'Mood questionnaire (PHQ-9)</span><span class="muted">Completed' in page
    assert url("task", portal_avery, waiting) not in page and url("task", portal_avery, other) in page
