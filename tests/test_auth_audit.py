"""Issue 11, item 8 (authentication events): sign-in, sign-out, failed sign-in, two-factor
enrolment, removal and recovery-code use, and email and password changes each write an audit
row with a namespaced code, naming the account and never what was typed."""

import datetime

import pytest
from allauth.core import context as allauth_context
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.urls import reverse
from django.utils import timezone

from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def _user_with_totp():
    user = factories.make_user("Tess", password=PASSWORD, mfa=False, email="tess@example.org")
    return user, factories.enrol_totp(user)


def test_a_full_sign_in_and_sign_out_are_audited(client, audit_rows):
    user, secret = _user_with_totp()
    client.post(
        reverse("account_login"), {"login": user.email, "password": PASSWORD}, REMOTE_ADDR="198.51.100.7"
    )
    assert audit_rows("kapflow.accounts.signin.succeeded") == []  # the password alone is not a sign-in
    client.post(
        reverse("mfa_authenticate"), {"code": factories.totp_code(secret)}, REMOTE_ADDR="198.51.100.7"
    )
    [row] = audit_rows("kapflow.accounts.signin.succeeded")
    assert row.actor == user and row.object_id == str(user.pk) and row.ip_address == "198.51.100.7"
    client.post(reverse("account_logout"))
    [row] = audit_rows("kapflow.accounts.signout.succeeded")
    assert row.actor == user and row.detail == {"reason": "signed_out"}


def test_a_wrong_password_is_audited_against_the_account_without_what_was_typed(client, audit_rows):
    user, _secret = _user_with_totp()
    client.post(reverse("account_login"), {"login": user.email, "password": "hunter2-guess"})
    client.post(reverse("account_login"), {"login": "nobody@example.org", "password": "hunter2-guess"})
    known, unknown = audit_rows("kapflow.accounts.signin.failed")
    assert known.actor is None and known.object_id == str(user.pk)
    assert known.detail == {"step": "password", "account_exists": True}
    assert unknown.object_id == "" and unknown.detail == {"step": "password", "account_exists": False}
    for row in (known, unknown):
        assert "hunter2" not in str(row.detail) and "nobody@" not in str(row.detail)


def test_a_wrong_authenticator_code_is_audited(client, audit_rows):
    user, _secret = _user_with_totp()
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": "000000"})
    [row] = audit_rows("kapflow.accounts.signin.failed")
    assert row.object_id == str(user.pk) and row.detail == {"step": "second_factor"}


def test_signing_in_with_a_recovery_code_is_audited(client, audit_rows):
    user, _secret = _user_with_totp()
    codes = RecoveryCodes.activate(user).get_unused_codes()
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert client.get(reverse("clients:caseload")).status_code == 200
    [row] = audit_rows("kapflow.accounts.mfa.recovery_code_used")
    assert row.object_id == str(user.pk)
    assert audit_rows("kapflow.accounts.signin.succeeded")


def _post_committed(client, capture, url, data=None):
    """allauth announces two-factor changes (and emails the person) when its own transaction
    commits, which in production is still inside the request; the test's outer transaction
    holds those callbacks back, so they run here, in that request's context."""
    with capture() as callbacks:
        response = client.post(url, data or {})
    with allauth_context.request_context(response.wsgi_request):
        for callback in callbacks:
            callback()
    return response


def test_enrolling_and_removing_an_authenticator_are_audited(
    client, audit_rows, mailoutbox, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    user = factories.make_user("New Therapist", password=PASSWORD, mfa=False)
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.get(reverse("mfa_activate_totp"))
    secret = client.session["mfa.totp.secret"]
    response = _post_committed(
        client, capture, reverse("mfa_activate_totp"), {"code": factories.totp_code(secret)}
    )
    assert response.status_code == 302
    assert {row.detail["type"] for row in audit_rows("kapflow.accounts.mfa.enrolled")} == {
        "totp",
        "recovery_codes",
    }
    later = factories.totp_code(secret, timezone.now() + datetime.timedelta(seconds=30))
    client.post(reverse("mfa_reauthenticate"), {"code": later})
    _post_committed(client, capture, reverse("mfa_generate_recovery_codes"))
    assert audit_rows("kapflow.accounts.mfa.reset")[0].detail == {"type": "recovery_codes"}
    _post_committed(client, capture, reverse("mfa_deactivate_totp"))
    assert not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert audit_rows("kapflow.accounts.mfa.removed")[0].actor == user
    # The account's address is told of each change to its second factor.
    assert len(mailoutbox) >= 3 and all(message.to == [user.email] for message in mailoutbox)
