"""Issue 11, item 4: behind the practice's proxy, the sign-in throttle counts each client's own
address (the last X-Forwarded-For hop, which the proxy appends), not the proxy's, so one
attacker cannot lock the whole practice out; the per-account limit still holds."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
PROXY = "10.0.0.2"
FAILURES_PER_ADDRESS = 30  # the per-address part of KAPFLOW_LOGIN_RATE's default
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def behind_proxy(settings):
    settings.BEHIND_PROXY = True
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1


def _sign_in(client, email, password, forwarded):
    return client.post(
        reverse("account_login"),
        {"login": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def _throttled(response) -> bool:
    return "Too many failed login attempts" in response.content.decode()


def test_one_client_guessing_does_not_lock_out_another_behind_the_same_proxy(client, behind_proxy):
    colleague = factories.make_user("Portal Person", roles=("is_client",), password=PASSWORD, mfa=False)
    # Wrong guesses from one address, each at a different account, up to the per-address limit.
    for n in range(FAILURES_PER_ADDRESS):
        _sign_in(client, f"nobody{n}@example.org", "wrong guess", "203.0.113.5")
    assert _throttled(_sign_in(client, "nobody9@example.org", "wrong guess", "203.0.113.5"))
    # Someone else in the practice, behind the same proxy, signs in as usual.
    response = _sign_in(client, colleague.email, PASSWORD, "198.51.100.7")
    assert response.status_code == 302 and not _throttled(response)


def test_what_a_client_writes_into_x_forwarded_for_does_not_give_it_a_new_count(client, behind_proxy):
    """Only the proxy's own (last) hop counts: an attacker putting a fresh address first on each
    try is still one address."""
    for n in range(FAILURES_PER_ADDRESS):
        _sign_in(client, f"nobody{n}@example.org", "wrong guess", f"192.0.2.{n}, 203.0.113.5")
    assert _throttled(_sign_in(client, "nobody9@example.org", "wrong guess", "192.0.2.99, 203.0.113.5"))


def test_the_per_account_limit_still_holds_from_many_addresses(client, behind_proxy):
    target = factories.make_user("Portal Person", roles=("is_client",), password=PASSWORD, mfa=False)
    for n in range(5):
        _sign_in(client, target.email, "wrong guess", f"203.0.113.{n + 10}")
    assert _throttled(_sign_in(client, target.email, PASSWORD, "198.51.100.7"))


def test_without_a_proxy_the_forwarded_header_is_ignored(client, settings):
    settings.BEHIND_PROXY = False
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    for n in range(FAILURES_PER_ADDRESS):
        _sign_in(client, f"nobody{n}@example.org", "wrong guess", f"203.0.113.{n}")
    # Every try came from the same REMOTE_ADDR, whatever the header said.
    assert _throttled(_sign_in(client, "nobody9@example.org", "wrong guess", "198.51.100.7"))


def test_the_proxy_setting_configures_allauth_from_kapflow_behind_proxy():
    code = "from django.conf import settings; print(settings.ALLAUTH_TRUSTED_PROXY_COUNT)"
    for value, expected in (("1", "1"), ("0", "0")):
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "KAPFLOW_BEHIND_PROXY": value},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == expected
