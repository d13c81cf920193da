"""The intention thread (docs/intentions.md): the client's intention for a medication session,
entered on the portal or in the opening reflection, shown in the runbook's opening phase and
carried into the integration record; never edited, a newer entry superseding the older."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.audit.sentences import describe
from kapflow.clients.models import CareTeamMember, Guardian
from kapflow.dosing.services.signing import runbook_sign
from kapflow.integration.models import IntegrationRecord
from kapflow.notes import intentions
from kapflow.notes.models import SessionIntention
from kapflow.pathway.models import PreparationSession
from kapflow.visits.models import Visit
from tests import factories, test_runbook_dayof
from tests.test_runbook import at, discharge, rate, vitals
from tests.test_runbook_dayof import checklist, give, predose, start

in_person, order = test_runbook_dayof.in_person, test_runbook_dayof.order  # fixtures

pytestmark = pytest.mark.django_db

PORTAL = intentions.Source.PORTAL
OPENING = intentions.Source.OPENING
HOPE = "To meet the grief about my father with some kindness."


def request_as(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


def medication(client, clinician, *, days=1, status=Visit.Status.SCHEDULED):
    starts = timezone.now() + datetime.timedelta(days=days)
    return Visit.objects.create(
        client=client,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=150),
        clinician=clinician,
        created_by=clinician,
        status=status,
    )


@pytest.fixture
def session(avery, tess, cleo):
    """Avery (Cleo's portal account) has a medication session tomorrow with Tess."""
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    return medication(avery, tess)


def portal_url(visit):
    return reverse("portal:intention", args=[visit.client_id, visit.pk])


def runbook_url(visit):
    return reverse("dosing:runbook", args=[visit.client_id, visit.pk])


def enter_on_portal(http, visit, text):
    return http.post(portal_url(visit), {"intention-text": text})


# The portal ---------------------------------------------------------------------------------------


def test_it_asks_the_client_on_the_portal_home_for_their_next_session(session, cleo, login):
    html = login(cleo).get(reverse("portal:client_home", args=[session.client_id])).content.decode()
    when = timezone.localtime(session.starts_at)
    assert f"Your intention for your session on {when:%a} {when.day} {when:%b}" in html
    assert 'name="intention-text"' in html and portal_url(session) in html


def test_it_saves_the_intention_entered_on_the_portal_and_audits_it_without_the_text(
    session, cleo, audit_rows, login
):
    response = enter_on_portal(login(cleo), session, f"  {HOPE}\n")
    assert response.status_code == 302 and response["Location"] == portal_url(session)
    intention = intentions.latest_intention(session)
    assert (intention.text, intention.source, intention.entered_by, intention.client) == (
        HOPE,
        PORTAL,
        cleo,
        session.client,
    )
    [row] = audit_rows(intentions.ENTERED_ACTION)
    assert row.client_id == session.client_id and row.detail["source"] == "portal"
    assert "grief" not in str(row.detail)
    [line] = describe([row])
    assert line.known and "on the portal" in line.note


def test_the_client_sees_their_earlier_intention_and_can_change_it_until_the_session_begins(
    session, cleo, login
):
    http = login(cleo)
    enter_on_portal(http, session, "To rest.")
    html = http.get(portal_url(session)).content.decode()
    assert "To rest." in html and "Change my intention" in html
    enter_on_portal(http, session, HOPE)
    assert intentions.latest_intention(session).text == HOPE
    Visit.objects.filter(pk=session.pk).update(status=Visit.Status.IN_PROGRESS)
    response = enter_on_portal(http, session, "Something else.")
    assert response.status_code == 200
    assert "Your session has begun" in response.content.decode()
    assert intentions.latest_intention(session).text == HOPE


def test_the_client_cannot_enter_an_intention_once_the_session_is_over(session, cleo, login):
    """A session still "scheduled" after its end (nobody checked the client in) is over: the
    portal page offers no box, and a form sent anyway is refused by the service too."""
    ended = timezone.now() - datetime.timedelta(hours=1)
    Visit.objects.filter(pk=session.pk).update(
        starts_at=ended - datetime.timedelta(minutes=150), ends_at=ended
    )
    session.refresh_from_db()
    http = login(cleo)
    assert "can no longer be changed here" in http.get(portal_url(session)).content.decode()
    response = enter_on_portal(http, session, HOPE)
    assert response.status_code == 200 and "not saved" in response.content.decode()
    with pytest.raises(ValidationError, match="session is over"):
        intentions.intention_enter(request=request_as(cleo), visit=session, text=HOPE, source=PORTAL)
    assert not SessionIntention.objects.exists()


def test_a_guardian_cannot_enter_or_read_an_intention(session, gail, login):
    # Even a guardian of a minor: an intention is clinical content (docs/access.md).
    minor = factories.make_client(first_name="Tia", age=15, therapist=session.clinician)
    Guardian.objects.create(
        client=minor, name="Gail", relationship="mother", portal_user=gail, has_legal_authority=True
    )
    visit = medication(minor, session.clinician)
    http = login(gail)
    assert http.get(portal_url(visit)).status_code == 404
    assert enter_on_portal(http, visit, HOPE).status_code == 404
    home = http.get(reverse("portal:client_home", args=[minor.pk])).content.decode()
    assert "Your intention" not in home
    with pytest.raises(ValidationError, match="Only the client"):
        intentions.intention_enter(request=request_as(gail), visit=visit, text=HOPE, source=PORTAL)
    assert not SessionIntention.objects.exists()


def test_a_client_cannot_set_another_clients_intention(session, olive, colin, cleo, login):
    other = medication(olive, colin)
    http = login(cleo)
    # Olive's record, and Olive's visit under Avery's record: both out of Cleo's reach.
    assert enter_on_portal(http, other, HOPE).status_code == 404
    url = reverse("portal:intention", args=[session.client_id, other.pk])
    assert http.post(url, {"intention-text": HOPE}).status_code == 404
    assert http.get(url).status_code == 404
    with pytest.raises(ValidationError, match="Only the client"):
        intentions.intention_enter(request=request_as(cleo), visit=other, text=HOPE, source=PORTAL)
    assert not SessionIntention.objects.exists()


def test_staff_are_refused_the_portal_page(session, tess, login):
    assert enter_on_portal(login(tess), session, HOPE).status_code == 403
    assert not SessionIntention.objects.exists()


def test_only_a_medication_session_of_the_client_has_an_intention_page(session, tess, cleo, login):
    other = Visit.objects.create(
        client=session.client,
        kind=Visit.Kind.INTEGRATION,
        starts_at=session.starts_at + datetime.timedelta(days=2),
        ends_at=session.starts_at + datetime.timedelta(days=2, hours=1),
        modality=Visit.Modality.VIRTUAL,
        clinician=tess,
        created_by=tess,
    )
    http = login(cleo)
    assert http.get(portal_url(other)).status_code == 404
    big = reverse("portal:intention", args=[session.client_id, 2**63 + 5])
    assert http.get(big).status_code == 404


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "Write the intention"),
        ("   \n\t ", "Write the intention"),
        ("x" * (intentions.MAX_LENGTH + 1), "under 1000 characters"),
        ("a\x00b", "Null characters are not allowed"),
    ],
)
def test_hostile_or_empty_text_is_refused_with_a_message(session, cleo, login, text, problem):
    response = enter_on_portal(login(cleo), session, text)
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert not SessionIntention.objects.exists()


