"""Consent with e-signature: versioned documents, decisions recorded in the office, the consent
gate (adult: KAP consent; minor: guardian consent and the minor's own assent; telehealth when
virtual), releases per outside provider, and who may see and sign what."""

import datetime
import hashlib

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from kapflow.clients.models import Guardian, OutsideProvider
from kapflow.consent import selectors
from kapflow.consent.gates import consent_gate
from kapflow.consent.models import ConsentDocument, Signature
from kapflow.consent.templatetags.consent import consent_text
from kapflow.lib.gates import Status
from kapflow.lib.names import same_name
from tests import factories

MAY_3 = datetime.datetime(2026, 5, 3, 10, 0, tzinfo=datetime.UTC)


def current(kind: str) -> ConsentDocument:
    return ConsentDocument.objects.published().filter(kind=kind).order_by("-version").first()


def publish(kind: str, *, reconsent: bool, by=None, body: str = "Changed text.") -> ConsentDocument:
    previous = current(kind)
    return ConsentDocument.objects.create(
        kind=kind,
        version=previous.version + 1,
        title=previous.title,
        body=body,
        requires_reconsent=reconsent,
        created_by=by,
        published_by=by,
        published_at=timezone.now(),
    )


def record(client, kind, *, by, decision="agree", guardian=None, provider=None, document=None):
    """A decision saved directly, for tests about what the gate makes of the records."""
    document = document or current(kind)
    return Signature.objects.create(
        document=document,
        kind=kind,
        client=client,
        signer="guardian" if guardian else "client",
        guardian=guardian,
        provider=provider,
        provider_name=provider.name if provider else "",
        signer_name=guardian.name if guardian else f"{client.first_name} {client.last_name}",
        typed_name="typed",
        decision=decision,
        text_sha256=document.sha256,
        presented_by=by,
    )


@pytest.fixture
def maya(tess, priya):
    """Tess's client, 15, with her mother Pat who can consent and her stepfather who cannot."""
    client = factories.make_client(
        first_name="Maya", last_name="Moreno", age=15, therapist=tess, prescriber=priya
    )
    factories.add_guardian(client)
    Guardian.objects.create(
        client=client,
        name="Sam Stepfather",
        relationship="stepfather",
        phone="555",
        has_legal_authority=False,
    )
    return client


def pat(client):
    return client.guardians.get(has_legal_authority=True)


def status_url(client):
    return reverse("consent:status", args=[client.pk])


def present_url(client, kind):
    return reverse("consent:present", args=[client.pk, kind])


def sign_form(client, kind, **fields):
    # A release agreed names at least one kind of information it lets the practice send.
    scope = {"categories": ["course"]} if kind == "release" else {}
    return {"sha256": current(kind).sha256, "signer": "client", "decision": "agree", **scope, **fields}


# The gate ------------------------------------------------------------------------------------


