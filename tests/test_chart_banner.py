"""The banner on the client pages that show nothing else of the chart (visits, pathway,
integration, medical, the measures and their progress charts), which read the client with
kapflow.clients.access.client_banner_for: the same flags as the chart's banner, the guardians read
for a minor only, and the pages' queries the same whatever the client's contacts (issue 12)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests import factories

BANNER_PAGES = [
    "visits:list",
    "pathway:overview",
    "integration:overview",
    "medical:summary",
    "measures:list",
    "measures:progress",
]


@pytest.mark.parametrize("name", BANNER_PAGES)
def test_a_minors_banner_warns_of_no_guardian_who_can_consent(login, tess, priya, name):
    minor = factories.make_client(
        first_name="Maya", last_name="Okafor", age=16, therapist=tess, prescriber=priya
    )
    page = login(tess).get(reverse(name, args=[minor.pk])).content.decode()
    assert "Minor" in page and "No guardian who can consent" in page and "No emergency contact" in page

    factories.add_guardian(minor)
    factories.add_emergency_contact(minor)
    page = login(tess).get(reverse(name, args=[minor.pk])).content.decode()
    assert "Minor" in page
    assert "No guardian who can consent" not in page and "No emergency contact" not in page


@pytest.mark.parametrize("name", BANNER_PAGES)
def test_an_adults_banner_has_no_minor_flags(login, avery, tess, name):
    page = login(tess).get(reverse(name, args=[avery.pk])).content.decode()
    assert "Minor" not in page and "No guardian who can consent" not in page
    assert "No emergency contact" not in page


@pytest.mark.parametrize("name", BANNER_PAGES)
def test_the_banner_pages_queries_do_not_grow_with_the_clients_contacts(login, tess, priya, name):
    minor = factories.make_client(age=16, therapist=tess, prescriber=priya)
    http = login(tess)
    url = reverse(name, args=[minor.pk])
    http.get(url)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert http.get(url).status_code == 200
        return len(queries)

    before = count()
    for _ in range(3):
        factories.add_guardian(minor)
        factories.add_emergency_contact(minor)
    assert count() == before


# What a banner page reads of the chart because it shows it itself: the pathway's consent status
# names the outside providers a release of information may go to (consent/status.html).
SHOWN_BY_THE_PAGE = {"pathway:overview": {"clients_outsideprovider"}}


@pytest.mark.parametrize("name", BANNER_PAGES)
def test_the_banner_pages_read_none_of_the_chart_they_do_not_show(login, avery, tess, name):
    """The client's outside providers and first inquiry are the chart's to show, not these
    pages': client_banner_for reads neither (client_chart_for reads both)."""
    http = login(tess)
    url = reverse(name, args=[avery.pk])
    with CaptureQueriesContext(connection) as queries:
        assert http.get(url).status_code == 200
    tables = {"clients_outsideprovider", "inquiries_inquiry"} - SHOWN_BY_THE_PAGE.get(name, set())
    read = [query["sql"] for query in queries if any(f'"{table}"' in query["sql"] for table in tables)]
    assert read == []
