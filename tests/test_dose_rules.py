"""Route × setting × person (issue 11, item 5; docs/clinical.md): which routes may be given where and
to whom, SpO2 with every reading where the route needs it, esketamine only for adults in a
REMS-certified room with a prescriber on site, and a sublingual dose self-administered under a
named clinician's observation. The rules as pure functions first, then the services that apply
them (booking, the start, the first dose, the vitals) and the pages."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse

from kapflow.controlled.models import RemsEnrolment
from kapflow.dosing.models import Administration, PrescriberOnSite
from kapflow.dosing.services.administration import dose_record, prescriber_on_site_record
from kapflow.dosing.services.checkin import session_start
from kapflow.dosing.services.runbook import RunbookRefused, SpO2Required, _Actor
from kapflow.dosing.services.vitals import vitals_record
from kapflow.medical import routes
from kapflow.medical.gates import route_gate
from kapflow.medical.models import MedicationOrder
from kapflow.practice.models import Practice
from kapflow.visits import services as visit_services
from kapflow.visits.models import Room, Visit
from tests import factories
from tests.test_runbook import DAY, at, checked_in, make_order

pytestmark = pytest.mark.usefixtures("pathway_ready")

HOME = routes.Place(virtual=True)
CEDAR = routes.Place(virtual=False, room="Cedar", rems_certified=False)
CERTIFIED = routes.Place(virtual=False, room="Spravato room", rems_certified=True)


@pytest.fixture
def practice(db):
    return Practice.load()


def reasons(route, place, *, practice, minor=False, signoff=False, on_site=None) -> list[str]:
    return [
        problem.reason
        for problem in routes.route_problems(
            route,
            place=place,
            minor=minor,
            minor_signoff=signoff,
            practice=practice,
            prescriber_on_site=on_site,
        )
    ]


# --- The rules, without a database beyond the practice's settings -------------------------------


@pytest.mark.parametrize(
    ("route", "place", "expected"),
    [
        ("sublingual", HOME, []),
        ("sublingual", CEDAR, []),
        (
            "intramuscular",
            HOME,
            ["Intramuscular ketamine is office-only (practice setting): change the visit"],
        ),
        ("intravenous", HOME, ["Intravenous ketamine is office-only (practice setting)"]),
        ("intramuscular", CEDAR, []),
        ("intravenous", CEDAR, []),
        ("intranasal", HOME, ["Intranasal esketamine is never given at home (Spravato REMS"]),
        ("intranasal", CEDAR, ["Cedar is not marked as one: book a certified room"]),
        ("intranasal", CERTIFIED, []),
    ],
)
def test_it_allows_each_route_only_where_the_defaults_say(practice, route, place, expected):
    found = reasons(route, place, practice=practice)
    assert len(found) == len(expected), found
    for reason, words in zip(found, expected, strict=True):
        assert words in reason


def test_a_practice_may_allow_an_injected_route_at_home_but_never_esketamine(practice):
    practice.virtual_intramuscular_allowed = True
    practice.virtual_intravenous_allowed = True
    assert reasons("intramuscular", HOME, practice=practice) == []
    assert reasons("intravenous", HOME, practice=practice) == []
    assert reasons("intranasal", HOME, practice=practice) != []
    practice.virtual_sublingual_allowed = False
    assert "Sublingual ketamine is office-only" in reasons("sublingual", HOME, practice=practice)[0]


def test_each_refusal_names_who_resolves_it(practice):
    [problem] = routes.route_problems(
        "intranasal", place=CEDAR, minor=False, minor_signoff=False, practice=practice
    )
    assert (problem.resolver, problem.reason.endswith("— coordinator.")) == ("coordinator", True)
    [problem] = routes.route_problems(
        "intramuscular", place=HOME, minor=False, minor_signoff=False, practice=practice
    )
    assert (problem.resolver, problem.reason.endswith("— prescriber.")) == ("prescriber", True)


def test_esketamine_is_for_adults_only_whatever_the_room(practice):
    [reason] = reasons("intranasal", CERTIFIED, practice=practice, minor=True)
    assert "Esketamine is for adults only (Spravato is not approved under 18)" in reason


def test_injected_routes_are_for_adults_unless_the_practice_says_otherwise(practice):
    [reason] = reasons("intramuscular", CEDAR, practice=practice, minor=True)
    assert "Intramuscular ketamine is for adults only (practice setting)" in reason
    practice.minors_injected_allowed = True
    assert reasons("intramuscular", CEDAR, practice=practice, minor=True) == []


def test_sublingual_for_a_minor_needs_the_prescribers_sign_off_on_the_order(practice):
    [reason] = reasons("sublingual", HOME, practice=practice, minor=True)
    assert "needs the prescriber's sign-off on the order" in reason
    assert reasons("sublingual", HOME, practice=practice, minor=True, signoff=True) == []


def test_esketamine_needs_a_prescriber_on_site_once_that_is_judged(practice):
    assert reasons("intranasal", CERTIFIED, practice=practice, on_site=None) == []  # booking, start
    [reason] = reasons("intranasal", CERTIFIED, practice=practice, on_site=False)
    assert "needs a prescriber on site: record on the runbook" in reason
    assert reasons("intranasal", CERTIFIED, practice=practice, on_site=True) == []
    assert reasons("sublingual", CEDAR, practice=practice, on_site=False) == []


@pytest.mark.parametrize(
    ("session", "spo2", "needed"),
    [
        (["sublingual"], None, False),
        (["intramuscular"], None, True),
        (["intravenous"], None, True),
        (["intranasal"], None, True),
        (["intramuscular"], 97, False),
        (["sublingual", "intramuscular"], None, True),
        ([], None, False),
    ],
)
def test_spo2_is_required_with_every_reading_for_the_routes_the_practice_names(
    practice, session, spo2, needed
):
    problem = routes.spo2_problem(session, spo2=spo2, practice=practice)
    assert bool(problem) is needed
    if needed:
        assert problem.startswith("SpO2 is required with every reading for")
        assert "(practice setting)" in problem


def test_the_spo2_routes_are_practice_settings(practice):
    practice.spo2_required_intramuscular = False
    practice.spo2_required_sublingual = True
    assert routes.spo2_problem(["intramuscular"], spo2=None, practice=practice) == ""
    assert "sublingual ketamine" in routes.spo2_problem(["sublingual"], spo2=None, practice=practice)


def test_only_a_sublingual_dose_may_be_self_administered():
    assert routes.self_administration_problem("sublingual", self_administered=True) == ""
    assert routes.self_administration_problem("intramuscular", self_administered=False) == ""
    assert "Only a sublingual dose may be self-administered" in routes.self_administration_problem(
        "intramuscular", self_administered=True
    )


# --- The services --------------------------------------------------------------------------------


def session(client, clinician, cora, *, room: Room | None = None, status=Visit.Status.IN_PROGRESS) -> Visit:
    """A medication session on DAY, in `room` (None: virtual), its day-of checklist recorded."""
    visit = Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.IN_PERSON if room else Visit.Modality.VIRTUAL,
        room=room,
        starts_at=DAY - datetime.timedelta(minutes=30),
        ends_at=DAY + datetime.timedelta(minutes=150),
        clinician=clinician,
        created_by=cora,
        status=status,
    )
    checked_in(visit, clinician)
    return visit


def predose(visit, who, spo2=98):
    with time_machine.travel(at(-10), tick=False):
        return vitals_record(
            actor=who,
            visit=visit,
            phase="pre_dose",
            taken_at=at(-10),
            systolic=120,
            diastolic=80,
            heart_rate=72,
            spo2=spo2,
            practice=Practice.load(),
        )


def give(visit, who, order, *, route, mg, minutes=0, self_administered=False, given_by=None):
    with time_machine.travel(at(minutes), tick=False):
        return dose_record(
            actor=who,
            visit=visit,
            order=order,
            given_at=at(minutes),
            route=route,
            dose_mg=Decimal(mg),
            lot_number="LOT-1",
            given_by=given_by or who,
            self_administered=self_administered,
            practice=Practice.load(),
        )


def im_order(client, prescriber):
    return make_order(
        client,
        prescriber,
        route="intramuscular",
        unit="mg_per_kg",
        weight_kg=Decimal(70),
        dose_min=Decimal("0.5"),
        dose_max=Decimal("1.0"),
        boosters_allowed=0,
        booster_max_mg=None,
    )


def enrol(client, prescriber):
    """The client's Spravato REMS enrolment, signed with `prescriber` before DAY."""
    return RemsEnrolment.objects.create(
        client=client,
        enrolled_on=DAY.date() - datetime.timedelta(days=7),
        patient_rems_id="P-0001",
        prescriber=prescriber,
        recorded_by=prescriber,
    )


