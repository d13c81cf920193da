"""The Good Faith Estimate (docs/good-faith-estimate.md): built from the course plan at the fees in
force, given with the plan and again when it changes, due (with a reminder to the coordinators
and admins) when it cannot be given, the dispute flag, the PDF, the emails, and who sees it."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.db import DatabaseError, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from kapflow.billing import estimates
from kapflow.billing.models import BillingProfile, Charge, Estimate, Fee, Invoice, InvoiceLine
from kapflow.course.reviews import _copy, plan_supersede
from kapflow.pathway import services as pathway_services
from kapflow.pathway.forms import CoursePlanForm
from kapflow.pathway.models import CoursePlan
from kapflow.practice.models import Practice
from kapflow.reminders import sources
from kapflow.reminders.models import Reminder
from kapflow.visits.models import Room, Visit

pytestmark = pytest.mark.django_db

TIN, PRACTICE_NPI, TESS_NPI, PRIYA_NPI = "12-3456789", "1234567893", "1558598797", "1245319599"

# What each kind bills (a medication session: a prescriber's E/M code and two hours of monitoring).
FEES = [
    ("consultation", "90791", 1, "300.00", "Psychiatric diagnostic evaluation"),
    ("medical_evaluation", "99204", 1, "350.00", "Medical evaluation, new patient"),
    ("preparation", "90837", 1, "200.00", "Preparation session, 60 minutes"),
    ("medication", "99214", 1, "250.00", "Prescriber's visit on the day"),
    ("medication", "0820T", 2, "400.00", "Monitoring during the session, 2 hours"),
    ("integration", "90837", 1, "200.00", "Integration session, 60 minutes"),
    ("progress_review", "90834", 1, "150.00", "Progress review"),
]
# 8 sessions with integration and a review after session 4: 300 + 350 + 200 + 8 × 650 + 8 × 200 + 150.
TOTAL_8 = Decimal("7800.00")
# 12 sessions, reviews after 4 and 8: 300 + 350 + 200 + 12 × 650 + 12 × 200 + 2 × 150.
TOTAL_12 = Decimal("11350.00")


def fake_request(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


def pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


def set_fees(ada, *, leave_out=()):
    since = timezone.localdate() - datetime.timedelta(days=30)
    for kind, code, units, amount, words in FEES:
        if kind in leave_out:
            continue
        Fee.objects.create(
            kind=kind,
            code=code,
            units=units,
            amount=Decimal(amount),
            description=words,
            payer_dependent=code == "0820T",
            effective_from=since,
            created_by=ada,
        )


@pytest.fixture
def ready(ada, tess, priya):
    """The practice's and the clinicians' identifiers recorded, the fee schedule set."""
    practice = Practice.load()
    practice.name = "Cedar Wellness"
    practice.tax_id = TIN
    practice.npi = PRACTICE_NPI
    practice.address = "1 Main St, Van Nuys, CA 91401"
    practice.save()
    tess.npi, priya.npi = TESS_NPI, PRIYA_NPI
    tess.save(update_fields=["npi"])
    priya.save(update_fields=["npi"])
    return practice


def plan_form(sessions=8, review_after="4", instance=None, **more):
    data = {
        "goals": "Less depression",
        "planned_sessions": sessions,
        "cadence": "fortnightly",
        "cadence_note": "",
        "modality": "in_person",
        "integration_after_each": "on",
        "review_after": review_after,
        **more,
    }
    form = CoursePlanForm(data=data, instance=instance)
    assert form.is_valid(), form.errors
    return form


def save_plan(user, client, **kwargs):
    instance = CoursePlan.objects.current().filter(client=client).first()
    return pathway_services.course_plan_save(
        request=fake_request(user), client=client, form=plan_form(instance=instance, **kwargs)
    )


def in_force(client):
    return Estimate.objects.get(client=client, superseded_at__isnull=True)


class TestFollowsThePlan:
    def test_a_plan_of_8_then_12_sessions_gives_two_estimates_exact_to_the_cent(
        self, ready, ada, tess, avery
    ):
        set_fees(ada)
        save_plan(tess, avery, sessions=8)
        first = in_force(avery)
        assert first.reason == Estimate.Reason.PLAN
        assert first.total == TOTAL_8
        counts = {line["code"]: line["count"] for line in first.content["lines"]}
        assert counts == {"90791": 1, "99204": 1, "90837": 8, "99214": 8, "0820T": 8, "90834": 1}
        [monitoring] = [line for line in first.content["lines"] if line["code"] == "0820T"]
        assert monitoring["units_total"] == 16 and monitoring["payer_dependent"]  # 2 hours a session
        save_plan(tess, avery, sessions=12, review_after="4, 8")
        second = in_force(avery)
        first.refresh_from_db()
        assert second.pk != first.pk and second.reason == Estimate.Reason.PLAN_CHANGED
        assert second.total == TOTAL_12
        assert first.superseded_at is not None
        assert second.covers_from == first.covers_from
        assert second.valid_until == estimates.valid_until_for(first.covers_from, 12)
        assert Estimate.objects.filter(client=avery).count() == 2

    def test_a_change_the_estimate_does_not_show_gives_no_new_one(self, ready, ada, tess, avery):
        set_fees(ada)
        save_plan(tess, avery)
        save_plan(tess, avery, goals="Less anxiety, more sleep")
        assert Estimate.objects.filter(client=avery).count() == 1

    def test_a_new_version_from_a_course_review_gives_a_new_estimate(self, ready, ada, tess, avery):
        set_fees(ada)
        plan = save_plan(tess, avery, sessions=8)
        with transaction.atomic():
            plan = CoursePlan.objects.select_for_update().get(pk=plan.pk)
            plan_supersede(
                request=fake_request(tess),
                plan=plan,
                new=_copy(plan, planned_sessions=12, updated_by=tess, created_at=timezone.now()),
                now=timezone.now(),
                why="extended",
            )
        latest = in_force(avery)
        assert latest.reason == Estimate.Reason.PLAN_CHANGED
        # 12 sessions, the review after 4 still the only one.
        assert latest.total == TOTAL_12 - Decimal("150.00")

    def test_a_maintenance_plan_counts_its_sessions_in_the_period(self, ready, tess, avery):
        plan = CoursePlan(
            client=avery,
            kind="maintenance",
            planned_sessions=3,
            maintenance_weeks=4,
            goals="g",
            updated_by=tess,
        )
        start = datetime.date(2026, 12, 5)
        until = estimates.valid_until_for(start, 12)
        assert until == datetime.date(2027, 12, 4)
        counts = estimates.plan_counts(plan, Practice.load(), covers_from=start, valid_until=until)
        # Days 0, 28, …, 364: fourteen sessions within the 365 days, each with its integration; no
        # preparation, no second consultation.
        assert counts["medication"] == 14 and counts["integration"] == 14 and counts["preparation"] == 0

    def test_an_insured_client_is_given_none_and_none_is_due(self, ready, ada, tess, avery):
        set_fees(ada)
        BillingProfile.objects.create(client=avery, self_pay=False, insurer="Blue")
        save_plan(tess, avery)
        assert not Estimate.objects.filter(client=avery).exists()
        assert estimates.estimates_due() == []


class TestDue:
    def test_without_a_fee_line_it_is_due_and_the_coordinator_and_admin_are_told(
        self, ready, ada, cora, tess, avery, django_capture_on_commit_callbacks
    ):
        set_fees(ada, leave_out=("integration",))
        save_plan(tess, avery)
        assert not Estimate.objects.filter(client=avery).exists()
        [due] = estimates.estimates_due()
        assert due.client == avery and due.estimate is None
        # What stops it being given is read for the rows a page shows, not for the reminders.
        assert due.problems is None
        [due] = estimates.with_problems([due], Practice.load())
        assert any("integration session" in problem for problem in due.problems)
        now = timezone.now()
        found = sources.estimates_due(now, now, Practice.load())
        assert {d.recipient for d in found} == {ada, cora}
        assert {d.kind for d in found} == {Reminder.Kind.ESTIMATE_DUE}
        from kapflow.reminders.services import sweep

        with django_capture_on_commit_callbacks(execute=True):
            sweep(now)
        sent = [m for m in mail.outbox if "Good Faith Estimate" in m.subject]
        assert sorted(m.to[0] for m in sent) == ["ada@example.org", "cora@example.org"]
        for message in sent:
            assert "Avery" not in message.body and "Alvarez" not in message.body and "$" not in message.body

    def test_a_session_booked_before_the_plan_is_written_makes_the_estimate_due_from_the_booking(
        self, ready, ada, tess, avery
    ):
        set_fees(ada)
        booked = timezone.now()
        starts = booked + datetime.timedelta(days=5)
        Visit.objects.create(
            client=avery,
            kind=Visit.Kind.MEDICATION,
            starts_at=starts,
            ends_at=starts + datetime.timedelta(hours=2),
            room=Room.objects.create(name="Garden"),
            clinician=tess,
            created_by=tess,
            created_at=booked,
        )
        [due] = estimates.estimates_due()
        assert due.client == avery and due.plan is None and due.session.starts_at == starts
        # Booked 3 to 9 days ahead: within one business day of the booking, and before the session.
        assert due.due_on == min(
            estimates.business_days_after(timezone.localdate(booked), 1),
            estimates.business_days_before(timezone.localdate(starts), 1),
        )
        assert due.problems == ["Write the course plan: the estimate is built from it."]
        # Once the plan is written the estimate is given with it, and nothing is due.
        save_plan(tess, avery)
        assert Estimate.objects.filter(client=avery).exists() and estimates.estimates_due() == []

    def test_the_estimates_due_page(self, ready, ada, cora, tess, avery, login):
        set_fees(ada, leave_out=("integration",))
        save_plan(tess, avery)
        page = login(cora).get(reverse("estimates_due:list"))
        assert page.status_code == 200
        assert "Avery" in page.content.decode() and "integration session" in page.content.decode()
        assert login(tess).get(reverse("estimates_due:list")).status_code == 403

    def test_the_page_costs_the_same_queries_however_many_are_due(self, ready, ada, cora, tess, priya, login):
        """The problems of the rows shown are read in three queries for them all (the fee lines, the
        visits received, the care teams), each as estimate_problems reads one client's; the
        reminders read none. On the code before, each due client cost three queries more."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from tests import factories

        set_fees(ada, leave_out=("integration",))
        practice = Practice.load()
        http = login(cora)

        def add_due():
            client = factories.make_client(first_name="Due", therapist=tess, prescriber=priya)
            BillingProfile.objects.create(client=client, self_pay=True)
            save_plan(tess, client)

        def queries(call):
            with CaptureQueriesContext(connection) as captured:
                call()
            return len(captured)

        add_due()
        page = lambda: http.get(reverse("estimates_due:list"))  # noqa: E731
        reminders = lambda: sources.estimates_due(timezone.now(), timezone.now(), practice)  # noqa: E731
        page()  # the session's first request reads what the later ones keep in it
        first, first_reminders = queries(page), queries(reminders)
        for _ in range(4):
            add_due()
        assert len(estimates.estimates_due()) == 5
        assert (queries(page), queries(reminders)) == (first, first_reminders)
        for row in estimates.with_problems(estimates.estimates_due(), practice):
            assert row.problems == estimates.estimate_problems(row.client, practice, plan=row.plan)
            assert any("integration session" in problem for problem in row.problems)

    def test_a_long_list_shows_the_soonest_due_first_and_audits_those_shown(
        self, ready, ada, cora, tess, avery, olive, login, monkeypatch, audit_rows
    ):
        monkeypatch.setattr("kapflow.billing.estimates_due_views.DUE_SHOWN", 1)
        set_fees(ada, leave_out=("integration",))
        save_plan(tess, avery)
        BillingProfile.objects.create(client=olive, self_pay=True)
        save_plan(tess, olive)
        due = estimates.estimates_due()
        assert len(due) == 2
        http = login(cora)
        page = http.get(reverse("estimates_due:list")).content.decode()
        first, second = due
        assert first.client.display_name in page and second.client.display_name not in page
        assert "The soonest due 1 of 2 clients are shown" in page and "?clients=all" in page
        assert audit_rows("kapflow.billing.estimates_due.viewed")[-1].detail == {"clients": [first.client.pk]}
        everything = http.get(reverse("estimates_due:list") + "?clients=all").content.decode()
        assert first.client.display_name in everything and second.client.display_name in everything

    def test_once_the_fee_line_is_added_it_can_be_given_and_is_due_no_more(
        self, ready, ada, cora, tess, avery, login
    ):
        set_fees(ada, leave_out=("integration",))
        save_plan(tess, avery)
        Fee.objects.create(
            kind="integration",
            code="90837",
            amount=Decimal("200.00"),
            description="Integration",
            effective_from=timezone.localdate(),
            created_by=ada,
        )
        response = login(cora).post(reverse("estimates:new", args=[avery.pk]))
        assert response.status_code == 302
        assert in_force(avery).reason == Estimate.Reason.ASKED and in_force(avery).total == TOTAL_8
        assert estimates.estimates_due() == []

    def test_the_clinician_may_not_give_one_on_request(self, ready, ada, tess, avery, login):
        set_fees(ada)
        assert login(tess).post(reverse("estimates:new", args=[avery.pk])).status_code == 403


