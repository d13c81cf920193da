"""Hostile and malformed input. The standard: bad input gets a clear error and loses nothing, and no
request from a user ever produces a 500. PostgreSQL is stricter than SQLite (NUL bytes in text,
the range of bigint), so this file is meant to run on both."""

import datetime

import pytest
from allauth.account.utils import user_pk_to_url_str
from django.urls import URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter
from django.utils.html import escape
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from kapflow.clients.models import CareTeamMember, OutsideProvider
from kapflow.clients.views import CONTACT_KINDS
from kapflow.inquiries.models import Inquiry
from tests import factories
from tests.fuzzing import examples

pytestmark = pytest.mark.django_db

# As many examples as the Hypothesis profile gives (tests/conftest.py: a few by default, dozens in
# CI); the fixed examples below cover the known edges whatever the profile.
HOSTILE = hsettings(max_examples=examples())

# Just past PostgreSQL's bigint, just past an unsigned 64-bit integer, and far past both.
HUGE_IDS = [2**63, 2**64, 99999999999999999999]

NASTY = [
    "\x00",
    "Avery\x00Alvarez",
    "' OR '1'='1' --",
    "1; DROP TABLE clients_client; --",
    "%",
    "_",
    "\\",
    "%00",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ request }}",
    "-1",
    "0",
    "1e309",
    "NaN",
    str(2**63),
    str(2**64),
    str(-(2**63) - 1),
    "9" * 40,
    "9999-12-31",
    "0001-01-01",
    "0000-00-00",
    "2023-02-30",
    "99999-01-01",
    "12/31/9999",
    "\u202eevila",
    "\ufeff",
    "\U0010ffff",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "ﷺ",
    "   ",
    "\r\n",
    "a" * 5000,
]

# Text a person (or a robot) might send: the list above, any unicode (Hypothesis never makes a lone
# surrogate, which cannot travel in a URL or a form body anyway), NUL bytes, and long runs.
hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=60),
    st.text(alphabet=st.sampled_from("\x00\t\n\r %_'\";\\<>&"), max_size=20),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.integers(100, 2000)),
    st.integers().map(str),
    st.integers(min_value=2**62, max_value=2**80).map(str),
    st.dates().map(str),
    st.dates().map(lambda d: d.strftime("%m/%d/%Y")),
)
# A query or form value: usually one, sometimes the same key repeated.
hostile_value = st.one_of(hostile_text, st.lists(hostile_text, min_size=2, max_size=3))


def _no_500(response, what=""):
    assert response.status_code < 500, f"{what}: {response.status_code}"


def _errors_named(response, form_key="form"):
    """A form that did not save comes back with its errors, each in the list of things to fix."""
    form = response.context[form_key]
    if not form.is_bound:
        return  # an empty POST (no browser sends one) just shows the blank form again
    assert form.errors, "the form came back without saying what to fix"
    assert 'id="form-errors"' in response.content.decode(), "no list of things to fix at the top"
    _errors_shown(response, form_key)


def _errors_shown(response, form_key="form"):
    """Whatever is wrong with the form is said on the page."""
    content = response.content.decode()
    for field, errors in response.context[form_key].errors.items():
        for error in errors:
            assert escape(error) in content, f"{field}: {error!r} is not on the page"


def _typed_values_kept(response, data, fields, form_key="form"):
    """Every text field comes back holding exactly what was typed."""
    form = response.context[form_key]
    content = response.content.decode()
    for name in fields:
        value = data.get(name, "")
        if isinstance(value, list):
            value = value[-1]  # the same name sent twice: a form reads the last
        assert (form[name].value() or "") == value, name
        if value.strip():
            assert escape(value) in content, f"{name}: {value[:40]!r} was not kept"


@pytest.fixture
def browser(login):
    """browser(user) -> one signed-in test client per person for the whole test: Hypothesis runs
    a test's body once per example, and signing in afresh each time doubles the run time."""
    clients = {}

    def _browser(user):
        key = getattr(user, "pk", None)
        if key not in clients:
            clients[key] = login(user)
        return clients[key]

    return _browser


# --- Integer path parameters -------------------------------------------------------------------


