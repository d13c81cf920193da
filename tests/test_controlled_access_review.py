"""Issue 17's review of access, privacy and bad input on the controlled-substance pages: the
witness form guesses no password faster than the sign-in page, names no account outside the
staff, and a destruction's recorder cannot witness it; a therapist finds the theft or loss report
from the runbook; the new forms take anything without a 500, say what to fix and keep what was
typed, never a password."""

import re

import pytest
from django import forms
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from kapflow.accounts.witness import WitnessRefused, witness_confirm
from kapflow.controlled.models import Entry
from kapflow.practice.models import Practice
from kapflow.reminders.emails import render_reminders
from kapflow.reminders.models import Reminder
from tests import factories
from tests.test_hostile_input import (  # noqa: F401  (browser: a fixture)
    HOSTILE,
    _body,
    _errors_named,
    _no_500,
    _typed_values_kept,
    browser,
)
from tests.test_stock_ledger import PASSWORD, lot, on_site, started, walt, wendy  # noqa: F401  (fixtures)

# The sign-in page's wrong passwords per account (ACCOUNT_RATE_LIMITS["login_failed"], "…,5/5m/key").
SIGN_IN_TRIES = 5


def _asking(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


# The witness --------------------------------------------------------------------------------


def test_wrong_passwords_on_the_sign_in_page_count_against_the_witness_form(client, tess, wendy):  # noqa: F811
    """The same counter: five wrong passwords on the sign-in page, and the witness form refuses
    even the right one; it does not give a guesser five more."""
    for _ in range(SIGN_IN_TRIES):
        client.post(reverse("account_login"), {"login": wendy.email, "password": "wrong"})
    with pytest.raises(WitnessRefused, match="Too many tries"):
        witness_confirm(request=_asking(tess), email=wendy.email, password=PASSWORD, purpose="waste")


def test_wrong_witness_passwords_count_against_the_sign_in_page(client, tess, wendy):  # noqa: F811
    for _ in range(SIGN_IN_TRIES):
        with pytest.raises(WitnessRefused, match="do not match"):
            witness_confirm(request=_asking(tess), email=wendy.email, password="wrong", purpose="waste")
    response = client.post(reverse("account_login"), {"login": wendy.email, "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_a_right_witness_password_gives_its_try_back(tess, wendy):  # noqa: F811
    """A busy day of wastes witnessed by one clinician never locks them out."""
    for _ in range(SIGN_IN_TRIES + 2):
        assert witness_confirm(request=_asking(tess), email=wendy.email, password=PASSWORD, purpose="waste")


def test_an_account_outside_the_staff_is_not_named(tess):
    factories.make_user(
        "Quinn Clientname", roles=("is_client",), email="q@example.org", mfa=False, password=PASSWORD
    )
    with pytest.raises(WitnessRefused) as refused:
        witness_confirm(request=_asking(tess), email="q@example.org", password=PASSWORD, purpose="waste")
    assert "Quinn" not in str(refused.value) and "not one of the practice's staff" in str(refused.value)


def test_the_person_recording_a_destruction_cannot_witness_it(login, priya, lot, wendy):  # noqa: F811
    """Petra records a destruction she names Priya as doing, and types her own sign-in as a
    witness: refused, since Priya's part is never confirmed."""
    petra = factories.make_user(
        "Petra Prescriber", roles=("is_prescriber",), email="petra@example.org", mfa=False, password=PASSWORD
    )
    code = factories.totp_code(factories.enrol_totp(petra))  # staff sign in with a second factor
    response = login(petra).post(
        reverse("controlled:destruction", args=[lot.pk]),
        on_site(priya, petra.email, wendy.email, witness_code=code),
    )
    assert response.status_code == 200
    assert "is recording the destruction and cannot also witness it" in response.content.decode()
    assert not lot.entries.filter(kind=Entry.Kind.DESTRUCTION).exists()


# The way to a theft or loss report ---------------------------------------------------------


@pytest.mark.parametrize("outside", [False, True], ids=["therapist", "outside prescriber"])
def test_the_runbooks_waste_part_leads_a_clinician_to_the_loss_report(tess, outside):
    tess.outside_practice = outside
    html = render_to_string(
        "dosing/_waste.html",
        {"waste_form": forms.Form(), "user": tess, "client": tess, "visit": tess},
    )
    assert (reverse("inventory:loss_new") in html) is not outside


# Hostile input on the new forms -------------------------------------------------------------


def _check(response, data, text, key="form"):
    _no_500(response)
    if response.status_code == 200 and response.context.get(key) is not None:
        form = response.context[key]
        if form.is_bound and form.errors:
            _errors_named(response, key)
            _typed_values_kept(response, data, text, key)
    else:
        assert response.status_code in (200, 302), response.status_code
    for secret in ("witness_password", "second_witness_password"):
        value = data.get(secret)
        if isinstance(value, str) and len(value) > 6:
            assert value not in response.content.decode(), "a password was sent back"


def _loss_valid(matrix_world):
    today = timezone.localdate()
    return {
        "kind": "loss",
        "discovered_on": today.isoformat(),
        "discovered_time": "09:30",
        "description": "Gone",
    }


@HOSTILE
@given(seed=st.data())
def test_the_loss_report_form_takes_anything(browser, matrix_world, seed):  # noqa: F811
    data = seed.draw(_body(_loss_valid(matrix_world), extra=["entry_key", "lost_1"]), label="data")
    response = browser(matrix_world["tess"]).post(reverse("inventory:loss_new"), data)
    _check(response, data, ["description"])


@HOSTILE
@given(seed=st.data())
def test_a_discrepancys_explanation_takes_anything(browser, matrix_world, seed):  # noqa: F811
    valid = {"outcome": "counting_error", "explanation": "Counted twice"}
    data = seed.draw(_body(valid), label="data")
    url = reverse("inventory:discrepancy", args=[matrix_world["discrepancy"].pk])
    _check(browser(matrix_world["priya"]).post(url, data), data, ["explanation"])


@HOSTILE
@given(seed=st.data())
def test_a_loss_reports_step_takes_anything(browser, matrix_world, seed):  # noqa: F811
    valid = {"step": "notice", "done_on": timezone.localdate().isoformat(), "reference": "N-1", "note": ""}
    data = seed.draw(_body(valid), label="data")
    url = reverse("inventory:loss_step", args=[matrix_world["loss_report"].pk])
    response = browser(matrix_world["ada"]).post(url, data)
    _check(response, data, ["reference", "note"], key="step_form")


@HOSTILE
@given(seed=st.data())
def test_the_fill_form_takes_anything(browser, matrix_world, seed):  # noqa: F811
    valid = {
        "order": "",
        "pharmacy": "Corner Pharmacy",
        "pharmacy_phone": "555-0100",
        "rx_number": "RX1",
        "form": "tablet",
        "strength_mg": "100",
        "quantity": "8",
        "refills_authorised": "0",
        "refill_number": "0",
        "filled_on": timezone.localdate().isoformat(),
        "lot_number": "L1",
    }
    data = seed.draw(_body(valid), label="data")
    response = browser(matrix_world["priya"]).post(
        reverse("fills:new", args=[matrix_world["avery"].pk]), data
    )
    _check(response, data, ["pharmacy", "pharmacy_phone", "rx_number", "lot_number"])


@HOSTILE
@given(seed=st.data())
def test_the_rems_enrolment_form_takes_anything(browser, matrix_world, seed):  # noqa: F811
    valid = {
        "prescriber": matrix_world["priya"].pk,
        "enrolled_on": timezone.localdate().isoformat(),
        "patient_rems_id": "P123",
        "document": "",
    }
    data = seed.draw(_body(valid), label="data")
    response = browser(matrix_world["tess"]).post(
        reverse("rems_enrolment:enrolment", args=[matrix_world["avery"].pk]), data
    )
    _check(response, data, ["patient_rems_id"])


@HOSTILE
@given(seed=st.data())
def test_the_waste_form_takes_anything_and_never_echoes_a_password(browser, matrix_world, seed):  # noqa: F811
    visit = matrix_world["runbook_visits"][matrix_world["avery"].pk]
    valid = {
        "administration": "",
        "quantity": "0.2",
        "reason": "Left in the syringe",
        "witness_email": "colin@example.org",
        "witness_password": "a-secret-typed-here",
        "witness_code": "",
    }
    data = seed.draw(_body(valid), label="data")
    response = browser(matrix_world["tess"]).post(
        reverse("dosing:waste", args=[visit.client_id, visit.pk]), data
    )
    _no_500(response)
    if response.status_code == 200:
        form = response.context.get("waste_form")
        if form is not None and form.is_bound and form.errors:
            _errors_named(response, "waste_form")
            _typed_values_kept(response, data, ["reason", "witness_email"], "waste_form")
    html = response.content.decode()
    for field in re.findall(r'<input[^>]*name="witness_password"[^>]*>', html):
        assert "value=" not in field, field
    password = data.get("witness_password")
    # Nowhere else either, unless the same characters were typed in a field the page keeps (a
    # witness code of 0000000 beside a password of 0000000 is shown back as the code).
    kept = [value for name, value in data.items() if name != "witness_password" and isinstance(value, str)]
    if isinstance(password, str) and len(password) > 6 and not any(password in value for value in kept):
        assert password not in html


# The emails ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kinds",
    [["controlled"], ["controlled", "session_alert"], ["session_alert"]],
    ids=["controlled", "controlled and a count alert", "a count alert"],
)
def test_the_controlled_emails_name_no_client_dose_or_medicine(priya, avery, kinds):
    """A loss report's notice, an inventory or a REMS form due (CONTROLLED, a REMS form's naming
    the client for the audit trail), and a count that does not match (a session alert): none
    says whose, what or how much."""
    reminders = [
        Reminder(key=f"rems:1:due:{kind}", kind=kind, recipient=priya, address=priya.email, client=avery)
        for kind in kinds
    ]
    email = render_reminders(reminders, Practice.load())
    for part in (email.subject, email.text, email.html):
        lowered = part.lower()
        for word in (
            avery.first_name,
            avery.last_name,
            "ketamine",
            "esketamine",
            "spravato",
            " mg",
            "mL",
            "lot",
        ):
            assert word.lower() not in lowered, (word, part)
        assert "sign in" in lowered or part is email.subject


def test_witness_tries_count_against_the_addresss_cap_on_sign_in_attempts(settings, tess, wendy, walt):  # noqa: F811
    """Right or wrong, each try is one of the address's sign-in attempts (KAPFLOW_LOGIN_ATTEMPT_RATE),
    which nothing hands back: no rounds of guesses across the practice's accounts."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/5m/ip"}
    for witness in (wendy, walt):
        assert witness_confirm(request=_asking(tess), email=witness.email, password=PASSWORD, purpose="waste")
    with pytest.raises(WitnessRefused, match="Too many tries"):
        witness_confirm(request=_asking(tess), email=wendy.email, password=PASSWORD, purpose="waste")
