"""Issue 13, item 13: a client whose portal access had ended, signing in, met allauth's bare
"This account is inactive" (whose only way on led to the public inquiry form). They are told
instead that their access has ended and whom to contact, and the page is audited."""

import pytest
from django.test import Client as Browser
from django.urls import reverse

from kapflow.practice.models import Practice
from tests import factories
from tests.test_portal_end_access import PASSWORD, active, end  # noqa: F401  (the fixture `active`)

pytestmark = pytest.mark.django_db


@pytest.fixture
def practice():
    practice = Practice.load()
    practice.name = "Oak Hill Therapy"
    practice.phone = "(818) 555-0100"
    practice.email = "hello@oakhill.example"
    practice.save()
    return practice


def _sign_in(email, password):
    return Browser().post(reverse("account_login"), {"login": email, "password": password}, follow=True)


@pytest.mark.usefixtures("active")
def test_a_client_whose_access_ended_is_told_so_and_whom_to_contact(avery, tess, login, practice, audit_rows):
    user = avery.portal_user
    end(login(tess), avery)
    response = _sign_in("avery@example.org", PASSWORD)
    assert response.redirect_chain[-1][0] == reverse("portal:access_ended")
    page = response.content.decode()
    assert "Your portal access has ended" in page
    assert "Oak Hill Therapy" in page and "(818) 555-0100" in page and "hello@oakhill.example" in page
    assert reverse("start") not in page  # not pointed at the form for new people
    [row] = audit_rows("kapflow.accounts.signin.refused_inactive")
    assert row.object_id == str(user.pk)
    assert row.actor is None and row.detail["told"] == "portal_access_ended"
    [failed] = audit_rows("kapflow.accounts.signin.failed")
    assert failed.detail["step"] == "inactive_account"  # not "wrong password": it was right


@pytest.mark.usefixtures("active")
def test_a_wrong_password_says_nothing_about_the_account(avery, tess, login, practice):
    end(login(tess), avery)
    response = _sign_in("avery@example.org", "not the password at all")
    assert not response.redirect_chain
    assert "access has ended" not in response.content.decode()


def test_a_deactivated_staff_account_is_not_shown_the_portal_page(practice, audit_rows):
    retired = factories.make_user("Retired", email="retired@example.org", password=PASSWORD)
    retired.is_active = False
    retired.save(update_fields=["is_active"])
    response = _sign_in("retired@example.org", PASSWORD)
    assert reverse("portal:access_ended") not in [url for url, _ in response.redirect_chain]
    # The right password on a deactivated staff account is worth knowing about: recorded.
    [row] = audit_rows("kapflow.accounts.signin.refused_inactive")
    assert row.object_id == str(retired.pk) and row.detail["told"] == "account_inactive"


def test_the_page_opened_directly_answers_and_writes_nothing(practice, audit_rows):
    from kapflow.audit.models import AuditEvent

    before = AuditEvent.objects.count()
    for _ in range(3):
        response = Browser().get(reverse("portal:access_ended"))
        assert response.status_code == 200
    assert "Oak Hill Therapy" in response.content.decode()
    assert AuditEvent.objects.count() == before  # nobody can fill the audit log from here
    assert Browser().post(reverse("portal:access_ended")).status_code == 405
