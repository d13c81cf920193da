"""Which requests of the test suite ran one query again and again with different values: the mark
of a query per row shown (an N+1), which makes a page's cost grow with the practice. And which
pages asked the same thing twice: one query with the same values two or more times in one GET.

The suite's pages are requested through Django's test client. Loaded as a pytest plugin, this
records, for every such request, each query's SQL (an IN list's values made one) with the set of
parameters it ran with; a request that ran one SQL with PROBE_AT or more different sets is
written down (in PROBE_DIR, a file per pytest-xdist worker). Then `python bench/repeated_queries.py
report` lists them, the most repeated first, each page's ids as N and a link's key as T; then
the GET requests that ran one query with the same values twice or more (a value read again
where the first read could have been passed along). A POST is left out of the second list: a
write reads a row again under its lock, rightly.

    make probe-queries

Not every line is a fault: a request that writes several rows writes each (a checklist's
answers), a form checks each of a model's constraints with a query of its own, and a page that
shows two people reads two. A line whose count grows with what the page lists is one: read the
rows together (select_related, prefetch_related, an annotation, or one query keyed by id). The
tests that prove a page's count constant (tests/test_query_counts.py and the like) grow the data;
this looks at every request the suite makes, with the data each test happens to have.

The session, savepoints and the audit log's append (its chain's tip and the row) are left out:
every request has them once, and a request that writes several audit rows repeats them rightly.
"""

import collections
import os
import re
import sys
from pathlib import Path

PROBE_DIR = Path(os.environ.get("KAPFLOW_PROBE_DIR", "test-artifacts/repeated-queries"))
PROBE_AT = 3
LEFT_OUT = (
    "SAVEPOINT",
    "RELEASE SAVEPOINT",
    "ROLLBACK TO SAVEPOINT",
    'INSERT INTO "audit_auditevent"',
    'SELECT "audit_auditevent"."seq"',
    'SELECT "django_session"',
    'UPDATE "django_session"',
)
_IN_LIST = re.compile(r"IN \([^)]*\)")
_ID = re.compile(r"/\d+(?=/|$)")
# A link's key (an invitation's, a letter's download): written T, one line for all of them.
_KEY = re.compile(r"/[A-Za-z0-9_-]{20,}(?=/|$)")


def shape(sql: str) -> str:
    """The query without what varies from row to row: an IN list's length."""
    return _IN_LIST.sub("IN (...)", sql)


def pytest_configure(config):
    """Wrap the test client's requests (every worker loads the plugin)."""
    from django.db import connection
    from django.test import client

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    PROBE_DIR.mkdir(parents=True, exist_ok=True)
    out = PROBE_DIR / f"{worker}.tsv"
    out.write_text("")
    same_out = PROBE_DIR / f"{worker}.same"
    same_out.write_text("")
    original = client.Client.request

    def request(self, **environ):
        seen = collections.defaultdict(set)
        asked: collections.Counter = collections.Counter()

        def record(execute, sql, params, many, context):
            seen[shape(sql)].add(repr(params))
            asked[(sql, repr(params))] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            response = original(self, **environ)
        repeated = [
            (len(values), sql)
            for sql, values in seen.items()
            if len(values) >= PROBE_AT and not sql.startswith(LEFT_OUT)
        ]
        page = _KEY.sub("/T", _ID.sub("/N", environ.get("PATH_INFO", "")))
        if repeated:
            with out.open("a") as file:
                for times, sql in repeated:
                    file.write(f"{times}\t{environ.get('REQUEST_METHOD')} {page}\t{' '.join(sql.split())}\n")
        again = [
            (times, sql)
            for (sql, _params), times in asked.items()
            if times >= 2 and not sql.startswith(LEFT_OUT)
        ]
        if again and environ.get("REQUEST_METHOD") == "GET":
            with same_out.open("a") as file:
                for times, sql in again:
                    file.write(f"{times}\tGET {page}\t{' '.join(sql.split())}\n")
        return response

    client.Client.request = request


def report(folder: Path = PROBE_DIR, *, width: int = 160, kind: str = "tsv") -> list[str]:
    """One line per page and query: the most different values seen in one request (with kind
    "same": the most runs with the same values), how many requests repeated it, the page and
    the query's start."""
    most: dict[tuple[str, str], int] = {}
    requests: collections.Counter = collections.Counter()
    for path in sorted(folder.glob(f"*.{kind}")):
        for line in path.read_text().splitlines():
            times, page, sql = line.split("\t", 2)
            key = (page, sql)
            most[key] = max(most.get(key, 0), int(times))
            requests[key] += 1
    ordered = sorted(most, key=lambda key: (-most[key], -requests[key], key))
    return [f"{most[key]:4} ×{requests[key]:<4} {key[0]:45} {key[1][:width]}" for key in ordered]


if __name__ == "__main__":
    if sys.argv[1:] != ["report"]:
        sys.exit("usage: python bench/repeated_queries.py report")
    lines = report()
    print(f"{len(lines)} pages' queries run {PROBE_AT} or more times with different values in one request")
    print("most  requests  page                                          query")
    print("\n".join(lines))
    lines = report(kind="same")
    print(f"\n{len(lines)} pages' queries run twice or more with the same values in one GET request")
    print("most  requests  page                                          query")
    print("\n".join(lines))
