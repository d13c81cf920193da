"""The review of issue 5's client-facing code: privacy and audit faults found, each pinned by a
test that failed before its fix. Personas as in tests/conftest.py: Cleo is Avery's portal
account, Gail a guardian."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from kapflow.journal.models import JournalEntry
from kapflow.journal.services import MAX_CHARS
from kapflow.measures.models import MeasureTask
from kapflow.portal import services as portal_services
from kapflow.portal.access import portal_clients
from kapflow.portal.models import PortalInvitation
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories
from tests.test_portal_invitations import PASSWORD, _mail_on_commit, invite, link_from  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def mine(avery, cleo):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    return avery


@pytest.fixture
def teen(tess, gail):
    client = factories.make_client(first_name="Tia", last_name="Reyes", age=16, therapist=tess)
    guardian = factories.add_guardian(client)
    guardian.portal_user = gail
    guardian.save(update_fields=["portal_user"])
    return client


# A staff account never opens the portal ----------------------------------------------------------


def test_a_staff_account_flagged_as_a_client_is_refused_the_portal(avery, tess, login, audit_rows):
    """A therapist's account that also carries the client flag (set by hand, or left over) used
    to open the portal of the record linked to it, with a staff member's session."""
    tess.is_client = True
    tess.save(update_fields=["is_client"])
    avery.portal_user = tess
    avery.save(update_fields=["portal_user"])
    http = login(tess)
    for name in ("portal:client_home", "portal:todo", "portal:consents", "portal:progress"):
        assert http.get(reverse(name, args=[avery.pk])).status_code == 403, name
    assert http.get(reverse("portal_journal:list", args=[avery.pk])).status_code == 403
    assert not portal_clients(tess).exists()
    assert not [row for row in audit_rows() if row.action.startswith("kapflow.portal.")]


def test_a_deactivated_portal_account_reaches_nothing(mine, cleo, login):
    http = login(cleo)
    cleo.is_active = False
    cleo.save(update_fields=["is_active"])
    for url in (
        reverse("portal:client_home", args=[mine.pk]),
        reverse("portal_journal:list", args=[mine.pk]),
        reverse("portal_measures:list", args=[mine.pk]),
    ):
        assert http.get(url).status_code in (302, 403), url
    assert not portal_clients(cleo).exists()


# Invitations ----------------------------------------------------------------------------------


@pytest.fixture
def second_child_token(tess, login):
    """A guardian (Pat) with a portal account for one child, invited for a second one: the link
    asks for the existing account's password."""
    first, second = (factories.make_client(first_name=n, age=15, therapist=tess) for n in ("Tia", "Theo"))
    tokens = []
    for child in (first, second):
        guardian = factories.add_guardian(child)
        guardian.email = "pat@example.org"
        guardian.save(update_fields=["email"])
        invite(login(tess), child, who=f"guardian:{guardian.pk}")
        tokens.append(link_from(mail.outbox[-1]))
    assert (
        login(None)
        .post(reverse("portal:accept", args=[tokens[0]]), {"password1": PASSWORD, "password2": PASSWORD})
        .status_code
        == 302
    )
    return second, tokens[1]


def test_opening_an_invitation_link_is_audited(avery, tess, login, audit_rows):
    """The page behind the link shows the address it was sent to; opening it wrote no audit row,
    so a leaked link being opened left no trace."""
    avery.email = "avery@example.org"
    avery.save(update_fields=["email"])
    invite(login(tess), avery)
    token = link_from(mail.outbox[-1])
    assert login(None).get(reverse("portal:accept", args=[token])).status_code == 200
    [row] = audit_rows("kapflow.portal.invitation.viewed")
    invitation = PortalInvitation.objects.get(client=avery)
    assert (row.client_id, row.object_id, row.actor_id) == (avery.pk, str(invitation.pk), None)


def test_wrong_passwords_for_an_existing_account_stop_the_link_after_a_few(
    second_child_token, login, audit_rows
):
    """The accept page checked the existing account's password with no limit at all, outside the
    sign-in page's rate limit: an unlimited password oracle for whoever holds the link."""
    child, token = second_child_token
    url = reverse("portal:accept", args=[token])
    for attempt in range(1, portal_services.PASSWORD_TRIES):
        page = login(None).post(url, {"password": f"guess-number-{attempt}"})
        assert b"not the password" in page.content
        left = portal_services.PASSWORD_TRIES - attempt
        assert (f"After {left} more wrong" in page.content.decode()) == (left <= 3)
    last = login(None).post(url, {"password": "guess-number-last"})
    assert b"This link no longer works" in last.content and b"typed wrongly too many times" in last.content
    # Now even the right password is refused: the practice sends a new invitation.
    right = login(None).post(url, {"password": PASSWORD})
    assert b"This link no longer works" in right.content
    assert not child.guardians.filter(portal_user__isnull=False).exists()
    assert len(audit_rows(portal_services.PASSWORD_REFUSED)) == portal_services.PASSWORD_TRIES
    [revoked] = audit_rows("kapflow.portal.invitation.revoked")
    assert revoked.client_id == child.pk
    assert PortalInvitation.objects.get(guardian__client=child).revoked_at is not None


