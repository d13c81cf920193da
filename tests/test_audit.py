import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record


@pytest.fixture
def event(avery, tess):
    return audit_record(actor=tess, action="kapflow.clients.chart.viewed", client=avery, obj=avery)


def test_it_refuses_an_update_through_the_orm(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="kapflow.nothing.happened")
    event.refresh_from_db()
    assert event.action == "kapflow.clients.chart.viewed"


def test_it_refuses_a_delete_through_the_orm(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_it_refuses_raw_sql_too(event):
    for statement in (
        f"UPDATE audit_auditevent SET action = 'x' WHERE id = {event.pk}",
        f"DELETE FROM audit_auditevent WHERE id = {event.pk}",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as c,
        ):
            c.execute(statement)
    assert AuditEvent.objects.get(pk=event.pk).action == "kapflow.clients.chart.viewed"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
def test_it_refuses_truncate_on_postgresql(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")  # settle the test's own pending FK checks first
        c.execute("TRUNCATE audit_auditevent CASCADE")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_it_still_accepts_new_rows(event, tess):
    audit_record(actor=tess, action="kapflow.clients.chart.viewed")
    assert AuditEvent.objects.count() == 2


def test_it_insists_on_namespaced_action_codes(tess):
    with pytest.raises(ValueError, match="kapflow."):
        audit_record(actor=tess, action="viewed")


def test_it_records_who_what_where_and_the_request(login, tess, avery):
    response = login(tess).get(reverse("clients:chart", args=[avery.pk]), REMOTE_ADDR="203.0.113.7")
    row = AuditEvent.objects.get(action="kapflow.clients.chart.viewed")
    assert (row.actor, row.actor_label, row.client, row.object_type, row.object_id) == (
        tess,
        "tess@example.org",
        avery,
        "clients.client",
        str(avery.pk),
    )
    assert row.ip_address == "203.0.113.7"
    assert row.request_id == response["X-Request-ID"]


def test_it_takes_the_address_the_proxy_appended_when_behind_one(login, tess, avery, settings):
    settings.BEHIND_PROXY = True
    login(tess).get(
        reverse("clients:chart", args=[avery.pk]),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9",
        HTTP_X_REQUEST_ID="proxy-req-12345678",
    )
    row = AuditEvent.objects.get(action="kapflow.clients.chart.viewed")
    assert (row.ip_address, row.request_id) == ("198.51.100.9", "proxy-req-12345678")


class TestAuditPage:
    def test_it_shows_the_admin_every_row_filtered_by_client(self, login, ada, tess, avery, olive):
        audit_record(actor=tess, action="kapflow.clients.chart.viewed", client=avery)
        audit_record(actor=tess, action="kapflow.clients.chart.viewed", client=olive)
        response = login(ada).get(reverse("audit_log"), {"client": avery.pk})
        assert response.status_code == 200
        rows = list(response.context["page"].object_list)
        assert [row.client for row in rows] == [avery]

    def test_it_filters_by_person_and_date(self, login, ada, tess, colin):
        audit_record(actor=tess, action="kapflow.clients.caseload.viewed")
        audit_record(actor=colin, action="kapflow.clients.caseload.viewed")
        response = login(ada).get(
            reverse("audit_log"), {"actor": tess.pk, "date_from": "2000-01-01", "date_to": "2999-12-31"}
        )
        assert {row.actor for row in response.context["page"].object_list} == {tess}
        later = login(ada).get(reverse("audit_log"), {"date_from": "2999-01-01"})
        assert list(later.context["page"].object_list) == []

    def test_it_explains_a_backwards_date_range(self, login, ada):
        response = login(ada).get(reverse("audit_log"), {"date_from": "2026-02-01", "date_to": "2026-01-01"})
        assert response.status_code == 200
        assert "The end date is before the start date." in response.content.decode()

    def test_reading_the_log_is_itself_audited(self, login, ada, tess, audit_rows):
        audit_record(actor=tess, action="kapflow.clients.chart.viewed")
        login(ada).get(reverse("audit_log"), {"action": "kapflow.clients.chart.viewed"})
        row = audit_rows("kapflow.audit.log.viewed")[0]
        assert row.actor == ada and row.detail == {"action": "kapflow.clients.chart.viewed"}
