"""Where a client is in their course (issue 15, part 4; docs/course.md, "The course position"):
"Session 4 of 8 (fortnightly)" on the chart, the runbook, the visit page and the portal; the
review point reached and the progress review it asks for; the plan form's count, fixed once a
session has begun; a new course after a discharge; the stage once the first session begins."""

import datetime

import pytest
from django.db import DatabaseError, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from kapflow.course.reviews import course_card, session_label
from kapflow.measures.models import MeasureTask
from kapflow.pathway import services as pathway_services
from kapflow.pathway.course import complete_plans, position
from kapflow.pathway.forms import CoursePlanForm
from kapflow.pathway.models import CoursePlan
from kapflow.visits import services as visit_services
from kapflow.visits.models import Room, Visit

DAY = datetime.timedelta(days=1)


@pytest.fixture
def room(db):
    return Room.objects.create(name="Cedar")


def make_plan(client, by, *, planned=8, review_after="3, 6", **fields) -> CoursePlan:
    return CoursePlan.objects.create(
        client=client,
        goals="Ease low mood.",
        planned_sessions=planned,
        cadence="fortnightly",
        review_after=review_after,
        updated_by=by,
        **fields,
    )


def session(client, clinician, room, *, days: float, status="completed", kind="medication") -> Visit:
    """A medication session `days` from now (negative: in the past)."""
    starts = timezone.now() + datetime.timedelta(days=days)
    return Visit.objects.create(
        cancel_reason="Unwell" if status == "cancelled" else "",
        client=client,
        kind=kind,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=2),
        room=room,
        clinician=clinician,
        created_by=clinician,
        status=status,
    )


