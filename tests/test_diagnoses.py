"""Issue 18, item 2: diagnoses on the chart (docs/diagnoses.md). A licensed clinician who writes
the client's records records an ICD-10-CM code and its words; a category is refused naming the
billable codes under it; a diagnosis is written once and ended once; the coordinator and an
admin without a clinical role record none and do not read the page."""

import datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.models import AuditEvent
from kapflow.billing import diagnoses
from kapflow.billing.diagnoses import CATALOGUE, category_refusal, code_checked, normalise
from kapflow.billing.models import Diagnosis
from kapflow.billing.services import BillingRefused
from kapflow.clients.models import CareTeamMember
from tests import factories

TODAY = timezone.localdate
DAY = datetime.timedelta(days=1)


def fake_request(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


def record(user, client, code="F33.1", description="", diagnosed_on=None):
    return diagnoses.diagnosis_record(
        request=fake_request(user),
        client=client,
        code=code,
        description=description,
        diagnosed_on=diagnosed_on or TODAY() - 10 * DAY,
    )


def end(user, diagnosis, *, in_error=False, ended_on=None, reason="Full remission for six months."):
    return diagnoses.diagnosis_end(
        request=fake_request(user),
        diagnosis=diagnosis,
        ended_on=ended_on or TODAY(),
        in_error=in_error,
        reason=reason,
    )


# --- The code's shape ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, code",
    [
        ("F33.1", "F33.1"),
        ("f331", "F33.1"),
        ("f33.1", "F33.1"),
        (" F33.1 ", "F33.1"),
        ("F3340", "F33.40"),
        ("f43.10", "F43.10"),
        ("f32a", "F32.A"),
        ("r45851", "R45.851"),
        ("F43", "F43"),
        ("s72001a", "S72.001A"),
        ("F 41 .9", "F41.9"),
    ],
)
def test_a_code_is_written_as_icd10cm_writes_it(typed, code):
    assert normalise(typed) == code


@pytest.mark.parametrize(
    "typed",
    ["", "F", "F3", "33.1", "FF3.1", "F3.31", "F33.", "F33.12345", "F33..1", "F33-1", "F33.1!", "Ö33.1"],
)
def test_anything_without_the_shape_of_a_code_is_refused(typed):
    with pytest.raises(BillingRefused, match="not an ICD-10-CM code"):
        normalise(typed)


@pytest.mark.parametrize(
    "parent, message",
    [
        ("F43.1", "F43.1 is a category, not a billable code: choose F43.10, F43.11 or F43.12."),
        ("f431", "F43.1 is a category, not a billable code: choose F43.10, F43.11 or F43.12."),
        ("F33.4", "F33.4 is a category, not a billable code: choose F33.40, F33.41 or F33.42."),
        ("F31.3", "F31.3 is a category, not a billable code: choose F31.30, F31.31 or F31.32."),
        ("F32.8", "F32.8 is a category, not a billable code: choose F32.81 or F32.89."),
    ],
)
def test_a_category_is_refused_naming_the_billable_codes_under_it(parent, message):
    with pytest.raises(BillingRefused) as refused:
        code_checked(parent, "words typed anyway")
    assert str(refused.value) == message


@pytest.mark.parametrize("category", ["F32", "F33", "F41", "F43", "F31", "F43.2", "F31.8", "R45.85"])
def test_a_three_character_category_names_the_codes_of_the_list_under_it(category):
    refusal = category_refusal(category)
    assert refusal.startswith(f"{category} is a category, not a billable code")
    under = [code for code in CATALOGUE if code.replace(".", "").startswith(category.replace(".", ""))]
    assert under and all(code in refusal for code in under)
    assert not any(code in refusal for code in CATALOGUE if code not in under)


