"""Course reviews and maintenance (issue 15, part 4; docs/course.md, "Reviews", "Maintenance"):
written by a clinician on the care team with its facts frozen, signed by the therapist and the
prescriber (two people), the second signature applying the decision; the course gate that waits
for an extension; the dashboard's lists; the maintenance session coming due and its one
reminder."""

import datetime

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import example, given
from hypothesis import strategies as st

from kapflow.audit.models import AuditEvent
from kapflow.clients.models import Client
from kapflow.course import maintenance
from kapflow.course.models import CourseReview
from kapflow.course.reviews import ReviewRefused, review_sign, review_write
from kapflow.pathway.course import course_gate
from kapflow.pathway.models import CoursePlan
from kapflow.practice.models import Practice
from kapflow.reminders import services as reminder_services
from kapflow.reminders.models import Reminder
from kapflow.views import QUEUE_PAGE_SIZE, SHOWN
from kapflow.visits import services as visit_services
from kapflow.visits.models import Room
from tests import factories
from tests import test_hostile_input_pathway as hostile
from tests.test_course_position import make_plan, session

DAY = datetime.timedelta(days=1)

browser = hostile.browser  # one signed-in test client per persona (tests/test_hostile_input.py)


@pytest.fixture
def room(db):
    return Room.objects.create(name="Cedar")