@pytest.mark.parametrize("text", ["", "  ", "x" * (intentions.MAX_LENGTH + 1), "a\x00b", None, 12])
def test_the_service_refuses_what_the_form_would(session, cleo, text):
    with pytest.raises(ValidationError):
        intentions.intention_enter(request=request_as(cleo), visit=session, text=text, source=PORTAL)
    with pytest.raises(ValidationError):
        intentions.intention_enter(request=request_as(cleo), visit=session, text=HOPE, source="guardian")
    assert not SessionIntention.objects.exists()


def test_markup_in_an_intention_is_shown_as_text(session, cleo, tess, login):
    enter_on_portal(login(cleo), session, '<script>alert("x")</script> & rest')
    html = login(tess).get(runbook_url(session)).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; rest" in html
    assert '<script>alert("x")' not in html


@pytest.mark.parametrize("status", [Visit.Status.CANCELLED, Visit.Status.NO_SHOW, Visit.Status.COMPLETED])
def test_a_closed_visit_takes_no_intention(session, cleo, tess, status):
    Visit.objects.filter(pk=session.pk).update(status=status, cancel_reason="Unwell.")
    for user, source in ((cleo, PORTAL), (tess, OPENING), (tess, intentions.Source.CLINICIAN)):
        with pytest.raises(ValidationError, match="can no longer be changed"):
            intentions.intention_enter(request=request_as(user), visit=session, text=HOPE, source=source)
    assert not SessionIntention.objects.exists()


# The runbook --------------------------------------------------------------------------------------


