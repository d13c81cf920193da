"""Sending a signed letter and the record of disclosures (issue 14; docs/letters.md, "Sending" and
"Disclosures"): a letter goes only under a release that covers it at the moment it goes; the
provider's email says nothing clinical; the emailed link works once and runs out; every sending
is a disclosure, listed on the client's page and in the accounting a client may ask for."""

import csv
import datetime
import hashlib
import importlib
import io
import time

import pytest
import time_machine
import weasyprint
from django.apps import apps as django_apps
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.clients.models import OutsideProvider
from kapflow.consent import services as consent_services
from kapflow.consent.models import ConsentDocument, Signature
from kapflow.letters import sending
from kapflow.letters.models import Disclosure, DownloadLink, Letter
from kapflow.lib.logfilters import redact
from kapflow.practice.models import Practice
from tests.test_concurrency import race

# Helpers (also used by tests/test_releases.py and tests/matrix_letter_sending.py) --------------

_PDF: dict[str, bytes] = {}


def pdf_bytes() -> bytes:
    """A small real PDF, made once per run."""
    if "pdf" not in _PDF:
        _PDF["pdf"] = weasyprint.HTML(string="<h1>Letter</h1><p>A summary of care.</p>").write_pdf()
    return _PDF["pdf"]


def release_document() -> ConsentDocument:
    """The published release; put back first when a transactional test's flush emptied the
    table the data migration filled (as tests/browser/walk.py does)."""
    if not ConsentDocument.objects.exists():
        importlib.import_module("kapflow.consent.migrations.0002_default_documents").create(django_apps, None)
    return ConsentDocument.objects.published().filter(kind="release").order_by("-version").first()


def given_release(
    provider, *, by, categories=("course", "sessions"), purpose="Continuity of care", expires=None
):
    """An agreement to a release for `provider`, saved as the office would save it."""
    document = release_document()
    client = provider.client
    return Signature.objects.create(
        document=document,
        kind="release",
        client=client,
        signer="client",
        provider=provider,
        provider_name=provider.name,
        signer_name=f"{client.first_name} {client.last_name}",
        typed_name=f"{client.first_name} {client.last_name}",
        decision="agree",
        categories=list(categories),
        purpose=purpose,
        release_expires_on=expires,
        text_sha256=document.sha256,
        presented_by=by,
    )


def signed_letter(provider, *, by, categories=("course",), kind="referral") -> Letter:
    """A signed letter with its PDF in storage, made directly (the letter's own making is tested
    elsewhere)."""
    content = pdf_bytes()
    name = default_storage.save(f"letters/test-{provider.pk}.pdf", ContentFile(content))
    return Letter.objects.create(
        client=provider.client,
        kind=kind,
        provider=provider,
        categories=list(categories),
        created_by=by,
        facts={"summary": "Dates of care"},
        signed_by=by,
        signed_at=timezone.now(),
        pdf=name,
        pdf_sha256=hashlib.sha256(content).hexdigest(),
    )


@pytest.fixture
def reyes(avery):
    return OutsideProvider.objects.create(
        client=avery, name="Dr. Reyes", kind="psychiatrist", email="reyes@clinic.example", phone="555-0100"
    )


@pytest.fixture
def letter(reyes, tess):
    given_release(reyes, by=tess)
    return signed_letter(reyes, by=tess)


def link_url(letter):
    return reverse("letter_sending:link", args=[letter.client_id, letter.pk])


def download_url(letter, method):
    return reverse("letter_sending:download", args=[letter.client_id, letter.pk, method])


def page_url(letter):
    return reverse("letter_sending:page", args=[letter.client_id, letter.pk])


def send_link(http, letter, capture):
    with capture(execute=True):
        return http.post(link_url(letter), follow=True)


def token_from(message) -> str:
    return message.body.split("/shared/")[1].split("/")[0]


# Sending by email ------------------------------------------------------------------------------


