"""The medical page reads each order's dosed sessions with the orders (issue 12): its queries do
not grow with the client's orders, and each order's status still counts the sessions dosed. Its
three medical gates are given the screening, clearance and orders the page has read, and answer
as the gates do reading them afresh."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kapflow.dosing.models import Administration, Runbook
from kapflow.medical import gates
from kapflow.medical.selectors import medical_summary
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests.test_medical import make_clearance, make_order, make_screening
from tests.test_query_counts import count_queries


@pytest.mark.parametrize("in_force", [False, True])
def test_the_medical_pages_queries_do_not_grow_with_the_orders(login, avery, priya, in_force):
    """Orders ended long ago, or orders in force with a session dosed under each: an order in
    force asks how many sessions were dosed under it, and the page's own count, read with the
    orders, answers the order gate too."""
    make_order(avery, priya)
    http = login(priya)
    url = reverse("medical:summary", args=[avery.pk])
    http.get(url)
    before = len(count_queries(http, url).queries)
    today = timezone.localdate()
    for weeks in (20, 30, 40):
        if in_force:
            _dosed(make_order(avery, priya), priya)
        else:
            make_order(
                avery,
                priya,
                starts_on=today - datetime.timedelta(weeks=weeks),
                ends_on=today - datetime.timedelta(weeks=weeks - 8),
            )
    assert len(count_queries(http, url).queries) == before


def _dosed(order, who, *, boosters=0):
    """A completed medication session dosed under `order` (its first dose), with `boosters`."""
    now = timezone.now()
    visit = Visit.objects.create(
        client=order.client,
        kind=Visit.Kind.MEDICATION,
        starts_at=now - datetime.timedelta(hours=3),
        ends_at=now - datetime.timedelta(minutes=30),
        modality=Visit.Modality.VIRTUAL,
        status=Visit.Status.COMPLETED,
        clinician=who,
        created_by=who,
    )
    runbook = Runbook.objects.create(visit=visit)
    for n in range(1 + boosters):
        Administration.objects.create(
            runbook=runbook,
            order=order,
            given_at=now - datetime.timedelta(hours=2, minutes=-10 * n),
            route=order.route,
            dose_mg=Decimal("200"),
            lot_number="L1",
            given_by=who,
            recorded_by=who,
            is_booster=n > 0,
        )


def test_the_summary_counts_each_orders_dosed_sessions_without_boosters(avery, priya):
    spent = make_order(avery, priya, sessions_authorised=2)
    fresh = make_order(avery, priya)
    _dosed(spent, priya, boosters=1)
    _dosed(spent, priya)
    _dosed(fresh, priya, boosters=2)
    summary = medical_summary(avery, practice=Practice.load())
    assert {order.pk: order.sessions_remaining() for order in summary.orders} == {spent.pk: 0, fresh.pk: 5}
    assert [order.pk for order in summary.active_orders] == [fresh.pk]
    assert {order.pk: order.status()[0] for order in summary.orders} == {
        spent.pk: "No sessions left",
        fresh.pk: "Active",
    }


def test_the_summarys_gates_answer_as_the_gates_read_afresh(avery, priya):
    """Each state a gate tells apart: nothing yet, a screening with an exclusion, its clearance,
    an order in force, the order spent, and a later screening and clearance."""
    practice = Practice.load()

    def afresh():
        return [
            gates.screening_gate(avery, practice=practice),
            gates.clearance_gate(avery),
            gates.order_gate(avery),
        ]

    def summarised():
        return medical_summary(avery, practice=practice).gates

    def passed():
        return [gate.passed for gate in afresh()]

    assert summarised() == afresh() and passed() == [False, False, False]
    screening = make_screening(avery, yes=("pregnancy",))
    assert summarised() == afresh() and passed() == [False, False, False]
    make_clearance(avery, screening, priya, resolutions={"pregnancy": "Not pregnant: test of today."})
    assert summarised() == afresh() and passed() == [True, True, False]
    order = make_order(avery, priya, sessions_authorised=1)
    assert summarised() == afresh() and passed() == [True, True, True]
    _dosed(order, priya)
    assert summarised() == afresh() and passed() == [True, True, False]
    later = make_screening(avery, at=timezone.now() + datetime.timedelta(minutes=1))
    make_clearance(avery, later, priya, decision="not_cleared")
    assert summarised() == afresh() and passed() == [True, False, False]


def test_the_order_gate_read_alone_does_not_grow_with_the_orders(avery, priya):
    """The chart's readiness panel and a visit's page ask the order gate to read the orders
    itself: it reads their dosed sessions with them, one query however many orders are in force."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _dosed(make_order(avery, priya), priya)
    with CaptureQueriesContext(connection) as one:
        first = gates.order_gate(avery)
    for _n in range(3):
        _dosed(make_order(avery, priya), priya)
    with CaptureQueriesContext(connection) as four:
        later = gates.order_gate(avery)
    assert first.passed and later.passed
    assert len(four) == len(one) == 1