class TestGate:
    def test_it_blocks_an_adult_until_the_current_kap_consent_is_agreed(self, avery, tess):
        gate = consent_gate(avery)
        assert (gate.key, gate.label, gate.status) == ("consent", "Consent", Status.FAIL)
        assert gate.reason == "Needs the KAP consent."
        assert gate.resolver == "client" and gate.url == reverse("consent:status", args=[avery.pk])
        record(avery, "kap", by=tess)
        gate = consent_gate(avery)
        assert gate.passed and gate.reason.startswith("Agreed: KAP consent (version 1,")

    def test_it_needs_the_telehealth_consent_only_for_a_virtual_session(self, avery, tess):
        record(avery, "kap", by=tess)
        assert consent_gate(avery).passed
        gate = consent_gate(avery, virtual=True)
        assert not gate.passed and gate.reason == "Needs the telehealth consent for a virtual session."
        record(avery, "telehealth", by=tess)
        assert consent_gate(avery, virtual=True).passed

    def test_it_blocks_a_minor_until_both_the_guardian_consents_and_the_minor_assents(self, maya, tess):
        gate = consent_gate(maya)
        assert gate.reason == "Needs the guardian's consent and Maya's own assent."
        assert gate.resolver == "guardian"
        record(maya, "guardian", by=tess, guardian=pat(maya))
        gate = consent_gate(maya)
        assert gate.reason == "Needs Maya's own assent." and gate.resolver == "client"
        record(maya, "assent", by=tess)
        assert consent_gate(maya).passed

    def test_it_does_not_take_the_assent_alone(self, maya, tess):
        record(maya, "assent", by=tess)
        gate = consent_gate(maya)
        assert gate.reason == "Needs the guardian's consent." and gate.resolver == "guardian"

    def test_it_blocks_on_the_minors_refusal_even_with_the_guardians_consent(self, maya, tess):
        record(maya, "guardian", by=tess, guardian=pat(maya))
        with time_machine.travel(MAY_3, tick=False):
            record(maya, "assent", by=tess, decision="refuse")
            assert consent_gate(maya).reason == "Maya did not agree to the assent on May 3."

    def test_it_blocks_on_the_guardians_refusal_even_with_the_minors_assent(self, maya, tess):
        record(maya, "assent", by=tess)
        with time_machine.travel(MAY_3, tick=False):
            record(maya, "guardian", by=tess, guardian=pat(maya), decision="refuse")
            gate = consent_gate(maya)
        assert gate.reason == "Pat Guardian did not agree to the guardian consent on May 3."
        assert gate.resolver == "guardian"

    def test_it_ignores_a_guardian_without_legal_authority(self, maya, tess):
        stepfather = maya.guardians.get(has_legal_authority=False)
        record(maya, "guardian", by=tess, guardian=stepfather)
        record(maya, "assent", by=tess)
        assert consent_gate(maya).reason == "Needs the guardian's consent."

    def test_it_says_when_no_guardian_who_can_consent_is_on_the_chart(self, tess):
        lone = factories.make_client(first_name="Theo", age=16, therapist=tess)
        assert consent_gate(lone).reason == (
            "Needs the guardian's consent (no guardian who can give consent is on the chart yet) "
            "and Theo's own assent."
        )

    def test_it_stops_counting_older_signatures_once_a_version_requires_reconsent(self, avery, tess):
        record(avery, "kap", by=tess)
        publish("kap", reconsent=True)
        gate = consent_gate(avery)
        assert not gate.passed
        assert gate.reason == "Signed version 1 of the KAP consent; version 2 needs a new signature."
        record(avery, "kap", by=tess)
        assert consent_gate(avery).passed

    def test_the_current_versions_and_floors_are_the_same_from_one_read_of_the_published(self, ada):
        """consent_status reads the published versions once for both (published_documents): the
        current versions are those current_documents reads on its own, and the floors are each
        kind's latest published version that asked for signatures again."""
        publish("kap", reconsent=True, by=ada)
        publish("kap", reconsent=False, by=ada)
        publish("telehealth", reconsent=True, by=ada)
        ConsentDocument.objects.create(
            kind="assent",
            version=current("assent").version + 1,
            title="Draft",
            body="Not yet.",
            created_by=ada,
        )
        published = selectors.published_documents()
        assert selectors.current_documents(published) == selectors.current_documents()
        # Each kind's latest published version that asked for signatures again, asked of the
        # database on its own.
        asked_again = ConsentDocument.objects.published().filter(requires_reconsent=True)
        expected = {
            kind: asked_again.filter(kind=kind).order_by("-version")[0].version
            for kind in set(asked_again.values_list("kind", flat=True))
        }
        assert selectors.reconsent_floors(published) == expected
        assert expected["kap"] == 2 and selectors.current_documents()["kap"].version == 3
        assert selectors.current_documents()["assent"].version == current("assent").version

    def test_it_keeps_older_signatures_when_a_new_version_does_not_require_reconsent(self, avery, tess):
        record(avery, "kap", by=tess)
        publish("kap", reconsent=False)
        assert consent_gate(avery).passed

    def test_it_keeps_the_reconsent_version_as_the_floor_after_a_minor_edit(self, avery, tess):
        record(avery, "kap", by=tess)  # version 1
        v2 = publish("kap", reconsent=True)
        publish("kap", reconsent=False, body="Typo fixed.")  # version 3
        assert not consent_gate(avery).passed
        record(avery, "kap", by=tess, document=v2)
        assert consent_gate(avery).passed

    def test_it_stops_counting_the_minors_old_assent_after_a_reconsent_version(self, maya, tess):
        record(maya, "guardian", by=tess, guardian=pat(maya))
        record(maya, "assent", by=tess)
        publish("assent", reconsent=True)
        assert consent_gate(maya).reason == (
            "Maya signed version 1 of the assent; version 2 needs a new signature."
        )

    def test_it_lets_a_withdrawal_supersede_an_agreement(self, avery, tess):
        with time_machine.travel(MAY_3 - datetime.timedelta(days=30), tick=False):
            record(avery, "kap", by=tess)
        with time_machine.travel(MAY_3, tick=False):
            record(avery, "kap", by=tess, decision="revoke")
            assert consent_gate(avery).reason == "Avery withdrew their agreement to the KAP consent on May 3."
        record(avery, "kap", by=tess)
        assert consent_gate(avery).passed


