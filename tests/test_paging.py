"""kapflow.lib.paging.IdsFirstPaginator: every page the same rows, in the same order, as
Django's Paginator gives, with the list's per-row columns read for the page's rows alone."""

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kapflow.clients.models import Client
from kapflow.lib.paging import IdsFirstPaginator
from tests import factories


@pytest.fixture
def many(tess):
    """Eleven clients, two pairs of them with the same name (the list's order falls back on the
    id), some with an emergency contact."""
    names = ["Lee", "Ng", "Lee", "Okafor", "Abara", "Ng", "Zhou", "Diaz", "Kim", "Moss", "Ortiz"]
    clients = []
    for n, last in enumerate(names):
        client = factories.make_client(first_name="Sam", last_name=last, therapist=tess)
        if n % 3 == 0:
            factories.add_emergency_contact(client)
        clients.append(client)
    return clients


@pytest.mark.parametrize("per_page, orphans", [(3, 0), (4, 1), (5, 2), (11, 0), (20, 0)])
def test_every_page_has_the_rows_and_columns_django_pages_would(many, per_page, orphans):
    rows = Client.objects.for_list()
    ours, django = (
        IdsFirstPaginator(rows, per_page, orphans=orphans),
        Paginator(rows, per_page, orphans=orphans),
    )
    assert ours.num_pages == django.num_pages
    for number in ours.page_range:
        shown = [(c.pk, c.primary_therapist_name, c.has_emergency_contact) for c in ours.page(number)]
        wanted = [(c.pk, c.primary_therapist_name, c.has_emergency_contact) for c in django.page(number)]
        assert shown == wanted, number
    assert ours.get_page(99).number == django.get_page(99).number


def test_a_later_page_skips_ids_not_whole_rows(many):
    """Past the first page the OFFSET is in the subquery that picks the page's ids: the query's
    own columns (a subquery each) are worked out for the page's rows alone."""
    page = IdsFirstPaginator(Client.objects.for_list(), 4).page(2)
    with CaptureQueriesContext(connection) as queries:
        list(page)
    [sql] = [query["sql"] for query in queries]
    after_the_subqueries = sql[sql.rindex(")") :]
    assert "OFFSET" in sql and "OFFSET" not in after_the_subqueries and "LIMIT" not in after_the_subqueries


def test_the_caseload_pages_through_every_client_once(login, cora, tess, monkeypatch):
    from kapflow.clients import views

    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    ids = {factories.make_client(first_name=f"Pat{n:02d}", therapist=tess).pk for n in range(7)}
    http = login(cora)
    seen = []
    for number in (1, 2):
        response = http.get(reverse("clients:caseload"), {"page": number})
        seen += [client.pk for client in response.context["page"].object_list]
    assert sorted(seen) == sorted(ids)
