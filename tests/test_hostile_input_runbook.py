"""Hostile and malformed input on the day of a medication session: every runbook form, the visit
forms (booking, moving, a series, cancelling, the status changes) and the integration forms.
The same standard as tests/test_hostile_input.py, whose helpers this file uses: no request ever
produces a 500, and a form with errors (or an entry the runbook refuses) comes back saying what
to fix with what was typed still in it, with htmx (the runbook body swapped in place) and
without (the whole page). Every URL of these apps is also asked with the wrong method, no data
and ids that do not exist. Meant to run on SQLite and on PostgreSQL."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from kapflow.dosing.models import AdverseEvent, Runbook
from kapflow.dosing.services.administration import dose_record
from kapflow.dosing.services.checkin import checklist_record
from kapflow.dosing.services.vitals import vitals_record
from kapflow.integration.models import ActionItem, IntegrationRecord
from kapflow.medical.models import MedicationOrder
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests import factories, test_hostile_input
from tests.fuzzing import examples
from tests.test_hostile_input import (
    HOSTILE,
    HUGE_IDS,
    INT_PATTERNS,
    _errors_named,
    _errors_shown,
    _no_500,
    _typed_values_kept,
    hostile_value,
)
from tests.test_hostile_input_pathway import hostile_choice, hostile_date, hostile_number

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pathway_ready")]

FUZZ = HOSTILE
# Each example of the runbook's buttons is 21 posts (seven buttons on three sessions).
BUTTONS_FUZZ = hsettings(HOSTILE, max_examples=examples(share=0.3))

browser = test_hostile_input.browser

hostile_time = st.one_of(
    st.sampled_from(["99:99", "24:00", "-1:00", "12:60", "noon", "12", "12:00:00.999999999", "\x00", ""]),
    st.times().map(str),
    hostile_value,
)


def _some(kinds: dict, most=4):
    keys = st.lists(st.sampled_from(sorted(kinds)), unique=True, max_size=most)
    return keys.flatmap(lambda chosen: st.fixed_dictionaries({key: kinds[key] for key in chosen}))


def _body(valid: dict, *, numbers=(), dates=(), times=(), choices=(), extra=("csrfmiddlewaretoken", "next")):
    """A valid form with a few of its fields (or of some it does not have) made hostile, each by
    a strategy of its own kind or of any kind, and sometimes a field left out altogether."""
    kinds = {
        **dict.fromkeys([*valid, *extra], hostile_value),
        **dict.fromkeys(numbers, hostile_number),
        **dict.fromkeys(dates, hostile_date),
        **dict.fromkeys(times, hostile_time),
        **dict.fromkeys(choices, hostile_choice),
    }
    missing = st.lists(st.sampled_from(sorted(valid)), unique=True, max_size=2) if valid else st.just([])
    return st.tuples(_some(kinds), missing).map(
        lambda pair: {k: v for k, v in {**valid, **pair[0]}.items() if k not in pair[1] or k in pair[0]}
    )


# --- The world: three sessions of Avery's, at the real time of the test ---------------------------


@pytest.fixture
def world(avery, tess, priya, cora):
    """A checked-in in-person session (nothing recorded yet), an in-person session in progress
    dosed ten minutes ago, and a virtual session in progress; an active order; an integration
    record with an action item."""
    now = timezone.now()
    practice = Practice.load()
    room, _ = Room.objects.get_or_create(name="Garden Room")

    def visit(minutes_ago, status, virtual=False, hours_ahead=0):
        starts = now - datetime.timedelta(minutes=minutes_ago) + datetime.timedelta(hours=hours_ahead)
        return Visit.objects.create(
            client=avery,
            kind=Visit.Kind.MEDICATION,
            modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
            room=None if virtual else room,
            starts_at=starts,
            ends_at=starts + datetime.timedelta(minutes=150),
            clinician=tess,
            created_by=cora,
            status=status,
        )

    fresh = visit(5, Visit.Status.CHECKED_IN, hours_ahead=-24 * 3)
    dosed = visit(40, Visit.Status.IN_PROGRESS)
    virtual = visit(30, Visit.Status.IN_PROGRESS, virtual=True, hours_ahead=-24 * 6)
    order = MedicationOrder.objects.create(
        client=avery,
        prescriber=priya,
        drug="ketamine",
        route="sublingual",
        unit="mg",
        dose_min=Decimal(200),
        dose_max=Decimal(300),
        boosters_allowed=1,
        booster_max_mg=Decimal(100),
        sessions_authorised=6,
        starts_on=timezone.localdate() - datetime.timedelta(days=10),
        ends_on=timezone.localdate() + datetime.timedelta(days=80),
    )
    checklist_record(
        actor=tess,
        visit=dosed,
        transport_without_driving=True,
        last_food_at=now - datetime.timedelta(hours=5),
        last_liquid_at=now - datetime.timedelta(hours=2),
        substances=[],
        pregnancy="not_applicable",
        practice=practice,
    )
    factories.acknowledge_integration(dosed, tess)
    vitals_record(
        actor=tess,
        visit=dosed,
        phase="pre_dose",
        taken_at=now - datetime.timedelta(minutes=15),
        systolic=120,
        diastolic=80,
        heart_rate=70,
        spo2=98,
        practice=practice,
    )
    dose_record(
        actor=tess,
        visit=dosed,
        order=order,
        given_at=now - datetime.timedelta(minutes=10),
        route="sublingual",
        dose_mg=Decimal(250),
        lot_number="LOT-1",
        given_by=tess,
        practice=practice,
    )
    event = AdverseEvent.objects.create(
        runbook=Runbook.objects.get(visit=dosed),
        noted_at=now,
        kind="nausea",
        severity="mild",
        action_taken="Water",
        recorded_by=tess,
    )
    record = IntegrationRecord.objects.create(client=avery, clinician=tess, themes="Grief")
    item = ActionItem.objects.create(client=avery, record=record, text="Walk daily")
    return {
        "fresh": fresh,
        "dosed": dosed,
        "virtual": virtual,
        "order": order,
        "event": event,
        "record": record,
        "item": item,
        "room": room,
    }


# --- The runbook's forms ------------------------------------------------------------------------

# name -> (which visit, the context key of its form, the valid body, its text boxes, strategies)
RUNBOOK_FORMS = {
    "checklist": (
        "fresh",
        "checklist_form",
        lambda w: {
            "transport_without_driving": "on",
            "transport_detail": "Partner drives",
            "last_food": "06:00",
            "last_liquid": "07:30",
            "pregnancy": "not_applicable",
            "new_medications": "",
        },
        ["transport_detail", "new_medications"],
        {"times": ["last_food", "last_liquid"], "choices": ["pregnancy", "substances"]},
    ),
    "predose": (
        "fresh",
        "predose_form",
        lambda w: {
            "pre-phase": "pre_dose",
            "pre-systolic": "120",
            "pre-diastolic": "80",
            "pre-heart_rate": "70",
        },
        [],
        {"numbers": ["pre-systolic", "pre-diastolic", "pre-heart_rate", "pre-spo2"], "times": ["pre-at"]},
    ),
    "vitals": (
        "dosed",
        "vitals_form",
        lambda w: {
            "phase": "in_session",
            "systolic": "130",
            "diastolic": "85",
            "heart_rate": "75",
            "spo2": "97",
        },
        [],
        {"numbers": ["systolic", "diastolic", "heart_rate", "spo2"], "times": ["at"], "choices": ["phase"]},
    ),
    "dose": (
        "dosed",
        "dose_form",
        lambda w: {
            "order": w["order"].pk,
            "route": "sublingual",
            "dose_mg": "50",
            "lot_number": "LOT-2",
            "given_by": w["dosed"].clinician_id,
        },
        ["lot_number"],
        {"numbers": ["dose_mg", "order", "given_by"], "times": ["at"], "choices": ["route"]},
    ),
    "rating": (
        "dosed",
        "rating_form",
        lambda w: {"sedation": "1", "dissociation": "2"},
        [],
        {"numbers": ["sedation", "dissociation"], "times": ["at"]},
    ),
    "adverse_event": (
        "dosed",
        "event_form",
        lambda w: {"kind": "nausea", "severity": "mild", "action_taken": "Bucket and water"},
        ["action_taken"],
        {"choices": ["kind", "severity"], "times": ["at"]},
    ),
    "note": ("dosed", "note_form", lambda w: {"text": "Calm, eyes closed"}, ["text"], {"times": ["at"]}),
    "discharge": (
        "dosed",
        "discharge_form",
        lambda w: {
            "alert_and_oriented": "on",
            "steady_on_feet": "on",
            "escort_present": "on",
            "override_reason": "",
        },
        ["override_reason"],
        {},
    ),
    "integration_ack": (
        "dosed",
        "integration_ack_form",
        lambda w: {"reason": "Client away; integration by phone"},
        ["reason"],
        {},
    ),
    "safety_plan": (
        "virtual",
        "plan_form",
        lambda w: {
            "address": "12 Elm St",
            "chaperone_name": "Sam",
            "chaperone_phone": "555-0100",
            "chaperone_is_adult": "on",
            "chaperone_present": "on",
            "emergency_contact": "Jo 555-0101",
            "nearest_emergency_department": "Springfield General",
            "has_bp_cuff": "on",
        },
        ["address", "chaperone_name", "chaperone_phone", "emergency_contact", "nearest_emergency_department"],
        {},
    ),
    "chaperone": (
        "virtual",
        "chaperone_form",
        lambda w: {"chaperone_present": "on", "client_ok": "on", "note": "All well"},
        ["note"],
        {"times": ["at"]},
    ),
    "phase": ("dosed", "phase_form", lambda w: {"phase": "integration"}, [], {"choices": ["phase"]}),
}
URL_OF = {"predose": "vitals"}


def _runbook_post(http, world, name, data, htmx):
    which, key, _valid, text, _kinds = RUNBOOK_FORMS[name]
    visit = world[which]
    url = reverse(f"dosing:{URL_OF.get(name, name)}", args=[visit.client_id, visit.pk])
    headers = {"HX-Request": "true"} if htmx else {}
    response = http.post(url, data, headers=headers)
    _no_500(response, f"{name} {data!r}")
    if response.status_code == 302:
        assert not htmx, "an htmx post answers with the runbook body, not a redirect"
        assert response["Location"] == reverse("dosing:runbook", args=[visit.client_id, visit.pk])
        _no_500(http.get(response["Location"]), f"after saving {name}")
        return response
    assert response.status_code == 200, response.status_code
    form = response.context.get(key)
    if form is not None and form.is_bound:
        # An error or a refusal: the form comes back saying what to fix, holding what was typed.
        if form.errors:
            _errors_named(response, key)
        else:
            _errors_shown(response, key)
            assert "notice--error" in response.content.decode(), "a refusal without a word on the page"
        if name != "phase":  # the phase buttons hold no typed input
            _typed_values_kept(response, data, text, key)
    return response


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
@pytest.mark.parametrize("name", sorted(RUNBOOK_FORMS))
@FUZZ
@given(seed=st.data())
def test_every_runbook_form_takes_anything(browser, world, tess, name, htmx, seed):
    _which, _key, valid, _text, kinds = RUNBOOK_FORMS[name]
    data = seed.draw(_body(valid(world), **kinds), label="data")
    _runbook_post(browser(tess), world, name, data, htmx)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_a_refused_entry_keeps_what_was_typed(login, world, tess, htmx):
    """A booster above the order's highest booster is refused by the service, not the form: the
    form still comes back holding the lot number typed, with the refusal said."""
    http = login(tess)
    data = {
        "order": world["order"].pk,
        "route": "sublingual",
        "dose_mg": "150",
        "lot_number": "LOT-<b>7</b>",
        "given_by": tess.pk,
    }
    response = _runbook_post(http, world, "dose", data, htmx)
    html = response.content.decode()
    assert "above the order" in html
    assert "LOT-&lt;b&gt;7&lt;/b&gt;" in html


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_an_empty_post_to_each_runbook_form_says_what_to_fix(login, world, tess, htmx):
    http = login(tess)
    for name in RUNBOOK_FORMS:
        _runbook_post(http, world, name, {}, htmx)


# --- Buttons with no form of their own, and the prescriber's reviews -----------------------------

BUTTONS = ["check_in", "start", "medications_review", "acknowledge", "sign", "addendum", "integration"]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
@pytest.mark.parametrize("who", ["tess", "priya"])
@BUTTONS_FUZZ
@given(
    data=st.fixed_dictionaries(
        {}, optional=dict.fromkeys(["text", "starts_at", "next", "note"], hostile_value)
    )
)
@example(data={"starts_at": "9999-12-31T23:59:59+14:00"})
@example(data={"starts_at": "0001-01-01T00:00:00-12:00"})
@example(data={"text": "\x00"})
def test_the_runbook_buttons_take_anything(browser, world, request, who, htmx, data):
    http = browser(request.getfixturevalue(who))
    headers = {"HX-Request": "true"} if htmx else {}
    for which in ("fresh", "dosed", "virtual"):
        visit = world[which]
        for name in BUTTONS:
            response = http.post(
                reverse(f"dosing:{name}", args=[visit.client_id, visit.pk]), data, headers=headers
            )
            _no_500(response, f"{name} on {which} with {data!r}")
            assert response.status_code in (200, 302), (name, response.status_code)


@FUZZ
@given(data=st.fixed_dictionaries({}, optional={"note": hostile_value, "next": hostile_value}))
@example(data={"next": "https://evil.example/"})
@example(data={"next": "//evil.example"})
@example(data={"next": "/\\evil.example"})
@example(data={"note": "n" * 5000})
def test_the_prescribers_reviews_take_anything(browser, world, priya, data):
    http = browser(priya)
    visit, event = world["dosed"], world["event"]
    for url in (
        reverse("dosing:adverse_event_review", args=[visit.client_id, visit.pk, event.pk]),
        reverse("dosing:discharge_review", args=[visit.client_id, visit.pk]),
    ):
        response = http.post(url, data)
        _no_500(response, f"{url} {data!r}")
        assert response.status_code == 302
        location = response["Location"]
        assert location.startswith("/") and not location.startswith("//") and "\\" not in location[:2]


# --- The visit forms ----------------------------------------------------------------------------


def _visit_body(world, kind="integration"):
    starts = timezone.localtime() + datetime.timedelta(days=30)
    return {
        "kind": kind,
        "starts_at": starts.strftime("%Y-%m-%dT%H:%M"),
        "minutes": "60",
        "clinician": world["dosed"].clinician_id,
        "modality": "in_person",
        "room": world["room"].pk,
        "video_link": "",
    }


VISIT_KINDS = {
    "numbers": ["minutes", "clinician", "room", "other_clinicians"],
    "dates": ["starts_at"],
    "choices": ["kind", "modality"],
}


def _form_posted(http, response, data, text=(), key="form"):
    _no_500(response, repr(data))
    if response.status_code == 200:
        form = response.context[key]
        if form.is_bound and not form.errors:
            # Valid, but refused by the schedule (a clash): each reason is said on the page.
            problems = response.context.get("problems")
            assert problems, "a valid form came back without saying why it was not saved"
            for problem in problems:
                assert escape(problem) in response.content.decode(), problem
        else:
            _errors_named(response, key)
        if form.is_bound:
            _typed_values_kept(response, data, text, key)
    else:
        assert response.status_code == 302, response.status_code
        _no_500(http.get(response["Location"]), f"after saving, {response['Location']}")


@FUZZ
@given(seed=st.data())
@example(seed="9999")
@example(seed="bigint")
def test_the_booking_form_takes_anything(browser, world, tess, seed):
    body = _visit_body(world)
    fixed = {
        "9999": {**body, "starts_at": "9999-12-31T23:59"},
        "bigint": {**body, "other_clinicians": str(2**63)},
    }
    data = fixed[seed] if isinstance(seed, str) else seed.draw(_body(body, **VISIT_KINDS), label="data")
    http = browser(tess)
    _form_posted(
        http, http.post(reverse("visits:new", args=[world["dosed"].client_id]), data), data, ["video_link"]
    )


@FUZZ
@given(seed=st.data())
def test_the_reschedule_form_takes_anything(browser, world, tess, cora, seed):
    visit = Visit.objects.create(
        client=world["dosed"].client,
        kind=Visit.Kind.THERAPY,
        starts_at=timezone.now() + datetime.timedelta(days=40),
        ends_at=timezone.now() + datetime.timedelta(days=40, hours=1),
        clinician=tess,
        room=world["room"],
        created_by=cora,
    )
    body = {k: v for k, v in _visit_body(world).items() if k != "kind"}
    data = seed.draw(_body(body, **VISIT_KINDS), label="data")
    http = browser(tess)
    url = reverse("visits:reschedule", args=[visit.client_id, visit.pk])
    _form_posted(http, http.post(url, data), data, ["video_link"])


@FUZZ
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "where-clinician": hostile_number,
            "where-modality": hostile_choice,
            "where-room": hostile_number,
            "where-video_link": hostile_value,
            "row-TOTAL_FORMS": hostile_number,
            "row-INITIAL_FORMS": hostile_number,
            "row-MAX_NUM_FORMS": hostile_number,
            "row-0-book": hostile_value,
            "row-0-kind": hostile_choice,
            "row-0-number": hostile_number,
            "row-0-day": hostile_date,
            "row-0-time": hostile_time,
            "row-0-minutes": hostile_number,
        },
    )
)
@example(data={"row-TOTAL_FORMS": str(10**9), "row-INITIAL_FORMS": "0"})
@example(data={"row-TOTAL_FORMS": "-5", "row-INITIAL_FORMS": "0"})
def test_the_series_form_takes_anything(browser, world, tess, data):
    from kapflow.pathway.models import CoursePlan

    client = world["dosed"].client
    if not CoursePlan.objects.filter(client=client).exists():
        CoursePlan.objects.create(client=client, goals="Less dread", planned_sessions=6, updated_by=tess)
    http = browser(tess)
    url = reverse("visits:series", args=[client.pk])
    _no_500(http.get(url, {k: v for k, v in data.items() if k.startswith("where")}), "series GET")
    response = http.post(url, data)
    _no_500(response, repr(data))
    assert response.status_code in (200, 302)


@pytest.mark.parametrize("who", ["tess", "cora"])
@FUZZ
@given(data=st.fixed_dictionaries({}, optional={"reason": hostile_value, "next": hostile_value}))
@example(data={"reason": "\x00"})
@example(data={"reason": "r" * 20000})
def test_the_status_changes_take_anything(browser, world, request, who, cora, data):
    visit = Visit.objects.create(
        client=world["dosed"].client,
        kind=Visit.Kind.THERAPY,
        starts_at=timezone.now() + datetime.timedelta(days=50),
        ends_at=timezone.now() + datetime.timedelta(days=50, hours=1),
        clinician=world["dosed"].clinician,
        room=world["room"],
        created_by=cora,
    )
    http = browser(request.getfixturevalue(who))
    for name in ("check_in", "start", "complete", "no_show", "cancel"):
        response = http.post(reverse(f"visits:{name}", args=[visit.client_id, visit.pk]), data)
        _no_500(response, f"{name} {data!r}")
        assert response.status_code in (302, 403), (name, response.status_code)


# --- The integration forms ----------------------------------------------------------------------

RECORD_TEXT = [
    "themes",
    "emotions",
    "images_memories",
    "parts",
    "lasting_insight",
    "passing_intensity",
    "note",
]


@FUZZ
@given(seed=st.data())
def test_the_integration_record_form_takes_anything(browser, world, tess, seed):
    valid = {name: f"Something about {name}" for name in RECORD_TEXT}
    valid.update({"follows": "", "visit": "", "action_items": "Walk\nCall a friend"})
    data = seed.draw(_body(valid, numbers=["follows", "visit"]), label="data")
    http = browser(tess)
    url = reverse("integration:record_new", args=[world["dosed"].client_id])
    _form_posted(http, http.post(url, data), data, [*RECORD_TEXT, "action_items"])


@FUZZ
@given(data=st.fixed_dictionaries({}, optional={"status": hostile_choice}))
def test_the_action_item_review_takes_anything(browser, world, tess, data):
    http = browser(tess)
    url = reverse("integration:action_item_review", args=[world["item"].client_id, world["item"].pk])
    response = http.post(url, data)
    _no_500(response, repr(data))
    assert response.status_code == 302


# --- Every URL of these apps: wrong methods, no data, ids that do not exist ------------------------


APPS = ("dosing:", "visits:", "integration:", "calendar:")


def _urls(world, *, huge=None):
    """(name, url) for every URL pattern of the runbook, visit and integration apps with real ids;
    with `huge`, each id in turn replaced by it."""
    visit = world["dosed"]
    ids = {
        "client_id": visit.client_id,
        "visit_id": visit.pk,
        "event_id": world["event"].pk,
        "record_id": world["record"].pk,
        "item_id": world["item"].pk,
        "room_id": world["room"].pk,
    }
    for name, converters in INT_PATTERNS:
        if not name.startswith(APPS):
            continue
        kwargs = {key: ids[key] for key in converters}
        if huge is None:
            yield name, reverse(name, kwargs=kwargs)
        else:
            for key in converters:
                yield name, reverse(name, kwargs={**kwargs, key: huge})


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_every_url_answers_any_method_without_a_500(login, world, tess, priya, cora, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    for user in (tess, priya, cora):
        http = login(user)
        for name, url in _urls(world):
            for method in ("get", "post", "put", "delete", "patch"):
                response = getattr(http, method)(url, headers=headers)
                assert response.status_code < 500, f"{user} {method.upper()} {url} ({name})"
                if method in ("put", "delete", "patch") and name in POST_ONLY:
                    assert response.status_code in (403, 404, 405), f"{method} {url}"


# The pages that may be read; every other URL of these apps changes something, by POST only.
PAGES = {
    "dosing:runbook",
    "dosing:live",
    "dosing:rems_pdf",  # the Spravato REMS form of a signed record, as a PDF
    "visits:list",
    "visits:new",
    "visits:series",
    "visits:detail",
    "visits:reschedule",
    "integration:overview",
    "integration:record_new",
    "integration:record_detail",
}
POST_ONLY = {name for name, _converters in INT_PATTERNS if name.startswith(APPS)} - PAGES


def test_the_post_only_urls_refuse_a_get(login, world, tess):
    http = login(tess)
    for name, url in _urls(world):
        if name in POST_ONLY:
            assert http.get(url).status_code == 405, name


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_ids_no_row_can_have_are_not_found(login, world, tess, priya, huge):
    for user in (tess, priya):
        http = login(user)
        for _name, url in _urls(world, huge=huge):
            for method in ("get", "post"):
                response = getattr(http, method)(url)
                assert response.status_code in (403, 404, 405), (
                    f"{method.upper()} {url}: {response.status_code}"
                )
