"""Hostile and malformed input on the forms of the pathway: measures, the pathway itself, the
medical records and consent. The same standard as tests/test_hostile_input.py, whose helpers
this file uses: no request ever produces a 500, and a form with errors comes back saying what to
fix with what was typed still in it. Each form is posted by the persona allowed to post it (Tess
for the therapist's forms, Priya for the prescriber's, Ada for the consent documents), and
every save is followed to the page it leads to, so a value that saves but cannot be shown is
caught too. Meant to run on SQLite and on PostgreSQL."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.html import escape
from hypothesis import example, given
from hypothesis import strategies as st

from kapflow.clients.models import OutsideProvider
from kapflow.consent.models import ConsentDocument, Kind
from kapflow.measures import instruments
from kapflow.measures.models import Alert
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.medical.screening import FINDINGS, flags_for
from kapflow.pathway.models import GateOverride, Topic
from tests import test_hostile_input
from tests.test_hostile_input import (
    HOSTILE,
    _errors_named,
    _errors_shown,
    _no_500,
    _posted,
    _typed_values_kept,
    hostile_value,
)

pytestmark = pytest.mark.django_db

# The foundation's settings (no deadline, no example database, the fixture health check off), with
# a few fewer examples: this file has fifteen forms to get through in half a minute.
FUZZ = HOSTILE

# One signed-in test client per persona for the whole test (the fixture of the foundation's file).
browser = test_hostile_input.browser

# --- What a hostile person types, field by field -----------------------------------------------

NUMBERS = [
    "-1",
    "0",
    "-0",
    "1e309",
    "1E+2",
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "0.000000001",
    "70.55555555555555",
    "3.14159265358979323846264338327950288419716939937510",
    str(2**63),
    str(-(2**63) - 1),
    "9" * 40,
    "9" * 5000,
    "١٢",  # Arabic-Indic digits
    "１２",  # full-width digits
    "²",
    "½",
    "1_000",
    " 12 ",
    "12,5",
    "0x10",
    "twelve",
    "\x00",
]
DATES = [
    "2026-02-30",
    "2025-02-29",
    "2026-13-01",
    "0001-01-01",
    "9999-12-31",
    "0000-00-00",
    "10000-01-01",
    "02/30/2026",
    "12/31/9999",
    "-2026-01-01",
    "today",
    "\x00",
]
CHOICES = ["unknown", "PROCEED", "agree ", "guardian:1", f"guardian:{2**64}", "\x00", "", "None"]

hostile_number = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers().map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    hostile_value,
)
hostile_date = st.one_of(
    st.sampled_from(DATES),
    st.dates().map(str),
    st.builds(
        lambda y, m, d: f"{y:04}-{m:02}-{d:02}", st.integers(0, 10000), st.integers(0, 13), st.integers(0, 32)
    ),
    hostile_value,
)
hostile_choice = st.one_of(st.sampled_from(CHOICES), hostile_value)


def _some(kinds: dict, most=4):
    """Up to `most` of the keys, each with a value from its own strategy. A few at a time, so
    that the rest of the form stays valid and odd values that pass reach the save as well."""
    keys = st.lists(st.sampled_from(sorted(kinds)), unique=True, max_size=most)
    return keys.flatmap(lambda chosen: st.fixed_dictionaries({key: kinds[key] for key in chosen}))


def _body(valid: dict, *, numbers=(), dates=(), choices=(), extra=()):
    """A valid form with some of its fields (and of a few it does not have) replaced by
    something hostile of the field's own kind or of any kind."""
    kinds = {
        **dict.fromkeys([*valid, *extra], hostile_value),
        **dict.fromkeys(numbers, hostile_number),
        **dict.fromkeys(dates, hostile_date),
        **dict.fromkeys(choices, hostile_choice),
    }
    return _some(kinds).map(lambda hostile: {**valid, **hostile})


def _today(days=0):
    return str(timezone.localdate() + datetime.timedelta(days=days))


def _saved_and_shown(http, response, data, text=(), form_key="form", follow=True):
    """_posted, and a save is followed to the page it leads to: what was saved can be shown.
    (Not worth the time where all that is saved is one text box.)"""
    _posted(response, data, text, form_key)
    if follow and response.status_code == 302:
        _no_500(http.get(response["Location"]), f"after saving, {response['Location']}")


def _wrong_but_kept(response, data, text, form_key="form"):
    """A representative submission of the right shape with something wrong in it."""
    assert response.status_code == 200, response.status_code
    _errors_named(response, form_key)
    _typed_values_kept(response, data, text, form_key)