def _int_patterns():
    """(url name, path converters) for every URL pattern, project-wide, with an int parameter
    (its own or one of an include() above it)."""

    def walk(resolver, namespace, above):
        for entry in resolver.url_patterns:
            converters = {**above, **getattr(entry.pattern, "converters", {})}
            if isinstance(entry, URLResolver):
                inner = ":".join(filter(None, [namespace, entry.namespace]))
                yield from walk(entry, inner, converters)
            elif entry.name and any(isinstance(c, IntConverter) for c in converters.values()):
                yield ":".join(filter(None, [namespace, entry.name])), converters

    return sorted(walk(get_resolver(), "", {}), key=lambda pattern: pattern[0])


INT_PATTERNS = _int_patterns()


def test_the_int_patterns_are_found_through_includes():
    names = {name for name, _converters in INT_PATTERNS}
    expected = {"clients:chart", "clients:contact_remove", "inquiries:decline", "accounts:staff_reactivate"}
    assert expected <= names


@pytest.fixture
def world(tess, priya, ada, avery):
    """One of everything a URL can point at, so each int parameter can be tried alone with real
    values in the others."""
    guardian = factories.add_guardian(avery)
    provider = OutsideProvider.objects.create(client=avery, name="Dr Reyes", kind="psychiatrist")
    inquiry = Inquiry.objects.create(first_name="Ivy", last_name="Inquirer", message="Hello")
    return {
        "client_id": avery.pk,
        "member_id": avery.care_team.get(user=priya).pk,
        "inquiry_id": inquiry.pk,
        "user_id": priya.pk,
        "contact_id": {
            "guardians": guardian.pk,
            "emergency-contacts": avery.emergency_contacts.get().pk,
            "providers": provider.pk,
        },
    }


