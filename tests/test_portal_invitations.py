"""Portal invitations: sent from the chart, stored as a hash, valid for the practice's
portal_invitation_hours, single use, revoked by a newer one, and an email that says nothing
clinical. Accepting creates the account, links it and signs the person in."""

import datetime
import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.clients.models import Client
from kapflow.portal.models import PortalInvitation, token_hash
from kapflow.practice.models import Practice
from tests import factories

PASSWORD = "quiet-harbour-lantern-42"


_capture = {}


@pytest.fixture(autouse=True)
def _mail_on_commit(django_capture_on_commit_callbacks):
    # The email is enqueued when the transaction commits, which a test's transaction never does.
    _capture["callbacks"] = django_capture_on_commit_callbacks


def invite(http, client, who="client"):
    with _capture["callbacks"](execute=True):
        return http.post(reverse("portal_staff:invite", args=[client.pk]), {"who": who})


def link_from(message) -> str:
    match = re.search(r"https?://\S+/portal/welcome/(\S+)/", message.body)
    assert match, message.body
    return match.group(1)


@pytest.fixture
def invited(avery, tess, login):
    avery.email = "avery@example.org"
    avery.save(update_fields=["email"])
    mail.outbox.clear()
    invite(login(tess), avery)
    return link_from(mail.outbox[-1])


def accept(http, token, password=PASSWORD, again=None):
    return http.post(
        reverse("portal:accept", args=[token]), {"password1": password, "password2": again or password}
    )


def test_it_invites_the_client_by_email_and_stores_only_a_hash(avery, tess, login, audit_rows):
    avery.email = "avery@example.org"
    avery.save(update_fields=["email"])
    response = invite(login(tess), avery)
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["avery@example.org"]
    token = link_from(message)
    invitation = PortalInvitation.objects.get()
    assert invitation.token_sha256 == token_hash(token) != token
    assert token not in str(PortalInvitation.objects.values_list().get())
    assert invitation.expires_at - invitation.created_at == datetime.timedelta(hours=72)
    (row,) = audit_rows("kapflow.portal.invitation.sent")
    assert row.client_id == avery.pk and row.actor_id == tess.pk


def test_the_email_says_nothing_clinical(avery, tess, login):
    avery.email = "avery@example.org"
    avery.save(update_fields=["email"])
    invite(login(tess), avery)
    (message,) = mail.outbox
    text = (message.subject + message.body).lower()
    for word in ("ketamine", "medication", "session", "dose", "consent", "therapy", "tess", "alvarez"):
        assert word not in text.replace(Practice.load().name.lower(), ""), word
    assert "72 hours" in message.body


def test_the_link_works_within_the_practice_hours_and_not_after(invited, avery, login):
    assert Practice.load().portal_invitation_hours == 72
    created = PortalInvitation.objects.get().created_at
    with time_machine.travel(created + datetime.timedelta(hours=71, minutes=59), tick=False):
        assert b"Choose a password" in login(None).get(reverse("portal:accept", args=[invited])).content
    with time_machine.travel(created + datetime.timedelta(hours=72, seconds=1), tick=False):
        response = accept(login(None), invited)
        assert b"This link no longer works" in response.content
    avery.refresh_from_db()
    assert avery.portal_user is None


def test_the_invitation_hours_come_from_the_practice(avery, tess, login):
    practice = Practice.load()
    practice.portal_invitation_hours = 24
    practice.save()
    avery.email = "avery@example.org"
    avery.save(update_fields=["email"])
    invite(login(tess), avery)
    invitation = PortalInvitation.objects.get()
    assert invitation.expires_at - invitation.created_at == datetime.timedelta(hours=24)
    assert "24 hours" in mail.outbox[-1].body


def test_accepting_creates_the_account_links_it_and_signs_in(invited, avery, login, audit_rows):
    http = login(None)
    response = accept(http, invited)
    assert response.status_code == 302
    avery.refresh_from_db()
    user = avery.portal_user
    assert user.is_client and not user.is_guardian and not user.is_staff_member
    assert user.email == "avery@example.org" and user.check_password(PASSWORD)
    assert http.get(reverse("portal:home")).status_code == 302  # signed in: sent to Avery's portal
    (row,) = audit_rows("kapflow.portal.invitation.accepted")
    assert row.actor_id == user.pk and row.client_id == avery.pk


def test_the_link_works_once(invited, login):
    assert accept(login(None), invited).status_code == 302
    response = accept(login(None), invited, password="another-password-entirely-9")
    assert b"This link no longer works" in response.content
    assert User.objects.filter(is_client=True).count() == 1


