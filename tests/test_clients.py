import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from kapflow.clients.models import CareTeamMember, Client, Guardian, OutsideProvider
from kapflow.practice.models import Practice
from tests import factories

NEW_CLIENT = {
    "first_name": "Jordan",
    "last_name": "Hughes",
    "preferred_name": "Jo",
    "pronouns": "they/them",
    "date_of_birth": "1985-01-21",
    "email": "jordan@example.com",
    "phone": "(818) 555-7788",
    "preferred_contact": "phone",
    "stage": "consultation",
}


def names(response):
    return [client.last_name for client in response.context["page"].object_list]


class TestCaseload:
    def test_it_shows_a_therapist_only_their_care_team(self, login, tess, avery, olive):
        assert names(login(tess).get(reverse("clients:caseload"))) == ["Alvarez"]

    def test_it_shows_the_coordinator_every_client(self, login, cora, avery, olive):
        assert names(login(cora).get(reverse("clients:caseload"))) == ["Alvarez", "Okafor"]

    def test_it_opens_every_client_to_clinicians_when_the_practice_says_so(self, login, tess, avery, olive):
        Practice.objects.update_or_create(pk=1, defaults={"open_caseload": True})
        assert names(login(tess).get(reverse("clients:caseload"))) == ["Alvarez", "Okafor"]

    @pytest.mark.parametrize("q", ["alva", "Avery Alv", "1990-05-01", "05/01/1990", "555 0123", "8185550123"])
    def test_it_finds_a_client_by_name_birth_date_or_phone(self, login, cora, olive, q):
        factories.make_client(
            first_name="Avery",
            last_name="Alvarez",
            date_of_birth=datetime.date(1990, 5, 1),
            phone="(818) 555-0123",
        )
        assert names(login(cora).get(reverse("clients:caseload"), {"q": q})) == ["Alvarez"]

    def test_it_filters_by_stage(self, login, cora, avery, olive):
        Client.objects.filter(pk=olive.pk).update(stage=Client.Stage.PREPARATION)
        assert names(login(cora).get(reverse("clients:caseload"), {"stage": "preparation"})) == ["Okafor"]

    def test_it_answers_htmx_with_the_rows_alone(self, login, cora, avery):
        response = login(cora).get(reverse("clients:caseload"), {"q": "alv"}, HTTP_HX_REQUEST="true")
        assert [t.name for t in response.templates][0] == "clients/_caseload_rows.html"
        assert b"<html" not in response.content

    def test_it_says_how_to_search_when_nothing_matches(self, login, cora, avery):
        response = login(cora).get(reverse("clients:caseload"), {"q": "zzz"})
        assert "No client matches that search" in response.content.decode()

    def test_it_audits_the_list_with_the_search(self, login, cora, avery, audit_rows):
        login(cora).get(reverse("clients:caseload"), {"q": "alv"})
        row = audit_rows("kapflow.clients.caseload.viewed")[0]
        assert row.actor == cora and row.detail["q"] == "alv" and row.detail["shown"] == 1


class TestNewClient:
    def test_it_creates_a_client_with_the_therapist_as_primary(self, login, tess, audit_rows):
        form = login(tess).get(reverse("clients:new")).context["form"]
        assert form["primary_therapist"].value() == tess.pk  # offered as the default
        response = login(tess).post(reverse("clients:new"), {**NEW_CLIENT, "primary_therapist": tess.pk})
        client = Client.objects.get(last_name="Hughes")
        assert response.status_code == 302 and response["Location"] == reverse(
            "clients:chart", args=[client.pk]
        )
        assert client.phone_digits == "8185557788" and client.created_by == tess
        assert client.care_team.get().user == tess
        assert audit_rows("kapflow.clients.client.created")[0].client == client

    def test_a_prescriber_who_adds_a_client_can_still_see_them(self, login, priya):
        response = login(priya).post(reverse("clients:new"), NEW_CLIENT)
        client = Client.objects.get(last_name="Hughes")
        assert client.care_team.get().role == CareTeamMember.Role.PRESCRIBER
        assert login(priya).get(response["Location"]).status_code == 200

    def test_the_coordinator_chooses_the_primary_therapist(self, login, cora, colin):
        login(cora).post(reverse("clients:new"), {**NEW_CLIENT, "primary_therapist": colin.pk})
        member = Client.objects.get(last_name="Hughes").care_team.get()
        assert (member.user, member.role) == (colin, CareTeamMember.Role.PRIMARY_THERAPIST)

    def test_a_form_with_errors_keeps_what_was_typed_and_says_what_to_fix(self, login, cora):
        tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
        response = login(cora).post(
            reverse("clients:new"), {**NEW_CLIENT, "date_of_birth": tomorrow, "phone": ""}
        )
        html = response.content.decode()
        assert response.status_code == 200 and not Client.objects.exists()
        assert "The date of birth is in the future. Check the year." in html
        assert "Add a phone number, or choose another way to be contacted." in html
        assert 'value="Jordan"' in html and 'value="jordan@example.com"' in html
        assert 'aria-invalid="true"' in html


