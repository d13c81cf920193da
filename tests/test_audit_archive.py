"""Months archived out of the database (docs/security/audit.md, "Archiving by month"): what is
left verifies from the link the archive's manifest recorded, `audit_verify --after SEQ:HASH`,
and still fails for a row changed, removed or slipped in after it."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.audit.services import audit_record


def _archive_first(rows, n: int) -> None:
    """What detaching the oldest partition does to the live table: its rows are gone. Here the
    triggers are lifted to delete them, as only a test may."""
    drop_triggers(connection)
    with connection.cursor() as cursor:
        for row in rows[:n]:
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [row.pk])
    install_triggers(connection)


def _verify(**options) -> str:
    out = io.StringIO()
    call_command("audit_verify", stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def rows(db, tess):
    return [audit_record(actor=tess, action="kapflow.tests.row.written", detail={"n": n}) for n in range(6)]


def test_what_is_left_after_an_archive_verifies_from_the_archived_link(rows):
    _archive_first(rows, 2)
    with pytest.raises(CommandError, match="gap: chain position 3 follows 0"):
        _verify()
    last = rows[1]
    assert _verify(after=f"{last.seq}:{last.row_hash}").startswith("4 rows verified. Last row: position 6")


def test_a_link_that_is_not_the_archived_rows_fails(rows):
    _archive_first(rows, 2)
    with pytest.raises(CommandError, match=rf"audit row {rows[2].pk} .*broken link"):
        _verify(after=f"2:{'0' * 64}")
    with pytest.raises(CommandError, match="gap: chain position 3 follows 1"):
        _verify(after=f"1:{rows[0].row_hash}")


def test_a_row_removed_after_the_archived_link_is_still_found(rows):
    _archive_first(rows, 2)
    drop_triggers(connection)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [rows[3].pk])
    install_triggers(connection)
    with pytest.raises(CommandError, match=rf"audit row {rows[4].pk} .*gap: chain position 5 follows 3"):
        _verify(after=f"{rows[1].seq}:{rows[1].row_hash}")


@pytest.mark.parametrize("value", ["12", "x:" + "a" * 64, "3:abc", "-1:" + "a" * 64])
def test_a_malformed_link_is_refused_with_its_form(rows, value):
    with pytest.raises(CommandError, match="--after takes SEQ:HASH"):
        _verify(after=value)
