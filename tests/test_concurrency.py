"""Limits that count rows hold when the same write arrives twice at the same instant (issue 11,
item 2; docs/design.md, "How the code is written": everything that counts is locked where it is counted).

Each test fires one write from two threads released together by a barrier, each thread on its
own database connection, and checks that the limit held. A pause is put between the count and
the insert (by wrapping the function that counts), so that without the lock both threads would
count before either commits: the race is certain, not a matter of luck. On PostgreSQL the lock
is `select_for_update()` on the row that holds the limit; on SQLite the IMMEDIATE transaction
(settings.py) takes the database's write lock at the start, so the same tests run there too."""

import datetime
import re
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

import kapflow
from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.dosing.models import Administration
from kapflow.dosing.services import administration
from kapflow.dosing.services.administration import _booster_problems, dose_record
from kapflow.dosing.services.checkin import checklist_record
from kapflow.dosing.services.runbook import RunbookRefused, _Actor
from kapflow.dosing.services.vitals import vitals_record
from kapflow.measures import instruments
from kapflow.measures import services as measure_services
from kapflow.measures.models import Alert, Response
from kapflow.medical.models import MedicationOrder
from kapflow.practice.models import Practice
from kapflow.visits import services as visit_services
from kapflow.visits.models import Room, Visit
from tests import factories

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.concurrency,
    pytest.mark.usefixtures("pathway_ready"),
]


@pytest.fixture(scope="module", autouse=True)
def _audit_triggers_back_at_the_end(django_db_blocker):
    """The append-only triggers, back on once this module's last flush has run (the tests after
    it expect them)."""
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture(autouse=True)
def _audit_triggers_lifted_for_the_flush(db):
    """These tests commit, so Django empties the database with `flush` after each one; the audit
    table refuses that (kapflow/audit/db.py). The triggers are on while the test runs and lifted
    just before the flush (set up after `db`, so torn down before it), as the browser tests do."""
    install_triggers(connection)
    yield
    drop_triggers(connection)


@pytest.fixture(autouse=True)
def _the_practice_settings_row(_audit_triggers_lifted_for_the_flush):
    """The practice's settings row, in the database before any race, as at every practice (the
    flush after each test here empties it, and the practice app's post_migrate handler puts it
    back; this makes sure before the threads start). Left to Practice.load in the racing
    threads, two would insert it at once, and the second waits for the first's transaction: a
    thread that inserted it and then waited for a lock the other held deadlocked on PostgreSQL
    (a review's signature against a session's start, once in a CI run of 7 December 2026)."""
    Practice.load()


PAUSE = 0.4  # seconds between counting and writing: long enough for the other thread to count


