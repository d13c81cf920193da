"""The practice outcome report: its numbers on a dataset whose answers were worked out by hand,
the period's boundaries, small cells, the groups by route and modality, the CSV against the
page, access, audit, bad input and a constant number of queries."""

import csv
import datetime
import io
import re
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kapflow.dosing.models import Administration, AdverseEvent, Runbook
from kapflow.measures.instruments import GAD7, PHQ9
from kapflow.measures.models import Response
from kapflow.medical.models import MedicationOrder
from kapflow.outcomes.report import TOO_FEW, build_report, report_tables
from kapflow.visits.models import Room, Visit
from tests import factories

LA = ZoneInfo("America/Los_Angeles")  # the practice's time zone in the test settings
START, END = datetime.date(2026, 3, 1), datetime.date(2026, 5, 31)
# The views report on one whole quarter that has ended (kapflow.outcomes.report, Periods): the
# second quarter holds C's later sessions, D, E, F, G, H and the client first seen on June 1.
QUERY = {"start": "2026-04-01", "end": "2026-06-30"}


def at(day: str, hour: int = 10, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=LA)


class Practice:
    """Builds clients with courses: sessions, first doses, adverse events and responses."""

    def __init__(self, therapist, prescriber):
        self.therapist, self.prescriber = therapist, prescriber
        self.room = Room.objects.create(name="Garden Room")

    def client(self, route="sublingual"):
        client = factories.make_client(therapist=self.therapist, prescriber=self.prescriber)
        client.order = MedicationOrder.objects.create(
            client=client,
            prescriber=self.prescriber,
            drug="ketamine" if route == "sublingual" else "esketamine",
            route=route,
            dose_min=Decimal("50"),
            dose_max=Decimal("400"),
            sessions_authorised=12,
            starts_on=datetime.date(2025, 1, 1),
            ends_on=datetime.date(2027, 1, 1),
        )
        return client

    def session(self, client, when, *, virtual=False, status=Visit.Status.COMPLETED, dose=True, events=()):
        visit = Visit.objects.create(
            client=client,
            kind=Visit.Kind.MEDICATION,
            starts_at=when,
            ends_at=when + datetime.timedelta(minutes=150),
            modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
            room=None if virtual else self.room,
            status=status,
            cancel_reason="Unwell." if status == Visit.Status.CANCELLED else "",
            clinician=self.therapist,
            created_by=self.therapist,
        )
        if status == Visit.Status.COMPLETED:
            runbook = Runbook.objects.create(visit=visit)
            if dose:
                Administration.objects.create(
                    runbook=runbook,
                    order=client.order,
                    given_at=when + datetime.timedelta(minutes=30),
                    route=client.order.route,
                    dose_mg=Decimal("200"),
                    lot_number="L1",
                    given_by=self.prescriber,
                    recorded_by=self.prescriber,
                )
            for severity in events:
                AdverseEvent.objects.create(
                    runbook=runbook,
                    noted_at=when + datetime.timedelta(minutes=60),
                    kind="nausea",
                    severity=severity,
                    action_taken="Watched.",
                    recorded_by=self.therapist,
                )
        return visit

    @staticmethod
    def respond(client, instrument, total, when):
        Response.objects.create(
            client=client,
            instrument=instrument.key,
            version="1",
            answers={},
            total=total,
            band=instrument.band_for(total).label,
            completed_at=when,
        )