def test_a_newer_invitation_revokes_the_older(invited, avery, tess, login, audit_rows):
    invite(login(tess), avery)
    newer = link_from(mail.outbox[-1])
    assert b"This link no longer works" in accept(login(None), invited).content
    old = PortalInvitation.objects.get(token_sha256=token_hash(invited))
    assert old.revoked_at is not None
    assert audit_rows("kapflow.portal.invitation.sent")[-1].detail["revoked"] == [old.pk]
    assert accept(login(None), newer).status_code == 302


def test_an_unknown_link_says_to_ask_for_a_new_one_without_a_hint(db, login, audit_rows):
    for token in ("nope", "x" * 43, "x" * 500, "%00" * 30):
        response = login(None).get(reverse("portal:accept", args=[token]))
        assert response.status_code == 200
        assert b"ask" in response.content and b"new invitation" in response.content
    assert audit_rows("kapflow.portal.invitation.refused")


def test_a_weak_password_comes_back_with_the_error_and_nothing_created(invited, avery, login):
    response = accept(login(None), invited, password="password")
    assert response.status_code == 200
    assert b"too short" in response.content or b"too common" in response.content
    response = accept(login(None), invited, password=PASSWORD, again=PASSWORD + "x")
    assert b"not the same" in response.content
    response = login(None).post(reverse("portal:accept", args=[invited]), {})
    assert response.status_code == 200 and b"required" in response.content
    avery.refresh_from_db()
    assert avery.portal_user is None and PortalInvitation.objects.get().accepted_at is None


def test_a_guardian_of_a_minor_is_invited_and_becomes_a_guardian_account(tess, login):
    teen = factories.make_client(first_name="Tia", age=16, therapist=tess)
    guardian = factories.add_guardian(teen)
    guardian.email = "pat@example.org"
    guardian.save(update_fields=["email"])
    invite(login(tess), teen, who=f"guardian:{guardian.pk}")
    token = link_from(mail.outbox[-1])
    assert "Tia" not in mail.outbox[-1].body
    assert accept(login(None), token).status_code == 302
    guardian.refresh_from_db()
    assert guardian.portal_user.is_guardian and not guardian.portal_user.is_client


def test_a_guardian_already_with_an_account_adds_a_second_child_with_their_password(tess, login):
    first, second = (factories.make_client(first_name=n, age=15, therapist=tess) for n in ("Tia", "Theo"))
    for child in (first, second):
        guardian = factories.add_guardian(child)
        guardian.email = "pat@example.org"
        guardian.save(update_fields=["email"])
        invite(login(tess), child, who=f"guardian:{guardian.pk}")
        token = link_from(mail.outbox[-1])
        if child is first:
            assert accept(login(None), token).status_code == 302
        else:
            page = login(None).get(reverse("portal:accept", args=[token]))
            assert b"already have an account" in page.content
            wrong = login(None).post(reverse("portal:accept", args=[token]), {"password": "wrong-one-here"})
            assert b"not the password" in wrong.content
            ok = login(None).post(reverse("portal:accept", args=[token]), {"password": PASSWORD})
            assert ok.status_code == 302
    user = User.objects.get(email="pat@example.org")
    assert set(Client.objects.filter(guardians__portal_user=user)) == {first, second}


def test_staff_cannot_invite_a_guardian_of_an_adult_or_without_an_email(avery, tess, login):
    guardian = factories.add_guardian(avery)
    guardian.email = "pat@example.org"
    guardian.save(update_fields=["email"])
    response = invite(login(tess), avery, who=f"guardian:{guardian.pk}")
    assert response.status_code == 302
    assert not PortalInvitation.objects.exists() and not mail.outbox
    response = invite(login(tess), avery)  # Avery has no email on file
    assert not PortalInvitation.objects.exists()
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("No email address" in m for m in messages)


@pytest.mark.parametrize("data", [{}, {"who": "guardian:99999999999999999999"}, {"who": "\x00"}])
def test_garbage_invitations_are_refused_clearly(avery, tess, login, data):
    response = login(tess).post(reverse("portal_staff:invite", args=[avery.pk]), data)
    assert response.status_code == 302
    assert not PortalInvitation.objects.exists()


def test_colleagues_outside_the_care_team_cannot_invite(avery, colin, cleo, login):
    assert invite(login(colin), avery).status_code == 404
    assert invite(login(cleo), avery).status_code == 403


