"""Roles cannot be stretched (issue 11, item 7): the stage moves only through the records that
move it or a clinician's reasoned change; nobody adds themselves to a care team, and a clinician
not on the team cannot reach it; care-team changes are confirmed and name who made them; a
practice admin cannot give themselves a clinical role. Each rule is tried at the service and
through the page."""

import pytest
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from kapflow.accounts import services as account_services
from kapflow.accounts.forms import StaffForm
from kapflow.accounts.models import User
from kapflow.clients import services
from kapflow.clients.forms import ClientForm
from kapflow.clients.models import CareTeamMember, Client, StageChange
from kapflow.practice.models import Practice
from tests import factories


def as_request(user: User):
    request = RequestFactory().post("/")
    request.user = user
    return request


def edit_data(http, client: Client, **changes) -> dict:
    """The demographics form as the page fills it in, with `changes` typed over it."""
    form = http.get(reverse("clients:edit", args=[client.pk])).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data["date_of_birth"] = client.date_of_birth.isoformat()
    return {**data, **changes}


class TestStageIsNotADemographic:
    @pytest.mark.parametrize("who", ["cora", "tess"])
    def test_posting_a_stage_in_the_demographics_form_does_not_change_it(self, request, login, avery, who):
        http = login(request.getfixturevalue(who))
        response = http.post(
            reverse("clients:edit", args=[avery.pk]), edit_data(http, avery, stage="discharged", city="Ojai")
        )
        assert response.status_code == 302
        avery.refresh_from_db()
        assert avery.city == "Ojai"  # the rest of the form was saved...
        assert avery.stage == Client.Stage.CONSULTATION  # ...but not the stage

    def test_the_form_has_no_stage_to_offer(self, login, cora, avery):
        assert "stage" not in ClientForm.base_fields
        assert (
            'name="stage"' not in login(cora).get(reverse("clients:edit", args=[avery.pk])).content.decode()
        )

    def test_the_update_service_ignores_a_stage_posted_to_it(self, cora, avery):
        data = {
            "first_name": avery.first_name,
            "last_name": avery.last_name,
            "date_of_birth": avery.date_of_birth.isoformat(),
            "phone": avery.phone,
            "preferred_contact": "phone",
            "stage": "discharged",
        }
        form = ClientForm(data, instance=avery)
        assert form.is_valid(), form.errors
        services.client_update(request=as_request(cora), form=form)
        assert Client.objects.get(pk=avery.pk).stage == Client.Stage.CONSULTATION

    def test_a_new_client_always_starts_at_consultation(self, login, cora):
        login(cora).post(
            reverse("clients:new"),
            {
                "first_name": "Jordan",
                "last_name": "Hughes",
                "date_of_birth": "1985-01-21",
                "phone": "555 7788",
                "preferred_contact": "phone",
                "stage": "discharged",
            },
        )
        assert Client.objects.get(last_name="Hughes").stage == Client.Stage.CONSULTATION


class TestStageChangeByAClinician:
    def test_the_clients_therapist_changes_it_with_a_reason_and_it_is_audited(
        self, login, tess, avery, audit_rows
    ):
        response = login(tess).post(
            reverse("clients:stage", args=[avery.pk]),
            {"to_stage": "not_proceeding", "reason": "Chose another treatment after the consultation."},
        )
        assert response.status_code == 302
        avery.refresh_from_db()
        assert avery.stage == Client.Stage.NOT_PROCEEDING
        change = StageChange.objects.get(client=avery)
        assert (change.from_stage, change.to_stage, change.changed_by) == (
            "consultation",
            "not_proceeding",
            tess,
        )
        row = audit_rows("kapflow.clients.client.stage_changed")[0]
        assert row.actor == tess and row.client == avery and row.detail["stage"] == "not_proceeding"
        assert "treatment" not in str(row.detail)  # the reason stays on the record, not in the log

    def test_it_asks_for_a_reason_and_keeps_what_was_typed(self, login, tess, avery):
        response = login(tess).post(reverse("clients:stage", args=[avery.pk]), {"to_stage": "discharged"})
        assert (
            response.status_code == 200
            and "Say why the client moves to this stage." in response.content.decode()
        )
        avery.refresh_from_db()
        assert avery.stage == Client.Stage.CONSULTATION

    def test_the_coordinator_cannot_use_it(self, login, cora, avery):
        assert login(cora).get(reverse("clients:stage", args=[avery.pk])).status_code == 403
        with pytest.raises(services.StageChangeRefused):
            services.stage_change(request=as_request(cora), client=avery, to_stage="discharged", reason="x")
        assert Client.objects.get(pk=avery.pk).stage == Client.Stage.CONSULTATION

    def test_a_clinician_outside_the_clients_care_gets_404_and_the_service_refuses(self, login, colin, avery):
        response = login(colin).post(
            reverse("clients:stage", args=[avery.pk]), {"to_stage": "discharged", "reason": "x"}
        )
        assert response.status_code == 404
        with pytest.raises(services.StageChangeRefused):
            services.stage_change(request=as_request(colin), client=avery, to_stage="discharged", reason="x")
        assert Client.objects.get(pk=avery.pk).stage == Client.Stage.CONSULTATION


