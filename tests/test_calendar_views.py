"""The calendars (issue 12, item 3): a week and a day as a time grid with conflicts flagged, the
month, the practice's day by clinician and by room, the readiness badges of the sessions shown in
one request with one audit row, who sees what, bad query strings, and the cost: the same queries
and a bounded page however many visits there are."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.visits import calendar
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.query_checks import asked_twice

# A week well ahead, so that nothing on it is today's: Monday and the days after it.
MONDAY = timezone.localdate() + datetime.timedelta(days=14 - timezone.localdate().weekday())


def at(day_offset, hour, minute=0):
    day = MONDAY + datetime.timedelta(days=day_offset)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


@pytest.fixture
def room(db):
    return Room.objects.create(name="Room 1")


@pytest.fixture
def room2(db):
    return Room.objects.create(name="Room 2")


def visit(client, clinician, room, start, minutes=60, kind="therapy", **fields):
    return Visit.objects.create(
        client=client,
        kind=kind,
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=minutes),
        room=room,
        clinician=clinician,
        created_by=clinician,
        **fields,
    )


def week(http, who=None, on=MONDAY, **query):
    params = {"on": on.isoformat(), **query}
    if who is not None:
        params["who"] = who
    response = http.get(reverse("calendar:week"), params)
    assert response.status_code == 200
    return response


def blocks(response):
    return {block.visit.pk: block for column in response.context["grid"].columns for block in column.blocks}


# --- The week as a grid -------------------------------------------------------------------------


def test_a_visit_is_placed_by_its_start_and_sized_by_its_length(tess, avery, room, login):
    booked = visit(avery, tess, room, at(2, 9, 30), minutes=90)
    response = week(login(tess))
    grid = response.context["grid"]
    assert (grid.first_hour, grid.last_hour) == (calendar.WORKDAY_STARTS, calendar.WORKDAY_ENDS)
    wednesday = grid.columns[2]
    assert wednesday.day == MONDAY + datetime.timedelta(days=2)
    (block,) = wednesday.blocks
    # 09:30 is 2.5 hours after 07:00: slot 31 of five minutes; 90 minutes span 18 slots.
    assert (block.visit, block.row, block.span, block.lane, block.lanes) == (booked, 31, 18, 0, 1)
    html = response.content.decode()
    assert 'class="ev r-31 s-18 l0-1 k-therapy st-scheduled"' in html
    assert "Avery A." in html and "09:30–11:00" in html and "Room 1" in html
    assert "style=" not in html  # the page's CSP forbids inline styles: classes place the blocks


def test_the_grid_stretches_to_a_visit_outside_the_working_day(tess, avery, room, login):
    visit(avery, tess, room, at(0, 6, 15), minutes=30)
    visit(avery, tess, room, at(4, 20, 30), minutes=60)
    grid = week(login(tess)).context["grid"]
    assert (grid.first_hour, grid.last_hour) == (6, 22)
    assert grid.labels[0] == (1, "06:00") and grid.labels[-1] == (15 * 12 + 1, "21:00")
    (early,) = grid.columns[0].blocks
    assert (early.row, early.span) == (4, 6)


def test_a_visit_past_midnight_shows_on_both_days(tess, avery, room, login):
    late = visit(avery, tess, room, at(1, 23, 0), minutes=120)
    grid = week(login(tess)).context["grid"]
    (tuesday,) = grid.columns[1].blocks
    (wednesday,) = grid.columns[2].blocks
    assert tuesday.visit == wednesday.visit == late
    assert tuesday.goes_on and not tuesday.from_before
    assert wednesday.from_before and wednesday.row == 1
    assert (grid.first_hour, grid.last_hour) == (0, 24)


def test_a_double_booking_is_side_by_side_and_flagged_in_words(tess, avery, olive, colin, room, room2, login):
    first = visit(avery, tess, room, at(1, 10))
    second = visit(olive, tess, room2, at(1, 10, 30))
    response = week(login(tess))
    placed = blocks(response)
    assert (placed[first.pk].lane, placed[first.pk].lanes) == (0, 2)
    assert (placed[second.pk].lane, placed[second.pk].lanes) == (1, 2)
    assert placed[first.pk].conflict == placed[second.pk].conflict == ["clinician"]
    html = response.content.decode()
    assert html.count('<strong class="ev-cf" title="Conflict: same clinician">Conflict') == 2
    assert html.count(" cf") >= 2 and "2 in conflict" in html


def test_overlapping_visits_of_different_clinicians_and_rooms_are_no_conflict(
    tess, colin, avery, olive, cora, room, room2, login
):
    visit(avery, tess, room, at(1, 10))
    visit(olive, colin, room2, at(1, 10))
    response = week(login(cora), who="practice")
    assert [(b.lanes, b.conflict) for b in blocks(response).values()] == [(2, []), (2, [])]
    assert "Conflict" not in response.content.decode().replace("“Conflict”", "")


def test_a_shared_room_is_a_conflict_even_across_clinicians(tess, colin, avery, olive, cora, room, login):
    visit(avery, tess, room, at(1, 10))
    visit(olive, colin, room, at(1, 10, 45))
    placed = blocks(week(login(cora), who="practice"))
    assert [b.conflict for b in placed.values()] == [["room"], ["room"]]


def test_two_busy_blocks_are_not_flagged_for_sharing_a_client_the_viewer_may_not_see(
    tess, colin, avery, olive, cora, room, room2, login
):
    """Colin may not see Avery: two of her visits at once, with Tess in two rooms, would tell him
    that two "Busy" blocks are one person's. He sees no conflict; Tess and the coordinator do."""
    other = factories.make_user("Tom Other", roles=("is_therapist",))
    first = visit(avery, tess, room, at(1, 10))
    second = visit(avery, other, room2, at(1, 10, 30))
    placed = blocks(week(login(colin), who="practice"))
    assert [placed[first.pk].conflict, placed[second.pk].conflict] == [[], []]
    placed = blocks(week(login(cora), who="practice"))
    assert [placed[first.pk].conflict, placed[second.pk].conflict] == [["client"], ["client"]]


