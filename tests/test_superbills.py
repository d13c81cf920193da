"""Issue 18, item 5: the superbill (docs/superbills.md). A month's or a course's charges laid out
as the CMS-1500 claim form asks: the practice's EIN and NPI, each clinician's NPI, the diagnoses
current on the dates of service with their pointers, the codes and fees, the payments, and totals
exact to the cent. Refused, with reasons a client reads and a coordinator can put right, when a
diagnosis or an identifier is missing. The staff page is the coordinator's and the admin's."""

import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from kapflow.billing import services, superbill
from kapflow.billing.models import BillingProfile, Diagnosis, Entry, Fee
from kapflow.pathway.models import CoursePlan
from kapflow.practice.models import Practice
from kapflow.visits.models import Room, Visit
from tests.factories import ServiceRequest
from tests.query_checks import asked_twice

pytestmark = pytest.mark.django_db

PRACTICE_NPI, TESS_NPI, PRIYA_NPI = "1558598797", "1234567893", "1045321985"


def pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


def last_month() -> tuple[datetime.date, datetime.date]:
    """Two days of service in last month: the 10th and the 17th."""
    end = timezone.localdate().replace(day=1) - datetime.timedelta(days=1)
    return end.replace(day=10), end.replace(day=17)


def at_noon(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12, 0)))


def fee(who, kind, code, amount, *, units=1, payer_dependent=False, description=None) -> Fee:
    return Fee.objects.create(
        kind=kind,
        code=code,
        units=units,
        payer_dependent=payer_dependent,
        description=description or f"{Visit.Kind(kind).label} ({code})",
        amount=Decimal(amount),
        effective_from=timezone.localdate() - datetime.timedelta(days=400),
        created_by=who,
    )


def charge_visit(client, clinician, day, kind, who, *, minutes=60, in_person=True):
    """A visit completed on `day` and charged (and invoiced: the practice invoices each visit)."""
    room = Room.objects.get_or_create(name="Superbill room")[0] if in_person else None
    visit = Visit.objects.create(
        client=client,
        kind=kind,
        starts_at=at_noon(day),
        ends_at=at_noon(day) + datetime.timedelta(minutes=minutes),
        modality=Visit.Modality.IN_PERSON if in_person else Visit.Modality.VIRTUAL,
        room=room,
        clinician=clinician,
        created_by=clinician,
        status=Visit.Status.COMPLETED,
    )
    return services.visit_charge(request=ServiceRequest(who), visit=visit)


def diagnose(client, who, code, description, on, **end):
    return Diagnosis.objects.create(
        client=client, code=code, description=description, diagnosed_on=on, diagnosed_by=who, **end
    )


def identify(*people):
    """The practice's identifiers, and each (user, NPI) given."""
    Practice.objects.filter(pk=Practice.load().pk).update(
        name="Cedar KAP Clinic",
        address="12 Cedar Street, Pasadena, CA 91101",
        phone="(626) 555-0100",
        tax_id="12-3456789",
        npi=PRACTICE_NPI,
        taxonomy_code="261QM0801X",
    )
    for user, npi in people:
        user.npi = npi
        user.save(update_fields=["npi"])


def give_address(client):
    client.address_line, client.city, client.region, client.postal_code = (
        "4 Elm Road",
        "Glendale",
        "CA",
        "91201",
    )
    client.sex = "female"
    client.save()


@pytest.fixture
def charged(ada, cora, tess, priya, avery):
    """Avery's last month: an integration session with Tess on the 10th ($200.00, virtual) and a
    medication session with Priya on the 17th (99214 at $250.00 and 0820T ×2 at $175.50, in
    person); the first invoice paid in full by card, the second $400.00 by HSA card with $20.00
    refunded in cash. Totals: $625.50 charged, $580.00 paid, $45.50 owed."""
    day1, day2 = last_month()
    tess.credentials, tess.license_type, tess.license_number, tess.license_state = (
        "LCSW",
        "LCSW",
        "98765",
        "CA",
    )
    tess.taxonomy_code = "1041C0700X"
    tess.save()
    identify((tess, TESS_NPI), (priya, PRIYA_NPI))
    give_address(avery)
    fee(ada, Visit.Kind.INTEGRATION, "90837", "200.00", description="Integration session, 60 minutes")
    fee(ada, Visit.Kind.MEDICATION, "99214", "250.00")
    fee(ada, Visit.Kind.MEDICATION, "0820T", "175.50", units=2, payer_dependent=True)
    (first,) = charge_visit(avery, tess, day1, Visit.Kind.INTEGRATION, cora, in_person=False)
    second = charge_visit(avery, priya, day2, Visit.Kind.MEDICATION, cora, minutes=120)
    today = timezone.localdate()
    invoice1, invoice2 = first.invoice_line.invoice, second[0].invoice_line.invoice
    services.entry_record(
        request=ServiceRequest(cora),
        invoice=invoice1,
        kind="payment",
        amount=Decimal("200.00"),
        received_on=today,
        method=Entry.Method.CARD,
    )
    payment = services.entry_record(
        request=ServiceRequest(cora),
        invoice=invoice2,
        kind="payment",
        amount=Decimal("400.00"),
        received_on=today,
        method=Entry.Method.HSA_FSA,
    )
    services.entry_record(
        request=ServiceRequest(ada),
        invoice=invoice2,
        kind="refund",
        amount=Decimal("20.00"),
        received_on=today,
        method=Entry.Method.CASH,
        reason="Overpaid at the desk.",
        refund_of=payment,
    )
    return superbill.month_period(day1.year, day1.month)