def esketamine_order(client, prescriber):
    return make_order(
        client,
        prescriber,
        drug="esketamine",
        route="intranasal",
        dose_min=Decimal(56),
        dose_max=Decimal(84),
        boosters_allowed=0,
        booster_max_mg=None,
    )


def test_an_intramuscular_first_dose_in_a_virtual_session_is_refused(avery, tess, priya, cora):
    visit = session(avery, tess, cora)
    order = im_order(avery, priya)
    predose(visit, tess)
    with pytest.raises(RunbookRefused) as refused:
        give(visit, tess, order, route="intramuscular", mg=50)
    assert "Intramuscular ketamine is office-only (practice setting): change the visit to in-office" in str(
        refused.value
    )
    assert not Administration.objects.exists()


def test_an_intramuscular_dose_in_the_office_is_given(avery, tess, priya, cora):
    visit = session(avery, tess, cora, room=Room.objects.create(name="Cedar"))
    order = im_order(avery, priya)
    predose(visit, tess)
    assert give(visit, tess, order, route="intramuscular", mg=50).route == "intramuscular"


def test_esketamine_waits_for_a_certified_room_and_a_prescriber_on_site(avery, tess, priya, cora):
    room = Room.objects.create(name="Spravato room")
    visit = session(avery, tess, cora, room=room)
    order = esketamine_order(avery, priya)
    predose(visit, tess)
    with pytest.raises(RunbookRefused) as refused:
        give(visit, tess, order, route="intranasal", mg=56)
    # The start's gates are checked again at the first dose: the room first.
    assert "Route and setting: Intranasal esketamine is given only in a setting certified" in str(
        refused.value
    )
    assert "Spravato room is not marked as one" in str(refused.value)

    room.rems_certified = True
    room.rems_setting_id = "SET-1"
    room.save()
    enrol(avery, priya)
    with pytest.raises(RunbookRefused) as refused:
        give(visit, tess, order, route="intranasal", mg=56)
    assert refused.value.problems == [
        "Intranasal esketamine needs a prescriber on site: record on the runbook which prescriber is "
        "on site — prescriber."
    ]

    with time_machine.travel(at(-5), tick=False):
        record = prescriber_on_site_record(actor=tess, visit=visit, prescriber=priya, on_site_at=at(-5))
    assert (record.prescriber, record.recorded_by, record.on_site_at) == (priya, tess, at(-5))
    assert give(visit, tess, order, route="intranasal", mg=56).route == "intranasal"


