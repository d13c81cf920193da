"""Issue 11, item 1: no way into a staff account with a password alone.

A staff member sets their password and their authenticator together on the invitation page;
a password-only session (an account from before, or after a reset) reaches only enrolment;
changing the email address or the password asks for a fresh second factor, is audited, and the
old address is told; a practice may require two-factor sign-in on the portal too."""

import datetime
import re

import pytest
import time_machine
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.practice.models import Practice
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different horse entirely 42"
INVITE = {"full_name": "Nina New", "email": "nina@example.org", "is_therapist": "on"}


def _password_only_session(client, user):
    """Signed in for real with the password, as anyone who learned it would be."""
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _signed_in_with_code(client, user, secret):
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    response = client.post(reverse("mfa_authenticate"), {"code": factories.totp_code(secret)})
    assert response.status_code == 302
    return client


def _next_code(secret: str) -> str:
    """A code not yet spent: allauth refuses the one just used to sign in (replay), so confirm
    with the next 30-second window's, as a person would a moment later (kapflow takes a code in
    the windows either side of its own: MFA_TOTP_TOLERANCE)."""
    return factories.totp_code(secret, timezone.now() + datetime.timedelta(seconds=30))


# --- The code's window -------------------------------------------------------------------------


def _code_step(client, user, code: str):
    """The password, then `code` on the authenticator page: the code step's answer."""
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    return client.post(reverse("mfa_authenticate"), {"code": code})


def _window(secret: str, steps: int) -> str:
    """The code `steps` 30-second windows from now (negative: before)."""
    return factories.totp_code(secret, timezone.now() + datetime.timedelta(seconds=30 * steps))


@pytest.fixture
def mid_window():
    """The clock stopped halfway through a 30-second window: each code below is the one of the
    window it names, however long the test takes."""
    now = timezone.now().timestamp()
    with time_machine.travel(now - now % 30 + 15, tick=False):
        yield


def test_a_code_of_the_window_before_or_after_is_taken_once(client, mid_window):
    """A code typed as it turns over, or kept waiting by a busy server, is taken in the next
    window (MFA_TOTP_TOLERANCE, 1 by default); a code two windows old is not, and a code taken
    once is refused again while it could still be taken, so seeing it used is no use."""
    user = factories.make_user("Tess", password=PASSWORD, mfa=False, email="tess@example.org")
    secret = factories.enrol_totp(user)
    earlier = _window(secret, -1)
    assert _code_step(client, user, earlier).status_code == 302
    client.post(reverse("account_logout"))
    refused = _code_step(client, user, earlier)
    assert refused.status_code == 200 and "Incorrect code" in refused.content.decode()
    assert _code_step(client, user, _window(secret, -2)).status_code == 200
    assert _code_step(client, user, _window(secret, 1)).status_code == 302


def test_a_practice_may_take_the_current_window_only(client, settings, mid_window):
    settings.MFA_TOTP_TOLERANCE = 0
    user = factories.make_user("Tess", password=PASSWORD, mfa=False, email="tess@example.org")
    secret = factories.enrol_totp(user)
    assert _code_step(client, user, _window(secret, -1)).status_code == 200
    assert _code_step(client, user, _window(secret, 0)).status_code == 302


# --- A password-only session reaches only enrolment -----------------------------------------


def test_a_password_alone_cannot_move_a_staff_account_to_another_address(client):
    """The attack the issue describes: add an address, make it primary, remove the old one."""
    victim = factories.make_user("New Therapist", password=PASSWORD, mfa=False, email="victim@example.org")
    browser = _password_only_session(client, victim)
    enrol = reverse("mfa_activate_totp")

    assert browser.get(reverse("account_email"))["Location"] == enrol
    response = browser.post(reverse("account_email"), {"action_add": "", "email": "thief@example.org"})
    assert response.status_code == 403
    assert not EmailAddress.objects.filter(email="thief@example.org").exists()
    response = browser.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 403
    victim.refresh_from_db()
    assert victim.email == "victim@example.org" and victim.check_password(PASSWORD)
    for name in ("mfa_index", "usersessions_list", "account_change_password"):
        assert browser.get(reverse(name))["Location"] == enrol, name
    # htmx requests are refused rather than redirected (htmx would swap the page into a form).
    assert browser.get(reverse("clients:caseload"), HTTP_HX_REQUEST="true").status_code == 403