def _urls_with_one_huge_id(world, huge):
    """Each int parameter of each pattern in turn set to `huge`, the others real where `world`
    has one (a parameter it does not know is huge too, and a slug it does not know is "x")."""
    for name, converters in INT_PATTERNS:
        kinds = CONTACT_KINDS if "kind" in converters else [None]
        for kind in kinds:
            real = {}
            for key, converter in converters.items():
                if key == "kind":
                    real[key] = kind
                elif key == "contact_id":
                    real[key] = world[key][kind]
                elif isinstance(converter, IntConverter):
                    real[key] = world.get(key, huge)
                else:
                    real[key] = "x"
            for key, converter in converters.items():
                if isinstance(converter, IntConverter):
                    yield reverse(name, kwargs={**real, key: huge})


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_a_huge_id_in_any_url_is_not_found(login, world, ada, tess, huge):
    """Django's int converter takes digits of any length; a bigint column does not. Django guards
    primary-key lookups against such numbers, but not every lookup (a foreign key compared on
    SQLite raises OverflowError). An id no row can have is simply not found: every pattern, each
    int parameter in turn, by GET (and POST for the first number)."""
    as_ada, as_tess = login(ada), login(tess)
    failures = []
    urls = list(_urls_with_one_huge_id(world, huge))
    assert len(urls) > len(INT_PATTERNS)
    for url in urls:
        tries = [("GET", as_ada.get)]
        if huge == HUGE_IDS[0]:
            tries.append(("POST", as_ada.post))
        if huge == HUGE_IDS[1] and url.startswith("/clients/"):
            # Tess may not open the inbox or staff pages at all (403 before any lookup);
            # her client lookups go through the care-team scoping.
            tries.append(("GET as Tess", as_tess.get))
        for how, method in tries:
            response = method(url)
            # 403: a page her role may not open at all is refused before any lookup.
            if response.status_code not in (403, 404, 405):
                failures.append(f"{how} {url}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_a_huge_id_in_the_password_link_is_refused(login, tess):
    """allauth's set-password link carries the user's id in base 36 (thirteen z's is past bigint)
    and a token that is anything up to the last slash."""
    visitor = login(None)
    for uid in ("zzzzzzzzzzzzz", "1" * 13, "0", "1" * 14):
        _no_500(visitor.get(f"/accounts/password/reset/key/{uid}-set-password/"), uid)
    own = user_pk_to_url_str(tess)
    for key in ("%00", "%ff%fe", "x" * 5000, "a-b-c", "%2e%2e"):
        _no_500(visitor.get(f"/accounts/password/reset/key/{own}-{key}/"), key)


# --- Query parameters on list pages ------------------------------------------------------------


def _query(keys):
    return st.fixed_dictionaries({}, optional=dict.fromkeys(keys, hostile_value))


@HOSTILE
@given(params=_query(["q", "stage", "page"]), htmx=st.booleans())
@example(params={"q": "\x00", "stage": "\x00", "page": "\x00"}, htmx=False)
@example(params={"q": "x" * 100_000, "page": str(2**64)}, htmx=True)
@example(params={"page": "-1"}, htmx=False)
@example(params={"q": "02/30/1990"}, htmx=False)
@example(params={"q": "9999-12-31"}, htmx=False)
@example(params={"q": "(((((555"}, htmx=False)
def test_the_caseload_search_takes_anything(browser, tess, avery, params, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = browser(tess).get("/clients/", params, headers=headers)
    assert response.status_code == 200
    if not htmx:  # htmx asks for the rows alone; the search box stays as it was typed
        _errors_shown(response)
        _typed_values_kept(response, params, ["q"])


@HOSTILE
@given(params=_query(["show", "page"]))
@example(params={"show": "\x00", "page": "\x00"})
@example(params={"show": "converted", "page": str(-(2**64))})
def test_the_inquiry_inbox_takes_anything(browser, cora, params):
    Inquiry.objects.get_or_create(first_name="Ivy", last_name="Inquirer", message="Hello")
    response = browser(cora).get("/inquiries/", params)
    assert response.status_code == 200


@HOSTILE
@given(params=_query(["client", "actor", "date_from", "date_to", "action", "page"]))
@example(params={"client": str(2**63)})
@example(params={"client": str(2**63), "actor": str(2**64), "page": str(2**64)})
@example(params={"client": "-5", "actor": "\x00", "action": "\x00"})
@example(params={"date_from": "0001-01-01", "date_to": "0001-01-01"})
@example(params={"date_from": "9999-12-31", "date_to": "9999-12-31"})
@example(params={"date_from": "2024-02-30", "date_to": "1999-13-01"})
@example(params={"date_from": "2025-01-02", "date_to": "2025-01-01"})
@example(params={"action": "%' OR 1=1 --"})
def test_the_audit_log_filters_take_anything(browser, ada, avery, params):
    response = browser(ada).get("/audit/", params)
    assert response.status_code == 200
    _errors_shown(response)
    _typed_values_kept(response, params, ["client", "date_from", "date_to", "action"])


def test_the_audit_log_says_what_is_wrong_with_a_filter(login, ada):
    params = {"client": "K-12", "date_from": "2025-02-30", "action": "viewed"}
    response = login(ada).get("/audit/", params)
    assert response.status_code == 200
    _errors_named(response)
    _typed_values_kept(response, params, ["client", "date_from", "action"])


def test_the_audit_log_refuses_a_record_number_no_client_can_have(login, ada, avery):
    """The client filter compares a foreign key, which Django does not guard against a number
    past bigint the way it guards primary keys: SQLite raises OverflowError on the comparison."""
    params = {"client": str(2**63)}
    response = login(ada).get("/audit/", params)
    assert response.status_code == 200
    _errors_named(response)
    assert "No client has a record number this large." in response.content.decode()
    _typed_values_kept(response, params, ["client"])


@pytest.mark.parametrize("time_zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])  # UTC+14, UTC-11
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_the_audit_log_dates_at_the_ends_of_the_calendar(login, ada, settings, time_zone, day):
    """The first and last days of the calendar have no day before or after, in UTC or in the
    practice's time zone: the filter asks for a date it can use instead of crashing."""
    settings.TIME_ZONE = time_zone
    params = {"date_from": day, "date_to": day}
    response = login(ada).get("/audit/", params)
    assert response.status_code == 200
    _errors_named(response)
    assert "Enter a date between the years 1900 and 2999." in response.content.decode()
    _typed_values_kept(response, params, ["date_from", "date_to"])


# --- Form bodies -------------------------------------------------------------------------------


def _body(valid: dict, extra=()):
    """A valid form with any of its fields (and a few it does not have) replaced by hostile
    values, so both the error path and the save path see odd input."""
    keys = [*valid, *extra]
    return st.fixed_dictionaries({}, optional=dict.fromkeys(keys, hostile_value)).map(
        lambda hostile: {**valid, **hostile}
    )


def _born(age=35):
    today = datetime.date.today()
    return str(today.replace(year=today.year - age, day=1))


CLIENT_VALID = {
    "first_name": "Rowan",
    "last_name": "Rivera",
    "preferred_name": "",
    "pronouns": "they/them",
    "date_of_birth": _born(),
    "email": "rowan@example.org",
    "phone": "(818) 555-0123",
    "preferred_contact": "phone",
    "address_line": "1 Main St",
    "city": "Burbank",
    "region": "CA",
    "postal_code": "91501",
    "stage": "consultation",
}
CLIENT_TEXT = [
    "first_name",
    "last_name",
    "preferred_name",
    "pronouns",
    "date_of_birth",
    "email",
    "phone",
    "address_line",
    "city",
    "region",
    "postal_code",
]
INQUIRY_VALID = {
    "first_name": "Ivy",
    "last_name": "Inquirer",
    "email": "ivy@example.org",
    "phone": "",
    "preferred_contact": "email",
    "preferred_time": "any",
    "message": "I would like to talk about whether this is right for me.",
    "source": "",
    "website": "",
}
INQUIRY_TEXT = ["first_name", "last_name", "email", "phone", "message"]
GUARDIAN_VALID = {
    "name": "Pat",
    "relationship": "mother",
    "phone": "555-0100",
    "email": "",
    "has_legal_authority": "on",
}
CONTACT_VALID = {"name": "Sam", "relationship": "partner", "phone": "555-0199"}
PROVIDER_VALID = {
    "name": "Dr Reyes",
    "kind": "psychiatrist",
    "organisation": "",
    "phone": "",
    "email": "",
    "release": "signed",
    "release_expires_on": "2030-01-01",
}
STAFF_VALID = {
    "full_name": "Nova Nurse",
    "email": "nova@example.org",
    "credentials": "RN",
    "is_coordinator": "on",
}
PRACTICE_VALID = {
    "name": "Calm Practice",
    "phone": "555-0100",
    "email": "hello@example.org",
    "address": "1 Main St",
    "inquiry_intro": "Hello.",
    "open_caseload": "",
}
PRACTICE_TEXT = ["name", "phone", "email", "address", "inquiry_intro"]


def _posted(response, data, text=(), form_key="form"):
    """Never a 500. A form that saved redirects (or, on the public page, may be rate-limited); one
    that did not comes back saying what to fix, each text box holding what was typed."""
    _no_500(response)
    if response.status_code == 200:
        _errors_named(response, form_key)
        if response.context[form_key].is_bound:
            _typed_values_kept(response, data, text, form_key)
    else:
        assert response.status_code in (302, 429), response.status_code


@HOSTILE
@given(data=_body(INQUIRY_VALID, extra=["csrfmiddlewaretoken", "status", "ip_address"]))
@example(data={"first_name": "\x00"})
@example(data={**INQUIRY_VALID, "message": "x" * 100_000})
@example(data={**INQUIRY_VALID, "preferred_contact": ["email", "phone"]})
def test_the_public_inquiry_form_takes_anything(browser, data):
    _posted(browser(None).post("/start/", data), data, INQUIRY_TEXT)


@HOSTILE
@given(data=_body(CLIENT_VALID, extra=["primary_therapist", "created_by", "phone_digits"]))
@example(data={**CLIENT_VALID, "primary_therapist": str(2**64)})
@example(data={**CLIENT_VALID, "primary_therapist": "\x00"})
@example(data={**CLIENT_VALID, "date_of_birth": "0001-01-01"})
@example(data={**CLIENT_VALID, "phone": "9" * 40})
@example(data={**CLIENT_VALID, "phone": "+1 (818) 555-0101 ext. 12345678901234567890"})
def test_the_new_client_form_takes_anything(browser, tess, data):
    _posted(browser(tess).post("/clients/new/", data), data, CLIENT_TEXT)


@HOSTILE
@given(data=_body(CLIENT_VALID))
def test_the_client_edit_form_takes_anything(browser, tess, avery, data):
    _posted(browser(tess).post(f"/clients/{avery.pk}/edit/", data), data, CLIENT_TEXT)


@HOSTILE
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "user": st.one_of(hostile_value, st.sampled_from(["tess", "priya", "cora"])),
            "role": st.one_of(hostile_value, st.sampled_from(["primary_therapist", "prescriber", "other"])),
        },
    )
)
@example(data={"user": str(2**63), "role": "other"})
@example(data={"user": "\x00", "role": "\x00"})
@example(data={"user": "priya", "role": "prescriber"})  # valid: the confirmation step (CI found it)
def test_the_care_team_form_takes_anything(browser, tess, priya, cora, avery, data):
    people = {"tess": tess.pk, "priya": priya.pk, "cora": cora.pk}
    if isinstance(data.get("user"), str) and data["user"] in people:
        data = {**data, "user": people[data["user"]]}
    response = browser(tess).post(f"/clients/{avery.pk}/care-team/", data)
    if response.status_code == 200 and "clients/care_team_confirm.html" in [
        t.name for t in response.templates
    ]:
        # A valid person and role: the second step, "Add … as …?", asks before anything is saved.
        assert response.context["candidate"].pk == data["user"] and data["role"] in CareTeamMember.Role.values
        return
    _posted(response, data)


