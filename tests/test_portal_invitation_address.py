"""A corrected address ends the invitation sent to the old one (issue 11, item 3): changing a
client's or a guardian's email revokes their open portal invitations, audited, and accepting an
invitation checks again that its address is still the one on file, so an invitation that was
not revoked (the address changed some other way) is refused all the same."""

import re

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse

from kapflow.accounts.models import User
from kapflow.clients.models import Client, Guardian
from kapflow.portal import services
from kapflow.portal.models import PortalInvitation
from tests import factories

PASSWORD = "quiet-harbour-lantern-42"
REFUSAL = (
    "This invitation was sent to an address the practice has since changed. Ask the practice for a new one."
)
_capture = {}


@pytest.fixture(autouse=True)
def _mail_on_commit(django_capture_on_commit_callbacks):
    # The invitation email is enqueued when the transaction commits, which a test's never does.
    _capture["callbacks"] = django_capture_on_commit_callbacks


def invite(http, client: Client, who: str = "client") -> str:
    """Send the invitation from the chart; the token from the link in the email."""
    mail.outbox.clear()
    with _capture["callbacks"](execute=True):
        http.post(reverse("portal_staff:invite", args=[client.pk]), {"who": who})
    match = re.search(r"/portal/welcome/(\S+)/", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


def accept(http, token: str):
    return http.post(reverse("portal:accept", args=[token]), {"password1": PASSWORD, "password2": PASSWORD})


def edit_data(http, client: Client, **changes) -> dict:
    form = http.get(reverse("clients:edit", args=[client.pk])).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data["date_of_birth"] = client.date_of_birth.isoformat()
    return {**data, **changes}


@pytest.fixture
def invited(avery, tess, login) -> str:
    Client.objects.filter(pk=avery.pk).update(email="avery@example.org")
    return invite(login(tess), avery)


@pytest.fixture
def teen_and_guardian(tess, login):
    teen = factories.make_client(first_name="Tate", age=16, therapist=tess)
    guardian = factories.add_guardian(teen)
    Guardian.objects.filter(pk=guardian.pk).update(email="pat@example.org")
    guardian.refresh_from_db()
    token = invite(login(tess), teen, who=f"guardian:{guardian.pk}")
    return teen, guardian, token


class TestChangingTheAddressRevokes:
    def test_a_corrected_client_address_revokes_the_open_invitation_audited(
        self, login, cora, avery, invited, audit_rows
    ):
        http = login(cora)
        response = http.post(
            reverse("clients:edit", args=[avery.pk]), edit_data(http, avery, email="avery.new@example.org")
        )
        assert response.status_code == 302
        invitation = PortalInvitation.objects.get(client=avery)
        assert invitation.revoked_at is not None
        assert (
            "invitation sent to the old address no longer works"
            in http.get(response["Location"]).content.decode()
        )
        row = audit_rows("kapflow.portal.invitation.revoked")[0]
        assert (row.actor, row.client, row.object_id) == (cora, avery, str(invitation.pk))
        assert row.detail["why"] == "address changed" and "example.org" not in str(row.detail)
        # The old link now opens nothing.
        accept(login(None), invited)
        assert not User.objects.filter(email="avery@example.org").exists()

    def test_a_corrected_guardian_address_revokes_the_guardians_invitation_only(
        self, login, cora, tess, teen_and_guardian, audit_rows
    ):
        teen, guardian, token = teen_and_guardian
        Client.objects.filter(pk=teen.pk).update(email="tate@example.org")
        invite(login(tess), teen)  # the teen's own invitation, which the guardian's change leaves alone
        response = login(cora).post(
            reverse("clients:contact_edit", args=[teen.pk, "guardians", guardian.pk]),
            {
                "name": guardian.name,
                "relationship": guardian.relationship,
                "phone": guardian.phone,
                "email": "pat.new@example.org",
                "has_legal_authority": "on",
            },
        )
        assert response.status_code == 302
        assert PortalInvitation.objects.get(guardian=guardian).revoked_at is not None
        assert PortalInvitation.objects.get(client=teen, guardian=None).is_live
        assert [row.detail["guardian"] for row in audit_rows("kapflow.portal.invitation.revoked")] == [
            guardian.pk
        ]

    def test_the_same_address_in_other_letters_revokes_nothing(self, login, cora, avery, invited):
        http = login(cora)
        http.post(reverse("clients:edit", args=[avery.pk]), edit_data(http, avery, email="Avery@Example.org"))
        assert PortalInvitation.objects.get(client=avery).is_live

    def test_other_changes_revoke_nothing(self, login, cora, avery, invited):
        http = login(cora)
        http.post(reverse("clients:edit", args=[avery.pk]), edit_data(http, avery, city="Ojai"))
        assert PortalInvitation.objects.get(client=avery).is_live
        assert accept(login(None), invited).status_code == 302

    def test_a_new_invitation_to_the_new_address_works(self, login, cora, tess, avery, invited):
        http = login(cora)
        http.post(
            reverse("clients:edit", args=[avery.pk]), edit_data(http, avery, email="avery.new@example.org")
        )
        token = invite(login(tess), avery)
        assert accept(login(None), token).status_code == 302
        assert Client.objects.get(pk=avery.pk).portal_user.email == "avery.new@example.org"


class TestAcceptingChecksTheAddressAgain:
    """The race: the address changed without the invitation being revoked (a direct update)."""

    def test_the_page_refuses_an_invitation_to_an_address_no_longer_on_file(
        self, login, avery, invited, audit_rows
    ):
        browser = login(None)
        assert browser.get(reverse("portal:accept", args=[invited])).context["form"]  # opened in time
        Client.objects.filter(pk=avery.pk).update(email="avery.new@example.org")
        assert PortalInvitation.objects.get(client=avery).is_live  # nothing revoked it
        response = accept(browser, invited)
        assert response.status_code == 200 and REFUSAL in response.content.decode()
        assert "avery.new@" not in response.content.decode()
        assert not User.objects.filter(email__in=["avery@example.org", "avery.new@example.org"]).exists()
        assert Client.objects.get(pk=avery.pk).portal_user is None
        # Found stale, it is revoked for good, audited.
        assert PortalInvitation.objects.get(client=avery).revoked_at is not None
        assert audit_rows("kapflow.portal.invitation.revoked")[0].detail["why"] == "address changed"

    def test_the_service_refuses_it_even_when_the_page_was_opened_before_the_change(self, avery, invited):
        Client.objects.filter(pk=avery.pk).update(email="avery.new@example.org")
        request = RequestFactory().post("/")
        request.user, request.session = User(), SessionStore()
        with pytest.raises(services.AddressChanged, match="Ask the practice for a new one"):
            services.invitation_accept(request=request, token=invited, password=PASSWORD)
        assert Client.objects.get(pk=avery.pk).portal_user is None
        assert PortalInvitation.objects.get(client=avery).accepted_at is None

    def test_a_client_address_removed_from_the_record_is_refused_too(self, login, avery, invited):
        Client.objects.filter(pk=avery.pk).update(email="")
        assert REFUSAL in login(None).get(reverse("portal:accept", args=[invited])).content.decode()
        assert "no longer works" in accept(login(None), invited).content.decode()  # revoked when seen
        assert Client.objects.get(pk=avery.pk).portal_user is None

    def test_a_guardian_invitation_is_checked_against_the_guardians_address(self, login, teen_and_guardian):
        teen, guardian, token = teen_and_guardian
        Guardian.objects.filter(pk=guardian.pk).update(email="pat.new@example.org")
        request = RequestFactory().post("/")
        request.user, request.session = User(), SessionStore()
        with pytest.raises(services.AddressChanged):
            services.invitation_accept(request=request, token=token, password=PASSWORD)
        response = accept(login(None), token)
        assert REFUSAL in response.content.decode()
        guardian.refresh_from_db()
        assert guardian.portal_user is None