@pytest.fixture
def practice(tess, priya):
    """Six sublingual, in-person courses with PHQ-9 baseline → end:
        A 20 → 8, B 18 → 4, C 15 → 12, D 10 → 17, E 22 → 11, F 12 → 3
    and two intranasal, virtual courses (G, H) with a PHQ-9 baseline but no end score.

    Worked by hand: n = 6; baseline mean 97/6 = 16.17, SD sqrt(108.83/5) = 4.67; end mean 55/6 =
    9.17, SD sqrt(138.83/5) = 5.27; mean change −42/6 = −7.0; response A, B, E, F = 66.7 %;
    remission B, F = 33.3 %; reliable improvement (≥ 6 down) A, B, E, F = 66.7 %; reliable
    deterioration (≥ 6 up) D = 16.7 %. Sessions: A 3, B 2, C 4 + 1 on the period's last evening,
    D 1, E 2, F 3 (16, mean 2.67, range 1–5), G 1, H 1: 18 in all (mean 2.25). Adverse events:
    A mild ×2, C moderate, E severe: 4 in 16 sublingual sessions (0.25; mild 0.125, moderate and
    severe 0.0625 each), 4 in 18 overall (0.22; 0.11, 0.06, 0.06)."""
    p = Practice(tess, priya)
    r = p.respond
    plan = {
        # name: (baseline, end, session days, adverse events on the first session)
        "A": (20, 8, ["2026-03-02", "2026-03-16", "2026-03-30"], ("mild", "mild")),
        "B": (18, 4, ["2026-03-03", "2026-03-17"], ()),
        "C": (15, 12, ["2026-03-04", "2026-04-01", "2026-04-15", "2026-04-29"], ("moderate",)),
        "D": (10, 17, ["2026-04-02"], ()),
        "E": (22, 11, ["2026-04-06", "2026-04-20"], ("severe",)),
        "F": (12, 3, ["2026-05-01", "2026-05-08", "2026-05-15"], ()),
    }
    clients = {}
    for name, (baseline, end, days, events) in plan.items():
        client = clients[name] = p.client()
        first = at(days[0])
        # E's baseline at the very moment of the first session counts as a baseline.
        r(client, PHQ9, baseline, first if name == "E" else first - datetime.timedelta(days=3))
        for n, day in enumerate(days):
            p.session(client, at(day), events=events if n == 0 else ())
        r(client, PHQ9, end, at(days[-1]) + datetime.timedelta(days=2))
    # Boundaries and definitions:
    a, b, c, d, e = (clients[k] for k in "ABCDE")
    r(a, PHQ9, 27, at("2026-06-01", 8))  # after the period: not the end score
    r(a, PHQ9, 14, at("2026-03-10"))  # a middle score: not the end score
    r(b, PHQ9, 25, at("2026-01-05"))  # an older result: the baseline is the last before the session
    p.session(c, at("2026-05-31", 23, 30))  # the last evening of the period counts
    p.session(d, at("2026-04-09"), status=Visit.Status.CANCELLED)  # cancelled: not counted
    # GAD-7 for three clients only: a small cell.
    for client, (baseline, end) in zip((a, b, c), ((15, 5), (12, 6), (9, 9)), strict=True):
        r(client, GAD7, baseline, at("2026-02-20"))
        r(client, GAD7, end, at("2026-05-20"))
    for name in "GH":
        client = clients[name] = p.client(route="intranasal")
        r(client, PHQ9, 16, at("2026-04-01"))
        p.session(client, at("2026-04-10"), virtual=True)
    # Not treated in the period: the day before, the day after, and a session still scheduled.
    outside = p.client()
    r(outside, PHQ9, 20, at("2026-02-01"))
    p.session(outside, at("2026-02-28", 23, 59))
    r(outside, PHQ9, 2, at("2026-03-20"))
    after = p.client()
    p.session(after, at("2026-06-01", 0, 0))
    scheduled = p.client()
    p.session(scheduled, at("2026-04-01"), status=Visit.Status.SCHEDULED)
    return clients


def test_the_numbers_match_the_hand_worked_answers(practice):
    report = build_report(start=START, end=END)
    overall = report.overall
    assert (overall.clients, overall.sessions) == (8, 18)
    phq = overall.instruments["phq9"]
    assert (phq.treated, phq.n) == (8, 6)
    assert round(phq.baseline_mean, 2) == 16.17 and round(phq.baseline_sd, 2) == 4.67
    assert round(phq.end_mean, 2) == 9.17 and round(phq.end_sd, 2) == 5.27
    assert phq.mean_change == -7.0
    assert round(phq.response, 1) == 66.7
    assert round(phq.remission, 1) == 33.3
    assert round(phq.improvement, 1) == 66.7
    assert round(phq.deterioration, 1) == 16.7


