"""Who may act as the prescriber in a client's care (on site for a session, signing a REMS
enrolment): kapflow.clients.selectors.prescribers_for, which both forms and both services ask."""

import pytest

from kapflow.clients.selectors import prescribers_for
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_practices_prescribers_and_an_outside_one_only_on_the_clients_team(tess, priya):
    outside = factories.make_user("Oscar Outside", roles=("is_prescriber", "outside_practice"))
    ours = factories.make_client(therapist=tess, prescriber=outside)
    theirs = factories.make_client(first_name="Blake", therapist=tess)
    left = factories.make_user("Lou Left", roles=("is_prescriber",))
    left.is_active = False
    left.save()
    factories.make_user("Theo Therapist", roles=("is_therapist",))
    assert list(prescribers_for(ours.pk)) == [outside, priya]  # by name
    assert list(prescribers_for(theirs.pk)) == [priya]
    assert list(prescribers_for(None)) == [priya]


def test_each_prescriber_once_however_many_clients_they_care_for(tess, priya, django_assert_num_queries):
    """Asked of each prescriber, not joined to every care-team row they have: no duplicates and
    no DISTINCT over every column, so the list costs the same whatever the size of their
    caseloads."""
    clients = [factories.make_client(first_name=f"C{n}", therapist=tess, prescriber=priya) for n in range(5)]
    query = str(prescribers_for(clients[0].pk).query)
    assert "DISTINCT" not in query and "JOIN" not in query
    with django_assert_num_queries(1):
        assert list(prescribers_for(clients[0].pk)) == [priya]