class TestDeadlines:
    # December 2026: the 4th is a Friday, the 7th a Monday.
    @pytest.mark.parametrize(
        "booked, session, due",
        [
            ("2026-12-07", "2026-12-21", "2026-12-10"),  # 14 days ahead: 3 business days
            ("2026-12-04", "2026-12-14", "2026-12-09"),  # 10 days ahead, from a Friday: the Wednesday
            ("2026-12-04", "2026-12-11", "2026-12-07"),  # 7 days ahead: 1 business day, the Monday
            ("2026-12-03", "2026-12-07", "2026-12-04"),  # 4 days ahead: 1 business day, the Friday
            ("2026-12-07", "2026-12-08", "2026-12-07"),  # next day: at once, 1 business day before
            ("2026-12-09", "2026-12-14", "2026-12-10"),  # 5 days ahead: Thursday
        ],
    )
    def test_the_business_day_timelines(self, booked, session, due):
        d = datetime.date.fromisoformat
        assert estimates.deadline(d(booked), session_on=d(session), booked_on=d(booked)) == d(due)

    def test_a_change_after_the_booking_counts_from_the_change_and_stays_a_day_before(self):
        d = datetime.date.fromisoformat
        # Booked long ago; the plan changed on Thursday for a session on Monday: Friday.
        assert estimates.deadline(
            d("2026-12-03"), session_on=d("2026-12-07"), booked_on=d("2026-11-01")
        ) == d("2026-12-04")

    def test_with_no_session_booked_three_business_days(self):
        assert estimates.deadline(datetime.date(2026, 12, 4)) == datetime.date(2026, 12, 9)