def race(*calls: Callable[[], object]) -> list[object]:
    """Run each call in its own thread, all released at once; each result, or the exception it
    raised. Every thread closes its own connection when it ends (CONN_MAX_AGE is 0 in tests)."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as error:  # noqa: BLE001 (the test inspects what each thread raised)
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting: a deadlock?"
    return results


def slowed(monkeypatch, owner, name: str) -> None:
    """Wrap `owner.name` so that it pauses after it has counted."""
    original = getattr(owner, name)

    def counted_then_paused(*args, **kwargs):
        answer = original(*args, **kwargs)
        time.sleep(PAUSE)
        return answer

    monkeypatch.setattr(owner, name, counted_then_paused)


def ready_session(client, clinician, cora, *, room: Room, starts_at: datetime.datetime) -> Visit:
    """An in-person medication session in progress whose day-of gates pass: checklist, pre-dose
    vitals five minutes ago, the integration acknowledged."""
    visit = Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.IN_PERSON,
        room=room,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=150),
        clinician=clinician,
        created_by=cora,
        status=Visit.Status.IN_PROGRESS,
    )
    now = timezone.now()
    practice = Practice.load()
    checklist_record(
        actor=clinician,
        visit=visit,
        transport_without_driving=True,
        transport_detail="Partner drives",
        last_food_at=now - datetime.timedelta(hours=5),
        last_liquid_at=now - datetime.timedelta(hours=2),
        substances=[],
        pregnancy="not_applicable",
        practice=practice,
    )
    vitals_record(
        actor=clinician,
        visit=visit,
        phase="pre_dose",
        taken_at=now - datetime.timedelta(minutes=5),
        systolic=120,
        diastolic=80,
        heart_rate=72,
        spo2=98,
        practice=practice,
    )
    factories.acknowledge_integration(visit, clinician)
    return visit


def order_for(client, prescriber, *, sessions: int, boosters: int = 0) -> MedicationOrder:
    today = timezone.localdate()
    return MedicationOrder.objects.create(
        client=client,
        prescriber=prescriber,
        drug="ketamine",
        route="sublingual",
        unit="mg",
        dose_min=Decimal(200),
        dose_max=Decimal(300),
        boosters_allowed=boosters,
        booster_max_mg=Decimal(100) if boosters else None,
        sessions_authorised=sessions,
        starts_on=today - datetime.timedelta(days=10),
        ends_on=today + datetime.timedelta(days=80),
    )


def give(visit, who, order, *, mg: int = 250):
    def call():
        return dose_record(
            actor=who,
            visit=visit,
            order=order,
            given_at=timezone.now(),
            route="sublingual",
            dose_mg=Decimal(mg),
            lot_number="LOT-1",
            given_by=who,
            practice=Practice.load(),
        )

    return call


def test_it_gives_one_first_dose_when_two_sessions_race_for_the_last_session_authorised(
    monkeypatch, avery, tess, priya, cora
):
    # Two sessions of the same client under way (a double booking made by mistake) and one
    # session left on the order: the first doses sent at once must not both pass the limit.
    rooms = [Room.objects.create(name="Cedar"), Room.objects.create(name="Willow")]
    now = timezone.now()
    first = ready_session(avery, tess, cora, room=rooms[0], starts_at=now - datetime.timedelta(minutes=30))
    second = ready_session(avery, priya, cora, room=rooms[1], starts_at=now - datetime.timedelta(minutes=20))
    order = order_for(avery, priya, sessions=1)
    slowed(monkeypatch, MedicationOrder, "sessions_remaining")

    results = race(give(first, tess, order), give(second, priya, order))

    given = [r for r in results if isinstance(r, Administration)]
    refused = [r for r in results if isinstance(r, RunbookRefused)]
    assert len(given) == 1, results
    assert len(refused) == 1, results
    assert "no sessions left (1 authorised)" in str(refused[0])
    assert Administration.objects.filter(order=order, is_booster=False).count() == 1


def test_it_gives_the_boosters_allowed_and_no_more_when_two_are_sent_at_once(
    monkeypatch, avery, tess, priya, cora
):
    # Boosters are counted per session, under the runbook's lock.
    room = Room.objects.create(name="Cedar")
    visit = ready_session(
        avery, tess, cora, room=room, starts_at=timezone.now() - datetime.timedelta(minutes=30)
    )
    order = order_for(avery, priya, sessions=6, boosters=1)
    give(visit, tess, order)()
    original = _booster_problems

    def counted_then_paused(**kwargs):
        problems = original(**kwargs)
        time.sleep(PAUSE)
        return problems

    monkeypatch.setattr(administration, "_booster_problems", counted_then_paused)

    results = race(give(visit, tess, order, mg=50), give(visit, priya, order, mg=50))

    boosters = [r for r in results if isinstance(r, Administration)]
    refused = [r for r in results if isinstance(r, RunbookRefused)]
    assert len(boosters) == 1, results
    assert len(refused) == 1, results
    assert "allows 1 booster a session; 1 already given" in str(refused[0])
    assert Administration.objects.filter(runbook__visit=visit, is_booster=True).count() == 1


def test_it_books_one_visit_when_two_bookings_for_the_same_clinician_and_room_arrive_at_once(
    monkeypatch, tess, cora, avery
):
    other = factories.make_client(first_name="Blake", therapist=tess)
    room = Room.objects.create(name="Cedar")
    starts = timezone.now() + datetime.timedelta(days=3)
    slot = visit_services.Slot(
        kind=Visit.Kind.THERAPY,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=50),
        clinician=tess,
        room=room,
    )
    slowed(monkeypatch, visit_services, "clashes")

    def book(client):
        return lambda: visit_services.visit_book(request=_Actor(None, cora), client=client, slot=slot)

    results = race(book(avery), book(other))

    booked = [r for r in results if isinstance(r, Visit)]
    refused = [r for r in results if isinstance(r, visit_services.VisitRefused)]
    assert len(booked) == 1, results
    assert len(refused) == 1, results
    assert "Tess Therapist is with" in str(refused[0])
    assert Visit.objects.filter(clinician=tess, starts_at=starts).count() == 1


class _Request:
    """What an audited service needs of a request: who asks (no address, no request id)."""

    def __init__(self, user):
        self.user = user


def test_two_admins_deactivating_each_other_at_once_leave_the_practice_one_admin(monkeypatch, ada):
    from kapflow.accounts import services as staff_services
    from kapflow.accounts.models import User

    lee = factories.make_user("Lee Admin", roles=("is_practice_admin",), email="lee@example.org")
    slowed(monkeypatch, staff_services, "_refuse_if_last_admin")

    results = race(
        lambda: staff_services.staff_deactivate(request=_Request(ada), user=lee),
        lambda: staff_services.staff_deactivate(request=_Request(lee), user=ada),
    )

    refused = [r for r in results if isinstance(r, staff_services.LastAdmin)]
    assert len(refused) == 1, results
    assert User.objects.filter(is_active=True, is_practice_admin=True).count() == 1


def test_two_admins_taking_each_others_admin_role_at_once_leave_the_practice_one_admin(monkeypatch, ada):
    from kapflow.accounts import services as staff_services
    from kapflow.accounts.forms import StaffForm
    from kapflow.accounts.models import User

    lee = factories.make_user(
        "Lee Admin", roles=("is_practice_admin", "is_therapist"), email="lee@example.org"
    )
    ada.is_therapist = True
    ada.save(update_fields=["is_therapist"])
    slowed(monkeypatch, staff_services, "_refuse_if_last_admin")

    def demote(actor, member):
        def call():
            member_now = User.objects.get(pk=member.pk)
            form = StaffForm(
                {"full_name": member_now.full_name, "email": member_now.email, "is_therapist": "on"},
                instance=member_now,
            )
            assert form.is_valid(), form.errors
            return staff_services.staff_update(request=_Request(actor), form=form)

        return call

    results = race(demote(ada, lee), demote(lee, ada))

    refused = [r for r in results if isinstance(r, staff_services.LastAdmin)]
    assert len(refused) == 1, results
    assert User.objects.filter(is_active=True, is_practice_admin=True).count() == 1


def test_a_booking_and_a_chart_write_for_the_same_client_at_once_both_go_through(
    monkeypatch, avery, tess, cora
):
    """The audit log's hash chain serialises its appends (on PostgreSQL an advisory lock held to
    the end of the transaction, kapflow.audit.models), and a row that refers to the client is
    checked against it when its transaction commits (PostgreSQL's deferred foreign keys take a
    KEY SHARE lock then). A booking locks the client's row and then writes its audit row: had it
    locked the row FOR UPDATE, a write that already held the chain's lock would wait at its
    commit for the booking, and the booking for the chain: a deadlock, and one of the two lost
    (a 500 in the browser tests). Every select_for_update is FOR NO KEY UPDATE, which a foreign
    key's check does not wait for."""
    from django.db import transaction

    from kapflow.audit.services import audit_record
    from kapflow.clients.models import EmergencyContact

    chart_written, client_locked = threading.Event(), threading.Event()
    original_lock = visit_services._lock

    def lock_then_say_so(*args, **kwargs):
        original_lock(*args, **kwargs)
        client_locked.set()

    monkeypatch.setattr(visit_services, "_lock", lock_then_say_so)
    starts = timezone.now() + datetime.timedelta(days=3)
    slot = visit_services.Slot(
        kind=Visit.Kind.THERAPY,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=50),
        clinician=tess,
        room=Room.objects.create(name="Cedar"),
    )

    def chart_write():
        with transaction.atomic():
            audit_record(actor=tess, action="kapflow.clients.contact.added", client=avery)
            EmergencyContact.objects.create(
                client=avery, name="Sam Rivera", relationship="partner", phone="555"
            )
            chart_written.set()
            client_locked.wait(timeout=5)  # the booking holds the client's row now
            time.sleep(PAUSE)  # and waits for the chain's lock
        return "saved"

    def booking():
        chart_written.wait(timeout=5)
        return visit_services.visit_book(request=_Actor(None, cora), client=avery, slot=slot)

    results = race(chart_write, booking)

    assert results[0] == "saved", results
    assert isinstance(results[1], Visit), results