class TestEmailedLink:
    def test_it_emails_a_link_and_records_the_disclosure(
        self, login, tess, letter, reyes, django_capture_on_commit_callbacks, audit_rows
    ):
        page = send_link(login(tess), letter, django_capture_on_commit_callbacks).content.decode()
        assert "Sent: Dr. Reyes was emailed a link at reyes@clinic.example" in page
        (message,) = mail.outbox
        assert message.to == ["reyes@clinic.example"]
        disclosure = Disclosure.objects.get()
        release = Signature.objects.get()
        assert (disclosure.client, disclosure.letter, disclosure.provider) == (letter.client, letter, reyes)
        assert (disclosure.recipient_name, disclosure.recipient_address) == (
            "Dr. Reyes",
            "reyes@clinic.example",
        )
        assert (
            disclosure.what
            == "Referral for a medical evaluation: Dates of care and a summary of the course of treatment"
        )
        assert (disclosure.purpose, disclosure.basis, disclosure.release) == (
            "Continuity of care",
            "release",
            release,
        )
        assert (disclosure.method, disclosure.accountable, disclosure.disclosed_by) == ("link", False, tess)
        link = DownloadLink.objects.get()
        token = token_from(message)
        assert link.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in link.token_hash
        assert link.expires_at == disclosure.disclosed_at + datetime.timedelta(hours=72)
        row = audit_rows("kapflow.letters.letter.sent")[0]
        assert row.client_id == letter.client_id and row.detail["release"] == release.pk

    def test_its_email_names_neither_the_client_nor_the_treatment(
        self, login, tess, letter, django_capture_on_commit_callbacks
    ):
        practice = Practice.load()
        practice.name, practice.outward_name = "Ketamine Healing Center", "Harbor Health"
        practice.save()
        send_link(login(tess), letter, django_capture_on_commit_callbacks)
        (message,) = mail.outbox
        text = f"{message.subject}\n{message.body}".lower()
        assert "harbor health" in text
        for word in (
            "avery",
            "alvarez",
            "ketamine",
            "kap",
            "psychedelic",
            "therapy",
            "referral",
            "dr. reyes",
        ):
            assert word not in text, word

    def test_its_link_lasts_as_long_as_the_setting_says(
        self, login, tess, letter, settings, django_capture_on_commit_callbacks
    ):
        settings.LETTER_LINK_HOURS = 5
        send_link(login(tess), letter, django_capture_on_commit_callbacks)
        link = DownloadLink.objects.get()
        assert link.expires_at - link.created_at == datetime.timedelta(hours=5)
        assert "for the next 5 hours" in mail.outbox[0].body

    def test_it_refuses_a_provider_without_an_email_address(
        self, login, tess, letter, reyes, django_capture_on_commit_callbacks
    ):
        OutsideProvider.objects.filter(pk=reyes.pk).update(email="")
        page = send_link(login(tess), letter, django_capture_on_commit_callbacks).content.decode()
        assert "No email address is on file for Dr. Reyes" in page
        assert not Disclosure.objects.exists() and not mail.outbox


class TestRefusals:
    def refused(self, http, letter, capture) -> str:
        page = send_link(http, letter, capture).content.decode()
        assert not Disclosure.objects.exists() and not DownloadLink.objects.exists() and not mail.outbox
        return page

    def test_it_refuses_a_release_that_has_expired(
        self, login, tess, reyes, django_capture_on_commit_callbacks, audit_rows
    ):
        given_release(reyes, by=tess, expires=timezone.localdate() + datetime.timedelta(days=10))
        letter = signed_letter(reyes, by=tess)
        with time_machine.travel(timezone.now() + datetime.timedelta(days=12)):
            page = self.refused(login(tess), letter, django_capture_on_commit_callbacks)
        assert "The client has a release of information that has expired for Dr. Reyes." in page
        assert audit_rows("kapflow.letters.letter.send_refused")[0].detail["method"] == "link"

    def test_it_refuses_a_release_withdrawn_in_the_office(
        self, login, tess, letter, reyes, rf, django_capture_on_commit_callbacks
    ):
        request = rf.post("/")
        request.user = tess
        consent_services.signature_record(
            request=request,
            client=reyes.client,
            document=release_document(),
            signer_key="client",
            typed_name="Avery Alvarez",
            decision="refuse",
            shown_sha256=release_document().sha256,
            provider=reyes,
        )
        page = self.refused(login(tess), letter, django_capture_on_commit_callbacks)
        assert "The client revoked the release of information for Dr. Reyes." in page

    def test_it_refuses_a_letter_carrying_more_than_the_release_covers(
        self, login, tess, reyes, django_capture_on_commit_callbacks
    ):
        given_release(reyes, by=tess, categories=("course",))
        letter = signed_letter(reyes, by=tess, categories=("course", "adverse_events"))
        page = self.refused(login(tess), letter, django_capture_on_commit_callbacks)
        assert "does not cover: Adverse events and how they were handled" in page

    def test_it_refuses_a_provider_who_never_had_a_release(
        self, login, tess, reyes, django_capture_on_commit_callbacks
    ):
        letter = signed_letter(reyes, by=tess)
        page = self.refused(login(tess), letter, django_capture_on_commit_callbacks)
        assert "has no signed release of information for Dr. Reyes" in page

    def test_it_refuses_a_draft(self, login, tess, reyes, django_capture_on_commit_callbacks):
        given_release(reyes, by=tess)
        draft = Letter.objects.create(
            client=reyes.client, kind="referral", provider=reyes, categories=["course"], created_by=tess
        )
        page = self.refused(login(tess), draft, django_capture_on_commit_callbacks)
        assert "Only a signed letter can be sent" in page

    def test_it_refuses_fax_and_post_alike(self, login, tess, reyes):
        letter = signed_letter(reyes, by=tess)
        response = login(tess).post(download_url(letter, "fax"), {"address": "555-0199"}, follow=True)
        assert response["Content-Type"].startswith("text/html")
        assert "has no signed release of information" in response.content.decode()
        assert not Disclosure.objects.exists()