# --- Builders ----------------------------------------------------------------------------------


def _screening(client, *, yes=("pregnancy", "cardiovascular")) -> Screening:
    answers = {finding.key: finding.key in yes for finding in FINDINGS}
    age = client.age(timezone.localdate())
    return Screening.objects.create(
        client=client,
        answers=answers,
        flags=[flag.as_dict() for flag in flags_for(answers=answers, medications=[], age=age)],
        age=age,
    )


def _clearance(client, screening, prescriber) -> Clearance:
    return Clearance.objects.create(
        client=client,
        screening=screening,
        prescriber=prescriber,
        decision="cleared",
        findings="Examined; well.",
        valid_until=timezone.localdate() + datetime.timedelta(days=90),
    )


def _order(client, prescriber) -> MedicationOrder:
    today = timezone.localdate()
    return MedicationOrder.objects.create(
        client=client,
        prescriber=prescriber,
        drug="ketamine",
        route="sublingual",
        unit="mg",
        dose_min=Decimal(200),
        dose_max=Decimal(300),
        sessions_authorised=6,
        starts_on=today,
        ends_on=today + datetime.timedelta(days=90),
    )


# --- Measures ----------------------------------------------------------------------------------

ANSWERS = ["-1", "5", "99", "1.0", "01", " 1", "one", "True", str(2**64), "\x00", ""]


def _answers(instrument):
    definition = instruments.INSTRUMENTS[instrument]
    return {f"item_{item.key}": "1" for item in definition.items}


@FUZZ
@given(
    instrument=st.sampled_from(sorted(instruments.INSTRUMENTS)),
    hostile=_some(
        {
            **{f"item_{n}": st.one_of(st.sampled_from(ANSWERS), hostile_value) for n in range(1, 22)},
            "context": hostile_choice,
            "total": hostile_number,
            "completed_at": hostile_date,
        },
    ),
)
@example(instrument="phq9", hostile={"item_9": "\x00", "context": "\x00"})
@example(instrument="gad7", hostile={"item_1": "4", "item_8": "3", "context": "unknown"})
@example(instrument="pcl5", hostile={"item_20": str(2**64), "completed_at": "9999-12-31"})
@example(instrument="phq9", hostile={"item_9": "3"})  # saves, and raises the urgent alert
def test_the_measure_forms_take_anything(browser, tess, avery, instrument, hostile):
    data = {**_answers(instrument), "context": "weekly", **hostile}
    http = browser(tess)
    _saved_and_shown(http, http.post(f"/clients/{avery.pk}/measures/{instrument}/new/", data), data)


def test_a_measure_with_an_impossible_answer_says_which_and_keeps_the_others(login, tess, avery):
    data = {**_answers("phq9"), "item_3": "7", "item_9": "", "context": "weekly"}
    response = login(tess).post(f"/clients/{avery.pk}/measures/phq9/new/", data)
    _wrong_but_kept(response, data, [])
    form = response.context["form"]
    assert set(form.errors) == {"item_3", "__all__"}
    assert "questions 3 and 9 are not answered yet" in form.errors["__all__"][0]
    assert form["item_1"].value() == "1"  # the answers given stay ticked
    assert re.search(r'<input[^>]*name="item_1" value="1"[^>]*checked', response.content.decode())


@FUZZ
@given(data=_body({"follow_up": "Called her the same afternoon; safe, plan agreed."}, extra=["closed_by"]))
@example(data={"follow_up": "\x00"})
@example(data={"follow_up": "x" * 100_000})
@example(data={"follow_up": "   "})
def test_the_alert_form_takes_anything(browser, tess, avery, data):
    alert = Alert.objects.create(client=avery, kind="suicidality", assigned_to=tess)
    http = browser(tess)
    _saved_and_shown(
        http,
        http.post(f"/clients/{avery.pk}/measures/alerts/{alert.pk}/", data),
        data,
        ["follow_up"],
        follow=False,
    )


def test_the_alert_form_keeps_what_was_typed(login, tess, avery):
    alert = Alert.objects.create(client=avery, kind="suicidality", assigned_to=tess)
    data = {"follow_up": "Called at 3 pm —\x00 safe"}
    response = login(tess).post(f"/clients/{avery.pk}/measures/alerts/{alert.pk}/", data)
    _wrong_but_kept(response, data, ["follow_up"])
    alert.refresh_from_db()
    assert alert.closed_at is None


# --- The pathway -------------------------------------------------------------------------------