def test_the_chart_shows_the_portal_standing(avery, tess, login):
    avery.email = "avery@example.org"
    avery.save(update_fields=["email"])
    chart = reverse("clients:chart", args=[avery.pk])
    assert b"Not invited" in login(tess).get(chart).content
    invite(login(tess), avery)
    page = login(tess).get(chart).content.decode()
    assert "Invited, link works until" in page and "Invite again" in page
    accept(login(None), link_from(mail.outbox[-1]))
    page = login(tess).get(chart).content.decode()
    assert f"Active since {timezone.localdate():%b} {timezone.localdate().day}" in page
    assert "Invite again" not in page.split('id="portal-h"')[1].split("</section>")[0]


def test_the_therapist_turns_portal_progress_on_and_off(avery, tess, priya, cora, login, audit_rows):
    url = reverse("portal_staff:progress", args=[avery.pk])
    assert login(tess).post(url, {"show": "on"}).status_code == 302
    avery.refresh_from_db()
    assert avery.portal_shows_progress
    assert login(tess).post(url, {"show": "off"}).status_code == 302
    avery.refresh_from_db()
    assert not avery.portal_shows_progress
    assert [r.action for r in audit_rows() if r.action.startswith("kapflow.portal.progress.")] == [
        "kapflow.portal.progress.opened",
        "kapflow.portal.progress.shown",
        "kapflow.portal.progress.opened",
        "kapflow.portal.progress.hidden",
    ]
    assert login(priya).post(url, {"show": "on"}).status_code == 403
    assert login(cora).post(url, {"show": "on"}).status_code == 403
    login(tess).post(url, {"show": "maybe"})
    avery.refresh_from_db()
    assert not avery.portal_shows_progress


def test_clients_and_guardians_landing_on_home_go_to_the_portal(cleo, gail, login):
    for user in (cleo, gail):
        response = login(user).get("/")
        assert response.status_code == 302 and response["Location"] == reverse("portal:home")


def test_a_minors_own_invitation_never_goes_to_a_guardians_address(tess, login):
    """The minor's own portal shows their journal and questionnaires; a guardian must never hold
    it, however the addresses on file were typed."""
    teen = factories.make_client(first_name="Tia", age=16, therapist=tess)
    guardian = factories.add_guardian(teen)
    guardian.email = "pat@example.org"
    guardian.save(update_fields=["email"])
    teen.email = "PAT@example.org"
    teen.save(update_fields=["email"])
    mail.outbox.clear()
    page = invite(login(tess), teen)
    assert PortalInvitation.objects.count() == 0 and mail.outbox == []
    assert "also the address of" in page.content.decode() or "also the address of" in str(
        [str(m) for m in page.wsgi_request._messages]
    )


def test_a_guardians_account_cannot_take_the_minors_own_invitation(tess, login):
    teen = factories.make_client(first_name="Tia", age=16, therapist=tess)
    guardian = factories.add_guardian(teen)
    guardian.email = "pat@example.org"
    guardian.save(update_fields=["email"])
    invite(login(tess), teen, who=f"guardian:{guardian.pk}")
    accept(login(None), link_from(mail.outbox[-1]))
    # The minor's address is put on file, the invitation sent, and the guardian's address then
    # put on the guardian's account: the guardian's account must not take the minor's portal.
    teen.email = "tia@example.org"
    teen.save(update_fields=["email"])
    invite(login(tess), teen)
    token = link_from(mail.outbox[-1])
    User.objects.filter(email="pat@example.org").update(email="tia@example.org")
    response = login(None).post(reverse("portal:accept", args=[token]), {"password": PASSWORD})
    assert "cannot be used here" in response.content.decode()
    teen.refresh_from_db()
    assert teen.portal_user is None


def test_an_account_with_two_factor_signs_in_with_its_code_after_accepting(tess, login):
    first, second = (factories.make_client(first_name=n, age=15, therapist=tess) for n in ("Tia", "Theo"))
    for child in (first, second):
        guardian = factories.add_guardian(child)
        guardian.email = "pat@example.org"
        guardian.save(update_fields=["email"])
    invite(login(tess), first, who=f"guardian:{first.guardians.get().pk}")
    accept(login(None), link_from(mail.outbox[-1]))
    factories.enrol_totp(User.objects.get(email="pat@example.org"))
    invite(login(tess), second, who=f"guardian:{second.guardians.get().pk}")
    http = login(None)
    response = http.post(reverse("portal:accept", args=[link_from(mail.outbox[-1])]), {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("account_login")
    assert second.guardians.get().portal_user.email == "pat@example.org"
    assert http.get(reverse("portal:home"))["Location"].startswith(reverse("account_login"))
