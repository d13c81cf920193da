"""The runbook page's reads (kapflow.dosing.selectors.RunbookRecord): each kind of row read once
and the day-of rules answered from those rows, as the selectors that read afresh answer them (the
write paths keep those); a signed record builds no form but the addendum's; the vitals table's
rows, built in Python, as the template's loop wrote them."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.template import engines
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.dosing import selectors
from kapflow.dosing.models import VitalsReading
from kapflow.dosing.services.signing import runbook_sign
from kapflow.dosing.views.page import _vitals_rows
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import test_runbook_dayof
from tests.test_runbook import at, discharge, dose, rate, vitals
from tests.test_runbook_dayof import checklist, give, make_visit, predose, start

in_person, order = test_runbook_dayof.in_person, test_runbook_dayof.order  # fixtures


@pytest.fixture
def given(in_person, order, tess):
    """An in-person session checked, started, its pre-dose vitals taken and its first dose given."""
    checklist(in_person, tess)
    start(in_person, tess)
    predose(in_person, tess)
    give(in_person, tess, order)
    return in_person


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pathway_ready")]


def _same_answers(visit, moments):
    """The record's answers equal the selectors' at each moment."""
    practice = Practice.load()
    book = selectors.runbook_of(visit)
    for full in (False, True):
        record = selectors.RunbookRecord(visit, full=full)
        for moment in moments:
            for before in (None, moment):
                assert record.latest_predose(before=before) == selectors.latest_predose(book, before=before)
            assert record.predose_gate(now=moment, practice=practice) == selectors.predose_gate(
                book, now=moment, practice=practice
            )
            assert record.session_clock(now=moment, practice=practice) == selectors.session_clock(
                book, now=moment, practice=practice
            )
            assert record.phase_times(now=moment, practice=practice) == selectors.phase_times(
                book, now=moment, practice=practice
            )
            assert record.chaperone_clock(now=moment, practice=practice) == selectors.chaperone_clock(
                visit, book, now=moment, practice=practice
            )
            open_alert = selectors.open_suicidality_alert(visit.client)
            with time_machine.travel(moment, tick=False):
                assert record.day_of_gates(
                    now=moment, practice=practice, open_alert=open_alert
                ) == selectors.day_of_gates(visit, book, now=moment, practice=practice)
        assert record.discharge_state() == selectors.discharge_state(
            book, alert_and_oriented=True, steady_on_feet=True, escort_present=True
        )
        assert record.checklist == selectors.latest_checklist(book)
        assert record.plan == (selectors.latest_safety_plan(book) if visit.is_virtual else None)
        assert record.integration_ack == selectors.latest_integration_acknowledgement(book)


@pytest.mark.parametrize("virtual", [True, False])
def test_the_record_answers_as_the_selectors_do(virtual, avery, tess, cora, priya):
    from tests.test_runbook import make_order

    order = make_order(avery, priya)
    visit = make_visit(avery, tess, cora, virtual=virtual)
    moments = [at(-45), at(-5), at(30), at(200)]
    _same_answers(visit, moments)  # nothing recorded yet
    if virtual:
        from tests.test_runbook_dayof import plan

        plan(visit, tess)
    checklist(visit, tess)
    start(visit, tess)
    predose(visit, tess, -25, bp=(150, 95))
    predose(visit, tess)
    _same_answers(visit, moments)
    give(visit, tess, order)
    vitals(visit, tess, 40, bp=(185, 101))
    vitals(visit, tess, 55)
    rate(visit, tess, 60, sedation=1)
    rate(visit, tess, 90)
    dose(visit, tess, order, 70, mg=50)
    _same_answers(visit, moments)
    discharge(visit, priya, 150, ok=False, override="Ride waiting.")
    _same_answers(visit, moments)


def test_a_signed_runbook_builds_only_the_addendum_form(given, tess, login):
    visit = given
    vitals(visit, tess, 100)
    rate(visit, tess, 100)
    discharge(visit, tess, 120)
    with time_machine.travel(at(125), tick=False):
        runbook_sign(actor=tess, visit=visit)
    http = login(tess)
    url = reverse("dosing:runbook", args=[visit.client_id, visit.pk])
    with time_machine.travel(at(130), tick=False):
        http.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = http.get(url)
    assert response.status_code == 200
    # .keys(): a ContextList iterates over its contexts, its keys() are those of all of them.
    names = {key for key in response.context.keys() if key.endswith("_form")}  # noqa: SIM118
    assert names == {"addendum_form"}
    html = response.content.decode()
    assert 'id="addendum-form"' in html and "Signed by" in html
    assert 'id="vitals-form"' not in html and 'id="dose-form"' not in html
    # 23 here: the session and user, the practice, the client with what its banner shows, the
    # audit row, the visit with its runbook (and the kinds of row it has) and the client's
    # medication and integration visits (the integration booked, and its standing), a query for
    # each kind of row the runbook has and one for the people they name, the measures, the
    # clearance, the integration records and, a session just ended with no integration booked,
    # client_standings' reads for the hours to propose (the benchmark's signed runbook, 23 with
    # an adverse event and its review, has none); one more on PostgreSQL (the audit append's
    # lock). One more for "Session 4 of 8" in the header: the plan in force (its sessions are
    # read with the visit's position, kapflow.pathway.course.position).
    # It was 50 for the benchmark's runbook when each part read its own rows, and 27 here with
    # the whole chart's client and the visits read apart.
    assert len(queries) <= 25


# The vitals table's rows as dosing/_runbook.html wrote them with a loop (page.py now builds them).
_LOOP = (
    '{% for reading in vitals %}<tr class="{% if reading.alerts %}runbook-row--alert{% endif %}'
    "{% if reading.phase == 'pre_dose' %} runbook-row--predose{% endif %}\"><td>"
    '{{ reading.taken_at|time:"H:i" }}{% if reading.phase == \'pre_dose\' %} <span class="runbook-tag">'
    "pre-dose</span>{% endif %}</td><td>{{ reading.systolic }}/{{ reading.diastolic }}</td><td>"
    '{{ reading.heart_rate }}</td><td>{{ reading.spo2|default:"—" }}</td></tr>\n  {% if reading.alerts %}'
    '<tr class="runbook-row--alert runbook-row--reasons"><td colspan="4"><span class="visually-hidden">'
    'Alerts: </span>{% for alert in reading.alerts %}<span class="runbook-reason">{{ alert }}</span> '
    "{% endfor %}</td></tr>{% endif %}{% endfor %}"
)


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Kolkata"])
def test_the_vitals_rows_are_the_templates(zone):
    now = timezone.now()
    readings = [
        VitalsReading(phase="pre_dose", taken_at=now, systolic=120, diastolic=80, heart_rate=70, alerts=[]),
        VitalsReading(
            phase="pre_dose",
            taken_at=now + datetime.timedelta(hours=5, minutes=7),
            systolic=185,
            diastolic=101,
            heart_rate=130,
            spo2=0,
            alerts=["BP 185/101 over <180/100> & 'caution'", 'HR "high"'],
        ),
        VitalsReading(
            phase="in_session",
            taken_at=now + datetime.timedelta(minutes=13),
            systolic=140,
            diastolic=80,
            heart_rate=70,
            spo2=97,
            alerts=["SpO2 <b>low</b>"],
        ),
    ]
    with timezone.override(zone):
        expected = engines["django"].from_string(_LOOP).render({"vitals": readings})
        assert str(_vitals_rows(readings)) == expected
    assert "&lt;b&gt;low&lt;/b&gt;" in expected


def _as_djangos_templates_render_it(form) -> str:
    """The form's fields as the runbook includes them, its widgets through Django's own widget
    templates rather than the project's renderer (kapflow.lib.rendering)."""
    from django.forms.renderers import DjangoTemplates
    from django.template.loader import render_to_string

    form.renderer = DjangoTemplates()
    return render_to_string("includes/_fields.html", {"form": form})


