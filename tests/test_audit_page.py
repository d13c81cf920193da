"""Issue 12, item 4: the audit page pages by key and filters from indexes.

Rows come newest first in the order (at, id); "Older" and "Newer" carry the id of the row the
next page continues from. Nothing counts the log's rows and nothing searches it with LIKE, so a
page costs the same few queries whatever the size of the log."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.audit import selectors
from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record

pytestmark = pytest.mark.django_db
URL = "/audit/"
VIEWED = "kapflow.audit.log.viewed"
T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


def add_rows(
    count, *, start=T0, actor=None, client=None, action="kapflow.clients.chart.viewed", same_instant=1
):
    """`count` rows, `same_instant` at a time sharing one `at` (so that pages split ties), one
    second apart from `start` on."""
    rows = [
        AuditEvent(
            at=start + datetime.timedelta(seconds=n // same_instant),
            actor=actor,
            actor_label=actor.email if actor else "",
            action=action,
            client=client,
            detail={"n": n},
        )
        for n in range(count)
    ]
    AuditEvent.objects.bulk_create(rows)
    return list(AuditEvent.objects.filter(detail__n__isnull=False).order_by("-at", "-pk"))


def shown(response, *, views=True) -> list[int]:
    """The ids of the rows on the page; without the page's own "log viewed" rows if not `views`
    (reading a client's lines is itself a line about that client)."""
    return [e.pk for e in response.context["page"].object_list if views or e.action != VIEWED]


def link(response, rel: str) -> str | None:
    match = re.search(rf'<a href="\?([^"]*)" rel="{rel}">', response.content.decode())
    return "?" + match.group(1).replace("&amp;", "&") if match else None


def walk(browser, first: str, rel: str, between=lambda: None) -> list[list[int]]:
    pages, url = [], first
    while url is not None:
        response = browser.get(URL + url)
        assert response.status_code == 200
        pages.append(shown(response))
        between()
        url = link(response, rel)
        assert len(pages) < 50, "the pager does not end"
    return pages


class TestKeysetPaging:
    def test_older_pages_show_every_row_once_while_rows_are_written(self, login, ada, tess, avery):
        # 250 rows, three to an instant: page boundaries fall inside ties of `at`.
        rows = add_rows(250, actor=tess, client=avery, same_instant=3)
        browser = login(ada)
        written = []

        def someone_works():
            written.append(audit_record(actor=tess, action="kapflow.clients.chart.viewed", client=avery))

        pages = walk(browser, f"?client=K-{avery.pk:05d}", "next", between=someone_works)
        seen = [pk for page in pages for pk in page]
        assert [len(page) for page in pages] == [100, 100, 50]
        # Every row once, newest first; the rows written meanwhile are newer than the first
        # page, so they wait for the next visit to the newest page instead of shifting these.
        assert seen == [row.pk for row in rows]
        newest = browser.get(URL, {"client": f"K-{avery.pk:05d}"})
        assert shown(newest, views=False)[: len(written)] == [row.pk for row in reversed(written)]

    def test_newer_pages_lead_back_to_the_newest(self, login, ada, tess, avery):
        rows = add_rows(230, actor=tess, client=avery, same_instant=4)
        browser = login(ada)
        older = walk(browser, f"?client={avery.pk}", "next")
        last = browser.get(URL + link(browser.get(URL + f"?client={avery.pk}&before={older[1][-1]}"), "prev"))
        assert shown(last) == older[1]
        back = walk(browser, f"?client={avery.pk}&after={older[-1][0]}", "prev")
        ids = [pk for page in reversed(back) for pk in page]
        assert len(ids) == len(set(ids))
        viewed = set(AuditEvent.objects.filter(action=VIEWED).values_list("pk", flat=True))
        assert [pk for pk in ids if pk not in viewed] == [row.pk for row in rows][:200]
        # The reading of the pages is newest of all, but for the last page's own, written after.
        assert viewed - {max(viewed)} <= set(ids)

    def test_a_row_backdated_into_pages_already_seen_does_not_repeat_a_row(self, login, ada, tess, avery):
        add_rows(150, actor=tess, client=avery)
        browser = login(ada)
        first = browser.get(URL, {"client": avery.pk})
        # A row dated among the first page's (an import, a clock put right) while reading.
        AuditEvent.objects.create(
            at=T0 + datetime.timedelta(seconds=140, microseconds=5),
            actor=tess,
            action="kapflow.clients.chart.viewed",
            client=avery,
        )
        second = browser.get(URL + link(first, "next"))
        assert not set(shown(first)) & set(shown(second))
        assert len(shown(first)) + len(shown(second)) == 150

    def test_the_first_page_has_no_newer_link_and_the_last_no_older(self, login, ada, tess):
        add_rows(5, actor=tess)
        response = login(ada).get(URL)
        assert link(response, "prev") is None and link(response, "next") is None
        assert 'rel="next"' not in response.content.decode()


class TestFilters:
    @pytest.fixture
    def log(self, tess, colin, avery, olive):
        add_rows(3, actor=tess, client=avery, action="kapflow.clients.chart.viewed")
        add_rows(
            4,
            actor=colin,
            client=olive,
            action="kapflow.clients.chart.viewed",
            start=T0 + datetime.timedelta(days=2),
        )
        add_rows(
            2,
            actor=tess,
            client=olive,
            action="kapflow.visits.visit.booked",
            start=T0 + datetime.timedelta(days=5),
        )

    def rows(self, login, ada, **params):
        response = login(ada).get(URL, params)
        assert response.status_code == 200
        assert not response.context["form"].errors, response.context["form"].errors
        return [e for e in response.context["page"].object_list if e.action != VIEWED]

    @pytest.mark.parametrize("typed", ["K-{pk:05d}", "k{pk}", "{pk}", " K - {pk} "])
    def test_by_client_record_as_the_chart_writes_it(self, login, ada, log, avery, typed):
        rows = self.rows(login, ada, client=typed.format(pk=avery.pk))
        assert len(rows) == 3 and {row.client_id for row in rows} == {avery.pk}

    def test_by_person(self, login, ada, log, tess):
        rows = self.rows(login, ada, actor=tess.pk)
        assert len(rows) == 5 and {row.actor_id for row in rows} == {tess.pk}

    def test_by_action_from_the_actions_the_log_holds(self, login, ada, log):
        rows = self.rows(login, ada, action="kapflow.visits.visit.booked")
        assert len(rows) == 2
        form = login(ada).get(URL).context["form"]
        offered = [code for _group, choices in form.fields["action"].choices[1:] for code, _label in choices]
        assert set(offered) == set(AuditEvent.objects.values_list("action", flat=True).distinct())
        assert {"kapflow.clients.chart.viewed", "kapflow.visits.visit.booked", VIEWED} <= set(offered)

    def test_by_dates_each_end_included(self, login, ada, log, settings):
        settings.TIME_ZONE = "UTC"
        day = (T0 + datetime.timedelta(days=2)).date()
        assert len(self.rows(login, ada, date_from=day, date_to=day)) == 4
        assert len(self.rows(login, ada, date_from=day)) == 6
        assert len(self.rows(login, ada, date_to=day)) == 7

    def test_combined(self, login, ada, log, tess, olive):
        rows = self.rows(login, ada, client=olive.pk, actor=tess.pk, action="kapflow.visits.visit.booked")
        assert len(rows) == 2

    def test_the_person_list_offers_the_staff_and_keeps_anyone_asked_for(self, login, ada, tess, cleo):
        audit_record(actor=cleo, action="kapflow.portal.home.viewed")
        page = login(ada).get(URL).content.decode()
        assert "Tess Therapist</option>" in page and "Cleo Client</option>" not in page
        response = login(ada).get(URL, {"actor": cleo.pk})
        assert f'<option value="{cleo.pk}" selected>Cleo Client</option>' in response.content.decode()
        assert [e.actor for e in response.context["page"].object_list] == [cleo]

    def test_rows_link_to_their_own_filters(self, login, ada, log, tess, avery):
        page = login(ada).get(URL, {"client": avery.pk}).content.decode()
        assert f'href="?actor={tess.pk}"' in page
        assert 'href="?action=kapflow.clients.chart.viewed"' in page
        assert f'href="?client=K-{avery.pk:05d}"' in page


class TestBadParameters:
    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"client": "K-twelve"}, "Enter a client record number, such as K-00012."),
            ({"client": "K-99999"}, "There is no client with the record number K-99999."),
            ({"client": str(2**64)}, "No client has a record number this large."),
            ({"actor": "999999"}, "There is no such person."),
            (
                {"action": "kapflow.nothing.happened"},
                "No line of the log has the action kapflow.nothing.happened.",
            ),
            ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "The end date is before the start date."),
        ],
    )
    def test_a_bad_filter_is_named_and_left_out(self, login, ada, tess, params, message):
        add_rows(3, actor=tess)
        response = login(ada).get(URL, params)
        assert response.status_code == 200
        assert message in response.content.decode()
        assert "The filters with a problem are left out" in response.content.decode()
        assert len([e for e in response.context["page"].object_list if e.action != VIEWED]) == 3

    @pytest.mark.parametrize("value", ["abc", "-3", "0", "١٢", str(2**70), "1.5"])
    def test_a_page_link_that_is_not_one_shows_the_newest(self, login, ada, tess, value):
        add_rows(3, actor=tess)
        response = login(ada).get(URL, {"before": value})
        assert response.status_code == 200
        assert "That page link is not one this page makes" in response.content.decode()
        assert len(response.context["page"].object_list) == 3

    def test_a_page_link_to_a_row_no_longer_in_the_log_says_so(self, login, ada, tess):
        add_rows(3, actor=tess)
        response = login(ada).get(URL, {"after": 10**12})
        assert "is no longer in the log (it may have been archived)" in response.content.decode()
        assert len(response.context["page"].object_list) == 3