def test_the_catalogue_holds_billable_leaf_codes_with_their_words():
    assert CATALOGUE["F33.1"] == "Major depressive disorder, recurrent, moderate"
    assert CATALOGUE["F43.10"] == "Post-traumatic stress disorder, unspecified"
    assert CATALOGUE["F41.1"] == "Generalized anxiety disorder"
    assert CATALOGUE["F41.0"] == "Panic disorder [episodic paroxysmal anxiety]"
    assert CATALOGUE["F31.81"] == "Bipolar II disorder"
    assert CATALOGUE["F32.A"] == "Depression, unspecified"
    assert CATALOGUE["F34.1"] == "Dysthymic disorder"
    assert CATALOGUE["F43.23"] == "Adjustment disorder with mixed anxiety and depressed mood"
    assert CATALOGUE["R45.851"] == "Suicidal ideations"
    for code in CATALOGUE:
        assert normalise(code) == code
        assert category_refusal(code) is None, f"{code} heads another code of the list"
    for parent in ("F43.1", "F33.4", "F31.3", "F43.2", "F32", "F33", "F41", "F43", "F31"):
        assert parent not in CATALOGUE


def test_a_listed_code_takes_the_catalogues_words_and_another_needs_the_clinicians():
    assert code_checked("f331", "my words") == ("F33.1", "Major depressive disorder, recurrent, moderate")
    assert code_checked("F41.9", "  Anxiety disorder,   unspecified ") == (
        "F41.9",
        "Anxiety disorder, unspecified",
    )
    with pytest.raises(BillingRefused, match="F41.9 is not in kapflow's list: write its ICD-10-CM words"):
        code_checked("F41.9", "  ")


# --- Recording and ending ----------------------------------------------------------------------


@pytest.mark.django_db
class TestRecording:
    def test_a_therapist_on_the_team_records_one_audited(self, tess, avery, audit_rows):
        diagnosis = record(tess, avery, code="f3341")
        assert (diagnosis.code, diagnosis.description) == ("F33.41", CATALOGUE["F33.41"])
        assert diagnosis.diagnosed_by == tess
        (row,) = audit_rows("kapflow.billing.diagnosis.recorded")
        assert (row.client_id, row.actor_id, row.detail) == (avery.pk, tess.pk, {"catalogued": True})

    def test_the_prescriber_on_the_team_records_one_too(self, priya, avery):
        assert record(priya, avery, code="F41.1").diagnosed_by == priya

    @pytest.mark.parametrize("who", ["cora", "ada", "colin"])
    def test_a_coordinator_an_admin_and_a_clinician_off_the_team_record_none(self, who, request, avery):
        user = request.getfixturevalue(who)
        with pytest.raises(BillingRefused, match="Only a licensed clinician"):
            record(user, avery)
        assert not Diagnosis.objects.exists()

    def test_an_admin_who_is_also_the_clients_therapist_may(self, avery):
        both = factories.make_user("Dana Owner", roles=("is_practice_admin", "is_therapist"))
        CareTeamMember.objects.create(
            client=avery, user=both, role=CareTeamMember.Role.THERAPIST, added_by=both
        )
        assert record(both, avery).diagnosed_by == both

    def test_a_clinician_on_the_team_who_does_not_write_the_records_may_not(self, avery):
        other = factories.make_user("Otto Other", roles=("is_therapist",))
        CareTeamMember.objects.create(
            client=avery, user=other, role=CareTeamMember.Role.OTHER, added_by=other
        )
        with pytest.raises(BillingRefused, match="Only a licensed clinician"):
            record(other, avery)

    def test_a_date_in_the_future_is_refused(self, tess, avery):
        with pytest.raises(BillingRefused, match="in the future"):
            record(tess, avery, diagnosed_on=TODAY() + DAY)
        assert record(tess, avery, diagnosed_on=TODAY()).diagnosed_on == TODAY()

    def test_a_category_is_refused_by_the_service(self, tess, avery):
        with pytest.raises(BillingRefused, match="choose F43.10, F43.11 or F43.12"):
            record(tess, avery, code="F43.1", description="PTSD")

    def test_the_same_code_twice_while_current_is_refused(self, tess, avery):
        record(tess, avery, code="F33.1")
        with pytest.raises(BillingRefused, match="F33.1 is already a current diagnosis"):
            record(tess, avery, code="f331")
        assert Diagnosis.objects.count() == 1


