"""The runbook's live refresh (issue 12, item 4; kapflow/dosing/views/live.py): the read is
audited once per opening of the page, not per 30-second poll; a poll answers 304 Not Modified,
with no body, when the panel has not changed since the last one; it still goes through the
scoping helper, so a client outside the requester's care (an on-call grant that has ended) is
404, never 304."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from kapflow.audit.models import AuditEvent
from kapflow.clients.models import AccessGrant, CareTeamMember
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.test_runbook import DAY, at, checked_in, dose, make_order, vitals
from tests.test_session_alerts import discharge_and_sign

pytestmark = pytest.mark.usefixtures("pathway_ready")

VIEWED = "kapflow.dosing.runbook.viewed"
REFRESHED = "kapflow.dosing.runbook.refreshed"
POLL = {"HTTP_X_KAPFLOW_POLL": "1", "HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _long_idle(settings):
    # Polls are not activity (kapflow.accounts.middleware): a session simulated over two hours
    # of polls would be signed out for idleness before the grant ends.
    settings.IDLE_MINUTES = 240


@pytest.fixture
def dosed(avery, tess, priya, cora):
    """An in-person medication session under way, the first dose given at DAY."""
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.IN_PERSON,
        room=Room.objects.create(name="Garden Room"),
        starts_at=DAY - datetime.timedelta(minutes=30),
        ends_at=DAY + datetime.timedelta(minutes=150),
        clinician=tess,
        created_by=cora,
        status=Visit.Status.IN_PROGRESS,
    )
    checked_in(visit, tess)
    vitals(visit, tess, -10, phase="pre_dose")
    dose(visit, tess, make_order(avery, priya), 0)
    return visit


@pytest.fixture
def pat(db):
    return factories.make_user("Pat Oncall", roles=("is_prescriber",), email="pat@example.org")


def signed_in(login, user, minutes: float = 19):
    """Signed in at `minutes` (the session keeps the time of signing in, which the polls'
    audit check reads: it must be on the same clock as the test's requests)."""
    with time_machine.travel(at(minutes), tick=False):
        return login(user)


def runbook_url(visit) -> str:
    return reverse("dosing:runbook", args=[visit.client_id, visit.pk])


def live_url(visit) -> str:
    return reverse("dosing:live", args=[visit.client_id, visit.pk])


def get(http, url, minutes: float, **headers):
    with time_machine.travel(at(minutes), tick=False):
        return http.get(url, **headers)


def poll(http, visit, minutes: float, etag: str | None = None):
    headers = dict(POLL)
    if etag is not None:
        headers["HTTP_IF_NONE_MATCH"] = etag
    return get(http, live_url(visit), minutes, **headers)


def reads(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def test_opening_the_page_is_audited_once_and_its_polls_write_no_audit_row(dosed, tess, login):
    http = signed_in(login, tess)
    assert get(http, runbook_url(dosed), 20).status_code == 200
    assert reads(VIEWED) == 1
    rows = AuditEvent.objects.count()
    etag = None
    for minutes in (20.5, 21, 21.5, 22, 22.5):
        response = poll(http, dosed, minutes, etag)
        assert response.status_code in (200, 304)
        etag = response["ETag"]
    assert AuditEvent.objects.count() == rows  # five polls, not one row among them
    assert reads(REFRESHED) == 0


def test_a_poll_when_nothing_changed_is_304_with_no_body(dosed, tess, login):
    http = signed_in(login, tess)
    get(http, runbook_url(dosed), 20.1)
    first = poll(http, dosed, 20.2)
    assert first.status_code == 200 and "Day-of readiness" in first.content.decode()
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = poll(http, dosed, 20.7, etag)  # the same minute: every figure on the panel the same
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    # Without the tag (a page script that lost it), the panel is sent again, and it is the same.
    whole = poll(http, dosed, 20.8)
    assert whole.status_code == 200 and whole["ETag"] == etag


def test_a_poll_after_an_entry_gets_the_fresh_panel(dosed, tess, login):
    http = signed_in(login, tess)
    get(http, runbook_url(dosed), 40.1)
    etag = poll(http, dosed, 40.2)["ETag"]
    assert poll(http, dosed, 40.3, etag).status_code == 304
    vitals(dosed, tess, 40.4, bp=(185, 100))  # an alarming reading, by a colleague at the chair
    fresh = poll(http, dosed, 40.5, etag)
    assert fresh.status_code == 200 and fresh["ETag"] != etag
    text = fresh.content.decode()
    assert "Alert on the latest vitals" in text and "Alerts in this session" in text
    assert poll(http, dosed, 40.6, fresh["ETag"]).status_code == 304


def test_a_poll_a_minute_later_gets_the_clock_moved_on(dosed, tess, login):
    http = signed_in(login, tess)
    get(http, runbook_url(dosed), 30.1)
    first = poll(http, dosed, 30.2)
    assert "30 min" in first.content.decode()
    later = poll(http, dosed, 31.2, first["ETag"])
    assert later.status_code == 200 and later["ETag"] != first["ETag"]
    assert "31 min" in later.content.decode()


def test_a_poll_outside_the_requesters_care_is_404_and_the_refusal_audited(dosed, tess, colin, login):
    etag = poll(signed_in(login, tess), dosed, 20)["ETag"]
    outsider = signed_in(login, colin)
    for tag in (None, etag):  # a tag copied from someone else's panel reveals nothing either
        response = poll(outsider, dosed, 20.5, tag)
        assert response.status_code == 404
    denied = AuditEvent.objects.filter(action="kapflow.audit.access.denied", actor=colin)
    assert denied.count() == 2 and denied.first().client == dosed.client


def test_a_poll_after_the_on_call_grant_ended_is_refused(
    dosed, tess, priya, pat, avery, login, django_capture_on_commit_callbacks
):
    CareTeamMember.objects.filter(client=avery, user=priya).delete()
    assert Practice.objects.filter(pk=1).update(on_call_prescriber=pat) == 1
    with django_capture_on_commit_callbacks(execute=True):
        vitals(dosed, tess, 40, bp=(185, 100))  # the on-call prescriber is told and let in
    http = signed_in(login, pat, 40.5)
    assert get(http, runbook_url(dosed), 41).status_code == 200
    etag = poll(http, dosed, 41.5)["ETag"]
    assert poll(http, dosed, 41.7, etag).status_code == 304
    discharge_and_sign(dosed, tess)  # signing ends the grant
    assert AccessGrant.objects.get(client=avery, user=pat).ended_at is not None
    response = poll(http, dosed, 126, etag)
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action="kapflow.audit.access.denied", actor=pat).exists()


def test_a_poll_without_an_opening_of_the_page_is_audited_as_a_read(dosed, tess, login):
    """A poll sent by hand, the page never opened since signing in: its panel is a read like
    any other, and audited."""
    http = signed_in(login, tess)
    assert poll(http, dosed, 20).status_code == 200
    assert reads(REFRESHED) == 1
    # Once the page has been opened, its polls are covered by that opening.
    get(http, runbook_url(dosed), 21)
    poll(http, dosed, 21.5)
    assert reads(REFRESHED) == 1 and reads(VIEWED) == 1


def test_a_poll_without_an_opening_is_audited_even_when_it_is_answered_304(dosed, tess, login):
    """A tag kept from earlier (another sign-in, or copied by hand) gets a 304, and the read it is
    is still on record."""
    http = signed_in(login, tess)
    etag = poll(http, dosed, 20.1)["ETag"]
    again = poll(http, dosed, 20.2, etag)
    assert again.status_code == 304
    assert reads(REFRESHED) == 2


def test_the_live_panel_asked_for_without_the_poll_header_is_a_read(dosed, tess, login):
    http = signed_in(login, tess)
    get(http, runbook_url(dosed), 20)
    response = get(http, live_url(dosed), 20.5, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert reads(REFRESHED) == 1