# The client's consent page -------------------------------------------------------------------


class TestStatusPage:
    def test_it_shows_the_therapist_what_is_needed_and_where_each_stands(
        self, login, tess, avery, audit_rows
    ):
        OutsideProvider.objects.create(client=avery, name="Dr. Reyes", kind="psychiatrist")
        response = login(tess).get(status_url(avery))
        page = response.content.decode()
        assert response.status_code == 200
        assert "KAP informed consent" in page and "Telehealth consent" in page
        assert "Release of information to Dr. Reyes" in page
        assert "Needs the KAP consent." in page and "Not signed yet." in page
        assert present_url(avery, "kap") in page
        row = audit_rows("kapflow.consent.status.viewed")[0]
        assert row.actor == tess and row.client_id == avery.pk

    def test_it_lists_guardian_consent_and_assent_for_a_minor(self, login, tess, maya):
        page = login(tess).get(status_url(maya)).content.decode()
        assert "Guardian consent" in page and "Maya&#x27;s own assent" in page
        assert "KAP informed consent" not in page

    def test_it_shows_who_signed_which_version_and_when(self, login, tess, avery):
        with time_machine.travel(MAY_3, tick=False):
            record(avery, "kap", by=tess)
        publish("kap", reconsent=True)
        page = login(tess).get(status_url(avery)).content.decode()
        assert "Signed version 1 on May 3, 2026 by Avery Alvarez, which no longer counts" in page
        assert "Needs a new signature" in page

    def test_it_shows_the_coordinator_the_status_only(self, login, cora, avery, tess, audit_rows):
        record(avery, "kap", by=tess)
        response = login(cora).get(status_url(avery))
        page = response.content.decode()
        assert response.status_code == 200 and "Signed version 1" in page
        assert present_url(avery, "kap") not in page and "/signatures/" not in page
        assert audit_rows("kapflow.consent.status.viewed")[0].actor == cora

    def test_it_shows_the_admin_the_ways_to_sign(self, login, ada, avery):
        assert present_url(avery, "kap") in login(ada).get(status_url(avery)).content.decode()

    def test_it_answers_404_outside_the_care_team(self, login, colin, avery):
        assert login(colin).get(status_url(avery)).status_code == 404

    def test_it_refuses_clients_guardians_and_visitors(self, login, cleo, gail, avery):
        assert login(cleo).get(status_url(avery)).status_code == 403
        assert login(gail).get(status_url(avery)).status_code == 403
        assert "/accounts/login/" in login(None).get(status_url(avery))["Location"]

    def test_it_only_reads(self, login, tess, avery):
        assert login(tess).post(status_url(avery)).status_code == 405


