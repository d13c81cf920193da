"""The demo practice that `make run` loads: it loads, loading it again adds nothing, and what it
shows a newcomer follows the practice's own rules (a record that breaks them would teach the
wrong thing)."""

import datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.accounts.models import User
from kapflow.clients.models import Client, OutsideProvider
from kapflow.consent.categories import Category
from kapflow.demo.group import SMALL, NotAnEmptyPractice, load_group_practice
from kapflow.demo.outside import PSYCHIATRIST, outside_client
from kapflow.demo.quick import load_demo
from kapflow.dosing import rules, selectors
from kapflow.dosing.alerts import prescriber_to_notify
from kapflow.dosing.models import AdverseEvent, Runbook
from kapflow.integration.models import ActionItem
from kapflow.integration.window import Standing, client_standings
from kapflow.letters.models import Disclosure, Letter
from kapflow.letters.releases import release_standing
from kapflow.measures.models import MeasureTask, Response
from kapflow.medical.gates import clearance_gate, current_clearance, order_gate
from kapflow.medical.models import MedicationOrder
from kapflow.medical.services import CLEARANCE_TRANSCRIBED, ORDER_TRANSCRIBED
from kapflow.notes.models import ProgressNote, SessionIntention
from kapflow.notes.owed import notes_owed
from kapflow.outcomes.forms import default_period
from kapflow.outcomes.report import build_report
from kapflow.pathway.readiness import read_many, readiness, readiness_for_visits
from kapflow.portal.models import PortalInvitation
from kapflow.practice.models import Practice
from kapflow.records.models import ImportedResponse, RecordCopy
from kapflow.visits.models import NOTED_KINDS, Visit
from kapflow.visits.services import Slot, clashes
from tests import demo_rules, factories

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="class")
def loaded_demo(django_db_setup, django_db_blocker):
    """The demo, loaded once for the tests of TestTheLoadedDemo, which take it as it is, and rolled
    back after them (each test's own writes are rolled back after each test, as usual)."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield load_demo()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def demo(loaded_demo, db):
    return loaded_demo


def live_clashes() -> list[str]:
    """What the schedule's clash check finds among the visits that hold their time."""
    found = []
    for visit in Visit.objects.live().select_related("client", "clinician", "room"):
        slot = Slot(
            kind=visit.kind,
            starts_at=visit.starts_at,
            ends_at=visit.ends_at,
            clinician=visit.clinician,
            other_clinicians=list(visit.other_clinicians.all()),
            modality=visit.modality,
            room=visit.room,
        )
        found += [f"{visit} : {clash}" for clash in clashes(client=visit.client, slot=slot, exclude=visit)]
    return found


# The demo is dated from the moment it is loaded, and must keep its rules whenever that is: the
# first day of a quarter and of a year, a quarter's middle and its last day, the last day of a
# year and the evening before it, a Sunday (the day the clocks go forward), a Monday before the
# practice opens and the Sunday the clocks go back, in UTC (the practice is on Pacific time).
LOAD_MOMENTS = [
    "2026-01-01T18:00:00+00:00",
    "2026-03-08T18:00:00+00:00",
    "2026-03-31T18:00:00+00:00",
    "2026-04-01T18:00:00+00:00",
    "2026-06-01T13:05:00+00:00",
    "2026-11-01T22:40:00+00:00",
    "2026-12-31T03:30:00+00:00",
    "2026-12-31T18:00:00+00:00",
    # A Tuesday: the esketamine session's day (five days back) was a Thursday, the client's own
    # session on the Friday left no room for its integration (a load of 8 December 2026 had none).
    "2026-12-08T16:30:00+00:00",
]


@pytest.mark.parametrize("loaded_at", LOAD_MOMENTS)
def test_the_quick_demo_keeps_its_rules_whenever_it_is_loaded(loaded_at):
    """Each moment is one load of the quick demo (seconds of the suite), checked for both:
    the schedule (_assert_hours_kept) and the outcome report (_assert_a_quarter_to_show)."""
    moment = datetime.datetime.fromisoformat(loaded_at)
    with time_machine.travel(moment, tick=False):
        load_demo()
        now = timezone.now()
        assert live_clashes() == []
        start, end = default_period()
        report = build_report(start=start, end=end)
    _assert_a_quarter_to_show(report)
    _assert_hours_kept(now)
    _assert_the_stocked_doses_given()


def _assert_the_stocked_doses_given():
    """The controlled-substance stories (kapflow.demo.controlled) found room whatever the day:
    an injection and an esketamine session posted to the ledger from signed runbooks, and the
    client's own troches counted."""
    from kapflow.controlled.models import Entry
    from kapflow.dosing.models import SupplyCount

    posted = Entry.objects.filter(
        kind=Entry.Kind.ADMINISTRATION, administration__runbook__signed_at__isnull=False
    )
    assert set(posted.values_list("administration__route", flat=True)) == {"intramuscular", "intranasal"}
    assert SupplyCount.objects.filter(runbook__signed_at__isnull=False).exists()