@pytest.fixture
def billed(charged, tess, priya, avery):
    """`charged`, with Avery's diagnoses. Current on both days: A. From the second day only: B.
    Entered in error, and ended before the first day: neither is listed."""
    day1, day2 = last_month()
    long_ago = day1 - datetime.timedelta(days=90)
    diagnose(avery, tess, "F33.1", "Major depressive disorder, recurrent, moderate", long_ago)
    diagnose(avery, priya, "F41.1", "Generalized anxiety disorder", day2)
    diagnose(
        avery,
        tess,
        "F32.9",
        "Major depressive disorder, single episode, unspecified",
        long_ago,
        in_error=True,
        ended_on=long_ago,
        ended_by=tess,
        ended_at=timezone.now(),
        end_reason="Wrong client.",
    )
    diagnose(
        avery,
        tess,
        "F43.10",
        "Post-traumatic stress disorder, unspecified",
        long_ago,
        ended_on=day1 - datetime.timedelta(days=1),
        ended_by=tess,
        ended_at=timezone.now(),
        end_reason="Resolved.",
    )
    return superbill.month_period(day1.year, day1.month)


def download(login, user, client, period):
    return login(user).get(reverse("superbills:download", args=[client.pk, period.key]))


class TestAGoodSuperbill:
    def test_it_carries_every_field_and_exact_totals(self, billed, login, cora, avery):
        response = download(login, cora, avery, billed)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert "attachment" in response["Content-Disposition"]
        text = pdf_text(response.content)
        day1, day2 = last_month()
        for expected in (
            "Cedar KAP Clinic",
            "12 Cedar Street, Pasadena, CA 91101",
            "(626) 555-0100",
            "Tax ID (EIN): 12-3456789",
            f"Practice NPI (type 2): {PRACTICE_NPI}",
            "ZZ 261QM0801X",
            "Avery",
            "4 Elm Road, Glendale, CA 91201",
            f"Date of birth: {avery.date_of_birth:%m/%d/%Y}",
            "Sex: Female",
            "ICD Ind. 0",
            "A F33.1 Major depressive disorder, recurrent, moderate",
            "B F41.1 Generalized anxiety disorder",
            f"{day1:%m/%d/%Y} 10 (Telehealth, at home) 90837",
            "Integration session, 60 minutes",
            "95 A $200.00 1",
            TESS_NPI,
            f"{day2:%m/%d/%Y} 11 (Office) 99214",
            "— AB $250.00 1",
            "0820T *",
            "AB $175.50 2",
            PRIYA_NPI,
            "Coverage of this code depends on the insurer",
            "Payment Card",
            "HSA or FSA card",
            "$400.00",
            "Refund Cash",
            "Total charge 28 $625.50",
            "Payments received $600.00",
            "Refunded $20.00",
            "Amount paid 29 $580.00",
            "Balance due $45.50",
            "Benefits are not assigned to the provider: please pay the patient",
            "Tess Therapist, LCSW · NPI 1234567893 · taxonomy 1041C0700X · licence LCSW 98765, CA",
            "Signature of Priya Prescriber",
        ):
            assert expected in text, expected
        # Not current on any date of service: entered in error, ended before.
        assert "F32.9" not in text and "F43.10" not in text
        assert "paid these services in full" not in text  # $45.50 is still owed

    def test_the_data_adds_up_to_the_cent(self, billed, avery):
        bill = superbill.superbill_data(avery, billed, Practice.load())
        assert bill.problems == []
        assert [line.amount for line in bill.lines] == [
            Decimal("200.00"),
            Decimal("175.50"),
            Decimal("250.00"),
        ]
        assert [line.pointers for line in bill.lines] == ["A", "AB", "AB"]
        assert bill.charged == Decimal("625.50")
        assert (bill.payments, bill.refunded, bill.paid) == (
            Decimal("600.00"),
            Decimal("20.00"),
            Decimal("580.00"),
        )
        assert bill.balance == Decimal("45.50") and bill.written_off == Decimal("0.00")
        assert [d.code for _letter, d in bill.diagnoses] == ["F33.1", "F41.1"]

    def test_paid_in_full_says_so(self, billed, avery, ada):
        invoice = avery.invoices.order_by("number").last()
        services.entry_record(
            request=ServiceRequest(ada),
            invoice=invoice,
            kind="payment",
            amount=Decimal("45.50"),
            received_on=timezone.localdate(),
            method=Entry.Method.CHEQUE,
        )
        bill = superbill.superbill_data(avery, billed, Practice.load())
        assert bill.balance == Decimal("0.00") and bill.paid_in_full
        text = pdf_text(superbill.superbill_pdf(bill))
        assert "has paid these services in full" in text and "Balance due $0.00" in text

    def test_the_insured_and_referring_provider_print_when_given(self, billed, avery):
        BillingProfile.objects.create(
            client=avery,
            self_pay=True,
            insurer="Blue Shield of California",
            member_id="XJH123456789",
            group_number="G-7788",
            referring_name="Dr. Rivera",
            referring_npi="1987654328",
        )
        text = pdf_text(superbill.superbill_pdf(superbill.superbill_data(avery, billed, Practice.load())))
        for expected in (
            "Blue Shield of California",
            "Insured's ID: XJH123456789",
            "Insured's name: Same as the patient",
            "Group number: G-7788",
            "Dr. Rivera · NPI 1987654328",
        ):
            assert expected in text, expected

    def test_the_download_is_audited(self, billed, login, cora, avery, audit_rows):
        download(login, cora, avery, billed)
        (row,) = audit_rows("kapflow.billing.superbill.downloaded")
        assert row.client_id == avery.pk and row.actor_id == cora.pk
        assert row.detail["period"] == billed.key and row.detail["where"] == "office"


