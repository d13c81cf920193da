"""The portal's pages: a client sees only their own record; a guardian sees a minor's schedule,
preparation and consents, never measures, progress or the journal; calendar files; the day-of
instructions; and signing on the portal feeding the consent gate."""

import datetime

import icalendar
import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from kapflow.consent.gates import consent_gate
from kapflow.consent.models import ConsentDocument, Kind, Signature
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests import factories

PAGES = ["portal:client_home", "portal:todo", "portal:preparation", "portal:day_of", "portal:consents"]


def visit(client, clinician, *, kind=Visit.Kind.PREPARATION, days=3, hour=10, virtual=False, **fields):
    start = timezone.make_aware(
        datetime.datetime.combine(timezone.localdate() + datetime.timedelta(days=days), datetime.time(hour))
    )
    return Visit.objects.create(
        client=client,
        kind=kind,
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=150 if kind == Visit.Kind.MEDICATION else 60),
        modality=Visit.Modality.VIRTUAL if virtual else Visit.Modality.IN_PERSON,
        room=None if virtual else Room.objects.get_or_create(name="Garden Room")[0],
        video_link="https://video.example.org/room/abc" if virtual else "",
        clinician=clinician,
        created_by=clinician,
        **fields,
    )


@pytest.fixture
def mine(avery, cleo):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    return avery


@pytest.fixture
def teen(tess, gail):
    """A 16-year-old with Gail as her guardian, who can give consent and has a portal account."""
    client = factories.make_client(first_name="Tia", last_name="Reyes", age=16, therapist=tess)
    guardian = factories.add_guardian(client)
    guardian.name = "Gail Guardian"
    guardian.portal_user = gail
    guardian.save(update_fields=["name", "portal_user"])
    return client


# Scoping --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_a_client_sees_their_own_record_and_nobody_elses(name, mine, olive, cleo, login, audit_rows):
    http = login(cleo)
    assert http.get(reverse(name, args=[mine.pk])).status_code == 200
    assert any(row.client_id == mine.pk and row.actor_id == cleo.pk for row in audit_rows())
    assert http.get(reverse(name, args=[olive.pk])).status_code == 404
    assert http.get(reverse(name, args=[2**63 + 5])).status_code == 404


def test_the_front_door_sends_a_client_to_their_record(mine, cleo, login):
    response = login(cleo).get(reverse("portal:home"))
    assert response["Location"] == reverse("portal:client_home", args=[mine.pk])


def test_the_front_door_lists_a_guardians_minors(teen, tess, gail, login):
    sibling = factories.make_client(first_name="Theo", last_name="Reyes", age=14, therapist=tess)
    guardian = factories.add_guardian(sibling)
    guardian.portal_user = gail
    guardian.save(update_fields=["portal_user"])
    page = login(gail).get(reverse("portal:home"))
    assert page.status_code == 200
    assert b"Tia Reyes" in page.content and b"Theo Reyes" in page.content


def test_staff_are_refused_the_portal(mine, tess, login):
    assert login(tess).get(reverse("portal:client_home", args=[mine.pk])).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_a_guardian_reaches_the_minors_schedule_and_consents(name, teen, gail, login):
    assert login(gail).get(reverse(name, args=[teen.pk])).status_code == 200


def test_a_guardian_never_reaches_measures_progress_or_the_journal(teen, gail, login):
    teen.portal_shows_progress = True
    teen.save(update_fields=["portal_shows_progress"])
    http = login(gail)
    for url in (
        reverse("portal:progress", args=[teen.pk]),
        reverse("portal_measures:list", args=[teen.pk]),
        reverse("portal_journal:list", args=[teen.pk]),
    ):
        assert http.get(url).status_code == 404, url
    nav = http.get(reverse("portal:client_home", args=[teen.pk])).content.decode()
    assert "Journal" not in nav and "Progress" not in nav


def test_a_guardian_of_an_adult_gets_nothing(avery, gail, login):
    guardian = factories.add_guardian(avery)
    guardian.portal_user = gail
    guardian.save(update_fields=["portal_user"])
    assert login(gail).get(reverse("portal:client_home", args=[avery.pk])).status_code == 404


def test_a_guardian_without_legal_authority_sees_the_schedule_but_signs_nothing(teen, gail, login):
    teen.guardians.update(has_legal_authority=False)
    http = login(gail)
    assert http.get(reverse("portal:client_home", args=[teen.pk])).status_code == 200
    assert http.get(reverse("portal:consents", args=[teen.pk])).status_code == 404
    assert http.get(reverse("portal:consent_sign", args=[teen.pk, "guardian"])).status_code == 404