def test_touching_visits_are_neither_side_by_side_nor_in_conflict(tess, avery, room, login):
    visit(avery, tess, room, at(0, 9))
    visit(avery, tess, room, at(0, 10))
    placed = blocks(week(login(tess)))
    assert [(b.lanes, b.conflict) for b in placed.values()] == [(1, []), (1, [])]


def test_more_visits_at_once_than_lanes_are_counted_in_a_link_to_the_day(tess, cora, room, login):
    clients = [factories.make_client(first_name=f"C{n}", therapist=tess) for n in range(7)]
    for client in clients:
        visit(client, tess, room, at(3, 9))
    response = week(login(cora), who=str(tess.pk))
    thursday = response.context["grid"].columns[3]
    assert len(thursday.blocks) == calendar.MAX_LANES - 1
    (more,) = thursday.more
    assert more.count == 7 - (calendar.MAX_LANES - 1)
    html = response.content.decode()
    day_link = f"{reverse('calendar:day')}?who={tess.pk}&amp;on={thursday.day.isoformat()}"
    assert f'href="{day_link}">+4 more, <strong>in conflict</strong></a>' in html


def test_cancelled_visits_hold_no_time(tess, avery, room, login):
    visit(avery, tess, room, at(0, 9), status=Visit.Status.CANCELLED, cancel_reason="Ill")
    response = week(login(tess))
    assert blocks(response) == {} and response.context["count"] == 0


def test_a_room_has_its_own_week(tess, colin, avery, olive, cora, room, room2, login):
    mine = visit(avery, tess, room, at(0, 9))
    visit(olive, colin, room2, at(0, 9))
    response = week(login(cora), who=f"room-{room.pk}")
    assert list(blocks(response)) == [mine.pk]
    assert response.context["title"].startswith("Room 1, week:")


# --- The practice's day --------------------------------------------------------------------------


def test_the_practice_day_has_a_column_per_clinician(
    tess, colin, priya, avery, olive, cora, room, room2, login
):
    joint = visit(avery, tess, room, at(0, 9))
    joint.other_clinicians.add(priya)
    other = visit(olive, colin, room2, at(0, 9))
    response = login(cora).get(reverse("calendar:day"), {"who": "practice", "on": MONDAY.isoformat()})
    assert response.status_code == 200
    columns = {c.label: [b.visit.pk for b in c.blocks] for c in response.context["grid"].columns}
    assert columns == {
        "Colin Colleague": [other.pk],
        "Priya Prescriber": [joint.pk],
        "Tess Therapist": [joint.pk],
    }
    html = response.content.decode()
    assert html.count('class="tg-head') == 3 and "By room" in html


