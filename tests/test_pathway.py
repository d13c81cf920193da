import datetime

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from kapflow.clients.models import Client
from kapflow.lib.gates import Status
from kapflow.pathway.models import Consultation, CoursePlan, GateOverride, PreparationSession, Topic
from kapflow.pathway.readiness import consultation_gate, preparation_gate

CONSULTATION = {
    "held_on": "2026-11-20",
    "why_kap": "Years of therapy; still stuck.",
    "history": "Recurrent depression.",
    "previous_treatment": "Two SSRIs, CBT.",
    "supports": "Partner, weekly therapy.",
    "expectations": "Not a cure; a way in.",
    "goals": "Less self-criticism.",
    "decision": "proceed",
}


def prepared(client, clinician, *, topics=None, intentions="To meet the critic with curiosity."):
    return PreparationSession.objects.create(
        client=client,
        clinician=clinician,
        topics=topics if topics is not None else Topic.values,
        intentions=intentions,
    )


class TestConsultationGate:
    def test_it_fails_without_a_consultation_and_names_the_therapist(self, avery):
        result = consultation_gate(avery)
        assert (result.status, result.reason, result.resolver) == (
            Status.FAIL,
            "No consultation recorded yet.",
            "therapist",
        )

    def test_it_passes_when_the_decision_was_to_go_on(self, avery, tess):
        Consultation.objects.create(
            client=avery,
            clinician=tess,
            held_on=datetime.date(2026, 5, 3),
            **{k: v for k, v in CONSULTATION.items() if k not in ("held_on",)},
        )
        result = consultation_gate(avery)
        assert result.passed and result.reason == "Consultation on May 3, 2026: go on to screening."

    def test_the_latest_decision_counts_and_its_reason_is_shown(self, avery, tess):
        fields = {k: v for k, v in CONSULTATION.items() if k not in ("held_on", "decision")}
        Consultation.objects.create(
            client=avery, clinician=tess, held_on=datetime.date(2026, 5, 3), decision="proceed", **fields
        )
        Consultation.objects.create(
            client=avery,
            clinician=tess,
            held_on=datetime.date(2026, 6, 1),
            decision="defer",
            decision_reason="Wants to finish the semester first.",
            **fields,
        )
        result = consultation_gate(avery)
        assert result.status is Status.FAIL
        assert (
            result.reason == "The consultation on Jun 1, 2026 deferred the decision: Wants to finish the "
            "semester first."
        )


class TestPreparationGate:
    def test_it_fails_without_a_session(self, avery):
        assert preparation_gate(avery).reason == "No preparation session yet."

    def test_topics_accumulate_across_sessions_and_missing_ones_are_named(self, avery, tess):
        prepared(avery, tess, topics=Topic.values[:5], intentions="")
        result = preparation_gate(avery)
        assert result.status is Status.FAIL and result.reason.startswith("4 topics not covered yet: how the")
        prepared(avery, tess, topics=Topic.values[5:], intentions="")
        assert preparation_gate(avery).reason == "The client's intentions are not recorded yet."
        prepared(avery, tess, topics=[])
        result = preparation_gate(avery)
        assert result.passed and result.reason.startswith("3 preparation sessions; every topic covered")


class TestConsultationPage:
    def test_the_therapist_records_it_and_the_client_moves_on_to_screening(
        self, login, tess, avery, audit_rows
    ):
        response = login(tess).post(reverse("pathway:consultation_new", args=[avery.pk]), CONSULTATION)
        assert response.status_code == 302
        consultation = Consultation.objects.get()
        assert (consultation.clinician, consultation.decision) == (tess, "proceed")
        avery.refresh_from_db()
        assert avery.stage == Client.Stage.SCREENING
        assert audit_rows("kapflow.pathway.consultation.recorded")[0].client == avery

    def test_not_a_fit_needs_a_reason_and_keeps_what_was_typed(self, login, tess, avery):
        response = login(tess).post(
            reverse("pathway:consultation_new", args=[avery.pk]), {**CONSULTATION, "decision": "not_a_fit"}
        )
        html = response.content.decode()
        assert "Say why, for the record" in html and "Two SSRIs, CBT." in html
        assert not Consultation.objects.exists()

    def test_not_a_fit_moves_the_client_to_not_proceeding(self, login, tess, avery):
        login(tess).post(
            reverse("pathway:consultation_new", args=[avery.pk]),
            {
                **CONSULTATION,
                "decision": "not_a_fit",
                "decision_reason": "Active psychosis.",
                "referral_note": "Referred to Dr Lee.",
            },
        )
        avery.refresh_from_db()
        assert avery.stage == Client.Stage.NOT_PROCEEDING

    def test_a_coordinator_and_an_outsider_cannot_see_it(self, login, cora, colin, avery):
        url = reverse("pathway:consultation_new", args=[avery.pk])
        assert login(cora).get(url).status_code == 403
        assert login(colin).get(url).status_code == 404