def test_the_page_shows_them_with_the_small_cells_suppressed(practice):
    tables = {t.key: t for t in report_tables(build_report(start=START, end=END))}
    phq = {row.label: row.cells for row in tables["phq9"].rows}
    assert phq["All clients treated"] == [
        "8", "6", "16.2 (4.7)", "9.2 (5.3)", "−7.0", "66.7 %", "33.3 %", "66.7 %", "16.7 %"
    ]  # fmt: skip
    # By route and by modality: the sublingual, in-person courses are the same six; the two
    # intranasal, virtual ones have no end score, so n = 0 and nothing is said.
    assert phq["Route: Sublingual / oral lozenge"][1:] == phq["All clients treated"][1:]
    assert phq["Route: Sublingual / oral lozenge"][0] == "6"
    assert phq["Modality: In person"] == phq["Route: Sublingual / oral lozenge"]
    assert phq["Route: Intranasal esketamine"] == ["2", "0"]  # the other 7 columns: too few to say
    assert phq["Modality: Virtual (video)"] == ["2", "0"]
    assert {row.label: row.suppressed for row in tables["phq9"].rows if row.kind == "practice"} == {
        "All clients treated": 0,
        "Route: Sublingual / oral lozenge": 0,
        "Route: Intranasal esketamine": 7,
        "Modality: In person": 0,
        "Modality: Virtual (video)": 7,
    }
    gad = {row.label: row.cells for row in tables["gad7"].rows}
    assert gad["All clients treated"] == ["8", "3"]
    assert tables["gad7"].rows[0].suppressed == 7
    sessions = {row.label: row.cells for row in tables["sessions"].rows}
    # C's session on the last evening makes C 5 sessions: 18 in all, mean 18/8 = 2.25, 1–5.
    assert sessions["All clients treated"] == ["8", "18", "2.2 (1–5)", "0.22", "0.11", "0.06", "0.06"]
    assert sessions["Route: Intranasal esketamine"] == ["2", "2"]
    # The sublingual figures (16 sessions, 0.25 events a session) would give away the two
    # intranasal clients' (all clients less sublingual): they are withheld too.
    assert sessions["Route: Sublingual / oral lozenge"] == ["6", "16"]
    assert sessions["Modality: In person"] == ["6", "16"]
    assert [row.suppressed for row in tables["sessions"].rows] == [0, 5, 5, 5, 5]
    # The rule's own figures, had it not withheld them: 16 sublingual, mean 2.67, 1–5.
    sublingual = build_report(start=START, end=END).by_route[0]
    assert (sublingual.sessions, sublingual.sessions_min, sublingual.sessions_max) == (16, 1, 5)
    assert sublingual.adverse_rate() == 0.25 and sublingual.withheld


def test_a_small_groups_result_cannot_be_worked_out_from_the_others(practice):
    """One intranasal client with an end score: their PHQ-9 would be all clients' less the
    sublingual six, so the sublingual figures are withheld; the practice's overall ones stay."""
    Response.objects.create(
        client=practice["G"], instrument="phq9", version=PHQ9.version, answers={}, total=4, band="Minimal",
        completed_at=at("2026-05-20"),
    )  # fmt: skip
    tables = {t.key: t for t in report_tables(build_report(start=START, end=END))}
    phq = {row.label: row for row in tables["phq9"].rows}
    assert phq["All clients treated"].cells[:2] == ["8", "7"] and phq["All clients treated"].suppressed == 0
    assert phq["Route: Intranasal esketamine"].cells == ["2", "1"]
    assert phq["Route: Sublingual / oral lozenge"].cells == ["6", "6"]
    assert phq["Route: Sublingual / oral lozenge"].suppressed == 7


def test_the_published_figures_stand_beside_the_practices_and_say_how_they_differ(practice):
    tables = {t.key: t for t in report_tables(build_report(start=START, end=END))}
    published = [row for row in tables["phq9"].rows if row.kind == "published"]
    hull = next(row for row in published if "Hull" in row.label)
    assert hull.cells[1] == "1,247" and hull.cells[5] == "62.8 %" and hull.cells[6] == "32.6 %"
    dore = next(row for row in published if "Dore" in row.label)
    assert dore.label == "Dore et al. 2019, published (BDI)" and dore.cells[4] == "−11.2 BDI points"
    assert "not directly comparable" in dore.note and "Hull" in hull.label and "(" not in hull.label
    gad_dore = next(row for row in tables["gad7"].rows if "Dore" in row.label)
    assert "HAM-A" in gad_dore.label and gad_dore.cells[4] == "−5.5 HAM-A points"
    assert not [row for row in tables["pcl5"].rows if row.kind == "published"]