def test_a_visit_with_two_joining_clinicians_is_one_block_and_clashes_through_either(
    tess, colin, priya, avery, olive, cora, room, room2, login
):
    """The grid reads a visit's joining clinicians with the visit (a row each): it is still one
    visit, in each of its clinicians' columns, and clashes with another visit of any of them."""
    joint = visit(avery, tess, room, at(0, 9))
    joint.other_clinicians.add(priya, colin)
    other = visit(olive, colin, room2, at(0, 9, 30))
    http = login(cora)
    response = week(http, who="practice")
    week_blocks = blocks(response)
    assert set(week_blocks) == {joint.pk, other.pk} and response.context["count"] == 2
    assert week_blocks[joint.pk].conflict == ["clinician"] == week_blocks[other.pk].conflict
    response = http.get(reverse("calendar:day"), {"who": "practice", "on": MONDAY.isoformat()})
    columns = {c.label: [b.visit.pk for b in c.blocks] for c in response.context["grid"].columns}
    assert columns["Priya Prescriber"] == [joint.pk] and columns["Tess Therapist"] == [joint.pk]
    assert columns["Colin Colleague"] == [joint.pk, other.pk]


def test_the_practice_day_by_room_has_a_column_per_room_and_one_for_video(
    tess, colin, avery, olive, cora, room, login
):
    in_room = visit(avery, tess, room, at(0, 9))
    online = visit(olive, colin, None, at(0, 9), modality=Visit.Modality.VIRTUAL)
    response = login(cora).get(
        reverse("calendar:day"), {"who": "practice", "on": MONDAY.isoformat(), "by": "room"}
    )
    columns = {c.label: [b.visit.pk for b in c.blocks] for c in response.context["grid"].columns}
    assert columns == {"Room 1": [in_room.pk], "Video": [online.pk]}
    assert response.context["links"]["next"].endswith("by=room")


def test_a_clinicians_day_is_one_column(tess, avery, room, login):
    visit(avery, tess, room, at(0, 9))
    response = login(tess).get(reverse("calendar:day"), {"on": MONDAY.isoformat()})
    (column,) = response.context["grid"].columns
    assert len(column.blocks) == 1 and response.context["title"].startswith("Your day:")


# --- The month -------------------------------------------------------------------------------------


def test_the_month_counts_each_day_and_lists_the_first_few(tess, avery, room, login):
    day = MONDAY + datetime.timedelta(days=1)
    for hour in range(8, 14):
        visit(avery, tess, room, at(1, hour))
    response = login(tess).get(reverse("calendar:month"), {"on": day.isoformat()})
    assert response.status_code == 200
    weeks = response.context["weeks"]
    assert weeks[0][0].day.weekday() == 0 and all(len(w) == 7 for w in weeks)
    (cell,) = [d for w in weeks for d in w if d.day == day]
    assert cell.count == 6 and [v.starts_at for v in cell.listed] == [at(1, h) for h in (8, 9, 10)]
    assert cell.more == 3
    html = response.content.decode()
    assert "6 visits" in html and "+3 more" in html
    assert f"{reverse('calendar:day')}?who={tess.pk}&amp;on={day.isoformat()}" in html
    assert response.context["title"] == f"Your month: {day:%B} {day.year}"


def test_the_months_count_leaves_out_the_neighbouring_months_days_its_grid_shows(tess, avery, room, login):
    first = MONDAY.replace(day=1)
    last_of_before = first - datetime.timedelta(days=1)
    for day in (first, last_of_before):
        visit(avery, tess, room, timezone.make_aware(datetime.datetime.combine(day, datetime.time(10))))
    response = login(tess).get(reverse("calendar:month"), {"on": first.isoformat()})
    shown = {d.day: d.count for w in response.context["weeks"] for d in w if d.count}
    # The day before the 1st is in the grid when the 1st is not a Monday: shown, not counted.
    assert shown.get(first) == 1 and shown.get(last_of_before, 1) == 1
    assert response.context["count"] == 1