@pytest.mark.django_db
class TestEnding:
    def test_no_longer_current_from_a_day_once_with_its_reason(self, tess, priya, avery, audit_rows):
        diagnosis = record(tess, avery, diagnosed_on=TODAY() - 30 * DAY)
        ended = end(priya, diagnosis, ended_on=TODAY() - 2 * DAY)
        assert (ended.ended_on, ended.in_error, ended.ended_by, ended.end_reason) == (
            TODAY() - 2 * DAY,
            False,
            priya,
            "Full remission for six months.",
        )
        (row,) = audit_rows("kapflow.billing.diagnosis.ended")
        assert row.detail == {"in_error": False}
        with pytest.raises(BillingRefused, match="already ended"):
            end(tess, diagnosis, in_error=True, reason="wrong client")
        diagnosis.refresh_from_db()
        assert not diagnosis.in_error and diagnosis.ended_by == priya

    def test_an_end_needs_a_reason_a_day_not_in_the_future_and_not_before_the_diagnosis(self, tess, avery):
        diagnosis = record(tess, avery, diagnosed_on=TODAY() - 5 * DAY)
        with pytest.raises(BillingRefused, match="Write why"):
            end(tess, diagnosis, reason="  ")
        with pytest.raises(BillingRefused, match="in the future"):
            end(tess, diagnosis, ended_on=TODAY() + DAY)
        with pytest.raises(BillingRefused, match="mark it entered in error"):
            end(tess, diagnosis, ended_on=TODAY() - 6 * DAY)
        diagnosis.refresh_from_db()
        assert diagnosis.ended_at is None

    def test_entered_in_error(self, tess, avery):
        diagnosis = end(tess, record(tess, avery), in_error=True, reason="Meant for another client.")
        assert diagnosis.in_error and diagnosis.ended_on == TODAY()
        assert not diagnosis.current_on(TODAY() - 5 * DAY)

    @pytest.mark.parametrize("who", ["cora", "ada", "colin"])
    def test_only_the_clients_clinicians_end_one(self, who, request, tess, avery):
        diagnosis = record(tess, avery)
        with pytest.raises(BillingRefused, match="Only a licensed clinician"):
            end(request.getfixturevalue(who), diagnosis)

    def test_ended_again_the_same_code_may_be_recorded_anew(self, tess, avery):
        end(tess, record(tess, avery, diagnosed_on=TODAY() - 20 * DAY), ended_on=TODAY() - 10 * DAY)
        assert record(tess, avery, diagnosed_on=TODAY() - DAY).code == "F33.1"


@pytest.mark.django_db
def test_current_on_a_day(tess, avery):
    d0 = TODAY() - 30 * DAY
    ended = end(tess, record(tess, avery, code="F33.1", diagnosed_on=d0), ended_on=d0 + 10 * DAY)
    wrong = end(tess, record(tess, avery, code="F41.1", diagnosed_on=d0), in_error=True, reason="wrong code")
    still = record(tess, avery, code="F43.10", diagnosed_on=d0 + 5 * DAY)
    assert not ended.current_on(d0 - DAY)
    assert ended.current_on(d0) and ended.current_on(d0 + 9 * DAY)
    assert not ended.current_on(d0 + 10 * DAY)
    assert not any(wrong.current_on(d0 + n * DAY) for n in range(0, 31))
    assert not still.current_on(d0 + 4 * DAY) and still.current_on(TODAY())

    def codes(day):
        return [d.code for d in diagnoses.diagnoses_current_on(avery, day)]

    assert codes(d0 - DAY) == []
    assert codes(d0) == ["F33.1"]
    assert codes(d0 + 5 * DAY) == ["F33.1", "F43.10"]
    assert codes(d0 + 10 * DAY) == ["F43.10"]
    for day in (d0 - DAY, d0, d0 + 5 * DAY, d0 + 10 * DAY, TODAY()):
        assert codes(day) == [d.code for d in Diagnosis.objects.filter(client=avery) if d.current_on(day)]