def test_until_enrolled_the_enrolment_pages_and_sign_out_still_answer(client):
    newcomer = factories.make_user("New Therapist", password=PASSWORD, mfa=False)
    browser = _password_only_session(client, newcomer)
    assert browser.get(reverse("mfa_activate_totp")).status_code == 200
    assert browser.post(reverse("keepalive")).status_code == 204
    assert browser.get(reverse("account_logout")).status_code == 200


def test_a_forged_welcome_link_or_a_password_reset_does_not_lock_anyone_out_of_enrolment(client):
    """allauth's password-reset key, which the invitation link carries, writes the person's
    address as an unverified EmailAddress row whenever a key is made or checked: by a password
    reset, by the invitation, by anyone opening a welcome link with the person's id and any key.
    allauth then refused to add an authenticator for an unverified address and sent its
    enrolment page to the two-factor index, which enrolment sends back: the newcomer went round
    in redirects for ever (seen in the browser walk, whose forged link named the newcomer's id).
    kapflow verifies no address by email (MFA_ALLOW_UNVERIFIED_EMAIL), and enrolment opens."""
    from allauth.account.utils import user_pk_to_url_str

    newcomer = factories.make_user("New Therapist", password=PASSWORD, mfa=False, email="new@example.org")
    client.get(reverse("accounts:staff_welcome", args=[user_pk_to_url_str(newcomer), "forged-key"]))
    client.post(reverse("account_reset_password"), {"email": newcomer.email})
    assert EmailAddress.objects.filter(user=newcomer, verified=False).exists()
    browser = _password_only_session(Client(), newcomer)
    response = browser.get(reverse("home"), follow=True)
    assert response.redirect_chain == [(reverse("mfa_activate_totp"), 302)]
    assert response.status_code == 200 and "Authenticator" in response.content.decode()


def test_an_account_with_an_authenticator_adds_no_address_of_its_own(client):
    """Staff change their address through a practice admin: allauth's refusal to add an address
    to an account protected by an authenticator is kept by kapflow's AddEmailForm, since the
    setting that lets an unverified address enrol also lifts it."""
    user = factories.make_user("Tess", password=PASSWORD, mfa=False)
    secret = factories.enrol_totp(user)
    browser = _signed_in_with_code(client, user, secret)
    browser.post(reverse("mfa_reauthenticate"), {"code": _next_code(secret)})
    response = browser.post(reverse("account_email"), {"action_add": "", "email": "elsewhere@example.org"})
    assert response.status_code == 200
    assert "an account protected by two-factor authentication" in response.content.decode()
    assert not EmailAddress.objects.filter(email="elsewhere@example.org").exists()


def test_once_enrolled_the_account_pages_open(client):
    user = factories.make_user("Tess", password=PASSWORD, mfa=False)
    secret = factories.enrol_totp(user)
    browser = _signed_in_with_code(client, user, secret)
    assert browser.get(reverse("account_email")).status_code == 200


def test_with_two_factor_switched_off_for_the_demo_nothing_changes(client, settings):
    settings.MFA_REQUIRED = False
    newcomer = factories.make_user("New Therapist", password=PASSWORD, mfa=False)
    browser = _password_only_session(client, newcomer)
    assert browser.get(reverse("account_email")).status_code == 200
    assert browser.get(reverse("clients:caseload")).status_code == 200


def test_removing_the_authenticator_sends_the_person_back_to_enrol(client):
    user = factories.make_user("Tess", password=PASSWORD, mfa=False)
    secret = factories.enrol_totp(user)
    browser = _signed_in_with_code(client, user, secret)
    assert browser.get(reverse("clients:caseload")).status_code == 200  # remembered as enrolled
    browser.post(reverse("mfa_reauthenticate"), {"code": _next_code(secret)})
    assert browser.post(reverse("mfa_deactivate_totp")).status_code == 302
    assert not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert browser.get(reverse("clients:caseload"))["Location"] == reverse("mfa_activate_totp")


# --- The invitation sets the password and the authenticator together -------------------------