@HOSTILE
@given(
    kind=st.sampled_from(sorted(CONTACT_KINDS)),
    edit=st.booleans(),
    guardian=_body(GUARDIAN_VALID),
    contact=_body(CONTACT_VALID),
    provider=_body(PROVIDER_VALID),
)
@example(
    kind="providers",
    edit=False,
    guardian=GUARDIAN_VALID,
    contact=CONTACT_VALID,
    provider={**PROVIDER_VALID, "email": "dr@" + "x" * 300},
)
def test_the_contact_forms_take_anything(browser, tess, avery, kind, edit, guardian, contact, provider):
    data, text = {
        "guardians": (guardian, ["name", "relationship", "phone", "email"]),
        "emergency-contacts": (contact, ["name", "relationship", "phone"]),
        "providers": (provider, ["name", "organisation", "phone", "email"]),
    }[kind]
    url = f"/clients/{avery.pk}/{kind}/new/"
    if edit:
        existing = {
            "guardians": lambda: factories.add_guardian(avery),
            "emergency-contacts": lambda: factories.add_emergency_contact(avery),
            "providers": lambda: OutsideProvider.objects.create(client=avery, name="Dr X", kind="other"),
        }[kind]()
        url = f"/clients/{avery.pk}/{kind}/{existing.pk}/"
    _posted(browser(tess).post(url, data), data, text)