CONSULTATION_VALID = {
    "held_on": _today(),
    "why_kap": "Nothing else has helped.",
    "history": "Recurrent depression.",
    "previous_treatment": "Two SSRIs, CBT.",
    "supports": "Partner, weekly therapy.",
    "expectations": "Not a cure; a way in.",
    "goals": "Less self-criticism.",
    "note": "",
    "decision": "proceed",
    "decision_reason": "",
    "referral_note": "",
}
CONSULTATION_TEXT = [name for name in CONSULTATION_VALID if name != "decision"]


@FUZZ
@given(data=_body(CONSULTATION_VALID, dates=["held_on"], choices=["decision"], extra=["clinician", "client"]))
@example(data={**CONSULTATION_VALID, "held_on": "2026-02-30", "decision": "maybe"})
@example(data={**CONSULTATION_VALID, "held_on": "0001-01-01"})
@example(data={**CONSULTATION_VALID, "held_on": "9999-12-31", "decision": "defer", "decision_reason": " "})
@example(data={**CONSULTATION_VALID, "why_kap": "\x00", "goals": "x" * 100_000})
def test_the_consultation_form_takes_anything(browser, tess, avery, data):
    http = browser(tess)
    response = http.post(f"/clients/{avery.pk}/pathway/consultations/new/", data)
    _saved_and_shown(http, response, data, CONSULTATION_TEXT)


def test_the_consultation_form_keeps_what_was_typed(login, tess, avery):
    data = {**CONSULTATION_VALID, "held_on": "2026-02-30", "decision": "not_a_fit", "history": "Hx\x00"}
    response = login(tess).post(f"/clients/{avery.pk}/pathway/consultations/new/", data)
    _wrong_but_kept(response, data, CONSULTATION_TEXT)
    assert set(response.context["form"].errors) == {"held_on", "history", "decision_reason"}


PREPARATION_VALID = {
    "held_on": _today(),
    "topics": ["awareness", "fears"],
    "intentions": "To feel less alone.",
    "day_of_instructions_given": "on",
    "note": "",
}
hostile_topics = st.one_of(
    st.lists(st.sampled_from([*Topic.values, "unknown", "\x00", "AWARENESS", ""]), max_size=12),
    hostile_value,
)


@FUZZ
@given(
    data=_body(PREPARATION_VALID, dates=["held_on"], extra=["clinician"]).flatmap(
        lambda body: st.one_of(st.just(body), hostile_topics.map(lambda topics: {**body, "topics": topics}))
    )
)
@example(data={**PREPARATION_VALID, "topics": ["awareness", "telepathy"]})
@example(data={**PREPARATION_VALID, "topics": [*Topic.values, *Topic.values]})
@example(data={**PREPARATION_VALID, "held_on": "9999-12-31", "day_of_instructions_given": "\x00"})
@example(data={"held_on": "0001-01-01", "topics": [], "intentions": "  ", "note": ""})
def test_the_preparation_form_takes_anything(browser, tess, avery, data):
    http = browser(tess)
    response = http.post(f"/clients/{avery.pk}/pathway/preparation/new/", data)
    _saved_and_shown(http, response, data, ["held_on", "intentions", "note"])


def test_the_preparation_form_keeps_what_was_typed(login, tess, avery):
    data = {**PREPARATION_VALID, "held_on": "2025-02-29", "topics": ["awareness", "telepathy"]}
    response = login(tess).post(f"/clients/{avery.pk}/pathway/preparation/new/", data)
    _wrong_but_kept(response, data, ["held_on", "intentions", "note"])
    assert set(response.context["form"].errors) == {"held_on", "topics"}


def test_a_preparation_session_of_intentions_alone_is_saved(login, tess, avery):
    """The form asks for topics, intentions or a note; the record took topics as required and
    answered intentions alone with a 500."""
    data = {"held_on": _today(), "intentions": "To feel less alone."}
    response = login(tess).post(f"/clients/{avery.pk}/pathway/preparation/new/", data)
    assert response.status_code == 302
    assert avery.preparation_sessions.get().topics == []


PLAN_VALID = {
    "goals": "Ease depression.",
    "planned_sessions": "6",
    "cadence": "fortnightly",
    "cadence_note": "",
    "modality": "in_person",
    "integration_after_each": "on",
    "review_after": "3, 6",
}
PLAN_TEXT = ["goals", "planned_sessions", "cadence_note", "review_after"]
hostile_reviews = st.one_of(
    st.sampled_from(["²", "3, ²", "٣", "３", "0", "-1", "3,,6", "3;6", "9" * 60, "9" * 61, "1e3", "\x00"]),
    st.lists(st.sampled_from(["1", "3", "6", "²", "٣", "⑥", "-", "x", "", "99999"]), max_size=8).map(
        ", ".join
    ),
    hostile_number,
)