def _assert_a_quarter_to_show(report):
    """Finished courses in the latest quarter that has ended (the report's only periods since
    issue 11: whole quarters, so that reports cannot be subtracted), enough clients to show the
    practice's figures, and results in the range published KAP practices report (not all
    responding, not none)."""
    phq9 = report.overall.instruments["phq9"]
    assert report.overall.shown and phq9.shown and phq9.n >= 15 and phq9.mean_change < -4
    assert 35 <= phq9.response <= 75 and 10 <= phq9.remission <= phq9.response
    assert report.overall.sessions_mean >= 4 and report.overall.sessions_max >= 6


def _assert_hours_kept(now):
    """No clash (checked at the moment of loading); every visit on a working day (Monday to
    Saturday) in the practice's hours, but the one session run as the demo loads, which is today
    whatever the day; an integration session within the window after the session it follows;
    nothing else under way at that moment."""
    from kapflow.demo.schedule import CLOSE, OPEN, SATURDAY_CLOSE

    window = datetime.timedelta(hours=Practice.load().integration_window_hours)
    running = Visit.objects.get(kind=Visit.Kind.MEDICATION, status=Visit.Status.CHECKED_IN)
    assert timezone.localdate(running.starts_at) == timezone.localdate(now)
    for visit in Visit.objects.select_related("client"):
        starts, ends = timezone.localtime(visit.starts_at), timezone.localtime(visit.ends_at)
        opens, closes = OPEN, SATURDAY_CLOSE if starts.weekday() == 5 else CLOSE
        assert starts.date() == ends.date(), visit
        assert opens <= starts.hour * 60 + starts.minute and ends.hour * 60 + ends.minute <= closes, visit
        if visit != running:
            assert starts.weekday() < 6, visit
            assert not visit.starts_at < now < visit.ends_at, visit
            held = visit.ends_at <= now
            if held and visit.status == Visit.Status.IN_PROGRESS:
                # A note still owed: a clinical visit is completed by signing its note.
                signed = ProgressNote.objects.filter(visit=visit, signed_at__isnull=False)
                assert visit.kind in NOTED_KINDS and not signed.exists(), visit
            else:
                assert visit.status == (Visit.Status.COMPLETED if held else Visit.Status.SCHEDULED), visit
        if visit.kind == Visit.Kind.INTEGRATION:
            session = (
                visit.client.visits.filter(kind=Visit.Kind.MEDICATION, ends_at__lte=visit.starts_at)
                .order_by("-ends_at")
                .first()
            )
            assert session is not None and visit.starts_at <= session.ends_at + window, visit


def test_the_demo_diary_gives_the_nearest_free_time_and_reads_what_is_booked(db):
    """kapflow.demo.schedule, which every quick demo story books through."""
    from kapflow.demo.schedule import Schedule
    from kapflow.visits.models import Room
    from tests import factories

    ada, bo, cat = (factories.make_user(name, mfa=False) for name in ("Ada Jones", "Bo Smith", "Cat Lee"))
    cy, di, ed, flo = (factories.make_client(first_name=name) for name in ("Cy", "Di", "Ed", "Flo"))
    garden, studio = (Room.objects.create(name=name) for name in ("Garden", "Studio"))
    tz = timezone.get_current_timezone()
    diary = Schedule(now=datetime.datetime(2026, 12, 4, 12, tzinfo=tz))  # a Friday noon
    monday, saturday = datetime.date(2026, 12, 7), datetime.date(2026, 12, 12)
    ten = diary.at(monday, 10 * 60)
    first = diary.book(client=cy, clinician=ada, around=ten, minutes=60, rooms=[garden, studio])
    assert (first.starts_at, first.ends_at, first.room) == (ten, diary.at(monday, 11 * 60), garden)
    # The clinician is busy: the nearest free time, the earlier at an equal distance.
    assert diary.book(client=di, clinician=ada, around=ten, minutes=60).starts_at == diary.at(monday, 9 * 60)
    # Another clinician at that time: the next room free.
    assert diary.book(client=ed, clinician=bo, around=ten, minutes=60, rooms=[garden, studio]).room == studio
    # Both rooms taken: another time. A joining clinician must be free too.
    # A joining clinician must be free too (Bo alone would be at 9:00).
    joint = diary.book(client=flo, clinician=bo, around=ten, minutes=60, others=(ada,))
    assert joint.starts_at == diary.at(monday, 11 * 60)
    # Di has a visit on Monday already: one a day, so the nearest time the next day.
    half_past = diary.book(client=di, clinician=bo, around=diary.at(monday, 10 * 60 + 30), minutes=60)
    assert half_past.starts_at == diary.at(monday + datetime.timedelta(days=1), 10 * 60 + 30)
    # Saturday closes at 14:00; Sunday is closed, so a later day is the Monday after.
    late = diary.book(client=cy, clinician=ada, around=diary.at(saturday, 16 * 60), minutes=60)
    assert late.starts_at == diary.at(saturday, 13 * 60)
    after = diary.book(client=cy, clinician=ada, around=diary.at(saturday, 12 * 60), minutes=60, direction=1)
    assert after.starts_at == diary.at(saturday + datetime.timedelta(days=2), 12 * 60)
    # Given back, the slot is free again.
    diary.release(first, client=cy, clinician=ada)
    assert diary.book(client=cy, clinician=ada, around=ten, minutes=60, rooms=[garden]).starts_at == ten
    # A new diary reads what is on the calendar, joining clinicians and rooms included.
    booked = Visit.objects.create(
        client=cy, kind=Visit.Kind.THERAPY, starts_at=ten, ends_at=ten + datetime.timedelta(minutes=50),
        room=studio, clinician=bo, created_by=bo,
    )  # fmt: skip
    booked.other_clinicians.set([ada])
    fresh = Schedule(now=diary.now)
    assert fresh.book(client=di, clinician=ada, around=ten, minutes=50).starts_at != ten
    assert fresh.book(client=ed, clinician=cat, around=ten, minutes=50, rooms=[studio]).starts_at != ten
    assert fresh.book(client=flo, clinician=cat, around=ten, minutes=50, rooms=[garden]).starts_at == ten
    assert fresh.book(client=cy, clinician=bo, around=ten, minutes=50, days=0) is None  # Cy's day