# Presenting a document for signing -----------------------------------------------------------


class TestPresent:
    def test_it_shows_the_full_text_and_records_the_agreement(self, login, tess, avery, audit_rows):
        http = login(tess)
        document = current("kap")
        page = http.get(present_url(avery, "kap")).content.decode()
        assert document.title in page and "off-label" in page and "Record the decision" in page
        response = http.post(
            present_url(avery, "kap"),
            sign_form(avery, "kap", typed_name="Avery Alvarez"),
            REMOTE_ADDR="203.0.113.7",
        )
        assert response.status_code == 302 and response["Location"] == status_url(avery)
        signature = Signature.objects.get()
        assert signature.document == document and signature.decision == "agree"
        assert signature.signer == "client" and signature.signer_name == "Avery Alvarez"
        assert signature.typed_name == "Avery Alvarez" and signature.presented_by == tess
        assert signature.ip_address == "203.0.113.7"
        assert abs(signature.signed_at - timezone.now()) < datetime.timedelta(seconds=10)
        expected = hashlib.sha256(f"{document.title}\n\n{document.body}".encode()).hexdigest()
        assert signature.text_sha256 == expected
        row = audit_rows("kapflow.consent.signature.recorded")[0]
        assert (
            row.client_id == avery.pk
            and row.detail["sha256"] == expected
            and row.detail["decision"] == "agree"
        )
        assert audit_rows("kapflow.consent.document.presented")[0].actor == tess
        assert consent_gate(avery).passed

    def test_it_lets_the_admin_present_a_document(self, login, ada, avery):
        response = login(ada).post(
            present_url(avery, "kap"), sign_form(avery, "kap", typed_name="avery alvarez")
        )
        assert response.status_code == 302 and Signature.objects.get().presented_by == ada

    def test_it_does_not_let_the_coordinator_open_a_document_for_signing(self, login, cora, avery):
        http = login(cora)
        assert http.get(present_url(avery, "kap")).status_code == 404
        response = http.post(present_url(avery, "kap"), sign_form(avery, "kap", typed_name="Avery Alvarez"))
        assert response.status_code == 404 and not Signature.objects.exists()

    def test_it_answers_404_outside_the_care_team(self, login, colin, avery):
        assert login(colin).get(present_url(avery, "kap")).status_code == 404

    def test_it_answers_404_for_an_unknown_document(self, login, tess, avery):
        assert login(tess).get(present_url(avery, "waiver")).status_code == 404
        assert login(tess).get(present_url(avery, "release")).status_code == 404

    def test_it_refuses_other_methods(self, login, tess, avery):
        assert login(tess).put(present_url(avery, "kap")).status_code == 405

    def test_it_says_what_to_fix_when_the_typed_name_does_not_match_and_keeps_what_was_typed(
        self, login, tess, avery
    ):
        response = login(tess).post(
            present_url(avery, "kap"), sign_form(avery, "kap", typed_name="Avery Alvares")
        )
        page = response.content.decode()
        assert response.status_code == 200 and not Signature.objects.exists()
        assert "“Avery Alvares” does not match the name on file, “Avery Alvarez”" in page
        assert 'value="Avery Alvares"' in page
        assert 'value="agree" id="id_decision_0" required checked' in page

    @pytest.mark.parametrize("typed", ["avery alvarez", "  AVERY   Alvarez ", "Avery\tAlvarez"])
    def test_it_matches_the_typed_name_whatever_its_capitals_and_spaces(self, typed):
        assert same_name(typed, "Avery Alvarez")
        assert not same_name("Avery Alvarez-Diaz", "Avery Alvarez")

    def test_it_has_a_guardian_sign_the_guardian_consent_and_the_minor_the_assent(self, login, tess, maya):
        http = login(tess)
        pat_ = pat(maya)
        http.post(
            present_url(maya, "guardian"),
            sign_form(maya, "guardian", signer=f"guardian:{pat_.pk}", typed_name="pat guardian"),
        )
        http.post(present_url(maya, "assent"), sign_form(maya, "assent", typed_name="Maya Moreno"))
        assert {(s.kind, s.signer, s.guardian_id) for s in Signature.objects.all()} == {
            ("guardian", "guardian", pat_.pk),
            ("assent", "client", None),
        }
        assert consent_gate(maya).passed

    def test_it_lets_only_a_guardian_with_legal_authority_sign_the_guardian_consent(self, login, tess, maya):
        stepfather = maya.guardians.get(has_legal_authority=False)
        http = login(tess)
        page = http.get(present_url(maya, "guardian")).content.decode()
        assert "Pat Guardian (mother)" in page and "Sam Stepfather" not in page
        response = http.post(
            present_url(maya, "guardian"),
            sign_form(maya, "guardian", signer=f"guardian:{stepfather.pk}", typed_name="Sam Stepfather"),
        )
        assert response.status_code == 200 and not Signature.objects.exists()
        assert "Select a valid choice" in response.content.decode()

    def test_it_does_not_let_a_minor_sign_the_guardian_consent_for_themselves(self, login, tess, maya):
        response = login(tess).post(
            present_url(maya, "guardian"), sign_form(maya, "guardian", typed_name="Maya Moreno")
        )
        assert response.status_code == 200 and not Signature.objects.exists()

    def test_it_offers_the_assent_only_to_a_client_under_18(self, login, tess, avery):
        http = login(tess)
        assert (
            "the assent is only for clients under 18"
            in http.get(present_url(avery, "assent")).content.decode()
        )
        response = http.post(
            present_url(avery, "assent"), sign_form(avery, "assent", typed_name="Avery Alvarez")
        )
        assert response.status_code == 302 and not Signature.objects.exists()

    def test_it_records_a_refusal_that_blocks(self, login, tess, maya):
        http = login(tess)
        http.post(
            present_url(maya, "guardian"),
            sign_form(maya, "guardian", signer=f"guardian:{pat(maya).pk}", typed_name="Pat Guardian"),
        )
        http.post(
            present_url(maya, "assent"),
            sign_form(maya, "assent", typed_name="Maya Moreno", decision="refuse"),
        )
        assert Signature.objects.get(kind="assent").decision == "refuse"
        assert consent_gate(maya).reason.startswith("Maya did not agree to the assent on ")

    def test_it_records_do_not_agree_after_an_agreement_as_a_withdrawal(self, login, tess, avery):
        http = login(tess)
        http.post(present_url(avery, "kap"), sign_form(avery, "kap", typed_name="Avery Alvarez"))
        http.post(
            present_url(avery, "kap"), sign_form(avery, "kap", typed_name="Avery Alvarez", decision="refuse")
        )
        assert [s.decision for s in Signature.objects.order_by("pk")] == ["agree", "revoke"]
        assert not consent_gate(avery).passed

    def test_it_refuses_to_record_a_text_replaced_while_the_page_was_open(self, login, tess, avery, ada):
        shown = current("kap").sha256
        publish("kap", reconsent=True, by=ada)
        response = login(tess).post(
            present_url(avery, "kap"),
            {"sha256": shown, "signer": "client", "decision": "agree", "typed_name": "Avery Alvarez"},
        )
        page = response.content.decode()
        assert response.status_code == 200 and not Signature.objects.exists()
        assert "A new version of this document was published while the page was open" in page
        assert "Version 2" in page and 'value="Avery Alvarez"' in page