@FUZZ
@given(
    data=_body(
        PLAN_VALID, numbers=["planned_sessions"], choices=["cadence", "modality"], extra=["updated_by"]
    ).flatmap(
        lambda body: st.one_of(
            st.just(body), hostile_reviews.map(lambda reviews: {**body, "review_after": reviews})
        )
    )
)
@example(data={**PLAN_VALID, "review_after": "²"})
@example(data={**PLAN_VALID, "review_after": "3, ٣"})
@example(data={**PLAN_VALID, "planned_sessions": "0", "review_after": ""})
@example(data={**PLAN_VALID, "planned_sessions": str(2**63)})
@example(data={**PLAN_VALID, "planned_sessions": "-6", "cadence": "custom", "cadence_note": "\x00"})
@example(data={**PLAN_VALID, "planned_sessions": "6.5", "modality": "moon"})
def test_the_course_plan_form_takes_anything(browser, tess, avery, data):
    http = browser(tess)
    _saved_and_shown(http, http.post(f"/clients/{avery.pk}/pathway/plan/", data), data, PLAN_TEXT)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"planned_sessions": "0"}, "planned_sessions"),
        ({"planned_sessions": "six"}, "planned_sessions"),
        ({"review_after": "3, ²"}, "review_after"),
        ({"review_after": "3, 60"}, "review_after"),
    ],
)
def test_the_course_plan_form_keeps_what_was_typed(login, tess, avery, change, field):
    data = {**PLAN_VALID, "goals": "Ease — “depression” <b>", "cadence_note": "weekly-ish", **change}
    response = login(tess).post(f"/clients/{avery.pk}/pathway/plan/", data)
    _wrong_but_kept(response, data, PLAN_TEXT)
    assert set(response.context["form"].errors) == {field}
    assert "Constraint" not in response.content.decode()


@FUZZ
@given(
    gate=st.sampled_from(GateOverride.Gate.values),
    data=_body({"reason": "Seen in person; the finding does not apply."}, extra=["gate", "prescriber"]),
    withdraw=_body({}, extra=["reason", "override_id"]),
)
@example(gate="screening", data={"reason": "\x00"}, withdraw={})
@example(gate="clearance", data={"reason": "x" * 100_000}, withdraw={"reason": "\x00"})
def test_the_override_forms_take_anything(browser, priya, avery, gate, data, withdraw):
    http = browser(priya)
    response = http.post(f"/clients/{avery.pk}/pathway/overrides/{gate}/new/", data)
    _saved_and_shown(http, response, data, ["reason"], follow=False)
    for override in avery.gate_overrides.filter(withdrawn_at__isnull=True):
        response = http.post(f"/clients/{avery.pk}/pathway/overrides/{override.pk}/withdraw/", withdraw)
        assert response.status_code == 302, response.status_code


def test_the_override_form_keeps_what_was_typed(login, priya, avery):
    data = {"reason": "Seen\x00 in person"}
    response = login(priya).post(f"/clients/{avery.pk}/pathway/overrides/clearance/new/", data)
    _wrong_but_kept(response, data, ["reason"])
    assert not avery.gate_overrides.exists()


# --- Medical -----------------------------------------------------------------------------------

SCREENING_VALID = {
    **{f"finding_{finding.key}": "False" for finding in FINDINGS},
    "notes": "",
    "med-TOTAL_FORMS": "3",
    "med-INITIAL_FORMS": "0",
    "med-0-name": "Lorazepam 1 mg",
    "med-0-kind": "benzodiazepine",
}
MANAGEMENT = ["med-TOTAL_FORMS", "med-INITIAL_FORMS", "med-MIN_NUM_FORMS", "med-MAX_NUM_FORMS"]


def _screening_posted(response, data):
    """The screening page carries two forms: the findings, and the list of medications."""
    _no_500(response)
    if response.status_code == 302:
        return
    assert response.status_code == 200
    form, medications = response.context["form"], response.context["medications"]
    if not form.is_bound:
        return
    content = response.content.decode()
    if form.errors:
        _errors_named(response)
    else:
        assert medications.total_error_count(), "the forms came back without saying what to fix"
        assert "Check the medications below" in content
    _typed_values_kept(response, data, ["notes"])
    if not medications.non_form_errors():  # with its counts intact, each row shows what was typed
        for n in range(medications.total_form_count()):
            value = data.get(f"med-{n}-name", "")
            value = value[-1] if isinstance(value, list) else value
            if value.strip():
                assert escape(value) in content, f"medication {n}: {value[:40]!r} was not kept"