# The provider's download page ------------------------------------------------------------------


class TestDownloadLink:
    @pytest.fixture
    def token(self, login, tess, letter, django_capture_on_commit_callbacks):
        send_link(login(tess), letter, django_capture_on_commit_callbacks)
        return token_from(mail.outbox[0])

    def test_a_look_at_the_page_uses_nothing_up(self, client, token):
        for _ in range(3):  # a mail scanner, a preview, the provider
            page = client.get(reverse("letter_links:download", args=[token])).content.decode()
            assert "Download the document (PDF)" in page
        assert DownloadLink.objects.get().used_at is None

    def test_it_hands_over_the_pdf_once_then_says_it_cannot_be_used(self, client, token, audit_rows):
        url = reverse("letter_links:download", args=[token])
        response = client.post(url, REMOTE_ADDR="203.0.113.9")
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response.content == pdf_bytes()
        link = DownloadLink.objects.get()
        assert link.used_at is not None and link.used_from == "203.0.113.9"
        row = audit_rows("kapflow.letters.link.used")[0]
        assert row.actor_id is None and row.client_id == link.letter.client_id
        for response in (client.post(url), client.get(url)):
            assert response.status_code == 200 and "This link cannot be used" in response.content.decode()
        assert [row.detail["why"] for row in audit_rows("kapflow.letters.link.refused")] == ["used", "used"]

    def test_it_runs_out(self, client, token, settings):
        with time_machine.travel(timezone.now() + datetime.timedelta(hours=73)):
            url = reverse("letter_links:download", args=[token])
            assert "This link cannot be used" in client.get(url).content.decode()
            response = client.post(url)
        assert "This link cannot be used" in response.content.decode()
        assert DownloadLink.objects.get().used_at is None

    @pytest.mark.parametrize("token", ["x" * 43, "short", "../../etc/passwd", "%00" * 10])
    def test_an_unknown_link_gets_the_same_page(self, client, db, token):
        for method in (client.get, client.post):
            response = method(f"/shared/{token}/")
            assert response.status_code in (200, 404)
            if response.status_code == 200:
                assert "This link cannot be used" in response.content.decode()

    def test_a_release_withdrawn_after_the_email_stops_the_download(self, client, token, cleo, login):
        avery = DownloadLink.objects.get().letter.client
        avery.portal_user = cleo
        avery.save(update_fields=["portal_user"])
        provider = DownloadLink.objects.get().letter.provider
        login(cleo).post(
            reverse("portal:release_sign", args=[avery.pk, provider.pk]),
            {"sha256": release_document().sha256, "decision": "refuse", "typed_name": "Avery Alvarez"},
        )
        response = client.post(reverse("letter_links:download", args=[token]))
        assert "This link cannot be used" in response.content.decode()
        assert DownloadLink.objects.get().used_at is None

    def test_its_token_is_kept_out_of_the_log(self):
        assert redact('"GET /shared/abc-DEF_123/ HTTP/1.1" 404') == '"GET /shared/[token]/ HTTP/1.1" 404'


