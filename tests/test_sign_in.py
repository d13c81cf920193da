"""Sign-in: two-factor for every staff account, throttled password guessing, Argon2, and the
idle sign-out."""

import datetime

import pytest
import time_machine
from django.conf import settings as django_settings
from django.urls import reverse

from kapflow import settings as kapflow_settings
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def test_staff_without_an_authenticator_are_sent_to_set_one_up(login):
    newcomer = factories.make_user("New Therapist", mfa=False)
    response = login(newcomer).get(reverse("clients:caseload"))
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")


def test_the_set_up_page_itself_and_sign_out_stay_reachable(client):
    """Signed in for real: allauth asks for the password again before any two-factor change
    unless the person signed in moments ago, and a session made without signing in has no such
    moment."""
    newcomer = factories.make_user("New Therapist", password=PASSWORD, mfa=False)
    client.post(reverse("account_login"), {"login": newcomer.email, "password": PASSWORD})
    assert client.get(reverse("mfa_activate_totp")).status_code == 200
    assert client.get(reverse("account_logout")).status_code == 200


def test_staff_with_an_authenticator_go_straight_in(login, tess):
    assert login(tess).get(reverse("clients:caseload")).status_code == 200


def test_the_demo_may_switch_two_factor_off_and_says_so_on_every_page(login, settings):
    settings.MFA_REQUIRED = False
    newcomer = factories.make_user("New Therapist", mfa=False)
    response = login(newcomer).get(reverse("clients:caseload"))
    assert response.status_code == 200
    assert "Two-factor sign-in is switched off" in response.content.decode()


def test_with_two_factor_required_no_page_carries_the_demo_warning(login, tess):
    assert "switched off" not in login(tess).get(reverse("clients:caseload")).content.decode()


def test_signing_in_asks_for_the_authenticator_code(client):
    user = factories.make_user("Tess", password=PASSWORD, mfa=False)
    secret = factories.enrol_totp(user)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("clients:caseload"))["Location"].startswith(reverse("account_login"))
    response = client.post(reverse("mfa_authenticate"), {"code": factories.totp_code(secret)})
    assert response.status_code == 302
    assert client.get(reverse("clients:caseload")).status_code == 200


def test_a_wrong_code_keeps_them_out(client):
    user = factories.make_user("Tess", password=PASSWORD, mfa=False)
    factories.enrol_totp(user)
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    response = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert response.status_code == 200 and "Incorrect code" in response.content.decode()


def test_password_guessing_is_throttled(client):
    user = factories.make_user("Tess", password=PASSWORD)
    for _ in range(5):
        client.post(reverse("account_login"), {"login": user.email, "password": "wrong guess"})
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code in (200, 429)
    assert "Too many failed login attempts" in response.content.decode()


def test_nobody_can_sign_themselves_up(client):
    response = client.post(
        reverse("account_signup"), {"email": "x@example.org", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert "Sign Up Closed" in response.content.decode() or response.status_code == 403


def test_passwords_are_hashed_with_argon2():
    # (tests themselves run with a fast hasher; the project's own setting is read here)
    assert kapflow_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    from django.contrib.auth.hashers import Argon2PasswordHasher

    assert Argon2PasswordHasher().encode(PASSWORD, "somesaltvalue12").startswith("argon2$")


def test_the_session_ends_after_thirty_idle_minutes(login, tess):
    # Idle time is kept in the session and checked on each request (tests/test_sessions.py).
    assert django_settings.IDLE_MINUTES == 30 and not django_settings.SESSION_SAVE_EVERY_REQUEST
    with time_machine.travel(datetime.datetime(2026, 11, 22, 9, 0, tzinfo=datetime.UTC), tick=False) as clock:
        browser = login(tess)
        clock.shift(datetime.timedelta(minutes=29))
        assert browser.get(reverse("clients:caseload")).status_code == 200  # activity renews it
        clock.shift(datetime.timedelta(minutes=29))
        assert browser.get(reverse("clients:caseload")).status_code == 200
        clock.shift(datetime.timedelta(minutes=31))
        response = browser.get(reverse("clients:caseload"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_staying_signed_in_is_a_post_that_renews_the_session(login, tess, client):
    assert login(tess).post(reverse("keepalive")).status_code == 204
    assert client.post(reverse("keepalive")).status_code == 401
    assert login(tess).get(reverse("keepalive")).status_code == 405


def test_every_page_carries_the_idle_warning_and_its_settings(login, tess):
    html = login(tess).get(reverse("clients:caseload")).content.decode()
    assert 'data-idle-minutes="30"' in html and 'id="idle-warning"' in html


def test_a_first_sign_in_goes_straight_to_enrolment_without_asking_the_password_again(client):
    user = factories.make_user("New Therapist", password=PASSWORD, mfa=False)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("mfa_activate_totp")
    assert "Authenticator secret" in response.content.decode()


def test_changing_two_factor_later_still_asks_for_the_password(login, tess):
    response = login(tess).post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_reauthenticate"))


def test_clients_are_not_made_to_set_up_two_factor(client, avery):
    """Two-factor is optional on the portal: a client without an authenticator goes straight in,
    and may set one up from the same page staff use."""
    cleo = factories.make_user("Cleo Client", roles=("is_client",), password=PASSWORD, mfa=False)
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    response = client.post(reverse("account_login"), {"login": cleo.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] != reverse("mfa_activate_totp")
    assert client.get(reverse("portal:client_home", args=[avery.pk])).status_code == 200
    assert client.get(reverse("mfa_activate_totp")).status_code == 200


def test_a_client_who_set_up_two_factor_is_asked_for_the_code(client, avery):
    cleo = factories.make_user("Cleo Client", roles=("is_client",), password=PASSWORD, mfa=False)
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    secret = factories.enrol_totp(cleo)
    response = client.post(reverse("account_login"), {"login": cleo.email, "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    home = reverse("portal:client_home", args=[avery.pk])
    assert client.get(home)["Location"].startswith(reverse("account_login"))
    client.post(reverse("mfa_authenticate"), {"code": factories.totp_code(secret)})
    assert client.get(home).status_code == 200


def test_a_page_request_from_htmx_after_signing_out_gets_401_not_the_sign_in_page(client, avery):
    """htmx would follow the redirect and swap the sign-in page into the form; the page script
    keeps the drafts and goes to sign in itself on 401 (staff pages and portal pages alike)."""
    for url in (reverse("clients:chart", args=[avery.pk]), reverse("portal:client_home", args=[avery.pk])):
        assert client.get(url)["Location"].startswith(reverse("account_login"))
        response = client.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 401
