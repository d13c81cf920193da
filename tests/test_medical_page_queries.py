"""The medical page reads each order's dosed sessions with the orders (issue 12): its queries do
not grow with the client's orders, and each order's status still counts the sessions dosed."""

import datetime
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.dosing.models import Administration, Runbook
from kapflow.medical.selectors import medical_summary
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests.test_medical import make_order


def test_the_medical_pages_queries_do_not_grow_with_the_orders(login, avery, priya):
    make_order(avery, priya)
    http = login(priya)
    url = reverse("medical:summary", args=[avery.pk])
    http.get(url)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert http.get(url).status_code == 200
        return len(queries)

    before = count()
    today = timezone.localdate()
    for weeks in (20, 30, 40):
        make_order(
            avery,
            priya,
            starts_on=today - datetime.timedelta(weeks=weeks),
            ends_on=today - datetime.timedelta(weeks=weeks - 8),
        )
    assert count() == before


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
    summary = medical_summary(avery, practice=Practice.load(), history=True)
    assert {order.pk: order.sessions_remaining() for order in summary.orders} == {spent.pk: 0, fresh.pk: 5}
    assert [order.pk for order in summary.active_orders] == [fresh.pk]
    assert {order.pk: order.status()[0] for order in summary.orders} == {
        spent.pk: "No sessions left",
        fresh.pk: "Active",
    }
