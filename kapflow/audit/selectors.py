"""Reading the audit log for its review page, at any size.

The page pages by key: rows come newest first in the order (at, id), and the link to the next
page carries the id of the last row shown. Nothing counts the rows, and every filter is an
equality on an indexed column plus a range of (at, id), so each page is one range read of one
index (kapflow.audit.models, Meta.indexes) whether the log holds a thousand rows or a hundred
million. A client's page is two: its own rows, and the rows that named it among others
(AuditEventClient), merged (docs/security/audit.md, "The client filter")."""

import dataclasses
import datetime

from django.db import connection

from kapflow.audit.models import REVIEWED_FIELDS, AuditEvent, AuditEventClient

# Lines a page (docs/security/audit.md says why 50): the page's cost is mostly its rows.
PAGE_SIZE = 50


@dataclasses.dataclass(frozen=True)
class LogPage:
    object_list: list[AuditEvent]
    # Whether there are rows after the last one shown (older) and before the first (newer)
    # with the same filters: the page then links to them.
    has_older: bool
    has_newer: bool

    @property
    def older_cursor(self) -> int | None:
        return self.object_list[-1].pk if self.has_older and self.object_list else None

    @property
    def newer_cursor(self) -> int | None:
        return self.object_list[0].pk if self.has_newer and self.object_list else None


@dataclasses.dataclass(frozen=True)
class Cursor:
    """Where a page starts: older than the row `pk` (the "Older" link), or newer than it
    ("Newer"), which sat at time `at`."""

    pk: int
    at: datetime.datetime
    older: bool


def cursor_at(pk: int, *, older: bool) -> Cursor | None:
    """The cursor for a page link's row id; None when there is no such row (a link written by
    hand, or to a row archived since: docs/security/audit.md)."""
    at = AuditEvent.objects.filter(pk=pk).values_list("at", flat=True).first()
    return Cursor(pk, at, older) if at is not None else None


def log_page(
    *,
    client_id: int | None = None,
    actor_id: int | None = None,
    action: str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    cursor: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> LogPage:
    """One page of the log, newest first, with these filters (`until` excluded), each row with
    its actor and client. One query; two with a client: the rows whose `client` it is, and the
    rows that name it among others in their detail (AuditEventClient), merged."""
    events = AuditEvent.objects.for_review()
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if action:
        events = events.filter(action=action)
    if client_id is None:
        rows = _keyset(events, since=since, until=until, cursor=cursor, size=size)
    else:
        own = _keyset(events.filter(client_id=client_id), since=since, until=until, cursor=cursor, size=size)
        named = _named(client_id, actor_id, action, since=since, until=until, cursor=cursor, size=size)
        # Each list holds the first size + 1 rows of its half after the cursor, so the first
        # size + 1 of both together are among them. A row in both halves is shown once.
        merged = {row.pk: row for row in (*own, *named)}.values()
        newest_first = cursor is None or cursor.older
        rows = sorted(merged, key=lambda row: (row.at, row.pk), reverse=newest_first)[: size + 1]
    if cursor is None:
        return LogPage(rows[:size], has_older=len(rows) > size, has_newer=False)
    if cursor.older:
        return LogPage(rows[:size], has_older=len(rows) > size, has_newer=True)
    return LogPage(rows[:size][::-1], has_older=True, has_newer=len(rows) > size)


def _keyset(
    events, *, since, until, cursor: Cursor | None, size: int, at: str = "at", pk: str = "pk"
) -> list:
    """The first size + 1 rows of `events` after `cursor` in the page's key (`at`, `pk`), newest
    first, or oldest first for a "Newer" page; within [since, until)."""
    if since is not None:
        events = events.filter(**{f"{at}__gte": since})
    if until is not None:
        events = events.filter(**{f"{at}__lt": until})
    if cursor is None:
        return list(events.order_by(f"-{at}", f"-{pk}")[: size + 1])
    # (at, id) < (cursor.at, cursor.pk), written so that `at <= cursor.at` bounds the index
    # range and the rest only drops the rows of the same instant already shown.
    if cursor.older:
        events = events.filter(**{f"{at}__lte": cursor.at}).exclude(
            **{at: cursor.at, f"{pk}__gte": cursor.pk}
        )
        return list(events.order_by(f"-{at}", f"-{pk}")[: size + 1])
    events = events.filter(**{f"{at}__gte": cursor.at}).exclude(**{at: cursor.at, f"{pk}__lte": cursor.pk})
    return list(events.order_by(at, pk)[: size + 1])


def _named(client_id: int, actor_id: int | None, action: str | None, **page) -> list[AuditEvent]:
    """The rows that name this client in their detail: a range of the index (client, at, event)
    of AuditEventClient, in the page's key order, each joined to its row (by primary key), whose
    person and action are then checked row by row."""
    named = (
        AuditEventClient.objects.filter(client_id=client_id)
        .select_related("event__actor", "event__client")
        .only("event_id", "client_id", "at", *(f"event__{name}" for name in REVIEWED_FIELDS))
    )
    if actor_id is not None:
        named = named.filter(event__actor_id=actor_id)
    if action:
        named = named.filter(event__action=action)
    return [link.event for link in _keyset(named, at="at", pk="event_id", **page)]


# Every distinct action in the log, read as a skip scan of the (action, at, id) index: one
# index probe per action ("the first action after the last one found"), not a read of every
# row as SELECT DISTINCT would be. There are a few hundred actions at most, whatever the size
# of the log. The same SQL runs on SQLite and PostgreSQL.
_ACTIONS_SQL = """
WITH RECURSIVE found(action) AS (
    SELECT (SELECT action FROM audit_auditevent ORDER BY action LIMIT 1)
    UNION ALL
    SELECT (SELECT e.action FROM audit_auditevent e WHERE e.action > found.action ORDER BY e.action LIMIT 1)
    FROM found WHERE found.action IS NOT NULL
)
SELECT action FROM found WHERE action IS NOT NULL
"""


def recorded_actions() -> list[str]:
    """Every action code the log holds, in order."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTIONS_SQL)
        return [action for (action,) in cursor.fetchall()]