class TestRelease:
    @pytest.fixture
    def reyes(self, avery):
        return OutsideProvider.objects.create(client=avery, name="Dr. Reyes", kind="psychiatrist")

    def url(self, client, provider):
        return reverse("consent:present_release", args=[client.pk, provider.pk])

    def test_it_marks_the_provider_signed_with_its_expiry_when_a_release_is_signed(
        self, login, tess, avery, reyes, audit_rows
    ):
        until = timezone.localdate() + datetime.timedelta(days=365)
        page = login(tess).get(self.url(avery, reyes)).content.decode()
        assert "This release is for Dr. Reyes" in page
        login(tess).post(
            self.url(avery, reyes),
            sign_form(avery, "release", typed_name="Avery Alvarez", release_expires_on=until.isoformat()),
        )
        reyes.refresh_from_db()
        assert (reyes.release, reyes.release_expires_on) == ("signed", until) and reyes.release_is_current()
        signature = Signature.objects.get()
        assert signature.provider == reyes and signature.provider_name == "Dr. Reyes"
        assert signature.release_expires_on == until
        row = audit_rows("kapflow.consent.release.signed")[0]
        assert row.client_id == avery.pk and row.detail["to"] == "signed"

    def test_it_revokes_a_release_with_a_new_record_and_marks_the_provider_revoked(
        self, login, tess, avery, reyes, audit_rows
    ):
        http = login(tess)
        http.post(self.url(avery, reyes), sign_form(avery, "release", typed_name="Avery Alvarez"))
        http.post(
            self.url(avery, reyes), sign_form(avery, "release", typed_name="Avery Alvarez", decision="refuse")
        )
        reyes.refresh_from_db()
        assert (reyes.release, reyes.release_expires_on) == ("revoked", None)
        assert [s.decision for s in Signature.objects.order_by("pk")] == ["agree", "revoke"]
        assert audit_rows("kapflow.consent.release.revoked")[0].detail["from"] == "signed"

    def test_it_covers_one_provider_per_release(self, login, tess, avery, reyes):
        other = OutsideProvider.objects.create(client=avery, name="Dr. Lin", kind="primary_care")
        login(tess).post(self.url(avery, reyes), sign_form(avery, "release", typed_name="Avery Alvarez"))
        page = login(tess).get(status_url(avery)).content.decode()
        assert page.count("Not signed yet.") == 3  # KAP, telehealth, Dr. Lin
        other.refresh_from_db()
        assert other.release == "not_requested"

    def test_it_wants_an_expiry_in_the_future(self, login, tess, avery, reyes):
        response = login(tess).post(
            self.url(avery, reyes),
            sign_form(avery, "release", typed_name="Avery Alvarez", release_expires_on="2020-01-01"),
        )
        assert "The end date has to be after today" in response.content.decode()
        assert not Signature.objects.exists()

    def test_it_answers_404_for_another_clients_provider(self, login, tess, avery, olive):
        theirs = OutsideProvider.objects.create(client=olive, name="Dr. Elsewhere", kind="therapist")
        assert login(tess).get(self.url(avery, theirs)).status_code == 404