def fake_request(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


class TestTheChartsCourseCard:
    def test_it_says_where_the_course_stands_and_that_a_review_is_due(self, login, tess, avery, room):
        make_plan(avery, tess)
        for n in range(3):
            session(avery, tess, room, days=-30 + 14 * n)
        session(avery, tess, room, days=10, status="scheduled")
        page = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
        assert "Session 3 of 8 (fortnightly)" in page
        assert "Review points reached: after session 3" in page
        assert "Review due after session 3" in page
        book = reverse("visits:new", args=[avery.pk]) + "?kind=progress_review"
        assert f'href="{book}"' in page

    def test_a_review_written_since_the_point_was_reached_answers_it(self, tess, priya, avery, room):
        from kapflow.course.models import CourseReview

        plan = make_plan(avery, tess)
        for n in range(3):
            session(avery, tess, room, days=-30 + 7 * n)
        assert course_card(avery).review_due == 3
        CourseReview.objects.create(
            client=avery, plan=plan, summary="s", decision="continue", written_by=tess
        )
        assert course_card(avery).review_due is None

    def test_a_booked_progress_review_is_named_instead_of_the_booking_link(self, login, tess, avery, room):
        make_plan(avery, tess)
        for n in range(3):
            session(avery, tess, room, days=-30 + 7 * n)
        session(avery, tess, room, days=3, status="scheduled", kind="progress_review")
        page = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
        assert "progress review booked for" in page
        assert "?kind=progress_review" not in page

    def test_the_chart_shows_the_course_to_clinicians_only(self, login, cora, avery, tess):
        make_plan(avery, tess)
        page = login(cora).get(reverse("clients:chart", args=[avery.pk])).content.decode()
        assert 'id="course-h"' not in page

    def test_the_card_reads_the_same_number_of_queries_whatever_the_sessions(
        self, tess, avery, room, django_assert_max_num_queries
    ):
        make_plan(avery, tess, planned=30)
        for n in range(3):
            session(avery, tess, room, days=-60 + n)
        with django_assert_max_num_queries(4):
            course_card(avery)
        for n in range(20):
            session(avery, tess, room, days=-50 + n)
        with django_assert_max_num_queries(4):
            course_card(avery)


def test_booking_the_progress_review_asks_for_the_three_measures_before_it(login, tess, avery, room):
    avery.stage = "course"
    avery.save(update_fields=["stage"])
    starts = timezone.localtime(timezone.now() + 5 * DAY).replace(hour=10, minute=0, second=0, microsecond=0)
    page = login(tess).get(reverse("visits:new", args=[avery.pk]) + "?kind=progress_review")
    assert page.context["form"].initial["kind"] == "progress_review"
    response = login(tess).post(
        reverse("visits:new", args=[avery.pk]),
        {
            "kind": "progress_review",
            "starts_at": starts.strftime("%Y-%m-%dT%H:%M"),
            "minutes": 60,
            "clinician": tess.pk,
            "modality": "in_person",
            "room": room.pk,
        },
    )
    assert response.status_code == 302
    visit = Visit.objects.get(client=avery, kind="progress_review")
    asked = MeasureTask.objects.filter(client=avery, visit=visit, withdrawn_at__isnull=True)
    assert sorted(asked.values_list("instrument", flat=True)) == ["gad7", "pcl5", "phq9"]
    assert all(task.due_at <= visit.starts_at for task in asked)


class TestTheSessionLine:
    def test_the_runbook_and_the_visit_page_name_the_session(self, login, tess, avery, room):
        make_plan(avery, tess)
        session(avery, tess, room, days=-14)
        visit = session(avery, tess, room, days=0.2, status="scheduled")
        for name in ("dosing:runbook", "visits:detail"):
            page = login(tess).get(reverse(name, args=[avery.pk, visit.pk])).content.decode()
            assert "Session 2 of 8 (fortnightly)" in page, name

    def test_a_coordinator_does_not_see_the_line(self, login, cora, tess, avery, room):
        make_plan(avery, tess)
        visit = session(avery, tess, room, days=2, status="scheduled")
        page = login(cora).get(reverse("visits:detail", args=[avery.pk, visit.pk])).content.decode()
        assert "of 8 (fortnightly)" not in page

    def test_a_session_past_the_count_says_it_needs_a_review(self, tess, avery, room):
        make_plan(avery, tess, planned=1, review_after="")
        session(avery, tess, room, days=-14)
        extra = session(avery, tess, room, days=3, status="scheduled")
        assert "past the 1 planned: a course review must extend" in session_label(position(avery), extra)

    def test_cancelled_sessions_and_other_visits_do_not_count(self, tess, avery, room):
        make_plan(avery, tess)
        session(avery, tess, room, days=-20, status="cancelled")
        other = session(avery, tess, room, days=-10, kind="integration")
        visit = session(avery, tess, room, days=3, status="scheduled")
        current = position(avery)
        assert session_label(current, visit) == "Session 1 of 8 (fortnightly)"
        assert session_label(current, other) == ""

    def test_the_portal_names_each_upcoming_medication_session(self, login, cleo, tess, avery, room):
        avery.portal_user = cleo
        avery.save(update_fields=["portal_user"])
        make_plan(avery, tess)
        session(avery, tess, room, days=-14)
        session(avery, tess, room, days=3, status="scheduled")
        session(avery, tess, room, days=17, status="scheduled")
        session(avery, tess, room, days=5, status="scheduled", kind="integration")
        page = login(cleo).get(reverse("portal:client_home", args=[avery.pk])).content.decode()
        assert "Session 2 of 8 (fortnightly)" in page and "Session 3 of 8 (fortnightly)" in page
        assert page.count("of 8 (fortnightly)") == 2


class TestThePlanForm:
    DATA = {
        "goals": "Ease low mood.",
        "planned_sessions": "8",
        "cadence": "fortnightly",
        "modality": "in_person",
        "integration_after_each": "on",
        "review_after": "3, 6",
    }

    def test_the_count_is_fixed_once_a_session_of_the_plan_has_begun(self, login, tess, avery, room):
        plan = make_plan(avery, tess)
        url = reverse("pathway:plan", args=[avery.pk])
        assert not login(tess).get(url).context["form"].fields["planned_sessions"].disabled
        session(avery, tess, room, days=-1, status="in_progress")
        page = login(tess).get(url)
        assert page.context["form"].fields["planned_sessions"].disabled
        assert "changes by a course review" in page.content.decode()
        login(tess).post(url, {**self.DATA, "planned_sessions": "20", "goals": "Sleep better."})
        plan.refresh_from_db()
        assert plan.planned_sessions == 8 and plan.goals == "Sleep better."

    def test_the_service_refuses_a_new_count_once_a_session_has_begun(self, tess, avery, room):
        plan = make_plan(avery, tess)
        session(avery, tess, room, days=-1)
        form = CoursePlanForm({**self.DATA, "planned_sessions": "12"}, instance=plan)
        assert form.is_valid()
        with pytest.raises(pathway_services.PlanRefused, match="changes by a course review"):
            pathway_services.course_plan_save(request=fake_request(tess), client=avery, form=form)
        plan.refresh_from_db()
        assert plan.planned_sessions == 8

    def test_after_a_discharge_a_new_course_is_planned_and_the_old_kept(
        self, login, tess, avery, room, audit_rows
    ):
        old = make_plan(avery, tess, planned=2)
        session(avery, tess, room, days=-30)
        session(avery, tess, room, days=-16)
        CoursePlan.objects.filter(pk=old.pk).update(ended_at=timezone.now() - DAY)
        url = reverse("pathway:plan", args=[avery.pk])
        page = login(tess).get(url)
        assert "Plan a new course" in page.content.decode()
        assert page.context["form"].initial["goals"] == "Ease low mood."
        response = login(tess).post(url, {**self.DATA, "planned_sessions": "4", "review_after": "2"})
        assert response.status_code == 302
        new = CoursePlan.objects.current().get(client=avery)
        assert (new.course_number, new.planned_sessions, new.kind) == (2, 4, "course")
        assert new.counts_from is not None and new.counts_from > old.created_at
        old.refresh_from_db()
        assert old.superseded_at is not None and old.planned_sessions == 2
        # The new course counts its own sessions: none held yet.
        assert position(avery).held == 0
        assert audit_rows("kapflow.pathway.course_plan.superseded")[0].detail["why"] == "new_course"
        chart = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
        assert "Earlier versions of the plan (1)" in chart

    def test_two_first_plans_written_at_once_keep_one_and_refuse_the_other(self, monkeypatch, tess, avery):
        """Nothing is in force to lock for a first plan: the database's one plan in force settles a
        race, and the second writer is told, not shown an error page."""
        form = CoursePlanForm(self.DATA)
        assert form.is_valid()
        make_plan(avery, tess)  # written by another clinician a moment before
        # As if read before that plan was: the lock found nothing, and the form's own check ran.
        monkeypatch.setattr("kapflow.course.reviews.lock_plan_in_force", lambda client: None)
        monkeypatch.setattr(CoursePlan, "full_clean", lambda self, **kwargs: None)
        with pytest.raises(pathway_services.PlanRefused, match="written meanwhile"):
            pathway_services.course_plan_save(request=fake_request(tess), client=avery, form=form)
        assert CoursePlan.objects.filter(client=avery).count() == 1

    def test_a_superseded_version_cannot_be_changed_at_the_database(self, tess, avery):
        old = make_plan(avery, tess)
        CoursePlan.objects.filter(pk=old.pk).update(superseded_at=timezone.now())
        with pytest.raises(DatabaseError), transaction.atomic():
            CoursePlan.objects.filter(pk=old.pk).update(planned_sessions=20)


def test_the_first_medication_session_moves_the_client_into_the_course(
    pathway_ready, tess, avery, room, audit_rows
):
    avery.stage = "preparation"
    avery.save(update_fields=["stage"])
    make_plan(avery, tess)
    visit = session(avery, tess, room, days=0.01, status="scheduled")
    visit_services.visit_transition(request=fake_request(tess), visit=visit, to="in_progress")
    avery.refresh_from_db()
    assert avery.stage == "course"
    assert audit_rows("kapflow.clients.client.stage_changed")[-1].detail == {"stage": "course"}


def test_a_client_in_maintenance_stays_there_when_a_session_begins(pathway_ready, tess, avery, room):
    avery.stage = "maintenance"
    avery.save(update_fields=["stage"])
    make_plan(avery, tess, kind="maintenance", maintenance_weeks=6, planned=3, review_after="")
    visit = session(avery, tess, room, days=0.01, status="scheduled")
    visit_services.visit_transition(request=fake_request(tess), visit=visit, to="in_progress")
    avery.refresh_from_db()
    assert avery.stage == "maintenance"


STATUSES = ("scheduled", "checked_in", "in_progress", "completed", "cancelled", "no_show")


@pytest.mark.parametrize("counts_from_days", [None, -10])
@pytest.mark.parametrize("planned", [1, 2, 3])
def test_the_database_finds_the_complete_plans_that_the_position_calls_complete(
    avery, tess, room, planned, counts_from_days
):
    """complete_plans() (the prescriber's orders-waiting list leaves these clients out) works out
    in SQL what Position.complete says: every session counted, each status, before and after
    the plan's counts_from."""
    counts_from = None if counts_from_days is None else timezone.now() + counts_from_days * DAY
    plan = make_plan(avery, tess, planned=planned, review_after="", counts_from=counts_from)
    for n, status in enumerate(STATUSES * 4):
        # A session a day from twenty days ago, of each status in turn: some before counts_from.
        session(avery, tess, room, days=-20 + n, status=status)
        expected = position(avery, plan=plan).complete
        assert complete_plans().filter(pk=plan.pk).exists() == expected, (n, status)
    assert position(avery, plan=plan).complete  # the loop reached a complete plan