def test_a_period_with_nobody_treated_says_nothing_and_does_not_fail(practice):
    report = build_report(start=datetime.date(2020, 1, 1), end=datetime.date(2020, 12, 31))
    assert report.overall.clients == 0 and report.by_route == [] and report.by_modality == []
    cells = {t.key: t.rows[0].cells for t in report_tables(report)}
    assert cells["phq9"] == ["0", "0"]


def test_the_period_boundaries_are_whole_days_in_the_practices_time_zone(practice):
    # Only the last evening's session of C falls on May 31.
    report = build_report(start=datetime.date(2026, 5, 31), end=datetime.date(2026, 5, 31))
    assert (report.overall.clients, report.overall.sessions) == (1, 1)
    # The session at 23:59 on Feb 28 belongs to February.
    report = build_report(start=datetime.date(2026, 2, 28), end=datetime.date(2026, 2, 28))
    assert report.overall.clients == 1


# The pages


class Cells(HTMLParser):
    """(table title, row label, column, value) for every cell of the report's tables."""

    def __init__(self):
        super().__init__()
        self.cells, self.title, self.columns, self.row, self.text, self.where = set(), "", [], [], "", None

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "th", "td"):
            self.where, self.text, self.span = tag, "", int(dict(attrs).get("colspan", 1))
        if tag == "span" and self.where == "th":
            self.where = "skip"  # the published row's note
        if tag == "tr":
            self.row = []

    def handle_data(self, data):
        if self.where in ("h2", "th", "td"):
            self.text += data

    def handle_endtag(self, tag):
        if tag == "h2" and self.where == "h2":
            self.title, self.columns = self.text.strip(), []
        elif tag == "th" and self.where in ("th", "skip"):
            self.row.append(self.text.strip())
        elif tag == "td":
            self.row.extend([self.text.strip()] * self.span)
        elif tag == "tr" and self.row:
            if self.row[0] == "Group":
                self.columns = self.row[1:]
            else:
                for column, value in zip(self.columns, self.row[1:], strict=True):
                    if value:
                        self.cells.add((self.title, self.row[0], column, value))
        if tag in ("h2", "th", "td"):
            self.where = None


def _numbers(text: str) -> set[float]:
    """The numbers written in a page cell ("−7.0", "16.2 (4.7)", "1.9 (1–4)", "1,247")."""
    return {float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text.replace("−", "-").replace(",", ""))}