def test_an_account_already_holding_a_client_record_is_not_told_its_password_is_wrong(
    mine, cleo, colin, olive, login, audit_rows
):
    """Olive's invitation went to the address of Cleo's account, which already holds Avery's
    record. Cleo typed her right password and was told it was wrong, again and again."""
    cleo.set_password(PASSWORD)
    cleo.save(update_fields=["password"])
    olive.email = cleo.email
    olive.save(update_fields=["email"])
    invite(login(colin), olive)
    token = link_from(mail.outbox[-1])
    page = login(None).post(reverse("portal:accept", args=[token]), {"password": PASSWORD})
    assert b"cannot be used here" in page.content and b"not the password" not in page.content
    assert audit_rows(portal_services.PASSWORD_REFUSED) == []
    olive.refresh_from_db()
    assert olive.portal_user_id is None


def test_an_invitation_never_turns_a_staff_account_into_a_portal_account(avery, tess, cora, login):
    avery.email = cora.email
    avery.save(update_fields=["email"])
    invite(login(tess), avery)
    token = link_from(mail.outbox[-1])
    page = login(None).get(reverse("portal:accept", args=[token]))
    assert b"cannot be used here" in page.content
    cora.set_password(PASSWORD)
    cora.save(update_fields=["password"])
    login(None).post(reverse("portal:accept", args=[token]), {"password": PASSWORD})
    cora.refresh_from_db()
    avery.refresh_from_db()
    assert not cora.is_client and avery.portal_user_id is None


# Guardians ------------------------------------------------------------------------------------


def test_a_guardians_home_page_links_no_measure_or_journal_of_the_minor(teen, tess, gail, login):
    ended = timezone.now() - datetime.timedelta(hours=3)
    Visit.objects.create(
        client=teen,
        kind=Visit.Kind.MEDICATION,
        starts_at=ended - datetime.timedelta(minutes=150),
        ends_at=ended,
        modality=Visit.Modality.VIRTUAL,
        status=Visit.Status.COMPLETED,
        clinician=tess,
        created_by=tess,
    )
    MeasureTask.objects.create(client=teen, instrument="phq9", reason="weekly", due_at=timezone.now())
    page = login(gail).get(reverse("portal:client_home", args=[teen.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/portal/{teen.pk}/measures/" not in html and f"/portal/{teen.pk}/journal/" not in html


def test_a_guardians_reach_ends_on_the_minors_eighteenth_birthday(tess, gail, login):
    today = timezone.localdate()
    born = today.replace(year=today.year - 18) + datetime.timedelta(days=2)  # 18 in two days
    client = factories.make_client(first_name="Nia", date_of_birth=born, therapist=tess)
    guardian = factories.add_guardian(client)
    guardian.portal_user = gail
    guardian.save(update_fields=["portal_user"])
    start = timezone.now() + datetime.timedelta(days=5)
    visit = Visit.objects.create(
        client=client,
        kind=Visit.Kind.THERAPY,
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=1),
        modality=Visit.Modality.VIRTUAL,
        clinician=tess,
        created_by=tess,
    )
    ics = reverse("portal:visit_ics", args=[client.pk, visit.pk])
    assert login(gail).get(ics).status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(days=3), tick=False):
        assert login(gail).get(ics).status_code == 404
        assert login(gail).get(reverse("portal:client_home", args=[client.pk])).status_code == 404


# The journal's draft endpoint ------------------------------------------------------------------


def test_a_refused_draft_keeps_the_entry_it_belongs_to(mine, cleo, login):
    """A draft the form refused answered with a status line without the entry's id, so the next
    save as the client typed on started a second entry instead of going on with this one."""
    http = login(cleo)
    draft_url = reverse("portal_journal:draft", args=[mine.pk])
    http.post(draft_url, {"body": "The first lines."})
    entry = JournalEntry.objects.get(client=mine)
    refused = http.post(draft_url, {"entry": entry.pk, "body": "x" * (MAX_CHARS + 1)})
    assert refused.status_code == 200 and b"Not saved" in refused.content
    assert f'name="entry" value="{entry.pk}"'.encode() in refused.content
    http.post(draft_url, {"entry": entry.pk, "body": "The first lines, and more."})
    assert JournalEntry.objects.filter(client=mine).count() == 1


def test_the_draft_endpoint_never_reaches_another_clients_entry_through_a_refused_draft(
    mine, olive, cleo, login
):
    theirs = JournalEntry.objects.create(client=olive, draft="Olive's words.", draft_saved_at=timezone.now())
    refused = login(cleo).post(
        reverse("portal_journal:draft", args=[mine.pk]), {"entry": theirs.pk, "body": "x" * (MAX_CHARS + 1)}
    )
    assert refused.status_code == 200
    assert f'value="{theirs.pk}"'.encode() not in refused.content
    assert b"Olive" not in refused.content
    theirs.refresh_from_db()
    assert theirs.draft == "Olive's words."


# The progress switch ---------------------------------------------------------------------------


def test_an_open_caseload_does_not_hand_the_progress_switch_to_other_therapists(avery, tess, colin, login):
    """With the practice's caseload open to every clinician, any therapist could show a client
    her scores on the portal: a decision the card itself says is her own therapist's."""
    practice = Practice.load()
    practice.open_caseload = True
    practice.save()
    url = reverse("portal_staff:progress", args=[avery.pk])
    chart = login(colin).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert url not in chart and "The client's therapist decides this." in chart
    assert login(colin).post(url, {"show": "on"}).status_code == 404
    avery.refresh_from_db()
    assert not avery.portal_shows_progress
    assert url in login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert login(tess).post(url, {"show": "on"}).status_code == 302
    avery.refresh_from_db()
    assert avery.portal_shows_progress