def test_the_forms_are_rendered_afresh_each_with_its_own_key(given, tess, login):
    visit = given
    http = login(tess)
    url = reverse("dosing:runbook", args=[visit.client_id, visit.pk])
    keys = []
    for _ in range(2):  # nothing of the first page's forms is kept for the second
        with time_machine.travel(at(30), tick=False):
            response = http.get(url)
        page = response.content.decode()
        for name in ("rating_form", "event_form", "note_form", "vitals_form", "discharge_form"):
            form = response.context[name]
            assert not form.is_bound
            assert _as_djangos_templates_render_it(form) in page, name
            if "entry_key" in form.initial:
                assert str(form.initial["entry_key"]) in page
                keys.append(form.initial["entry_key"])
    assert keys and len(set(keys)) == len(keys)  # every form its own key


def test_a_form_that_comes_back_is_shown_as_it_was_sent(given, tess, login):
    visit = given
    http = login(tess)
    with time_machine.travel(at(30), tick=False):
        http.get(reverse("dosing:runbook", args=[visit.client_id, visit.pk]))
        response = http.post(
            reverse("dosing:note", args=[visit.client_id, visit.pk]), {"text": "", "at": "25:99"}
        )
    assert response.status_code == 200
    form = response.context["note_form"]
    assert form.is_bound
    assert "data-form-bound" in response.content.decode()
    assert _as_djangos_templates_render_it(form) in response.content.decode()