def _invitation_path(login, ada, django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        login(ada).post(reverse("accounts:staff_invite"), INVITE)
    [email] = [message for message in mail.outbox if "nina@example.org" in message.to]
    link = re.search(r"https?://\S+", email.body).group(0)
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def test_the_invitation_sets_the_password_and_the_authenticator_in_one_step(
    login, ada, client, audit_rows, django_capture_on_commit_callbacks
):
    path = _invitation_path(login, ada, django_capture_on_commit_callbacks)
    assert path.startswith("/staff/welcome/")
    page = client.get(path)
    assert page.status_code == 200
    secret = re.search(r'id="authenticator_secret" value="([A-Z2-7=]+)"', page.content.decode()).group(1)
    assert client.get(path).content.decode().count(secret) >= 1  # a reload shows the same secret

    response = client.post(
        path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "code": factories.totp_code(secret)}
    )
    assert response.status_code == 200
    codes = re.search(r'<textarea id="recovery_codes"[^>]*>([^<]*)</textarea>', response.content.decode())
    assert len(codes.group(1).split()) == 10
    nina = User.objects.get(email="nina@example.org")
    assert nina.check_password(NEW_PASSWORD)
    assert set(Authenticator.objects.filter(user=nina).values_list("type", flat=True)) == {
        Authenticator.Type.TOTP,
        Authenticator.Type.RECOVERY_CODES,
    }
    # Signed in with both factors: straight to work, and no second enrolment.
    assert client.get(reverse("clients:caseload")).status_code == 200
    assert [row.actor for row in audit_rows("kapflow.accounts.invitation.accepted")] == [nina]
    assert {row.detail["type"] for row in audit_rows("kapflow.accounts.mfa.enrolled")} == {
        "totp",
        "recovery_codes",
    }
    assert audit_rows("kapflow.accounts.signin.succeeded")[0].detail == {"via": "invitation"}
    # The link worked once.
    client.logout()
    assert "This link no longer works" in client.get(path).content.decode()


def test_a_wrong_code_on_the_invitation_saves_nothing_and_keeps_what_was_typed(
    login, ada, client, django_capture_on_commit_callbacks
):
    path = _invitation_path(login, ada, django_capture_on_commit_callbacks)
    client.get(path)
    response = client.post(path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "code": "000000"})
    html = response.content.decode()
    assert response.status_code == 200 and "That code is not right" in html
    nina = User.objects.get(email="nina@example.org")
    assert not nina.has_usable_password() and not Authenticator.objects.filter(user=nina).exists()
    assert client.get(reverse("clients:caseload"))["Location"].startswith(reverse("account_login"))


def test_mismatched_or_weak_passwords_are_refused_on_the_invitation(
    login, ada, client, django_capture_on_commit_callbacks
):
    path = _invitation_path(login, ada, django_capture_on_commit_callbacks)
    page = client.get(path).content.decode()
    secret = re.search(r'id="authenticator_secret" value="([A-Z2-7=]+)"', page).group(1)
    code = factories.totp_code(secret)
    html = client.post(path, {"password1": NEW_PASSWORD, "password2": "other", "code": code}).content.decode()
    assert "The two passwords differ" in html
    html = client.post(path, {"password1": "short", "password2": "short", "code": code}).content.decode()
    assert "This password is too short" in html
    assert not User.objects.get(email="nina@example.org").has_usable_password()


def test_a_forged_or_foreign_invitation_link_opens_nothing(client, tess, cleo):
    for uid, key in (("zz", "nonsense-key"), ("!!!!!!!!!!!!!!!!!!", "x"), ("1", "abc-def")):
        response = client.get(reverse("accounts:staff_welcome", args=[uid, key]))
        assert response.status_code == 200 and "This link no longer works" in response.content.decode()
    # A valid key for a portal account is not a staff invitation.
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    key = default_token_generator.make_token(cleo)
    response = client.get(reverse("accounts:staff_welcome", args=[user_pk_to_url_str(cleo), key]))
    assert "This link no longer works" in response.content.decode()


# --- Email and password changes need a fresh second factor -----------------------------------