# Fax and post ----------------------------------------------------------------------------------


class TestDownloadForFaxOrPost:
    @pytest.mark.parametrize("method", ["fax", "post"])
    def test_it_hands_the_pdf_to_staff_and_records_where_it_went(
        self, login, tess, letter, method, audit_rows
    ):
        response = login(tess).post(
            download_url(letter, method), {"address": "555-0199 (Dr. Reyes's office)"}
        )
        assert response["Content-Type"] == "application/pdf" and response.content == pdf_bytes()
        disclosure = Disclosure.objects.get()
        assert (disclosure.method, disclosure.recipient_address) == (method, "555-0199 (Dr. Reyes's office)")
        assert disclosure.basis == "release" and not disclosure.accountable
        assert audit_rows("kapflow.letters.letter.downloaded")[0].detail["method"] == method

    def test_it_asks_where_it_goes_and_keeps_the_form(self, login, tess, letter):
        response = login(tess).post(download_url(letter, "post"), {"address": ""})
        page = response.content.decode()
        assert response.status_code == 200 and "This field is required" in page
        assert not Disclosure.objects.exists()

    def test_it_refuses_an_unknown_method(self, login, tess, letter):
        response = login(tess).post(download_url(letter, "pigeon"), {"address": "x"}, follow=True)
        assert "Choose fax or post" in response.content.decode() and not Disclosure.objects.exists()

    def test_it_refuses_a_pdf_that_is_not_the_one_signed(self, login, tess, letter):
        with default_storage.open(letter.pdf.name, "wb") as file:
            file.write(b"%PDF-1.4 something else")
        response = login(tess).post(download_url(letter, "fax"), {"address": "555"}, follow=True)
        assert "is not the one that was signed" in response.content.decode()
        assert not Disclosure.objects.exists()


# Scope -----------------------------------------------------------------------------------------


class TestScope:
    def test_a_clinician_outside_the_care_gets_404(self, login, colin, letter):
        for url in (page_url(letter), link_url(letter), download_url(letter, "fax")):
            method = login(colin).get if url == page_url(letter) else login(colin).post
            assert method(url).status_code == 404
        assert not Disclosure.objects.exists()

    def test_a_letter_is_reached_only_through_its_own_client(self, login, tess, letter, olive, avery):
        other = reverse("letter_sending:page", args=[olive.pk, letter.pk])
        assert login(tess).get(other).status_code == 404
        mine = factories_client(tess)
        assert login(tess).get(reverse("letter_sending:page", args=[mine.pk, letter.pk])).status_code == 404

    def test_the_send_page_says_why_a_letter_cannot_go(self, login, tess, reyes):
        letter = signed_letter(reyes, by=tess)
        page = login(tess).get(page_url(letter)).content.decode()
        assert "It cannot go now." in page and "has no signed release" in page


def factories_client(therapist):
    from tests import factories

    return factories.make_client(first_name="Nia", last_name="Lund", therapist=therapist)


# Disclosures -----------------------------------------------------------------------------------


def rows_of(response) -> list[dict]:
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