def test_progress_shows_only_when_the_therapist_turned_it_on(mine, cleo, login):
    url = reverse("portal:progress", args=[mine.pk])
    assert login(cleo).get(url).status_code == 404
    mine.portal_shows_progress = True
    mine.save(update_fields=["portal_shows_progress"])
    assert login(cleo).get(url).status_code == 200
    assert b'href="' + url.encode() in login(cleo).get(reverse("portal:client_home", args=[mine.pk])).content


# Appointments ---------------------------------------------------------------------------------


def test_the_home_page_lists_coming_appointments_in_plain_words(mine, tess, cleo, login):
    visit(mine, tess, kind=Visit.Kind.MEDICATION, days=5)
    visit(mine, tess, kind=Visit.Kind.INTEGRATION, days=6, virtual=True)
    visit(mine, tess, days=4, status=Visit.Status.CANCELLED, cancel_reason="Unwell")
    visit(mine, tess, days=-4, status=Visit.Status.COMPLETED)
    page = login(cleo).get(reverse("portal:client_home", args=[mine.pk])).content.decode()
    assert "Medication session with Tess Therapist" in page and "Garden Room" in page
    assert "Integration session" in page and "https://video.example.org/room/abc" in page
    assert page.count("Add to calendar") == 2


def test_an_appointment_downloads_as_one_calendar_event(mine, tess, cleo, login):
    practice = Practice.load()
    practice.name = "Oak Ketamine Clinic"
    practice.outward_name = "Oak Therapy"
    practice.address = "1 Oak Street"
    practice.save()
    booked = visit(mine, tess, kind=Visit.Kind.MEDICATION, days=5)
    response = login(cleo).get(reverse("portal:visit_ics", args=[mine.pk, booked.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(response.content)
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == booked.starts_at and event.decoded("dtend") == booked.ends_at
    # A lock screen shows the title: neither the kind of visit nor the practice's full name.
    assert str(event["summary"]) == "Appointment — Oak Therapy"
    assert str(event["description"]).startswith("Medication session with")
    assert "Ketamine" not in response.content.decode()
    assert str(event["location"]) == "Garden Room, 1 Oak Street"


def test_no_calendar_file_for_a_cancelled_or_someone_elses_appointment(mine, olive, tess, colin, cleo, login):
    cancelled = visit(mine, tess, status=Visit.Status.CANCELLED, cancel_reason="Unwell")
    theirs = visit(olive, colin)
    http = login(cleo)
    assert http.get(reverse("portal:visit_ics", args=[mine.pk, cancelled.pk])).status_code == 404
    assert http.get(reverse("portal:visit_ics", args=[mine.pk, theirs.pk])).status_code == 404
    assert http.get(reverse("portal:visit_ics", args=[mine.pk, 2**64])).status_code == 404


@pytest.mark.parametrize(("days_before", "shown"), [(2, False), (1, True), (0, True)])
def test_day_of_instructions_show_the_day_before_and_the_day_of(days_before, shown, mine, tess, cleo, login):
    session = visit(mine, tess, kind=Visit.Kind.MEDICATION, days=3, hour=14)
    moment = session.starts_at - datetime.timedelta(days=days_before, hours=4)
    with time_machine.travel(moment, tick=False):
        page = login(cleo).get(reverse("portal:client_home", args=[mine.pk])).content.decode()
    assert ("medication session at" in page) is shown


def test_the_day_of_page_follows_the_practice_settings(mine, tess, cleo, login):
    practice = Practice.load()
    practice.fasting_food_hours, practice.fasting_liquid_minutes = 4, 120
    practice.avoid_substances = "alcohol, cannabis"
    practice.save()
    visit(mine, tess, kind=Visit.Kind.MEDICATION, days=3, virtual=True)
    page = login(cleo).get(reverse("portal:day_of", args=[mine.pk])).content.decode()
    assert "<strong>4 hours</strong>" in page and "<strong>120 minutes</strong>" in page
    assert "<li>Alcohol</li>" in page and "<li>Cannabis</li>" in page and "Opioids" not in page
    assert "blood-pressure cuff" in page and "next day" in page


def test_the_preparation_pages_use_the_practice_phases(mine, cleo, login):
    practice = Practice.load()
    (
        practice.opening_reflection_minutes,
        practice.medicine_minutes,
        practice.integration_processing_minutes,
    ) = 20, 40, 50
    practice.save()
    page = login(cleo).get(reverse("portal:guide", args=[mine.pk, "the-session"])).content.decode()
    assert "usually 110 minutes" in page and "about 40 minutes" in page
    assert login(cleo).get(reverse("portal:guide", args=[mine.pk, "misconceptions"])).status_code == 200
    assert login(cleo).get(reverse("portal:guide", args=[mine.pk, "nope"])).status_code == 404


# Signing on the portal ------------------------------------------------------------------------


def sign(http, client, kind, name, decision="agree", sha=None):
    document = ConsentDocument.objects.published().filter(kind=kind).order_by("-version").first()
    return http.post(
        reverse("portal:consent_sign", args=[client.pk, kind]),
        {"typed_name": name, "decision": decision, "sha256": sha or document.sha256},
    )


def test_an_adult_signs_their_own_consent_and_the_gate_passes(mine, cleo, login, audit_rows):
    assert not consent_gate(mine).passed
    todos = login(cleo).get(reverse("portal:todo", args=[mine.pk])).content.decode()
    assert "Read and sign" in todos
    response = sign(login(cleo), mine, Kind.KAP, "avery  ALVAREZ")
    assert response.status_code == 302
    signature = Signature.objects.get(client=mine)
    assert signature.signed_on_portal and signature.portal_account == cleo and signature.presented_by is None
    assert signature.typed_name == "avery  ALVAREZ" and signature.signer == Signature.Signer.CLIENT
    assert signature.text_sha256 == signature.document.sha256 and signature.ip_address
    assert consent_gate(mine).passed
    (row,) = audit_rows("kapflow.consent.signature.recorded")
    assert row.detail["on_portal"] is True and row.actor_id == cleo.pk
    assert "Read and sign" not in login(cleo).get(reverse("portal:todo", args=[mine.pk])).content.decode()


def test_a_guardian_signs_for_a_minor_who_gives_her_own_assent(teen, gail, login):
    tia = factories.make_user("Tia Reyes", roles=("is_client",), email="tia@example.org", mfa=False)
    teen.portal_user = tia
    teen.save(update_fields=["portal_user"])
    # Each signs only their own part.
    assert login(gail).get(reverse("portal:consent_sign", args=[teen.pk, "assent"])).status_code == 404
    assert login(tia).get(reverse("portal:consent_sign", args=[teen.pk, "guardian"])).status_code == 404
    assert login(tia).get(reverse("portal:consent_sign", args=[teen.pk, "kap"])).status_code == 404
    assert sign(login(gail), teen, Kind.GUARDIAN, "Gail Guardian").status_code == 302
    assert not consent_gate(teen).passed
    assert sign(login(tia), teen, Kind.ASSENT, "Tia Reyes").status_code == 302
    assert consent_gate(teen).passed
    guardian_signature = Signature.objects.get(client=teen, kind=Kind.GUARDIAN)
    assert guardian_signature.guardian.portal_user == gail and guardian_signature.portal_account == gail


def test_a_mistyped_name_comes_back_with_what_was_typed(mine, cleo, login):
    response = sign(login(cleo), mine, Kind.KAP, "Avery Smith")
    assert response.status_code == 200
    page = response.content.decode()
    assert "is not the name the practice has for you" in page and 'value="Avery Smith"' in page
    assert not Signature.objects.exists()


def test_a_page_for_an_older_version_records_nothing(mine, cleo, login):
    response = sign(login(cleo), mine, Kind.KAP, "Avery Alvarez", sha="0" * 64)
    assert response.status_code == 200 and b"new version" in response.content
    assert not Signature.objects.exists()


@pytest.mark.parametrize(
    "data", [{}, {"decision": "maybe", "typed_name": "Avery Alvarez", "sha256": "x"}, {"typed_name": "\x00"}]
)
def test_garbage_signatures_are_refused_clearly(mine, cleo, login, data):
    response = login(cleo).post(reverse("portal:consent_sign", args=[mine.pk, "kap"]), data)
    assert response.status_code == 200
    assert not Signature.objects.exists()


def test_releases_and_unknown_kinds_are_not_signed_on_the_portal(mine, cleo, login):
    for kind in ("release", "nope", "guardian"):
        assert login(cleo).get(reverse("portal:consent_sign", args=[mine.pk, kind])).status_code == 404


def test_a_guardians_todo_list_holds_consents_only(teen, gail, login):
    page = login(gail).get(reverse("portal:todo", args=[teen.pk])).content.decode()
    assert "Read and sign: " in page
    assert "assent" not in page.lower().split("portal-todos")[1]
