"""Every page that answers GET, asked with hostile query parameters, answers something other than
500. The pages are those of the access matrix (tests/test_access_matrix.py), each requested by
a persona the matrix says may open it, for that persona's own client.

The parameter names are every name a view reads from the query string (grep request.GET) and a
few it does not; the values come from an alphabet of what Python's parsers accept but a page must
not: digits of other scripts ("١٢" is 12 to int()), "²" (a digit to str.isdigit(), not to int()),
numbers past SQLite's 64-bit integers, and the calendar's first and last days."""

import datetime

import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from kapflow.lib.params import date_param, int_param, parse_date, parse_int
from tests.access_rules import OK, ROLES
from tests.fuzzing import examples
from tests.test_access_matrix import MATRIX

pytestmark = pytest.mark.django_db

QUERY_NAMES = [
    "page",
    "on",
    "who",
    "client",
    "actor",
    "date_from",
    "date_to",
    "action",
    "q",
    "stage",
    "show",
    "status",
    "follows",
    "kind",
    "visit",
    "hours",
    "start",
    "end",
    "first_day",
    "at",
    "next",
    "date",
    # The controlled-substance pages (kapflow/controlled): the stock list, a receipt into a lot, a
    # lot's ledger order, and the reports' lot and drug.
    "empty",
    "lot",
    "order",
    "drug",
    # The audit log's and the reminders' page links (by key), and a client's history lists'
    # "Show all" (kapflow.lib.capped).
    "before",
    "after",
    "past",
    "coming",
    "notes",
    "owed",
    "results",
    "entries",
    "documents",
    "letters",
    "forms",
    "clients",
    "waiting",
    "uncharged",
]

EDGES = [
    "١٢",  # Arabic-Indic digits
    "٣",
    "²",
    "߀",  # NKo digit zero
    "１２",  # full-width
    "-1",
    "0",
    str(2**63),
    str(2**64),
    "9" * 40,
    "9999-12-31",
    "0001-01-01",
    "２０２６-01-01",
    "2026-٠١-01",
    "1e309",
    "NaN",
    "\x00",
    "",
]

hostile_text = st.one_of(
    st.sampled_from(EDGES),
    st.text(alphabet=st.sampled_from("0123456789-١٢٣٤٥٦٧٨٩٠²³¹߀０１２e.+ \x00"), max_size=24),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.dates().map(str),
)
hostile_query = st.dictionaries(st.sampled_from(QUERY_NAMES), hostile_text, max_size=6)


def _get_pages() -> list[tuple[str, object, object]]:
    return sorted(
        (name, rule, kwargs_for) for name, (method, rule, kwargs_for) in MATRIX.items() if method == "get"
    )


GET_PAGES = _get_pages()


def _opener(rule) -> str | None:
    """A persona the access rules let open the page for Avery (Tess's client)."""
    return next((role for role in ROLES if rule(role, "avery") == OK), None)


@pytest.fixture
def visitors(matrix_world, login):
    """Each page's URL with the persona that may open it, signed in once per test."""
    signed_in = {}
    pages = []
    for name, rule, kwargs_for in GET_PAGES:
        role = _opener(rule)
        if role is None:
            continue
        if role not in signed_in:
            signed_in[role] = login(matrix_world.get(role))
        url = reverse(name, kwargs=kwargs_for(matrix_world, matrix_world["avery"]) if kwargs_for else {})
        pages.append((name, url, signed_in[role]))
    return pages


def _ask(http, url, query):
    with transaction.atomic():  # what a page writes (its audit row) is undone before the next
        response = http.get(url, query)
        transaction.set_rollback(True)
    return response