class TestDisclosures:
    def url(self, client, name="list"):
        return reverse(f"disclosures:{name}", args=[client.pk])

    def court_order(self, **changes):
        return {
            "disclosed_on": timezone.localdate().isoformat(),
            "recipient_name": "Superior Court of Alameda County",
            "recipient_address": "1225 Fallon St, Oakland",
            "what": "Dates of care, March to May",
            "purpose": "Court order of 3 May",
            "basis": "required_by_law",
            **changes,
        }

    def test_the_page_lists_every_disclosure(
        self, login, tess, letter, avery, django_capture_on_commit_callbacks
    ):
        send_link(login(tess), letter, django_capture_on_commit_callbacks)
        login(tess).post(self.url(avery, "new"), self.court_order())
        page = login(tess).get(self.url(avery)).content.decode()
        assert "Dr. Reyes" in page and "Superior Court of Alameda County" in page
        assert "Emailed a one-time download link" in page and "Not downloaded yet" in page

    def test_a_disclosure_recorded_by_hand_is_accountable_unless_for_treatment(
        self, login, tess, avery, audit_rows
    ):
        http = login(tess)
        assert http.post(self.url(avery, "new"), self.court_order()).status_code == 302
        http.post(self.url(avery, "new"), self.court_order(basis="treatment", recipient_name="Dr. Lin"))
        court, lin = Disclosure.objects.order_by("pk")
        assert (court.accountable, court.method, court.release) == (True, "other", None)
        assert lin.accountable is False
        assert audit_rows("kapflow.letters.disclosure.recorded")[0].detail["accountable"] is True

    def test_its_form_keeps_what_was_typed(self, login, tess, avery):
        tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
        response = login(tess).post(
            self.url(avery, "new"), self.court_order(disclosed_on=tomorrow, basis="release")
        )
        page = response.content.decode()
        assert response.status_code == 200 and "the date is in the future" in page
        assert "Superior Court of Alameda County" in page and "Select a valid choice" in page
        assert not Disclosure.objects.exists()

    def test_the_accounting_lists_what_was_sent_and_marks_what_hipaa_requires(
        self, login, tess, letter, avery, django_capture_on_commit_callbacks, audit_rows
    ):
        send_link(login(tess), letter, django_capture_on_commit_callbacks)
        login(tess).post(self.url(avery, "new"), self.court_order())
        every = rows_of(login(tess).get(self.url(avery, "export")))
        assert [row["recipient"] for row in every] == ["Dr. Reyes", "Superior Court of Alameda County"]
        assert [row["required in an accounting (45 CFR 164.528)"] for row in every] == ["no", "yes"]
        assert every[0]["note"] == "link never opened" and every[0]["legal basis"].startswith(
            "The client's signed"
        )
        required = rows_of(login(tess).get(self.url(avery, "export") + "?only=required"))
        assert [row["recipient"] for row in required] == ["Superior Court of Alameda County"]
        assert [
            row.detail["required_only"] for row in audit_rows("kapflow.letters.disclosures.exported")
        ] == [
            False,
            True,
        ]

    def test_the_accounting_covers_the_six_years_before_the_request(self, login, tess, avery):
        http = login(tess)
        today = timezone.localdate()
        for days in (6 * 365 - 10, 6 * 365 + 10):
            http.post(
                self.url(avery, "new"),
                self.court_order(
                    disclosed_on=(today - datetime.timedelta(days=days)).isoformat(), what=str(days)
                ),
            )
        rows = rows_of(http.get(self.url(avery, "export")))
        assert [row["information disclosed"] for row in rows] == [str(6 * 365 - 10)]

    def test_the_chart_links_to_the_disclosures(self, login, tess, avery):
        assert self.url(avery) in login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()


class TestAppendOnly:
    def test_a_disclosure_cannot_be_changed_or_deleted(self, login, tess, letter):
        login(tess).post(download_url(letter, "fax"), {"address": "555"})
        disclosure = Disclosure.objects.get()
        for attempt in (
            lambda: Disclosure.objects.filter(pk=disclosure.pk).update(purpose="Something else"),
            lambda: Disclosure.objects.filter(pk=disclosure.pk).delete(),
        ):
            with pytest.raises(DatabaseError), transaction.atomic():
                attempt()

    def test_a_link_is_marked_used_once(
        self, login, tess, letter, client, django_capture_on_commit_callbacks
    ):
        send_link(login(tess), letter, django_capture_on_commit_callbacks)
        client.post(reverse("letter_links:download", args=[token_from(mail.outbox[0])]))
        link = DownloadLink.objects.get()
        with pytest.raises(DatabaseError), transaction.atomic():
            DownloadLink.objects.filter(pk=link.pk).update(used_at=timezone.now(), used_from="198.51.100.1")
        with pytest.raises(DatabaseError), transaction.atomic():
            DownloadLink.objects.filter(pk=link.pk).update(email="other@example.org")


# A withdrawal and a letter at the same instant ---------------------------------------------------