class TestChart:
    def test_it_carries_the_banner_with_name_birth_date_age_and_flags(self, login, cora):
        minor = factories.make_client(first_name="Maya", last_name="Okafor", age=16)
        html = login(cora).get(reverse("clients:chart", args=[minor.pk])).content.decode()
        assert "Maya Okafor" in html and minor.date_of_birth.strftime("%b %-d, %Y") in html
        assert "<dd>16</dd>" in html
        assert "Minor" in html and "No guardian who can consent" in html and "No emergency contact" in html

    def test_a_guardian_who_can_consent_clears_that_flag(self, login, cora):
        minor = factories.make_client(age=16)
        factories.add_guardian(minor)
        assert (
            "No guardian who can consent"
            not in login(cora).get(reverse("clients:chart", args=[minor.pk])).content.decode()
        )

    def test_the_minor_flag_follows_the_birthday(self, cora):
        client = factories.make_client(age=17)
        assert client.is_minor
        client.date_of_birth = client.date_of_birth.replace(year=client.date_of_birth.year - 1)
        assert not client.is_minor

    def test_a_therapist_outside_the_care_team_gets_404(self, login, colin, avery, audit_rows):
        assert login(colin).get(reverse("clients:chart", args=[avery.pk])).status_code == 404
        assert audit_rows("kapflow.clients.chart.viewed") == []

    def test_the_coordinator_sees_the_chart_but_not_as_a_clinician(self, login, cora, tess, avery):
        assert login(cora).get(reverse("clients:chart", args=[avery.pk])).context["clinical"] is False
        assert login(tess).get(reverse("clients:chart", args=[avery.pk])).context["clinical"] is True


class TestEditClient:
    def test_it_saves_and_audits_which_fields_changed_but_not_their_values(
        self, login, tess, avery, audit_rows
    ):
        data = {
            **NEW_CLIENT,
            "first_name": "Avery",
            "last_name": "Alvarez",
            "phone": "(818) 555-9999",
            "date_of_birth": avery.date_of_birth.isoformat(),
        }
        login(tess).post(reverse("clients:edit", args=[avery.pk]), data)
        avery.refresh_from_db()
        assert avery.phone_digits == "8185559999"
        row = audit_rows("kapflow.clients.client.updated")[0]
        assert "phone" in row.detail["changed"] and "818" not in str(row.detail)

    def test_saving_nothing_changed_writes_nothing(self, login, tess, avery, audit_rows):
        form = login(tess).get(reverse("clients:edit", args=[avery.pk])).context["form"]
        data = {name: form[name].value() or "" for name in form.fields}
        data["date_of_birth"] = avery.date_of_birth.isoformat()
        assert login(tess).post(reverse("clients:edit", args=[avery.pk]), data).status_code == 302
        assert audit_rows("kapflow.clients.client.updated") == []