def charge(client, visit, fee, amount, who):
    return Charge.objects.create(
        client=client,
        visit=visit,
        fee=fee,
        service_date=timezone.localdate(),
        clinician=who,
        code=fee.code,
        units=1,
        description="x",
        amount=Decimal(amount),
        place_of_service="11",
        created_by=who,
    )


def medication_visit(client, clinician, created_by, *, starts_in, room):
    """A medication session of 150 minutes in person, in a new room, starting `starts_in` from now."""
    start = timezone.now() + starts_in
    return Visit.objects.create(
        client=client,
        kind="medication",
        room=Room.objects.create(name=room),
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=150),
        clinician=clinician,
        created_by=created_by,
    )


def test_the_dispute_flag_opens_at_the_threshold(ready, ada, tess, priya, avery):
    set_fees(ada)
    save_plan(tess, avery)
    estimate = in_force(avery)
    visit = medication_visit(avery, priya, ada, starts_in=datetime.timedelta(hours=1), room="Cedar")
    fees = {fee.code: fee for fee in Fee.objects.all()}
    first = charge(avery, visit, fees["99214"], estimate.total + Decimal("399.99"), priya)
    assert estimates.dispute(avery, ready) is None
    second = charge(avery, visit, fees["0820T"], "0.01", priya)
    invoice = Invoice.objects.create(
        client=avery, number=1, issued_on=timezone.localdate(), due_on=timezone.localdate(), created_by=ada
    )
    # The first bill is the first invoice billing the estimate's services.
    InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, charge=c) for c in (first, second)])
    flag = estimates.dispute(avery, ready)
    assert flag.over_by == Decimal("400.00") and flag.billed == TOTAL_8 + Decimal("400.00")
    assert flag.last_day == timezone.localdate() + datetime.timedelta(days=120)


