"""The invited outside prescriber (docs/access.md, "The invited outside prescriber"): a prescriber
account that sees the medical pages of the clients on whose care team it is, and nothing else of
the practice. The access matrix (tests/matrix_outside_prescriber.py) requests every URL as such
an account; this file covers the invitation, the sign-in, the dashboard and the ways a scope
could widen (open_caseload, on call, access grants)."""

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.test import RequestFactory
from django.urls import resolve, reverse

from kapflow.accounts.models import User
from kapflow.clients.access import Need, clients_for
from kapflow.clients.models import AccessGrant, CareTeamMember
from kapflow.clients.services import access_grant_open
from kapflow.dosing.alerts import prescriber_to_notify
from kapflow.dosing.forms import PrescriberOnSiteForm
from kapflow.dosing.models import DayOfChecklist
from kapflow.dosing.services.administration import prescriber_on_site_record
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.medical.models import Screening
from kapflow.practice.forms import PracticeForm
from kapflow.practice.models import Practice
from kapflow.visits.models import CalendarFeed, Visit
from tests import factories, test_runbook, test_runbook_dayof

INVITE = {
    "full_name": "Omar Outside",
    "email": "omar@example.org",
    "credentials": "MD",
    "is_prescriber": "on",
    "outside_practice": "on",
}
PASSWORD = "correct horse battery staple"


@pytest.fixture
def oscar(avery):
    """An outside prescriber on Avery's care team as prescriber (Avery is Tess's and Priya's)."""
    oscar = factories.make_user(
        "Oscar Outside", roles=("is_prescriber", "outside_practice"), email="oscar@example.org"
    )
    CareTeamMember.objects.create(client=avery, user=oscar, role=CareTeamMember.Role.PRESCRIBER)
    return oscar


def _open_caseload():
    practice = Practice.load()
    practice.open_caseload = True
    practice.save()
    return practice


# --- The invitation ---------------------------------------------------------------------------


def test_it_invites_a_prescriber_as_an_outside_prescriber(login, ada, audit_rows):
    admin = login(ada)
    form = admin.get(reverse("accounts:staff_invite")).content.decode()
    assert 'name="outside_practice"' in form and "Outside prescriber" in form
    response = admin.post(reverse("accounts:staff_invite"), INVITE)
    assert response.status_code == 302
    omar = User.objects.get(email="omar@example.org")
    assert omar.outside_practice and omar.is_prescriber and omar.roles == [omar.roles[0]]
    assert audit_rows("kapflow.accounts.staff.invited")[0].detail == {
        "roles": ["prescriber"],
        "outside_practice": True,
    }
    assert "Outside the practice" in admin.get(reverse("accounts:staff")).content.decode()


@pytest.mark.parametrize(
    "roles",
    [{"is_prescriber": "", "is_therapist": "on"}, {"is_coordinator": "on"}, {"is_practice_admin": "on"}],
)
def test_it_refuses_an_outside_prescriber_with_any_other_role(login, ada, roles):
    response = login(ada).post(reverse("accounts:staff_invite"), {**INVITE, **roles})
    html = response.content.decode()
    assert response.status_code == 200
    assert "An outside prescriber holds the prescriber role and no other." in html
    assert 'value="Omar Outside"' in html  # what was typed comes back
    assert not User.objects.filter(email="omar@example.org").exists()


def test_the_database_keeps_an_outside_prescriber_a_prescriber_alone(oscar):
    oscar.is_therapist = True
    with pytest.raises(IntegrityError), transaction.atomic():
        oscar.save()


def test_the_admin_turns_a_practice_prescriber_into_an_outside_one(login, ada, priya, olive):
    CareTeamMember.objects.create(client=olive, user=priya, role=CareTeamMember.Role.PRESCRIBER)
    login(ada).post(
        reverse("accounts:staff_edit", args=[priya.pk]),
        {"full_name": priya.full_name, "email": priya.email, "is_prescriber": "on", "outside_practice": "on"},
    )
    priya.refresh_from_db()
    assert priya.outside_practice
    assert login(priya).get(reverse("clients:chart", args=[olive.pk])).status_code == 404


# --- Two-factor sign-in -----------------------------------------------------------------------


def test_it_signs_in_with_two_factors_as_all_staff(client, avery):
    omar = factories.make_user(
        "Omar Outside", roles=("is_prescriber", "outside_practice"), password=PASSWORD, mfa=False
    )
    client.post(reverse("account_login"), {"login": omar.email, "password": PASSWORD})
    assert client.get(reverse("home"))["Location"] == reverse("mfa_activate_totp")
    assert client.get(reverse("medical:summary", args=[avery.pk]))["Location"] == reverse("mfa_activate_totp")


