"""Releases of information with their terms (issue 14; docs/letters.md, "Releases"): in the office
and on the portal the signer chooses what may be sent, what for and until when; the provider's
mirrored status follows; a withdrawal on the portal stops letters at once."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from kapflow.clients.models import OutsideProvider
from kapflow.consent.models import Signature
from kapflow.letters.releases import release_standing
from tests import factories
from tests.test_letter_sending import given_release, release_document


@pytest.fixture
def reyes(avery):
    return OutsideProvider.objects.create(
        client=avery,
        name="Dr. Reyes",
        kind="psychiatrist",
        organisation="Bay Psychiatry",
        email="r@example.org",
    )


def office_url(provider):
    return reverse("consent:present_release", args=[provider.client_id, provider.pk])


def portal_url(provider):
    return reverse("portal:release_sign", args=[provider.client_id, provider.pk])


def terms(**fields):
    return {"sha256": release_document().sha256, "decision": "agree", "typed_name": "Avery Alvarez", **fields}


class TestInTheOffice:
    def test_the_page_names_the_provider_and_asks_for_the_terms(self, login, tess, reyes):
        page = login(tess).get(office_url(reyes)).content.decode()
        assert "The terms of this release" in page and "Dr. Reyes" in page and "Bay Psychiatry" in page
        for words in (
            "What may be sent",
            "Symptom questionnaire scores (PHQ-9, GAD-7)",
            "What for",
            "This release ends on",
        ):
            assert words in page, words

    def test_it_keeps_the_terms_signed_and_the_provider_follows(self, login, tess, reyes, audit_rows):
        until = timezone.localdate() + datetime.timedelta(days=90)
        login(tess).post(
            office_url(reyes),
            terms(
                signer="client",
                categories=["sessions", "course"],
                purpose="Coordinating care with her psychiatrist",
                release_expires_on=until.isoformat(),
            ),
        )
        signature = Signature.objects.get()
        assert signature.categories == ["course", "sessions"]
        assert signature.purpose == "Coordinating care with her psychiatrist"
        assert signature.release_expires_on == until and signature.presented_by == tess
        reyes.refresh_from_db()
        assert (reyes.release, reyes.release_categories, reyes.release_expires_on) == (
            "signed",
            ["course", "sessions"],
            until,
        )
        assert audit_rows("kapflow.consent.release.signed")[0].detail["categories"] == ["course", "sessions"]
        detail = (
            login(tess)
            .get(reverse("consent:signature", args=[reyes.client_id, signature.pk]))
            .content.decode()
        )
        assert "Dates of care and a summary of the course of treatment; Medication sessions" in detail
        assert "Coordinating care with her psychiatrist" in detail

    def test_a_purpose_left_empty_is_the_clients_request(self, login, tess, reyes):
        login(tess).post(office_url(reyes), terms(signer="client", categories=["course"]))
        assert Signature.objects.get().purpose == "At the client's request"

    def test_a_withdrawal_carries_no_terms_and_clears_the_providers(self, login, tess, reyes):
        http = login(tess)
        http.post(office_url(reyes), terms(signer="client", categories=["course"]))
        http.post(
            office_url(reyes), terms(signer="client", decision="refuse", categories=["course"], purpose="x")
        )
        withdrawal = Signature.objects.order_by("pk").last()
        assert (withdrawal.decision, withdrawal.categories, withdrawal.purpose) == ("revoke", [], "")
        reyes.refresh_from_db()
        assert (reyes.release, reyes.release_categories) == ("revoked", [])

    def test_an_agreement_that_names_nothing_is_refused(self, login, tess, reyes):
        page = login(tess).post(office_url(reyes), terms(signer="client")).content.decode()
        assert "Tick at least one kind of information this release lets us send." in page
        assert not Signature.objects.exists()

    def test_a_form_with_errors_keeps_the_terms_typed(self, login, tess, reyes):
        page = (
            login(tess)
            .post(
                office_url(reyes),
                terms(
                    signer="client", typed_name="Someone Else", categories=["measures"], purpose="For the GP"
                ),
            )
            .content.decode()
        )
        assert "does not match the name on file" in page
        assert 'value="For the GP"' in page
        assert re.search(r'value="measures" id="id_categories_\d+" checked', page)
        assert not Signature.objects.exists()

    def test_an_unknown_category_is_refused(self, login, tess, reyes):
        page = (
            login(tess).post(office_url(reyes), terms(signer="client", categories=["notes"])).content.decode()
        )
        assert "Select a valid choice" in page and not Signature.objects.exists()


class TestTheRule:
    def test_a_release_covers_only_what_it_names(self, tess, reyes):
        given_release(reyes, by=tess, categories=("course",))
        assert release_standing(reyes, ["course"]).allows
        refused = release_standing(reyes, ["course", "measures"])
        assert not refused.allows and "does not cover: Symptom questionnaire scores" in refused.refusal

    def test_a_release_that_names_nothing_covers_no_letter(self, tess, reyes):
        given_release(reyes, by=tess, categories=())
        assert not release_standing(reyes, ["course"]).allows


class TestOnThePortal:
    @pytest.fixture
    def mine(self, avery, cleo):
        avery.portal_user = cleo
        avery.save(update_fields=["portal_user"])
        return avery

    def test_the_consents_page_offers_each_providers_release(self, login, cleo, mine, reyes):
        page = login(cleo).get(reverse("portal:consents", args=[mine.pk])).content.decode()
        assert "Sharing with your other providers" in page and "Dr. Reyes" in page
        assert portal_url(reyes) in page

    def test_the_client_signs_a_release_with_its_terms(self, login, cleo, mine, reyes, audit_rows):
        page = login(cleo).get(portal_url(reyes)).content.decode()
        assert "This release is for Dr. Reyes" in page and "The terms of this release" in page
        until = timezone.localdate() + datetime.timedelta(days=30)
        response = login(cleo).post(
            portal_url(reyes), terms(categories=["adverse_events"], release_expires_on=until.isoformat())
        )
        assert response.status_code == 302
        signature = Signature.objects.get()
        assert signature.portal_account == cleo and signature.presented_by is None
        assert (signature.categories, signature.release_expires_on) == (["adverse_events"], until)
        assert release_standing(reyes, ["adverse_events"]).allows
        assert audit_rows("kapflow.portal.release.opened")[0].client_id == mine.pk

    def test_a_release_changed_while_the_page_was_open_is_shown_again_not_signed(
        self, login, cleo, mine, reyes
    ):
        """The text signed must be the text shown: a page that showed another version records
        nothing and says to read it again, keeping the terms chosen."""
        response = login(cleo).post(
            portal_url(reyes), terms(sha256="0" * 64, categories=["measures"], purpose="For Dr. Reyes")
        )
        page = response.content.decode()
        assert response.status_code == 200
        assert "published a new version of this document while the page was open" in page
        assert 'value="For Dr. Reyes"' in page
        assert not Signature.objects.exists()

    def test_a_withdrawal_on_the_portal_takes_effect_at_once(self, login, cleo, tess, mine, reyes):
        given_release(reyes, by=tess)
        assert release_standing(reyes, ["course"]).allows
        page = login(cleo).get(portal_url(reyes)).content.decode()
        assert "I withdraw this release from now on" in page
        response = login(cleo).post(portal_url(reyes), terms(decision="refuse"), follow=True)
        assert "withdrawn from now on" in response.content.decode()
        standing = release_standing(reyes, ["course"])
        assert not standing.allows and "revoked the release" in standing.refusal

    def test_a_guardian_with_authority_signs_for_a_minor(self, login, tess, gail):
        teen = factories.make_client(first_name="Tia", last_name="Reyes", age=16, therapist=tess)
        guardian = factories.add_guardian(teen)
        guardian.name, guardian.portal_user = "Gail Guardian", gail
        guardian.save(update_fields=["name", "portal_user"])
        provider = OutsideProvider.objects.create(client=teen, name="Dr. Lin", kind="primary_care")
        response = login(gail).post(
            portal_url(provider), terms(typed_name="Gail Guardian", categories=["course"])
        )
        assert response.status_code == 302
        signature = Signature.objects.get()
        assert (signature.signer, signature.guardian) == ("guardian", guardian)
        guardian.has_legal_authority = False
        guardian.save(update_fields=["has_legal_authority"])
        assert login(gail).get(portal_url(provider)).status_code == 404

    def test_the_minor_does_not_sign_their_own_release(self, login, tess, cleo):
        teen = factories.make_client(first_name="Tia", last_name="Reyes", age=16, therapist=tess)
        teen.portal_user = cleo
        teen.save(update_fields=["portal_user"])
        factories.add_guardian(teen)
        provider = OutsideProvider.objects.create(client=teen, name="Dr. Lin", kind="primary_care")
        assert login(cleo).get(portal_url(provider)).status_code == 404
        assert (
            "A parent or guardian signs this one."
            in login(cleo).get(reverse("portal:consents", args=[teen.pk])).content.decode()
        )

    def test_another_clients_provider_is_404(self, login, cleo, mine, olive):
        theirs = OutsideProvider.objects.create(client=olive, name="Dr. Elsewhere", kind="therapist")
        url = reverse("portal:release_sign", args=[mine.pk, theirs.pk])
        assert login(cleo).get(url).status_code == 404
        assert login(cleo).post(url, terms(categories=["course"])).status_code == 404
        assert not Signature.objects.exists()

    def test_garbage_is_refused_clearly(self, login, cleo, mine, reyes):
        for data in ({}, {"decision": "maybe", "sha256": "x"}, terms(release_expires_on="yesterday")):
            response = login(cleo).post(portal_url(reyes), data)
            assert response.status_code == 200
        assert not Signature.objects.exists()