def _new_inquiry():
    return Inquiry.objects.create(
        first_name="Ivy", last_name="Inquirer", email="ivy@example.org", message="Hello"
    )


@HOSTILE
@given(
    data=st.fixed_dictionaries(
        {}, optional={"status": st.one_of(hostile_value, st.just("contacted")), "triage_note": hostile_value}
    )
)
@example(data={"status": "converted", "triage_note": "sneaky"})
@example(data={"status": "contacted", "triage_note": "\x00"})
def test_the_triage_form_takes_anything(browser, cora, data):
    inquiry = _new_inquiry()
    _posted(browser(cora).post(f"/inquiries/{inquiry.pk}/", data), data, ["triage_note"])


@HOSTILE
@given(data=st.fixed_dictionaries({}, optional={"reason": hostile_value}))
@example(data={"reason": "\x00"})
@example(data={"reason": "x" * 2001})
def test_the_decline_form_takes_anything(browser, cora, data):
    inquiry = _new_inquiry()
    response = browser(cora).post(f"/inquiries/{inquiry.pk}/decline/", data)
    _posted(response, data, ["reason"], form_key="decline_form")


@HOSTILE
@given(data=_body(CLIENT_VALID, extra=["primary_therapist"]))
def test_the_convert_form_takes_anything(browser, cora, data):
    inquiry = _new_inquiry()
    _posted(browser(cora).post(f"/inquiries/{inquiry.pk}/convert/", data), data, CLIENT_TEXT)


STAFF_FLAGS = ["is_practice_admin", "is_therapist", "is_prescriber", "is_coordinator", "is_active"]


@HOSTILE
@given(data=_body(STAFF_VALID, extra=STAFF_FLAGS), whom=st.sampled_from(["new", "tess", "self"]))
@example(data={**STAFF_VALID, "email": "TESS@example.org"}, whom="new")
@example(data={**STAFF_VALID, "email": "nova@exämple.org"}, whom="new")
@example(data={**STAFF_VALID, "email": "ada@example.org"}, whom="self")  # not an admin any more
def test_the_staff_forms_take_anything(browser, ada, tess, data, whom):
    url = {"new": "/staff/invite/", "tess": f"/staff/{tess.pk}/", "self": f"/staff/{ada.pk}/"}[whom]
    _posted(browser(ada).post(url, data), data, ["full_name", "email", "credentials"])


@HOSTILE
@given(data=_body(PRACTICE_VALID, extra=["id", "updated_at"]))
def test_the_practice_settings_take_anything(browser, ada, data):
    _posted(browser(ada).post("/settings/", data), data, PRACTICE_TEXT)


