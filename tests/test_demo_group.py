"""The group practice (kapflow.demo.group) keeps the product's own rules. A small one (150
clients, four clinicians, two years) is built once through the same code as the group size, and
the product's own checks are run over what it generated: the schedule's clash check, the gates
of the first dose as they stood at the dose, the consent gate, the discharge criteria, the
order's count."""

import datetime
import itertools
from collections import defaultdict
from dataclasses import replace

import pytest
import time_machine
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from kapflow.clients.models import Client, StageChange
from kapflow.consent.gates import consent_gate
from kapflow.consent.models import Kind, Signature
from kapflow.course.facts import discharge_facts
from kapflow.course.maintenance import due_plans
from kapflow.course.models import CourseReview, Discharge
from kapflow.demo.group import (
    DAY_LIMIT,
    NO_ROOM,
    NOT_CLEARED,
    RANG_BACK,
    RECLEARED,
    REDECIDED_AFTER,
    SMALL,
    load_group_practice,
    next_session_day,
)
from kapflow.dosing import rules, selectors
from kapflow.dosing.models import Administration, Runbook
from kapflow.dosing.services.administration import _first_dose_problems
from kapflow.medical.models import Clearance, MedicationOrder, MedicationOrderQuerySet, Screening
from kapflow.outcomes.report import build_report, ended_quarters
from kapflow.pathway import course
from kapflow.pathway.models import CoursePlan
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from kapflow.visits.services import Slot, clashes, start_blockers
from tests import demo_rules

# Fewer readings a session than the office monitor's three minutes: the same code, faster.
TEST_SCALE = replace(SMALL, vitals_every_minutes=15)


def test_counts_scale_with_the_scale(db):
    """Twice the clients (and clinicians) make about twice the practice. (First in this module:
    it builds its own, before the module's practice is built.)"""
    half = replace(TEST_SCALE, clients=30, therapists=2, prescribers=1, rooms=2)
    with transaction.atomic():
        small = load_group_practice(half)["rows"]
        transaction.set_rollback(True)
    with transaction.atomic():
        large = load_group_practice(replace(half, clients=60, therapists=4, prescribers=2, rooms=4))["rows"]
        transaction.set_rollback(True)
    for table in ("clients", "visits", "runbooks", "vitals readings", "responses"):
        assert 1.3 * small[table] < large[table] < 3 * small[table], (table, small[table], large[table])


def _prepared_a_month_ago():
    """Clients whose two preparation sessions were held, the last over a month ago, annotated
    with when it ended and how many medication sessions they had booked."""
    month_ago = timezone.now() - datetime.timedelta(days=30)
    return Client.objects.annotate(
        preparations=Count(
            "visits", filter=Q(visits__kind=Visit.Kind.PREPARATION, visits__status=Visit.Status.COMPLETED)
        ),
        last=Max("visits__ends_at", filter=Q(visits__kind=Visit.Kind.PREPARATION)),
        sessions=Count("visits", filter=Q(visits__kind=Visit.Kind.MEDICATION)),
    ).filter(preparations=2, last__lt=month_ago)


def test_a_full_practice_turns_new_clients_away_rather_than_prepare_them_for_nothing(db):
    """With one therapist for 150 clients, the practice is full most of the time. A client whom no
    therapist has room for is told the wait at the discovery call and goes no further; nobody who
    finished preparation weeks ago is still waiting for a first medication session: each had one,
    or withdrew (the next test)."""
    crowded = replace(TEST_SCALE, clients=150, therapists=1, prescribers=1, rooms=2)
    with transaction.atomic():
        load_group_practice(crowded)
        turned_away = Client.objects.filter(stage=Client.Stage.NOT_PROCEEDING, consultations__isnull=True)
        assert turned_away.count() > 20
        kinds = set(Visit.objects.filter(client__in=turned_away).values_list("kind", flat=True))
        assert kinds == {Visit.Kind.DISCOVERY_CALL}
        # Each chart says why: the therapist moved the client by hand, with the reason, once the
        # client had been told (at the call, or when they rang back after missing it).
        for client in turned_away.prefetch_related("stage_changes", "visits"):
            (change,) = client.stage_changes.all()
            (call,) = [visit for visit in client.visits.all() if visit.status != Visit.Status.CANCELLED]
            assert change.reason == NO_ROOM and change.changed_by_id == call.clinician_id, client
            told = call.ends_at if call.status == Visit.Status.COMPLETED else call.ends_at + RANG_BACK
            assert change.changed_at == told, client
        assert demo_rules.not_proceeding_problems(now=timezone.now()) == []
        prepared = _prepared_a_month_ago()
        assert prepared.count() > 50
        withdrew = prepared.filter(sessions=0)
        assert 10 * withdrew.count() < prepared.count()
        assert set(withdrew.values_list("stage", flat=True)) <= {Client.Stage.DISCHARGED}
        assert demo_rules.discharge_problems() == []
        transaction.set_rollback(True)