# --- The dashboard and the navigation ---------------------------------------------------------


def test_the_dashboard_shows_their_clients_and_the_prescribers_lists_only(
    login, oscar, avery, olive, audit_rows
):
    for client in (avery, olive):
        Screening.objects.create(client=client, answers={}, age=35)
    html = login(oscar).get(reverse("home")).content.decode()
    summary = reverse("medical:summary", args=[avery.pk])
    assert html.count(f'href="{summary}"') == 2  # in "Your clients" and in "Clearances waiting"
    assert "Clearances waiting" in html and olive.first_name not in html
    for refused in ("clients:caseload", "calendar:week", "outcomes:report", "calendar:day", "queue_alerts"):
        assert f'href="{reverse(refused)}"' not in html, refused
    assert audit_rows("kapflow.dashboard.viewed")[0].detail == {"clients": [avery.pk]}


def test_the_dashboard_of_a_practice_prescriber_is_unchanged(login, priya, avery):
    html = login(priya).get(reverse("home")).content.decode()
    assert f'href="{reverse("clients:caseload")}"' in html and "Your visits today" in html


def test_the_refused_pages_answer_404_for_a_client_and_403_for_the_practice(login, oscar, avery, audit_rows):
    browser = login(oscar)
    assert browser.get(reverse("medical:summary", args=[avery.pk])).status_code == 200
    assert browser.get(reverse("clients:chart", args=[avery.pk])).status_code == 404
    assert browser.get(reverse("measures:list", args=[avery.pk])).status_code == 404
    assert browser.get(reverse("journal:list", args=[avery.pk])).status_code == 404
    assert browser.get(reverse("calendar:week")).status_code == 403
    assert browser.get(reverse("outcomes:report")).status_code == 403
    assert browser.get(reverse("clients:caseload")).status_code == 403
    denied = audit_rows("kapflow.audit.access.denied")
    assert [row.client_id for row in denied] == [avery.pk] * 3


# --- Nothing widens the scope -----------------------------------------------------------------


def _asking(user, name, client):
    request = RequestFactory().get(reverse(name, args=[client.pk]))
    request.user = user
    request.resolver_match = resolve(request.path)
    return request


def test_open_caseload_does_not_widen_their_view(login, oscar, avery, olive):
    _open_caseload()
    browser = login(oscar)
    assert browser.get(reverse("medical:summary", args=[olive.pk])).status_code == 404
    assert browser.get(reverse("medical:summary", args=[avery.pk])).status_code == 200
    for need in Need:
        assert list(clients_for(_asking(oscar, "medical:summary", avery), need=need)) == [avery]


def test_the_scoping_helper_finds_no_client_for_them_off_their_pages(oscar, avery):
    assert list(clients_for(_asking(oscar, "medical:summary", avery))) == [avery]
    assert list(clients_for(_asking(oscar, "clients:chart", avery))) == []
    request = RequestFactory().get("/")  # no page at all: a service, a task
    request.user = oscar
    assert list(clients_for(request)) == []


def test_an_access_grant_lets_them_into_nothing(login, oscar, olive, tess):
    AccessGrant.objects.create(client=olive, user=oscar, reason="written by hand", source="tests:grant")
    assert login(oscar).get(reverse("medical:summary", args=[olive.pk])).status_code == 404
    with pytest.raises(ValueError):
        access_grant_open(client=olive, user=oscar, reason="On call", source="tests:grant2")


def test_they_cannot_be_chosen_as_the_on_call_prescriber(oscar, priya):
    choices = PracticeForm(instance=Practice.load()).fields["on_call_prescriber"].queryset
    assert priya in choices and oscar not in choices


def test_an_on_call_prescriber_made_outside_afterwards_is_not_told(oscar, olive):
    practice = Practice.load()
    practice.on_call_prescriber = oscar  # chosen before the account became an outside one
    practice.save()
    assert prescriber_to_notify(olive, practice) == (None, False)


def test_they_are_told_of_an_alert_about_their_own_client(oscar, olive):
    CareTeamMember.objects.create(client=olive, user=oscar, role=CareTeamMember.Role.PRESCRIBER)
    assert prescriber_to_notify(olive, Practice.load()) == (oscar, False)


# --- The runbook: read, and only their own acknowledgements ---------------------------------------

visit = test_runbook.visit
order = test_runbook.order
dosed = test_runbook.dosed