def test_a_load_that_fails_half_way_leaves_nothing_behind(db, monkeypatch):
    """load_demo is one transaction: a practice is never left with half a demo in it."""

    def fails(*args, **kwargs):
        raise RuntimeError("the pathway story failed")

    monkeypatch.setattr("kapflow.demo.quick.add_pathway_story", fails)
    with pytest.raises(RuntimeError):
        load_demo()
    assert not Client.objects.exists() and not User.objects.exists()


def test_the_group_practice_loads_only_into_an_empty_database(db):
    """Its schedule knows nothing of visits already booked, so it refuses rather than book over
    them (the quick demo's rooms, or a practice's own), in the function and in the command."""
    factories.make_client(
        first_name="Already", therapist=factories.make_user("Tess T", roles=("is_therapist",))
    )
    with pytest.raises(NotAnEmptyPractice):
        load_group_practice(SMALL)
    with pytest.raises(CommandError, match="empty database only"):
        call_command("load_demo", "--size", "group")
    assert not User.objects.filter(email__endswith="@group.kapflow.test").exists()


class TestTheLoadedDemo:
    """What a newcomer sees in the demo as `make run` loads it (loaded once for the class)."""

    def test_it_loads_once_and_a_second_load_adds_nothing(self, demo):
        """Anywhere: the charts, the controlled substance record and the books, counted around
        one second load."""
        from kapflow.billing.models import Charge, Diagnosis, Estimate, Fee, Invoice
        from kapflow.billing.models import Entry as BillingEntry
        from kapflow.controlled.models import Entry, Inventory, Lot, PharmacyFill, RemsEnrolment
        from kapflow.dosing.models import RemsReport, SupplyCount

        models = (
            Client,
            Visit,
            Runbook,
            Response,
            ImportedResponse,
            RecordCopy,
            Disclosure,
            SessionIntention,
            User,
            PortalInvitation,
            # The controlled substance record.
            Entry,
            Inventory,
            Lot,
            PharmacyFill,
            RemsEnrolment,
            RemsReport,
            SupplyCount,
            # The books.
            Charge,
            Diagnosis,
            BillingEntry,
            Estimate,
            Fee,
            Invoice,
        )

        def counts():
            return {model._meta.label: model.objects.count() for model in models}

        before = counts()
        again = load_demo()
        assert not again["first_time"]
        assert counts() == before

    def test_every_signed_demo_session_met_the_discharge_criteria_when_it_was_discharged(self, demo):
        practice = Practice.load()
        books = list(Runbook.objects.filter(signed_at__isnull=False).select_related("visit"))
        assert len(books) >= 10
        for book in books:
            state = selectors.discharge_state(
                book,
                alert_and_oriented=book.alert_and_oriented,
                steady_on_feet=book.steady_on_feet,
                escort_present=book.escort_present,
            )
            assert rules.discharge_unmet(state, now=book.discharged_at, practice=practice) == [], book.visit
            latest = book.vitals.order_by("-taken_at").first()
            assert latest.taken_at <= book.discharged_at <= book.signed_at
            assert book.visit.status == Visit.Status.COMPLETED

    def test_the_demo_has_a_session_to_run_today_and_owes_few_integrations(self, demo):
        today = Visit.objects.get(kind=Visit.Kind.MEDICATION, status=Visit.Status.CHECKED_IN)
        assert timezone.localdate(today.starts_at) == timezone.localdate()
        practice = Practice.load()
        owed = done = 0
        for client in Client.objects.filter(visits__kind=Visit.Kind.MEDICATION).distinct():
            for row in client_standings(client, practice=practice):
                owed += row.overdue
                done += row.standing is Standing.DONE
        assert done > 10 * owed >= 10
        # Older action items were reviewed at later integrations: the open ones are the latest
        # record's of each client.
        open_items = list(
            ActionItem.objects.filter(status__in=ActionItem.STILL_OPEN).select_related("record")
        )
        assert open_items and ActionItem.objects.exclude(status__in=ActionItem.STILL_OPEN).exists()
        for item in open_items:
            latest = item.client.integration_records.order_by("-recorded_at", "-pk").first()
            assert item.record == latest

    def test_the_portal_sign_ins_have_something_to_show(self, demo):
        client = Client.objects.get(portal_user__email="client@demo.kapflow.test")
        assert client.visits.filter(starts_at__gt=timezone.now()).exists()
        assert client.responses.exists() and client.measure_tasks.filter(response__isnull=True).exists()
        assert Client.objects.filter(guardians__portal_user__email="guardian@demo.kapflow.test").exists()

    def test_what_clients_did_on_the_portal_they_did_from_accounts_opened_by_invitation(self, demo):
        """Weekly questionnaires, the urgent alert's PHQ-9, journal entries, intentions: each from
        the client's own account, opened by accepting their therapist's invitation before."""
        assert Response.objects.filter(entered_by=None).count() > 100
        assert Client.objects.exclude(portal_user=None).count() > 10
        assert demo_rules.portal_problems(now=timezone.now()) == []

    def test_each_chart_is_dated_before_what_it_holds(self, demo):
        """Registered before the first visit, the care team formed before the visits it held,
        each visit booked before it began: a visit's page says when it was booked."""
        assert demo_rules.dating_problems() == []

    def test_questionnaires_follow_the_measure_schedule(self, demo):
        """Every form the schedule asked is as it makes them, every pre-session questionnaire
        answered on the portal answered one, and the sweep finds nothing left to do
        (tests/demo_rules.py, as for the group practice), at the moment the sweep ran as the demo
        loaded: a session of the demo's that begins while the suite runs (its forms then due to
        be withdrawn by the worker's next sweep) is not the demo's fault (CI, 7 December)."""
        assert demo["as_of"] is not None
        assert demo_rules.measure_task_problems(now=demo["as_of"], practice=Practice.load()) == []

    @pytest.mark.parametrize("days_on", [0, 2, 9, 45])
    def test_the_measure_sweep_looks_at_every_client_whose_forms_it_would_change(self, demo, days_on):
        """The sweep plans only the clients its one query picks (kapflow.measures.schedule
        .clients_to_schedule): planning every client of the demo, now and in the weeks after,
        finds none outside it that the plan would ask or withdraw anything of."""
        from kapflow.measures import schedule

        practice = Practice.load()
        now = timezone.now() + datetime.timedelta(days=days_on)
        # And clients in the states only the sweep's last terms find: one discharged with no
        # form open (their course's forms closed), owed their discharge forms; one with a
        # discharge form open who is now not proceeding, which withdraws it.
        course = Client.objects.filter(stage="course").order_by("-pk").first()
        MeasureTask.objects.filter(client=course, response=None).update(withdrawn_at=timezone.now())
        alum = Client.objects.filter(stage="discharged").order_by("pk").first()
        MeasureTask.objects.create(client=alum, instrument="phq9", reason="discharge", due_at=timezone.now())
        Client.objects.filter(pk=course.pk).update(stage="discharged")
        Client.objects.filter(pk=alum.pk).update(stage="not_proceeding")
        picked = set(schedule.clients_to_schedule(now))
        changed = set()
        for client in Client.objects.all():
            decided = schedule.plan(
                schedule.client_state(client, now=now),
                now=now,
                weekly_days=practice.measures_weekly_days,
                lead_hours=practice.appointment_reminder_hours,
            )
            if decided.create or decided.withdraw:
                changed.add(client.pk)
        assert changed and changed <= picked
        # Clients discharged, with their forms asked or answered, are left alone.
        assert Client.objects.filter(stage=Client.Stage.DISCHARGED).exclude(pk__in=picked).exists()

    def test_clients_who_have_left_care_wait_for_nothing_and_names_do_not_repeat(self, demo):
        names = list(Client.objects.values_list("first_name", "last_name"))
        assert len(names) == len(set(names))
        alumni = Client.objects.filter(stage=Client.Stage.DISCHARGED)
        assert alumni.count() >= 15
        assert not ActionItem.objects.filter(client__in=alumni, status__in=ActionItem.STILL_OPEN).exists()
        assert not AdverseEvent.objects.filter(
            runbook__visit__client__in=alumni, review__isnull=True
        ).exists()
        # Their records are whole: signed runbooks, an integration record after every session.
        for client in alumni.filter(visits__kind=Visit.Kind.MEDICATION).distinct():
            sessions = client.visits.filter(kind=Visit.Kind.MEDICATION)
            assert not sessions.filter(runbook__signed_at__isnull=True).exists()
            assert client.integration_records.count() == sessions.count()
            assert client.clearances.exists() and client.consultations.exists()

    def test_nobody_and_no_room_is_booked_twice_in_the_quick_demo(self, demo):
        """The schedule's own clash check finds nothing for any visit that holds its time: no
        clinician (primary or joining), client or room is in two places at once."""
        found = []
        for visit in Visit.objects.live().select_related("client", "clinician", "room"):
            slot = Slot(
                kind=visit.kind,
                starts_at=visit.starts_at,
                ends_at=visit.ends_at,
                clinician=visit.clinician,
                other_clinicians=list(visit.other_clinicians.all()),
                modality=visit.modality,
                room=visit.room,
            )
            found += [
                f"{visit.kind} {visit.starts_at:%a %H:%M}: {clash}"
                for clash in clashes(client=visit.client, slot=slot, exclude=visit)
            ]
        assert found == []

    def test_a_demo_loaded_again_another_day_books_around_what_is_there(self, demo):
        """The session run yesterday is done; loading the demo again today adds today's session,
        clear of everything already on the calendar."""
        running = Visit.objects.get(kind=Visit.Kind.MEDICATION, status=Visit.Status.CHECKED_IN)
        Visit.objects.filter(pk=running.pk).update(status=Visit.Status.COMPLETED)
        with time_machine.travel(timezone.now() + datetime.timedelta(days=1), tick=False):
            load_demo()
            today = Visit.objects.get(kind=Visit.Kind.MEDICATION, status=Visit.Status.CHECKED_IN)
            assert timezone.localdate(today.starts_at) == timezone.localdate()
            assert live_clashes() == []

    def test_every_demo_session_had_its_consents_before_it(self, demo):
        """The consent gate (the telehealth consent too for a session at home), as it stood when each
        held medication session began."""
        from kapflow.consent.gates import consent_gate

        held = Visit.objects.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED)
        assert held.filter(modality=Visit.Modality.VIRTUAL).exists()
        for visit in held.select_related("client"):
            with time_machine.travel(visit.starts_at, tick=False):
                gate = consent_gate(visit.client, virtual=visit.is_virtual)
            assert gate.passed, (visit, gate.reason)

    # The outside world (issue 14): an outside psychiatrist working by letter, and the client's
    # own therapist under a current release, built by the product's own rules.

    def test_the_outside_psychiatrists_letters_clear_the_client_and_no_staff_prescriber_is_on_the_team(
        self, demo
    ):
        client = outside_client()
        clearance = current_clearance(client)
        assert clearance.is_outside and clearance.document.client_id == client.pk
        assert set(clearance.confirmed_fields) == set(CLEARANCE_TRANSCRIBED)
        [order] = MedicationOrder.objects.filter(client=client)
        assert order.prescriber is None and set(order.confirmed_fields) == set(ORDER_TRANSCRIBED)
        assert not client.care_team.filter(role="prescriber").exists()
        # An in-session alert still reaches a prescriber of the practice: the one on call.
        practice = Practice.load()
        assert practice.on_call_prescriber is not None
        assert prescriber_to_notify(client, practice) == (practice.on_call_prescriber, True)
        gate = clearance_gate(client)
        assert gate.passed and f"Cleared by {PSYCHIATRIST} (outside)" in gate.reason
        held = Visit.objects.filter(client=client, kind=Visit.Kind.MEDICATION, status=Visit.Status.COMPLETED)
        assert held.exists()
        for visit in held:
            with time_machine.travel(visit.starts_at, tick=False):
                assert clearance_gate(client).passed, visit
                assert order_gate(client).passed, visit

    def test_every_signed_release_has_the_clients_signature_and_the_letter_went_under_one(self, demo):
        for provider in OutsideProvider.objects.filter(release="signed").select_related("client"):
            standing = release_standing(provider, provider.release_categories)
            assert standing.allows and standing.release.provider_id == provider.pk, provider
        client = outside_client()
        [sent] = Letter.objects.filter(client=client, kind=Letter.Kind.POST_SESSION)
        [disclosure] = Disclosure.objects.filter(letter=sent)
        assert sent.is_signed and disclosure.release.provider_id == sent.provider_id
        assert set(sent.categories) <= set(disclosure.release.categories)
        therapist = client.outside_providers.get(kind="therapist")
        assert release_standing(therapist, [Category.COURSE]).allows
        draft = Letter.objects.get(client=client, kind=Letter.Kind.COLLABORATION)
        assert not draft.is_signed and draft.provider == therapist

    # Notes, course reviews, maintenance and discharge (issue 15), by the product's own rules.

    def test_every_completed_clinical_visit_carries_its_signed_note_and_each_therapist_owes_few(self, demo):
        practice, now = Practice.load(), timezone.now()
        assert demo_rules.note_problems(practice=practice, now=now) == []
        assert ProgressNote.objects.filter(signed_at__isnull=False).count() >= 100
        noted = ProgressNote.objects.filter(signed_at__isnull=False)
        for kind in (Visit.Kind.PREPARATION, Visit.Kind.INTEGRATION, Visit.Kind.PROGRESS_REVIEW):
            assert noted.filter(visit__kind=kind).exists(), kind
        # The notes owed: one or two recent ones for each demo therapist, one of them a draft.
        for email in ("owner@demo.kapflow.test", "therapist@demo.kapflow.test"):
            therapist = User.objects.get(email=email)
            owed = list(notes_owed(therapist, clients=Client.objects.all(), practice=practice))
            assert 1 <= len(owed) <= 2, email
            assert all(visit.ends_at > now - datetime.timedelta(days=3) for visit in owed)
            assert all(visit.status == Visit.Status.IN_PROGRESS for visit in owed)
        assert (
            ProgressNote.objects.filter(signed_at__isnull=True, author__email__startswith="owner@").count()
            == 1
        )
        assert (
            not Visit.objects.filter(kind__in=NOTED_KINDS, status=Visit.Status.IN_PROGRESS)
            .exclude(clinician__email__in=["owner@demo.kapflow.test", "therapist@demo.kapflow.test"])
            .exists()
        )

    def test_clients_intentions_were_entered_before_or_in_the_opening_of_their_sessions(self, demo):
        from kapflow.notes.models import SessionIntention

        assert demo_rules.intention_problems(now=timezone.now()) == []
        intentions = SessionIntention.objects.all()
        assert intentions.count() >= 5
        assert intentions.filter(source=SessionIntention.Source.PORTAL).exists()
        assert intentions.filter(source=SessionIntention.Source.OPENING).exists()
        # An integration note starts from the intention of the session it follows.
        assert ProgressNote.objects.exclude(session_intention="").exists()

    def test_no_client_began_more_sessions_than_the_plan_in_force_allowed(self, demo):
        assert demo_rules.course_gate_problems() == []
        assert demo_rules.review_problems(now=timezone.now()) == []
        from kapflow.course.models import CourseReview

        decided = CourseReview.objects.filter(decided_at__isnull=False)
        for decision in ("continue", "maintenance", "end"):
            assert decided.filter(decision=decision).exists(), decision

    def test_readiness_read_for_many_clients_at_once_answers_as_it_does_for_each(self, demo):
        """read_many (the calendar's and the dashboard's badges) against readiness() reading
        for itself, for every client of the demo, in person and virtual, and for every session
        not begun; the demo has a client failing, and one passing, each gate."""
        clients = list(Client.objects.order_by("pk"))
        read = read_many(clients)
        seen = {}
        for client in clients:
            for virtual in (False, True):
                alone = readiness(Client.objects.get(pk=client.pk), virtual=virtual)
                assert readiness(client, virtual=virtual, read=read[client.pk]) == alone, client
                for gate in alone:
                    seen.setdefault(gate.result.key, set()).add(gate.passed)
        assert seen == {key: {True, False} for key in seen} and len(seen) == 7, seen
        sessions = list(
            Visit.objects.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.SCHEDULED).select_related(
                "client"
            )
        )
        assert len({visit.client_id for visit in sessions}) > 1
        together = readiness_for_visits(sessions, practice=Practice.load())
        for visit in sessions:
            assert together[visit.pk] == readiness(
                Client.objects.get(pk=visit.client_id), virtual=visit.is_virtual, visit=visit
            ), visit

    def test_readiness_read_for_many_clients_costs_what_it_costs_for_one(self, demo):
        clients = list(Client.objects.order_by("pk"))
        # A client with a course plan: with none among them, no review is read (one query fewer).
        planned = next(client for client in clients if client.course_plans.current().exists())
        with CaptureQueriesContext(connection) as one:
            read_many([planned])
        with CaptureQueriesContext(connection) as every:
            read_many(clients)
        assert len(clients) > 20
        assert len(every) == len(one)

    def test_a_client_in_maintenance_has_the_plan_a_review_wrote_and_a_session_booked_or_due(self, demo):
        now = timezone.now()
        assert Client.objects.filter(stage=Client.Stage.MAINTENANCE).exists()
        assert demo_rules.maintenance_problems(now=now) == []
        assert demo_rules.maintenance_session_booked_or_due(now=now)
        booked = Visit.objects.filter(
            client__stage=Client.Stage.MAINTENANCE,
            kind=Visit.Kind.MEDICATION,
            status=Visit.Status.SCHEDULED,
            starts_at__gt=now,
        )
        assert booked.exists()

    def test_discharged_clients_have_signed_summaries_and_their_courses_ended(self, demo):
        from kapflow.course.models import Discharge

        assert demo_rules.discharge_problems() == []
        assert demo_rules.not_proceeding_problems(now=timezone.now()) == []
        signed = Discharge.objects.filter(signed_at__isnull=False)
        assert signed.count() >= 15 and signed.filter(reason=Discharge.Reason.COMPLETED).count() >= 15
        # The alumni are among them, each with the measures of their course in the summary.
        for discharge in signed.filter(reason=Discharge.Reason.COMPLETED):
            headings = [section["heading"] for section in discharge.facts["sections"]]
            assert "Medicine given" in headings and "Course of treatment" in headings, discharge

    # Records from and to other systems (issue 16), by the product's own rules.

    def test_a_referrers_phq9_is_on_a_chart_as_imported_from_before_the_client_came(self, demo, login):
        assert demo_rules.import_problems() == []
        imported = ImportedResponse.objects.select_related("response__client", "imported_by").get()
        response, client = imported.response, imported.response.client
        assert response.instrument == "phq9" and client.stage == Client.Stage.COURSE
        assert not response.alerts.exists()
        # The practice's own baseline stays the baseline: the import came weeks before it.
        own = client.responses.filter(instrument="phq9", context=Response.Context.BASELINE).get()
        assert response.completed_at < own.completed_at
        factories.enrol_totp(imported.imported_by)  # staff pages need the second factor
        page = login(imported.imported_by).get(reverse("measures:list", args=[client.pk]))
        assert f"Imported from {imported.source_name}" in page.content.decode()

    def test_the_portal_client_downloaded_her_record_once_and_the_chart_lists_it(self, demo, login):
        assert demo_rules.record_copy_problems(now=timezone.now()) == []
        client = Client.objects.get(portal_user__email="client@demo.kapflow.test")
        copy = RecordCopy.objects.select_related("disclosure").get()
        assert copy.client == client and copy.produced_at < timezone.now() - datetime.timedelta(days=1)
        therapist = client.care_team.get(role="primary_therapist").user
        factories.enrol_totp(therapist)
        page = login(therapist).get(reverse("disclosures:list", args=[client.pk])).content.decode()
        assert copy.disclosure.what in page
        accounting = login(therapist).get(reverse("disclosures:export", args=[client.pk]))
        assert copy.disclosure.what in accounting.content.decode()

    # The controlled-substance record (issue 17), by the product's own rules.

    def test_the_demo_stocks_ketamine_with_receipts_doses_a_witnessed_waste_and_inventories(self, demo):
        from kapflow.controlled.models import Discrepancy, Entry, Inventory
        from kapflow.lib.identifiers import dea_number_valid

        assert demo_rules.ledger_problems() == []
        assert demo_rules.stocked_dose_problems() == []
        assert demo_rules.waste_problems() == []
        practice = Practice.load()
        assert practice.dea_registrant.email == "prescriber@demo.kapflow.test"
        assert dea_number_valid(practice.dea_registration_number)
        kinds = list(Entry.objects.values_list("kind", flat=True))
        assert kinds.count(Entry.Kind.RECEIPT) >= 2 and kinds.count(Entry.Kind.WASTE) >= 1
        posted = Entry.objects.filter(kind=Entry.Kind.ADMINISTRATION)
        for route in ("intramuscular", "intranasal"):
            assert posted.filter(administration__route=route).exists(), route
        # Those doses were recorded in signed runbooks, by the runbook's own dose service.
        assert not posted.filter(administration__runbook__signed_at__isnull=True).exists()
        initial = Inventory.objects.get(kind=Inventory.Kind.INITIAL)
        later = Inventory.objects.exclude(kind=Inventory.Kind.INITIAL).get()
        assert initial.taken_on < later.taken_on < timezone.localdate()
        [discrepancy] = Discrepancy.objects.filter(count__inventory=later)
        assert discrepancy.explained_by == practice.dea_registrant and discrepancy.explanation

    def test_the_ledger_rules_find_a_balance_that_does_not_add_up(self, demo):
        from kapflow.controlled.models import Entry

        latest = Entry.objects.order_by("-sequence").first()
        Entry.objects.create(
            lot=latest.lot,
            sequence=latest.sequence + 1,
            kind=Entry.Kind.RECEIPT,
            quantity=1,
            balance_after=latest.balance_after + 2,
            occurred_at=timezone.now(),
            person=latest.person,
            recorded_by=latest.person,
            party_name="Somebody",
            party_dea_number="PC3815620",
            document_reference="X",
        )
        assert any("the entries sum to" in problem for problem in demo_rules.ledger_problems())

    def test_one_client_holds_her_own_troches_and_the_count_matches_the_fill(self, demo):
        from kapflow.controlled.models import PharmacyFill
        from kapflow.dosing.models import SessionAlert, SupplyCount

        assert demo_rules.supply_count_problems() == []
        [fill] = PharmacyFill.objects.all()
        [count] = SupplyCount.objects.select_related("runbook__visit")
        assert count.runbook.visit.client_id == fill.client_id and count.runbook.signed_at is not None
        assert count.brought == fill.quantity and count.taken > 0 and not count.mismatches
        assert not SessionAlert.objects.filter(kind=SessionAlert.Kind.SUPPLY_COUNT).exists()

    def test_esketamine_is_given_to_enrolled_clients_in_the_certified_room_and_one_form_is_due(
        self, demo, login
    ):
        from kapflow.dosing import rems

        practice = Practice.load()
        assert demo_rules.rems_problems(practice=practice) == []
        due = list(rems.open_reports(Client.objects.all()))
        assert due and all(rems.due_on(report, practice=practice) >= timezone.localdate() for report in due)
        report = due[0]
        assert report.runbook.administrations.get().lot is not None  # posted from the ledger
        prescriber = User.objects.get(email="prescriber@demo.kapflow.test")
        factories.enrol_totp(prescriber)
        page = login(prescriber).get(reverse("rems:list")).content.decode()
        assert report.runbook.visit.client.last_name in page

    # The practice's money (issue 18), by the product's own rules.

    def test_the_demo_bills_every_completed_visit_at_the_fee_of_its_day(self, demo):
        from kapflow.billing import selectors as billing
        from kapflow.billing.models import Charge, Diagnosis, Entry, Fee, Invoice
        from kapflow.lib.identifiers import ein_problem, npi_problem

        assert demo_rules.billing_problems() == []
        practice = Practice.load()
        assert ein_problem(practice.tax_id) == "" and npi_problem(practice.npi) == ""
        for clinician in User.objects.clinicians().filter(email__endswith="@demo.kapflow.test"):
            assert npi_problem(clinician.npi) == "" and clinician.license_number, clinician
        # The integration hour went up two months ago: the invoices before it kept $200.
        amounts = set(
            Charge.objects.filter(code="90837", visit__kind="integration").values_list("amount", flat=True)
        )
        assert {str(a) for a in amounts} == {"200.00", "220.00"}
        assert Fee.objects.filter(code="").exists()  # the free discovery call
        # Invoices paid and owed, of more than one age; a refund and a write-off.
        today = timezone.localdate()
        ages = {billing.age_bucket(i.due_on, today) for i in Invoice.objects.filter(owed_cents__gt=0)}
        assert "current" in ages and len(ages) >= 2
        kinds = set(Entry.objects.values_list("kind", flat=True))
        assert kinds == {Entry.Kind.PAYMENT, Entry.Kind.REFUND, Entry.Kind.WRITE_OFF}
        # Every client billed has a diagnosis for their superbill.
        billed = set(Charge.objects.values_list("client_id", flat=True))
        assert billed <= set(Diagnosis.objects.values_list("client_id", flat=True))

    def test_every_self_pay_course_had_its_good_faith_estimate_before_its_first_session(self, demo):
        from kapflow.billing import estimates
        from kapflow.billing.models import Estimate

        assert demo_rules.estimate_problems() == []
        assert Estimate.objects.filter(reason=Estimate.Reason.PLAN).exists()
        assert Estimate.objects.filter(superseded_at__isnull=False).exists()  # a plan changed
        # The clients booked for their first session before their plan is written are due.
        due = estimates.estimates_due()
        assert due and all(item.plan is None and item.due_on >= timezone.localdate() for item in due)

    def test_the_billing_rules_find_a_payment_larger_than_its_invoice(self, demo):
        from django.db import IntegrityError, connection, transaction

        from kapflow.billing import db as billing_db
        from kapflow.billing.models import Entry, Invoice

        invoice = Invoice.objects.order_by("-number").first()

        def overpay() -> None:
            Entry.objects.create(
                invoice=invoice,
                client=invoice.client,
                kind=Entry.Kind.PAYMENT,
                amount=10_000,
                method=Entry.Method.CASH,
                received_on=invoice.issued_on,
                created_by=User.objects.get(email="coordinator@demo.kapflow.test"),
            )

        # The database refuses it (the amount it keeps owed cannot go below zero)...
        with pytest.raises(IntegrityError), transaction.atomic():
            overpay()
        # ...and the rules find it where the database's triggers are not there to refuse it.
        billing_db.drop_triggers(connection)
        overpay()
        problems = demo_rules.billing_problems()
        assert any(f"Invoice {invoice.number}'s balance" in p for p in problems)
        assert any(f"Invoice {invoice.number} is kept as owing" in p for p in problems)
        billing_db.install_triggers(connection)