STRONG_LOCK = re.compile(r"select_for_update\((?!.*no_key=True)")


def test_every_row_lock_in_the_code_is_for_no_key_update():
    """FOR UPDATE would make a foreign key's check wait for the lock holder, and with the audit
    chain's lock that can deadlock (the test above); FOR NO KEY UPDATE excludes the other
    writers just the same."""
    root = Path(kapflow.__file__).parent
    offences = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if STRONG_LOCK.search(line)
    ]
    assert offences == [], "write select_for_update(no_key=True)"
    assert STRONG_LOCK.search("Client.objects.select_for_update().get(pk=1)")
    assert STRONG_LOCK.search('Visit.objects.select_for_update(of=("self",))')
    assert not STRONG_LOCK.search('Visit.objects.select_for_update(of=("self",), no_key=True)')


def test_an_address_corrected_while_the_old_invitation_is_accepted_ends_one_way_or_the_other(
    monkeypatch, avery, tess, cora
):
    """Correcting a client's email locks the client, then revokes the invitations sent to the old
    address; accepting an invitation locks the client before the invitation too. Taken the other
    way round (the invitation, then the client) the two deadlocked on PostgreSQL, one of them a
    500; now one waits for the other, and the old address never opens the portal afterwards."""
    import re as regex

    from django.contrib.sessions.backends.db import SessionStore
    from django.core import mail
    from django.test import RequestFactory

    from kapflow.accounts.models import User
    from kapflow.clients import services as client_services
    from kapflow.clients.forms import ClientForm
    from kapflow.clients.models import Client
    from kapflow.portal import services as portal_services

    def request_as(user):
        request = RequestFactory().post("/")
        request.user, request.session = user, SessionStore()
        return request

    Client.objects.filter(pk=avery.pk).update(email="avery@example.org")
    avery.refresh_from_db()
    portal_services.invitation_send(request=request_as(tess), client=avery)
    token = regex.search(r"/portal/welcome/(\S+)/", mail.outbox[-1].body).group(1)
    slowed(monkeypatch, portal_services, "invitation_by_token")

    def correct_the_address():
        client = Client.objects.get(pk=avery.pk)
        shown = ClientForm(instance=client)
        data = {name: shown[name].value() or "" for name in shown.fields}
        data.update(date_of_birth=client.date_of_birth.isoformat(), email="avery.new@example.org")
        form = ClientForm(data, instance=client)
        assert form.is_valid(), form.errors
        time.sleep(PAUSE / 2)  # the acceptance has begun
        return client_services.client_update(request=request_as(cora), form=form)

    def accept():
        return portal_services.invitation_accept(
            request=request_as(User()), token=token, password="a long portal password 42"
        )

    results = race(accept, correct_the_address)

    assert not any(isinstance(r, DatabaseError) for r in results), results
    assert isinstance(results[1], Client), results
    avery.refresh_from_db()
    if isinstance(results[0], User):  # accepted first, at the address then on file
        assert avery.portal_user == results[0]
    else:  # corrected first: the old link no longer opens anything
        assert isinstance(results[0], portal_services.InvitationUnusable | portal_services.AddressChanged)
        assert avery.portal_user is None


