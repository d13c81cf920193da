"""An independent review of access and privacy across billing (issue 18; docs/access.md, "Billing"
and "How the code keeps it"; docs/billing.md, docs/superbills.md, docs/good-faith-estimate.md,
docs/diagnoses.md): an object of another client is 404, a POST-only action refuses GET, a wrong
role is refused by the page and by the service called directly, a guardian without authority or
of an adult and an outside prescriber see nothing of it, the coordinator reads no note through any
billing page, PDF or CSV, and the emails and the income page name nothing they should not."""

import datetime
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from kapflow.billing import diagnoses, estimates, schedule, services, superbill
from kapflow.billing.forms import BillingProfileForm
from kapflow.billing.models import Diagnosis, Entry, Estimate, Invoice
from kapflow.billing.profiles import profile_save
from kapflow.billing.services import BillingRefused
from kapflow.clients.models import CareTeamMember, Guardian
from kapflow.reminders.emails import render_reminders
from kapflow.reminders.models import Reminder
from kapflow.visits.models import Visit
from tests import factories, test_estimates, test_superbills
from tests.factories import ServiceRequest
from tests.matrix_billing import charged_visit, fee_line
from tests.matrix_notes import held_visit
from tests.test_estimates import in_force, save_plan, set_fees
from tests.test_superbills import charge_visit, fee, last_month, pdf_text

pytestmark = pytest.mark.django_db

billed, charged, ready = test_superbills.billed, test_superbills.charged, test_estimates.ready

SECRET = "Told of the heron by the quarry pond."


def _oscar(client):
    """An invited outside prescriber on `client`'s care team."""
    oscar = factories.make_user("Oscar Outside", roles=("is_prescriber", "outside_practice"))
    CareTeamMember.objects.create(client=client, user=oscar, role=CareTeamMember.Role.PRESCRIBER)
    return oscar


@pytest.fixture
def ledgers(ada, priya, colin, avery, olive):
    """An invoice each for Avery and Olive, with a $50.00 payment, and an uncharged completed visit
    each."""
    fee_line(ada)
    found = {}
    for client, clinician in ((avery, priya), (olive, colin)):
        (charge,) = charged_visit(client, clinician, ada, days_ago=3)
        invoice = charge.invoice_line.invoice
        payment = services.entry_record(
            request=ServiceRequest(ada),
            invoice=invoice,
            kind="payment",
            amount=Decimal("50.00"),
            received_on=timezone.localdate(),
            method="cash",
        )
        found[client.pk] = (invoice, payment)
    return found


# --- Another client's object is 404 -------------------------------------------------------------