class TestPreparationPage:
    def test_it_records_topics_and_intentions(self, login, tess, avery, audit_rows):
        login(tess).post(
            reverse("pathway:preparation_new", args=[avery.pk]),
            {
                "held_on": "2026-11-21",
                "topics": ["awareness", "fears"],
                "intentions": "To feel less alone.",
                "day_of_instructions_given": "on",
            },
        )
        session = PreparationSession.objects.get()
        assert session.topics == ["awareness", "fears"] and session.day_of_instructions_given
        assert audit_rows("kapflow.pathway.preparation.recorded")[0].detail == {
            "topics": ["awareness", "fears"]
        }

    def test_an_empty_session_is_refused_with_a_message(self, login, tess, avery):
        response = login(tess).post(
            reverse("pathway:preparation_new", args=[avery.pk]), {"held_on": "2026-11-21"}
        )
        assert "Tick the topics you covered" in response.content.decode()


class TestCoursePlan:
    def test_it_starts_from_the_practice_default(self, login, tess, avery):
        form = login(tess).get(reverse("pathway:plan", args=[avery.pk])).context["form"]
        assert form["planned_sessions"].value() == 6

    def test_it_saves_and_audits_changes(self, login, tess, avery, audit_rows):
        url = reverse("pathway:plan", args=[avery.pk])
        data = {
            "goals": "Ease depression.",
            "planned_sessions": "6",
            "cadence": "fortnightly",
            "modality": "in_person",
            "integration_after_each": "on",
            "review_after": "6, 3",
        }
        login(tess).post(url, data)
        plan = CoursePlan.objects.get()
        assert plan.review_points == [3, 6] and plan.review_after == "3, 6"
        login(tess).post(url, {**data, "modality": "virtual", "review_after": "3, 6"})
        assert audit_rows("kapflow.pathway.course_plan.updated")[0].detail == {"changed": ["modality"]}

    @pytest.mark.parametrize(
        "change, message",
        [
            ({"cadence": "custom"}, "Describe the custom cadence"),
            ({"review_after": "3, 9"}, "A review after session 9 is beyond the 6 planned."),
            ({"review_after": "three"}, "Use session numbers separated by commas"),
        ],
    )
    def test_it_explains_what_to_fix(self, login, tess, avery, change, message):
        data = {
            "goals": "Ease depression.",
            "planned_sessions": "6",
            "cadence": "fortnightly",
            "modality": "in_person",
            "review_after": "3",
            **change,
        }
        response = login(tess).post(reverse("pathway:plan", args=[avery.pk]), data)
        assert message in response.content.decode() and not CoursePlan.objects.exists()


def test_an_override_needs_a_written_reason(avery, priya):
    with pytest.raises(IntegrityError), transaction.atomic():
        GateOverride.objects.create(client=avery, gate="clearance", prescriber=priya, reason="")


@pytest.mark.parametrize("stage", ["discharged", "not_proceeding"])
def test_the_chart_of_a_client_who_has_left_care_does_not_call_for_action(stage, login, tess, avery):
    """A discharged client's chart said "Not yet" in red with a Resolve link on every gate, as
    if something were overdue."""
    chart = reverse("clients:chart", args=[avery.pk])
    assert 'badge--danger">Not yet' in login(tess).get(chart).content.decode()
    Client.objects.filter(pk=avery.pk).update(stage=stage)
    html = login(tess).get(chart).content.decode()
    label = Client.Stage(stage).label
    assert 'badge--danger">Not yet' not in html and f'badge--quiet">{label}' in html
    assert "nothing here needs doing now" in html
    # The gates are still there, folded away, for when treatment resumes.
    assert "<summary>Where each step stands</summary>" in html and "Contraindication screening" in html


def test_the_chart_of_a_client_moved_out_of_care_by_hand_says_why_and_who_said_so(login, tess, avery):
    """The reason a clinician gave on the stage form is on the chart, where the next person to
    open it looks, not only on the form's history."""
    http = login(tess)
    http.post(
        reverse("clients:stage", args=[avery.pk]),
        {"to_stage": "not_proceeding", "reason": "Chose to wait until after the move abroad."},
    )
    assert Client.objects.get(pk=avery.pk).stage == Client.Stage.NOT_PROCEEDING
    html = http.get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert f"Why, as {tess.display_name} recorded it on " in html
    assert "“Chose to wait until after the move abroad.”" in html
    # A client moved back into care and out again: the latest reason for where they are now.
    http.post(reverse("clients:stage", args=[avery.pk]), {"to_stage": "consultation", "reason": "Back."})
    assert "Why, as" not in http.get(reverse("clients:chart", args=[avery.pk])).content.decode()
    http.post(reverse("clients:stage", args=[avery.pk]), {"to_stage": "not_proceeding", "reason": "Moved."})
    html = http.get(reverse("clients:chart", args=[avery.pk])).content.decode()
    assert "“Moved.”" in html and "move abroad" not in html
    # Back by hand, then found not a fit at a consultation, which moves the stage itself: the
    # older change to "not proceeding" is not why the client is there now.
    http.post(reverse("clients:stage", args=[avery.pk]), {"to_stage": "consultation", "reason": "Again."})
    Client.objects.filter(pk=avery.pk).update(stage=Client.Stage.NOT_PROCEEDING)
    assert "Why, as" not in http.get(reverse("clients:chart", args=[avery.pk])).content.decode()