@pytest.fixture(scope="module")
def _triggers_back_at_the_end(django_db_blocker):
    """The append-only triggers, back on once the last flush has run (later tests expect them)."""
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
@pytest.mark.usefixtures("_triggers_back_at_the_end")
class TestWithdrawalRace:
    """A withdrawal and a letter going out, fired at once, each on its own connection: whichever
    takes the provider's row first, no disclosure is ever made after the withdrawal. The letter's
    check is slowed down after it has read the release, so without the lock the withdrawal would
    land in between."""

    @pytest.fixture(autouse=True)
    def _triggers_lifted_for_the_flush(self, db):
        """On while the test runs; lifted before Django empties the database after it (the audit
        table refuses a flush), as tests/test_concurrency.py does."""
        install_triggers(connection)
        yield
        drop_triggers(connection)

    def test_no_disclosure_is_made_after_a_withdrawal(self, monkeypatch, rf, tess, reyes):
        given_release(reyes, by=tess)
        letter = signed_letter(reyes, by=tess)
        original = sending.release_standing

        def slow_standing(*args, **kwargs):
            answer = original(*args, **kwargs)
            time.sleep(0.4)
            return answer

        monkeypatch.setattr(sending, "release_standing", slow_standing)

        def request():
            made = rf.post("/")
            made.user = tess
            return made

        def send():
            return sending.letter_download(request=request(), letter=letter, method="fax", address="555")

        def withdraw():
            time.sleep(0.1)  # let the letter take the lock first, when it can
            document = release_document()
            return consent_services.signature_record(
                request=request(),
                client=reyes.client,
                document=document,
                signer_key="client",
                typed_name="Avery Alvarez",
                decision="refuse",
                shown_sha256=document.sha256,
                provider=reyes,
            )

        results = race(send, withdraw)
        withdrawal = Signature.objects.get(decision="revoke")
        assert isinstance(results[1], Signature)
        for disclosure in Disclosure.objects.all():
            assert disclosure.disclosed_at < withdrawal.signed_at
        # And once withdrawn, nothing more goes.
        with pytest.raises(sending.SendRefused):
            sending.letter_download(request=request(), letter=letter, method="fax", address="555")


# Reviewed defects of issue 14 ------------------------------------------------------------------


class TestOnlyWritersSend:
    """Sending a letter, and recording a disclosure by hand, is for those who may write the
    client's letters (services.may_write), not for every clinician who may see the chart."""

    @pytest.fixture
    def colin_on_call(self, colin, avery):
        """Colin covers Avery on call: he may see the chart, but is not on the care team."""
        from kapflow.clients.models import AccessGrant

        return AccessGrant.objects.create(client=avery, user=colin, reason="On call", source="tests:grant")

    def test_a_clinician_with_an_access_grant_sees_but_does_not_send(
        self, login, colin, colin_on_call, letter, avery, django_capture_on_commit_callbacks
    ):
        http = login(colin)
        page = http.get(page_url(letter))
        assert page.status_code == 200
        assert "Only a therapist or prescriber on the client's care team sends" in page.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            assert http.post(link_url(letter)).status_code == 404
        assert http.post(download_url(letter, "fax"), {"address": "555"}).status_code == 404
        assert http.get(reverse("disclosures:new", args=[avery.pk])).status_code == 404
        assert not Disclosure.objects.exists() and not mail.outbox

    def test_the_service_refuses_whoever_may_not_write(self, rf, colin, colin_on_call, letter, avery):
        request = rf.post("/")
        request.user = colin
        with pytest.raises(sending.SendRefused, match="care team sends"):
            sending.letter_send_link(request=request, letter=letter)
        with pytest.raises(sending.SendRefused, match="care team sends"):
            sending.letter_download(request=request, letter=letter, method="post", address="1 Main St")
        with pytest.raises(sending.SendRefused, match="care team records"):
            sending.disclosure_record(
                request=request,
                client=avery,
                what="Dates of care",
                recipient_name="County court",
                recipient_address="",
                purpose="Court order",
                basis="required_by_law",
                disclosed_on=timezone.localdate(),
            )
        assert not Disclosure.objects.exists()