def test_a_questionnaire_form_sent_twice_at_once_is_one_response_and_one_alert(monkeypatch, avery, tess, rf):
    # Issue 13, defect 7: the same PHQ-9 form (one entry key) arriving twice at the same instant,
    # both past the "sent before?" look-up: the unique key makes the second wait for the first,
    # and it returns the first's response instead of opening a second alert and a second email.
    original = measure_services._sent_before
    monkeypatch.setattr(measure_services, "_sent_before", lambda *a: (time.sleep(PAUSE), original(*a))[1])
    key = uuid.uuid4()
    phq9 = instruments.INSTRUMENTS["phq9"]

    def send():
        request = rf.post("/")
        request.user = tess
        with transaction.atomic():
            return measure_services.response_record(
                request=request,
                client=avery,
                instrument=phq9,
                answers={item.key: 1 for item in phq9.items},
                context="weekly",
                entered_by=tess,
                entry_key=key,
            )

    first, second = race(send, send)

    assert isinstance(first, Response) and isinstance(second, Response), (first, second)
    assert first.pk == second.pk
    assert Response.objects.filter(client=avery).count() == 1
    assert Alert.objects.filter(client=avery).count() == 1


# --- The on-call prescriber and an outside account (docs/access.md) ---------------------------


def _settings_data(practice, **changes) -> dict:
    """The settings page's form as the admin would send it, with `changes`."""
    from django import forms

    from kapflow.practice.forms import PracticeForm

    form = PracticeForm(instance=practice)
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name)
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def paused(monkeypatch, owner, name: str, *, after: bool) -> None:
    """Wrap `owner.name` so that it pauses before it runs, or after."""
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        if not after:
            time.sleep(PAUSE)
        answer = original(*args, **kwargs)
        if after:
            time.sleep(PAUSE)
        return answer

    monkeypatch.setattr(owner, name, wrapped)


