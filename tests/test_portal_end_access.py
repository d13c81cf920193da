"""Ending a person's portal access from the chart: at once, audited, and reversible only by a new
invitation (which reopens the account with a password chosen then)."""

import re

import pytest
from allauth.usersessions.models import UserSession
from django.core import mail
from django.urls import reverse

from kapflow.accounts.models import User
from kapflow.clients.models import Guardian
from kapflow.portal.models import PortalInvitation
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "quiet-harbour-lantern-42"


@pytest.fixture
def active(avery, login, django_capture_on_commit_callbacks, tess):
    """Avery with a portal account made the real way: invited, then accepted."""
    avery.email = "avery@example.org"
    avery.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        login(tess).post(reverse("portal_staff:invite", args=[avery.pk]), {"who": "client"})
    token = re.search(r"/portal/welcome/(\S+)/", mail.outbox[-1].body).group(1)
    http = login(None)
    http.post(reverse("portal:accept", args=[token]), {"password1": PASSWORD, "password2": PASSWORD})
    avery.refresh_from_db()
    assert avery.portal_user is not None
    return http


def end(http, client, who="client"):
    return http.post(reverse("portal_staff:end_access", args=[client.pk]), {"who": who})


def test_ending_access_signs_the_client_out_at_once_and_unlinks_the_record(
    active, avery, tess, login, audit_rows
):
    home = reverse("portal:client_home", args=[avery.pk])
    assert active.get(home).status_code == 200
    user = avery.portal_user
    response = end(login(tess), avery)
    assert response.status_code == 302
    avery.refresh_from_db()
    user.refresh_from_db()
    assert avery.portal_user is None and not user.is_active
    assert active.get(home).status_code == 302  # signed out: back to the sign-in page
    row = audit_rows("kapflow.portal.access.ended")[-1]
    assert row.client == avery and row.actor == tess and row.detail["deactivated"] is True


def test_the_chart_says_access_ended_and_offers_a_new_invitation(active, avery, tess, login):
    http = login(tess)
    assert "End portal access" in http.get(reverse("clients:chart", args=[avery.pk])).content.decode()
    end(http, avery)
    page = http.get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert "Portal access ended" in page and "Invite again" in page


def test_a_new_invitation_reopens_the_account_with_a_new_password(
    active, avery, tess, login, django_capture_on_commit_callbacks
):
    http = login(tess)
    end(http, avery)
    with django_capture_on_commit_callbacks(execute=True):
        http.post(reverse("portal_staff:invite", args=[avery.pk]), {"who": "client"})
    token = re.search(r"/portal/welcome/(\S+)/", mail.outbox[-1].body).group(1)
    visitor = login(None)
    page = visitor.get(reverse("portal:accept", args=[token])).content.decode()
    assert "password1" in page  # a new password, not the old one
    visitor.post(
        reverse("portal:accept", args=[token]),
        {"password1": "new-" + PASSWORD, "password2": "new-" + PASSWORD},
    )
    avery.refresh_from_db()
    user = User.objects.get(email="avery@example.org")
    assert avery.portal_user == user and user.is_active and user.check_password("new-" + PASSWORD)
    assert User.objects.filter(email="avery@example.org").count() == 1


def test_ending_a_guardians_access_leaves_their_other_child(tess, login, audit_rows):
    dad = factories.make_user("Dev Guardian", roles=("is_guardian",), mfa=False)
    first = factories.make_client(first_name="Ana", last_name="Minor", therapist=tess, age=15)
    second = factories.make_client(first_name="Ben", last_name="Minor", therapist=tess, age=13)
    one = Guardian.objects.create(client=first, name="Dev", relationship="father", portal_user=dad)
    Guardian.objects.create(client=second, name="Dev", relationship="father", portal_user=dad)
    guardian_http = login(dad)
    assert guardian_http.get(reverse("portal:client_home", args=[second.pk])).status_code == 200
    UserSession.objects.create(
        user=dad, session_key=guardian_http.session.session_key, ip="127.0.0.1", user_agent="test"
    )
    end(login(tess), first, who=f"guardian:{one.pk}")
    dad.refresh_from_db()
    one.refresh_from_db()
    assert one.portal_user is None and dad.is_active  # still the guardian of the other child
    assert login(dad).get(reverse("portal:client_home", args=[first.pk])).status_code == 404
    assert login(dad).get(reverse("portal:client_home", args=[second.pk])).status_code == 200
    # The sessions open when access ended were ended too.
    assert guardian_http.get(reverse("portal:client_home", args=[second.pk])).status_code == 302


def test_ending_access_stops_an_open_invitation(avery, tess, login, django_capture_on_commit_callbacks):
    avery.email = "avery@example.org"
    avery.save(update_fields=["email"])
    http = login(tess)
    with django_capture_on_commit_callbacks(execute=True):
        http.post(reverse("portal_staff:invite", args=[avery.pk]), {"who": "client"})
    end(http, avery)
    assert not PortalInvitation.objects.live().filter(client=avery).exists()


def test_someone_else_or_nobody_changes_nothing(active, avery, olive, tess, colin, login):
    assert end(login(colin), avery).status_code == 404  # outside Colin's care
    assert end(login(tess), avery, who="guardian:999999999999").status_code == 302
    assert end(login(tess), avery, who="").status_code == 302
    avery.refresh_from_db()
    assert avery.portal_user is not None
    assert login(tess).get(reverse("portal_staff:end_access", args=[avery.pk])).status_code == 405