def test_changing_the_password_asks_for_the_authenticator_code_not_the_password(client, audit_rows):
    user = factories.make_user("Tess", password=PASSWORD, mfa=False, email="tess@example.org")
    secret = factories.enrol_totp(user)
    browser = _signed_in_with_code(client, user, secret)
    change = {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}

    # A form sent without a fresh confirmation is not kept to be replayed: back to the page,
    # which asks for the code first.
    response = browser.post(reverse("account_change_password"), change)
    assert response.status_code == 302 and response["Location"] == reverse("account_change_password")
    response = browser.get(reverse("account_change_password"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_reauthenticate"))
    # The password page is not offered as a way round: it sends them on to the code.
    response = browser.get(reverse("account_reauthenticate"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_reauthenticate"))
    user.refresh_from_db()
    assert user.check_password(PASSWORD)

    mail.outbox.clear()
    browser.post(reverse("mfa_reauthenticate"), {"code": _next_code(secret)})
    response = browser.post(reverse("account_change_password"), change)
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert audit_rows("kapflow.accounts.password.changed")[0].actor == user
    [notice] = [message for message in mail.outbox if "password" in message.subject.lower()]
    assert notice.to == ["tess@example.org"]


def test_a_password_form_sent_from_elsewhere_is_never_replayed_after_the_confirmation(client):
    """The confirmation runs before Django's CSRF check; allauth replays what it suspended
    without checking again. A forged form (no CSRF token) must not change the password once the
    person confirms it is them for some other reason."""
    user = factories.make_user("Tess", password=PASSWORD, mfa=False, email="tess@example.org")
    secret = factories.enrol_totp(user)
    _signed_in_with_code(client, user, secret)
    forged = Client(enforce_csrf_checks=True)
    forged.cookies = client.cookies
    change = {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}

    # Wherever the forged post is sent (before the fix: the code page, to come back to it).
    response = forged.post(reverse("account_change_password"), change)
    where = response["Location"]
    if not where.startswith(reverse("mfa_reauthenticate")):
        where = forged.get(where)["Location"]
    forged.get(where)
    token = forged.cookies["csrftoken"].value
    forged.post(where, {"code": _next_code(secret), "csrfmiddlewaretoken": token}, follow=True)

    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_an_email_change_is_confirmed_audited_and_the_old_address_told(client, avery, audit_rows):
    """A portal client (no authenticator: confirming means the password) moves to a new address."""
    cleo = factories.make_user("Cleo Client", roles=("is_client",), password=PASSWORD, mfa=False)
    cleo.email = "cleo.old@example.org"
    cleo.save(update_fields=["email"])
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    browser = _password_only_session(client, cleo)

    response = browser.post(reverse("account_email"), {"action_add": "", "email": "cleo.new@example.org"})
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    assert not EmailAddress.objects.filter(email="cleo.new@example.org").exists()

    browser.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    browser.post(reverse("account_email"), {"action_add": "", "email": "cleo.new@example.org"})
    mail.outbox.clear()
    browser.post(reverse("account_email"), {"action_primary": "", "email": "cleo.new@example.org"})
    cleo.refresh_from_db()
    assert cleo.email == "cleo.new@example.org"
    [notice] = [message for message in mail.outbox if message.to == ["cleo.old@example.org"]]
    assert "cleo.new@example.org" in notice.body
    for word in ("ketamine", "Avery", "session", "dose"):
        assert word.lower() not in (notice.subject + notice.body).lower()
    assert audit_rows("kapflow.accounts.email.added")[0].actor == cleo
    assert audit_rows("kapflow.accounts.email.changed")[0].detail == {"changed": ["primary_email"]}


# --- Two-factor on the portal -----------------------------------------------------------------


def test_portal_accounts_may_add_two_factor_and_the_practice_may_require_it(client, avery, login, ada):
    cleo = factories.make_user("Cleo Client", roles=("is_client",), password=PASSWORD, mfa=False)
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    home = reverse("portal:client_home", args=[avery.pk])
    browser = _password_only_session(client, cleo)
    assert browser.get(home).status_code == 200  # off by default

    practice = Practice.load()
    practice.portal_mfa_required = True
    practice.save()
    assert browser.get(home)["Location"] == reverse("mfa_activate_totp")
    assert browser.get(reverse("mfa_activate_totp")).status_code == 200
    # Once the client has an authenticator the portal opens again.
    factories.enrol_totp(cleo)
    assert browser.get(home).status_code == 200


def test_the_portal_two_factor_setting_is_on_the_settings_page(login, ada):
    html = login(ada).get(reverse("practice_settings")).content.decode()
    assert 'name="portal_mfa_required"' in html
    assert "clients and guardians must use two-factor sign-in" in html.lower()


def test_the_invitation_sent_twice_at_once_is_saved_once(
    login, ada, client, django_capture_on_commit_callbacks
):
    """A double click: both sends found the link unused; the second finds the password set."""
    from kapflow.accounts import services

    path = _invitation_path(login, ada, django_capture_on_commit_callbacks)
    client.get(path)
    nina = User.objects.get(email="nina@example.org")
    stale = User.objects.get(pk=nina.pk)  # as loaded by the second send, before the first saved
    nina.set_password(NEW_PASSWORD)
    nina.save(update_fields=["password"])
    request = client.get(path).wsgi_request
    with pytest.raises(services.InvitationUsed):
        services.staff_welcome_accept(request=request, user=stale, password="x" * 20, totp_secret="A" * 32)
    assert not Authenticator.objects.filter(user=nina).exists()