class TestRefused:
    def test_without_a_diagnosis(self, charged, login, cora, tess, avery, audit_rows):
        billed = charged
        other = superbill.month_period(*_month_before(billed))
        day, day2 = last_month()
        # Diagnosed after the first visit: that visit has none.
        diagnose(avery, tess, "F33.1", "Major depressive disorder, recurrent, moderate", day2)
        problems = superbill.superbill_problems(avery, billed, Practice.load())
        assert problems == [
            f"No diagnosis is recorded for the visit of {day:%B} {day.day}, {day.year}, and an insurer needs "
            "one for every visit. The client's clinician records it on the chart."
        ]
        response = download(login, cora, avery, billed)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
        page = response.content.decode()
        assert "cannot be given yet" in page and "No diagnosis is recorded for the visit of" in page
        assert audit_rows("kapflow.billing.superbill.downloaded") == []
        assert superbill.superbill_problems(avery, other, Practice.load()) == [
            f"There are no charges for {other.label}, so there is nothing to claim."
        ]

    @pytest.mark.parametrize("where", ["office", "portal"])
    def test_a_refused_download_reads_the_ledger_once(self, where, charged, login, cora, cleo, avery):
        """A refused superbill answers with the page again, its periods' reasons read from the
        same ledger as the superbill itself (each read the client's charges, diagnoses, payments
        and billing profile: four queries twice; on the portal the client's own account too)."""
        if where == "portal":
            from tests.test_portal_billing import portal_for

            portal_for(avery, cleo)
            http, name = login(cleo), "portal_billing:superbill"
        else:
            http, name = login(cora), "superbills:download"
        with CaptureQueriesContext(connection) as queries:
            response = http.get(reverse(name, args=[avery.pk, charged.key]))
        assert (
            response.status_code == 200
            and "No diagnosis is recorded for the visit of" in response.content.decode()
        )
        assert asked_twice(queries) == []

    def test_without_the_practice_npi_or_ein(self, billed, avery):
        Practice.objects.update(npi="", tax_id="123456789")
        problems = superbill.superbill_problems(avery, billed, Practice.load())
        assert problems == [
            "The practice's tax ID on file is not written as an EIN (NN-NNNNNNN). The practice corrects it "
            "in its billing settings.",
            "The practice's NPI (its National Provider Identifier) is not on file. The practice adds it in "
            "its billing settings.",
        ]
        with pytest.raises(services.BillingRefused):
            superbill.superbill_pdf(superbill.superbill_data(avery, billed, Practice.load()))

    def test_without_a_clinicians_npi(self, billed, avery, priya):
        priya.npi = ""
        priya.save(update_fields=["npi"])
        assert superbill.superbill_problems(avery, billed, Practice.load()) == [
            "Priya Prescriber, who saw the client in this period, has no NPI on file. The practice adds it "
            "to their staff record."
        ]
        priya.npi = "1234567890"  # a wrong check digit
        priya.save(update_fields=["npi"])
        assert "The NPI on file for Priya Prescriber is not a valid NPI." in " ".join(
            superbill.superbill_problems(avery, billed, Practice.load())
        )

    def test_without_the_clients_address(self, billed, avery):
        avery.address_line = ""
        avery.save()
        assert superbill.superbill_problems(avery, billed, Practice.load()) == [
            "The client's postal address (street, city and state) is not on file. The practice adds it to "
            "the client's details."
        ]

    def test_an_unknown_period_is_404(self, billed, login, cora, avery):
        for key in ("2024-13", "course-999999", "nonsense"):
            assert login(cora).get(reverse("superbills:download", args=[avery.pk, key])).status_code == 404