def test_the_first_checklist_and_a_correction_are_each_rendered_from_their_own_start(
    avery, tess, cora, login
):
    visit = make_visit(avery, tess, cora, virtual=False)
    http = login(tess)
    url = reverse("dosing:runbook", args=[visit.client_id, visit.pk])
    with time_machine.travel(at(-35), tick=False):
        response = http.get(url)
    first = response.context["checklist_form"]
    assert not first.initial
    assert _as_djangos_templates_render_it(first) in response.content.decode()
    checklist(visit, tess)
    with time_machine.travel(at(-25), tick=False):
        response = http.get(url)
    correction = response.context["checklist_form"]
    assert correction.initial  # the checklist in force, shown to correct
    html = _as_djangos_templates_render_it(correction)
    assert html in response.content.decode()
    assert html != _as_djangos_templates_render_it(first)


def test_a_completed_sessions_integration_answers_as_client_standings(avery, tess, cora):
    """The runbook of a completed session reads the client's medication and integration visits
    once (selectors.integration_visits) for its integration card and its integration gate: the
    same answers as client_standings and booked_integration_at, which read them apart, whatever
    is booked (in the window, late, a no-show, cancelled, held) and whenever it is asked."""
    from kapflow.integration.models import IntegrationRecord
    from kapflow.integration.window import client_standings
    from tests.test_runbook_followup import book_integration

    practice = Practice.load()
    earlier = make_visit(avery, tess, cora, virtual=False, status=Visit.Status.COMPLETED, start=-60 * 24 * 7)
    visit = make_visit(avery, tess, cora, virtual=False, status=Visit.Status.COMPLETED)
    window = practice.integration_window_hours
    moments = [
        visit.ends_at + datetime.timedelta(hours=hours) for hours in (1, window - 1, window + 2, 24 * 9)
    ]

    def same_answers():
        visits = selectors.integration_visits(visit)
        # The runbook's views read them with the visit, in the same order.
        assert selectors.runbook_visits(avery, visit.pk) == (visit, visits)
        record = selectors.RunbookRecord(visit)
        record.integration_visits = visits
        assert record._booked_integration_at() == selectors.booked_integration_at(visit)
        for moment in moments:
            for session in (visit, earlier):
                expected = next(
                    answer
                    for answer in client_standings(avery, practice=practice, now=moment)
                    if answer.session.pk == session.pk
                )
                found = selectors.integration_standing(avery, session, visits, practice=practice, now=moment)
                assert found == expected

    same_answers()  # nothing booked: missing, with proposed hours while the window is open
    no_show = book_integration(visit, hours_after_end=5, status=Visit.Status.NO_SHOW)
    same_answers()
    cancelled = book_integration(visit, hours_after_end=10)
    Visit.objects.filter(pk=cancelled.pk).update(status=Visit.Status.CANCELLED, cancel_reason="Ill")
    same_answers()
    late = book_integration(visit, hours_after_end=window + 1)
    same_answers()
    book_integration(visit, hours_after_end=20)
    same_answers()
    Visit.objects.filter(pk=late.pk).update(status=Visit.Status.COMPLETED)
    Visit.objects.filter(pk=no_show.pk).delete()
    same_answers()
    # A record written in the earlier session's window, and one that names the session it follows.
    IntegrationRecord.objects.create(
        client=avery, clinician=tess, recorded_at=earlier.ends_at + datetime.timedelta(hours=30)
    )
    IntegrationRecord.objects.create(
        client=avery, clinician=tess, follows=visit, recorded_at=visit.ends_at + datetime.timedelta(days=5)
    )
    same_answers()


def test_the_completed_sessions_runbook_reads_its_integration_once(given, avery, tess, login):
    """The page of a completed session: the client's integration visits read once, with the visit
    itself, not in client_standings' and again in the integration gate's; a visit of another
    kind is not found."""
    visit = given
    visit.status = visit.Status.COMPLETED
    visit.save(update_fields=["status"])
    http = login(tess)
    url = reverse("dosing:runbook", args=[avery.pk, visit.pk])
    with CaptureQueriesContext(connection) as captured:
        response = http.get(url)
    assert response.status_code == 200
    assert "Integration" in response.content.decode()
    reads = [
        query["sql"] for query in captured.captured_queries if "\"kind\" = 'integration'" in query["sql"]
    ]
    assert len(reads) == 1
    integration = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.INTEGRATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=visit.ends_at + datetime.timedelta(hours=20),
        ends_at=visit.ends_at + datetime.timedelta(hours=21),
        clinician=tess,
        created_by=tess,
    )
    assert http.get(reverse("dosing:runbook", args=[avery.pk, integration.pk])).status_code == 404
    assert http.get(reverse("dosing:live", args=[avery.pk, integration.pk])).status_code == 404