def test_esketamine_is_refused_to_a_minor_at_the_dose(tess, priya, cora):
    teen = factories.make_client(first_name="Tia", age=16, therapist=tess, prescriber=priya)
    visit = session(
        teen,
        tess,
        cora,
        room=Room.objects.create(name="Spravato room", rems_certified=True, rems_setting_id="SET-1"),
    )
    order = esketamine_order(teen, priya)
    predose(visit, tess)
    with time_machine.travel(at(-5), tick=False):
        prescriber_on_site_record(actor=tess, visit=visit, prescriber=priya, on_site_at=at(-5))
    with pytest.raises(RunbookRefused, match="Esketamine is for adults only"):
        give(visit, tess, order, route="intranasal", mg=56)


def test_a_minors_sublingual_dose_needs_the_orders_sign_off(tess, priya, cora):
    teen = factories.make_client(first_name="Tia", age=16, therapist=tess, prescriber=priya)
    visit = session(teen, tess, cora)
    unsigned = make_order(teen, priya)
    predose(visit, tess)
    with pytest.raises(RunbookRefused, match="needs the prescriber's sign-off on the order"):
        give(visit, tess, unsigned, route="sublingual", mg=200)
    signed = make_order(teen, priya, minor_signoff=True)
    assert give(visit, tess, signed, route="sublingual", mg=200).order == signed


def test_the_prescriber_on_site_is_a_prescriber_and_not_at_a_clients_home(avery, tess, priya, cora):
    visit = session(avery, tess, cora, room=Room.objects.create(name="Cedar"))
    with (
        time_machine.travel(at(-5), tick=False),
        pytest.raises(RunbookRefused, match="not an active prescriber"),
    ):
        prescriber_on_site_record(actor=tess, visit=visit, prescriber=tess, on_site_at=at(-5))
    virtual = session(avery, tess, cora)
    with (
        time_machine.travel(at(-5), tick=False),
        pytest.raises(RunbookRefused, match="no prescriber on site"),
    ):
        prescriber_on_site_record(actor=tess, visit=virtual, prescriber=priya, on_site_at=at(-5))
    assert not PrescriberOnSite.objects.exists()