class TestLongAddresses:
    def test_a_provider_email_of_254_characters_is_recorded(
        self, login, tess, letter, reyes, django_capture_on_commit_callbacks
    ):
        email = "a" * 64 + "@" + ".".join(["b" * 62, "c" * 62, "d" * 59]) + ".org"
        assert len(email) == 254
        OutsideProvider.objects.filter(pk=reyes.pk).update(email=email)
        response = send_link(login(tess), letter, django_capture_on_commit_callbacks)
        assert response.status_code == 200
        assert Disclosure.objects.get().recipient_address == email

    def test_what_does_not_fit_a_disclosure_is_refused_not_a_500(
        self, login, tess, letter, monkeypatch, django_capture_on_commit_callbacks, audit_rows
    ):
        """Whatever the disclosure's validation finds (the database's own column sizes now fit
        everything a provider's row holds), the page says it and nothing goes."""
        from django.core.exceptions import ValidationError

        def refuse(disclosure):
            raise ValidationError({"recipient_address": ["Ensure this value has at most 254 characters."]})

        monkeypatch.setattr(Disclosure, "clean", refuse)
        response = send_link(login(tess), letter, django_capture_on_commit_callbacks)
        assert response.status_code == 200
        assert "Not sent: their address: Ensure this value has at most 254 characters" in (
            response.content.decode()
        )
        assert not Disclosure.objects.exists() and not mail.outbox
        assert audit_rows("kapflow.letters.letter.send_refused")


class TestUnreadablePdf:
    def test_no_link_is_sent_for_a_pdf_that_cannot_be_read(
        self, login, tess, letter, django_capture_on_commit_callbacks, audit_rows
    ):
        default_storage.delete(letter.pdf.name)
        page = send_link(login(tess), letter, django_capture_on_commit_callbacks).content.decode()
        assert "cannot be read from storage. Tell the practice admin." in page
        assert not Disclosure.objects.exists() and not DownloadLink.objects.exists() and not mail.outbox
        assert audit_rows("kapflow.letters.letter.send_refused")[0].detail["method"] == "link"

    def test_no_link_is_sent_for_a_pdf_that_is_not_the_one_signed(
        self, login, tess, letter, django_capture_on_commit_callbacks
    ):
        with default_storage.open(letter.pdf.name, "wb") as file:
            file.write(b"%PDF-1.4 something else")
        page = send_link(login(tess), letter, django_capture_on_commit_callbacks).content.decode()
        assert "is not the one that was signed" in page
        assert not Disclosure.objects.exists() and not mail.outbox

    def test_a_provider_s_failed_download_is_logged_as_an_error(
        self, login, tess, letter, client, django_capture_on_commit_callbacks, caplog, audit_rows
    ):
        send_link(login(tess), letter, django_capture_on_commit_callbacks)
        default_storage.delete(letter.pdf.name)
        with caplog.at_level("ERROR", logger="kapflow.letters.sending"):
            response = client.post(reverse("letter_links:download", args=[token_from(mail.outbox[0])]))
        assert "This link cannot be used" in response.content.decode()
        assert [row.detail["why"] for row in audit_rows("kapflow.letters.link.refused")] == ["unreadable"]
        (record,) = [r for r in caplog.records if r.name == "kapflow.letters.sending"]
        assert record.levelname == "ERROR" and f"Letter {letter.pk}" in record.getMessage()


class TestLinkPageAfterWithdrawal:
    def test_the_page_says_the_link_cannot_be_used_once_the_release_is_withdrawn(
        self, login, tess, letter, reyes, client, rf, django_capture_on_commit_callbacks, audit_rows
    ):
        send_link(login(tess), letter, django_capture_on_commit_callbacks)
        url = reverse("letter_links:download", args=[token_from(mail.outbox[0])])
        assert "Download the document (PDF)" in client.get(url).content.decode()
        request = rf.post("/")
        request.user = tess
        consent_services.signature_record(
            request=request,
            client=reyes.client,
            document=release_document(),
            signer_key="client",
            typed_name="Avery Alvarez",
            decision="refuse",
            shown_sha256=release_document().sha256,
            provider=reyes,
        )
        page = client.get(url).content.decode()
        assert "This link cannot be used" in page and "Download the document (PDF)" not in page
        assert [row.detail["why"] for row in audit_rows("kapflow.letters.link.refused")] == ["release"]
        assert DownloadLink.objects.get().used_at is None


