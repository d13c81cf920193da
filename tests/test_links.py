"""kapflow.lib.links.row_link: a URL reversed once for every row of a list is, for each row, the
URL reverse() gives for that row's ids."""

from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from kapflow.lib.links import row_link

_ids = st.integers(min_value=1, max_value=2**63 - 1)


@given(client=_ids)
def test_a_row_with_one_id(client):
    assert row_link("clients:chart")(client) == reverse("clients:chart", args=[client])


@given(client=_ids, visit=_ids)
def test_a_row_with_two_ids(client, visit):
    assert row_link("dosing:runbook", ids=2)(client, visit) == reverse("dosing:runbook", args=[client, visit])


@given(client=_ids, response=_ids)
def test_a_row_on_one_clients_page(client, response):
    detail = row_link("measures:detail", client)
    assert detail(response) == reverse("measures:detail", args=[client, response])