def _month_before(period):
    day = period.start - datetime.timedelta(days=1)
    return day.year, day.month


class TestPeriods:
    def test_months_and_courses_with_charges(self, billed, avery, tess):
        plan = CoursePlan.objects.create(
            client=avery, goals="Ease depression.", planned_sessions=6, updated_by=tess
        )
        periods = superbill.periods_with_charges(avery)
        assert [p.kind for p in periods] == ["month", "course"]
        course = periods[1]
        # The first course has no counts_from: it runs from the first date of service to today.
        assert course.start == last_month()[0] and course.end == timezone.localdate()
        assert course.key == f"course-{plan.pk}" and course.label.startswith("Course 1 (")
        assert superbill.period_for(avery, course.key) == course
        bill = superbill.superbill_data(avery, course, Practice.load())
        assert bill.charged == Decimal("625.50") and bill.problems == []

    def test_a_second_course_starts_its_own_period(self, billed, avery, tess):
        day1, day2 = last_month()
        first = CoursePlan.objects.create(
            client=avery,
            goals="Ease depression.",
            planned_sessions=6,
            updated_by=tess,
            created_at=at_noon(day1 - datetime.timedelta(days=30)),
            superseded_at=at_noon(day1 + datetime.timedelta(days=2)),
            ended_at=at_noon(day1 + datetime.timedelta(days=1)),
        )
        second = CoursePlan.objects.create(
            client=avery,
            goals="Again.",
            planned_sessions=4,
            course_number=2,
            updated_by=tess,
            counts_from=at_noon(day1 + datetime.timedelta(days=2)),
            created_at=at_noon(day1 + datetime.timedelta(days=2)),
        )
        courses = superbill.course_periods(avery)
        assert [c.key for c in courses] == [f"course-{first.pk}", f"course-{second.pk}"]
        assert courses[0].end == day1 + datetime.timedelta(days=1)
        assert courses[1].start == day1 + datetime.timedelta(days=2)
        assert [line.code for line in superbill.superbill_data(avery, courses[0], Practice.load()).lines] == [
            "90837"
        ]
        assert [line.code for line in superbill.superbill_data(avery, courses[1], Practice.load()).lines] == [
            "0820T",
            "99214",
        ]
        assert day2 > courses[1].start


class TestTheStaffPage:
    def test_the_coordinator_sees_the_periods(self, billed, login, cora, avery, audit_rows):
        page = login(cora).get(reverse("superbills:list", args=[avery.pk])).content.decode()
        assert billed.label in page and "Download PDF" in page
        assert reverse("superbills:download", args=[avery.pk, billed.key]) in page
        assert audit_rows("kapflow.billing.superbills.viewed")[-1].client_id == avery.pk

    def test_a_refused_period_shows_its_reasons(self, billed, login, ada, avery):
        Practice.objects.update(npi="")
        page = login(ada).get(reverse("superbills:list", args=[avery.pk])).content.decode()
        assert "Refused" in page and "NPI (its National Provider Identifier) is not on file" in page
        assert reverse("superbills:download", args=[avery.pk, billed.key]) not in page

    def test_clinicians_are_refused(self, billed, login, tess, avery):
        assert login(tess).get(reverse("superbills:list", args=[avery.pk])).status_code == 403
        assert download(login, tess, avery, billed).status_code == 403