def test_a_client_who_cannot_start_before_the_screening_runs_out_withdraws(db):
    """With the screening valid a fortnight only, a few clients cannot have a first session
    before it runs out: three weeks after their last preparation their order is discontinued and
    the therapist signs a discharge saying they withdrew."""
    with transaction.atomic():
        practice = Practice.load()
        practice.screening_valid_days = 14
        practice.save()
        load_group_practice(replace(TEST_SCALE, clients=40, therapists=1, prescribers=1, rooms=2))
        withdrew = list(_prepared_a_month_ago().filter(sessions=0))
        assert len(withdrew) >= 2
        for client in withdrew:
            assert client.stage == Client.Stage.DISCHARGED, client
            discharge = Discharge.objects.get(client=client)
            assert discharge.reason == Discharge.Reason.WITHDREW
            # Three weeks on the practice's clock (an hour more or less across a change of the clocks).
            assert discharge.signed_at == timezone.localtime(client.last) + datetime.timedelta(days=21)
            assert MedicationOrder.objects.get(client=client).discontinued_at == discharge.signed_at
        assert demo_rules.discharge_problems() == []
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def group(django_db_setup, django_db_blocker):
    """The small group practice, built once for this module and rolled back after it."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield load_group_practice(TEST_SCALE)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def practice(group, db):
    return Practice.load()


def test_it_is_the_size_asked_for_and_loads_once(group, db):
    rows = group["rows"]
    assert rows["clients"] == TEST_SCALE.clients
    assert len(group["staff"]) == TEST_SCALE.clinicians
    assert rows["visits"] > 10 * TEST_SCALE.clients
    assert rows["runbooks"] > 2 * TEST_SCALE.clients
    assert rows["responses"] > 20 * TEST_SCALE.clients
    assert load_group_practice(TEST_SCALE)["first_time"] is False


def test_nobody_and_no_room_is_booked_twice(group, db):
    """No two visits that hold their time share a minute with the same clinician, client or
    room; and the schedule's own clash check agrees, for the weeks around today and a sample of
    the rest."""
    live = list(
        Visit.objects.live()
        .select_related("client", "clinician", "room")
        .prefetch_related("other_clinicians")
    )
    assert len(live) > 1000
    for key in ("clinician_id", "client_id", "room_id"):
        spans = defaultdict(list)
        for visit in live:
            if getattr(visit, key) is not None:
                spans[getattr(visit, key)].append((visit.starts_at, visit.ends_at))
        for taken in spans.values():
            taken.sort()
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(taken)), key
    around = datetime.timedelta(days=21)
    found = []
    for n, visit in enumerate(live):
        if n % 15 and abs(visit.starts_at - timezone.now()) > around:
            continue
        slot = Slot(
            kind=visit.kind,
            starts_at=visit.starts_at,
            ends_at=visit.ends_at,
            clinician=visit.clinician,
            modality=visit.modality,
            room=visit.room,
        )
        found += clashes(client=visit.client, slot=slot, exclude=visit)
    assert found == []


def test_no_clinician_works_past_a_full_day_or_outside_hours(group, db):
    minutes = defaultdict(int)
    for visit in Visit.objects.live():
        start, end = timezone.localtime(visit.starts_at), timezone.localtime(visit.ends_at)
        assert start.date() == end.date() and start.weekday() < 6, visit
        assert datetime.time(8) <= start.time() and end.time() <= datetime.time(18), visit
        minutes[(visit.clinician_id, start.date())] += visit.minutes
    assert max(minutes.values()) <= DAY_LIMIT


def test_visits_are_where_they_should_be_and_past_ones_are_settled(group, db):
    # As the practice stood when it was loaded: a visit booked ahead may have begun since.
    now = group["as_of"]
    for n, visit in enumerate(Visit.objects.all()):
        if n % 25 == 0:
            visit.full_clean()  # the model's own checks, on a sample (the database has the same)
        if visit.is_virtual:
            assert visit.video_link and visit.room_id is None
        else:
            assert visit.room_id and not visit.video_link
        if visit.ends_at <= now:
            assert visit.status in (Visit.Status.COMPLETED, Visit.Status.CANCELLED, Visit.Status.NO_SHOW)
        else:
            assert visit.status == Visit.Status.SCHEDULED and visit.starts_at > now
        if visit.status == Visit.Status.CANCELLED:
            assert visit.cancel_reason
    # A completed medication session is one whose record is signed.
    held = Visit.objects.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED)
    assert not held.filter(runbook__signed_at__isnull=True).exists()


def _as_of_the_dose(monkeypatch):
    """Orders as they stood at the moment the clock is set to (the dose): sessions used up to
    then, and not yet discontinued if the prescriber discontinued them later. The database
    already holds what came after."""

    def used_then(order):
        return order.administrations.filter(is_booster=False, given_at__lt=timezone.now()).count()

    def in_force(order, today=None):
        today = today or timezone.localdate()
        later = order.discontinued_at is None or order.discontinued_at > timezone.now()
        return later and order.starts_on <= today <= order.ends_on and order.sessions_remaining() > 0

    def active(queryset, today):
        standing = Q(discontinued_at__isnull=True) | Q(discontinued_at__gt=timezone.now())
        return queryset.filter(standing, starts_on__lte=today, ends_on__gte=today)

    def plan_then(client):
        """The version of the course plan in force then, not yet ended if it ended later."""
        moment = timezone.now()
        plan = (
            CoursePlan.objects.filter(client=client, created_at__lte=moment)
            .exclude(superseded_at__lte=moment)
            .order_by("-created_at", "-pk")
            .first()
        )
        if plan is not None and plan.ended_at is not None and plan.ended_at > moment:
            plan.ended_at = None
        return plan

    monkeypatch.setattr(MedicationOrder, "administrations_count", used_then)
    monkeypatch.setattr(MedicationOrder, "is_active", in_force)
    monkeypatch.setattr(MedicationOrderQuerySet, "active", active)

    def end_decided_then(plan):
        """The day a review decided to end the course, among those decided by then."""
        latest = (
            CourseReview.objects.filter(plan=plan, decided_at__lte=timezone.now())
            .order_by("-decided_at", "-pk")
            .values_list("decision", "held_on")
            .first()
        )
        return latest[1] if latest is not None and latest[0] == CourseReview.Decision.END else None

    position_now = course.position

    def position_then(client, *, plan=None):
        """The sessions counted in the plan that had begun by then (a plan's sessions are those
        from when it counts; the maintenance sessions held since are not yet)."""
        found = position_now(client, plan=plan)
        if found is None:
            return None
        moment = timezone.now()
        begun = set(
            Visit.objects.filter(
                pk__in=[pk for pk, _status in found.sessions], starts_at__lte=moment
            ).values_list("pk", flat=True)
        )
        return course.Position(found.plan, tuple(row for row in found.sessions if row[0] in begun))

    monkeypatch.setattr(course, "current_plan", plan_then)
    monkeypatch.setattr(course, "position", position_then)
    monkeypatch.setattr(course, "_end_decided", end_decided_then)


def test_every_course_passed_the_gates_of_its_first_and_last_dose_at_the_time(group, practice, monkeypatch):
    """The runbook's own check before a first dose (the readiness gates, the day-of checklist,
    the pre-dose vitals, the integration booked, the order for this route and dose, route and
    setting), run with the clock at the dose, for the first and the last dose of every order.
    What may fail with time only gets worse along a course (a consent or preparation missing
    at the start; a screening, clearance or order running out, sessions used up, at the end),
    so a course that passes at both ends passed at each dose, but for the screening, which is
    repeated before maintenance sessions and so checked at every dose by
    test_every_dose_had_a_screening_in_date; the next test checks every session's own day-of
    gates."""
    _as_of_the_dose(monkeypatch)
    doses = defaultdict(list)
    for dose in Administration.objects.select_related(
        "runbook__visit__client", "runbook__visit__room", "order"
    ).order_by("given_at"):
        doses[dose.order_id].append(dose)
    assert len(doses) > 40
    for given in doses.values():
        for dose in {given[0], given[-1]}:
            visit = dose.runbook.visit
            visit.status = Visit.Status.IN_PROGRESS  # as it was at the dose
            with time_machine.travel(dose.given_at, tick=False):
                problems = _first_dose_problems(
                    runbook=dose.runbook,
                    visit=visit,
                    order=dose.order,
                    route=dose.route,
                    dose_mg=dose.dose_mg,
                    given_at=dose.given_at,
                    practice=practice,
                )
            assert problems == [], (visit, problems)


def test_every_session_passed_its_day_of_gates_and_discharge_criteria(group, practice):
    """Every medication session: the day-of checklist, the pre-dose vitals and the integration
    booked, as they stood at the dose; the discharge criteria met at the discharge."""
    books = Runbook.objects.select_related("visit__client").prefetch_related("administrations")
    assert books.count() > 100
    for book in books:
        visit, (dose,) = book.visit, book.administrations.all()
        for gate in (
            selectors.checklist_gate(visit, book, now=dose.given_at, practice=practice),
            selectors.predose_gate(book, now=dose.given_at, practice=practice),
            selectors.integration_gate(visit, book, practice=practice),
        ):
            assert gate.passed, (visit, gate)
        state = selectors.discharge_state(
            book, alert_and_oriented=True, steady_on_feet=True, escort_present=True
        )
        assert rules.discharge_unmet(state, now=book.discharged_at, practice=practice) == []


def test_session_records_keep_time(group, db):
    """Entries inside the visit (the runbook opened at check-in), vitals up to the discharge,
    the dose before the discharge after the minimum monitoring, the signature after, and each
    reading's alerts those the product's rules give."""
    practice = Practice.load()
    minimum = datetime.timedelta(minutes=practice.min_monitoring_minutes)
    books = Runbook.objects.select_related("visit").prefetch_related("vitals", "administrations")
    for book in books:
        visit = book.visit
        (dose,) = book.administrations.all()
        assert visit.starts_at <= dose.given_at and dose.given_at + minimum <= book.discharged_at
        assert book.discharged_at <= book.signed_at <= visit.ends_at
        baseline = None
        for reading in book.vitals.all():  # oldest first
            assert visit.starts_at <= reading.taken_at <= book.discharged_at
            as_read = selectors.as_reading(reading)
            if reading.phase == "pre_dose":
                assert reading.taken_at < dose.given_at
                baseline = as_read
            else:
                assert reading.alerts == rules.reading_alerts(as_read, baseline=baseline, practice=practice)


def test_every_dose_had_a_screening_in_date(group, practice):
    """The screening gate as it stood at each dose, not only the first and last of an order:
    the latest screening completed before it was within the practice's validity (maintenance
    sessions come months after the first screening, so it is repeated before them)."""
    screenings = defaultdict(list)
    for client_id, completed in Screening.objects.order_by("completed_at").values_list(
        "client_id", "completed_at"
    ):
        screenings[client_id].append(completed)
    doses = Administration.objects.filter(is_booster=False).values_list(
        "runbook__visit__client_id", "given_at"
    )
    assert doses.count() > 100
    for client_id, given in doses:
        before = [completed for completed in screenings[client_id] if completed < given]
        assert before, (client_id, given)
        through = timezone.localdate(before[-1]) + datetime.timedelta(days=practice.screening_valid_days)
        assert timezone.localdate(given) <= through, (client_id, given, before[-1])


def test_every_screening_has_the_prescribers_decision_but_the_last_days(group, db):
    """A screening repeated in maintenance is decided like the first: the prescriber clears the
    client on it the next day. Before, every repeat waited on the prescriber's dashboard for
    ever (35 of the busiest prescriber's clients at the group's size)."""
    waiting = Screening.objects.filter(clearances__isnull=True)
    assert not waiting.filter(completed_at__lte=group["as_of"] - REDECIDED_AFTER).exists()
    repeats = Clearance.objects.filter(findings=RECLEARED).select_related("screening", "client")
    assert repeats.exists()
    for clearance in repeats:
        # The next day at the same time on the practice's clock: 23 or 25 hours across a change
        # of the clocks (the database gives the moment back in UTC, where a day is 24 hours).
        screened = timezone.localtime(clearance.screening.completed_at)
        assert clearance.decided_at == screened + REDECIDED_AFTER
        assert clearance.client.care_team.filter(user=clearance.prescriber, role="prescriber").exists()


def test_the_front_desk_has_an_inbox_and_clients_came_through_it(group, db):
    """Most clients wrote first: their inquiry came before the coordinator made them a client,
    who converted it. Some inquiries were declined with the reason; the inbox holds new ones of
    the last day and a half and some contacted since."""
    from kapflow.inquiries.models import Inquiry

    now = group["as_of"]
    converted = Inquiry.objects.filter(status=Inquiry.Status.CONVERTED).select_related("client")
    assert converted.count() > Client.objects.count() // 2
    for inquiry in converted:
        client = inquiry.client
        assert inquiry.received_at < client.created_at and inquiry.handled_by_id == client.created_by_id
        assert (inquiry.first_name, inquiry.last_name, inquiry.email) == (
            client.first_name,
            client.last_name,
            client.email,
        )
    new = Inquiry.objects.filter(status=Inquiry.Status.NEW)
    assert new.count() >= 3 and not new.exclude(handled_by=None).exists()
    assert not new.filter(received_at__lt=now - datetime.timedelta(hours=36)).exists()
    assert Inquiry.objects.filter(status=Inquiry.Status.CONTACTED).exclude(triage_note="").exists()
    assert Inquiry.objects.filter(status=Inquiry.Status.DECLINED).exclude(declined_reason="").exists()
    assert not Inquiry.objects.filter(received_at__gt=now).exists()


def test_questionnaires_answered_on_the_portal_were_answered_from_an_account_opened_by_invitation(group, db):
    """A response no one entered on the client's behalf was given on the portal: the client had
    an account by then, opened by accepting the invitation their therapist sent after the
    discovery call, in time (kapflow.portal.services.invitation_accept)."""
    from kapflow.measures.models import Response
    from kapflow.portal.models import PortalInvitation

    now = group["as_of"]
    assert Response.objects.filter(entered_by=None).count() > 5 * TEST_SCALE.clients
    assert demo_rules.portal_problems(now=now) == []
    # The invitation is sent once the discovery call is over.
    accepted = PortalInvitation.objects.filter(accepted_at__isnull=False).select_related("client")
    assert accepted.count() == Client.objects.filter(portal_user__isnull=False).count()
    for invitation in accepted:
        calls = invitation.client.visits.filter(kind=Visit.Kind.DISCOVERY_CALL)
        call = calls.exclude(status=Visit.Status.CANCELLED).get()
        assert call.ends_at <= invitation.created_at, invitation


def test_questionnaires_follow_the_measure_schedule(group, practice):
    """The forms before each medication session and progress review, at baseline and at discharge
    were asked as the measure schedule asks them and answered on the portal; at discharge and at
    baseline the client answered all three of the schedule's questionnaires; and the schedule's
    sweep, run as the load ends, asked what was left to ask (the forms for the visits booked
    ahead, a weekly form where one is owed) and nothing of a client who has left care
    (tests/demo_rules.py)."""
    from kapflow.audit.models import AuditEvent
    from kapflow.clients.models import LEFT_CARE
    from kapflow.measures.models import MeasureTask, Response

    now = group["as_of"]
    assert demo_rules.measure_task_problems(now=now, practice=practice) == []
    answered = MeasureTask.objects.filter(reason=Response.Context.PRE_SESSION, response__isnull=False)
    assert answered.count() > 2 * TEST_SCALE.clients
    # Every baseline, review and discharge questionnaire was answered on the portal, to a form.
    for context in (Response.Context.BASELINE, Response.Context.REVIEW, Response.Context.DISCHARGE):
        given = Response.objects.filter(context=context)
        assert given.exists() and given.count() == given.filter(entered_by=None, task__isnull=False).count()
    for context in (Response.Context.BASELINE, Response.Context.DISCHARGE):
        by_instrument = dict(
            Response.objects.filter(context=context).values_list("instrument").annotate(n=Count("pk"))
        )
        assert set(by_instrument) == {"phq9", "gad7", "pcl5"}, context
        assert len(set(by_instrument.values())) == 1, context
    # The sweep's own tasks are those whose making it audited: the demo writes its history
    # without audit events, and a discharge the demo signs at this very moment (a review that
    # ended within the hour) asks its forms at `now` too, so the time alone cannot tell them apart.
    made = AuditEvent.objects.filter(action="kapflow.measures.task.created").values_list("object_id")
    swept = MeasureTask.objects.filter(pk__in=[int(pk) for (pk,) in made])
    assert swept.exists() and not swept.exclude(created_at=now).exists()
    assert swept.filter(reason=Response.Context.PRE_SESSION, visit__starts_at__gt=now).exists()
    assert not swept.filter(client__stage__in=LEFT_CARE).exists()
    assert group["rows"]["measure tasks"] == MeasureTask.objects.count()


def test_each_chart_is_dated_before_what_it_holds(group, db):
    """Each client registered before their first record, the care team formed before the visits
    it held, each visit booked before it began (tests/demo_rules.py, as for the quick practice)."""
    assert demo_rules.dating_problems() == []


def test_the_reminders_sent_are_the_sweeps_and_it_sends_none_again(group, db):
    """Each client's appointment reminders and day-before instructions went to their portal
    account once it was open, each created when the sweep would have found it and sent since;
    the worker's sweep, run at the moment the practice stands at, finds every one it would send
    already sent (kapflow.reminders.services.sweep), and none about a visit that is not on."""
    from kapflow.reminders import services
    from kapflow.reminders.models import Reminder
    from kapflow.reminders.sources import appointment_key, dayof_key

    now = group["as_of"]
    practice = Practice.load()
    ahead = datetime.timedelta(hours=practice.appointment_reminder_hours)
    kinds = {Reminder.Kind.APPOINTMENT: appointment_key, Reminder.Kind.DAYOF: dayof_key}
    reminders = Reminder.objects.select_related("recipient", "client")
    assert reminders.filter(kind=Reminder.Kind.APPOINTMENT).count() > 5 * TEST_SCALE.clients
    assert reminders.filter(kind=Reminder.Kind.DAYOF).exists()
    visits = Visit.objects.in_bulk(
        {int(key.split(":")[1]) for key in reminders.values_list("key", flat=True)}
    )
    for reminder in reminders:
        visit = visits[int(reminder.key.split(":")[1])]
        assert reminder.key == kinds[reminder.kind](visit) and reminder.client_id == visit.client_id
        assert (
            reminder.recipient == reminder.client.portal_user and reminder.address == reminder.recipient.email
        )
        assert reminder.recipient.date_joined <= reminder.created_at < visit.starts_at, reminder
        assert visit.created_at <= reminder.created_at <= now, reminder
        if visit.status == Visit.Status.CANCELLED:
            assert reminder.created_at < visit.status_changed_at, reminder
        if reminder.kind == Reminder.Kind.APPOINTMENT:
            assert reminder.due_at == visit.starts_at - ahead and reminder.created_at >= reminder.due_at
        else:
            eve = timezone.localtime(reminder.due_at)
            assert visit.kind == Visit.Kind.MEDICATION and eve.hour == practice.dayof_reminder_hour
            assert eve.date() == timezone.localdate(visit.starts_at) - datetime.timedelta(days=1)
        assert reminder.status == Reminder.Status.SENT or reminder.created_at > now - datetime.timedelta(
            minutes=1
        )
    with time_machine.travel(now, tick=False):
        again = services.sweep(timezone.now())
    assert [r for r in again if r.kind in kinds] == []


def test_virtual_sessions_had_the_telehealth_consent_before(group, db):
    virtual = Visit.objects.filter(
        kind=Visit.Kind.MEDICATION, modality=Visit.Modality.VIRTUAL, status=Visit.Status.COMPLETED
    ).select_related("client")
    assert virtual.exists()
    for visit in virtual:
        signed = Signature.objects.filter(
            client=visit.client, kind=Kind.TELEHEALTH, signed_at__lt=visit.starts_at
        )
        assert signed.exists(), visit
        with time_machine.travel(visit.starts_at, tick=False):
            assert consent_gate(visit.client, virtual=True).passed


def test_orders_counts_and_dates_are_respected(group, db):
    """No order gives more sessions than it authorises, counting those booked in its days (a
    maintenance order's, once the course's order was discontinued), nor any outside its days."""
    for order in MedicationOrder.objects.prefetch_related("administrations"):
        given = order.administrations_count()  # the product's own count
        booked = [
            visit
            for visit in Visit.objects.filter(
                client=order.client_id, kind=Visit.Kind.MEDICATION, status=Visit.Status.SCHEDULED
            )
            if order.starts_on <= timezone.localdate(visit.starts_at) <= order.ends_on
            and (order.discontinued_at is None or visit.starts_at < order.discontinued_at)
        ]
        assert given + len(booked) <= order.sessions_authorised, order
        for dose in order.administrations.all():
            day = timezone.localdate(dose.given_at)
            assert order.starts_on <= day <= order.ends_on
            assert order.discontinued_at is None or dose.given_at < order.discontinued_at


def test_there_are_sessions_to_run_on_the_next_session_day_and_next_week(group, db):
    """Booked, with every hard gate passed now (a virtual session's safety plan is recorded on
    the day, so only that may still be open)."""
    today = timezone.localdate()
    days = {
        "next session day": [next_session_day(today)],
        "next week": [today + datetime.timedelta(days=n) for n in range(7, 14)],
    }
    for label, wanted in days.items():
        ready = []
        for visit in Visit.objects.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.SCHEDULED):
            if timezone.localdate(visit.starts_at) not in wanted:
                continue
            blockers = [gate.result.key for gate in start_blockers(visit)]
            if blockers in ([], ["safety_plan"]):
                ready.append(visit)
        assert ready, label


def test_the_outcome_report_has_each_of_the_last_eight_quarters(group, db):
    for start, end in ended_quarters(timezone.localdate(), 8):
        report = build_report(start=start, end=end)
        assert report.overall.clients > 0, start


# Notes, course reviews, maintenance and discharge (issue 15): the same rules as the quick
# practice's (tests/demo_rules.py), at the group's size.


def test_every_completed_clinical_visit_carries_its_signed_note(group, practice):
    now = group["as_of"]
    assert demo_rules.note_problems(practice=practice, now=now) == []
    assert group["rows"]["progress notes"] > 5 * TEST_SCALE.clients
    assert demo_rules.intention_problems(now=now) == []
    assert group["rows"]["session intentions"] > TEST_SCALE.clients


def test_no_course_began_more_sessions_than_its_plan_and_every_review_point_was_reviewed(group, db):
    assert demo_rules.course_gate_problems() == []
    assert demo_rules.review_problems(now=group["as_of"]) == []
    assert group["rows"]["course reviews"] > TEST_SCALE.clients // 2


def test_clients_not_proceeding_were_found_not_a_fit_or_moved_there_with_the_reason(group, db):
    """Three ways out before a course: a consultation that found the client not a fit, a
    prescriber who did not clear them, and no therapist with room. The first moves the stage by
    itself; for the other two the clinician records why (Client.Stage has no other way there)."""
    assert demo_rules.not_proceeding_problems(now=group["as_of"]) == []
    # The small practice has room for everyone (the test before builds a full one).
    reasons = set(StageChange.objects.values_list("reason", flat=True))
    assert NOT_CLEARED in reasons and reasons <= {NO_ROOM, NOT_CLEARED}
    uncleared = StageChange.objects.filter(reason=NOT_CLEARED)
    assert not uncleared.exclude(changed_by__is_prescriber=True).exists()
    assert Client.objects.filter(stage=Client.Stage.NOT_PROCEEDING, stage_changes__isnull=True).exists()


def test_clients_in_maintenance_and_discharged_ones_have_the_records_that_put_them_there(group, db, practice):
    # How many are in maintenance moves with the day the practice is loaded: 4 to 11 at this
    # size, loaded at 16 moments of the year after 8 December 2026 (4 on 20 February and 20 July
    # 2027, where this asked for 5 and failed). Several, then; their records are checked below.
    assert Client.objects.filter(stage=Client.Stage.MAINTENANCE).count() >= 2
    assert demo_rules.maintenance_problems(now=group["as_of"]) == []
    assert Client.objects.filter(stage=Client.Stage.DISCHARGED).count() >= 10
    assert demo_rules.discharge_problems() == []
    # Maintenance is held, not only planned: medication sessions in maintenance plans, some
    # maintenance ended by a review and a discharge, and fewer than half the plans in force due.
    maintenance = CoursePlan.Kind.MAINTENANCE
    assert Visit.objects.filter(
        kind=Visit.Kind.MEDICATION,
        status=Visit.Status.COMPLETED,
        client__course_plans__kind=maintenance,
        starts_at__gt=F("client__course_plans__counts_from"),
    ).exists()
    assert Discharge.objects.filter(
        plan__kind=maintenance, review__decision=CourseReview.Decision.END
    ).exists()
    in_force = CoursePlan.objects.current().filter(kind=maintenance, ended_at__isnull=True).count()
    assert 2 * due_plans(now=group["as_of"]).count() < in_force
    # Each summary reads as the product draws it at signing (the group draws the sections it
    # shares with the review once: kapflow.demo.course.discharge_facts_from).
    for discharge in Discharge.objects.select_related("client")[:15]:
        assert discharge.facts == {
            **discharge_facts(discharge.client),
            "crisis_resources": practice.crisis_resources,
        }, discharge.client


def test_every_esketamine_dose_came_from_a_lot_and_is_posted_to_its_ledger(group, db):
    """The controlled-substance record (issue 17) at the group's size: an initial inventory
    before the first dose, a monthly receipt per Spravato lot, and each dose posted once to its
    lot, each lot's entries numbered in order with the running balance, never below zero."""
    from kapflow.controlled.models import Entry, Inventory

    assert demo_rules.ledger_problems() == []
    assert demo_rules.stocked_dose_problems() == []
    doses = Administration.objects.filter(route="intranasal")
    assert doses.exists() and not doses.filter(lot__isnull=True).exists()
    assert Inventory.objects.filter(kind=Inventory.Kind.INITIAL).count() == 1
    assert (
        Entry.objects.filter(kind=Entry.Kind.RECEIPT).count()
        == Entry.objects.values("lot").distinct().count()
    )


