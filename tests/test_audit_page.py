"""Issue 12, item 4: the audit page pages by key and filters from indexes.

Rows come newest first in the order (at, id); "Older" and "Newer" carry the id of the row the
next page continues from. Nothing counts the log's rows and nothing searches it with LIKE, so a
page costs the same few queries whatever the size of the log."""

import datetime
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.audit import selectors
from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record
from tests import factories

PAGE = selectors.PAGE_SIZE  # 50 lines a page (docs/security/audit.md)

pytestmark = pytest.mark.django_db
URL = "/audit/"
VIEWED = "kapflow.audit.log.viewed"
DASHBOARD = "kapflow.dashboard.viewed"
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
        # Two and a half pages (125 rows), three to an instant: page boundaries fall inside ties
        # of `at`.
        rows = add_rows(PAGE * 5 // 2, actor=tess, client=avery, same_instant=3)
        browser = login(ada)
        written = []

        def someone_works():
            written.append(audit_record(actor=tess, action="kapflow.clients.chart.viewed", client=avery))

        pages = walk(browser, f"?client=K-{avery.pk:05d}", "next", between=someone_works)
        seen = [pk for page in pages for pk in page]
        assert [len(page) for page in pages] == [PAGE, PAGE, PAGE // 2]
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
        add_rows(PAGE * 3 // 2, actor=tess, client=avery)
        browser = login(ada)
        first = browser.get(URL, {"client": avery.pk})
        # A row dated among the first page's (an import, a clock put right) while reading.
        AuditEvent.objects.create(
            at=T0 + datetime.timedelta(seconds=PAGE * 3 // 2 - 10, microseconds=5),
            actor=tess,
            action="kapflow.clients.chart.viewed",
            client=avery,
        )
        second = browser.get(URL + link(first, "next"))
        assert not set(shown(first)) & set(shown(second))
        assert len(shown(first)) + len(shown(second)) == PAGE * 3 // 2

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


# Each filter, and the index that must serve each of its page queries, with the table it reads
# (kapflow.audit.models, Meta.indexes). A client's page is two: the rows whose client it is, and
# the rows that named it among others (the dashboard, lists, the calendar), merged.
EVENTS, NAMED = "audit_auditevent", "audit_auditeventclient"
BY_CLIENT = ((EVENTS, "audit_client_at_id_idx"), (NAMED, "audit_named_client_at_idx"))
FILTERED = {
    "nothing": (lambda w: {}, ((EVENTS, "audit_at_id_idx"),)),
    "a date range": (
        lambda w: {"since": T0, "until": T0 + datetime.timedelta(days=1)},
        ((EVENTS, "audit_at_id_idx"),),
    ),
    "a client": (lambda w: {"client_id": w["client"].pk}, BY_CLIENT),
    "a person": (lambda w: {"actor_id": w["actor"].pk}, ((EVENTS, "audit_actor_at_id_idx"),)),
    "an action": (
        lambda w: {"action": "kapflow.clients.chart.viewed"},
        ((EVENTS, "audit_action_at_id_idx"),),
    ),
    "a client and a date range": (lambda w: {"client_id": w["client"].pk, "since": T0}, BY_CLIENT),
}


@pytest.mark.parametrize("direction", ["newest", "older", "newer"])
@pytest.mark.parametrize("filtered", list(FILTERED))
def test_each_filter_and_direction_reads_an_index_in_order(tess, avery, filtered, direction):
    """The plan of each page query: an index gives the rows in the page's order, with no sort of
    the matching rows and no scan of the table. (For a table this small PostgreSQL prefers a
    sequential scan and a sort, so it is asked for its plan with those off: a sort still shows
    when no index gives the order.)"""
    rows = add_rows(30, actor=tess, client=avery)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=T0 + datetime.timedelta(seconds=n),
            actor=tess,
            action=DASHBOARD,
            detail={"clients": [avery.pk]},
        )
        for n in range(5)
    )
    cursor = None if direction == "newest" else selectors.cursor_at(rows[10].pk, older=direction == "older")
    filters, reads = FILTERED[filtered]
    with CaptureQueriesContext(connection) as captured:
        selectors.log_page(**filters({"client": avery, "actor": tess}), cursor=cursor)
    queries = [query["sql"] for query in captured.captured_queries][-len(reads) :]
    for sql, (read_table, index) in zip(queries, reads, strict=True):
        with connection.cursor() as c:
            if connection.vendor == "postgresql":
                # Whatever else it might prefer for a few rows: a sort (which still shows when no
                # index gives the order), a merge or hash join, a bitmap or sequential scan.
                for option in ("seqscan", "bitmapscan", "sort", "mergejoin", "hashjoin"):
                    c.execute(f"SET LOCAL enable_{option} = off")
                c.execute("EXPLAIN " + sql)
                plan = "\n".join(row[0] for row in c.fetchall())
                table = [line for line in plan.splitlines() if re.search(rf" on {read_table}( |$)", line)]
                assert len(table) == 1, plan
                assert re.search(rf"Index (Only )?Scan (Backward )?using {index} ", table[0]), plan
                assert "Sort" not in plan, plan
                if read_table == NAMED:
                    # Each named row's own row, by its primary key.
                    assert re.search(rf"Index Scan using {EVENTS}_pkey on {EVENTS}( |$)", plan, re.M), plan
            else:
                c.execute("EXPLAIN QUERY PLAN " + sql)
                plan = "\n".join(row[-1] for row in c.fetchall())
                # SEARCH: a range of the index; SCAN: all of it, in order, which only the newest
                # page of the whole log may do (it stops after a page).
                read = "SCAN" if filtered == "nothing" and direction == "newest" else "SEARCH"
                assert re.search(rf"{read} {read_table} USING (COVERING )?INDEX {index}\b", plan), plan
                assert "TEMP B-TREE" not in plan, plan
                assert not re.search(r"\bSCAN audit_auditevent\b", plan) or read == "SCAN", plan


class TestClientsNamedInTheDetail:
    """Issue 13, item 3: the dashboard, its lists and the calendar name many clients in one row
    (their ids in the detail); the client filter finds those rows too, by index, in key order."""

    def test_the_client_filter_finds_the_reads_that_named_the_client(self, login, ada, tess, avery, olive):
        own = audit_record(actor=tess, action="kapflow.clients.chart.viewed", client=avery)
        dashboard = audit_record(actor=tess, action=DASHBOARD, detail={"clients": [olive.pk, avery.pk]})
        calendar = audit_record(
            actor=tess, action="kapflow.visits.calendar.viewed", detail={"clients": [olive.pk]}
        )
        response = login(ada).get(URL, {"client": f"K-{avery.pk:05d}"})
        assert shown(response, views=False) == [dashboard.pk, own.pk]
        assert calendar.pk in shown(login(ada).get(URL, {"client": olive.pk}), views=False)
        assert "which named" in response.content.decode()

    def test_pages_walk_both_halves_in_order_each_row_once(self, login, ada, tess, avery, olive):
        rows = []
        for n in range(130):
            at = T0 + datetime.timedelta(seconds=n // 2)
            if n % 3:
                rows.append(
                    AuditEvent(at=at, actor=tess, action="kapflow.clients.chart.viewed", client=avery)
                )
            else:
                rows.append(
                    AuditEvent(at=at, actor=tess, action=DASHBOARD, detail={"clients": [avery.pk, olive.pk]})
                )
        # A row about Avery that also names her among others: shown once.
        rows.append(
            AuditEvent(at=T0, actor=tess, action=DASHBOARD, client=avery, detail={"clients": [avery.pk]})
        )
        AuditEvent.objects.bulk_create(rows)
        expected = list(
            AuditEvent.objects.filter(action__in=["kapflow.clients.chart.viewed", DASHBOARD])
            .order_by("-at", "-pk")
            .values_list("pk", flat=True)
        )
        browser = login(ada)
        older = walk(browser, f"?client={avery.pk}", "next")
        back = walk(browser, f"?client={avery.pk}&after={expected[-1]}", "prev")
        # Without the page's own rows (reading a client's lines is a line about them).
        viewed = set(AuditEvent.objects.filter(action=VIEWED).values_list("pk", flat=True))
        assert [pk for page in older for pk in page if pk not in viewed] == expected
        assert [pk for page in reversed(back) for pk in page if pk not in viewed] == expected[:-1]

    def test_the_rows_are_indexed_as_they_are_written_whichever_way(self, tess, avery, olive):
        from kapflow.audit.models import AuditEventClient

        one = audit_record(actor=tess, action=DASHBOARD, detail={"clients": [avery.pk, olive.pk, avery.pk]})
        [many] = AuditEvent.objects.bulk_create(
            [AuditEvent(actor=tess, action=DASHBOARD, detail={"clients": [olive.pk, True, "3", -1]})]
        )
        named = AuditEventClient.objects.order_by("event_id", "client_id").values_list(
            "event_id", "client_id", "at"
        )
        assert list(named) == [
            (one.pk, avery.pk, one.at),
            (one.pk, olive.pk, one.at),
            (many.pk, olive.pk, many.at),
        ]


def test_a_row_written_without_its_index_rows_is_indexed_by_the_command_once(tess, avery, olive):
    """A row written by code older than the index (a rolling deploy) is found by the command,
    and running it again adds nothing."""
    from django.core.management import call_command

    from kapflow.audit.models import AuditEventClient

    row = audit_record(actor=tess, action=DASHBOARD, detail={"clients": [avery.pk, olive.pk]})
    AuditEventClient.objects.filter(event_id=row.pk, client_id=olive.pk).delete()
    out, again = io.StringIO(), io.StringIO()
    call_command("audit_index_clients", stdout=out)
    assert "1 index rows added" in out.getvalue()
    assert set(AuditEventClient.objects.filter(event_id=row.pk).values_list("client_id", flat=True)) == {
        avery.pk,
        olive.pk,
    }
    call_command("audit_index_clients", "--since", "2000-01-01T00:00", stdout=again)
    assert "0 index rows added" in again.getvalue()


class TestSentencesOnThePage:
    def test_rows_read_as_sentences_with_the_technical_record_folded(self, login, ada, tess, avery):
        audit_record(actor=tess, action="kapflow.dosing.runbook.viewed", client=avery, obj=avery)
        page = login(ada).get(URL).content.decode()
        assert re.search(r">T\. Therapist</a> viewed <a [^>]*>A\. Alvarez</a>’s runbook\.", page)
        assert "<details>" in page and "<code>kapflow.dosing.runbook.viewed</code>" in page
        assert "<caption>" in page and page.count("<h1") == 1

    def test_the_action_filter_offers_actions_in_words_grouped(self, login, ada, tess, avery):
        audit_record(actor=tess, action="kapflow.dosing.runbook.viewed", client=avery)
        audit_record(actor=tess, action="kapflow.demo.thing.done")
        login(ada).get(URL)
        form = login(ada).get(URL).context["form"]
        groups = dict(form.fields["action"].choices[1:])
        assert ("kapflow.dosing.runbook.viewed", "Viewed a client's runbook") in groups[
            "Medication sessions (runbook)"
        ]
        assert ("kapflow.demo.thing.done", "kapflow.demo.thing.done") in groups["Other"]
        assert ("kapflow.audit.log.viewed", "Viewed the audit log") in groups["Audit log"]

    def test_times_are_the_practices(self, login, ada, tess, settings):
        settings.TIME_ZONE = "America/New_York"
        add_rows(1, actor=tess)
        page = login(ada).get(URL).content.decode()
        assert "04:00:00 EST" in page and 'datetime="2026-03-02T04:00:00-05:00"' in page


def _mixed_rows(count, *, tess, priya, other, avery, olive, named, visit, runbook, document):
    """`count` rows of every kind the sentences look things up for, each with other people and
    clients: the page's queries must not grow with them."""
    kinds = [
        {"action": "kapflow.dosing.runbook.viewed", "client": avery},
        {
            "action": "kapflow.accounts.signin.failed",
            "object_type": "accounts.user",
            "object_id": str(priya.pk),
        },
        {
            "action": "kapflow.visits.visit.booked",
            "client": avery,
            "object_type": "visits.visit",
            "object_id": str(visit.pk),
        },
        {
            "action": "kapflow.dosing.runbook.signed",
            "client": avery,
            "object_type": "dosing.runbook",
            "object_id": str(runbook.pk),
        },
        {
            "action": "kapflow.consent.document.published",
            "object_type": "consent.consentdocument",
            "object_id": str(document.pk),
        },
        {"action": "kapflow.clients.access.granted", "client": olive, "detail": {"user": other.pk}},
        {"action": DASHBOARD, "detail": {"clients": [avery.pk, olive.pk, named.pk]}},
    ]
    AuditEvent.objects.bulk_create(
        AuditEvent(at=T0 + datetime.timedelta(seconds=n), actor=(tess, priya)[n % 2], **kinds[n % len(kinds)])
        for n in range(count)
    )


def test_the_sentences_cost_the_same_queries_for_7_rows_or_100(login, ada, tess, priya, avery, olive):
    from kapflow.consent.models import ConsentDocument
    from kapflow.dosing.models import Runbook
    from kapflow.visits.models import Visit

    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=T0,
        ends_at=T0 + datetime.timedelta(hours=2),
        clinician=priya,
        created_by=priya,
    )
    world = {
        "tess": tess,
        "priya": priya,
        # Named by rows, never their actor: read by the sentences' one query for people.
        "other": factories.make_user("Otto Other", roles=("is_coordinator",)),
        "avery": avery,
        "olive": olive,
        "named": factories.make_client(first_name="Nina", last_name="Named"),
        "visit": visit,
        "runbook": Runbook.objects.create(visit=visit),
        "document": ConsentDocument.objects.create(kind="kap", version=9, title="KAP", body="."),
    }
    browser = login(ada)
    browser.get(URL)
    urls = (URL, f"{URL}?client={avery.pk}")
    _mixed_rows(7, **world)
    few = [_queries(browser, url) for url in urls]
    _mixed_rows(150, **world)
    many = [_queries(browser, url) for url in urls]
    for url, small, large in zip(urls, few, many, strict=True):
        assert len(small) == len(large), f"{url}:\n" + "\n".join(large)
    for table in (
        "accounts_user",
        "clients_client",
        "visits_visit",
        "dosing_runbook",
        "consent_consentdocument",
    ):
        assert any(re.search(rf'FROM "{table}" .*WHERE "{table}"."id" IN', sql) for sql in many[0]), table
