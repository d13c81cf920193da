"""Issue 13, item 1: wrong authenticator codes were charged to the sign-in failure limit shared
by everyone at one address, so staff at one office mistyping codes (or one person pressing
"Sign in" again and again with an old code) locked every colleague signing in there. Wrong
codes now count against the person's own account only; the per-account limit still holds, and
wrong passwords from one address are still cut off at the per-address limit."""

import datetime

import pytest
import time_machine
from django.test import Client as Browser
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
OFFICE = "198.51.100.20"
NINE_AM = datetime.datetime(2026, 3, 2, 17, 0, tzinfo=datetime.UTC)
CODES_PER_ACCOUNT = 5  # KAPFLOW_SECOND_FACTOR_RATE: five wrong codes in five minutes
FAILURES_PER_ADDRESS = 30  # KAPFLOW_LOGIN_RATE
REFUSED = "Too many failed login attempts"


def _staff(count):
    people = []
    for n in range(count):
        user = factories.make_user(f"Staff {n}", email=f"staff{n}@example.org", password=PASSWORD, mfa=False)
        people.append((user, factories.enrol_totp(user)))
    return people


def _wrong(secret) -> str:
    return "000000" if factories.totp_code(secret) != "000000" else "111111"


def _at_code_page(user, address=OFFICE) -> Browser:
    browser = Browser(REMOTE_ADDR=address)
    response = browser.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate"), response
    return browser


def _code(browser, code):
    return browser.post(reverse("mfa_authenticate"), {"code": code})


def _refused(response) -> bool:
    return response.status_code == 429 or REFUSED in response.content.decode()


def _signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] != reverse("mfa_authenticate")


def test_colleagues_mistyping_codes_do_not_lock_the_office_out():
    *mistyping, (latecomer, latecomer_secret) = _staff(8)
    with time_machine.travel(NINE_AM, tick=False) as clock:
        # Seven people at the office each type five wrong codes (35 in all, past the address's
        # thirty), and each is then refused, even with the right code: the account's own limit.
        for user, secret in mistyping:
            browser = _at_code_page(user)
            for _ in range(CODES_PER_ACCOUNT):
                response = _code(browser, _wrong(secret))
                assert response.status_code == 200 and not _refused(response)
                # Apart in time: allauth hands back a good password's count by its timestamp,
                # and a frozen clock would hand back every count made at the same instant.
                clock.shift(datetime.timedelta(milliseconds=10))
            assert _refused(_code(browser, factories.totp_code(secret)))
            clock.shift(datetime.timedelta(milliseconds=10))
        # A colleague arriving at the same office signs in, a typo included.
        assert not _refused(
            Browser(REMOTE_ADDR=OFFICE).post(
                reverse("account_login"), {"login": latecomer.email, "password": "a typo"}
            )
        )
        assert _signed_in(_code(_at_code_page(latecomer), factories.totp_code(latecomer_secret)))


def test_one_person_pressing_sign_in_again_and_again_locks_only_their_own_account():
    (stuck, stuck_secret), (colleague, colleague_secret) = _staff(2)
    with time_machine.travel(NINE_AM, tick=False) as clock:
        browser = _at_code_page(stuck)
        for _ in range(3 * FAILURES_PER_ADDRESS):
            _code(browser, _wrong(stuck_secret))
            clock.shift(datetime.timedelta(milliseconds=10))
        assert _refused(_code(browser, factories.totp_code(stuck_secret)))
        assert _signed_in(_code(_at_code_page(colleague), factories.totp_code(colleague_secret)))
        # Their own limit passes with the five minutes.
        clock.shift(datetime.timedelta(minutes=5, seconds=1))
        assert _signed_in(_code(_at_code_page(stuck), factories.totp_code(stuck_secret)))


def test_wrong_codes_from_many_addresses_still_stop_at_the_accounts_limit():
    (user, secret), *_ = _staff(1)
    with time_machine.travel(NINE_AM, tick=False):
        for n in range(CODES_PER_ACCOUNT):
            browser = _at_code_page(user, address=f"203.0.113.{n + 1}")
            assert not _refused(_code(browser, _wrong(secret)))
        browser = _at_code_page(user, address="203.0.113.99")
        assert _refused(_code(browser, factories.totp_code(secret)))


def test_wrong_codes_while_enrolling_count_against_the_account_only():
    people = [
        factories.make_user(f"New {n}", email=f"new{n}@example.org", password=PASSWORD, mfa=False)
        for n in range(8)
    ]
    *enrolling, last = people
    with time_machine.travel(NINE_AM, tick=False) as clock:
        for user in enrolling:
            browser = Browser(REMOTE_ADDR=OFFICE)
            browser.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
            browser.get(reverse("mfa_activate_totp"))
            for _ in range(CODES_PER_ACCOUNT + 1):
                browser.post(reverse("mfa_activate_totp"), {"code": "000000"})
                clock.shift(datetime.timedelta(milliseconds=10))
        response = Browser(REMOTE_ADDR=OFFICE).post(
            reverse("account_login"), {"login": last.email, "password": PASSWORD}
        )
        assert response.status_code == 302 and not _refused(response)


def test_a_good_sign_in_between_rounds_of_wrong_passwords_no_longer_resets_the_address():
    """allauth's second-factor throttle cleared every sign-in failure count on a right code, the
    address's among them; kapflow's clears the account's code count alone. (The clock moves
    between requests: allauth hands a right password's count back by its timestamp.)"""
    (insider, secret), *_ = _staff(1)
    browser = Browser(REMOTE_ADDR=OFFICE)
    wrong, refused = 0, False
    with time_machine.travel(NINE_AM, tick=False) as clock:
        for _ in range(3):
            for _ in range(FAILURES_PER_ADDRESS - 1):
                response = browser.post(
                    reverse("account_login"), {"login": f"victim{wrong}@example.org", "password": "guess"}
                )
                clock.shift(datetime.timedelta(milliseconds=10))
                if _refused(response):
                    refused = True
                    break
                wrong += 1
            if refused:
                break
            assert _signed_in(_code(_at_code_page(insider), factories.totp_code(secret)))
            clock.shift(datetime.timedelta(milliseconds=10))
    assert refused and wrong == FAILURES_PER_ADDRESS
