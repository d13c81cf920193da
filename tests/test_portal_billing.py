"""Issue 18, items 3, 5 and 6 on the portal: the client's statements (each invoice's total, what
was paid, the balance, the status, the due date), an invoice with its payments and refunds, and
the superbills to download (a refused one says why and to contact the practice). For the client,
or a guardian with legal authority for a minor; another client's record, a guardian without
authority and staff are refused. The email that a statement is ready carries no amount, code,
diagnosis or kind of visit (docs/billing.md, "What the client is told")."""

import datetime
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from kapflow.billing.models import Entry
from kapflow.clients.models import Guardian
from kapflow.practice.models import Practice
from kapflow.visits.models import Visit
from tests import factories, test_superbills
from tests.test_superbills import charge_visit, fee, last_month, pdf_text

pytestmark = pytest.mark.django_db

# The superbill tests' fixtures: Avery's last month charged and paid, with (billed) and without
# (charged) a diagnosis.
billed, charged = test_superbills.billed, test_superbills.charged


def portal_for(client, user):
    client.portal_user = user
    client.save(update_fields=["portal_user"])


def statements(login, user, client):
    return login(user).get(reverse("portal_billing:statements", args=[client.pk]))


class TestStatements:
    def test_the_client_sees_their_statements_and_superbills(self, billed, login, cleo, avery, audit_rows):
        portal_for(avery, cleo)
        response = statements(login, cleo, avery)
        assert response.status_code == 200
        page = response.content.decode()
        first, second = avery.invoices.order_by("number")
        for expected in (
            f"Invoice {first.number}",
            f"Invoice {second.number}",
            "$200.00",
            "$425.50",
            "$400.00",
            "refunded $20.00",
            "$45.50",
            "Owed now: $45.50",
            ">Paid<",
            second.due_on.strftime("%b"),
            billed.label,
            reverse("portal_billing:superbill", args=[avery.pk, billed.key]),
        ):
            assert expected in page, expected
        assert audit_rows("kapflow.portal.billing.viewed")[-1].client_id == avery.pk

    def test_an_invoice_shows_its_lines_payments_and_refunds(self, billed, login, cleo, avery):
        portal_for(avery, cleo)
        invoice = avery.invoices.order_by("number").last()
        page = (
            login(cleo).get(reverse("portal_billing:invoice", args=[avery.pk, invoice.pk])).content.decode()
        )
        for expected in (
            f"Invoice {invoice.number}",
            "99214",
            "0820T",
            "$250.00",
            "$175.50",
            "HSA or FSA card",
            "Overpaid at the desk.",
            "+$20.00",
            "Balance",
            "$45.50",
            "Due",
        ):
            assert expected in page, expected

    def test_the_superbill_downloads_from_the_portal(self, billed, login, cleo, avery, audit_rows):
        portal_for(avery, cleo)
        response = login(cleo).get(reverse("portal_billing:superbill", args=[avery.pk, billed.key]))
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        text = pdf_text(response.content)
        assert "Amount paid 29 $580.00" in text and "12-3456789" in text
        (row,) = audit_rows("kapflow.billing.superbill.downloaded")
        assert row.actor_id == cleo.pk and row.detail["where"] == "portal"

    def test_a_refused_superbill_says_why_and_to_call(self, charged, login, cleo, avery, audit_rows):
        portal_for(avery, cleo)
        Practice.objects.update(phone="(626) 555-0100")
        page = statements(login, cleo, avery).content.decode()
        assert "Not available yet" in page and "No diagnosis is recorded for the visit of" in page
        assert "Please contact Cedar KAP Clinic at (626) 555-0100" in page
        assert reverse("portal_billing:superbill", args=[avery.pk, charged.key]) not in page
        response = login(cleo).get(reverse("portal_billing:superbill", args=[avery.pk, charged.key]))
        assert response.status_code == 200 and "is not available yet" in response.content.decode()
        assert audit_rows("kapflow.billing.superbill.downloaded") == []

    def test_the_home_page_links_here(self, billed, login, cleo, avery):
        portal_for(avery, cleo)
        page = login(cleo).get(reverse("portal:client_home", args=[avery.pk])).content.decode()
        assert "Statements and superbills" in page
        assert reverse("portal_billing:statements", args=[avery.pk]) in page

    def test_no_statements_yet(self, login, cleo, avery):
        portal_for(avery, cleo)
        page = statements(login, cleo, avery).content.decode()
        assert "There are no statements yet." in page and "There is nothing to claim yet." in page


