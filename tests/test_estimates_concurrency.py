"""Two Good Faith Estimates given at the same instant for one client (the coordinator's "give a
new estimate now" twice, or with a plan change) leave one estimate in force: estimate_issue holds
the client's row, so the second waits and supersedes the first (docs/good-faith-estimate.md,
"What is locked"). Run on PostgreSQL for the real race; SQLite's IMMEDIATE transactions serialise
the same way."""

import pytest
from django.db import connection

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.billing import estimates
from kapflow.billing.models import Estimate
from tests.test_concurrency import race, slowed
from tests.test_estimates import fake_request, save_plan, set_fees

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


@pytest.fixture(scope="module", autouse=True)
def _audit_triggers_back_at_the_end(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture(autouse=True)
def _audit_triggers_lifted_for_the_flush(db):
    install_triggers(connection)
    yield
    drop_triggers(connection)


def test_two_issues_at_once_leave_one_estimate_in_force(monkeypatch, ada, cora, tess, priya, avery):
    from kapflow.practice.models import Practice
    from tests.test_estimates import PRIYA_NPI, TESS_NPI, TIN

    practice = Practice.load()
    practice.tax_id, practice.npi, practice.address = TIN, "1234567893", "1 Main St, Van Nuys, CA"
    practice.save()
    tess.npi, priya.npi = TESS_NPI, PRIYA_NPI
    tess.save(update_fields=["npi"])
    priya.save(update_fields=["npi"])
    set_fees(ada)
    save_plan(tess, avery)
    assert Estimate.objects.filter(client=avery).count() == 1
    # A pause after the estimate in force is read: without the lock both would supersede the
    # same one and both insert a new one in force.
    slowed(monkeypatch, estimates, "covers_from_for")

    def give(user):
        return lambda: estimates.estimate_issue(
            request=fake_request(user), client=avery, reason=Estimate.Reason.ASKED
        )

    results = race(give(cora), give(ada))
    assert all(isinstance(result, Estimate) for result in results), results
    assert Estimate.objects.filter(client=avery, superseded_at__isnull=True).count() == 1
    assert Estimate.objects.filter(client=avery).count() == 3