class TestAnotherClientsObject:
    def test_an_invoice_of_another_client_is_404_on_every_invoice_page(
        self, ledgers, ada, avery, olive, login
    ):
        theirs, their_payment = ledgers[olive.pk]
        http = login(ada)
        assert http.get(reverse("client_billing:invoice", args=[avery.pk, theirs.pk])).status_code == 404
        form = {"amount": "1.00", "method": "cash", "received_on": timezone.localdate().isoformat()}
        for name, data in (
            ("client_billing:payment", form),
            ("client_billing:refund", {**form, "payment": their_payment.pk, "reason": "x"}),
            ("client_billing:write_off", {**form, "reason": "x"}),
        ):
            response = http.post(reverse(name, args=[avery.pk, theirs.pk]), data)
            assert response.status_code == 404, name
        assert Entry.objects.filter(invoice=theirs).count() == 1

    def test_a_visit_of_another_client_is_not_charged(self, ledgers, ada, colin, avery, olive, login):
        visit = Visit.objects.create(
            client=olive,
            kind=Visit.Kind.PROGRESS_REVIEW,
            starts_at=timezone.now() - datetime.timedelta(days=2),
            ends_at=timezone.now() - datetime.timedelta(days=2) + datetime.timedelta(minutes=50),
            modality=Visit.Modality.VIRTUAL,
            clinician=colin,
            created_by=colin,
            status=Visit.Status.COMPLETED,
        )
        response = login(ada).post(reverse("client_billing:charge_visit", args=[avery.pk, visit.pk]))
        assert response.status_code == 404
        assert not visit.charges.exists()

    def test_a_refund_of_a_payment_on_another_invoice_is_refused_by_the_service(
        self, ledgers, ada, avery, olive
    ):
        mine, _ = ledgers[avery.pk]
        _theirs, their_payment = ledgers[olive.pk]
        with pytest.raises(BillingRefused):
            services.entry_record(
                request=ServiceRequest(ada),
                invoice=mine,
                kind="refund",
                amount=Decimal("1.00"),
                received_on=timezone.localdate(),
                method="cash",
                reason="Wrong invoice.",
                refund_of=their_payment,
            )

    def test_an_estimate_of_another_client_is_404_for_staff_and_portal(
        self, ready, ada, cora, tess, colin, cleo, avery, olive, login
    ):
        set_fees(ada)
        colin.npi = "1558598797"
        colin.save(update_fields=["npi"])
        save_plan(tess, avery)
        save_plan(colin, olive)
        theirs = in_force(olive)
        for name in ("estimates:detail", "estimates:pdf"):
            assert login(cora).get(reverse(name, args=[avery.pk, theirs.pk])).status_code == 404, name
        avery.portal_user = cleo
        avery.save(update_fields=["portal_user"])
        for name in ("portal_estimates:detail", "portal_estimates:pdf"):
            assert login(cleo).get(reverse(name, args=[avery.pk, theirs.pk])).status_code == 404, name

    def test_a_diagnosis_of_another_client_is_404(self, tess, avery, olive, colin, login):
        theirs = Diagnosis.objects.create(
            client=olive,
            code="F41.1",
            description="GAD",
            diagnosed_on=timezone.localdate(),
            diagnosed_by=colin,
        )
        response = login(tess).get(reverse("diagnoses:end", args=[avery.pk, theirs.pk]))
        assert response.status_code == 404

    def test_a_course_period_that_is_not_the_clients_is_404(self, billed, cora, avery, login):
        response = login(cora).get(reverse("superbills:download", args=[avery.pk, "course-1999-01-01"]))
        assert response.status_code == 404
        response = login(cora).get(reverse("superbills:download", args=[avery.pk, "2026-13"]))
        assert response.status_code == 404


# --- POST-only actions refuse GET ----------------------------------------------------------------


def test_the_actions_refuse_get(ledgers, ada, avery, login):
    invoice, _ = ledgers[avery.pk]
    visit = Visit.objects.filter(client=avery).first()
    http = login(ada)
    for url in (
        reverse("client_billing:issue", args=[avery.pk]),
        reverse("client_billing:profile", args=[avery.pk]),
        reverse("client_billing:charge_visit", args=[avery.pk, visit.pk]),
        reverse("client_billing:payment", args=[avery.pk, invoice.pk]),
        reverse("client_billing:refund", args=[avery.pk, invoice.pk]),
        reverse("client_billing:write_off", args=[avery.pk, invoice.pk]),
    ):
        assert http.get(url).status_code == 405, url
    assert Entry.objects.filter(invoice=invoice).count() == 1


# --- Wrong roles, on the page and in the service -------------------------------------------------