def test_the_month_of_a_client_outside_ones_care_says_busy(colin, tess, avery, room, login):
    visit(avery, tess, room, at(1, 9))
    html = (
        login(colin)
        .get(reverse("calendar:month"), {"who": tess.pk, "on": MONDAY.isoformat()})
        .content.decode()
    )
    assert "Busy" in html and "Avery" not in html


@pytest.mark.parametrize("first", [datetime.date(2027, 3, 1), datetime.date(2027, 11, 1)])
def test_the_month_puts_a_visit_on_the_local_day_it_starts_across_a_change_of_clocks(
    first, tess, avery, room, login
):
    """The day is found by comparing the start with each day's local midnight (calendar.DayOf):
    either side of midnight, and on the days the clocks change (the practice's zone keeps
    daylight saving time), each visit is counted and listed on the day it starts there."""
    local = timezone.get_current_timezone()
    starts = [
        datetime.datetime(first.year, first.month, day, hour, minute, tzinfo=local)
        for day in range(1, 29)
        for hour, minute in ((0, 0), (0, 15), (23, 45))
    ]
    for start in starts:
        visit(avery, tess, room, start, minutes=10)
    response = login(tess).get(reverse("calendar:month"), {"on": first.isoformat()})
    cells = {d.day: d for w in response.context["weeks"] for d in w}
    for day in range(1, 29):
        cell = cells[first.replace(day=day)]
        expected = [s for s in starts if s.day == day]
        assert cell.count == 3 and [v.starts_at for v in cell.listed] == expected, day
    assert response.context["count"] == len(starts)


@pytest.mark.parametrize("on", ["2200-12-31", "1900-01-01", "2026-02-28", "2028-02-29"])
def test_the_month_at_the_edges_and_its_links(on, tess, login):
    http = login(tess)
    response = http.get(reverse("calendar:month"), {"on": on})
    assert response.status_code == 200
    for link in (response.context["previous"], response.context["next"]):
        assert http.get(reverse("calendar:month"), {"on": link.isoformat()}).status_code == 200


# --- Who sees what --------------------------------------------------------------------------------


def test_a_client_outside_ones_care_is_busy_and_audited_as_not_shown(
    colin, tess, avery, olive, room, login, audit_rows
):
    visit(avery, tess, room, at(0, 9))
    visit(olive, colin, Room.objects.create(name="Room 9"), at(0, 9))
    html = week(login(colin), who="practice").content.decode()
    assert "Olive O." in html and "Busy" in html and "Avery" not in html
    (row,) = audit_rows("kapflow.visits.calendar.viewed")
    assert row.detail["clients"] == [olive.pk] and row.detail["view"] == "week"


@pytest.mark.parametrize("name", ["calendar:week", "calendar:day", "calendar:month", "calendar:badges"])
def test_only_staff_open_the_calendars(name, cleo, login):
    assert login(None).get(reverse(name))["Location"].startswith(reverse("account_login"))
    assert login(cleo).get(reverse(name)).status_code == 403


# --- Readiness badges, in one request -----------------------------------------------------------


@pytest.mark.parametrize("name", ["calendar:day", "calendar:week", "calendar:month"])
@pytest.mark.parametrize("who", [None, "practice"])
def test_a_calendar_asks_the_database_nothing_twice(name, who, tess, avery, olive, colin, room, room2, login):
    """A therapist may see the same clients for the schedule as for their clinical state: the
    page asks which once (it asked the same query twice for each of its pages)."""
    for day in range(3):
        visit(avery, tess, room, at(day, 10), minutes=150, kind="medication")
        visit(olive, colin, room2, at(day, 10))
    http = login(tess)
    params = {"on": MONDAY.isoformat(), **({"who": who} if who else {})}
    with CaptureQueriesContext(connection) as queries:
        assert http.get(reverse(name), params).status_code == 200
    assert asked_twice(queries) == []


