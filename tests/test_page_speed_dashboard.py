"""The dashboard's lists are bounded: each shows its first rows (kapflow.views.SHOWN) and, when
there are more, a "Show all" link to the whole list, a page at a time, holding only the clients
the person may see and audited with the clients it names. Today's visits are found through the
index on the start (a visit that began last night and runs past midnight is still today's)."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from kapflow import views
from kapflow.audit.models import AuditEvent
from kapflow.dosing.models import AdverseEvent, Runbook
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.measures.models import Alert
from kapflow.medical.models import Clearance, Screening
from kapflow.visits.models import Visit
from tests import factories

pytestmark = pytest.mark.django_db


def _visit(client, clinician, starts, *, kind="consultation", status="scheduled", minutes=60):
    return Visit.objects.create(
        client=client,
        kind=kind,
        status=status,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=minutes),
        modality="virtual",
        clinician=clinician,
        created_by=clinician,
    )


def _caseload(count, *, therapist, prescriber=None, prefix="Client"):
    return [
        factories.make_client(
            first_name=f"{prefix}{n:02d}", last_name=f"Zed{n:02d}", therapist=therapist, prescriber=prescriber
        )
        for n in range(count)
    ]


def _list_clients(response) -> list[str]:
    return [client.first_name for client, _link, _words in response.context["rows"]]


def test_a_therapists_lists_show_the_first_rows_and_link_to_the_rest(login, tess, colin, priya):
    clients = _caseload(views.SHOWN + 2, therapist=tess, prescriber=priya)
    theirs = factories.make_client(first_name="Colins", therapist=colin)
    ended = timezone.now() - datetime.timedelta(days=4)
    for client in [*clients, theirs]:
        Alert.objects.create(client=client, kind="suicidality")
        clinician = client.care_team.first().user
        _visit(client, clinician, ended, kind="medication", status="completed", minutes=150)
        record = IntegrationRecord.objects.create(client=client, clinician=tess, themes="Grief.")
        ActionItem.objects.create(client=client, record=record, text=f"Walk {client.first_name}")
    http = login(tess)
    page = http.get("/")
    for key in ("urgent_alerts", "overdue_integrations", "action_items"):
        assert len(page.context[key]) == views.SHOWN and page.context[f"{key}_more"], key
    html = page.content.decode()
    for name in ("queue_alerts", "queue_integrations", "queue_action_items"):
        assert f'href="{reverse(name)}"' in html, name
    # The whole lists: every client of Tess's, in the same order, none of Colin's.
    names = [c.first_name for c in clients]
    alerts = http.get(reverse("queue_alerts"))
    assert _list_clients(alerts) == names
    assert _list_clients(http.get(reverse("queue_integrations"))) == names
    assert _list_clients(http.get(reverse("queue_action_items"))) == names
    overdue = page.context["overdue_integrations"]
    assert [row.session.client.first_name for row in overdue] == names[: views.SHOWN]
    event = AuditEvent.objects.filter(action="kapflow.dashboard.list_viewed").order_by("pk").first()
    assert event.actor == tess and event.client_id is None
    assert event.detail == {"list": "alerts", "page": 1, "clients": sorted(c.pk for c in clients)}


def test_a_short_list_has_no_show_all_link(login, tess):
    [client] = _caseload(1, therapist=tess)
    Alert.objects.create(client=client, kind="suicidality")
    page = login(tess).get("/")
    assert len(page.context["urgent_alerts"]) == 1 and not page.context["urgent_alerts_more"]
    assert reverse("queue_alerts") not in page.content.decode()


def test_a_whole_list_comes_a_page_at_a_time(login, tess, monkeypatch):
    monkeypatch.setattr(views, "QUEUE_PAGE_SIZE", 5)
    clients = _caseload(12, therapist=tess)
    for client in clients:
        Alert.objects.create(client=client, kind="suicidality")
    http = login(tess)
    pages = [http.get(reverse("queue_alerts"), {"page": n}) for n in (1, 2, 3)]
    assert [len(_list_clients(p)) for p in pages] == [5, 5, 2]
    assert sum((_list_clients(p) for p in pages), []) == [c.first_name for c in clients]
    assert "?page=2" in pages[0].content.decode() and "Page 3 of 3" in pages[2].content.decode()
    # A page past the end, or not a number, shows a page rather than failing.
    assert _list_clients(http.get(reverse("queue_alerts"), {"page": 99})) == _list_clients(pages[2])
    assert _list_clients(http.get(reverse("queue_alerts"), {"page": "x"})) == _list_clients(pages[0])


def test_a_prescribers_queues_are_bounded_and_whole_on_their_own_page(login, tess, priya):
    waiting_decision = _caseload(views.SHOWN + 1, therapist=tess, prescriber=priya, prefix="Screened")
    waiting_order = _caseload(views.SHOWN + 1, therapist=tess, prescriber=priya, prefix="Cleared")
    for client in [*waiting_decision, *waiting_order]:
        screening = Screening.objects.create(client=client, answers={}, age=35)
        if client in waiting_order:
            Clearance.objects.create(
                client=client,
                screening=screening,
                prescriber=priya,
                decision="cleared",
                findings="Well.",
                valid_until=timezone.localdate() + datetime.timedelta(days=200),
            )
    http = login(priya)
    page = http.get("/")
    assert len(page.context["clearances_waiting"]) == views.SHOWN and page.context["clearances_waiting_more"]
    assert len(page.context["orders_waiting"]) == views.SHOWN and page.context["orders_waiting_more"]
    assert _list_clients(http.get(reverse("queue_clearances"))) == [c.first_name for c in waiting_decision]
    assert _list_clients(http.get(reverse("queue_orders"))) == [c.first_name for c in waiting_order]


def test_the_front_desk_sees_the_first_arrivals_and_the_whole_day_on_its_own_page(login, tess, cora):
    clients = _caseload(views.SHOWN + 3, therapist=tess)
    nine = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(9)))
    for n, client in enumerate(clients):
        _visit(client, tess, nine + datetime.timedelta(minutes=20 * n), minutes=15)
    http = login(cora)
    page = http.get("/")
    assert len(page.context["arrivals"]) == views.SHOWN and page.context["arrivals_more"]
    assert reverse("queue_arrivals") in page.content.decode()
    assert _list_clients(http.get(reverse("queue_arrivals"))) == [c.first_name for c in clients]


def test_todays_visits_include_one_that_began_last_night_and_none_of_yesterday(login, tess):
    night_owl, early, other = _caseload(3, therapist=tess)
    midnight = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time()))
    across = _visit(night_owl, tess, midnight - datetime.timedelta(hours=1), minutes=120)
    _visit(early, tess, midnight - datetime.timedelta(hours=3), minutes=60)  # ended before midnight
    joined = _visit(other, factories.make_user("Colleague"), midnight + datetime.timedelta(hours=10))
    joined.other_clinicians.add(tess)
    _visit(other, tess, midnight + datetime.timedelta(days=1))  # tomorrow
    assert login(tess).get("/").context["todays_visits"] == [across, joined]


def _reviews_waiting(count, *, tess, priya):
    """`count` discharges with an override and `count` adverse events, none reviewed."""
    [client] = _caseload(1, therapist=tess, prescriber=priya)
    ended = timezone.now() - datetime.timedelta(days=1)
    runbooks = []
    for n in range(count):
        visit = _visit(
            client, tess, ended - datetime.timedelta(days=n), kind="medication", status="completed"
        )
        runbooks.append(
            Runbook.objects.create(
                visit=visit, discharged_at=ended, discharged_by=tess, override_reason=f"Ride {n} waiting."
            )
        )
    for n, runbook in enumerate(runbooks):
        AdverseEvent.objects.create(
            runbook=runbook,
            noted_at=ended - datetime.timedelta(minutes=n),
            kind="nausea",
            severity="mild",
            action_taken="Rest.",
            recorded_by=tess,
        )


def test_the_reviews_waiting_link_to_their_whole_lists(login, tess, priya):
    _reviews_waiting(views.SHOWN + 1, tess=tess, priya=priya)
    http = login(priya)
    page = http.get("/")
    assert page.context["events_to_review_more"] and page.context["overrides_to_review_more"]
    html = page.content.decode()
    assert reverse("queue_events") in html and reverse("queue_overrides") in html
    assert len(page.context["events_to_review"]) == len(page.context["overrides_to_review"]) == views.SHOWN
    assert len(http.get(reverse("queue_events")).context["rows"]) == views.SHOWN + 1
    overrides = http.get(reverse("queue_overrides"))
    assert (
        len(overrides.context["rows"]) == views.SHOWN + 1 and "Ride 0 waiting." in overrides.content.decode()
    )


def test_as_many_reviews_waiting_as_the_dashboard_shows_have_no_show_all(login, tess, priya):
    _reviews_waiting(views.SHOWN, tess=tess, priya=priya)
    page = login(priya).get("/")
    assert len(page.context["events_to_review"]) == views.SHOWN
    assert not page.context["events_to_review_more"] and not page.context["overrides_to_review_more"]