@FUZZ
@given(
    data=_body(
        SCREENING_VALID,
        numbers=MANAGEMENT,
        choices=[f"finding_{finding.key}" for finding in FINDINGS] + [f"med-{n}-kind" for n in range(3)],
        extra=["med-1-name", "med-2-name", "med-19-name", "med-25-name", "entered_by"],
    )
)
@example(data={**SCREENING_VALID, "med-TOTAL_FORMS": str(2**64), "med-INITIAL_FORMS": "-1"})
@example(data={**SCREENING_VALID, "med-TOTAL_FORMS": "1000", "med-999-name": "x"})
@example(data={**SCREENING_VALID, "med-0-kind": "unicorn", "med-0-name": "x" * 121})
@example(data={**SCREENING_VALID, "finding_pregnancy": "Maybe", "notes": "\x00"})
@example(data={**SCREENING_VALID, "med-TOTAL_FORMS": "\x00"})
def test_the_screening_form_takes_anything(browser, tess, avery, data):
    http = browser(tess)
    response = http.post(f"/clients/{avery.pk}/medical/screening/new/", data)
    _screening_posted(response, data)
    if response.status_code == 302:
        _no_500(http.get(response["Location"]))


def test_the_screening_form_keeps_what_was_typed(login, tess, avery):
    data = {
        **SCREENING_VALID,
        "finding_liver": "Maybe",
        "notes": "Ask her GP — “Dr Lee”",
        "med-1-name": "Zoloft",
    }
    response = login(tess).post(f"/clients/{avery.pk}/medical/screening/new/", data)
    _wrong_but_kept(response, data, ["notes"])
    content = response.content.decode()
    assert "Lorazepam 1 mg" in content and "Zoloft" in content
    assert not Screening.objects.exists()


CLEARANCE_VALID = {
    "decision": "cleared",
    "conditions": "",
    "systolic": "120",
    "diastolic": "80",
    "heart_rate": "72",
    "weight_kg": "70.5",
    "findings": "Well; no cardiac history.",
    "resolve_pregnancy": "Test negative today.",
    "ack_cardiovascular": "on",
}
CLEARANCE_TEXT = ["conditions", "systolic", "diastolic", "heart_rate", "weight_kg", "findings", "valid_until"]


@FUZZ
@given(
    data=_body(
        {**CLEARANCE_VALID, "screening_id": "", "valid_until": _today(90)},
        numbers=["screening_id", "systolic", "diastolic", "heart_rate", "weight_kg"],
        dates=["valid_until"],
        choices=["decision"],
        extra=["prescriber", "resolve_psychosis"],
    )
)
@example(data={**CLEARANCE_VALID, "weight_kg": "70.55555555", "valid_until": "2026-02-30"})
@example(data={**CLEARANCE_VALID, "weight_kg": "1e309", "systolic": "9" * 40, "valid_until": "9999-12-31"})
@example(data={**CLEARANCE_VALID, "weight_kg": "-70", "heart_rate": "NaN", "valid_until": "0001-01-01"})
@example(data={**CLEARANCE_VALID, "screening_id": str(2**64), "decision": "conditions"})
@example(data={**CLEARANCE_VALID, "decision": "maybe", "findings": "\x00"})
def test_the_clearance_form_takes_anything(browser, priya, avery, data):
    screening = Screening.objects.filter(client=avery).first() or _screening(avery)
    if data.get("screening_id", "") == "":  # the page's own value, unless the example changes it
        data = {**data, "screening_id": str(screening.pk)}
    http = browser(priya)
    response = http.post(f"/clients/{avery.pk}/medical/clearance/new/", data)
    _saved_and_shown(http, response, data, ["conditions", "findings", "resolve_pregnancy"])


def test_the_clearance_form_keeps_what_was_typed(login, priya, avery):
    screening = _screening(avery)
    data = {
        **CLEARANCE_VALID,
        "screening_id": str(screening.pk),
        "weight_kg": "70.55",
        "systolic": "one-twenty",
        "valid_until": "2026-02-30",
        "resolve_pregnancy": "Test negative — “today”",
    }
    response = login(priya).post(f"/clients/{avery.pk}/medical/clearance/new/", data)
    _wrong_but_kept(response, data, [*CLEARANCE_TEXT, "resolve_pregnancy"])
    assert set(response.context["form"].errors) == {"weight_kg", "systolic", "valid_until"}
    assert not Clearance.objects.exists()


