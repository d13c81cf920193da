"""What is read or refused is audited (issue 11, item 8): a 403 or 404 on a client URL, the
dashboard's lists of clients, and each fetch of a private calendar feed with its address."""

import pytest
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseNotFound
from django.test import RequestFactory
from django.urls import reverse

from kapflow.audit.middleware import audit_denied
from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record
from kapflow.clients.access import client_for
from kapflow.medical.models import Screening
from kapflow.visits.models import CalendarFeed
from tests import factories

DENIED = "kapflow.audit.access.denied"


def test_a_chart_outside_the_persons_care_is_refused_and_audited(login, tess, olive, audit_rows):
    response = login(tess).get(reverse("clients:chart", args=[olive.pk]), REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 404
    (row,) = audit_rows(DENIED)
    assert (row.actor, row.client, row.ip_address) == (tess, olive, "203.0.113.9")
    assert row.detail == {
        "path": f"/clients/{olive.pk}/",
        "method": "GET",
        "status": 404,
        "client_id": str(olive.pk),
    }


def test_a_client_id_that_does_not_exist_is_audited_with_the_id_asked_for(login, tess, audit_rows):
    assert login(tess).get(reverse("clients:chart", args=[987654])).status_code == 404
    (row,) = audit_rows(DENIED)
    assert (row.actor, row.client, row.detail["client_id"], row.detail["status"]) == (
        tess,
        None,
        "987654",
        404,
    )


def test_a_403_on_a_client_url_is_audited(login, cleo, avery, audit_rows):
    # A portal account on a staff page about a client.
    response = login(cleo).get(reverse("clients:chart", args=[avery.pk]))
    assert response.status_code == 403
    (row,) = audit_rows(DENIED)
    assert (row.actor, row.client, row.detail["status"]) == (cleo, avery, 403)


def test_a_portal_record_outside_the_accounts_reach_is_audited(login, cleo, olive, audit_rows):
    assert login(cleo).get(reverse("portal:client_home", args=[olive.pk])).status_code == 404
    (row,) = audit_rows(DENIED)
    assert (row.actor, row.client, row.detail["client_id"]) == (cleo, olive, str(olive.pk))


def test_the_denial_row_survives_a_rollback_of_the_view(tess, olive):
    """The scoping helper refuses inside a view's transaction (as inside a service): the 404
    rolls that transaction back, and the denial is written after it, on its own."""
    request = RequestFactory().get(f"/clients/{olive.pk}/")
    request.user = tess

    def view(request):
        try:
            with transaction.atomic():
                audit_record(request=request, action="kapflow.tests.view.started")
                client_for(request, olive.pk, action="kapflow.clients.chart.viewed")
        except Http404:
            return HttpResponseNotFound()
        return HttpResponse()

    assert audit_denied(view)(request).status_code == 404
    assert not AuditEvent.objects.filter(action="kapflow.tests.view.started").exists()
    assert AuditEvent.objects.filter(action=DENIED, client=olive, actor=tess).count() == 1


def test_a_page_that_answers_is_not_a_denial(login, tess, avery, audit_rows):
    assert login(tess).get(reverse("clients:chart", args=[avery.pk])).status_code == 200
    assert audit_rows(DENIED) == []


def test_a_404_elsewhere_is_not_a_client_denial(login, tess, audit_rows):
    assert login(tess).get("/no/such/page/").status_code == 404
    assert audit_rows(DENIED) == []


@pytest.mark.usefixtures("pathway_ready")
def test_the_dashboard_is_audited_once_naming_the_clients_it_shows(login, priya, avery, olive, audit_rows):
    # Priya's queue: Avery's screening waits for a clearance decision, and Ezra's.
    Screening.objects.create(client=avery, answers={}, age=30)
    extra = factories.make_client(first_name="Ezra", last_name="Ellis", therapist=None, prescriber=priya)
    Screening.objects.create(client=extra, answers={}, age=30)
    response = login(priya).get(reverse("home"))
    assert response.status_code == 200
    (row,) = audit_rows("kapflow.dashboard.viewed")
    assert row.actor == priya and row.client is None
    assert row.detail == {"clients": sorted([avery.pk, extra.pk])}


def test_a_dashboard_with_no_clients_on_it_is_audited_too(login, ada, audit_rows):
    assert login(ada).get(reverse("home")).status_code == 200
    (row,) = audit_rows("kapflow.dashboard.viewed")
    assert (row.actor, row.detail) == (ada, {"clients": []})


def test_each_feed_fetch_is_audited_with_its_owner_and_address(login, tess, audit_rows):
    login(tess).post(reverse("calendar:feed_create"))
    feed = CalendarFeed.objects.get(user=tess, revoked_at__isnull=True)
    for _ in range(2):
        response = login(None).get(reverse("calendar:feed", args=[feed.token]), REMOTE_ADDR="198.51.100.23")
        assert response.status_code == 200
    rows = audit_rows("kapflow.visits.feed.fetched")
    assert len(rows) == 2
    row = rows[-1]
    assert (row.actor, row.actor_label, row.ip_address) == (tess, "tess@example.org", "198.51.100.23")
    assert row.detail["via"] == "calendar feed" and row.request_id
    assert (row.object_type, row.object_id) == ("visits.calendarfeed", str(feed.pk))