def test_a_reading_without_spo2_is_refused_for_an_intramuscular_session(avery, tess, priya, cora):
    visit = session(avery, tess, cora, room=Room.objects.create(name="Cedar"))
    im_order(avery, priya)
    with pytest.raises(SpO2Required, match="SpO2 is required with every reading for intramuscular"):
        predose(visit, tess, spo2=None)
    assert predose(visit, tess, spo2=97).spo2 == 97


def test_a_reading_without_spo2_is_saved_for_a_sublingual_session(avery, tess, priya, cora):
    visit = session(avery, tess, cora)
    make_order(avery, priya)
    assert predose(visit, tess, spo2=None).spo2 is None


def test_after_the_dose_the_doses_route_decides_whether_spo2_is_needed(avery, tess, priya, cora):
    # An intramuscular order in force too, but the dose given was sublingual.
    visit = session(avery, tess, cora, room=Room.objects.create(name="Cedar"))
    order = make_order(avery, priya)
    predose(visit, tess, spo2=97)  # both orders in force: SpO2 needed before the dose
    im_order(avery, priya)
    give(visit, tess, order, route="sublingual", mg=250)
    with time_machine.travel(at(40), tick=False):
        reading = vitals_record(
            actor=tess,
            visit=visit,
            phase="in_session",
            taken_at=at(40),
            systolic=125,
            diastolic=80,
            heart_rate=75,
            spo2=None,
            practice=Practice.load(),
        )
    assert reading.spo2 is None


def test_a_sublingual_dose_is_recorded_as_self_administered_under_observation(avery, tess, priya, cora):
    visit = session(avery, tess, cora)
    order = make_order(avery, priya)
    predose(visit, tess)
    given = give(visit, tess, order, route="sublingual", mg=250, self_administered=True, given_by=priya)
    assert (given.self_administered, given.observed_by, given.given_by) == (True, priya, priya)


def test_an_intramuscular_dose_is_never_self_administered(avery, tess, priya, cora):
    visit = session(avery, tess, cora, room=Room.objects.create(name="Cedar"))
    order = im_order(avery, priya)
    predose(visit, tess)
    with pytest.raises(RunbookRefused, match="Only a sublingual dose may be self-administered"):
        give(visit, tess, order, route="intramuscular", mg=50, self_administered=True)


def test_the_database_keeps_self_administration_to_observed_sublingual_doses(avery, tess, priya, cora):
    visit = session(avery, tess, cora)
    order = make_order(avery, priya)
    predose(visit, tess)
    given = give(visit, tess, order, route="sublingual", mg=250)
    with pytest.raises(IntegrityError), transaction.atomic():
        Administration.objects.filter(pk=given.pk).update(self_administered=True)  # nobody observing
    with pytest.raises(IntegrityError), transaction.atomic():
        Administration.objects.filter(pk=given.pk).update(self_administered=True, observed_by=priya)


def test_a_virtual_medication_session_is_not_booked_for_an_intramuscular_order(avery, tess, priya, cora):
    im_order(avery, priya)
    starts = DAY + datetime.timedelta(days=1)
    slot = visit_services.Slot(
        kind=Visit.Kind.MEDICATION,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=150),
        clinician=tess,
        modality=Visit.Modality.VIRTUAL,
        video_link="https://video.example.org/room",
    )
    with time_machine.travel(DAY, tick=False):
        with pytest.raises(visit_services.VisitRefused) as refused:
            visit_services.visit_book(request=_Actor(None, cora), client=avery, slot=slot)
        assert "Intramuscular ketamine is office-only" in str(refused.value)
        slot.modality, slot.video_link, slot.room = (
            Visit.Modality.IN_PERSON,
            "",
            Room.objects.create(name="Cedar"),
        )
        assert visit_services.visit_book(request=_Actor(None, cora), client=avery, slot=slot).room