# --- The database --------------------------------------------------------------------------------


@pytest.mark.django_db
class TestTheDatabaseGuards:
    """Under the code: a writer that went round the services (SQLite and PostgreSQL)."""

    def _refused(self, sql, args):
        with (
            pytest.raises(DatabaseError, match="cannot be changed"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, args)

    def test_a_diagnosis_is_never_changed_or_deleted(self, tess, avery):
        diagnosis = record(tess, avery)
        self._refused("UPDATE billing_diagnosis SET code = 'F33.2' WHERE id = %s", [diagnosis.pk])
        self._refused("UPDATE billing_diagnosis SET description = 'other' WHERE id = %s", [diagnosis.pk])
        self._refused("DELETE FROM billing_diagnosis WHERE id = %s", [diagnosis.pk])
        diagnosis.refresh_from_db()
        assert diagnosis.code == "F33.1"

    def test_its_end_is_set_once(self, tess, priya, avery):
        diagnosis = end(tess, record(tess, avery))
        self._refused("UPDATE billing_diagnosis SET in_error = %s WHERE id = %s", [True, diagnosis.pk])
        self._refused("UPDATE billing_diagnosis SET end_reason = 'x' WHERE id = %s", [diagnosis.pk])
        self._refused("UPDATE billing_diagnosis SET ended_by_id = %s WHERE id = %s", [priya.pk, diagnosis.pk])

    def test_a_stale_copy_ended_twice_is_told_already_ended(self, tess, avery):
        diagnosis = record(tess, avery)
        stale = Diagnosis.objects.get(pk=diagnosis.pk)
        end(tess, diagnosis)
        with pytest.raises(BillingRefused, match="already ended"):
            end(tess, stale, in_error=True, reason="again")


# --- The pages ---------------------------------------------------------------------------------


def _list(client):
    return reverse("diagnoses:list", args=[client.pk])


def _new(client):
    return reverse("diagnoses:new", args=[client.pk])


@pytest.mark.django_db
class TestThePages:
    def test_the_list_shows_current_and_ended_with_who_and_when(self, login, tess, priya, avery):
        tess.credentials = "LCSW"
        tess.save(update_fields=["credentials"])
        record(tess, avery, code="F41.1")
        end(priya, record(tess, avery, code="F33.1"), in_error=True, reason="Meant for another client.")
        page = login(tess).get(_list(avery))
        html = page.content.decode()
        assert page.status_code == 200
        assert "Generalized anxiety disorder" in html and "Tess Therapist, LCSW" in html
        assert "Entered in error" in html and "Meant for another client." in html
        assert reverse("diagnoses:new", args=[avery.pk]) in html
        assert AuditEvent.objects.filter(action="kapflow.billing.diagnosis.viewed", client=avery).exists()

    def test_recording_through_the_form(self, login, tess, avery):
        http = login(tess)
        page = http.post(_new(avery), {"listed": "", "code": "f3341", "diagnosed_on": TODAY().isoformat()})
        assert page.status_code == 302
        diagnosis = Diagnosis.objects.get()
        assert (diagnosis.code, diagnosis.description) == ("F33.41", CATALOGUE["F33.41"])
        page = http.post(_new(avery), {"listed": "F41.1", "diagnosed_on": TODAY().isoformat()})
        assert page.status_code == 302
        assert Diagnosis.objects.filter(code="F41.1").exists()

    @pytest.mark.parametrize(
        "data, message",
        [
            ({"code": "F43.1"}, "choose F43.10, F43.11 or F43.12"),
            ({"code": "F41.9"}, "write its ICD-10-CM words"),
            ({"code": "33.1"}, "not an ICD-10-CM code"),
            ({}, "Choose a code from the list, or type another below."),
            ({"listed": "F41.1", "code": "F33.1"}, "not both"),
            ({"listed": "F41.1", "diagnosed_on": "2999-01-01"}, "in the future"),
            ({"listed": "F41.1", "diagnosed_on": "yesterday"}, "Give the date as a day, month and year."),
        ],
    )
    def test_bad_input_comes_back_with_what_to_fix(self, login, tess, avery, data, message):
        form = {"listed": "", "code": "", "description": "", "diagnosed_on": TODAY().isoformat()} | data
        page = login(tess).post(_new(avery), form)
        assert page.status_code == 200
        assert message in page.content.decode()
        if form["code"]:
            assert f'value="{form["code"]}"' in page.content.decode()
        assert not Diagnosis.objects.exists()

    def test_ending_through_the_form_once(self, login, tess, avery):
        diagnosis = record(tess, avery)
        url = reverse("diagnoses:end", args=[avery.pk, diagnosis.pk])
        http = login(tess)
        page = http.post(url, {"outcome": "ended", "ended_on": "", "reason": "remission"})
        assert "Give the day from which the diagnosis is no longer current." in page.content.decode()
        page = http.post(url, {"outcome": "ended", "ended_on": TODAY().isoformat(), "reason": "remission"})
        assert page.status_code == 302
        diagnosis.refresh_from_db()
        assert diagnosis.ended_on == TODAY() and not diagnosis.in_error
        page = http.post(url, {"outcome": "in_error", "reason": "again"}, follow=True)
        assert "already ended" in page.content.decode()
        diagnosis.refresh_from_db()
        assert not diagnosis.in_error

    @pytest.mark.parametrize("who", ["cora", "ada"])
    def test_a_coordinator_or_an_admin_without_a_clinical_role_is_refused(
        self, who, request, login, tess, avery
    ):
        diagnosis = record(tess, avery)
        http = login(request.getfixturevalue(who))
        assert http.get(_list(avery)).status_code == 404
        assert (
            http.post(_new(avery), {"listed": "F41.1", "diagnosed_on": TODAY().isoformat()}).status_code
            == 403
        )
        end_url = reverse("diagnoses:end", args=[avery.pk, diagnosis.pk])
        assert http.post(end_url, {"outcome": "in_error", "reason": "x"}).status_code == 403
        assert Diagnosis.objects.count() == 1 and Diagnosis.objects.get().ended_at is None

    def test_a_clinician_off_the_team_gets_404(self, login, tess, colin, avery):
        diagnosis = record(tess, avery)
        http = login(colin)
        assert http.get(_list(avery)).status_code == 404
        assert (
            http.post(_new(avery), {"listed": "F41.1", "diagnosed_on": TODAY().isoformat()}).status_code
            == 404
        )
        assert http.get(reverse("diagnoses:end", args=[avery.pk, diagnosis.pk])).status_code == 404

    def test_another_clients_diagnosis_is_not_found_through_this_client(
        self, login, tess, colin, avery, olive
    ):
        theirs = record(colin, olive)
        assert login(tess).get(reverse("diagnoses:end", args=[avery.pk, theirs.pk])).status_code == 404

    def test_a_team_member_who_does_not_write_reads_but_does_not_record(self, login, avery):
        other = factories.make_user("Otto Other", roles=("is_therapist",))
        CareTeamMember.objects.create(
            client=avery, user=other, role=CareTeamMember.Role.OTHER, added_by=other
        )
        http = login(other)
        page = http.get(_list(avery))
        assert page.status_code == 200 and _new(avery) not in page.content.decode()
        assert http.get(_new(avery)).status_code == 403

    def test_the_chart_links_to_the_diagnoses_for_clinicians_only(self, login, tess, cora, avery):
        link = _list(avery)
        assert link in login(tess).get(reverse("clients:chart", args=[avery.pk])).content.decode()
        assert link not in login(cora).get(reverse("clients:chart", args=[avery.pk])).content.decode()