FORM_URLS = [
    ("/start/", None),
    ("/clients/new/", "tess"),
    ("/clients/{avery}/edit/", "tess"),
    ("/clients/{avery}/care-team/", "tess"),
    ("/clients/{avery}/guardians/new/", "tess"),
    ("/clients/{avery}/emergency-contacts/new/", "tess"),
    ("/clients/{avery}/providers/new/", "tess"),
    ("/inquiries/{inquiry}/", "cora"),
    ("/inquiries/{inquiry}/convert/", "cora"),
    ("/inquiries/{inquiry}/decline/", "cora"),
    ("/staff/invite/", "ada"),
    ("/staff/{priya}/", "ada"),
    ("/settings/", "ada"),
]


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"", "application/x-www-form-urlencoded"),
        (b'{"first_name": "Ivy"}', "application/json"),
        (b"first_name=%ff%fe%00&last_name=%E0%80%80&email=%C0%AF", "application/x-www-form-urlencoded"),
        (b"--x\r\nContent-Disposition: form-data; name=\r\n\r\n--x--", "multipart/form-data; boundary=x"),
        (b"garbage", "multipart/form-data"),
        (b"a=1&" * 1001, "application/x-www-form-urlencoded"),
        (b"a=" + b"x" * 3_000_000, "application/x-www-form-urlencoded"),
    ],
    ids=["empty", "json", "bad-utf8", "bad-multipart", "no-boundary", "too-many-fields", "too-big"],
)
def test_a_mangled_body_is_refused_not_crashed(browser, tess, cora, ada, avery, priya, body, content_type):
    """Bodies no browser sends: every form page answers them with a page or a 400."""
    people = {None: None, "tess": tess, "cora": cora, "ada": ada}
    for url, who in FORM_URLS:
        url = url.format(avery=avery.pk, inquiry=_new_inquiry().pk, priya=priya.pk)
        response = browser(people[who]).generic("POST", url, body, content_type=content_type)
        _no_500(response, url)


@HOSTILE
@given(
    login_data=_body(
        {"login": "tess@example.org", "password": "not the password"}, extra=["next", "remember"]
    ),
    reset_data=_body({"email": "tess@example.org"}),
    next_url=hostile_text,
)
@example(login_data={"login": "\x00", "password": "\x00"}, reset_data={"email": "\x00"}, next_url="\x00")
@example(
    login_data={"login": "tess@example.org", "password": "x" * 100_000},
    reset_data={"email": "a@" + "b" * 300 + ".org"},
    next_url="//evil.example.org/",
)
def test_the_sign_in_pages_take_anything(browser, tess, login_data, reset_data, next_url):
    """allauth's forms are the other pages a stranger can reach."""
    visitor = browser(None)
    _no_500(visitor.get("/accounts/login/", {"next": next_url}), "login GET")
    _no_500(visitor.post("/accounts/login/", login_data), "login POST")
    _no_500(visitor.post("/accounts/password/reset/", reset_data), "reset POST")
    _no_500(visitor.post("/accounts/2fa/authenticate/", {"code": next_url}), "2fa POST")


@pytest.mark.parametrize(
    "forwarded",
    ["not-an-address", "\x00", "1.2.3.4, <script>", "999.999.999.999", "1.2.3.4:443", ", ,", "x" * 300],
)
def test_a_forged_forwarded_address_is_not_saved_as_one(login, settings, tess, avery, forwarded):
    """Behind the proxy the last X-Forwarded-For hop is the caller's address. Should the proxy
    ever be bypassed, that header is the caller's own words; it must not crash the audit row (an
    inet column on PostgreSQL) or the inquiry it is saved with."""
    settings.BEHIND_PROXY = True
    headers = {"X-Forwarded-For": forwarded}
    response = login(tess).get(f"/clients/{avery.pk}/", headers=headers)
    assert response.status_code == 200
    response = login(None).post("/start/", INQUIRY_VALID, headers=headers)
    assert response.status_code == 302
    assert Inquiry.objects.get().ip_address in (None, "127.0.0.1")


