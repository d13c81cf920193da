"""Issue 13, defect 2: the dose form offered a discontinued order (the dose service refused it
afterwards, but the choice should never have been there). The form offers the orders in force
on the day: not discontinued, not expired, not yet to start."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from kapflow.dosing.forms import DoseForm
from tests.test_runbook import DAY, make_order


@pytest.fixture(autouse=True)
def on_the_day():
    with time_machine.travel(DAY, tick=False):
        yield


def test_the_dose_form_offers_only_orders_in_force_today(avery, priya):
    in_force = make_order(avery, priya)
    discontinued = make_order(avery, priya, route="intramuscular")
    discontinued.discontinued_at = timezone.now() - datetime.timedelta(hours=1)
    discontinued.discontinued_by = priya
    discontinued.discontinue_reason = "Changed to sublingual."
    discontinued.save()
    ended = make_order(avery, priya, ends_on=DAY.date() - datetime.timedelta(days=1))
    not_yet = make_order(avery, priya, starts_on=DAY.date() + datetime.timedelta(days=1))

    offered = set(DoseForm(client=avery).fields["order"].queryset)

    assert offered == {in_force}
    assert not offered & {discontinued, ended, not_yet}


def test_a_discontinued_order_sent_anyway_is_refused_by_the_form(avery, priya):
    discontinued = make_order(avery, priya)
    discontinued.discontinued_at = timezone.now()
    discontinued.discontinued_by = priya
    discontinued.discontinue_reason = "Course complete."
    discontinued.save()

    form = DoseForm(
        {"order": discontinued.pk, "route": "sublingual", "dose_mg": "200", "lot_number": "L1"},
        client=avery,
    )

    assert not form.is_valid()
    assert "order" in form.errors


def test_a_session_past_midnight_still_offers_the_order_in_force_on_its_day(avery, priya, tess, cora):
    """An order that ended on the session's day is still offered just after midnight: a dose
    given before midnight is recorded against it (the service checks the time it was given)."""
    from kapflow.visits.models import Visit

    ends_today = make_order(avery, priya, ends_on=timezone.localdate())
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=timezone.now(),
        ends_at=timezone.now() + datetime.timedelta(hours=3),
        clinician=tess,
        created_by=cora,
    )
    with time_machine.travel(timezone.now() + datetime.timedelta(days=1), tick=False):
        assert set(DoseForm(client=avery).fields["order"].queryset) == set()
        assert set(DoseForm(client=avery, visit=visit).fields["order"].queryset) == {ends_today}