class TestSignatureRecord:
    def test_it_shows_the_record_with_the_text_and_its_hash(self, login, tess, avery, audit_rows):
        signature = record(avery, "kap", by=tess)
        url = reverse("consent:signature", args=[avery.pk, signature.pk])
        page = login(tess).get(url).content.decode()
        assert signature.text_sha256 in page and "Matches the text below" in page
        assert audit_rows("kapflow.consent.signature.viewed")[0].client_id == avery.pk

    def test_it_is_closed_to_the_coordinator_and_colleagues(self, login, tess, cora, colin, avery):
        signature = record(avery, "kap", by=tess)
        url = reverse("consent:signature", args=[avery.pk, signature.pk])
        assert login(cora).get(url).status_code == 404
        assert login(colin).get(url).status_code == 404

    def test_it_is_refused_by_the_database_for_the_wrong_signer(self, maya, tess):
        with pytest.raises(IntegrityError), transaction.atomic():
            record(maya, "assent", by=tess, guardian=pat(maya))
        with pytest.raises(IntegrityError), transaction.atomic():
            record(maya, "guardian", by=tess)


# The practice admin's documents -------------------------------------------------------------


class TestDocuments:
    def test_it_lists_each_document_with_its_current_version_and_who_agreed(
        self, login, ada, tess, avery, audit_rows
    ):
        record(avery, "kap", by=tess)
        record(avery, "kap", by=tess)  # agreed twice: one client
        record(factories.make_client(first_name="Dee", therapist=tess), "kap", by=tess, decision="refuse")
        response = login(ada).get(reverse("consent_documents:list"))
        kap = next(row for row in response.context["kinds"] if row["kind"] == "kap")
        assert kap["current"].version == 1 and kap["current"].signed_by == 1
        telehealth = next(row for row in response.context["kinds"] if row["kind"] == "telehealth")
        assert telehealth["current"].signed_by == 0
        assert [row["kind"] for row in response.context["kinds"]] == [
            "kap",
            "telehealth",
            "guardian",
            "assent",
            "release",
        ]
        assert audit_rows("kapflow.consent.documents.viewed")[0].actor == ada

    @pytest.mark.parametrize("who", ["tess", "cora", "priya"])
    def test_it_is_for_the_practice_admin_only(self, login, request, who):
        http = login(request.getfixturevalue(who))
        assert http.get(reverse("consent_documents:list")).status_code == 403
        assert http.get(reverse("consent_documents:new", args=["kap"])).status_code == 403

    def test_it_starts_a_new_version_from_the_current_text_and_keeps_it_as_a_draft(
        self, login, ada, audit_rows
    ):
        http = login(ada)
        form = http.get(reverse("consent_documents:new", args=["kap"])).context["form"]
        assert form["body"].value() == current("kap").body
        response = http.post(
            reverse("consent_documents:new", args=["kap"]),
            {"title": "KAP consent", "body": "New text.\r\nSecond line.", "requires_reconsent": "on"},
        )
        draft = ConsentDocument.objects.drafts().get()
        assert response["Location"] == reverse("consent_documents:detail", args=[draft.pk])
        assert (draft.version, draft.body, draft.requires_reconsent) == (2, "New text.\nSecond line.", True)
        assert current("kap").version == 1
        assert audit_rows("kapflow.consent.document.drafted")[0].detail["version"] == 2
        # Writing again edits the same draft rather than making a third version.
        http.post(reverse("consent_documents:new", args=["kap"]), {"title": "KAP consent", "body": "Newer."})
        assert ConsentDocument.objects.drafts().get().body == "Newer."

    def test_it_refuses_a_version_that_changes_nothing(self, login, ada):
        kap = current("kap")
        response = login(ada).post(
            reverse("consent_documents:new", args=["kap"]), {"title": kap.title, "body": kap.body}
        )
        assert "Nothing has changed from version 1" in response.content.decode()
        assert not ConsentDocument.objects.drafts().exists()

    def test_it_makes_the_draft_current_on_publishing_and_older_signatures_stop_counting(
        self, login, ada, tess, avery, audit_rows
    ):
        record(avery, "kap", by=tess)
        http = login(ada)
        http.post(
            reverse("consent_documents:new", args=["kap"]),
            {"title": "KAP consent", "body": "New text.", "requires_reconsent": "on"},
        )
        draft = ConsentDocument.objects.drafts().get()
        assert consent_gate(avery).passed  # a draft changes nothing
        page = http.get(reverse("consent_documents:detail", args=[draft.pk])).content.decode()
        assert "Publish version 2" in page
        response = http.post(reverse("consent_documents:publish", args=[draft.pk]))
        assert response.status_code == 302
        assert current("kap") == draft and draft.__class__.objects.get(pk=draft.pk).published_by == ada
        assert not consent_gate(avery).passed
        assert audit_rows("kapflow.consent.document.published")[0].detail["requires_reconsent"] is True
        assert audit_rows("kapflow.consent.document.viewed")[0].actor == ada

    def test_it_publishes_only_on_a_post_by_the_admin(self, login, ada, tess):
        draft = ConsentDocument.objects.create(kind="kap", version=2, title="t", body="b")
        url = reverse("consent_documents:publish", args=[draft.pk])
        assert login(ada).get(url).status_code == 405
        assert login(tess).post(url).status_code == 403
        assert ConsentDocument.objects.drafts().exists()

    def test_it_answers_404_for_an_unknown_kind_or_version(self, login, ada):
        assert login(ada).get(reverse("consent_documents:new", args=["waiver"])).status_code == 404
        assert login(ada).get(reverse("consent_documents:detail", args=[9999])).status_code == 404