class TestFaxOrPostPage:
    def test_a_refused_download_keeps_the_address_as_typed(self, login, tess, reyes):
        letter = signed_letter(reyes, by=tess)  # no release
        response = login(tess).post(download_url(letter, "post"), {"address": "12 Harbour Road, Portland"})
        page = response.content.decode()
        assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
        assert "Not sent: The client has no signed release of information for Dr. Reyes" in page
        assert 'value="12 Harbour Road, Portland"' in page
        assert not Disclosure.objects.exists()

    def test_the_pages_list_each_download_as_a_disclosure(self, login, tess, letter):
        http = login(tess)
        page = http.get(page_url(letter)).content.decode()
        assert "Each download is recorded as a disclosure" in page and "Nothing has been disclosed" in page
        detail = reverse("letters:detail", args=[letter.client_id, letter.pk])
        assert "Not sent yet." in http.get(detail).content.decode()
        http.post(download_url(letter, "fax"), {"address": "503-555-0199"})
        page = http.get(page_url(letter)).content.decode()
        assert "Downloaded to fax" in page and "503-555-0199" in page and "Dr. Reyes" in page
        assert "Downloaded to fax, to Dr. Reyes at 503-555-0199, by" in http.get(detail).content.decode()


class TestProviderTakenOffTheChart:
    """A provider named by a letter or a transcribed clearance stays on the chart (PROTECT), with
    the reason on the chart, never a 500; one only linked from a document, a release signature
    or a disclosure goes, and the records keep their name (SET NULL, kapflow/audit/immutable.py)."""

    def remove(self, http, provider):
        return http.post(
            reverse("clients:contact_remove", args=[provider.client_id, "providers", provider.pk]),
            follow=True,
        )

    def test_a_provider_with_a_letter_stays(self, login, tess, letter, reyes, audit_rows):
        response = self.remove(login(tess), reyes)
        assert response.status_code == 200
        assert (
            "Dr. Reyes has letters or records that name them (a letter), so they stay on the chart"
            in response.content.decode()
        )
        assert OutsideProvider.objects.filter(pk=reyes.pk).exists() and Letter.objects.filter(pk=letter.pk)
        assert not audit_rows("kapflow.clients.outside_provider.removed")

    def test_a_provider_named_by_a_transcribed_clearance_stays(self, login, tess, reyes):
        from kapflow.medical.models import Clearance, Screening
        from tests.test_outside_prescriber import GOOD_NPI, filed

        screening = Screening.objects.create(client=reyes.client, answers={}, age=35)
        Clearance.objects.create(
            client=reyes.client,
            screening=screening,
            decision="cleared",
            findings="As the letter says.",
            valid_until=timezone.localdate() + datetime.timedelta(days=100),
            outside_provider=reyes,
            document=filed(reyes.client, "clearance", tess, "Letter"),
            outside_name="Dr. Reyes",
            outside_npi=GOOD_NPI,
            letter_dated=timezone.localdate() - datetime.timedelta(days=5),
            filed_by=tess,
            filed_at=timezone.now() - datetime.timedelta(days=4),
        )
        page = self.remove(login(tess), reyes).content.decode()
        assert "Dr. Reyes has letters or records that name them (a clearance)" in page
        assert OutsideProvider.objects.filter(pk=reyes.pk).exists()

    def test_a_provider_only_linked_from_a_release_and_a_document_goes(self, login, tess, reyes, audit_rows):
        from kapflow.documents.models import ChartDocument
        from tests.test_outside_prescriber import filed

        release = given_release(reyes, by=tess)
        scan = filed(reyes.client, "other", tess, "Notes from Dr. Reyes")
        document = ChartDocument.objects.create(
            **{
                field: getattr(scan, field)
                for field in ("client", "kind", "file", "original_name", "content_type", "extension")
                + ("size", "sha256", "uploaded_by")
            },
            title="Notes from Dr. Reyes",
            provider=reyes,
        )
        page = self.remove(login(tess), reyes).content.decode()
        assert "Dr. Reyes (Psychiatrist) was removed." in page
        assert not OutsideProvider.objects.filter(pk=reyes.pk).exists()
        release.refresh_from_db()
        document.refresh_from_db()
        assert release.provider is None and release.provider_name == "Dr. Reyes"
        assert document.provider is None and document.title == "Notes from Dr. Reyes"
        assert audit_rows("kapflow.clients.outside_provider.removed")