def test_the_portal_intention_and_the_preparation_intentions_show_in_the_runbook(session, cleo, tess, login):
    PreparationSession.objects.create(
        client=session.client,
        clinician=tess,
        held_on=timezone.localdate() - datetime.timedelta(days=7),
        intentions="To trust what comes up.",
    )
    PreparationSession.objects.create(
        client=session.client,
        clinician=tess,
        held_on=timezone.localdate() - datetime.timedelta(days=3),
        topics=["set"],
    )
    enter_on_portal(login(cleo), session, HOPE)
    html = login(tess).get(runbook_url(session)).content.decode()
    assert HOPE in html and "Entered by Cleo Client on the portal" in html
    assert "Set in preparation" in html and "To trust what comes up." in html
    held = timezone.localdate() - datetime.timedelta(days=7)
    assert f"{held:%b} {held.day}, with Tess Therapist" in html
    # Before the day, the clinician may record it too (a scheduled visit).
    assert 'id="intention-form"' in html and "Update the intention" in html


def test_the_therapist_records_it_in_the_opening_reflection_and_it_supersedes_the_portals(
    session, cleo, tess, login, audit_rows
):
    enter_on_portal(login(cleo), session, "To rest.")
    first = intentions.latest_intention(session)
    Visit.objects.filter(pk=session.pk).update(status=Visit.Status.CHECKED_IN)
    http = login(tess)
    response = http.post(
        reverse("dosing:intention", args=[session.client_id, session.pk]), {"intention-text": HOPE}
    )
    assert response.status_code == 302
    latest = intentions.latest_intention(session)
    assert (latest.text, latest.source, latest.entered_by) == (HOPE, OPENING, tess)
    # Both kept, the older unchanged.
    assert list(SessionIntention.objects.filter(visit=session).values_list("text", flat=True)) == [
        HOPE,
        "To rest.",
    ]
    first.refresh_from_db()
    assert first.text == "To rest."
    assert audit_rows(intentions.ENTERED_ACTION)[-1].detail["supersedes"] == first.pk
    html = http.get(runbook_url(session)).content.decode()
    assert "Entered by Tess Therapist in the opening reflection" in html


def test_the_same_intention_sent_twice_is_saved_once(session, cleo, login):
    http = login(cleo)
    enter_on_portal(http, session, HOPE)
    enter_on_portal(http, session, HOPE)
    assert SessionIntention.objects.filter(visit=session).count() == 1


def test_a_clinician_outside_the_clients_care_cannot_record_it(session, colin, cora, login):
    Visit.objects.filter(pk=session.pk).update(status=Visit.Status.CHECKED_IN)
    url = reverse("dosing:intention", args=[session.client_id, session.pk])
    for user in (colin, cora):
        assert login(user).post(url, {"intention-text": HOPE}).status_code == 404
    with pytest.raises(ValidationError, match="therapist or prescriber"):
        intentions.intention_enter(request=request_as(colin), visit=session, text=HOPE, source=OPENING)
    with pytest.raises(ValidationError, match="therapist or prescriber"):
        intentions.intention_enter(request=request_as(cora), visit=session, text=HOPE, source=OPENING)
    assert not SessionIntention.objects.exists()


def test_an_invited_outside_prescriber_reads_the_intention_but_records_none(session, cleo, login):
    oscar = factories.make_user("Oscar Outside", roles=("is_prescriber", "outside_practice"))
    CareTeamMember.objects.create(client=session.client, user=oscar, role=CareTeamMember.Role.PRESCRIBER)
    enter_on_portal(login(cleo), session, HOPE)
    Visit.objects.filter(pk=session.pk).update(status=Visit.Status.CHECKED_IN)
    http = login(oscar)
    html = http.get(runbook_url(session)).content.decode()
    assert HOPE in html and 'id="intention-form"' not in html
    url = reverse("dosing:intention", args=[session.client_id, session.pk])
    assert http.post(url, {"intention-text": "Mine."}).status_code == 404
    with pytest.raises(ValidationError, match="therapist or prescriber"):
        intentions.intention_enter(request=request_as(oscar), visit=session, text="Mine.", source=OPENING)
    assert SessionIntention.objects.count() == 1