@pytest.mark.parametrize("screening_id", ["\x00", "latest", None])
def test_a_mangled_screening_number_is_explained(login, priya, avery, screening_id):
    _screening(avery)
    data = {**CLEARANCE_VALID, "valid_until": _today(90)}
    if screening_id is not None:
        data["screening_id"] = screening_id
    response = login(priya).post(f"/clients/{avery.pk}/medical/clearance/new/", data)
    _wrong_but_kept(response, data, ["conditions", "findings", "resolve_pregnancy"])
    assert "The page did not say which screening you reviewed" in response.content.decode()
    assert not Clearance.objects.exists()


@FUZZ
@given(data=_body({"reason": "Pregnancy test positive."}, extra=["revoked_by"]))
@example(data={"reason": "\x00"})
@example(data={"reason": "x" * 100_000})
@example(data={"reason": "  "})
def test_the_revoke_form_takes_anything(browser, priya, avery, data):
    screening = Screening.objects.filter(client=avery).first() or _screening(avery)
    clearance = _clearance(avery, screening, priya)
    http = browser(priya)
    response = http.post(f"/clients/{avery.pk}/medical/clearance/{clearance.pk}/revoke/", data)
    _saved_and_shown(http, response, data, ["reason"], form_key="revoke_form", follow=False)


def test_the_revoke_form_keeps_what_was_typed(login, priya, avery):
    clearance = _clearance(avery, _screening(avery), priya)
    data = {"reason": "Positive\x00 test"}
    response = login(priya).post(f"/clients/{avery.pk}/medical/clearance/{clearance.pk}/revoke/", data)
    assert response.status_code == 200
    _errors_shown(response, "revoke_form")
    assert response.context["revoke_form"].errors
    _typed_values_kept(response, data, ["reason"], form_key="revoke_form")
    clearance.refresh_from_db()
    assert clearance.revoked_at is None


ORDER_VALID = {
    "drug": "ketamine",
    "route": "sublingual",
    "unit": "mg",
    "dose_min": "200",
    "dose_max": "300",
    "weight_kg": "",
    "boosters_allowed": "0",
    "booster_max_mg": "",
    "sessions_authorised": "6",
    "starts_on": _today(),
    "ends_on": _today(60),
    "instructions": "Hold under the tongue 15 minutes, then spit.",
}
ORDER_NUMBERS = [
    "dose_min",
    "dose_max",
    "weight_kg",
    "boosters_allowed",
    "booster_max_mg",
    "sessions_authorised",
]
ORDER_TEXT = [*ORDER_NUMBERS, "starts_on", "ends_on", "instructions"]
IM_ORDER = {**ORDER_VALID, "route": "intramuscular", "unit": "mg_per_kg", "dose_min": "0.5", "dose_max": "1"}


@FUZZ
@given(
    base=st.sampled_from([ORDER_VALID, IM_ORDER, {**IM_ORDER, "unit": "mg", "weight_kg": "70"}]),
    hostile=_some(
        {
            **dict.fromkeys(ORDER_NUMBERS, hostile_number),
            **dict.fromkeys(["starts_on", "ends_on"], hostile_date),
            **dict.fromkeys(["drug", "route", "unit", "confirm_dose"], hostile_choice),
            "instructions": hostile_value,
            "prescriber": hostile_value,
        },
    ),
)
@example(base=IM_ORDER, hostile={"weight_kg": "70.55555", "dose_min": "0.123456789", "dose_max": "1.999"})
@example(base=IM_ORDER, hostile={"weight_kg": "400", "dose_max": "99999.99", "confirm_dose": "on"})
@example(
    base=IM_ORDER, hostile={"weight_kg": "2", "dose_min": "0.01", "dose_max": "0.01", "confirm_dose": "on"}
)
@example(
    base=ORDER_VALID, hostile={"dose_min": "-200", "dose_max": "1e309", "sessions_authorised": str(2**63)}
)
@example(base=ORDER_VALID, hostile={"dose_min": "NaN", "dose_max": "Infinity", "boosters_allowed": "-1"})
@example(base=ORDER_VALID, hostile={"starts_on": "9999-12-31", "ends_on": "9999-12-31"})
@example(base=ORDER_VALID, hostile={"starts_on": "2026-02-30", "ends_on": "0001-01-01"})
@example(base=ORDER_VALID, hostile={"boosters_allowed": "2", "booster_max_mg": "0.000001"})
@example(base=ORDER_VALID, hostile={"drug": "esketamine", "route": "intranasal", "unit": "mg_per_kg"})
@example(base=ORDER_VALID, hostile={"route": "rectal", "instructions": "\x00"})
def test_the_order_form_takes_anything(browser, priya, avery, base, hostile):
    data = {**base, **hostile}
    http = browser(priya)
    _saved_and_shown(http, http.post(f"/clients/{avery.pk}/medical/orders/new/", data), data, ORDER_TEXT)


