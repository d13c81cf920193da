"""A witness confirms who they are on another person's screen (kapflow.accounts.witness): their
own password, and their authenticator's code when they have one; wrong tries throttled per
account and audited; the form never sends the password back."""

import pytest
from django.test import RequestFactory

from kapflow.accounts.witness import WitnessRefused, witness_confirm
from kapflow.accounts.witness_forms import WitnessFields
from kapflow.audit.models import AuditEvent
from tests import factories

PASSWORD = "a-long-witness-password-1"
# The sign-in page's wrong passwords per account (ACCOUNT_RATE_LIMITS["login_failed"], "…,5/5m/key"),
# which a witness's tries are charged to.
TRIES = 5


@pytest.fixture
def asker(db):
    return factories.make_user("Wes Waster", roles=("is_therapist",), mfa=False)


@pytest.fixture
def request_of(asker):
    request = RequestFactory().post("/")
    request.user = asker
    return request


@pytest.fixture
def witness(db):
    user = factories.make_user(
        "Willa Witness", roles=("is_prescriber",), email="willa@example.org", mfa=False
    )
    user.set_password(PASSWORD)
    user.save()
    return user


def test_the_right_password_confirms_the_witness_and_is_audited(request_of, witness, asker):
    assert (
        witness_confirm(request=request_of, email="WILLA@example.org ", password=PASSWORD, purpose="waste")
        == witness
    )
    row = AuditEvent.objects.get(action="kapflow.accounts.witness.confirmed")
    assert (row.actor, row.detail) == (asker, {"purpose": "waste", "user": witness.pk})


@pytest.mark.parametrize(
    "email, password", [("willa@example.org", "wrong"), ("nobody@example.org", PASSWORD)]
)
def test_a_wrong_email_or_password_is_refused_alike_and_audited(request_of, witness, email, password):
    with pytest.raises(WitnessRefused, match="do not match"):
        witness_confirm(request=request_of, email=email, password=password, purpose="waste")
    assert AuditEvent.objects.get(action="kapflow.accounts.witness.refused").detail == {
        "purpose": "waste",
        "step": "password",
    }


def test_a_witness_with_an_authenticator_gives_its_code(request_of, witness):
    secret = factories.enrol_totp(witness)
    with pytest.raises(WitnessRefused, match="authenticator"):
        witness_confirm(request=request_of, email=witness.email, password=PASSWORD, purpose="destruction")
    with pytest.raises(WitnessRefused, match="authenticator"):
        witness_confirm(
            request=request_of, email=witness.email, password=PASSWORD, code="000000", purpose="waste"
        )
    code = factories.totp_code(secret)
    assert witness_confirm(
        request=request_of, email=witness.email, password=PASSWORD, code=code, purpose="waste"
    )


def test_an_inactive_account_or_a_client_cannot_witness(request_of, witness):
    witness.is_active = False
    witness.save()
    with pytest.raises(WitnessRefused):
        witness_confirm(request=request_of, email=witness.email, password=PASSWORD, purpose="waste")
    client_user = factories.make_user("Client", roles=("is_client",), email="c@example.org", mfa=False)
    client_user.set_password(PASSWORD)
    client_user.save()
    with pytest.raises(WitnessRefused, match="staff"):
        witness_confirm(request=request_of, email="c@example.org", password=PASSWORD, purpose="waste")


def test_wrong_tries_are_throttled_per_witness_account(request_of, witness):
    for _ in range(TRIES):
        with pytest.raises(WitnessRefused, match="do not match"):
            witness_confirm(request=request_of, email=witness.email, password="wrong", purpose="waste")
    with pytest.raises(WitnessRefused, match="Too many tries"):
        witness_confirm(request=request_of, email=witness.email, password=PASSWORD, purpose="waste")
    assert AuditEvent.objects.filter(
        action="kapflow.accounts.witness.refused", detail__step="throttled"
    ).exists()


def test_the_form_never_sends_the_password_back():
    form = WitnessFields(data={"witness_email": "not-an-email", "witness_password": "secret-typed"})
    assert not form.is_valid()
    assert "secret-typed" not in str(form["witness_password"])