class TestWhoMayLook:
    def test_another_clients_record_or_invoice_is_404(self, billed, login, cleo, avery, olive, colin, ada):
        portal_for(avery, cleo)
        assert statements(login, cleo, olive).status_code == 404
        fee(ada, Visit.Kind.THERAPY, "90834", "150.00")
        (charge,) = charge_visit(olive, colin, last_month()[0], Visit.Kind.THERAPY, ada, minutes=45)
        theirs = charge.invoice_line.invoice
        assert (
            login(cleo).get(reverse("portal_billing:invoice", args=[avery.pk, theirs.pk])).status_code == 404
        )
        assert (
            login(cleo).get(reverse("portal_billing:invoice", args=[olive.pk, theirs.pk])).status_code == 404
        )
        month = f"{last_month()[0]:%Y-%m}"
        assert login(cleo).get(reverse("portal_billing:superbill", args=[olive.pk, month])).status_code == 404

    def test_a_guardian_with_legal_authority_of_a_minor_sees_them(self, login, ada, cora, tess):
        minor = factories.make_client(first_name="Milo", age=15, therapist=tess)
        parent = factories.make_user("Pam Parent", roles=("is_guardian",), mfa=False)
        other = factories.make_user("Otto Other", roles=("is_guardian",), mfa=False)
        Guardian.objects.create(
            client=minor,
            name="Pam Parent",
            relationship="mother",
            has_legal_authority=True,
            portal_user=parent,
        )
        Guardian.objects.create(
            client=minor,
            name="Otto Other",
            relationship="uncle",
            has_legal_authority=False,
            portal_user=other,
        )
        fee(ada, Visit.Kind.THERAPY, "90834", "150.00")
        (charge,) = charge_visit(minor, tess, last_month()[0], Visit.Kind.THERAPY, cora, minutes=45)
        invoice = charge.invoice_line.invoice
        page = statements(login, parent, minor).content.decode()
        assert f"Invoice {invoice.number}" in page and "$150.00" in page
        assert (
            login(parent).get(reverse("portal_billing:invoice", args=[minor.pk, invoice.pk])).status_code
            == 200
        )
        assert statements(login, other, minor).status_code == 404
        assert (
            login(other).get(reverse("portal_billing:invoice", args=[minor.pk, invoice.pk])).status_code
            == 404
        )
        # The guardian without authority sees the schedule, not the billing link.
        home = login(other).get(reverse("portal:client_home", args=[minor.pk])).content.decode()
        assert "Statements and superbills" not in home

    def test_staff_are_refused(self, billed, login, cora, ada, tess, avery):
        for user in (cora, ada, tess):
            assert statements(login, user, avery).status_code == 403


def _mail_for(people):
    addresses = {person.email for person in people}
    return [message for message in mail.outbox if set(message.to) & addresses]


class TestTheStatementEmail:
    FORBIDDEN = ("$", "90834", "99214", "F33", "therapy", "session", "diagnos", "150")

    def assert_discreet(self, message):
        bodies = [message.subject, message.body] + [content for content, _type in message.alternatives]
        for text in bodies:
            for word in self.FORBIDDEN:
                assert word not in text.lower(), (word, text)
            assert not re.search(r"\d+\.\d\d", text)

    def test_issuing_an_invoice_tells_the_client(
        self, ada, cora, tess, avery, cleo, django_capture_on_commit_callbacks
    ):
        portal_for(avery, cleo)
        fee(ada, Visit.Kind.THERAPY, "90834", "150.00")
        yesterday = timezone.localdate() - datetime.timedelta(days=1)
        with django_capture_on_commit_callbacks(execute=True):
            charge_visit(avery, tess, yesterday, Visit.Kind.THERAPY, cora, minutes=45)
        (message,) = _mail_for([cleo])
        assert message.to == [cleo.email]
        assert "statement" in message.subject.lower() and "sign in" in message.body.lower()
        self.assert_discreet(message)

    def test_a_minors_guardian_with_authority_is_told_one_without_is_not(
        self, ada, cora, tess, django_capture_on_commit_callbacks
    ):
        minor = factories.make_client(first_name="Milo", age=15, therapist=tess)
        parent = factories.make_user("Pam Parent", roles=("is_guardian",), email="pam@example.org", mfa=False)
        other = factories.make_user("Otto Other", roles=("is_guardian",), email="otto@example.org", mfa=False)
        Guardian.objects.create(
            client=minor,
            name="Pam Parent",
            relationship="mother",
            has_legal_authority=True,
            portal_user=parent,
        )
        Guardian.objects.create(
            client=minor,
            name="Otto Other",
            relationship="uncle",
            has_legal_authority=False,
            portal_user=other,
        )
        fee(ada, Visit.Kind.THERAPY, "90834", "150.00")
        with django_capture_on_commit_callbacks(execute=True):
            charge_visit(
                minor, tess, timezone.localdate() - datetime.timedelta(days=1), Visit.Kind.THERAPY, cora
            )
        (message,) = _mail_for([parent])
        self.assert_discreet(message)
        assert _mail_for([other]) == []

    def test_a_payment_sends_nothing(self, billed, avery, cleo, ada, django_capture_on_commit_callbacks):
        from kapflow.billing import services

        portal_for(avery, cleo)
        mail.outbox.clear()
        invoice = avery.invoices.order_by("number").last()
        with django_capture_on_commit_callbacks(execute=True):
            services.entry_record(
                request=factories.ServiceRequest(ada),
                invoice=invoice,
                kind="payment",
                amount=Decimal("1.00"),
                received_on=timezone.localdate(),
                method=Entry.Method.CASH,
            )
        assert _mail_for([cleo]) == []