def test_the_order_form_keeps_what_was_typed(login, priya, avery):
    data = {
        **IM_ORDER,
        # Today as the test runs, not as the module was read: a run that passes midnight would
        # otherwise post yesterday, and "an order starts today or later" is one error more.
        "starts_on": _today(),
        "dose_min": "0.555",
        "dose_max": "one",
        "weight_kg": "",
        "ends_on": "2026-02-30",
        "instructions": "Check BP — “before” & after",
    }
    response = login(priya).post(f"/clients/{avery.pk}/medical/orders/new/", data)
    _wrong_but_kept(response, data, ORDER_TEXT)
    assert set(response.context["form"].errors) == {"dose_min", "dose_max", "weight_kg", "ends_on"}
    assert not MedicationOrder.objects.exists()


@FUZZ
@given(data=_body({"reason": "Course complete."}, extra=["discontinued_by"]))
@example(data={"reason": "\x00"})
@example(data={"reason": "x" * 100_000})
def test_the_discontinue_form_takes_anything(browser, priya, avery, data):
    order = _order(avery, priya)
    http = browser(priya)
    response = http.post(f"/clients/{avery.pk}/medical/orders/{order.pk}/discontinue/", data)
    _saved_and_shown(http, response, data, ["reason"], form_key="discontinue_form", follow=False)


def test_the_discontinue_form_keeps_what_was_typed(login, priya, avery):
    order = _order(avery, priya)
    data = {"reason": "Side\x00 effects"}
    response = login(priya).post(f"/clients/{avery.pk}/medical/orders/{order.pk}/discontinue/", data)
    assert response.status_code == 200
    _errors_shown(response, "discontinue_form")
    assert response.context["discontinue_form"].errors
    _typed_values_kept(response, data, ["reason"], form_key="discontinue_form")


# --- Consent -----------------------------------------------------------------------------------


def _current(kind) -> ConsentDocument:
    return ConsentDocument.objects.published().filter(kind=kind).order_by("-version").first()


SIGNATURE_VALID = {
    "signer": "client",
    "typed_name": "Avery Alvarez",
    "decision": "agree",
    "sha256": "current",
}


def _signature(kind, data=SIGNATURE_VALID):
    """The form as posted, with "current" standing for the hash of the text on the page."""
    if data.get("sha256") == "current":
        data = {**data, "sha256": _current(kind).sha256}
    return data


hostile_hash = st.one_of(st.sampled_from(["0" * 64, "0" * 65, "x", "\x00" * 64, ""]), hostile_value)


@FUZZ
@given(
    kind=st.sampled_from(["kap", "telehealth"]),
    hostile=_some(
        {
            "signer": hostile_choice,
            "decision": st.one_of(hostile_choice, st.sampled_from(["refuse", "revoke"])),
            "typed_name": st.one_of(
                st.sampled_from(["  avery   ALVAREZ ", "Avery\x00Alvarez", "A" * 151]), hostile_value
            ),
            "sha256": hostile_hash,
            "release_expires_on": hostile_date,
            "provider": hostile_value,
        },
    ),
)
@example(kind="kap", hostile={"typed_name": "Avery\x00Alvarez", "sha256": "\x00"})
@example(kind="kap", hostile={"signer": f"guardian:{2**64}", "decision": "revoke"})
@example(kind="telehealth", hostile={"typed_name": "A" * 100_000, "release_expires_on": "9999-12-31"})
def test_the_signature_form_takes_anything(browser, tess, avery, kind, hostile):
    data = _signature(kind, {**SIGNATURE_VALID, **hostile})
    http = browser(tess)
    response = http.post(f"/clients/{avery.pk}/consent/{kind}/", data)
    _saved_and_shown(http, response, data, ["typed_name"])