@pytest.mark.parametrize("slow", ["staff change", "settings"])
def test_a_prescriber_is_never_made_outside_and_chosen_on_call_at_once(slow, monkeypatch, login, ada, priya):
    """One admin makes Priya an outside prescriber while another chooses her as on call: one of
    the two is refused, whichever checks first, so an in-session alert never goes to someone who
    cannot act on it. Each side pauses between its check and its write in turn."""
    from django.urls import reverse

    from kapflow.accounts.forms import StaffForm
    from kapflow.practice.forms import PracticeForm

    other_admin = factories.make_user("Pat Admin", roles=("is_practice_admin",))
    if slow == "staff change":
        paused(monkeypatch, StaffForm, "save", after=False)
    else:
        paused(monkeypatch, PracticeForm, "is_valid", after=True)
    data = _settings_data(Practice.load(), on_call_prescriber=priya.pk)
    outside = {
        "full_name": priya.full_name,
        "email": priya.email,
        "is_prescriber": "on",
        "outside_practice": "on",
    }
    staff_http, settings_http = login(ada), login(other_admin)
    answers = race(
        lambda: staff_http.post(reverse("accounts:staff_edit", args=[priya.pk]), outside),
        lambda: settings_http.post(reverse("practice_settings"), data),
    )
    # Each answered with a page: saved (302) or refused with the form and its reason (200).
    assert sorted(answer.status_code for answer in answers) == [200, 302]
    priya.refresh_from_db()
    on_call = Practice.load().on_call_prescriber_id == priya.pk
    assert (priya.outside_practice, on_call) in {(True, False), (False, True)}


# Course reviews (issue 15, part 4; docs/course.md, "Reviews"): the second signature applies the
# decision with the review and the plan in force locked; a session starting locks the same plan.


def _course_request(user):
    from django.test import RequestFactory

    request = RequestFactory().post("/")
    request.user = user
    return request


def _review_of(client, writer, **fields):
    from kapflow.course.models import CourseReview
    from kapflow.pathway.models import CoursePlan

    plan = CoursePlan.objects.current().get(client=client)
    return CourseReview.objects.create(client=client, plan=plan, summary="s", written_by=writer, **fields)