def test_the_page_asks_for_every_badge_in_one_request(tess, avery, room, login):
    sessions = [visit(avery, tess, room, at(day, 10), minutes=150, kind="medication") for day in range(3)]
    visit(avery, tess, room, at(4, 10))  # not a medication session: no badge
    html = week(login(tess)).content.decode()
    ids = ",".join(str(s.pk) for s in sessions)
    assert html.count("hx-get=") == 1
    assert f'hx-get="{reverse("calendar:badges")}?ids={ids}"' in html
    assert all(f'id="rb-{s.pk}"' in html for s in sessions)
    assert "/readiness/" not in html  # no request per visit


def test_the_badges_answer_each_session_and_are_audited_once(tess, avery, priya, room, login, audit_rows):
    second = factories.make_client(first_name="Bea", last_name="Brown", therapist=tess)
    sessions = [visit(avery, tess, room, at(0, 10), minutes=150, kind="medication")]
    sessions.append(visit(second, tess, room, at(1, 10), minutes=150, kind="medication"))
    sessions.append(visit(avery, tess, room, at(2, 10), minutes=150, kind="medication"))
    ids = ",".join(str(s.pk) for s in sessions)
    response = login(tess).get(reverse("calendar:badges"), {"ids": ids})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('hx-swap-oob="true"') == 3 and html.count("Not ready") == 3
    (row,) = audit_rows("kapflow.visits.readiness.viewed")
    assert row.detail["clients"] == sorted([avery.pk, second.pk])
    assert row.detail["visits"] == [s.pk for s in sessions]


def test_the_badges_leave_out_sessions_outside_ones_clinical_care(
    colin, cora, tess, avery, room, login, audit_rows
):
    session = visit(avery, tess, room, at(0, 10), minutes=150, kind="medication")
    for outsider in (colin, cora):
        response = login(outsider).get(reverse("calendar:badges"), {"ids": str(session.pk)})
        assert response.status_code == 200 and f"rb-{session.pk}" not in response.content.decode()
    assert audit_rows("kapflow.visits.readiness.viewed") == []
    # ...and the coordinator's calendar asks for none.
    assert "calendar/badges" not in week(login(cora), who="practice").content.decode()


def test_the_badges_leave_out_what_is_not_a_session_waiting_to_start(tess, avery, room, login):
    therapy = visit(avery, tess, room, at(0, 9))
    done = visit(avery, tess, room, at(1, 9), kind="medication", minutes=150, status=Visit.Status.NO_SHOW)
    response = login(tess).get(reverse("calendar:badges"), {"ids": f"{therapy.pk},{done.pk},999999"})
    assert response.status_code == 200 and response.content.decode().strip() == ""


@pytest.mark.parametrize("ids", ["1,x", "١٢", "1;2", "-1", "9" * 30, ",".join(["1"] * 101)])
def test_badge_ids_that_are_not_visit_numbers_get_a_clear_400(ids, tess, login):
    response = login(tess).get(reverse("calendar:badges"), {"ids": ids})
    assert response.status_code == 400 and b"visit numbers separated by commas" in response.content


def test_the_practices_week_asks_only_for_the_viewers_own_badges(
    tess, colin, avery, olive, room, room2, login
):
    from kapflow.practice.models import Practice

    practice = Practice.load()
    practice.open_caseload = True  # Tess may see Olive's readiness too
    practice.save()
    mine = visit(avery, tess, room, at(0, 10), minutes=150, kind="medication")
    theirs = visit(olive, colin, room2, at(0, 10), minutes=150, kind="medication")
    html = week(login(tess), who="practice").content.decode()
    assert f'?ids={mine.pk}"' in html and f"rb-{theirs.pk}" not in html
    html = week(login(tess), who=str(colin.pk)).content.decode()
    assert f'?ids={theirs.pk}"' in html


def test_the_badges_cost_the_same_for_one_client_as_for_many(tess, priya, room, login):
    """Each client's readiness is read with every other's (kapflow.pathway.readiness.read_many):
    eight clients' sessions, some with a plan, an order, a screening or a guardian, cost what one
    client's does."""
    from kapflow.medical.models import Screening
    from kapflow.pathway.models import CoursePlan

    http = login(tess)
    http.get(reverse("home"))
    clients = [factories.make_client(first_name=f"R{n}", therapist=tess, prescriber=priya) for n in range(8)]
    for n, client in enumerate(clients):
        if n % 2:
            CoursePlan.objects.create(client=client, goals="g", planned_sessions=6, updated_by=tess)
        if n % 3 == 0:
            factories.standing_order(client, priya)
            Screening.objects.create(client=client, answers={}, age=35)
        if n == 4:
            factories.add_guardian(client)
    sessions = [
        visit(client, tess, room, at(n % 5, 8 + n), minutes=60, kind="medication")
        for n, client in enumerate(clients)
    ]
    one = _badge_queries(http, str(sessions[1].pk))  # a client with a plan: every read is made
    assert _badge_queries(http, ",".join(str(s.pk) for s in sessions)) == one


