import pytest
from django.core import mail
from django.urls import reverse

from kapflow.clients.models import Client
from kapflow.inquiries.models import Inquiry

pytestmark = pytest.mark.django_db


@pytest.fixture
def send_on_commit(django_capture_on_commit_callbacks):
    """Emails are enqueued once the transaction commits; tests run inside one."""
    return django_capture_on_commit_callbacks


FORM = {
    "first_name": "Rowan",
    "last_name": "Hale",
    "email": "rowan@example.com",
    "phone": "(818) 555-3000",
    "preferred_contact": "email",
    "preferred_time": "evening",
    "source": "search",
    "message": "My therapist suggested KAP for my depression.",
}


@pytest.fixture
def inquiry(db):
    return Inquiry.objects.create(
        first_name="Rowan",
        last_name="Hale",
        email="rowan@example.com",
        phone="(818) 555-3000",
        preferred_contact="email",
        message="Hello",
    )


class TestPublicPage:
    def test_anyone_can_send_an_inquiry_and_gets_a_confirmation(self, client, audit_rows, send_on_commit):
        with send_on_commit(execute=True):
            response = client.post(reverse("start"), FORM)
        assert response.status_code == 302 and response["Location"] == reverse("start_thanks")
        inquiry = Inquiry.objects.get()
        assert (inquiry.status, inquiry.message) == ("new", FORM["message"])
        assert audit_rows("kapflow.inquiries.inquiry.received")[0].actor is None
        [email] = mail.outbox
        assert email.to == ["rowan@example.com"] and "Rowan" in email.body

    def test_the_confirmation_repeats_nothing_they_wrote(self, client, send_on_commit):
        with send_on_commit(execute=True):
            client.post(reverse("start"), FORM)
        [email] = mail.outbox
        assert "depression" not in email.body and "depression" not in email.alternatives[0][0]

    def test_a_form_with_errors_keeps_their_words(self, client):
        response = client.post(reverse("start"), {**FORM, "email": "", "preferred_contact": "email"})
        html = response.content.decode()
        assert response.status_code == 200 and not Inquiry.objects.exists()
        assert "Add your email address so we can write back" in html
        assert "My therapist suggested KAP for my depression." in html

    def test_a_robot_filling_the_hidden_field_is_thanked_and_ignored(self, client):
        response = client.post(reverse("start"), {**FORM, "website": "http://spam.example"})
        assert response["Location"] == reverse("start_thanks")
        assert not Inquiry.objects.exists() and mail.outbox == []

    def test_it_limits_how_many_come_from_one_address(self, client, settings):
        settings.INQUIRY_RATE_PER_HOUR = 2
        for _ in range(2):
            assert client.post(reverse("start"), FORM).status_code == 302
        response = client.post(reverse("start"), FORM)
        assert response.status_code == 429 and Inquiry.objects.count() == 2
        assert "Please try again later" in response.content.decode()
        assert FORM["message"] in response.content.decode()

    def test_the_thanks_page_points_to_crisis_help(self, client):
        assert "988" in client.get(reverse("start_thanks")).content.decode()


class TestInbox:
    def test_the_coordinator_sees_open_inquiries_and_reading_is_audited(
        self, login, cora, inquiry, audit_rows
    ):
        response = login(cora).get(reverse("inquiries:inbox"))
        assert list(response.context["page"].object_list) == [inquiry]
        login(cora).get(reverse("inquiries:detail", args=[inquiry.pk]))
        assert audit_rows("kapflow.inquiries.inquiry.viewed")[0].object_id == str(inquiry.pk)

    def test_triage_saves_a_note_and_who_handled_it(self, login, cora, inquiry, audit_rows):
        login(cora).post(
            reverse("inquiries:detail", args=[inquiry.pk]),
            {"status": "contacted", "triage_note": "Left a voicemail."},
        )
        inquiry.refresh_from_db()
        assert (inquiry.status, inquiry.triage_note, inquiry.handled_by) == (
            "contacted",
            "Left a voicemail.",
            cora,
        )
        assert audit_rows("kapflow.inquiries.inquiry.triaged")[0].detail == {
            "changed": ["status", "triage_note"]
        }

    def test_the_convert_form_is_filled_from_the_inquiry(self, login, cora, inquiry):
        form = login(cora).get(reverse("inquiries:convert", args=[inquiry.pk])).context["form"]
        assert (
            form["first_name"].value(),
            form["email"].value(),
            form["phone"].value(),
            form["preferred_contact"].value(),
        ) == ("Rowan", "rowan@example.com", "(818) 555-3000", "email")

    def test_converting_makes_a_client_and_links_it(self, login, cora, tess, inquiry, audit_rows):
        response = login(cora).post(
            reverse("inquiries:convert", args=[inquiry.pk]),
            {
                "first_name": "Rowan",
                "last_name": "Hale",
                "email": "rowan@example.com",
                "phone": "(818) 555-3000",
                "preferred_contact": "email",
                "date_of_birth": "1988-04-02",
                "stage": "consultation",
                "primary_therapist": tess.pk,
            },
        )
        client = Client.objects.get()
        inquiry.refresh_from_db()
        assert response["Location"] == reverse("clients:chart", args=[client.pk])
        assert (inquiry.status, inquiry.client, inquiry.handled_by) == ("converted", client, cora)
        assert client.care_team.get().user == tess
        assert audit_rows("kapflow.inquiries.inquiry.converted")[0].client == client

    def test_a_closed_inquiry_cannot_be_converted_twice(self, login, cora, inquiry):
        inquiry.status, inquiry.declined_reason = "declined", "Not a fit."
        inquiry.save()
        response = login(cora).post(reverse("inquiries:convert", args=[inquiry.pk]), {})
        assert response.status_code == 302 and not Client.objects.exists()

    def test_declining_needs_a_reason(self, login, cora, inquiry):
        response = login(cora).post(reverse("inquiries:decline", args=[inquiry.pk]), {"reason": ""})
        assert "This field is required." in response.content.decode()
        inquiry.refresh_from_db()
        assert inquiry.status == "new"

    def test_declining_records_the_reason(self, login, cora, inquiry, audit_rows):
        login(cora).post(
            reverse("inquiries:decline", args=[inquiry.pk]), {"reason": "Wants couples therapy."}
        )
        inquiry.refresh_from_db()
        assert (inquiry.status, inquiry.declined_reason) == ("declined", "Wants couples therapy.")
        assert audit_rows("kapflow.inquiries.inquiry.declined")

    def test_a_therapist_has_no_inbox(self, login, tess, inquiry):
        assert login(tess).get(reverse("inquiries:inbox")).status_code == 403


def test_plain_text_emails_are_not_html_escaped(client, send_on_commit):
    from kapflow.practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"name": "Smith & O'Brien Therapy"})
    with send_on_commit(execute=True):
        client.post(reverse("start"), {**FORM, "first_name": "D'Arcy"})
    [email] = mail.outbox
    assert email.subject == "Thank you for contacting Smith & O'Brien Therapy"
    assert "Dear D'Arcy," in email.body and "&amp;" not in email.body and "&#x27;" not in email.body