def test_the_biennial_inventory_was_taken_in_time_and_matches_the_ledger(group, practice):
    """Two years after the initial inventory the next was due (21 CFR 1304.11(c)); the practice
    took it three weeks early, so no dashboard shows it overdue. Each lot holding stock then is
    counted, as the ledger stood at the opening of business that day: no discrepancy."""
    from kapflow.controlled import clocks, inventory
    from kapflow.controlled.ledger import balance_at
    from kapflow.controlled.models import Discrepancy, Inventory, Lot

    initial = Inventory.objects.get(kind=Inventory.Kind.INITIAL)
    # Taken before the practice's first visit, two years or more before loading, so that the
    # biennial one is always due by now: dated from the first esketamine month, it was not on
    # some days (26 January 2027, docs/demo.md).
    first_visit = Visit.objects.order_by("starts_at").values_list("starts_at", flat=True).first()
    assert initial.taken_on < timezone.localdate(first_visit)
    (biennial,) = Inventory.objects.filter(kind=Inventory.Kind.BIENNIAL)
    due = clocks.next_inventory_due(initial.taken_on)
    assert due - datetime.timedelta(days=24) <= biennial.taken_on < due and biennial.taken_on.weekday() < 5
    today = timezone.localdate(group["as_of"])
    assert clocks.next_inventory_due(inventory.last_inventory_on()) > today
    assert inventory.dashboard_panel(practice, today).due_on > today
    moment = timezone.make_aware(datetime.datetime.combine(biennial.taken_on, datetime.time.min))
    counted = {count.lot_id: count for count in biennial.counts.all()}
    assert counted and not Discrepancy.objects.exists()
    for lot in Lot.objects.all():
        held = balance_at(lot, moment)
        assert (counted[lot.pk].counted if lot.pk in counted else 0) == held, lot
    for count in counted.values():
        lot = Lot.objects.get(pk=count.lot_id)
        assert count.full_containers * lot.container_quantity + count.open_quantity == count.counted
        assert count.open_quantity < lot.container_quantity