def _course_of(client, by, *, planned: int, held: int, cora, room: Room) -> None:
    from kapflow.pathway.models import CoursePlan

    CoursePlan.objects.create(client=client, goals="g", planned_sessions=planned, updated_by=by)
    for n in range(held):
        starts = timezone.now() - datetime.timedelta(days=30 - 7 * n)
        Visit.objects.create(
            client=client,
            kind=Visit.Kind.MEDICATION,
            room=room,
            starts_at=starts,
            ends_at=starts + datetime.timedelta(hours=2),
            clinician=by,
            created_by=cora,
            status=Visit.Status.COMPLETED,
        )


@pytest.mark.parametrize("first_signed", [True, False])
def test_two_signatures_at_once_apply_a_review_once(first_signed, monkeypatch, avery, tess, priya, cora):
    """The prescriber's signature sent twice at once (a double click) after the therapist's, or
    the therapist's and the prescriber's sent at the same instant: the decision applies once,
    one new plan version, and with both signing at once neither is lost."""
    from kapflow.course import reviews
    from kapflow.course.models import CourseReview
    from kapflow.pathway.models import CoursePlan

    _course_of(avery, tess, planned=3, held=3, cora=cora, room=Room.objects.create(name="Cedar"))
    signed = {"therapist_signed_by": tess, "therapist_signed_at": timezone.now()} if first_signed else {}
    review = _review_of(avery, tess, decision="extend", extend_to=5, **signed)
    slowed(monkeypatch, reviews, "_may_sign_as")
    if first_signed:
        calls = [
            lambda: reviews.review_sign(request=_course_request(priya), review=review, role="prescriber")
        ] * 2
    else:
        calls = [
            lambda: reviews.review_sign(request=_course_request(tess), review=review, role="therapist"),
            lambda: reviews.review_sign(request=_course_request(priya), review=review, role="prescriber"),
        ]

    results = race(*calls)

    review = CourseReview.objects.get(pk=review.pk)
    assert review.is_decided and review.therapist_signed_by == tess and review.prescriber_signed_by == priya
    assert CoursePlan.objects.filter(client=avery).count() == 2
    assert CoursePlan.objects.current().get(client=avery).planned_sessions == 5
    refused = [r for r in results if isinstance(r, reviews.ReviewRefused)]
    assert len(refused) == (1 if first_signed else 0), results


def test_sessions_starting_while_an_extension_is_signed_never_pass_the_new_count(
    monkeypatch, avery, tess, priya, cora
):
    """Two planned, two held; the course review extending it to three gets its second signature
    while two more sessions are started at once. However the three interleave, at most one
    session starts: the extension's new version is counted under its lock, not beside it."""
    from kapflow.course import reviews
    from kapflow.lib.gates import Status
    from kapflow.pathway import course as course_module
    from kapflow.pathway.readiness import Gate

    rooms = [Room.objects.create(name="Cedar"), Room.objects.create(name="Willow")]
    _course_of(avery, tess, planned=2, held=2, cora=cora, room=rooms[0])
    review = _review_of(
        avery,
        tess,
        decision="extend",
        extend_to=3,
        therapist_signed_by=tess,
        therapist_signed_at=timezone.now(),
    )
    now = timezone.now()
    sessions = [
        Visit.objects.create(
            client=avery,
            kind=Visit.Kind.MEDICATION,
            room=room,
            starts_at=now + datetime.timedelta(minutes=5 + n),
            ends_at=now + datetime.timedelta(hours=2),
            clinician=clinician,
            created_by=cora,
        )
        for n, (room, clinician) in enumerate(zip(rooms, (tess, priya), strict=True))
    ]

    def only_the_course_gate(client, *, visit=None, **kwargs):
        return [Gate(course_module.course_gate(client, visit=visit))]

    monkeypatch.setattr("kapflow.pathway.readiness.readiness", only_the_course_gate)
    slowed(monkeypatch, course_module, "position")  # the gate pauses after counting
    slowed(monkeypatch, reviews, "position")  # the signature too

    def start(visit, who):
        def call():
            # A moment after the signature has locked the plan: both sessions wait for it, and
            # then find its new version in force.
            time.sleep(PAUSE / 4)
            return visit_services.visit_transition(
                request=_course_request(who), visit=visit, to="in_progress"
            )

        return call

    results = race(
        lambda: reviews.review_sign(request=_course_request(priya), review=review, role="prescriber"),
        start(sessions[0], tess),
        start(sessions[1], priya),
    )

    assert not isinstance(results[0], Exception), results
    begun = Visit.objects.filter(client=avery, status__in=(Visit.Status.IN_PROGRESS, Visit.Status.COMPLETED))
    assert begun.count() == 3, results
    assert len([r for r in results[1:] if isinstance(r, visit_services.VisitRefused)]) == 1, results
    assert course_module.course_gate(avery).status is Status.FAIL  # three of three: no fourth


