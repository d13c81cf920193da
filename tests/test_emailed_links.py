"""Issue 13, item 5: every emailed link uses the practice's configured address
(KAPFLOW_SITE_URL), never the host and port the request happened to arrive on (the
development server's, or an internal name behind the practice's proxy)."""

import re

import pytest
from django.core import mail
from django.test import Client as HttpClient

SITE = "https://kap.example-practice.org"


@pytest.fixture(autouse=True)
def configured_address(settings):
    settings.SITE_URL = SITE
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver", "internal-name"]


def links(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>]+", text)


def test_a_password_reset_link_uses_the_configured_address(tess):
    http = HttpClient(HTTP_HOST="127.0.0.1:8000")
    response = http.post("/accounts/password/reset/", {"email": tess.email})
    assert response.status_code in (200, 302)
    [email] = mail.outbox
    found = links(email.body)
    assert found, email.body
    assert all(link.startswith(SITE + "/") for link in found), found
    assert "127.0.0.1" not in email.body and "8000" not in email.body


def test_the_password_reset_email_names_no_internal_host(tess):
    http = HttpClient(HTTP_HOST="internal-name")
    http.post("/accounts/password/reset/", {"email": tess.email})
    [email] = mail.outbox
    assert "internal-name" not in email.subject + email.body


def test_a_reset_for_an_address_with_no_account_sends_nothing_and_says_the_same(tess):
    """allauth would email the stranger an invitation to sign up, at the request's host; nobody
    signs themselves up here, and the page must not tell an account that exists from one that
    does not."""
    http = HttpClient(HTTP_HOST="internal-name")
    known = http.post("/accounts/password/reset/", {"email": tess.email}, follow=True)
    unknown = http.post("/accounts/password/reset/", {"email": "nobody@example.org"}, follow=True)
    assert [email.to for email in mail.outbox] == [[tess.email]]
    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain == unknown.redirect_chain