def test_a_badge_is_the_sessions_own_a_session_booked_before_its_plan_counts_fails(tess, room):
    """The badges ask what the session's own page asks (the course gate knows the session): one
    booked before the plan in force began counting is counted by no plan, and fails it, while
    the client's later session passes it."""
    from kapflow.pathway.models import CoursePlan
    from kapflow.pathway.readiness import readiness_for_visits
    from kapflow.practice.models import Practice

    client = factories.make_client(first_name="Pia", therapist=tess)
    early = visit(client, tess, room, at(0, 10), minutes=150, kind="medication")
    later = visit(client, tess, room, at(3, 10), minutes=150, kind="medication")
    CoursePlan.objects.create(
        client=client, goals="g", planned_sessions=6, updated_by=tess, counts_from=at(1, 0)
    )
    sessions = list(Visit.objects.filter(pk__in=[early.pk, later.pk]).select_related("client"))
    gates = readiness_for_visits(sessions, practice=Practice.load())
    course = {pk: next(gate for gate in found if gate.result.key == "course") for pk, found in gates.items()}
    assert not course[early.pk].passed and "booked before the plan" in course[early.pk].result.reason
    assert course[later.pk].passed


def test_the_dashboards_badges_are_audited_as_the_dashboards(tess, avery, room, login, audit_rows):
    session = visit(avery, tess, room, at(0, 10), minutes=150, kind="medication")
    login(tess).get(reverse("calendar:badges"), {"ids": str(session.pk), "via": "dashboard"})
    login(tess).get(reverse("calendar:badges"), {"ids": str(session.pk), "via": "elsewhere"})
    rows = audit_rows("kapflow.visits.readiness.viewed")
    assert [row.detail["via"] for row in rows] == ["dashboard", "calendar"]


def test_no_ids_no_badges(tess, login):
    response = login(tess).get(reverse("calendar:badges"))
    assert response.status_code == 200 and response.content.strip() == b""


def _badge_queries(http, ids) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert http.get(reverse("calendar:badges"), {"ids": ids}).status_code == 200
    return len(queries)


def test_the_badges_cost_the_same_however_many_sessions_of_the_same_clients(tess, room, login):
    clients = [factories.make_client(first_name=f"M{n}", therapist=tess) for n in range(3)]
    http = login(tess)
    http.get(reverse("home"))
    few = [visit(clients[n], tess, room, at(n, 8), minutes=150, kind="medication") for n in range(3)]
    small = _badge_queries(http, ",".join(str(v.pk) for v in few))
    many = list(few)
    for day in range(7):
        for hour in (11, 14, 17):
            many.append(visit(clients[day % 3], tess, room, at(day, hour), minutes=150, kind="medication"))
    assert _badge_queries(http, ",".join(str(v.pk) for v in many)) == small


# --- Bad query strings ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["calendar:week", "calendar:day", "calendar:month"])
@pytest.mark.parametrize(
    "query",
    [
        {"who": "nobody"},
        {"who": "room-x"},
        {"who": "room-99999999999999999999"},
        {"who": "١٢"},
        {"on": "9999-12-31"},
        {"on": "2026-13-45"},
        {"on": "yesterday", "by": "moon"},
        {"who": "practice", "by": "room\x00"},
    ],
)
def test_a_bad_query_shows_a_calendar_not_an_error(name, query, cora, login):
    response = login(cora).get(reverse(name), query)
    assert response.status_code == 200
    assert response.context["who"].practice


# --- The cost ---------------------------------------------------------------------------------------