def test_every_signed_esketamine_session_has_its_rems_form_complete(group, practice):
    """The runbook cannot be signed while the REMS form lacks an answer (kapflow.dosing.rems):
    the group's bulk-built sessions obey that too, each answered before its signature, the
    first session of each client marked as its first treatment, forms submitted no earlier than
    the session."""
    from kapflow.dosing import rems
    from kapflow.dosing.models import RemsReport

    sessions = Runbook.objects.filter(administrations__route="intranasal", signed_at__isnull=False).distinct()
    assert sessions.exists()
    assert not sessions.filter(rems_report__isnull=True).exists()
    reports = RemsReport.objects.filter(runbook__in=sessions).select_related("runbook__visit")
    firsts = {}
    for report in reports:
        assert report.answered_at <= report.runbook.signed_at
        assert report.submitted_on is None or report.submitted_on >= report.runbook.visit.starts_at.date()
        firsts.setdefault(report.runbook.visit.client_id, []).append(report.first_treatment)
    assert all(flags.count(True) == 1 for flags in firsts.values())
    for report in reports[:5]:
        form = rems.form_for(report.runbook.visit, practice=practice)
        assert form is not None and form.missing == [], form.missing


def test_every_completed_visit_is_charged_invoiced_and_settled_by_the_rules(group, db):
    """The books (issue 18) at the group's size: each completed visit charged at the fee in force
    on its day, invoiced, and paid, refunded or written off within what was owed."""
    from kapflow.billing.models import Charge, Invoice

    assert demo_rules.billing_problems(today=timezone.localdate(group["as_of"])) == []
    assert demo_rules.estimate_problems(today=timezone.localdate(group["as_of"])) == []
    assert Charge.objects.count() > 0 and Invoice.objects.count() > 0