class TestRoles:
    def test_a_coordinator_is_refused_a_refund_and_a_write_off(self, ledgers, cora, avery, login):
        invoice, payment = ledgers[avery.pk]
        today = timezone.localdate().isoformat()
        http = login(cora)
        refund = {
            "payment": payment.pk,
            "amount": "1.00",
            "method": "cash",
            "received_on": today,
            "reason": "x",
        }
        assert (
            http.post(reverse("client_billing:refund", args=[avery.pk, invoice.pk]), refund).status_code
            == 403
        )
        write_off = {"amount": "1.00", "received_on": today, "reason": "x"}
        assert (
            http.post(reverse("client_billing:write_off", args=[avery.pk, invoice.pk]), write_off).status_code
            == 403
        )
        assert Entry.objects.filter(invoice=invoice).count() == 1

    def test_the_services_refuse_the_wrong_role_called_directly(self, ledgers, ada, cora, tess, cleo, avery):
        invoice, payment = ledgers[avery.pk]
        today = timezone.localdate()
        for who in (tess, cleo):
            with pytest.raises(BillingRefused):
                services.entry_record(
                    request=ServiceRequest(who),
                    invoice=invoice,
                    kind="payment",
                    amount=Decimal("1.00"),
                    received_on=today,
                    method="cash",
                )
            with pytest.raises(BillingRefused):
                services.invoice_issue(request=ServiceRequest(who), client=avery)
            form = BillingProfileForm(data={"self_pay": "on"})
            form.is_valid()
            with pytest.raises(BillingRefused):
                profile_save(request=ServiceRequest(who), client=avery, form=form)
        with pytest.raises(BillingRefused):
            services.entry_record(
                request=ServiceRequest(cora),
                invoice=invoice,
                kind="refund",
                amount=Decimal("1.00"),
                received_on=today,
                method="cash",
                reason="x",
                refund_of=payment,
            )
        with pytest.raises(BillingRefused):
            services.entry_record(
                request=ServiceRequest(cora),
                invoice=invoice,
                kind="write_off",
                amount=Decimal("1.00"),
                received_on=today,
                reason="x",
            )
        for who in (cora, tess):
            with pytest.raises(BillingRefused):
                schedule.fee_set(
                    request=ServiceRequest(who),
                    kind=Visit.Kind.THERAPY,
                    minutes_from=0,
                    code="90834",
                    modifiers="",
                    units=1,
                    description="Therapy",
                    amount=Decimal("150.00"),
                    payer_dependent=False,
                    effective_from=today,
                )
        assert Entry.objects.filter(invoice=invoice).count() == 1

    def test_only_a_clinician_who_writes_for_the_client_diagnoses(self, ada, cora, tess, colin, avery):
        oscar = _oscar(avery)
        for who in (ada, cora, colin, oscar):
            with pytest.raises(BillingRefused):
                diagnoses.diagnosis_record(
                    request=ServiceRequest(who), client=avery, code="F33.1", diagnosed_on=timezone.localdate()
                )
        made = diagnoses.diagnosis_record(
            request=ServiceRequest(tess), client=avery, code="F33.1", diagnosed_on=timezone.localdate()
        )
        for who in (ada, cora, colin, oscar):
            with pytest.raises(BillingRefused):
                diagnoses.diagnosis_end(
                    request=ServiceRequest(who), diagnosis=made, in_error=True, reason="x"
                )

    def test_an_estimate_on_request_is_the_billers_alone(self, ready, ada, cora, tess, avery, login):
        set_fees(ada)
        save_plan(tess, avery)
        given = Estimate.objects.count()
        with pytest.raises(BillingRefused):
            estimates.estimate_issue(request=ServiceRequest(tess), client=avery, reason=Estimate.Reason.ASKED)
        assert login(tess).post(reverse("estimates:new", args=[avery.pk])).status_code == 403
        assert Estimate.objects.count() == given
        estimates.estimate_issue(request=ServiceRequest(cora), client=avery, reason=Estimate.Reason.ASKED)
        assert Estimate.objects.count() == given + 1

    def test_a_superbill_is_refused_to_the_wrong_person_by_the_service(
        self, billed, cora, tess, cleo, gail, avery
    ):
        """The service asks itself (it did not: a page that forgot would have given it)."""
        avery.portal_user = cleo
        avery.save(update_fields=["portal_user"])
        practice = superbill.Practice.load()
        for who, on_portal in ((tess, False), (cleo, False), (cora, True), (gail, True)):
            with pytest.raises(BillingRefused):
                superbill.superbill_give(
                    request=ServiceRequest(who),
                    client=avery,
                    period=billed,
                    practice=practice,
                    on_portal=on_portal,
                )
        for who, on_portal in ((cora, False), (cleo, True)):
            content = superbill.superbill_give(
                request=ServiceRequest(who),
                client=avery,
                period=billed,
                practice=practice,
                on_portal=on_portal,
            )
            assert content.startswith(b"%PDF")

    def test_clinicians_are_refused_the_money_pages(self, ledgers, billed, tess, priya, avery, login):
        invoice, _ = ledgers[avery.pk]
        for who in (tess, priya):
            http = login(who)
            for url in (
                reverse("billing:overview"),
                reverse("estimates_due:list"),
                reverse("fees:schedule"),
                reverse("income:income"),
                reverse("income:income_csv"),
                reverse("client_billing:account", args=[avery.pk]),
                reverse("client_billing:invoice", args=[avery.pk, invoice.pk]),
                reverse("superbills:list", args=[avery.pk]),
                reverse("superbills:download", args=[avery.pk, billed.key]),
            ):
                assert http.get(url).status_code == 403, (who, url)