class TestCareTeam:
    def test_it_adds_the_prescriber(self, login, tess, colin, audit_rows):
        client = factories.make_client(therapist=tess)
        prescriber = factories.make_user("Dr Rx", roles=("is_prescriber",))
        response = login(tess).post(
            reverse("clients:care_team", args=[client.pk]),
            {"user": prescriber.pk, "role": "prescriber", "confirmed": "1"},
        )
        assert response.status_code == 302
        assert client.care_team.filter(user=prescriber, role="prescriber").exists()
        assert audit_rows("kapflow.clients.care_team.added")[0].detail == {
            "user": prescriber.email,
            "role": "prescriber",
        }

    def test_a_new_primary_therapist_keeps_the_old_one_on_the_team(self, login, cora, tess, colin, avery):
        login(cora).post(
            reverse("clients:care_team", args=[avery.pk]),
            {"user": colin.pk, "role": "primary_therapist", "confirmed": "1"},
        )
        roles = dict(avery.care_team.values_list("user__email", "role"))
        assert roles["colin@example.org"] == "primary_therapist" and roles["tess@example.org"] == "therapist"

    def test_it_refuses_a_prescriber_as_therapist_with_a_clear_message(self, login, tess, priya, avery):
        response = login(tess).post(
            reverse("clients:care_team", args=[avery.pk]), {"user": priya.pk, "role": "therapist"}
        )
        assert "is not a therapist" in response.content.decode()

    def test_taking_a_therapist_off_the_team_takes_away_their_access(
        self, login, cora, tess, avery, audit_rows
    ):
        member = avery.care_team.get(user=tess)
        login(cora).post(reverse("clients:care_team_remove", args=[avery.pk, member.pk]), {"confirmed": "1"})
        assert login(tess).get(reverse("clients:chart", args=[avery.pk])).status_code == 404
        assert audit_rows("kapflow.clients.care_team.removed")[0].detail["user"] == "tess@example.org"

    def test_removal_is_post_only(self, login, cora, avery):
        member = avery.care_team.first()
        assert (
            login(cora).get(reverse("clients:care_team_remove", args=[avery.pk, member.pk])).status_code
            == 405
        )


class TestContacts:
    def test_it_adds_a_guardian_and_audits_it(self, login, tess, avery, audit_rows):
        login(tess).post(
            reverse("clients:contact_new", args=[avery.pk, "guardians"]),
            {
                "name": "Pat",
                "relationship": "mother",
                "email": "pat@example.com",
                "has_legal_authority": "on",
            },
        )
        guardian = Guardian.objects.get(client=avery)
        assert guardian.has_legal_authority
        assert audit_rows("kapflow.clients.guardian.added")[0].object_id == str(guardian.pk)

    def test_a_guardian_needs_a_way_to_be_reached(self, login, tess, avery):
        response = login(tess).post(
            reverse("clients:contact_new", args=[avery.pk, "guardians"]),
            {"name": "Pat", "relationship": "mother"},
        )
        assert "Add a phone number or an email address" in response.content.decode()
        assert 'value="Pat"' in response.content.decode()

    def test_the_release_cannot_be_typed_in_only_signed(self, login, tess, avery, audit_rows):
        provider = OutsideProvider.objects.create(client=avery, name="Dr Lee", kind="therapist")
        login(tess).post(
            reverse("clients:contact_edit", args=[avery.pk, "providers", provider.pk]),
            {
                "name": "Dr Lee",
                "kind": "therapist",
                "phone": "555 0100",
                "release": "signed",
                "release_expires_on": "2099-01-01",
            },
        )
        provider.refresh_from_db()
        assert provider.phone == "555 0100" and provider.release == "not_requested"
        assert audit_rows("kapflow.clients.outside_provider.updated")[0].detail == {"changed": ["phone"]}

    def test_it_removes_an_emergency_contact(self, login, tess, avery, audit_rows):
        contact = avery.emergency_contacts.get()
        login(tess).post(reverse("clients:contact_remove", args=[avery.pk, "emergency-contacts", contact.pk]))
        assert not avery.emergency_contacts.exists()
        assert audit_rows("kapflow.clients.emergency_contact.removed")

    def test_another_clients_contact_is_not_reachable_through_this_client(self, login, cora, avery, olive):
        other = factories.add_emergency_contact(olive)
        url = reverse("clients:contact_edit", args=[avery.pk, "emergency-contacts", other.pk])
        assert login(cora).get(url).status_code == 404

    def test_an_unknown_kind_is_404(self, login, tess, avery):
        assert login(tess).get(f"/clients/{avery.pk}/pets/new/").status_code == 404