def _queries(browser, url):
    with CaptureQueriesContext(connection) as captured:
        response = browser.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def test_a_page_costs_the_same_queries_whatever_the_size_of_the_log(login, ada, tess, avery):
    add_rows(10, actor=tess, client=avery)
    browser = login(ada)
    browser.get("/")
    before = AuditEvent.objects.order_by("pk")[5].pk
    urls = [
        URL,
        f"{URL}?client={avery.pk}&before={before}",
        f"{URL}?actor={tess.pk}&action=kapflow.clients.chart.viewed&date_from=2026-01-01&after={before}",
    ]
    small = [_queries(browser, url) for url in urls]
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=T0 - datetime.timedelta(minutes=n),
            actor=tess,
            action=f"kapflow.demo.thing{n % 7}.done",
            client=avery,
        )
        for n in range(1500)
    )
    large = [_queries(browser, url) for url in urls]
    for url, few, many in zip(urls, small, large, strict=True):
        assert len(few) == len(many), f"{url}:\n" + "\n".join(many)
        for sql in many:
            assert "COUNT(" not in sql.upper(), sql
            assert " LIKE " not in sql.upper(), sql
            assert "OFFSET" not in sql.upper(), sql


def test_the_actions_are_read_one_index_probe_each():
    """The skip scan returns the distinct actions in order, and nothing when the log is empty."""
    assert selectors.recorded_actions() == []
    add_rows(3, action="kapflow.b.thing.done")
    add_rows(2, action="kapflow.a.thing.done")
    assert selectors.recorded_actions() == ["kapflow.a.thing.done", "kapflow.b.thing.done"]