class TestNobodyAddsThemselves:
    def test_a_clinician_cannot_add_themselves_to_another_team(self, tess, olive):
        with pytest.raises(services.CareTeamRefused, match="cannot add yourself"):
            services.care_team_add(request=as_request(tess), client=olive, user=tess, role="therapist")
        assert not olive.care_team.filter(user=tess).exists()

    def test_a_clinician_on_the_team_cannot_change_their_own_role(self, tess, avery):
        with pytest.raises(services.CareTeamRefused):
            services.care_team_add(request=as_request(tess), client=avery, user=tess, role="therapist")
        assert avery.care_team.get(user=tess).role == CareTeamMember.Role.PRIMARY_THERAPIST

    def test_an_admin_who_is_also_a_therapist_cannot_add_themselves(self, olive):
        owner = factories.make_user("Owner", roles=("is_practice_admin", "is_therapist"))
        with pytest.raises(services.CareTeamRefused):
            services.care_team_add(request=as_request(owner), client=olive, user=owner, role="therapist")

    def test_the_page_does_not_offer_oneself_and_refuses_it_when_posted(self, login, tess, avery):
        http = login(tess)
        form = http.get(reverse("clients:care_team", args=[avery.pk])).context["form"]
        assert tess not in form.fields["user"].queryset
        response = http.post(
            reverse("clients:care_team", args=[avery.pk]),
            {"user": tess.pk, "role": "therapist", "confirmed": "1"},
        )
        assert response.status_code == 200
        assert avery.care_team.get(user=tess).role == CareTeamMember.Role.PRIMARY_THERAPIST

    def test_a_clinician_not_on_the_team_cannot_reach_it_even_with_an_open_caseload(
        self, login, colin, priya, avery
    ):
        Practice.objects.update_or_create(pk=1, defaults={"open_caseload": True})
        http = login(colin)
        assert http.get(reverse("clients:chart", args=[avery.pk])).status_code == 200  # open caseload
        assert http.get(reverse("clients:care_team", args=[avery.pk])).status_code == 404
        response = http.post(
            reverse("clients:care_team", args=[avery.pk]),
            {"user": colin.pk, "role": "therapist", "confirmed": "1"},
        )
        assert response.status_code == 404
        member = avery.care_team.get(user=priya)
        assert (
            http.post(
                reverse("clients:care_team_remove", args=[avery.pk, member.pk]), {"confirmed": "1"}
            ).status_code
            == 404
        )
        assert not avery.care_team.filter(user=colin).exists() and avery.care_team.filter(user=priya).exists()
        # The service says the same to a colleague who is not on the team.
        other = factories.make_user("Another Therapist")
        with pytest.raises(services.CareTeamRefused):
            services.care_team_add(request=as_request(colin), client=avery, user=other, role="therapist")
        with pytest.raises(services.CareTeamRefused):
            services.care_team_remove(request=as_request(colin), member=member)

    def test_a_clinician_on_the_team_may_bring_in_a_colleague(self, tess, colin, avery):
        member = services.care_team_add(request=as_request(tess), client=avery, user=colin, role="therapist")
        assert member.added_by == tess

    def test_the_author_of_a_new_record_still_joins_its_team(self, login, priya):
        login(priya).post(
            reverse("clients:new"),
            {
                "first_name": "Jordan",
                "last_name": "Hughes",
                "date_of_birth": "1985-01-21",
                "phone": "555 7788",
                "preferred_contact": "phone",
            },
        )
        member = Client.objects.get(last_name="Hughes").care_team.get()
        assert (member.user, member.added_by) == (priya, priya)