def test_a_line_break_in_the_practice_name_does_not_break_its_emails(
    login, ada, mailoutbox, django_capture_on_commit_callbacks
):
    """A text box cannot hold a line break, but a hand-made request can. The practice name goes
    into email subjects, where a line break is refused (header injection)."""
    response = login(ada).post("/settings/", {**PRACTICE_VALID, "name": "Calm\r\nBcc: everyone@example.org"})
    assert response.status_code in (200, 302)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(None).post("/start/", INQUIRY_VALID)
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        response = login(ada).post("/staff/invite/", STAFF_VALID)
    assert response.status_code == 302
    assert len(mailoutbox) == 2
    for message in mailoutbox:
        assert "\n" not in message.subject and "\r" not in message.subject
        assert message.to in (["ivy@example.org"], ["nova@example.org"])


# --- What comes back: what was typed, and what to fix ------------------------------------------


def test_the_public_form_keeps_what_was_typed(login):
    data = {
        **INQUIRY_VALID,
        "first_name": "Ivy\x00",
        "last_name": "O'Brien <Ivy> & co" + "x" * 80,
        "email": "ivy at example dot org",
        "message": "Line one\r\nLine two — “quoted” ünïcödé 𝔘",
    }
    response = login(None).post("/start/", data)
    assert response.status_code == 200
    _errors_named(response)
    _typed_values_kept(response, data, ["first_name", "last_name", "email", "message"])
    assert "Null characters are not allowed." in response.content.decode()
    assert not Inquiry.objects.exists()


def test_the_new_client_form_keeps_what_was_typed(login, tess):
    data = {
        **CLIENT_VALID,
        "first_name": "R" * 81,
        "preferred_name": "Ro\x00",
        "date_of_birth": "1990-02-30",
        "email": "rowan@",
        "phone": "(818) 555-0123 ☎",
        "city": "Burbank'; DROP TABLE clients_client; --",
        "primary_therapist": str(2**64),
    }
    response = login(tess).post("/clients/new/", data)
    assert response.status_code == 200
    _errors_named(response)
    form = response.context["form"]
    assert set(form.errors) >= {"first_name", "preferred_name", "date_of_birth", "email", "primary_therapist"}
    _typed_values_kept(response, data, CLIENT_TEXT)


def test_the_client_edit_form_keeps_what_was_typed(login, tess, avery):
    data = {**CLIENT_VALID, "last_name": "", "date_of_birth": "12/31/9999", "preferred_contact": "email"}
    data["email"] = ""
    response = login(tess).post(f"/clients/{avery.pk}/edit/", data)
    assert response.status_code == 200
    _errors_named(response)
    assert set(response.context["form"].errors) == {"last_name", "date_of_birth", "email"}
    _typed_values_kept(response, data, CLIENT_TEXT)
    avery.refresh_from_db()
    assert avery.last_name == "Alvarez"


def test_the_contact_form_keeps_what_was_typed(login, tess, avery):
    data = {
        **PROVIDER_VALID,
        "name": "Dr\x00 Reyes",
        "email": "not an address",
    }
    response = login(tess).post(f"/clients/{avery.pk}/providers/new/", data)
    assert response.status_code == 200
    _errors_named(response)
    _typed_values_kept(response, data, ["name", "organisation", "phone", "email"])


def test_the_decline_form_keeps_what_was_typed(login, cora):
    inquiry = _new_inquiry()
    data = {"reason": "Referred on — " + "x" * 2000}
    response = login(cora).post(f"/inquiries/{inquiry.pk}/decline/", data)
    assert response.status_code == 200
    _errors_named(response, "decline_form")
    _typed_values_kept(response, data, ["reason"], form_key="decline_form")
    inquiry.refresh_from_db()
    assert inquiry.is_open


def test_the_staff_form_keeps_what_was_typed(login, ada):
    data = {"full_name": "Nova\x00", "email": "TESS@EXAMPLE.ORG", "credentials": "R" * 300}
    factories.make_user("Tess", email="tess@example.org")
    response = login(ada).post("/staff/invite/", data)
    assert response.status_code == 200
    _errors_named(response)
    assert "already has an account" in response.content.decode()
    _typed_values_kept(response, data, ["full_name", "email", "credentials"])


def test_the_practice_form_keeps_what_was_typed(login, ada):
    data = {**PRACTICE_VALID, "name": "", "email": "not-an-email", "inquiry_intro": "Hi\x00 there"}
    response = login(ada).post("/settings/", data)
    assert response.status_code == 200
    _errors_named(response)
    _typed_values_kept(response, data, ["name", "phone", "email", "address", "inquiry_intro"])