def test_a_virtual_session_is_booked_before_any_order_and_for_a_sublingual_one(avery, tess, priya, cora):
    starts = DAY + datetime.timedelta(days=1)
    slot = visit_services.Slot(
        kind=Visit.Kind.MEDICATION,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=150),
        clinician=tess,
        modality=Visit.Modality.VIRTUAL,
        video_link="https://video.example.org/room",
    )
    with time_machine.travel(DAY, tick=False):
        assert visit_services.visit_book(request=_Actor(None, cora), client=avery, slot=slot)
        make_order(avery, priya)
        later = visit_services.Slot(**{**slot.__dict__, "starts_at": starts + datetime.timedelta(days=7)})
        later.ends_at = later.starts_at + datetime.timedelta(minutes=150)
        assert visit_services.visit_book(request=_Actor(None, cora), client=avery, slot=later)


def test_the_session_does_not_start_where_the_order_cannot_be_given(avery, tess, priya, cora):
    room = Room.objects.create(name="Cedar")
    visit = session(avery, tess, cora, room=room, status=Visit.Status.CHECKED_IN)
    esketamine_order(avery, priya)
    with time_machine.travel(at(-20), tick=False):
        gate = route_gate(avery, virtual=False, room=room, today=DAY.date())
        assert (gate.passed, gate.resolver) == (False, "coordinator")
        with pytest.raises(RunbookRefused) as refused:
            session_start(actor=tess, visit=visit)
        assert "Route and setting: Intranasal esketamine is given only in a setting certified" in str(
            refused.value
        )
        room.rems_certified = True
        room.rems_setting_id = "SET-1"
        room.save()
        assert session_start(actor=tess, visit=visit).status == Visit.Status.IN_PROGRESS


# --- The pages -----------------------------------------------------------------------------------