def test_the_csv_holds_exactly_what_the_page_shows(practice, tess, login):
    http = login(tess)
    page = http.get(reverse("outcomes:report"), QUERY)
    parser = Cells()
    parser.feed(page.content.decode())
    download = http.get(reverse("outcomes:report_csv"), QUERY)
    assert download["Content-Type"].startswith("text/csv")
    assert 'filename="outcomes-2026-04-01-to-2026-06-30.csv"' in download["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert lines[0] == ["from", "to", "table", "row", "measure", "unit", "value", "note"]
    # Row by row, the same numbers: the page writes them as text ("16.2 (4.7)", "66.7 %"), the
    # CSV as one plain number a line; a figure the page says is too few to say is empty.
    on_page, in_csv, too_few = {}, {}, set()
    for title, row, _column, value in parser.cells:
        on_page.setdefault((title, row), set()).update(_numbers(value) if value != TOO_FEW else ())
        if value == TOO_FEW:
            too_few.add((title, row))
    for _f, _t, title, row, _measure, _unit, value, note in lines[1:]:
        in_csv.setdefault((title, row), set()).update({float(value)} if value else ())
        if note == TOO_FEW:
            assert value == "" and (title, row) in too_few
    assert in_csv == on_page
    # Seven clients, 13 sessions; PHQ-9 pairs for C, D, E and F only: too few to say.
    assert ("Sessions and adverse events", "All clients treated", "Medication sessions", "13") in parser.cells
    assert ("PHQ-9 (0–27)", "All clients treated", "Mean change", TOO_FEW) in parser.cells
    assert all(line[:2] == ["2026-04-01", "2026-06-30"] for line in lines[1:])


def test_a_clinician_sees_aggregates_only_and_no_client(practice, colin, login):
    page = login(colin).get(reverse("outcomes:report"), QUERY)
    assert page.status_code == 200
    html = page.content.decode()
    assert "1.9 (1–4)" in html  # sessions per course: 13 in 7 courses
    for client in practice.values():
        assert client.last_name not in html and f"/clients/{client.pk}/" not in html


@pytest.mark.parametrize("name", ["outcomes:report", "outcomes:report_csv"])
def test_the_coordinator_and_the_portal_are_refused(name, cora, cleo, gail, login):
    for user in (cora, cleo, gail):
        assert login(user).get(reverse(name)).status_code == 403
    assert login(None).get(reverse(name)).status_code == 302


def test_the_admin_sees_the_report_and_both_are_audited_without_a_client(practice, ada, login, audit_rows):
    http = login(ada)
    assert http.get(reverse("outcomes:report"), QUERY).status_code == 200
    assert http.get(reverse("outcomes:report_csv"), QUERY).status_code == 200
    viewed = audit_rows("kapflow.outcomes.report.viewed")
    downloaded = audit_rows("kapflow.outcomes.report.downloaded")
    assert [(r.actor_id, r.client_id, r.detail) for r in viewed + downloaded] == [
        (ada.pk, None, {"from": "2026-04-01", "to": "2026-06-30"})
    ] * 2


def test_the_default_period_is_the_latest_quarter_that_has_ended(tess, login):
    import time_machine

    with time_machine.travel(datetime.datetime(2026, 6, 15, 12, tzinfo=LA), tick=False):
        page = login(tess).get(reverse("outcomes:report"))
    assert page.status_code == 200
    assert page.context["report"].start == datetime.date(2026, 1, 1)
    assert page.context["report"].end == datetime.date(2026, 3, 31)


@pytest.mark.parametrize(
    "query,message",
    [
        ({"start": "2026-06-01", "end": "2026-03-01"}, "The period ends before it starts"),
        ({"start": "not a date", "end": "2026-03-01"}, "Enter a valid date"),
        ({"start": "2026-03-01"}, "This field is required"),
        ({"start": "1900-01-01", "end": "9999-12-31"}, "Choose a date between Jan 1, 2000 and Dec 31, 2100"),
        ({"start": "99999999999-01-01", "end": "2026-01-01"}, "Enter a valid date"),
    ],
)
@pytest.mark.parametrize("name", ["outcomes:report", "outcomes:report_csv"])
def test_bad_dates_come_back_with_what_was_typed_and_what_to_fix(
    name, query, message, tess, login, audit_rows
):
    page = login(tess).get(reverse(name), query)
    assert page.status_code == 400
    html = page.content.decode()
    assert message in html and "to fix" in html
    for value in query.values():
        assert f'value="{value}"' in html
    assert audit_rows("kapflow.outcomes.report.viewed") == []


def test_the_report_runs_the_same_queries_as_the_practice_grows(tess, priya, login):
    p = Practice(tess, priya)
    http = login(tess)
    first_quarter = {"start": "2026-01-01", "end": "2026-03-31"}  # where grow() puts the sessions
    http.get(reverse("outcomes:report"), first_quarter)

    def grow(count):
        for n in range(count):
            client = p.client(route="sublingual" if n % 2 else "intranasal")
            p.respond(client, PHQ9, 18, at("2026-03-01"))
            p.respond(client, GAD7, 14, at("2026-03-01"))
            for day in ("2026-03-05", "2026-03-19"):
                p.session(client, at(day), virtual=bool(n % 3), events=("mild",) if n % 4 == 0 else ())
            p.respond(client, PHQ9, 6 + n % 10, at("2026-04-01"))
            p.respond(client, GAD7, 4 + n % 8, at("2026-04-01"))

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert http.get(reverse("outcomes:report"), first_quarter).status_code == 200
        return len(captured.captured_queries)

    grow(2)
    small = count()
    grow(25)
    assert count() == small
