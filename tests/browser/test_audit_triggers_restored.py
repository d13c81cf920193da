"""The browser tests lift the audit log's append-only triggers so that Django can flush the
database after each test, and must put them back. These two tests run in this order (both are
transactional, and pytest-django keeps file order within that group): the first ends the way
every browser test does, with rows in the audit table and then a flush; the second proves the
database refuses to change the audit log again. Neither needs Chromium."""

import pytest
from django.db import DatabaseError, transaction

from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record


def test_a_live_server_test_leaves_audit_rows_for_the_flush(
    audit_triggers_restored, live_server, audit_triggers_lifted
):
    audit_record(action="kapflow.tests.browser.flushed")
    assert AuditEvent.objects.count() == 1


def test_afterwards_the_audit_log_is_append_only_again(audit_triggers_restored, audit_triggers_lifted):
    event = audit_record(action="kapflow.tests.browser.after_flush")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="kapflow.tests.browser.rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(action="kapflow.tests.browser.after_flush").exists()