def test_the_vitals_form_says_spo2_is_required_beside_the_field(login, avery, tess, priya, cora):
    visit = session(avery, tess, cora, room=Room.objects.create(name="Cedar"))
    im_order(avery, priya)
    with time_machine.travel(at(-10), tick=False):
        page = login(tess).get(reverse("dosing:runbook", args=[avery.pk, visit.pk])).content.decode()
        assert "Required with every reading for intramuscular ketamine." in page
        response = login(tess).post(
            reverse("dosing:vitals", args=[avery.pk, visit.pk]),
            {
                "pre-phase": "pre_dose",
                "pre-systolic": "121",
                "pre-diastolic": "79",
                "pre-heart_rate": "70",
                "pre-spo2": "",
            },
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert "SpO2 is required with every reading for intramuscular ketamine" in html
    assert 'value="121"' in html  # what was typed comes back
    assert not visit.runbook.vitals.exists()


def test_a_clinician_records_the_prescriber_on_site_on_the_runbook(
    login, avery, tess, priya, cora, audit_rows
):
    room = Room.objects.create(name="Spravato room", rems_certified=True, rems_setting_id="SET-1")
    visit = session(avery, tess, cora, room=room)
    esketamine_order(avery, priya)
    as_tess = login(tess)
    with time_machine.travel(at(-5), tick=False):
        page = as_tess.get(reverse("dosing:runbook", args=[avery.pk, visit.pk])).content.decode()
        assert "Prescriber on site" in page and "the esketamine dose waits for one" in page
        response = as_tess.post(
            reverse("dosing:prescriber_on_site", args=[avery.pk, visit.pk]), {"prescriber": priya.pk}
        )
    assert response.status_code == 302
    record = PrescriberOnSite.objects.get()
    assert (record.prescriber, record.recorded_by) == (priya, tess)
    [row] = audit_rows("kapflow.dosing.prescriber_on_site.recorded")
    assert (row.actor, row.client) == (tess, avery)
    with time_machine.travel(at(-4), tick=False):
        page = as_tess.get(reverse("dosing:runbook", args=[avery.pk, visit.pk])).content.decode()
    assert "Priya Prescriber, on site from" in page


def test_the_prescriber_on_site_form_refuses_a_therapist_and_keeps_the_page(login, avery, tess, priya, cora):
    visit = session(avery, tess, cora, room=Room.objects.create(name="Cedar"))
    with time_machine.travel(at(-5), tick=False):
        response = login(tess).post(
            reverse("dosing:prescriber_on_site", args=[avery.pk, visit.pk]), {"prescriber": tess.pk}
        )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not PrescriberOnSite.objects.exists()


def test_the_dose_form_records_a_self_administered_dose(login, avery, tess, priya, cora):
    visit = session(avery, tess, cora)
    order = make_order(avery, priya)
    predose(visit, tess)
    with time_machine.travel(at(0), tick=False):
        response = login(tess).post(
            reverse("dosing:dose", args=[avery.pk, visit.pk]),
            {
                "order": order.pk,
                "route": "sublingual",
                "dose_mg": "250",
                "lot_number": "LOT-9",
                "given_by": tess.pk,
                "self_administered": "on",
            },
        )
        assert response.status_code == 302
        page = login(tess).get(reverse("dosing:runbook", args=[avery.pk, visit.pk])).content.decode()
    given = Administration.objects.get()
    assert (given.self_administered, given.observed_by) == (True, tess)
    assert "Self-administered, observed by Tess Therapist" in page


def test_an_order_for_a_minor_needs_the_sign_off_and_never_esketamine(login, tess, priya):
    from tests.test_medical import order_post

    teen = factories.make_client(first_name="Tia", age=16, therapist=tess, prescriber=priya)
    as_priya = login(priya)
    url = reverse("medical:order_new", args=[teen.pk])
    response = as_priya.post(url, order_post())
    assert response.status_code == 200
    assert "The client is under 18: tick to sign this order off" in response.content.decode()
    response = as_priya.post(
        url, order_post(route="intranasal", drug="esketamine", dose_min="56", dose_max="84")
    )
    assert "Esketamine is for adults only" in response.content.decode()
    assert not MedicationOrder.objects.exists()
    assert as_priya.post(url, order_post(minor_signoff="on")).status_code == 302
    assert MedicationOrder.objects.get().minor_signoff is True


def test_an_adults_order_form_has_no_minor_sign_off(login, avery, priya):
    html = login(priya).get(reverse("medical:order_new", args=[avery.pk])).content.decode()
    assert "sign off this order for a client under 18" not in html


def test_the_route_settings_are_on_the_settings_page_with_their_source(login, ada):
    html = login(ada).get(reverse("practice_settings")).content.decode().lower()
    for words in (
        "intramuscular ketamine may be given in a virtual session",
        "spo2 required with every reading: intranasal esketamine",
        "source: practice default, safe by default: office only, with continuous monitoring",
        "source: spravato rems (pulse oximeter on site)",
    ):
        assert words in html, words


def test_a_practice_admin_marks_a_room_rems_certified(login, ada, audit_rows):
    room = Room.objects.create(name="Cedar")
    # Not without the setting's REMS ID: nothing changes, and the page says what to give.
    browser = login(ada)
    response = browser.post(reverse("calendar:room_toggle", args=[room.pk]), {"what": "rems_certified"})
    room.refresh_from_db()
    assert room.rems_certified is False
    assert "setting ID in the Spravato REMS" in browser.get(response.url).content.decode()
    response = login(ada).post(
        reverse("calendar:room_toggle", args=[room.pk]),
        {"what": "rems_certified", "rems_setting_id": " SET-77 "},
    )
    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.rems_certified, room.rems_setting_id, room.active) == (True, "SET-77", True)
    [row] = audit_rows("kapflow.visits.room.updated")
    assert row.detail == {"active": True, "rems_certified": True}
    html = login(ada).get(reverse("calendar:rooms")).content.decode()
    assert "REMS-certified (esketamine)" in html


# --- The demo practice ---------------------------------------------------------------------------


def test_every_demo_dose_obeys_the_route_setting_and_person_rules(db):
    """What the demo shows a newcomer follows these rules: esketamine only in the REMS-certified
    room with a prescriber on site, SpO2 with every reading where the route needs it."""
    from kapflow.demo.quick import load_demo

    load_demo()
    practice = Practice.load()
    given = list(
        Administration.objects.select_related("runbook__visit__room", "runbook__visit__client", "order")
    )
    assert {dose.route for dose in given} >= {"sublingual", "intranasal"}
    for dose in given:
        visit = dose.runbook.visit
        place = routes.Place(
            virtual=visit.is_virtual,
            room=visit.room.name if visit.room else "",
            rems_certified=bool(visit.room and visit.room.rems_certified),
            rems_setting_id=visit.room.rems_setting_id if visit.room else None,
        )
        problems = routes.route_problems(
            dose.route,
            place=place,
            minor=visit.client.age(dose.given_at.date()) < 18,
            minor_signoff=dose.order.minor_signoff,
            practice=practice,
            prescriber_on_site=dose.runbook.prescribers_on_site.exists(),
        )
        assert problems == [], (visit, problems)
        for reading in dose.runbook.vitals.all():
            assert routes.spo2_problem([dose.route], spo2=reading.spo2, practice=practice) == ""