@pytest.mark.django_db
class TestDefaultTexts:
    def test_it_publishes_version_1_of_each_document_in_the_migration(self):
        assert sorted(ConsentDocument.objects.published().values_list("kind", "version")) == [
            ("assent", 1),
            ("guardian", 1),
            ("kap", 1),
            ("release", 1),
            ("telehealth", 1),
        ]

    def test_it_covers_in_the_kap_consent_what_clinical_md_asks(self):
        body = current("kap").body
        for words in [
            "off-label",
            "dizziness",
            "nausea or vomiting",
            "dry mouth",
            "blood pressure or heart rate",
            "Other choices you have",
            "2 to 2.5 hours",
            "until the next day, after a restful night's sleep",
            "You may stop at any time",
        ]:
            assert words in body, words

    def test_it_speaks_of_age_and_evidence_in_the_guardian_consent_and_the_assent(self):
        guardian, assent = current("guardian").body, current("assent").body
        assert "is not approved for anyone under 18" in guardian and "much more limited" in guardian
        assert "It is not approved for anyone under 18" in assent and "You can say no" in assent

    def test_it_says_in_the_release_what_is_shared_and_how_to_withdraw_it(self):
        body = current("release").body
        assert "What may be shared" in body and "How to withdraw it" in body

    def test_it_renders_the_text_as_escaped_paragraphs_headings_and_lists(self):
        html = consent_text("## Risks\nSome:\n- one <b>\n- two\n\nLast.")
        assert html == "<h3>Risks</h3><p>Some:</p><ul><li>one &lt;b&gt;</li><li>two</li></ul><p>Last.</p>"

    def test_its_headings_sit_one_level_under_the_documents_title(self):
        """On the portal the title is the page's <h1>, so the text's headings are <h2>: a page
        must not skip a heading level (axe's heading-order, tests/browser/walk.py)."""
        assert consent_text("## Risks\n\nSome.", 2) == "<h2>Risks</h2><p>Some.</p>"