def test_a_refusal_on_the_runbook_keeps_what_was_typed(session, tess, login):
    url = reverse("dosing:intention", args=[session.client_id, session.pk])
    http = login(tess)
    response = http.post(url, {"intention-text": ""})
    assert response.status_code == 200
    assert "Write the intention before saving it." in response.content.decode()
    # Refused by the service (the visit cancelled meanwhile): the words come back in the box.
    Visit.objects.filter(pk=session.pk).update(status=Visit.Status.CANCELLED, cancel_reason="Unwell.")
    html = http.post(url, {"intention-text": "To rest & <breathe>."}).content.decode()
    assert "its intention can no longer be changed" in html
    assert "To rest &amp; &lt;breathe&gt;.</textarea>" in html
    assert not SessionIntention.objects.exists()


@pytest.fixture
def signed(in_person, order, tess, pathway_ready):
    """An in-person session run from check-in to its signature (tests.test_runbook's clock)."""
    visit = in_person
    checklist(visit, tess)
    start(visit, tess)
    predose(visit, tess)
    give(visit, tess, order)
    vitals(visit, tess, 100)
    rate(visit, tess, 100)
    discharge(visit, tess, 120)
    with time_machine.travel(at(110), tick=False):
        intentions.intention_enter(request=request_as(tess), visit=visit, text=HOPE, source=OPENING)
    with time_machine.travel(at(125), tick=False):
        runbook_sign(actor=tess, visit=visit)
    return visit


def test_no_intention_is_entered_once_the_runbook_is_signed(signed, tess, login):
    with time_machine.travel(at(130), tick=False):
        with pytest.raises(ValidationError, match="signed and locked"):
            intentions.intention_enter(request=request_as(tess), visit=signed, text="Later.", source=OPENING)
        http = login(tess)
        response = http.post(
            reverse("dosing:intention", args=[signed.client_id, signed.pk]), {"intention-text": "Later."}
        )
        assert response.status_code == 200
        assert "signed and locked" in response.content.decode()
        html = http.get(runbook_url(signed)).content.decode()
    assert SessionIntention.objects.filter(visit=signed).count() == 1
    # The signed record shows the intention, without the form.
    assert HOPE in html and 'id="intention-form"' not in html


def test_the_database_refuses_to_change_or_delete_an_intention(session, cleo):
    intention = intentions.intention_enter(request=request_as(cleo), visit=session, text=HOPE, source=PORTAL)
    for change in (
        lambda: SessionIntention.objects.filter(pk=intention.pk).update(text="Rewritten."),
        lambda: SessionIntention.objects.filter(pk=intention.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    intention.refresh_from_db()
    assert intention.text == HOPE


def test_the_runbook_reads_the_intention_with_its_visit(session, cleo, tess, login):
    """Showing the intention costs the runbook no query of its own: as many with one as without."""
    http = login(tess)
    url = runbook_url(session)
    http.get(url)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert http.get(url).status_code == 200
        return len(captured)

    without = queries()
    enter_on_portal(login(cleo), session, HOPE)
    enter_on_portal(login(cleo), session, "And again.")
    assert queries() == without


# Integration --------------------------------------------------------------------------------------


def test_the_intention_is_carried_into_the_integration_record(session, cleo, tess, login):
    enter_on_portal(login(cleo), session, HOPE)
    Visit.objects.filter(pk=session.pk).update(status=Visit.Status.COMPLETED)
    http = login(tess)
    client_id = session.client_id
    form = http.get(reverse("integration:record_new", args=[client_id]) + f"?follows={session.pk}")
    html = form.content.decode()
    when = timezone.localtime(session.starts_at)
    assert f"What Avery hoped for from the session on {when:%a %b} {when.day}" in html and HOPE in html
    overview = http.get(reverse("integration:overview", args=[client_id])).content.decode()
    assert "What Avery hoped for" in overview and HOPE in overview
    response = http.post(
        reverse("integration:record_new", args=[client_id]),
        {"follows": session.pk, "themes": "Grief, softening."},
    )
    assert response.status_code == 302
    record = IntegrationRecord.objects.get(client_id=client_id)
    assert record.intention == HOPE
    detail = http.get(reverse("integration:record_detail", args=[client_id, record.pk])).content.decode()
    assert "What Avery hoped for from the session" in detail and HOPE in detail
    event = AuditEvent.objects.filter(action="kapflow.integration.record.recorded").get()
    assert event.detail["with_intention"] is True and "grief" not in str(event.detail).lower()


def test_a_record_for_no_session_carries_no_intention(session, cleo, tess, login):
    enter_on_portal(login(cleo), session, HOPE)
    response = login(tess).post(
        reverse("integration:record_new", args=[session.client_id]), {"follows": "", "themes": "Rest."}
    )
    assert response.status_code == 302
    assert IntegrationRecord.objects.get().intention == ""