# The edges that raised before kapflow.lib.params, each in every parameter at once (a test each,
# so that the workers share them); the property-based test below mixes the rest.
@pytest.mark.parametrize("edge", ["١٢", "²", str(2**64), "9999-12-31", "0001-01-01", "\x00"])
def test_every_get_page_takes_the_known_edges_in_every_parameter(visitors, edge):
    assert len(visitors) > 40, "the access matrix's pages were not found"
    failures = []
    query = dict.fromkeys(QUERY_NAMES, edge)
    for name, url, http in visitors:
        response = _ask(http, url, query)
        if response.status_code >= 500:
            failures.append(f"{name} {url} ?…={edge!r}: {response.status_code}")
    assert failures == []


@hsettings(max_examples=examples())
@given(page=st.integers(min_value=0, max_value=10_000), query=hostile_query)
@example(page=0, query={"on": "9999-12-31"})
@example(page=0, query={"on": "0001-01-01"})
@example(page=0, query={"page": "١٢", "client": "٣"})
def test_no_get_page_answers_500_to_a_hostile_query(visitors, page, query):
    name, url, http = visitors[page % len(visitors)]
    response = _ask(http, url, query)
    assert response.status_code < 500, f"{name} {url} {query!r}: {response.status_code}"


# The calendar at the edges of the calendar, through its own links.


@pytest.mark.parametrize("view", ["calendar:week", "calendar:day"])
@pytest.mark.parametrize("on", ["9999-12-31", "0001-01-01", "1900-01-01", "2200-12-31"])
def test_the_calendar_at_the_edges_of_time_and_its_previous_and_next_links(view, on, tess, login):
    http = login(tess)
    response = http.get(reverse(view), {"on": on})
    assert response.status_code == 200
    context = response.context
    for link in (context["previous"], context["next"]):
        assert http.get(reverse(view), {"on": link.isoformat()}).status_code == 200


def test_a_date_out_of_range_shows_today(tess, login):
    from django.utils import timezone

    for on in ("9999-12-31", "٢٠٢٦-٠٥-٠٤", "2026-05-04\x00"):
        response = login(tess).get(reverse("calendar:day"), {"on": on})
        assert response.context["first"] == timezone.localdate()


# The helpers themselves.


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("12", 12),
        (" 7 ", 7),
        ("١٢", None),
        ("²", None),
        ("１２", None),
        ("-3", None),  # below the minimum
        (str(2**63), None),
        (str(2**63 - 1), 2**63 - 1),  # the largest id a row can have: nineteen digits
        ("1000000000000000000", 10**18),
        ("9" * 40, None),
        ("1e3", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_int_takes_ascii_digits_in_range_only(raw, expected):
    assert parse_int(raw, minimum=1, maximum=2**63 - 1) == expected


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("2026-03-01", datetime.date(2026, 3, 1)),
        ("9999-12-31", None),
        ("0001-01-01", None),
        ("1899-12-31", None),
        ("2026-02-30", None),
        ("２０２６-03-01", None),
        ("2026-3-1", None),
        ("20260301", None),
        (None, None),
    ],
)
def test_parse_date_takes_iso_dates_in_range_only(raw, expected):
    assert parse_date(raw) == expected


def test_the_param_helpers_fall_back_to_the_default(rf):
    request = rf.get("/", {"page": "١٢", "on": "9999-12-31"})
    assert int_param(request, "page", 1) == 1
    assert date_param(request, "on", datetime.date(2026, 1, 1)) == datetime.date(2026, 1, 1)
    request = rf.get("/", {"page": "12", "on": "2026-05-04"})
    assert int_param(request, "page", 1) == 12
    assert date_param(request, "on", datetime.date(2026, 1, 1)) == datetime.date(2026, 5, 4)


def test_a_nineteen_digit_visit_number_is_a_visit_that_does_not_exist(tess, login):
    """Ids run to 2**63 - 1, nineteen digits: such a number is a visit nobody can see (no badge),
    not a malformed request (400)."""
    response = login(tess).get(reverse("calendar:badges"), {"ids": str(2**63 - 1)})
    assert response.status_code == 200 and response.content.decode().strip() == ""