def fake_request(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


def held(client, clinician, room, n: int, *, first_days_ago: int = 60) -> None:
    for i in range(n):
        session(client, clinician, room, days=-first_days_ago + 7 * i)


def write(http, client, **data):
    return http.post(
        reverse("course:review_new", args=[client.pk]),
        {"held_on": timezone.localdate().isoformat(), "summary": "PHQ-9 down from 18 to 9.", **data},
    )


def sign(http, review, role=""):
    return http.post(
        reverse("course:review_sign", args=[review.client_id, review.pk]), {"role": role} if role else {}
    )


class TestWriting:
    def test_a_therapist_on_the_team_writes_it_with_the_facts_frozen(
        self, login, tess, avery, room, audit_rows
    ):
        make_plan(avery, tess, planned=3)
        held(avery, tess, room, 3)
        page = login(tess).get(reverse("course:review_new", args=[avery.pk])).content.decode()
        assert "3 sessions held" not in page or "Session 3 of 3" in page
        response = write(login(tess), avery, decision="extend", extend_to="6")
        review = CourseReview.objects.get()
        assert response.status_code == 302 and response["Location"].endswith(f"/reviews/{review.pk}/")
        assert review.written_by == tess and review.extend_to == 6 and review.maintenance_weeks is None
        headings = [part["heading"] for part in review.facts["sections"]]
        assert headings[0] == "The plan"
        assert ["Sessions held", "3 of 3 planned"] in review.facts["sections"][0]["facts"]
        assert audit_rows("kapflow.course.review.written")[0].detail == {"decision": "extend"}

    def test_the_facts_stay_as_written_when_more_sessions_are_held(self, login, tess, avery, room):
        make_plan(avery, tess, planned=8)
        held(avery, tess, room, 3)
        write(login(tess), avery, decision="continue")
        session(avery, tess, room, days=-1)
        review = CourseReview.objects.get()
        page = login(tess).get(reverse("course:review_detail", args=[avery.pk, review.pk])).content.decode()
        assert "3 of 8 planned" in page

    @pytest.mark.parametrize(
        "data, message",
        [
            ({"decision": "extend", "extend_to": "3"}, "the extended course must have more than that"),
            ({"decision": "extend"}, "Say how many sessions the course has in all"),
            ({"decision": "maintenance", "maintenance_weeks": "6"}, "Say how many maintenance sessions"),
            ({"decision": "maintenance", "maintenance_sessions": "3", "maintenance_weeks": ""}, "how often"),
            ({"decision": "extend", "extend_to": "100000"}, "less than or equal to 99"),
            ({"decision": "extend", "extend_to": "-2"}, "greater than or equal to 1"),
            ({"decision": "extend", "extend_to": "1e9"}, "Enter a whole number"),
            ({"decision": "explode"}, "Select a valid choice"),
            ({"decision": "continue", "visit": "99999999999999999999"}, "Select a valid choice"),
        ],
    )
    def test_it_explains_what_to_fix(self, login, tess, avery, room, data, message):
        make_plan(avery, tess, planned=3)
        held(avery, tess, room, 3)
        response = write(login(tess), avery, **data)
        assert response.status_code == 200 and message in response.content.decode()
        assert not CourseReview.objects.exists()

    def test_what_does_not_belong_to_the_decision_is_not_kept(self, login, tess, avery, room):
        make_plan(avery, tess, planned=3)
        write(login(tess), avery, decision="continue", extend_to="zzz", maintenance_weeks="6")
        review = CourseReview.objects.get()
        assert review.extend_to is None and review.maintenance_weeks is None

    def test_one_review_waits_at_a_time(self, login, tess, priya, avery):
        make_plan(avery, tess)
        write(login(tess), avery, decision="continue")
        response = login(priya).get(reverse("course:review_new", args=[avery.pk]))
        assert response.status_code == 302
        with pytest.raises(ReviewRefused, match="waiting for its signatures already"):
            review_write(
                request=fake_request(priya),
                client=avery,
                review=CourseReview(summary="s", decision="continue"),
            )

    def test_a_clinician_off_the_care_team_cannot_write_one_even_with_an_open_caseload(
        self, colin, avery, tess
    ):
        make_plan(avery, tess)
        practice = Practice.load()
        practice.open_caseload = True
        practice.save()
        with pytest.raises(ReviewRefused, match="on the client's care team"):
            review_write(
                request=fake_request(colin),
                client=avery,
                review=CourseReview(summary="s", decision="continue"),
            )

    def test_without_a_plan_the_writer_is_sent_to_write_one(self, login, tess, avery):
        response = login(tess).get(reverse("course:review_new", args=[avery.pk]))
        assert response.status_code == 302 and response["Location"] == reverse(
            "pathway:plan", args=[avery.pk]
        )


class TestSigning:
    def test_the_second_signature_extends_the_course(self, login, tess, priya, avery, room, audit_rows):
        plan = make_plan(avery, tess, planned=3)
        held(avery, tess, room, 3)
        assert course_gate(avery).status.value == "fail"
        write(login(tess), avery, decision="extend", extend_to="5")
        review = CourseReview.objects.get()
        sign(login(tess), review)
        review.refresh_from_db()
        assert review.therapist_signed_by == tess and not review.is_decided
        assert CoursePlan.objects.current().get(client=avery) == plan  # nothing yet
        page = login(tess).get(reverse("course:review_detail", args=[avery.pk, review.pk])).content.decode()
        assert (
            "Signed " in page
            and "by Tess Therapist" in page
            and "Waiting for the prescriber’s signature" in page
        )
        sign(login(priya), review)
        review.refresh_from_db()
        assert review.is_decided and review.prescriber_signed_by == priya
        new = CoursePlan.objects.current().get(client=avery)
        assert review.new_plan == new and new.pk != plan.pk
        assert (new.planned_sessions, new.course_number, new.counts_from) == (5, 1, plan.counts_from)
        plan.refresh_from_db()
        assert plan.superseded_at is not None and plan.planned_sessions == 3
        assert course_gate(avery).status.value == "pass"
        assert [row.detail for row in audit_rows("kapflow.course.review.signed")] == [
            {"as": "therapist", "decided": False},
            {"as": "prescriber", "decided": True},
        ]
        assert audit_rows("kapflow.course.review.decided")[0].detail == {"decision": "extend"}

    def test_moving_to_maintenance_writes_a_maintenance_plan_and_moves_the_stage(
        self, login, tess, priya, avery, room, audit_rows
    ):
        avery.stage = "course"
        avery.save(update_fields=["stage"])
        make_plan(avery, tess, planned=3)
        held(avery, tess, room, 3)
        write(login(priya), avery, decision="maintenance", maintenance_weeks="6", maintenance_sessions="3")
        review = CourseReview.objects.get()
        sign(login(priya), review)
        sign(login(tess), review)
        new = CoursePlan.objects.current().get(client=avery)
        assert (new.kind, new.maintenance_weeks, new.planned_sessions) == ("maintenance", 6, 3)
        assert new.counts_from is not None
        avery.refresh_from_db()
        assert avery.stage == "maintenance"
        assert audit_rows("kapflow.clients.client.stage_changed")[-1].detail == {"stage": "maintenance"}
        # The maintenance sessions count from now: none held yet, the gate passes.
        assert course_gate(avery).status.value == "pass"

    def test_continuing_changes_nothing_and_ending_points_to_the_discharge(
        self, login, tess, priya, avery, room
    ):
        plan = make_plan(avery, tess, planned=3)
        held(avery, tess, room, 3)
        write(login(tess), avery, decision="end")
        review = CourseReview.objects.get()
        sign(login(tess), review)
        sign(login(priya), review)
        review.refresh_from_db()
        assert review.is_decided and review.new_plan is None
        assert CoursePlan.objects.current().get(client=avery) == plan
        chart = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
        assert "decided to end the course" in chart
        assert f'href="{reverse("course:discharge_new", args=[avery.pk])}"' in chart

    def test_one_person_cannot_give_both_signatures(self, login, avery, tess):
        both = factories.make_user("Bo Both", roles=("is_therapist", "is_prescriber"))
        avery.care_team.create(user=both, role="therapist")
        make_plan(avery, tess)
        write(login(both), avery, decision="continue")
        review = CourseReview.objects.get()
        page = login(both).get(reverse("course:review_detail", args=[avery.pk, review.pk]))
        assert page.context["sign_form"].fields["role"].choices == [
            ("therapist", "As the therapist"),
            ("prescriber", "As the prescriber"),
        ]
        sign(login(both), review, "therapist")
        response = sign(login(both), review, "prescriber")
        review.refresh_from_db()
        assert review.prescriber_signed_at is None and not review.is_decided
        with pytest.raises(ReviewRefused, match="two different people"):
            review_sign(request=fake_request(both), review=review, role="prescriber")
        assert response.status_code == 302

    def test_roles_are_checked(self, login, tess, priya, avery):
        make_plan(avery, tess)
        write(login(tess), avery, decision="continue")
        review = CourseReview.objects.get()
        with pytest.raises(ReviewRefused, match="Only a therapist"):
            review_sign(request=fake_request(priya), review=review, role="therapist")
        with pytest.raises(ReviewRefused, match="Only a prescriber"):
            review_sign(request=fake_request(tess), review=review, role="prescriber")
        with pytest.raises(ReviewRefused, match="Sign as the therapist or as the prescriber"):
            review_sign(request=fake_request(tess), review=review, role="admin")
        sign(login(tess), review, "prescriber")  # a role she does not hold: refused, no 500
        review.refresh_from_db()
        assert review.prescriber_signed_at is None and review.therapist_signed_at is None

    def test_the_prescriber_is_one_of_the_practice_who_may_see_the_client(self, login, tess, avery):
        pete = factories.make_user("Pete Prescriber", roles=("is_prescriber",))
        oscar = factories.make_user("Oscar Outside", roles=("is_prescriber", "outside_practice"))
        avery.care_team.create(user=oscar, role="prescriber")
        make_plan(avery, tess)
        write(login(tess), avery, decision="continue")
        review = CourseReview.objects.get()
        assert sign(login(pete), review, "prescriber").status_code == 404
        assert sign(login(oscar), review, "prescriber").status_code == 404
        with pytest.raises(ReviewRefused, match="may see the client's record"):
            review_sign(request=fake_request(pete), review=review, role="prescriber")
        with pytest.raises(ReviewRefused, match="prescriber of the practice"):
            review_sign(request=fake_request(oscar), review=review, role="prescriber")
        practice = Practice.load()
        practice.open_caseload = True
        practice.save()
        review_sign(request=fake_request(pete), review=review, role="prescriber")
        review.refresh_from_db()
        assert review.prescriber_signed_by == pete

    def test_an_extension_no_longer_above_the_sessions_held_is_refused_at_signing(
        self, login, tess, priya, avery, room
    ):
        make_plan(avery, tess, planned=6)
        held(avery, tess, room, 3)
        write(login(tess), avery, decision="extend", extend_to="4")
        review = CourseReview.objects.get()
        session(avery, tess, room, days=-1)
        session(avery, tess, room, days=-0.5)
        sign(login(tess), review)
        with pytest.raises(ReviewRefused, match="5 sessions have been held"):
            review_sign(request=fake_request(priya), review=review, role="prescriber")

    def test_a_decided_review_is_not_signed_again_and_is_fixed_at_the_database(
        self, login, tess, priya, avery
    ):
        make_plan(avery, tess)
        write(login(tess), avery, decision="continue")
        review = CourseReview.objects.get()
        sign(login(tess), review)
        sign(login(priya), review)
        with pytest.raises(ReviewRefused, match="decided already"):
            review_sign(request=fake_request(priya), review=review, role="prescriber")
        with pytest.raises(DatabaseError), transaction.atomic():
            CourseReview.objects.filter(pk=review.pk).update(summary="Rewritten.")

    def test_an_unknown_review_is_404(self, login, tess, avery, olive, colin):
        make_plan(olive, colin)
        write(login(colin), olive, decision="continue")
        theirs = CourseReview.objects.get()
        for review_id in (theirs.pk, 99999999999):
            assert (
                login(tess).get(reverse("course:review_detail", args=[avery.pk, review_id])).status_code
                == 404
            )
            assert (
                login(tess).post(reverse("course:review_sign", args=[avery.pk, review_id])).status_code == 404
            )
        assert login(tess).get(f"/clients/{avery.pk}/course/reviews/{'9' * 30}/").status_code == 404

    def test_signing_is_post_only(self, login, tess, avery):
        make_plan(avery, tess)
        write(login(tess), avery, decision="continue")
        review = CourseReview.objects.get()
        assert login(tess).get(reverse("course:review_sign", args=[avery.pk, review.pk])).status_code == 405

    @pytest.mark.parametrize("decision", ["extend", "maintenance"])
    def test_a_review_is_not_signed_once_the_client_is_discharged(
        self, login, tess, priya, avery, room, decision
    ):
        plan = make_plan(avery, tess, planned=3)
        held(avery, tess, room, 3)
        write(
            login(tess),
            avery,
            decision=decision,
            extend_to="5",
            maintenance_weeks="6",
            maintenance_sessions="2",
        )
        review = CourseReview.objects.get()
        sign(login(tess), review)
        # The discharge is signed meanwhile: it ends the plan and discharges the client.
        CoursePlan.objects.filter(pk=plan.pk).update(ended_at=timezone.now())
        avery.stage = "discharged"
        avery.save(update_fields=["stage"])
        with pytest.raises(ReviewRefused, match="discharged"):
            review_sign(request=fake_request(priya), review=review, role="prescriber")
        review.refresh_from_db()
        assert not review.is_decided
        assert CoursePlan.objects.current().get(client=avery).ended_at is not None
        assert course_gate(avery).status.value == "fail"

    def test_the_count_of_a_maintenance_plan_is_the_reviews_not_the_plan_forms(
        self, login, tess, priya, avery, room
    ):
        make_plan(avery, tess, planned=3)
        held(avery, tess, room, 3)
        write(login(priya), avery, decision="maintenance", maintenance_weeks="6", maintenance_sessions="2")
        review = CourseReview.objects.get()
        sign(login(priya), review)
        sign(login(tess), review)
        url = reverse("pathway:plan", args=[avery.pk])
        assert login(tess).get(url).context["form"].fields["planned_sessions"].disabled
        data = {
            "goals": "Keep well.",
            "planned_sessions": "20",
            "cadence": "custom",
            "cadence_note": "every 6 weeks",
            "modality": "in_person",
            "review_after": "",
        }
        login(tess).post(url, data)
        plan = CoursePlan.objects.current().get(client=avery)
        assert plan.planned_sessions == 2 and plan.goals == "Keep well."


@pytest.fixture
def only_the_course_gate(monkeypatch):
    """Every pathway gate passes but the course gate (the others have their own tests)."""
    import kapflow.urls  # noqa: F401 (every view module imported first, as pathway_ready does)
    from kapflow.pathway.readiness import Gate

    def ready(client, *, visit=None, **kwargs):
        return [Gate(course_gate(client, visit=visit))]

    monkeypatch.setattr("kapflow.pathway.readiness.readiness", ready)


class TestTheGate:
    def test_a_session_past_the_count_waits_for_the_extension(
        self, only_the_course_gate, login, tess, priya, avery, room
    ):
        make_plan(avery, tess, planned=2, review_after="")
        held(avery, tess, room, 2)
        visit = session(avery, tess, room, days=0.01, status="scheduled")
        with pytest.raises(visit_services.VisitRefused, match="course plan"):
            visit_services.visit_transition(request=fake_request(tess), visit=visit, to="in_progress")
        write(login(tess), avery, decision="extend", extend_to="3")
        review = CourseReview.objects.get()
        sign(login(tess), review)
        with pytest.raises(visit_services.VisitRefused):
            visit_services.visit_transition(request=fake_request(tess), visit=visit, to="in_progress")
        sign(login(priya), review)
        visit_services.visit_transition(request=fake_request(tess), visit=visit, to="in_progress")
        visit.refresh_from_db()
        assert visit.status == "in_progress"

    def test_a_discharged_client_without_a_plan_is_not_dosed(self, only_the_course_gate, tess, avery, room):
        # Discharged before any plan was written (in preparation): "no plan yet" is no licence.
        avery.stage = "discharged"
        avery.save(update_fields=["stage"])
        assert course_gate(avery).status.value == "fail"
        visit = session(avery, tess, room, days=0.01, status="scheduled")
        with pytest.raises(visit_services.VisitRefused, match="course plan"):
            visit_services.visit_transition(request=fake_request(tess), visit=visit, to="in_progress")
        avery.refresh_from_db()
        assert avery.stage == "discharged"
        # Moved by hand out of "Discharged", the signed discharge still asks for a plan first.
        from kapflow.course.models import Discharge

        Discharge.objects.create(
            client=avery, reason="withdrew", condition="c", recommendations="r", written_by=tess,
            signed_by=tess, signed_at=timezone.now(),
        )  # fmt: skip
        avery.stage = "preparation"
        avery.save(update_fields=["stage"])
        assert course_gate(avery).status.value == "fail"

    def test_a_session_booked_before_the_plan_counts_does_not_start_uncounted(
        self, only_the_course_gate, tess, avery, room
    ):
        # A new course (or a maintenance plan) counts from the moment it was written: a session
        # booked earlier that day would count against no plan at all.
        make_plan(avery, tess, planned=2, review_after="", counts_from=timezone.now())
        early = session(avery, tess, room, days=-0.01, status="scheduled")
        with pytest.raises(visit_services.VisitRefused, match="before the plan"):
            visit_services.visit_transition(request=fake_request(tess), visit=early, to="in_progress")
        later = session(avery, tess, room, days=0.01, status="scheduled")
        visit_services.visit_transition(request=fake_request(tess), visit=later, to="in_progress")
        # A session that began before a maintenance plan was decided is not stopped at its dose.
        begun = session(avery, tess, room, days=-0.02, status="in_progress")
        assert course_gate(avery, visit=begun).status.value == "pass"


class TestTheDashboard:
    def test_the_other_signer_is_told(self, login, tess, priya, avery):
        make_plan(avery, tess)
        write(login(tess), avery, decision="continue")
        review = CourseReview.objects.get()
        for user in (tess, priya):
            page = login(user).get(reverse("home")).content.decode()
            assert "Course reviews waiting for your signature" in page
            assert reverse("course:review_detail", args=[avery.pk, review.pk]) in page
        sign(login(tess), review)
        assert (
            reverse("course:review_detail", args=[avery.pk, review.pk])
            not in login(tess).get(reverse("home")).content.decode()
        )
        page = login(priya).get(reverse("home")).content.decode()
        assert reverse("course:review_detail", args=[avery.pk, review.pk]) in page
        assert "the therapist has signed" in page

    def test_the_list_reads_the_same_queries_for_one_review_as_for_several(self, login, tess, priya, avery):
        """The list reads only the columns it shows (kapflow.course.reviews.reviews_to_sign): a
        column the page shows and the query left out would be read again for each review."""
        http = login(priya)

        def queries() -> tuple[int, str]:
            with CaptureQueriesContext(connection) as captured:
                page = http.get(reverse("home")).content.decode()
            return len(captured), page

        make_plan(avery, tess)
        write(login(tess), avery, decision="continue")
        http.get(reverse("home"))  # a session's first page does its one-off checks
        one, _page = queries()
        for name in ("Blake", "Casey"):
            client = factories.make_client(first_name=name, therapist=tess, prescriber=priya)
            make_plan(client, tess)
            write(login(tess), client, decision="continue")
        several, page = queries()
        assert several == one
        assert page.count("written ") == 3 and page.count("by Tess Therapist") == 3

    def test_show_all_lists_every_review_waiting_and_only_for_clinicians(self, login, tess, priya, cora, ada):
        clients = []
        for n in range(SHOWN + 1):
            client = factories.make_client(first_name=f"Rev{n:02}", therapist=tess, prescriber=priya)
            CourseReview.objects.create(
                client=client,
                plan=make_plan(client, tess),
                summary="Going well.",
                decision="continue",
                written_by=tess,
                therapist_signed_by=tess,
                therapist_signed_at=timezone.now(),
            )
            clients.append(client)
        http = login(priya)
        page = http.get(reverse("home")).content.decode()
        assert clients[SHOWN].display_name not in page and reverse("queue_reviews") in page
        body = http.get(reverse("queue_reviews")).content.decode()
        assert all(client.display_name in body for client in clients)
        assert body.count("by Tess Therapist · the therapist has signed") == SHOWN + 1
        # Tess signed them all: none waits for her signature, and her list says so.
        assert "Nothing here now." in login(tess).get(reverse("queue_reviews")).content.decode()
        for user in (cora, ada):
            assert login(user).get(reverse("queue_reviews")).status_code == 403

    def test_a_clinician_of_another_client_is_not_told(self, login, colin, tess, avery):
        make_plan(avery, tess)
        write(login(tess), avery, decision="continue")
        page = login(colin).get(reverse("home")).content.decode()
        assert avery.display_name not in page


class TestMaintenance:
    def maintenance_plan(self, client, by, *, weeks=6, began_days_ago=40) -> CoursePlan:
        return make_plan(
            client,
            by,
            kind="maintenance",
            maintenance_weeks=weeks,
            planned=3,
            review_after="",
            counts_from=timezone.now() - began_days_ago * DAY,
        )

    def test_the_next_session_is_due_weeks_after_the_latest_held(self, tess, avery, room):
        self.maintenance_plan(avery, tess)
        latest = session(avery, tess, room, days=-38)
        [item] = maintenance.due()
        assert item.after_visit_id == latest.pk
        assert abs(item.due_at - (latest.starts_at + datetime.timedelta(weeks=6))) < datetime.timedelta(
            seconds=1
        )

    def test_a_session_not_due_within_the_week_or_already_booked_is_not_listed(self, tess, avery, room):
        self.maintenance_plan(avery, tess)
        session(avery, tess, room, days=-20)
        assert maintenance.due() == []
        session(avery, tess, room, days=-38)
        assert maintenance.due() == []  # the latest held counts: 20 days ago
        with_booking = factories.make_client(first_name="Blake", therapist=tess)
        self.maintenance_plan(with_booking, tess)
        session(with_booking, tess, room, days=-40)
        assert [item.client for item in maintenance.due()] == [with_booking]
        session(with_booking, tess, room, days=5, status="scheduled")
        assert maintenance.due() == []

    def test_a_session_checked_in_and_still_running_is_booked_and_one_that_ended_is_not(
        self, tess, avery, room
    ):
        """Booked: scheduled or checked in and not yet over. The query looks for it no further
        back than the longest a visit can be (LONGEST_VISIT), from the index on the start."""
        self.maintenance_plan(avery, tess)
        session(avery, tess, room, days=-40)
        running = session(avery, tess, room, days=-1 / 24, status="checked_in")  # began an hour ago
        assert maintenance.due() == []
        running.starts_at -= datetime.timedelta(hours=2)  # ended an hour ago, never begun
        running.ends_at -= datetime.timedelta(hours=2)
        running.save(update_fields=["starts_at", "ends_at"])
        assert [item.client for item in maintenance.due()] == [avery]

    def test_a_limit_gives_the_soonest_due_first_as_the_whole_list_has_them(self, tess, room):
        for n in range(4):
            client = factories.make_client(first_name=f"Due{n}", therapist=tess)
            self.maintenance_plan(client, tess, began_days_ago=60 + 7 * ((n * 3) % 4))
        whole = maintenance.due()
        assert len(whole) == 4 and [item.due_at for item in whole] == sorted(item.due_at for item in whole)
        assert maintenance.due(limit=2) == whole[:2]

    @given(
        plans=st.lists(
            st.tuples(
                # When the plan began counting, to the microsecond, up to two years ago.
                st.integers(min_value=0, max_value=2 * 365 * 86_400 * 10**6),
                st.integers(min_value=1, max_value=60),
            ),
            min_size=1,
            max_size=5,
        )
    )
    def test_the_database_works_out_each_due_day_as_python_would(self, tess, plans):
        """due_plans adds the weeks in SQL (maintenance.Weeks): an interval on PostgreSQL, a
        count of microseconds through Django's date arithmetic on SQLite. Each plan's due day is
        its start plus its weeks to the microsecond, listed when within the week ahead, soonest
        first."""
        now = timezone.now()
        made = []
        for began_us, weeks in plans:
            client = factories.make_client(first_name="Due", therapist=tess)
            since = now - datetime.timedelta(microseconds=began_us)
            plan = self.maintenance_plan(client, tess, weeks=weeks, began_days_ago=0)
            CoursePlan.objects.filter(pk=plan.pk).update(counts_from=since)
            made.append((since + datetime.timedelta(weeks=weeks), plan.pk, since, client))
        horizon = now + datetime.timedelta(days=maintenance.DUE_AHEAD_DAYS)
        expected = sorted((due_at, pk, since) for due_at, pk, since, _client in made if due_at <= horizon)
        ours = Client.objects.filter(pk__in=[client.pk for *_rest, client in made])
        found = maintenance.due(clients=ours, now=now)
        assert [(item.due_at, item.plan.pk, item.since) for item in found] == expected
        assert all(item.after_visit_id is None for item in found)

    def test_the_care_team_sees_it_on_the_dashboard(self, login, tess, colin, avery, room):
        self.maintenance_plan(avery, tess)
        session(avery, tess, room, days=-40)
        page = login(tess).get(reverse("home")).content.decode()
        assert "Maintenance sessions due" in page and avery.display_name in page
        assert avery.display_name not in login(colin).get(reverse("home")).content.decode()

    def test_the_dashboard_shows_the_soonest_and_the_whole_list_pages_the_rest(
        self, login, tess, colin, priya
    ):
        """More due than the dashboard shows: "Show all" opens the whole list, soonest first, a
        page at a time, with the care team's clients only, and audits the clients it names."""
        clients = []
        for n in range(SHOWN + 2):
            client = factories.make_client(first_name=f"Due{n:02}", therapist=tess, prescriber=priya)
            self.maintenance_plan(client, tess, began_days_ago=60 - n)  # Due00 is the most overdue
            clients.append(client)
        theirs = factories.make_client(first_name="Olive", therapist=colin)
        self.maintenance_plan(theirs, colin, began_days_ago=90)
        for user in (tess, priya):
            http = login(user)
            page = http.get(reverse("home")).content.decode()
            assert clients[SHOWN - 1].display_name in page and clients[SHOWN].display_name not in page
            assert reverse("queue_maintenance") in page
            whole = http.get(reverse("queue_maintenance"))
            assert whole.status_code == 200
            body = whole.content.decode()
            names = [client.display_name for client in clients]
            assert sorted(names, key=body.index) == names  # soonest due first
            assert "Olive" not in body
            assert "overdue since" in body and "every 6 weeks · none booked" in body
            assert reverse("visits:new", args=[clients[0].pk]) + "?kind=medication" in body
            row = AuditEvent.objects.filter(action="kapflow.dashboard.list_viewed").latest("pk")
            assert row.actor == user
            assert row.detail == {"list": "maintenance", "page": 1, "clients": sorted(c.pk for c in clients)}
        colins = login(colin)
        assert clients[0].display_name not in colins.get(reverse("home")).content.decode()
        body = colins.get(reverse("queue_maintenance")).content.decode()
        assert "Olive" in body and clients[0].display_name not in body

    def test_the_whole_list_costs_the_same_queries_however_many_are_due(self, login, tess):
        http = login(tess)
        http.get(reverse("home"))  # the session's first request checks the authenticator once

        def grow(count):
            for _ in range(count):
                self.maintenance_plan(factories.make_client(therapist=tess), tess, began_days_ago=50)

        def queries(url) -> int:
            with CaptureQueriesContext(connection) as captured:
                assert http.get(url).status_code == 200
            return len(captured)

        urls = (reverse("home"), reverse("queue_maintenance"))
        grow(2)
        small = {url: queries(url) for url in urls}
        grow(QUEUE_PAGE_SIZE)
        assert {url: queries(url) for url in urls} == small
        assert queries(reverse("queue_maintenance") + "?page=2") == small[reverse("queue_maintenance")]

    def test_the_client_is_reminded_once(self, cleo, tess, avery, room, django_capture_on_commit_callbacks):
        avery.portal_user = cleo
        avery.save(update_fields=["portal_user"])
        self.maintenance_plan(avery, tess)
        session(avery, tess, room, days=-40)
        now = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            made = reminder_services.sweep(now)
        reminders = [r for r in made if r.kind == Reminder.Kind.MAINTENANCE]
        assert [r.recipient for r in reminders] == [cleo]
        with django_capture_on_commit_callbacks(execute=True):
            again = reminder_services.sweep(now + datetime.timedelta(hours=1))
        assert not [r for r in again if r.kind == Reminder.Kind.MAINTENANCE]
        assert Reminder.objects.filter(kind=Reminder.Kind.MAINTENANCE).count() == 1
        sent = [m for m in mail.outbox if "book your next appointment" in m.subject]
        assert len(sent) == 1 and "maintenance" not in sent[0].body.lower()

    def test_a_reminder_whose_session_was_booked_meanwhile_is_not_needed(self, cleo, tess, avery, room):
        from kapflow.reminders import sources
        from kapflow.reminders.sources import still_due

        avery.portal_user = cleo
        avery.save(update_fields=["portal_user"])
        self.maintenance_plan(avery, tess)
        session(avery, tess, room, days=-40)
        [due] = sources.maintenance(timezone.now(), timezone.now(), Practice.load())
        reminder = Reminder.objects.create(
            key=due.key, kind=due.kind, recipient=cleo, address=cleo.email, client=avery, due_at=due.due_at
        )
        assert still_due([reminder], timezone.now()) == {reminder.pk}
        session(avery, tess, room, days=3, status="scheduled")
        assert still_due([reminder], timezone.now()) == set()


# Hostile input: never a 500; a form with errors says what to fix, keeping what was typed.

REVIEW_VALID = {
    "held_on": str(timezone.localdate()),
    "visit": "",
    "summary": "PHQ-9 from 18 to 9; no adverse events.",
    "decision": "extend",
    "extend_to": "8",
    "maintenance_weeks": "6",
    "maintenance_sessions": "3",
}


@hostile.FUZZ
@given(
    data=hostile._body(
        REVIEW_VALID,
        numbers=["extend_to", "maintenance_weeks", "maintenance_sessions", "visit"],
        dates=["held_on"],
        choices=["decision"],
        extra=["client", "plan", "facts", "decided_at", "new_plan", "written_by", "therapist_signed_by"],
    )
)
@example(data={**REVIEW_VALID, "extend_to": str(2**63)})
@example(data={**REVIEW_VALID, "decision": "maintenance", "maintenance_weeks": "1e309"})
@example(data={**REVIEW_VALID, "visit": "99999999999999999999"})
@example(data={**REVIEW_VALID, "summary": "\x00"})
def test_the_review_form_takes_anything(browser, tess, avery, data):
    CourseReview.objects.all().delete()  # unsigned, so deletable: one open review a client
    CoursePlan.objects.get_or_create(
        client=avery, defaults={"goals": "g", "planned_sessions": 3, "updated_by": tess}
    )
    http = browser(tess)
    hostile._saved_and_shown(
        http, http.post(reverse("course:review_new", args=[avery.pk]), data), data, ["summary"]
    )


@hostile.FUZZ
@given(role=st.one_of(st.sampled_from(["therapist", "prescriber", "", "admin"]), hostile.hostile_value))
def test_the_sign_form_takes_anything(browser, tess, priya, role):
    # A client of their own for each example: a signed review is never deleted.
    client = factories.make_client(first_name="Sam", therapist=tess, prescriber=priya)
    plan = CoursePlan.objects.create(client=client, goals="g", planned_sessions=3, updated_by=tess)
    review = CourseReview.objects.create(
        client=client, plan=plan, summary="s", decision="continue", written_by=tess
    )
    response = browser(tess).post(reverse("course:review_sign", args=[client.pk, review.pk]), {"role": role})
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.prescriber_signed_at is None
    # A list is sent as the field given several times, and the form reads the last of them.
    read = role[-1] if isinstance(role, list) else role
    assert review.therapist_signed_by_id == (tess.pk if read in ("therapist", "") else None)
