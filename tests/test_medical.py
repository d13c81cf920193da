"""The medical side of the pathway: contraindication screening and its flags (docs/clinical.md's
table), the prescriber's clearance, medication orders, the three medical gates, and who may read
and write them (the prescriber writes; the client's therapists read; nobody else sees any of it)."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from kapflow.lib.gates import Status
from kapflow.medical import doses, gates
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.medical.screening import (
    EXCLUSION,
    FINDINGS,
    MEDICATION_CLASSES,
    REVIEW,
    Incomplete,
    flags_for,
)
from kapflow.practice.models import Practice
from tests import factories

pytestmark = pytest.mark.django_db

# docs/clinical.md, "Contraindication screening": each finding and its flag level.
CLINICAL_TABLE = {
    "vascular": EXCLUSION,
    "hypersensitivity": EXCLUSION,
    "pregnancy": EXCLUSION,
    "psychosis": EXCLUSION,
    "mania": EXCLUSION,
    "substance_use": EXCLUSION,
    "hypertension": EXCLUSION,
    "bipolar_stable": REVIEW,
    "cardiovascular": REVIEW,
    "liver": REVIEW,
    "pressure": REVIEW,
    "dissociation": REVIEW,
    "family_psychosis": REVIEW,
    "breastfeeding": REVIEW,
    "pregnancy_plans": REVIEW,
    "bladder": REVIEW,
    "transport": REVIEW,
    "no_support": REVIEW,
}

# docs/clinical.md, "Contraindication screening", its interactions table: each class and a word of its reason.
INTERACTIONS = {
    "benzodiazepine": "blunt",
    "lamotrigine": "side effects",
    "stimulant": "Blood pressure",
    "maoi": "Blood pressure",
    "opioid": "respiratory depression",
    "alcohol": "respiratory depression",
    "sedative_hypnotic": "respiratory depression",
    "cns_depressant": "respiratory depression",
    "cyp_inducer": "exposure",
    "cyp_inhibitor": "exposure",
}

MAY_3_2026 = datetime.datetime(2026, 5, 3, 12, 0, tzinfo=datetime.UTC)


def no_to_all(**yes) -> dict[str, bool]:
    return {finding.key: bool(yes.get(finding.key)) for finding in FINDINGS}


# --- Flags: a pure function over docs/clinical.md's table -------------------------------------------


def test_the_findings_are_clinical_mds_table():
    assert {finding.key: finding.level for finding in FINDINGS} == CLINICAL_TABLE


@pytest.mark.parametrize("key, level", sorted(CLINICAL_TABLE.items()))
def test_each_finding_answered_yes_raises_its_flag_at_clinical_mds_level(key, level):
    flags = flags_for(answers=no_to_all(**{key: True}), medications=[], age=40)
    assert [(flag.key, flag.level) for flag in flags] == [(key, level)]


def test_an_adult_answering_no_to_everything_and_taking_nothing_has_no_flags():
    assert flags_for(answers=no_to_all(), medications=[], age=40) == []


@pytest.mark.parametrize("kind, reason", sorted(INTERACTIONS.items()))
def test_each_interacting_medication_class_is_a_review_flag_with_its_reason(kind, reason):
    [flag] = flags_for(answers=no_to_all(), medications=[{"name": "Something", "class": kind}], age=40)
    assert flag.level == REVIEW and flag.kind == "medication"
    assert reason in flag.reason and flag.label.startswith("Something (")


def test_the_interaction_table_is_complete_and_other_medicines_raise_nothing():
    assert {c.key for c in MEDICATION_CLASSES} == set(INTERACTIONS) | {"other"}
    assert (
        flags_for(answers=no_to_all(), medications=[{"name": "Sertraline", "class": "other"}], age=40) == []
    )


@pytest.mark.parametrize(
    "age, flagged", [(15, True), (17, True), (18, False), (64, False), (65, True), (80, True)]
)
def test_under_18_and_65_or_over_are_review_flags(age, flagged):
    flags = flags_for(answers=no_to_all(), medications=[], age=age)
    assert [(f.key, f.level) for f in flags] == ([("age", REVIEW)] if flagged else [])


def test_exclusions_come_before_review_flags():
    flags = flags_for(
        answers=no_to_all(bladder=True, pregnancy=True),
        medications=[{"name": "Lorazepam", "class": "benzodiazepine"}],
        age=16,
    )
    assert [f.level for f in flags] == [EXCLUSION, REVIEW, REVIEW, REVIEW]


def test_an_incomplete_screening_is_refused_naming_the_missing_findings():
    answers = no_to_all()
    del answers["pregnancy"], answers["bladder"]
    with pytest.raises(Incomplete) as refused:
        flags_for(answers=answers, medications=[], age=40)
    assert refused.value.missing == ["pregnancy", "bladder"]


# --- Doses: the typical range comes from the practice settings ---------------------------------


@pytest.mark.parametrize(
    "route, unit, low, high, weight, outside",
    [
        ("sublingual", "mg", "100", "400", None, False),
        ("sublingual", "mg", "200", "500", None, True),
        ("sublingual", "mg", "50", "50", None, True),
        ("intranasal", "mg", "56", "84", None, False),
        ("intranasal", "mg", "28", "56", None, True),
        ("intramuscular", "mg_per_kg", "0.5", "1.0", "70", False),
        ("intramuscular", "mg_per_kg", "0.5", "2.5", "70", True),
        ("intramuscular", "mg", "35", "70", "70", False),  # 0.5–1 mg/kg at 70 kg
        ("intravenous", "mg_per_kg", "0.5", "0.5", "80", False),
        ("intravenous", "mg_per_kg", "1.0", "1.0", "80", True),
    ],
)
def test_a_range_outside_the_typical_range_for_its_route_is_named(route, unit, low, high, weight, outside):
    message = doses.outside_typical(
        practice=Practice.load(),
        route=route,
        unit=unit,
        dose_min=Decimal(low),
        dose_max=Decimal(high),
        weight_kg=Decimal(weight) if weight else None,
    )
    assert bool(message) is outside
    if outside:
        assert "outside the typical range" in message


def test_the_typical_range_is_the_practices_setting():
    practice = Practice.load()
    practice.typical_sublingual_max_mg = 600
    practice.save()
    assert not doses.outside_typical(
        practice=practice,
        route="sublingual",
        unit="mg",
        dose_min=Decimal(500),
        dose_max=Decimal(500),
        weight_kg=None,
    )


# --- Builders -----------------------------------------------------------------------------------


def make_screening(client, *, yes=(), medications=(), at=None, entered_by=None) -> Screening:
    at = at or timezone.now()
    age = client.age(timezone.localdate(at))
    meds = [{"name": name, "class": kind} for name, kind in medications]
    flags = flags_for(answers=no_to_all(**dict.fromkeys(yes, True)), medications=meds, age=age)
    return Screening.objects.create(
        client=client,
        answers=no_to_all(**dict.fromkeys(yes, True)),
        medications=meds,
        flags=[flag.as_dict() for flag in flags],
        age=age,
        completed_at=at,
        entered_by=entered_by,
    )


def make_clearance(
    client, screening, prescriber, *, decision="cleared", valid_until=None, **fields
) -> Clearance:
    if decision in Clearance.GRANTING and valid_until is None:
        valid_until = timezone.localdate() + datetime.timedelta(days=300)
    return Clearance.objects.create(
        client=client,
        screening=screening,
        prescriber=prescriber,
        decision=decision,
        findings="Examined; well.",
        valid_until=valid_until,
        conditions="BP under 140/90 at check-in" if decision == "conditions" else "",
        **fields,
    )


def make_order(client, prescriber, **fields) -> MedicationOrder:
    today = timezone.localdate()
    values = {
        "drug": "ketamine",
        "route": "sublingual",
        "unit": "mg",
        "dose_min": Decimal(200),
        "dose_max": Decimal(300),
        "sessions_authorised": 6,
        "starts_on": today,
        "ends_on": today + datetime.timedelta(days=90),
    }
    values.update(fields)
    return MedicationOrder.objects.create(client=client, prescriber=prescriber, **values)


# --- Gates --------------------------------------------------------------------------------------


def test_the_screening_gate_fails_without_a_screening_for_the_therapist(avery):
    result = gates.screening_gate(avery)
    assert (result.key, result.status, result.resolver) == ("screening", Status.FAIL, "therapist")
    assert result.reason == "No contraindication screening yet — therapist or prescriber."


def test_the_screening_gate_passes_a_recent_screening_without_exclusions(avery):
    make_screening(avery, yes=["bladder"])
    result = gates.screening_gate(avery)
    assert result.passed and "no exclusion flags" in result.reason


def test_an_unresolved_exclusion_fails_the_screening_gate_for_the_prescriber(avery, priya):
    screening = make_screening(avery, yes=["pregnancy", "hypertension"])
    result = gates.screening_gate(avery)
    assert (result.status, result.resolver) == (Status.FAIL, "prescriber")
    assert (
        result.reason == "2 exclusion flags not resolved: Pregnancy; Uncontrolled hypertension — prescriber."
    )
    make_clearance(avery, screening, priya, decision="not_cleared", resolutions={"pregnancy": "Confirmed."})
    assert "1 exclusion flag not resolved: Uncontrolled hypertension" in gates.screening_gate(avery).reason


def test_exclusions_resolved_in_the_clearance_pass_the_screening_gate_until_it_is_revoked(avery, priya):
    screening = make_screening(avery, yes=["hypertension"])
    clearance = make_clearance(
        avery, screening, priya, resolutions={"hypertension": "Controlled on amlodipine; 128/82 today."}
    )
    result = gates.screening_gate(avery)
    assert result.passed and "1 exclusion flag resolved by the prescriber" in result.reason
    clearance.revoked_at, clearance.revoked_by, clearance.revoke_reason = timezone.now(), priya, "BP 170/105."
    clearance.save()
    assert not gates.screening_gate(avery).passed


def test_a_screening_goes_out_of_date_after_the_practices_validity_period(avery):
    practice = Practice.load()
    with time_machine.travel(MAY_3_2026, tick=False) as clock:
        make_screening(avery)
        clock.shift(datetime.timedelta(days=practice.screening_valid_days))
        assert gates.screening_gate(avery).passed
        clock.shift(datetime.timedelta(days=1))
        result = gates.screening_gate(avery)
    assert (result.status, result.resolver) == (Status.FAIL, "therapist")
    assert result.reason == (
        "Contraindication screening out of date: done May 3, 2026, valid 90 days (to Aug 1, 2026). "
        "Repeat it — therapist or prescriber."
    )


def test_the_latest_screening_is_the_one_that_counts(avery, priya):
    old = make_screening(avery, at=timezone.now() - datetime.timedelta(days=2))
    make_clearance(avery, old, priya)
    make_screening(avery, yes=["psychosis"])
    assert not gates.screening_gate(avery).passed


def test_the_clearance_gate_fails_without_a_clearance(avery):
    result = gates.clearance_gate(avery)
    assert (result.key, result.status, result.resolver) == ("clearance", Status.FAIL, "prescriber")
    assert result.reason == "No medical clearance yet — prescriber."


@pytest.mark.parametrize(
    "decision, passed, words",
    [
        ("cleared", True, "Cleared by Priya Prescriber until"),
        ("conditions", True, "Cleared with conditions by Priya Prescriber until"),
        ("not_cleared", False, "Not medically cleared (decided"),
        ("deferred", False, "Medical clearance deferred on"),
    ],
)
def test_the_clearance_gate_follows_the_latest_decision(avery, priya, decision, passed, words):
    screening = make_screening(avery)
    make_clearance(avery, screening, priya, decided_at=timezone.now() - datetime.timedelta(days=1))
    make_clearance(avery, screening, priya, decision=decision)
    result = gates.clearance_gate(avery)
    assert result.passed is passed and result.reason.startswith(words)
    assert passed or result.reason.endswith("— prescriber.")


def test_a_clearance_expires_after_its_valid_until_date(avery, priya):
    with time_machine.travel(datetime.datetime(2025, 5, 3, 17, 0, tzinfo=datetime.UTC), tick=False) as clock:
        make_clearance(avery, make_screening(avery), priya, valid_until=datetime.date(2026, 5, 3))
        clock.move_to(datetime.datetime(2026, 5, 3, 20, 0, tzinfo=datetime.UTC))
        assert gates.clearance_gate(avery).passed  # valid through the day it names
        clock.move_to(datetime.datetime(2026, 5, 4, 17, 0, tzinfo=datetime.UTC))
        result = gates.clearance_gate(avery)
    assert (result.status, result.resolver) == (Status.FAIL, "prescriber")
    assert result.reason == "Medical clearance expired on May 3, 2026 — prescriber."


def test_a_revoked_clearance_fails_the_gate_with_the_date(login, avery, priya, audit_rows):
    clearance = make_clearance(avery, make_screening(avery), priya)
    with time_machine.travel(MAY_3_2026, tick=False):
        response = login(priya).post(
            reverse("medical:clearance_revoke", args=[avery.pk, clearance.pk]),
            {"reason": "New chest pain; cardiology first."},
        )
        result = gates.clearance_gate(avery)
    assert response.status_code == 302
    clearance.refresh_from_db()
    assert clearance.revoked_by == priya and clearance.revoke_reason == "New chest pain; cardiology first."
    assert result.reason == "Medical clearance revoked on May 3, 2026 — prescriber."
    [row] = audit_rows("kapflow.medical.clearance.revoked")
    assert (row.actor, row.client, row.object_id) == (priya, avery, str(clearance.pk))


def test_a_clearance_cannot_be_revoked_twice_or_without_a_reason(login, avery, priya, audit_rows):
    clearance = make_clearance(avery, make_screening(avery), priya)
    url = reverse("medical:clearance_revoke", args=[avery.pk, clearance.pk])
    empty = login(priya).post(url, {"reason": "  "})
    assert empty.status_code == 200 and "Write the reason for revoking." in empty.content.decode()
    login(priya).post(url, {"reason": "First."})
    login(priya).post(url, {"reason": "Second."})
    clearance.refresh_from_db()
    assert clearance.revoke_reason == "First." and len(audit_rows("kapflow.medical.clearance.revoked")) == 1


def test_the_order_gate_fails_without_an_order(avery):
    result = gates.order_gate(avery)
    assert (result.key, result.status, result.resolver) == ("order", Status.FAIL, "prescriber")
    assert result.reason == "No medication order — prescriber."


def test_the_order_gate_passes_an_order_in_force_and_says_what_it_allows(avery, priya):
    make_order(avery, priya, ends_on=datetime.date(2099, 6, 30))
    result = gates.order_gate(avery, route="sublingual", dose_mg=250)
    assert result.passed
    assert result.reason == (
        "Order in force: sublingual / oral lozenge 200–300 mg; 6 of 6 sessions left; until Jun 30, 2099."
    )


def test_the_order_gate_checks_the_route_and_the_dose_against_the_order(avery, priya):
    make_order(avery, priya)
    other_route = gates.order_gate(avery, route="intranasal")
    assert other_route.reason == (
        "No order for intranasal esketamine (orders in force: sublingual / oral lozenge) — prescriber."
    )
    too_much = gates.order_gate(avery, route="sublingual", dose_mg=350)
    assert too_much.reason == "350 mg is outside the order's range (200–300 mg) — prescriber."
    assert gates.order_gate(avery, route="sublingual", dose_mg=200).passed
    assert gates.order_gate(avery, route="sublingual", dose_mg=300).passed


def test_a_weight_based_order_is_checked_in_mg_at_the_weight_it_was_written_for(avery, priya):
    make_order(
        avery,
        priya,
        route="intramuscular",
        unit="mg_per_kg",
        dose_min=Decimal("0.5"),
        dose_max=Decimal("1"),
        weight_kg=Decimal("70"),
    )
    assert gates.order_gate(avery, route="intramuscular", dose_mg=70).passed
    assert "outside the order's range (35–70 mg)" in gates.order_gate(avery, dose_mg=71).reason


def test_an_order_not_in_force_fails_the_gate_saying_why(avery, priya):
    with time_machine.travel(MAY_3_2026, tick=False) as clock:
        today = timezone.localdate()
        order = make_order(
            avery,
            priya,
            starts_on=today + datetime.timedelta(days=2),
            ends_on=today + datetime.timedelta(days=30),
        )
        assert gates.order_gate(avery).reason == (
            "The medication order starts on May 5, 2026; none in force today — prescriber."
        )
        clock.shift(datetime.timedelta(days=31))
        assert gates.order_gate(avery).reason == "The medication order ended on Jun 2, 2026 — prescriber."
        order.discontinued_at, order.discontinued_by, order.discontinue_reason = (
            timezone.now(),
            priya,
            "Done.",
        )
        order.save()
        assert (
            gates.order_gate(avery).reason
            == "The medication order was discontinued on Jun 3, 2026 — prescriber."
        )


def test_sessions_remaining_are_the_sessions_authorised_until_dosing_is_recorded(avery, priya):
    order = make_order(avery, priya, sessions_authorised=8)
    assert (order.administrations_count(), order.sessions_remaining()) == (0, 8)


# --- Who may do what ------------------------------------------------------------------------------

CLEARANCE_POST = {
    "decision": "cleared",
    "systolic": "124",
    "diastolic": "80",
    "heart_rate": "72",
    "weight_kg": "70.5",
    "findings": "Well; no cardiac history.",
}


def clearance_post(screening, **extra):
    today = timezone.localdate()
    return {
        **CLEARANCE_POST,
        "screening_id": screening.pk,
        "valid_until": (today + datetime.timedelta(days=180)).isoformat(),
        **extra,
    }


ORDER_POST = {
    "drug": "ketamine",
    "route": "sublingual",
    "unit": "mg",
    "dose_min": "200",
    "dose_max": "300",
    "boosters_allowed": "0",
    "sessions_authorised": "6",
    "instructions": "Hold under the tongue 15 minutes, then spit.",
}


def order_post(**extra):
    today = timezone.localdate()
    return {
        **ORDER_POST,
        "starts_on": today.isoformat(),
        "ends_on": (today + datetime.timedelta(days=60)).isoformat(),
        **extra,
    }


def test_a_therapist_can_never_clear_or_order_and_nothing_is_written(login, tess, avery, audit_rows):
    screening = make_screening(avery)
    as_tess = login(tess)
    for name in ("medical:clearance_new", "medical:order_new"):
        assert as_tess.get(reverse(name, args=[avery.pk])).status_code == 403
    assert (
        as_tess.post(reverse("medical:clearance_new", args=[avery.pk]), clearance_post(screening)).status_code
        == 403
    )
    assert as_tess.post(reverse("medical:order_new", args=[avery.pk]), order_post()).status_code == 403
    assert not Clearance.objects.exists() and not MedicationOrder.objects.exists()
    assert [row.action for row in audit_rows() if row.action.startswith("kapflow.medical")] == []


def test_a_therapist_can_neither_revoke_nor_discontinue(login, tess, priya, avery):
    clearance = make_clearance(avery, make_screening(avery), priya)
    order = make_order(avery, priya)
    as_tess = login(tess)
    revoke = as_tess.post(reverse("medical:clearance_revoke", args=[avery.pk, clearance.pk]), {"reason": "x"})
    stop = as_tess.post(reverse("medical:order_discontinue", args=[avery.pk, order.pk]), {"reason": "x"})
    assert (revoke.status_code, stop.status_code) == (403, 403)
    clearance.refresh_from_db(), order.refresh_from_db()
    assert clearance.revoked_at is None and order.discontinued_at is None


def test_the_therapist_reads_the_clearance_and_the_order_without_any_way_to_change_them(
    login, tess, priya, avery
):
    clearance = make_clearance(avery, make_screening(avery), priya)
    order = make_order(avery, priya)
    as_tess = login(tess)
    summary = as_tess.get(reverse("medical:summary", args=[avery.pk])).content.decode()
    assert "Cleared" in summary and "Record a clearance" not in summary and "Write an order" not in summary
    page = as_tess.get(reverse("medical:clearance_detail", args=[avery.pk, clearance.pk])).content.decode()
    assert "Examined; well." in page and "Revoke the clearance" not in page
    page = as_tess.get(reverse("medical:order_detail", args=[avery.pk, order.pk])).content.decode()
    assert "200–300 mg" in page and "Discontinue the order" not in page


@pytest.mark.parametrize("who", ["cora", "ada"])
def test_a_coordinator_or_an_admin_without_a_clinical_role_sees_none_of_it(request, login, priya, avery, who):
    clearance = make_clearance(avery, make_screening(avery), priya)
    browser = login(request.getfixturevalue(who))
    for url in (
        reverse("medical:summary", args=[avery.pk]),
        reverse("medical:screening_new", args=[avery.pk]),
        reverse("medical:clearance_detail", args=[avery.pk, clearance.pk]),
    ):
        assert browser.get(url).status_code == 404, url


def test_a_prescriber_outside_the_clients_care_gets_404(login, olive):
    outsider = factories.make_user("Other Prescriber", roles=("is_prescriber",))
    assert login(outsider).get(reverse("medical:clearance_new", args=[olive.pk])).status_code == 404
    assert (
        login(outsider).post(reverse("medical:order_new", args=[olive.pk]), order_post()).status_code == 404
    )
    assert not MedicationOrder.objects.exists()


# --- Screening entry ---------------------------------------------------------------------------


def screening_post(**yes):
    data = {f"finding_{finding.key}": str(bool(yes.get(finding.key))) for finding in FINDINGS}
    data.update({"med-TOTAL_FORMS": "5", "med-INITIAL_FORMS": "0", "notes": ""})
    return data


def test_the_therapist_enters_a_screening_on_the_clients_behalf(login, tess, avery, audit_rows):
    data = screening_post(pregnancy=True)
    data.update({"med-0-name": "Lorazepam 1 mg", "med-0-kind": "benzodiazepine"})
    response = login(tess).post(reverse("medical:screening_new", args=[avery.pk]), data)
    screening = Screening.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/screening/{screening.pk}/")
    assert screening.entered_by == tess and screening.answers["pregnancy"] is True
    assert screening.medications == [{"name": "Lorazepam 1 mg", "class": "benzodiazepine"}]
    assert [(f.key, f.level) for f in screening.flag_list()] == [
        ("pregnancy", EXCLUSION),
        ("medication-1", REVIEW),
    ]
    [row] = audit_rows("kapflow.medical.screening.recorded")
    assert row.actor == tess and row.client == avery
    assert row.detail == {"on_behalf": True, "exclusion_flags": 1, "review_flags": 1}
    assert "Lorazepam" not in str(row.detail)  # the log is not a second copy of the record


def test_a_screening_with_missing_answers_keeps_what_was_typed_and_says_what_to_fix(login, tess, avery):
    data = screening_post()
    del data["finding_pregnancy"], data["finding_bladder"]
    data.update({"med-0-name": "Adderall", "med-0-kind": "", "notes": "Sees Dr Lee for BP."})
    page = login(tess).post(reverse("medical:screening_new", args=[avery.pk]), data).content.decode()
    assert "questions 3 and 16 are not answered yet" in page
    assert "Choose its class" in page
    assert 'value="Adderall"' in page and "Sees Dr Lee for BP." in page
    assert not Screening.objects.exists()


# --- Clearance ----------------------------------------------------------------------------------


def test_clearance_is_refused_while_an_exclusion_is_unresolved(login, priya, avery, audit_rows):
    screening = make_screening(avery, yes=["hypertension"], medications=[("Adderall", "stimulant")])
    url = reverse("medical:clearance_new", args=[avery.pk])
    page = login(priya).post(url, clearance_post(screening)).content.decode()
    assert "Write how this exclusion is resolved before clearing." in page
    assert "Tick to acknowledge this flag before clearing." in page
    assert "Well; no cardiac history." in page  # what was typed is kept
    assert not Clearance.objects.exists() and audit_rows("kapflow.medical.clearance.recorded") == []
    assert not gates.screening_gate(avery).passed


def test_the_prescriber_clears_resolving_each_exclusion_and_acknowledging_each_review_flag(
    login, priya, avery, audit_rows
):
    screening = make_screening(avery, yes=["hypertension"], medications=[("Adderall", "stimulant")])
    data = clearance_post(
        screening,
        **{"resolve_hypertension": "Controlled on amlodipine; 124/80 today.", "ack_medication-1": "on"},
    )
    response = login(priya).post(reverse("medical:clearance_new", args=[avery.pk]), data)
    clearance = Clearance.objects.get()
    assert response.status_code == 302
    assert clearance.resolutions == {"hypertension": "Controlled on amlodipine; 124/80 today."}
    assert clearance.acknowledged == ["medication-1"] and clearance.prescriber == priya
    assert (clearance.systolic, clearance.diastolic, clearance.heart_rate, clearance.weight_kg) == (
        124,
        80,
        72,
        Decimal("70.5"),
    )
    assert gates.screening_gate(avery).passed and gates.clearance_gate(avery).passed
    [row] = audit_rows("kapflow.medical.clearance.recorded")
    assert row.detail == {
        "decision": "cleared",
        "screening": screening.pk,
        "exclusions_resolved": 1,
        "reviews_acknowledged": 1,
    }


def test_not_cleared_needs_no_resolution_and_blocks(login, priya, avery):
    screening = make_screening(avery, yes=["psychosis"])
    data = {"decision": "not_cleared", "findings": "Active psychotic symptoms.", "screening_id": screening.pk}
    assert login(priya).post(reverse("medical:clearance_new", args=[avery.pk]), data).status_code == 302
    clearance = Clearance.objects.get()
    assert clearance.valid_until is None
    assert gates.clearance_gate(avery).reason.startswith("Not medically cleared")


def test_the_clearance_runs_the_practices_months_by_default_and_no_longer(login, priya, avery):
    practice = Practice.load()
    practice.clearance_valid_months = 6
    practice.save()
    screening = make_screening(avery)
    with time_machine.travel(MAY_3_2026, tick=False):
        url = reverse("medical:clearance_new", args=[avery.pk])
        form = login(priya).get(url).content.decode()
        assert 'value="2026-11-03"' in form
        too_late = (
            login(priya).post(url, clearance_post(screening, valid_until="2026-11-04")).content.decode()
        )
        assert "Choose a date from today to Nov 3, 2026" in too_late
        assert login(priya).post(url, clearance_post(screening, valid_until="2026-11-03")).status_code == 302
    assert Clearance.objects.get().valid_until == datetime.date(2026, 11, 3)


def test_cleared_with_conditions_needs_the_conditions_written(login, priya, avery):
    screening = make_screening(avery)
    url = reverse("medical:clearance_new", args=[avery.pk])
    page = login(priya).post(url, clearance_post(screening, decision="conditions")).content.decode()
    assert "Write the conditions of the clearance." in page and not Clearance.objects.exists()


def test_a_clearance_reviews_the_latest_screening_only(login, priya, avery):
    old = make_screening(avery, at=timezone.now() - datetime.timedelta(hours=1))
    make_screening(avery, yes=["pregnancy"])
    page = (
        login(priya)
        .post(reverse("medical:clearance_new", args=[avery.pk]), clearance_post(old))
        .content.decode()
    )
    assert "A newer screening was entered while you were reviewing." in page
    assert not Clearance.objects.exists()


def test_the_clearance_form_asks_for_a_screening_first(login, priya, avery):
    page = login(priya).get(reverse("medical:clearance_new", args=[avery.pk])).content.decode()
    assert "There is no contraindication screening to review yet." in page


# --- Orders -------------------------------------------------------------------------------------


def test_the_prescriber_writes_an_order(login, priya, avery, audit_rows):
    response = login(priya).post(reverse("medical:order_new", args=[avery.pk]), order_post())
    order = MedicationOrder.objects.get()
    assert response.status_code == 302
    assert (order.route, order.dose_text, order.prescriber, order.confirmed_outside_typical) == (
        "sublingual",
        "200–300 mg",
        priya,
        False,
    )
    [row] = audit_rows("kapflow.medical.order.created")
    assert row.detail == {"route": "sublingual", "outside_typical_confirmed": False, "minor_signoff": False}


def test_a_dose_outside_the_typical_range_asks_for_confirmation(login, priya, avery, audit_rows):
    url = reverse("medical:order_new", args=[avery.pk])
    page = login(priya).post(url, order_post(dose_min="400", dose_max="500")).content.decode()
    assert "400–500 mg is outside the typical range for this route, 100–400 mg" in page
    assert "I confirm this dose" in page and 'value="500"' in page
    assert not MedicationOrder.objects.exists()
    assert (
        login(priya).post(url, order_post(dose_min="400", dose_max="500", confirm_dose="on")).status_code
        == 302
    )
    assert MedicationOrder.objects.get().confirmed_outside_typical
    assert audit_rows("kapflow.medical.order.created")[0].detail["outside_typical_confirmed"] is True


@pytest.mark.parametrize(
    "extra, error",
    [
        ({"route": "intranasal"}, "The intranasal route is esketamine (Spravato)."),
        ({"route": "intramuscular"}, "Give the weight this order is written for."),
        ({"unit": "mg_per_kg"}, "Sublingual and intranasal doses are written in mg."),
        ({"dose_min": "300", "dose_max": "200"}, "The highest dose is below the lowest."),
        ({"boosters_allowed": "1"}, "Give the highest booster dose, or allow 0 boosters."),
    ],
)
def test_an_order_that_does_not_add_up_says_what_to_fix(login, priya, avery, extra, error):
    page = (
        login(priya).post(reverse("medical:order_new", args=[avery.pk]), order_post(**extra)).content.decode()
    )
    assert error in page and not MedicationOrder.objects.exists()


def test_the_prescriber_discontinues_an_order_with_a_reason(login, priya, avery, audit_rows):
    order = make_order(avery, priya)
    url = reverse("medical:order_discontinue", args=[avery.pk, order.pk])
    assert login(priya).post(url, {"reason": ""}).status_code == 200
    assert login(priya).post(url, {"reason": "Course complete."}).status_code == 302
    order.refresh_from_db()
    assert order.discontinue_reason == "Course complete." and order.discontinued_by == priya
    assert "discontinued on" in gates.order_gate(avery).reason
    assert len(audit_rows("kapflow.medical.order.discontinued")) == 1
    assert login(priya).get(url).status_code == 405


# --- Every page leaves its audit row ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, ids, action",
    [
        ("medical:summary", [], "kapflow.medical.summary.viewed"),
        ("medical:screening_new", [], "kapflow.medical.screening.opened"),
        ("medical:screening_detail", ["screening"], "kapflow.medical.screening.viewed"),
        ("medical:clearance_new", [], "kapflow.medical.clearance.opened"),
        ("medical:clearance_detail", ["clearance"], "kapflow.medical.clearance.viewed"),
        ("medical:order_new", [], "kapflow.medical.order.opened"),
        ("medical:order_detail", ["order"], "kapflow.medical.order.viewed"),
    ],
)
def test_each_page_writes_its_audit_row(login, priya, avery, audit_rows, name, ids, action):
    screening = make_screening(avery, yes=["pregnancy"])
    objects = {
        "screening": screening,
        "clearance": make_clearance(avery, screening, priya, decision="deferred"),
        "order": make_order(avery, priya),
    }
    response = login(priya).get(reverse(name, args=[avery.pk, *(objects[key].pk for key in ids)]))
    assert response.status_code == 200
    [row] = audit_rows(action)
    assert (row.actor, row.client) == (priya, avery)