def _fill(clinicians, clients, room, per_day):
    """`per_day` visits a day for each clinician, for the week: back to back from 08:00 in
    50-minute visits, with every third a medication session."""
    Visit.objects.all().delete()
    rows = []
    for c, clinician in enumerate(clinicians):
        for day in range(7):
            for n in range(per_day):
                start = at(day, 8) + datetime.timedelta(minutes=50 * n)
                rows.append(
                    Visit(
                        client=clients[(c + n) % len(clients)],
                        kind="medication" if n % 3 == 0 else "therapy",
                        starts_at=start,
                        ends_at=start + datetime.timedelta(minutes=50),
                        room=room,
                        clinician=clinician,
                        created_by=clinician,
                    )
                )
    Visit.objects.bulk_create(rows)


def _count(http, name, query) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = http.get(reverse(name), query)
        assert response.status_code == 200
    return len(queries), len(response.content)


@pytest.mark.parametrize(
    "name,query",
    [
        ("calendar:week", {"on": MONDAY.isoformat()}),
        ("calendar:week", {"on": MONDAY.isoformat(), "who": "practice"}),
        ("calendar:day", {"on": MONDAY.isoformat(), "who": "practice"}),
        ("calendar:day", {"on": MONDAY.isoformat(), "who": "practice", "by": "room"}),
        ("calendar:month", {"on": MONDAY.isoformat(), "who": "practice"}),
    ],
)
def test_the_calendars_cost_the_same_queries_for_few_and_many_visits(name, query, tess, cora, room, login):
    clinicians = [tess] + [factories.make_user(f"Clin {n}", roles=("is_therapist",)) for n in range(5)]
    clients = [factories.make_client(first_name=f"K{n}", therapist=tess) for n in range(12)]
    http = login(tess)
    http.get(reverse("home"))
    _fill(clinicians[:1], clients[:2], room, 1)
    small, _ = _count(http, name, query)
    _fill(clinicians, clients, room, 12)
    assert _count(http, name, query)[0] == small
    # The ceiling: the session, the user, the clinicians and the rooms for the menu, the
    # practice's settings, the two scoping queries (named, clinical) and the audit row (its place
    # in the chain and the INSERT, the INSERT of the clients it names for the audit page's client
    # filter, and on PostgreSQL the chain's advisory lock): 10 or 11; then the
    # grid's visits as values with their joining clinicians, and the blocks shown (2; the
    # named-clients query is asked once, over all the grid's visits, for the conflicts and the
    # names), or the month's counts and its first few a day (2).
    base = 11 if connection.vendor == "postgresql" else 10
    assert small <= base + 2


def test_a_busy_week_stays_small(tess, cora, room, login):
    """Twenty-four clinicians, each with a full day every day of the week (some 2,000 visits): the
    practice's week and the busiest clinician's week stay well under 200 KB of HTML."""
    clinicians = [tess] + [factories.make_user(f"Clin {n}", roles=("is_therapist",)) for n in range(23)]
    clients = [factories.make_client(first_name=f"K{n}", therapist=tess) for n in range(40)]
    _fill(clinicians, clients, room, 12)
    for who in (str(tess.pk), "practice"):
        _, size = _count(login(cora), "calendar:week", {"on": MONDAY.isoformat(), "who": who})
        assert size < 150_000, (who, size)
    _, size = _count(login(cora), "calendar:day", {"on": MONDAY.isoformat(), "who": "practice"})
    assert size < 200_000
    _, size = _count(login(cora), "calendar:month", {"on": MONDAY.isoformat(), "who": "practice"})
    assert size < 60_000


def test_the_range_queries_bound_the_start_on_both_sides(tess, avery, room, login):
    visit(avery, tess, room, at(0, 9))
    with CaptureQueriesContext(connection) as queries:
        week(login(tess))
    (sql,) = [q["sql"] for q in queries if '"visits_visit"."ends_at" >' in q["sql"]]
    assert '"visits_visit"."starts_at" >=' in sql and '"visits_visit"."starts_at" <' in sql


def test_a_long_visit_from_before_the_range_still_shows(tess, avery, room, login):
    """The lower bound reaches back as far as the longest visit that can be booked."""
    visit(avery, tess, room, at(0, 0) - datetime.timedelta(hours=11), minutes=11 * 60 + 30)
    (block,) = week(login(tess)).context["grid"].columns[0].blocks
    assert block.from_before and (block.row, block.span) == (1, 6)