# --- The outside prescriber ----------------------------------------------------------------------


def test_an_outside_prescriber_sees_nothing_of_billing(
    ledgers, billed, ready, ada, tess, avery, login, audit_rows
):
    set_fees(ada)
    save_plan(tess, avery)
    estimate = in_force(avery)
    Diagnosis.objects.create(
        client=avery, code="F41.1", description="GAD", diagnosed_on=timezone.localdate(), diagnosed_by=tess
    )
    oscar = _oscar(avery)
    invoice, _ = ledgers[avery.pk]
    http = login(oscar)
    for url in (
        reverse("client_billing:account", args=[avery.pk]),
        reverse("client_billing:invoice", args=[avery.pk, invoice.pk]),
        reverse("superbills:list", args=[avery.pk]),
        reverse("superbills:download", args=[avery.pk, billed.key]),
        reverse("estimates:list", args=[avery.pk]),
        reverse("estimates:detail", args=[avery.pk, estimate.pk]),
        reverse("estimates:pdf", args=[avery.pk, estimate.pk]),
        reverse("diagnoses:list", args=[avery.pk]),
        reverse("diagnoses:new", args=[avery.pk]),
    ):
        assert http.get(url).status_code == 404, url
    for url in (reverse("billing:overview"), reverse("estimates_due:list"), reverse("fees:schedule")):
        assert http.get(url).status_code == 403, url
    assert audit_rows("kapflow.audit.access.denied")


# --- The portal ------------------------------------------------------------------------------------


def _portal_urls(client, invoice, period, estimate):
    return [
        reverse("portal_billing:statements", args=[client.pk]),
        reverse("portal_billing:invoice", args=[client.pk, invoice.pk]),
        reverse("portal_billing:superbill", args=[client.pk, period]),
        reverse("portal_estimates:list", args=[client.pk]),
        reverse("portal_estimates:detail", args=[client.pk, estimate.pk]),
        reverse("portal_estimates:pdf", args=[client.pk, estimate.pk]),
    ]