def test_the_signature_form_keeps_what_was_typed(login, tess, avery):
    data = {**_signature("kap"), "typed_name": "Avery Alvarez-Smith", "sha256": "0" * 64}
    response = login(tess).post(f"/clients/{avery.pk}/consent/kap/", data)
    _wrong_but_kept(response, data, ["typed_name"])
    assert "does not match the name on file" in response.content.decode()
    assert not avery.consent_signatures.exists()


@pytest.mark.parametrize("sha256", ["\x00", "0" * 65, ""])
def test_a_mangled_hash_of_the_text_shown_is_explained(login, tess, avery, sha256):
    """Nobody types the hidden hash; when it comes back mangled the page says what happened."""
    data = {**_signature("kap"), "typed_name": "Avery Alvarez", "sha256": sha256}
    response = login(tess).post(f"/clients/{avery.pk}/consent/kap/", data)
    _wrong_but_kept(response, data, ["typed_name"])
    assert "The page did not send back the document it showed" in response.content.decode()
    assert not avery.consent_signatures.exists()


@FUZZ
@given(
    data=_body(
        {**SIGNATURE_VALID, "release_expires_on": ""},
        dates=["release_expires_on"],
        choices=["signer", "decision"],
        extra=["typed_name", "sha256", "provider_name"],
    )
)
@example(data={**SIGNATURE_VALID, "release_expires_on": "2026-02-30"})
@example(data={**SIGNATURE_VALID, "release_expires_on": "9999-12-31"})
@example(data={**SIGNATURE_VALID, "release_expires_on": "0001-01-01", "decision": "refuse"})
def test_the_release_form_takes_anything(browser, tess, avery, data):
    provider, _ = OutsideProvider.objects.get_or_create(client=avery, name="Dr Reyes", kind="psychiatrist")
    data = _signature("release", data)
    http = browser(tess)
    response = http.post(f"/clients/{avery.pk}/consent/release/{provider.pk}/", data)
    _saved_and_shown(http, response, data, ["typed_name", "release_expires_on"])


def test_the_release_form_keeps_what_was_typed(login, tess, avery):
    provider = OutsideProvider.objects.create(client=avery, name="Dr Reyes", kind="psychiatrist")
    data = {
        **_signature("release"),
        "typed_name": "avery alvarez",
        "release_expires_on": "2027-02-30",
        "categories": ["course"],
    }
    response = login(tess).post(f"/clients/{avery.pk}/consent/release/{provider.pk}/", data)
    _wrong_but_kept(response, data, ["typed_name", "release_expires_on"])
    assert set(response.context["form"].errors) == {"release_expires_on"}


DOCUMENT_VALID = {
    "title": "KAP informed consent",
    "body": "## What it is\n\nChanged text.",
    "requires_reconsent": "",
}


@FUZZ
@given(
    kind=st.sampled_from(Kind.values),
    data=_body(DOCUMENT_VALID, extra=["version", "published_at", "kind"]),
    publish=st.booleans(),
)
@example(kind="kap", data={"title": "\x00", "body": "\x00"}, publish=False)
@example(kind="kap", data={"title": "T" * 151, "body": "x" * 1_000_000}, publish=False)
@example(kind="release", data={**DOCUMENT_VALID, "body": "\r\n\r\n"}, publish=True)
@example(kind="assent", data={**DOCUMENT_VALID, "requires_reconsent": "\x00"}, publish=True)
def test_the_document_forms_take_anything(browser, ada, kind, data, publish):
    http = browser(ada)
    response = http.post(f"/consent-documents/{kind}/new/", data)
    _saved_and_shown(http, response, data, ["title", "body"])
    draft = ConsentDocument.objects.drafts().filter(kind=kind).first()
    if publish and draft is not None:
        response = http.post(f"/consent-documents/{draft.pk}/publish/", data)
        assert response.status_code == 302, response.status_code
        _no_500(http.get(response["Location"]))


def test_the_document_form_keeps_what_was_typed(login, ada):
    current = _current("kap")
    data = {
        "title": current.title,
        "body": current.body.replace("\n", "\r\n") + "\r\n\r\n",
        "requires_reconsent": "on",
    }
    response = login(ada).post("/consent-documents/kap/new/", data)
    _wrong_but_kept(response, data, ["title"])
    assert "Nothing has changed from version" in response.content.decode()
    data = {"title": "Consent\x00", "body": "New text — “quoted”"}
    response = login(ada).post("/consent-documents/kap/new/", data)
    _wrong_but_kept(response, data, ["title", "body"])
    assert not ConsentDocument.objects.drafts().exists()