class TestCareTeamChangesAreConfirmedAndSigned:
    def test_adding_asks_first_and_changes_nothing_until_confirmed(self, login, cora, avery):
        raman = factories.make_user("Priya Raman", roles=("is_prescriber",))
        raman.credentials = "MD"
        raman.save(update_fields=["credentials"])
        response = login(cora).post(
            reverse("clients:care_team", args=[avery.pk]), {"user": raman.pk, "role": "prescriber"}
        )
        assert response.status_code == 200
        assert "Add Priya Raman, MD to Avery Alvarez's care team as prescriber?" in response.content.decode()
        assert not avery.care_team.filter(user=raman).exists()

    def test_the_confirmed_change_names_who_made_it_on_the_chart(self, login, cora, tess, avery, audit_rows):
        raman = factories.make_user("Priya Raman", roles=("is_prescriber",))
        response = login(cora).post(
            reverse("clients:care_team", args=[avery.pk]),
            {"user": raman.pk, "role": "prescriber", "confirmed": "1"},
        )
        assert response.status_code == 302
        member = avery.care_team.get(user=raman)
        assert member.added_by == cora and member.added_at is not None
        row = audit_rows("kapflow.clients.care_team.added")[0]
        assert row.actor == cora and row.client == avery
        chart = login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
        # The page gives the day in the practice's time zone, as a test run near midnight shows.
        assert f"added by Cora Coordinator on {timezone.localtime(member.added_at):%-d %B %Y}" in chart

    def test_taking_someone_off_asks_first(self, login, cora, tess, avery, audit_rows):
        member = avery.care_team.get(user=tess)
        response = login(cora).post(reverse("clients:care_team_remove", args=[avery.pk, member.pk]))
        assert response.status_code == 200
        assert "Take Tess Therapist off Avery Alvarez's care team?" in response.content.decode()
        assert avery.care_team.filter(user=tess).exists()
        assert audit_rows("kapflow.clients.care_team.removed") == []


def staff_form(user: User, **roles) -> dict:
    data = {"full_name": user.full_name, "email": user.email}
    data.update({flag: "on" for flag, on in roles.items() if on})
    return data


class TestAnAdminCannotGiveThemselvesAClinicalRole:
    @pytest.mark.parametrize("role", ["is_therapist", "is_prescriber"])
    def test_the_service_refuses_it(self, ada, role):
        form = StaffForm(staff_form(ada, is_practice_admin=True, **{role: True}), instance=ada)
        assert form.is_valid(), form.errors
        with pytest.raises(account_services.SelfGrant):
            account_services.staff_update(request=as_request(ada), form=form)
        ada.refresh_from_db()
        assert not ada.is_therapist and not ada.is_prescriber

    def test_the_page_refuses_it_with_a_message_and_audits_the_attempt(self, login, ada, audit_rows):
        response = login(ada).post(
            reverse("accounts:staff_edit", args=[ada.pk]),
            staff_form(ada, is_practice_admin=True, is_prescriber=True),
        )
        assert response.status_code == 200
        assert "You cannot give yourself the prescriber role. Another practice admin must do it." in (
            response.content.decode()
        )
        ada.refresh_from_db()
        assert not ada.is_prescriber
        assert audit_rows("kapflow.accounts.staff.self_grant_refused")[0].actor == ada
        assert audit_rows("kapflow.accounts.staff.updated") == []

    def test_another_admin_may_give_it(self, login, ada):
        lee = factories.make_user("Lee Park", roles=("is_practice_admin",))
        response = login(lee).post(
            reverse("accounts:staff_edit", args=[ada.pk]),
            staff_form(ada, is_practice_admin=True, is_therapist=True),
        )
        assert response.status_code == 302
        ada.refresh_from_db()
        assert ada.is_therapist

    def test_an_admin_may_give_up_a_clinical_role_and_edit_their_name(self, db, login):
        owner = factories.make_user("Dana Whitfield", roles=("is_practice_admin", "is_therapist"))
        response = login(owner).post(
            reverse("accounts:staff_edit", args=[owner.pk]),
            {**staff_form(owner, is_practice_admin=True), "full_name": "Dana W."},
        )
        assert response.status_code == 302
        owner.refresh_from_db()
        assert owner.full_name == "Dana W." and not owner.is_therapist and owner.is_practice_admin

    def test_a_solo_owner_gets_the_role_from_the_server_command_audited(self, ada, audit_rows):
        call_command("staff_roles", ada.email.upper(), "--add", "therapist")
        ada.refresh_from_db()
        assert ada.is_therapist and ada.is_practice_admin
        row = audit_rows("kapflow.accounts.staff.roles_set_from_command")[0]
        assert row.actor is None and row.detail["added"] == ["therapist"]