class TestPortal:
    @pytest.fixture
    def minor(self, ready, ada, tess, priya):
        """A 15-year-old with a course plan (an estimate) and a charged, invoiced visit."""
        minor = factories.make_client(first_name="Milo", age=15, therapist=tess, prescriber=priya)
        set_fees(ada)
        save_plan(tess, minor)
        fee(ada, Visit.Kind.THERAPY, "90834", "150.00")
        (charge,) = charge_visit(minor, tess, last_month()[0], Visit.Kind.THERAPY, ada, minutes=45)
        return minor, charge.invoice_line.invoice, in_force(minor)

    def _guardian(self, client, *, authority):
        user = factories.make_user("Pat Parent", roles=("is_guardian",), mfa=False)
        Guardian.objects.create(
            client=client,
            name="Pat Parent",
            relationship="mother",
            has_legal_authority=authority,
            portal_user=user,
        )
        return user

    def test_a_guardian_with_authority_of_a_minor_reads_it_all(self, minor, login):
        client, invoice, estimate = minor
        parent = self._guardian(client, authority=True)
        month = f"{last_month()[0]:%Y-%m}"
        for url in _portal_urls(client, invoice, month, estimate):
            assert login(parent).get(url).status_code == 200, url

    def test_a_guardian_without_authority_sees_nothing_of_it(self, minor, login, audit_rows):
        client, invoice, estimate = minor
        other = self._guardian(client, authority=False)
        month = f"{last_month()[0]:%Y-%m}"
        for url in _portal_urls(client, invoice, month, estimate):
            assert login(other).get(url).status_code == 404, url
        assert audit_rows("kapflow.billing.superbill.downloaded") == []

    def test_the_guardian_of_an_adult_sees_nothing_of_it(self, minor, login):
        client, invoice, estimate = minor
        parent = self._guardian(client, authority=True)
        today = timezone.localdate()
        client.date_of_birth = today.replace(year=today.year - 18) - datetime.timedelta(days=1)
        client.save(update_fields=["date_of_birth"])
        month = f"{last_month()[0]:%Y-%m}"
        for url in _portal_urls(client, invoice, month, estimate):
            assert login(parent).get(url).status_code == 404, url

    def test_another_client_sees_nothing_and_staff_are_refused(self, minor, cleo, cora, ada, tess, login):
        client, invoice, estimate = minor
        month = f"{last_month()[0]:%Y-%m}"
        for url in _portal_urls(client, invoice, month, estimate):
            assert login(cleo).get(url).status_code == 404, url
            for who in (cora, ada, tess):
                assert login(who).get(url).status_code == 403, (who, url)


# --- Audit ---------------------------------------------------------------------------------------


def test_reads_and_writes_are_audited_with_the_client_and_no_diagnosis(
    ledgers, ada, tess, avery, login, audit_rows
):
    invoice, _ = ledgers[avery.pk]
    http = login(ada)
    http.get(reverse("client_billing:account", args=[avery.pk]))
    http.get(reverse("client_billing:invoice", args=[avery.pk, invoice.pk]))
    http.post(
        reverse("client_billing:payment", args=[avery.pk, invoice.pk]),
        {"amount": "1.00", "method": "cash", "received_on": timezone.localdate().isoformat()},
    )
    for action in (
        "kapflow.billing.account.viewed",
        "kapflow.billing.invoice.viewed",
        "kapflow.billing.invoice.opened",
        "kapflow.billing.entry.payment",
    ):
        assert audit_rows(action)[-1].client_id == avery.pk, action
    login(tess).post(
        reverse("diagnoses:new", args=[avery.pk]),
        {"listed": "F33.1", "diagnosed_on": timezone.localdate().isoformat()},
    )
    (row,) = audit_rows("kapflow.billing.diagnosis.recorded")
    assert row.client_id == avery.pk
    assert "F33" not in str(row.detail)
    # A clinician is refused the account (403) and reads nothing of it.
    viewed = len(audit_rows("kapflow.billing.account.viewed"))
    assert login(tess).get(reverse("client_billing:account", args=[avery.pk])).status_code == 403
    assert len(audit_rows("kapflow.billing.account.viewed")) == viewed


def test_the_billing_lists_name_their_clients_in_the_audit(ledgers, ada, avery, olive, login, audit_rows):
    login(ada).get(reverse("billing:overview"))
    row = audit_rows("kapflow.billing.overview.viewed")[-1]
    assert set(row.detail["clients"]) >= {avery.pk, olive.pk}
    from kapflow.audit.models import AuditEventClient

    assert set(AuditEventClient.objects.filter(event=row).values_list("client_id", flat=True)) >= {
        avery.pk,
        olive.pk,
    }


# --- Nothing clinical reaches the coordinator ------------------------------------------------------


