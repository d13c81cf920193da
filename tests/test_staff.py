import re

import pytest
from allauth.usersessions.models import UserSession
from django.core import mail
from django.urls import reverse

from kapflow.accounts.models import User

INVITE = {"full_name": "Nina New", "email": "Nina@Example.org", "credentials": "LMFT", "is_therapist": "on"}


def test_the_admin_invites_a_therapist_who_chooses_a_password(
    login, ada, client, audit_rows, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(ada).post(reverse("accounts:staff_invite"), INVITE)
    assert response.status_code == 302
    nina = User.objects.get(email="nina@example.org")
    assert nina.is_therapist and not nina.is_prescriber and not nina.has_usable_password()
    [email] = mail.outbox
    link = re.search(r"https?://\S+", email.body).group(0)
    path = link.split("8000", 1)[-1]
    assert client.get(path, follow=True).status_code == 200
    assert audit_rows("kapflow.accounts.staff.invited")[0].detail == {"roles": ["therapist"]}


def test_an_invitation_needs_a_role_and_a_new_email(login, ada, tess):
    response = login(ada).post(
        reverse("accounts:staff_invite"), {**INVITE, "is_therapist": "", "email": "TESS@example.org"}
    )
    html = response.content.decode()
    assert "Choose at least one role." in html and "Someone already has an account" in html


def test_the_admin_changes_roles(login, ada, tess, audit_rows):
    login(ada).post(
        reverse("accounts:staff_edit", args=[tess.pk]),
        {"full_name": tess.full_name, "email": tess.email, "is_therapist": "on", "is_prescriber": "on"},
    )
    tess.refresh_from_db()
    assert tess.is_prescriber and tess.is_therapist
    assert audit_rows("kapflow.accounts.staff.updated")[0].detail == {"changed": ["is_prescriber"]}


def test_the_old_address_is_told_when_an_admin_changes_a_staff_members_email(
    login, ada, tess, audit_rows, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        login(ada).post(
            reverse("accounts:staff_edit", args=[tess.pk]),
            {"full_name": tess.full_name, "email": "tess.new@example.org", "is_therapist": "on"},
        )
    tess.refresh_from_db()
    assert tess.email == "tess.new@example.org"
    [notice] = mail.outbox
    assert notice.to == ["tess@example.org"] and "tess.new@example.org" in notice.body
    assert audit_rows("kapflow.accounts.staff.updated")[0].detail == {"changed": ["email"]}


def test_an_admin_saving_a_staff_member_unchanged_tells_nobody(
    login, ada, tess, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        login(ada).post(
            reverse("accounts:staff_edit", args=[tess.pk]),
            {"full_name": tess.full_name, "email": tess.email.upper(), "is_therapist": "on"},
        )
    assert mail.outbox == []


def test_an_admin_cannot_drop_their_own_admin_role(login, ada):
    response = login(ada).post(
        reverse("accounts:staff_edit", args=[ada.pk]),
        {"full_name": ada.full_name, "email": ada.email, "is_therapist": "on"},
    )
    assert "You cannot remove your own admin role" in response.content.decode()
    ada.refresh_from_db()
    assert ada.is_practice_admin


def test_deactivating_ends_their_sessions_at_once(login, ada, tess, avery, audit_rows):
    tess_browser = login(tess)
    assert tess_browser.get(reverse("clients:caseload")).status_code == 200
    UserSession.objects.create(
        user=tess, session_key=tess_browser.session.session_key, ip="127.0.0.1", user_agent="test"
    )
    login(ada).post(reverse("accounts:staff_deactivate", args=[tess.pk]))
    tess.refresh_from_db()
    assert not tess.is_active and tess.deactivated_at is not None
    assert not UserSession.objects.filter(user=tess).exists()
    response = tess_browser.get(reverse("clients:caseload"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert audit_rows("kapflow.accounts.staff.deactivated")


def test_an_admin_cannot_deactivate_themselves(login, ada):
    response = login(ada).post(reverse("accounts:staff_deactivate", args=[ada.pk]), follow=True)
    assert "You cannot deactivate your own account." in response.content.decode()
    ada.refresh_from_db()
    assert ada.is_active


def test_the_practice_keeps_at_least_one_active_admin(ada, rf):
    from kapflow.accounts import services

    request = rf.post("/")
    request.user = ada
    with pytest.raises(services.LastAdmin):
        services.staff_deactivate(request=request, user=ada)


def test_a_deactivated_person_can_be_reactivated(login, ada, tess, audit_rows):
    tess.is_active = False
    tess.save()
    login(ada).post(reverse("accounts:staff_reactivate", args=[tess.pk]))
    tess.refresh_from_db()
    assert tess.is_active and audit_rows("kapflow.accounts.staff.reactivated")


def test_the_staff_list_shows_who_has_set_up_two_factor(login, ada, cleo):
    response = login(ada).get(reverse("accounts:staff"))
    staff = {member.email: member.has_mfa for member in response.context["staff"]}
    assert staff == {"ada@example.org": True}