def test_the_pdf_says_everything_the_law_asks(ready, ada, cora, tess, avery, login):
    set_fees(ada)
    save_plan(tess, avery)
    estimate = in_force(avery)
    response = login(cora).get(reverse("estimates:pdf", args=[avery.pk, estimate.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    text = pdf_text(response.content)
    for expected in (
        "Avery Alvarez",
        "90791",
        "0820T",
        "$7,800.00",
        TIN,
        PRACTICE_NPI,
        TESS_NPI,
        PRIYA_NPI,
        "not a contract",
        "actual charges may differ",
        "will not affect the care",
        "cms.gov/nosurprises",
        "own Good Faith Estimate",
    ):
        assert expected in text, expected


def test_the_client_is_told_without_an_amount(
    ready, ada, tess, cleo, avery, django_capture_on_commit_callbacks
):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    set_fees(ada)
    with django_capture_on_commit_callbacks(execute=True):
        save_plan(tess, avery)
    [message] = [m for m in mail.outbox if m.to == ["cleo@example.org"]]
    body = message.body + message.subject + "".join(alt[0] for alt in message.alternatives)
    for secret in ("$", "7800", "7,800", "90791", "0820T", "ketamine", "medication"):
        assert secret not in body


def test_an_estimate_is_superseded_once_and_never_edited(ready, ada, tess, avery):
    set_fees(ada)
    save_plan(tess, avery, sessions=8)
    save_plan(tess, avery, sessions=12)
    old = Estimate.objects.get(client=avery, superseded_at__isnull=False)
    with pytest.raises(DatabaseError), transaction.atomic():
        Estimate.objects.filter(pk=old.pk).update(superseded_at=timezone.now())
    with pytest.raises(DatabaseError), transaction.atomic():
        Estimate.objects.filter(pk=in_force(avery).pk).update(total=Decimal("1.00"))
    with pytest.raises(DatabaseError), transaction.atomic():
        Estimate.objects.filter(pk=old.pk).delete()


class TestAccess:
    def test_the_coordinator_reads_another_clinician_does_not(
        self, ready, ada, cora, tess, colin, avery, login
    ):
        set_fees(ada)
        save_plan(tess, avery)
        estimate = in_force(avery)
        page = login(cora).get(reverse("estimates:detail", args=[avery.pk, estimate.pk]))
        assert page.status_code == 200 and "$7,800.00" in page.content.decode()
        assert login(tess).get(reverse("estimates:list", args=[avery.pk])).status_code == 200
        assert login(colin).get(reverse("estimates:list", args=[avery.pk])).status_code == 404
        assert login(colin).get(reverse("estimates:pdf", args=[avery.pk, estimate.pk])).status_code == 404

    def test_the_portal_shows_the_clients_own_and_no_one_elses(
        self, ready, ada, tess, colin, cleo, avery, olive, login
    ):
        avery.portal_user = cleo
        avery.save(update_fields=["portal_user"])
        set_fees(ada)
        colin.npi = "1558598797"
        colin.save(update_fields=["npi"])
        save_plan(tess, avery)
        save_plan(colin, olive)
        own, other = in_force(avery), in_force(olive)
        http = login(cleo)
        listing = http.get(reverse("portal_estimates:list", args=[avery.pk]))
        assert listing.status_code == 200 and "right to dispute" in listing.content.decode()
        pdf = http.get(reverse("portal_estimates:pdf", args=[avery.pk, own.pk]))
        assert pdf.status_code == 200 and "Avery Alvarez" in pdf_text(pdf.content)
        assert http.get(reverse("portal_estimates:list", args=[olive.pk])).status_code == 404
        assert http.get(reverse("portal_estimates:detail", args=[avery.pk, other.pk])).status_code == 404

    def test_a_booked_session_without_an_estimate_shows_a_warning(
        self, ready, ada, cora, tess, priya, avery, login
    ):
        set_fees(ada, leave_out=("integration",))
        save_plan(tess, avery)
        visit = medication_visit(avery, priya, cora, starts_in=datetime.timedelta(days=5), room="Oak")
        page = login(cora).get(reverse("visits:detail", args=[avery.pk, visit.pk]))
        assert "no Good Faith Estimate" in page.content.decode()

    def test_a_session_booked_before_any_plan_warns_too(self, ready, ada, cora, priya, avery, login):
        set_fees(ada)
        visit = medication_visit(avery, priya, cora, starts_in=datetime.timedelta(days=5), room="Oak")
        page = login(cora).get(reverse("visits:detail", args=[avery.pk, visit.pk])).content.decode()
        assert "no Good Faith Estimate" in page and "no course plan written yet" in page


def test_the_account_and_portal_billing_pages_explain_the_right_to_dispute(
    ready, ada, cora, tess, cleo, avery, login
):
    avery.portal_user = cleo
    avery.save(update_fields=["portal_user"])
    set_fees(ada)
    save_plan(tess, avery)
    account = login(cora).get(reverse("client_billing:account", args=[avery.pk]))
    # The coordinator is shown it only once the bills are over the estimate, in a coordinator's words.
    assert account.status_code == 200 and "right to dispute" not in account.content.decode()
    portal = login(cleo).get(reverse("portal_billing:statements", args=[avery.pk]))
    assert portal.status_code == 200 and "right to dispute" in portal.content.decode()
    visit = medication_visit(avery, tess, ada, starts_in=-datetime.timedelta(hours=3), room="Cedar")
    fee = Fee.objects.filter(code="0820T").first()
    over = charge(avery, visit, fee, in_force(avery).total + Decimal("400.00"), tess)
    invoice = Invoice.objects.create(
        client=avery, number=1, issued_on=timezone.localdate(), due_on=timezone.localdate(), created_by=ada
    )
    InvoiceLine.objects.create(invoice=invoice, charge=over)
    page = login(cora).get(reverse("client_billing:account", args=[avery.pk])).content.decode()
    assert "Tell the client of their right to dispute" in page and "$400.00 more" in page
    assert "If you are billed" not in page