@pytest.mark.usefixtures("pathway_ready")
def test_on_an_open_runbook_they_see_the_record_but_none_of_the_forms_that_record_it(
    oscar, tess, dosed, login
):
    """The session's record is the practice's to write: an outside prescriber reads it, and the
    forms for doses, vitals, ratings, notes, discharge and signing are not shown to them (each
    would answer 404 behind the fence)."""
    recording = [
        reverse(name, args=[dosed.client_id, dosed.pk])
        for name in ("dosing:dose", "dosing:vitals", "dosing:rating", "dosing:note", "dosing:discharge")
    ]
    with time_machine.travel(test_runbook.at(20), tick=False):
        theirs = login(oscar).get(reverse("dosing:runbook", args=[dosed.client_id, dosed.pk]))
        therapists = login(tess).get(reverse("dosing:runbook", args=[dosed.client_id, dosed.pk]))
    assert theirs.status_code == 200
    assert "250" in theirs.content.decode()  # the dose given, as recorded
    assert [url for url in recording if url in therapists.content.decode()] == recording
    assert [url for url in recording if url in theirs.content.decode()] == []


# --- Review fixes: the day's medications, the prescriber on site, turning a prescriber outside ------


@pytest.mark.usefixtures("pathway_ready")
def test_they_review_their_clients_new_medications_on_the_day(oscar, visit, tess, login, audit_rows):
    """The review the day-of gate waits for: the runbook shows them the button, and it works for
    an outside prescriber who is the client's prescriber."""
    test_runbook.checked_in(visit, tess, new_medications="sertraline")
    runbook = reverse("dosing:runbook", args=[visit.client_id, visit.pk])
    review = reverse("dosing:medications_review", args=[visit.client_id, visit.pk])
    http = login(oscar)
    with time_machine.travel(test_runbook.at(-12), tick=False):
        assert review in http.get(runbook).content.decode()
        assert http.post(review).status_code == 302
    latest = DayOfChecklist.objects.filter(runbook__visit=visit).order_by("-recorded_at", "-pk").first()
    assert latest.medications_reviewed_by == oscar and latest.new_medications == "sertraline"
    assert audit_rows("kapflow.dosing.medications.reviewed")[0].actor == oscar


def test_they_are_offered_as_prescriber_on_site_for_their_own_clients_only(
    oscar, priya, avery, olive, tess, cora
):
    assert {oscar, priya} <= set(PrescriberOnSiteForm(client_id=avery.pk).fields["prescriber"].queryset)
    olives = PrescriberOnSiteForm(client_id=olive.pk).fields["prescriber"].queryset
    assert priya in olives and oscar not in olives
    in_person = test_runbook_dayof.make_visit(olive, tess, cora, virtual=False)
    with time_machine.travel(test_runbook.at(-5), tick=False):
        with pytest.raises(RunbookRefused, match="not on this client's care team"):
            prescriber_on_site_record(
                actor=tess, visit=in_person, prescriber=oscar, on_site_at=test_runbook.at(-6)
            )
        assert (
            prescriber_on_site_record(
                actor=tess, visit=in_person, prescriber=priya, on_site_at=test_runbook.at(-6)
            ).prescriber
            == priya
        )


def _make_outside(http, priya):
    return http.post(
        reverse("accounts:staff_edit", args=[priya.pk]),
        {"full_name": priya.full_name, "email": priya.email, "is_prescriber": "on", "outside_practice": "on"},
    )


def test_the_on_call_prescriber_is_not_made_an_outside_one(login, ada, priya):
    practice = Practice.load()
    practice.on_call_prescriber = priya
    practice.save()
    response = _make_outside(login(ada), priya)
    assert response.status_code == 200
    assert (
        "is the practice&#x27;s on-call prescriber: choose another on-call prescriber first in Settings"
        in (response.content.decode())
    )
    priya.refresh_from_db()
    assert not priya.outside_practice


def test_a_prescriber_made_outside_loses_their_calendar_feed(login, ada, priya):
    login(priya).post(reverse("calendar:feed_create"))
    feed = CalendarFeed.objects.get(user=priya, revoked_at__isnull=True)
    url = reverse("calendar:feed", args=[feed.token])
    assert login(None).get(url).status_code == 200
    assert _make_outside(login(ada), priya).status_code == 302
    assert login(None).get(url).status_code == 404


@pytest.mark.usefixtures("pathway_ready")
def test_they_are_not_offered_the_check_in_of_a_session(oscar, tess, visit, login):
    Visit.objects.filter(pk=visit.pk).update(status=Visit.Status.SCHEDULED)
    check_in = reverse("dosing:check_in", args=[visit.client_id, visit.pk])
    runbook = reverse("dosing:runbook", args=[visit.client_id, visit.pk])
    assert check_in in login(tess).get(runbook).content.decode()
    assert check_in not in login(oscar).get(runbook).content.decode()