def test_only_practice_admins_open_it(login, ada, tess, priya, cora, cleo):
    assert login(ada).get(URL).status_code == 200
    for person in (tess, priya, cora, cleo):
        assert login(person).get(URL).status_code == 403, person
    response = login(None).get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_reading_it_is_audited_with_the_filters_and_the_client(login, ada, tess, avery, audit_rows):
    newest = add_rows(3, actor=tess, client=avery)[0]
    login(ada).get(
        URL, {"client": f"K-{avery.pk:05d}", "action": "kapflow.clients.chart.viewed", "before": newest.pk}
    )
    [row] = audit_rows(VIEWED)
    assert row.actor == ada and row.client == avery
    assert row.detail == {
        "client": str(avery.pk),
        "action": "kapflow.clients.chart.viewed",
        "before": str(newest.pk),
    }


def test_the_time_of_a_row_is_its_own(login, ada, tess):
    """`at` is shown as written, in the practice's time zone."""
    add_rows(1, actor=tess)
    page = login(ada).get(URL).content.decode()
    assert timezone.localtime(T0).strftime("%H:%M:%S") in page


# Each filter, and the index that must serve it (kapflow.audit.models, Meta.indexes).
FILTERED = {
    "nothing": (lambda w: {}, "audit_at_id_idx"),
    "a date range": (lambda w: {"since": T0, "until": T0 + datetime.timedelta(days=1)}, "audit_at_id_idx"),
    "a client": (lambda w: {"client_id": w["client"].pk}, "audit_client_at_id_idx"),
    "a person": (lambda w: {"actor_id": w["actor"].pk}, "audit_actor_at_id_idx"),
    "an action": (lambda w: {"action": "kapflow.clients.chart.viewed"}, "audit_action_at_id_idx"),
    "a client and a date range": (
        lambda w: {"client_id": w["client"].pk, "since": T0},
        "audit_client_at_id_idx",
    ),
}


@pytest.mark.parametrize("direction", ["newest", "older", "newer"])
@pytest.mark.parametrize("filtered", list(FILTERED))
def test_each_filter_and_direction_reads_an_index_in_order(tess, avery, filtered, direction):
    """The plan of each page query: an index gives the rows in the page's order, with no sort of
    the matching rows and no scan of the table. (For a table this small PostgreSQL prefers a
    sequential scan and a sort, so it is asked for its plan with those off: a sort still shows
    when no index gives the order.)"""
    rows = add_rows(30, actor=tess, client=avery)
    cursor = None if direction == "newest" else selectors.cursor_at(rows[10].pk, older=direction == "older")
    filters, index = FILTERED[filtered]
    with CaptureQueriesContext(connection) as captured:
        selectors.log_page(**filters({"client": avery, "actor": tess}), cursor=cursor)
    sql = captured.captured_queries[-1]["sql"]
    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            # Whatever else it might prefer for a few rows: a sort (which still shows when no
            # index gives the order), a merge or hash join, a bitmap or sequential scan.
            for option in ("seqscan", "bitmapscan", "sort", "mergejoin", "hashjoin"):
                c.execute(f"SET LOCAL enable_{option} = off")
            c.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in c.fetchall())
            table = [line for line in plan.splitlines() if " on audit_auditevent" in line]
            assert len(table) == 1 and re.search(rf"Index Scan (Backward )?using {index} ", table[0]), plan
            assert "Sort" not in plan, plan
        else:
            c.execute("EXPLAIN QUERY PLAN " + sql)
            plan = "\n".join(row[-1] for row in c.fetchall())
            # SEARCH: a range of the index; SCAN: all of it, in order, which only the newest page
            # of the whole log may do (it stops after a page).
            read = "SCAN" if filtered == "nothing" and direction == "newest" else "SEARCH"
            assert f"{read} audit_auditevent USING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
