"""Issue 13, defect 14: writing an integration record after the integration window had closed
cleared the overdue flag and the session read "Done", as if it had been on time. The record now
keeps how late it was (set once, when it is saved) and the pages say "completed late (3 days)"."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from kapflow.integration.models import IntegrationRecord, late_words
from kapflow.integration.window import Standing, client_standings
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests.test_integration import local, make_visit, medication_session

# The medication session ends on Tuesday June 9 at 13:00; the practice's 48 h window closes on
# Thursday the 11th at 13:00.
WINDOW_CLOSED = local(11, 13)


def write_record(http, client, session, **fields):
    response = http.post(
        reverse("integration:record_new", args=[client.pk]),
        {"follows": session.pk, "themes": "Grief.", **fields},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return IntegrationRecord.objects.latest("pk")


def overview(http, client) -> str:
    response = http.get(reverse("integration:overview", args=[client.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_record_written_three_days_after_the_window_says_completed_late(avery, tess, login):
    with time_machine.travel(local(9, 14), tick=False):
        session = medication_session(avery, tess)
    with time_machine.travel(WINDOW_CLOSED + datetime.timedelta(days=3), tick=False):
        http = login(tess)
        assert "overdue" in overview(http, avery)
        record = write_record(http, avery, session)
        assert record.late_by == datetime.timedelta(days=3)
        [row] = client_standings(avery, practice=Practice.load())
        assert (row.standing, row.overdue, row.late_by) == (Standing.DONE, False, datetime.timedelta(days=3))
        page = overview(http, avery)
        assert "Completed late (3 days)" in page and "overdue" not in page
        assert "completed late (3 days)" in page  # the records list, too
        detail = http.get(reverse("integration:record_detail", args=[avery.pk, record.pk])).content.decode()
        assert "completed late (3 days)" in detail


def test_a_record_written_in_the_window_is_simply_done(avery, tess, login):
    with time_machine.travel(local(9, 14), tick=False):
        session = medication_session(avery, tess)
    with time_machine.travel(WINDOW_CLOSED - datetime.timedelta(hours=1), tick=False):
        http = login(tess)
        record = write_record(http, avery, session)
        assert record.late_by is None
        page = overview(http, avery)
        assert ">Done<" in page and "completed late" not in page.lower()


def test_the_lateness_is_kept_when_the_practice_changes_its_window_later(avery, tess, login):
    with time_machine.travel(local(9, 14), tick=False):
        session = medication_session(avery, tess)
    with time_machine.travel(WINDOW_CLOSED + datetime.timedelta(days=3), tick=False):
        record = write_record(login(tess), avery, session)
        practice = Practice.load()
        practice.integration_window_hours = 240  # ten days: the record would now look on time
        practice.save()
        record.refresh_from_db()
        assert record.late_by == datetime.timedelta(days=3)
        assert "Completed late (3 days)" in overview(login(tess), avery)


def test_a_record_written_after_an_integration_session_held_in_time_is_not_late(avery, tess, login):
    with time_machine.travel(local(9, 14), tick=False):
        session = medication_session(avery, tess)
        make_visit(avery, tess, starts=local(10, 10), status=Visit.Status.COMPLETED)
    with time_machine.travel(WINDOW_CLOSED + datetime.timedelta(days=2), tick=False):
        record = write_record(login(tess), avery, session)
        assert record.late_by is None
        [row] = client_standings(avery, practice=Practice.load())
        assert (row.standing, row.late_by) == (Standing.DONE, None)


def test_a_record_written_in_a_late_integration_session_counts_from_the_sessions_start(avery, tess, login):
    with time_machine.travel(local(9, 14), tick=False):
        session = medication_session(avery, tess)
        held = make_visit(avery, tess, starts=WINDOW_CLOSED + datetime.timedelta(hours=5))
    with time_machine.travel(WINDOW_CLOSED + datetime.timedelta(days=4), tick=False):
        record = write_record(login(tess), avery, session, visit=held.pk)
        assert record.late_by == datetime.timedelta(hours=5)
        assert "Completed late (5 hours)" in overview(login(tess), avery)


def test_a_late_integration_session_held_says_so_too(avery, tess, login):
    """Held 60 h after the session: done (within the 72 h expected), but after the 48 h window."""
    with time_machine.travel(local(9, 14), tick=False):
        medication_session(avery, tess)
        make_visit(
            avery, tess, starts=WINDOW_CLOSED + datetime.timedelta(hours=12), status=Visit.Status.COMPLETED
        )
    with time_machine.travel(local(13, 9), tick=False):
        [row] = client_standings(avery, practice=Practice.load())
        assert (row.standing, row.late_by) == (Standing.DONE, datetime.timedelta(hours=12))
        assert "Completed late (12 hours)" in overview(login(tess), avery)


@pytest.mark.parametrize(
    ("late_by", "words"),
    [
        (datetime.timedelta(minutes=1), "1 hour"),
        (datetime.timedelta(hours=5), "5 hours"),
        (datetime.timedelta(hours=23, minutes=1), "24 hours"),
        (datetime.timedelta(days=1), "1 day"),
        (datetime.timedelta(days=2, hours=13), "3 days"),
        (datetime.timedelta(days=3), "3 days"),
    ],
)
def test_lateness_in_words(late_by, words):
    assert late_words(late_by) == words


def test_the_field_is_set_at_creation_and_not_offered_on_the_form(avery, tess, login):
    with time_machine.travel(local(9, 14), tick=False):
        session = medication_session(avery, tess)
    with time_machine.travel(WINDOW_CLOSED + datetime.timedelta(days=1), tick=False):
        http = login(tess)
        form = http.get(reverse("integration:record_new", args=[avery.pk])).context["form"]
        assert "late_by" not in form.fields
        # A late_by sent with the form is ignored: the service works it out.
        record = write_record(http, avery, session, late_by="0")
        assert record.late_by == datetime.timedelta(days=1)
        assert timezone.now() == record.recorded_at