def test_a_discharge_signed_while_a_review_is_decided_never_deadlocks(monkeypatch, avery, tess, priya, cora):
    """The review's deciding signature and a discharge at the same instant. The signature locks
    the review, then the plan, then the client; the discharge locks the plan, then the client, as
    a session's start does. A signature that locked the client with the review (a join locked
    whole) would hold it while waiting for the plan the discharge holds: a deadlock. Here one
    waits for the other: the discharge is refused while the review waits, or the review is
    decided first."""
    from django.db import DatabaseError

    from kapflow.clients.models import Client
    from kapflow.course import discharge as discharges
    from kapflow.course import reviews
    from kapflow.course.models import Discharge

    _course_of(avery, tess, planned=3, held=3, cora=cora, room=Room.objects.create(name="Cedar"))
    Client.objects.filter(pk=avery.pk).update(stage=Client.Stage.COURSE)
    review = _review_of(
        avery, tess, decision="continue", therapist_signed_by=tess, therapist_signed_at=timezone.now()
    )
    draft = Discharge.objects.create(
        client=avery, reason="completed", condition="Well.", recommendations="Therapy.", written_by=tess
    )
    Practice.load()  # written once here, not by the first thread to ask (which would serialise them)
    slowed(monkeypatch, reviews, "_may_sign_as")  # the review is locked, the plan not yet

    def discharge():
        time.sleep(PAUSE / 4)
        return discharges.discharge_sign(request=_course_request(tess), discharge=draft)

    results = race(
        lambda: reviews.review_sign(request=_course_request(priya), review=review, role="prescriber"),
        discharge,
    )

    assert not any(isinstance(r, DatabaseError) for r in results), results
    assert not isinstance(results[0], Exception), results
    avery.refresh_from_db()
    assert (avery.stage == Client.Stage.DISCHARGED) == isinstance(results[1], Discharge), results


def test_two_measure_sweeps_at_once_ask_each_form_once(monkeypatch, avery, olive):
    """Two workers' sweeps at the same instant (issue 12: several workers at a group practice).
    Each reads the clients without a lock and finds the baselines owed; each then plans the client
    again under its row lock (schedule_client), and the one that waited finds them asked. The pause
    comes after the locked read, so without the lock both would ask."""
    from kapflow.measures import schedule
    from kapflow.measures.models import MeasureTask

    avery.stage, olive.stage = "preparation", "screening"
    avery.save(), olive.save()
    slowed(monkeypatch, schedule, "client_state")
    now = timezone.now()

    results = race(lambda: schedule.schedule_measures(now), lambda: schedule.schedule_measures(now))

    # Between them they asked the six forms once (which sweep asked which depends on who got each
    # lock first).
    assert sum(results) == 6, results
    live = MeasureTask.objects.filter(withdrawn_at__isnull=True)
    assert live.count() == 6
    assert set(live.values_list("client_id", "instrument")) == {
        (client.pk, instrument) for client in (avery, olive) for instrument in ("phq9", "gad7", "pcl5")
    }