def test_the_coordinator_reads_no_note_through_any_billing_page_pdf_or_csv(
    billed, ada, cora, tess, avery, login
):
    fee(ada, Visit.Kind.THERAPY, "90834", "150.00")
    visit = held_visit(avery, tess, days_ago=2)
    factories.sign_note(visit, tess, subjective=SECRET, data=SECRET, plan=SECRET)
    http = login(cora)
    invoice = Invoice.objects.filter(client=avery).order_by("-number").first()
    seen = []
    for url in (
        reverse("billing:overview"),
        reverse("estimates_due:list"),
        reverse("client_billing:account", args=[avery.pk]),
        reverse("client_billing:invoice", args=[avery.pk, invoice.pk]),
        reverse("superbills:list", args=[avery.pk]),
        reverse("estimates:list", args=[avery.pk]),
        reverse("fees:schedule"),
    ):
        response = http.get(url)
        assert response.status_code == 200, url
        seen.append((url, response.content.decode()))
    pdf = http.get(reverse("superbills:download", args=[avery.pk, billed.key]))
    assert pdf.status_code == 200
    seen.append(("superbill", pdf_text(pdf.content)))
    for name in ("income:income", "income:income_csv"):
        seen.append((name, http.get(reverse(name)).content.decode()))
    for where, text in seen:
        assert "heron" not in text, where
    # The diagnosis page itself stays closed to the coordinator.
    assert http.get(reverse("diagnoses:list", args=[avery.pk])).status_code == 404
    assert http.get(reverse("diagnoses:new", args=[avery.pk])).status_code == 403


def test_the_estimate_the_coordinator_reads_carries_codes_but_no_note(ready, ada, cora, tess, avery, login):
    set_fees(ada)
    Diagnosis.objects.create(
        client=avery, code="F33.1", description="MDD", diagnosed_on=timezone.localdate(), diagnosed_by=tess
    )
    factories.sign_note(held_visit(avery, tess), tess, subjective=SECRET, data=SECRET, plan=SECRET)
    save_plan(tess, avery)
    estimate = in_force(avery)
    http = login(cora)
    page = http.get(reverse("estimates:detail", args=[avery.pk, estimate.pk])).content.decode()
    pdf = pdf_text(http.get(reverse("estimates:pdf", args=[avery.pk, estimate.pk])).content)
    for text in (page, pdf):
        assert "F33.1" in text  # documented: an estimate carries the diagnosis codes
        assert "heron" not in text and "Less depression" not in text  # no note, no plan's goals


# --- Emails and the income page --------------------------------------------------------------------


def _discreet(message, *, names=()):
    bodies = [message.subject, message.body] + [content for content, _type in message.alternatives]
    for text in bodies:
        assert "$" not in text and not re.search(r"\d+\.\d\d", text), text
        for word in ("90834", "99214", "0820T", "F33", "diagnos", "medication", "integration", *names):
            assert word.lower() not in text.lower(), (word, text)


def test_the_estimate_email_to_the_client_is_discreet(
    ready, ada, tess, cleo, avery, django_capture_on_commit_callbacks
):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    set_fees(ada)
    with django_capture_on_commit_callbacks(execute=True):
        save_plan(tess, avery)
    (message,) = [m for m in mail.outbox if cleo.email in m.to]
    _discreet(message, names=("Alvarez",))


def test_the_estimate_due_email_names_no_client(ada, cora, avery):
    reminder = Reminder(
        kind=Reminder.Kind.ESTIMATE_DUE, recipient=cora, client=avery, key="x", due_at=timezone.now()
    )
    email = render_reminders([reminder], superbill.Practice.load())
    for text in (email.subject, email.text, email.html):
        assert "Avery" not in text and "Alvarez" not in text and "$" not in text


def test_the_income_page_and_csv_name_no_client(ledgers, ada, cora, avery, olive, login):
    http = login(cora)
    for name in ("income:income", "income:income_csv"):
        response = http.get(reverse(name))
        assert response.status_code == 200, name
        text = response.content.decode()
        for client in (avery, olive):
            assert client.last_name not in text and client.first_name not in text, name