class TestChartCard:
    def render(self, client, user):
        request = RequestFactory().get("/")
        request.user = user
        return render_to_string("consent/_chart_card.html", {"client": client}, request=request)

    def test_it_shows_what_blocks_and_links_to_the_consent_page(self, tess, maya):
        html = self.render(maya, tess)
        assert "Needs the guardian&#x27;s consent and Maya&#x27;s own assent." in html
        assert status_url(maya) in html and 'class="card"' in html

    def test_it_says_when_consent_is_in_place(self, tess, avery):
        record(avery, "kap", by=tess)
        html = self.render(avery, tess)
        assert "In place for an in-person session." in html and "Signed, v1" in html


def test_a_database_emptied_by_flush_gets_the_starting_documents_back_once(db):
    """`manage.py flush` (and every test that commits) sends post_migrate: the starting
    documents come back as the migration wrote them, and a kind that has any is left alone."""
    from django.core.management.sql import emit_post_migrate_signal

    kinds = sorted(ConsentDocument.objects.values_list("kind", flat=True))
    assert len(kinds) == 5
    kap_body = ConsentDocument.objects.get(kind="kap").body
    ConsentDocument.objects.exclude(kind="kap").delete()
    ConsentDocument.objects.filter(kind="kap").update(title="The practice's own")

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert sorted(ConsentDocument.objects.values_list("kind", flat=True)) == kinds
    assert ConsentDocument.objects.get(kind="kap").title == "The practice's own"
    assert ConsentDocument.objects.get(kind="telehealth").version == 1
    assert ConsentDocument.objects.get(kind="kap").body == kap_body
