"""The demo practice that `make run` loads: it loads, loading it again adds nothing, and what it
shows a newcomer follows the practice's own rules (a record that breaks them would teach the
wrong thing)."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.dosing import rules, selectors
from kapflow.dosing.models import AdverseEvent, Runbook
from kapflow.integration.models import ActionItem
from kapflow.integration.window import Standing, client_standings
from kapflow.outcomes.forms import default_period
from kapflow.outcomes.report import build_report
from kapflow.practice.demo import load_demo
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return load_demo()


def test_it_loads_once_and_a_second_load_adds_nothing(demo):
    counts = (Client.objects.count(), Visit.objects.count(), Runbook.objects.count())
    again = load_demo()
    assert not again["first_time"]
    assert (Client.objects.count(), Visit.objects.count(), Runbook.objects.count()) == counts


def test_every_signed_demo_session_met_the_discharge_criteria_when_it_was_discharged(demo):
    practice = Practice.load()
    books = list(Runbook.objects.filter(signed_at__isnull=False).select_related("visit"))
    assert len(books) >= 10
    for book in books:
        state = selectors.discharge_state(
            book,
            alert_and_oriented=book.alert_and_oriented,
            steady_on_feet=book.steady_on_feet,
            escort_present=book.escort_present,
        )
        assert rules.discharge_unmet(state, now=book.discharged_at, practice=practice) == [], book.visit
        latest = book.vitals.order_by("-taken_at").first()
        assert latest.taken_at <= book.discharged_at <= book.signed_at
        assert book.visit.status == Visit.Status.COMPLETED


def test_the_demo_has_a_session_to_run_today_and_owes_few_integrations(demo):
    today = Visit.objects.get(kind=Visit.Kind.MEDICATION, status=Visit.Status.CHECKED_IN)
    assert timezone.localdate(today.starts_at) == timezone.localdate()
    practice = Practice.load()
    owed = done = 0
    for client in Client.objects.filter(visits__kind=Visit.Kind.MEDICATION).distinct():
        for row in client_standings(client, practice=practice):
            owed += row.overdue
            done += row.standing is Standing.DONE
    assert done > 10 * owed >= 10
    # Older action items were reviewed at later integrations: the open ones are the latest
    # record's of each client.
    open_items = list(ActionItem.objects.filter(status__in=ActionItem.STILL_OPEN).select_related("record"))
    assert open_items and ActionItem.objects.exclude(status__in=ActionItem.STILL_OPEN).exists()
    for item in open_items:
        latest = item.client.integration_records.order_by("-recorded_at", "-pk").first()
        assert item.record == latest


def test_the_portal_sign_ins_have_something_to_show(demo):
    client = Client.objects.get(portal_user__email="client@demo.kapflow.test")
    assert client.visits.filter(starts_at__gt=timezone.now()).exists()
    assert client.responses.exists() and client.measure_tasks.filter(response__isnull=True).exists()
    assert Client.objects.filter(guardians__portal_user__email="guardian@demo.kapflow.test").exists()


# A quarter's first day, its middle and its last, and the days either side of a year's end: the
# demo is dated from the day it is loaded, and must show a quarter whenever that is.
LOAD_DAYS = ["2026-01-01", "2026-02-15", "2026-03-31", "2026-04-01", "2026-12-04", "2026-12-31"]


@pytest.mark.parametrize("loaded_on", LOAD_DAYS)
def test_the_outcome_report_has_a_practices_quarter_to_show_whenever_the_demo_is_loaded(loaded_on):
    """Finished courses in the latest quarter that has ended (the report's only periods since
    issue 11: whole quarters, so that reports cannot be subtracted), enough clients to show the
    practice's figures, and results in the range published KAP practices report (not all
    responding, not none)."""
    with time_machine.travel(datetime.datetime.fromisoformat(f"{loaded_on}T18:00:00+00:00"), tick=False):
        load_demo()
        start, end = default_period()
        report = build_report(start=start, end=end)
    phq9 = report.overall.instruments["phq9"]
    assert report.overall.shown and phq9.shown and phq9.n >= 15 and phq9.mean_change < -4
    assert 35 <= phq9.response <= 75 and 10 <= phq9.remission <= phq9.response
    assert report.overall.sessions_mean >= 4 and report.overall.sessions_max >= 6


def test_clients_who_have_left_care_wait_for_nothing_and_names_do_not_repeat(demo):
    names = list(Client.objects.values_list("first_name", "last_name"))
    assert len(names) == len(set(names))
    alumni = Client.objects.filter(stage=Client.Stage.DISCHARGED)
    assert alumni.count() >= 15
    assert not ActionItem.objects.filter(client__in=alumni, status__in=ActionItem.STILL_OPEN).exists()
    assert not AdverseEvent.objects.filter(runbook__visit__client__in=alumni, review__isnull=True).exists()
    # Their records are whole: signed runbooks, an integration record after every session.
    for client in alumni.filter(visits__kind=Visit.Kind.MEDICATION).distinct():
        sessions = client.visits.filter(kind=Visit.Kind.MEDICATION)
        assert not sessions.filter(runbook__signed_at__isnull=True).exists()
        assert client.integration_records.count() == sessions.count()
        assert client.clearances.exists() and client.consultations.exists()
