"""Signed clinical records refuse UPDATE and DELETE at the database, not only in code (issue 11,
item 8; kapflow.audit.immutable). Raw SQL is used on purpose: it is what code that forgot the
rules, or a person at the database prompt, would run."""

import datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from kapflow.audit import immutable
from kapflow.consent.models import ConsentDocument, Signature
from kapflow.dosing.models import Note, Runbook, VitalsReading
from kapflow.measures.models import Response
from kapflow.medical.models import Clearance, MedicationOrder, Screening
from kapflow.visits.models import Visit

REFUSED = "signed clinical record"
NOW = timezone.now()


def sql(statement: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as c:
        c.execute(statement, params)


def refused(statement: str, params=()) -> None:
    with pytest.raises(DatabaseError, match=REFUSED):
        sql(statement, params)


@pytest.fixture
def runbook(avery, tess, cora):
    visit = Visit.objects.create(
        client=avery,
        kind=Visit.Kind.MEDICATION,
        modality=Visit.Modality.VIRTUAL,
        starts_at=NOW,
        ends_at=NOW + datetime.timedelta(hours=2),
        clinician=tess,
        created_by=cora,
    )
    return Runbook.objects.create(visit=visit)


def _vitals(runbook, who) -> VitalsReading:
    return VitalsReading.objects.create(
        runbook=runbook,
        phase="in_session",
        taken_at=NOW,
        systolic=120,
        diastolic=80,
        heart_rate=70,
        recorded_by=who,
    )


def _sign(runbook, who) -> None:
    Runbook.objects.filter(pk=runbook.pk).update(discharged_at=NOW, discharged_by=who)
    Runbook.objects.filter(pk=runbook.pk).update(signed_at=NOW, signed_by=who)


def test_a_runbook_and_its_entries_change_freely_until_signed(runbook, tess):
    reading = _vitals(runbook, tess)
    sql("UPDATE dosing_vitalsreading SET systolic = 121 WHERE id = %s", [reading.pk])
    sql("UPDATE dosing_runbook SET override_reason = 'x' WHERE id = %s", [runbook.pk])
    _sign(runbook, tess)  # the lock fields themselves are set by an UPDATE
    assert Runbook.objects.get(pk=runbook.pk).is_locked


def test_a_signed_runbook_refuses_update_and_delete(runbook, tess):
    _sign(runbook, tess)
    refused("UPDATE dosing_runbook SET override_reason = 'changed' WHERE id = %s", [runbook.pk])
    refused("UPDATE dosing_runbook SET signed_at = NULL, signed_by_id = NULL WHERE id = %s", [runbook.pk])
    refused("DELETE FROM dosing_runbook WHERE id = %s", [runbook.pk])
    # Saving it unchanged (an UPDATE of every column to the same value) is not a change.
    Runbook.objects.get(pk=runbook.pk).save()


def test_the_entries_of_a_signed_runbook_refuse_update_and_delete(runbook, tess):
    reading = _vitals(runbook, tess)
    note = Note.objects.create(runbook=runbook, written_at=NOW, text="Calm.", author=tess)
    _sign(runbook, tess)
    refused("UPDATE dosing_vitalsreading SET systolic = 99 WHERE id = %s", [reading.pk])
    refused("DELETE FROM dosing_vitalsreading WHERE id = %s", [reading.pk])
    refused("UPDATE dosing_note SET text = 'rewritten' WHERE id = %s", [note.pk])
    refused("DELETE FROM dosing_note WHERE id = %s", [note.pk])
    assert VitalsReading.objects.get(pk=reading.pk).systolic == 120


def test_an_entry_cannot_be_moved_into_a_signed_runbook(runbook, tess, avery, cora):
    other = Runbook.objects.create(
        visit=Visit.objects.create(
            client=avery,
            kind=Visit.Kind.MEDICATION,
            modality=Visit.Modality.VIRTUAL,
            starts_at=NOW + datetime.timedelta(days=1),
            ends_at=NOW + datetime.timedelta(days=1, hours=2),
            clinician=tess,
            created_by=cora,
        )
    )
    reading = _vitals(other, tess)
    _sign(runbook, tess)
    refused("UPDATE dosing_vitalsreading SET runbook_id = %s WHERE id = %s", [runbook.pk, reading.pk])


def test_an_unsigned_draft_may_still_be_deleted(runbook, tess):
    reading = _vitals(runbook, tess)
    sql("DELETE FROM dosing_vitalsreading WHERE id = %s", [reading.pk])
    sql("DELETE FROM dosing_runbook WHERE id = %s", [runbook.pk])
    assert not Runbook.objects.filter(pk=runbook.pk).exists()


@pytest.fixture
def clearance(avery, priya):
    screening = Screening.objects.create(client=avery, answers={}, age=35)
    return Clearance.objects.create(
        client=avery,
        screening=screening,
        prescriber=priya,
        decision="cleared",
        findings="Fit.",
        valid_until=datetime.date(2026, 12, 31),
    )


def test_a_clearance_may_be_revoked_once_and_nothing_else(clearance, priya, tess):
    refused("UPDATE medical_clearance SET findings = 'rewritten' WHERE id = %s", [clearance.pk])
    refused("DELETE FROM medical_clearance WHERE id = %s", [clearance.pk])
    # Revoking, the one change a clearance has (kapflow.medical.services.clearance_revoke).
    sql(
        "UPDATE medical_clearance SET revoked_at = %s, revoked_by_id = %s, revoke_reason = 'New finding'"
        " WHERE id = %s",
        [NOW, priya.pk, clearance.pk],
    )
    # Once revoked, the revocation itself is fixed too.
    refused("UPDATE medical_clearance SET revoke_reason = 'other' WHERE id = %s", [clearance.pk])
    refused("UPDATE medical_clearance SET revoked_by_id = %s WHERE id = %s", [tess.pk, clearance.pk])


@pytest.fixture
def order(avery, priya):
    return MedicationOrder.objects.create(
        client=avery,
        prescriber=priya,
        drug="ketamine",
        route="sublingual",
        dose_min=Decimal("100"),
        dose_max=Decimal("200"),
        sessions_authorised=3,
        starts_on=datetime.date(2026, 1, 1),
        ends_on=datetime.date(2026, 6, 30),
    )


def test_an_order_may_be_discontinued_once_and_nothing_else(order, priya):
    refused("UPDATE medical_medicationorder SET dose_max = 500 WHERE id = %s", [order.pk])
    refused("UPDATE medical_medicationorder SET sessions_authorised = 9 WHERE id = %s", [order.pk])
    refused("DELETE FROM medical_medicationorder WHERE id = %s", [order.pk])
    sql(
        "UPDATE medical_medicationorder SET discontinued_at = %s, discontinued_by_id = %s,"
        " discontinue_reason = 'Course finished' WHERE id = %s",
        [NOW, priya.pk, order.pk],
    )
    refused("UPDATE medical_medicationorder SET discontinued_at = NULL WHERE id = %s", [order.pk])


def test_a_signature_and_a_questionnaire_response_never_change(avery, tess):
    document = ConsentDocument.objects.create(
        kind="kap", version=901, title="KAP", body="Text", created_by=tess
    )
    signature = Signature.objects.create(
        document=document,
        kind="kap",
        client=avery,
        signer="client",
        signer_name="Avery Alvarez",
        typed_name="Avery Alvarez",
        decision="agree",
        text_sha256="0" * 64,
        presented_by=tess,
    )
    refused("UPDATE consent_signature SET decision = 'refuse' WHERE id = %s", [signature.pk])
    refused("DELETE FROM consent_signature WHERE id = %s", [signature.pk])
    response = Response.objects.create(
        client=avery, instrument="phq9", version="1", answers={}, total=3, band="Minimal"
    )
    refused("UPDATE measures_response SET total = 0 WHERE id = %s", [response.pk])
    refused("DELETE FROM measures_response WHERE id = %s", [response.pk])


def test_a_guardian_who_signed_may_be_taken_off_the_chart_and_the_signature_keeps_the_rest(
    avery, tess, login
):
    from django.urls import reverse

    from tests import factories

    guardian = factories.add_guardian(avery)
    other = factories.add_guardian(avery)
    document = ConsentDocument.objects.create(
        kind="guardian", version=902, title="Guardian consent", body="Text", created_by=tess
    )
    signature = Signature.objects.create(
        document=document,
        kind="guardian",
        client=avery,
        guardian=guardian,
        signer="guardian",
        signer_name="Gina Guardian",
        typed_name="Gina Guardian",
        decision="agree",
        text_sha256="0" * 64,
        presented_by=tess,
    )
    # The link may only be cleared, by the database's ON DELETE SET NULL; never pointed elsewhere.
    refused("UPDATE consent_signature SET guardian_id = %s WHERE id = %s", [other.pk, signature.pk])
    response = login(tess).post(reverse("clients:contact_remove", args=[avery.pk, "guardians", guardian.pk]))
    assert response.status_code == 302
    signature.refresh_from_db()
    assert signature.guardian is None and signature.typed_name == "Gina Guardian"
    refused("UPDATE consent_signature SET typed_name = 'Someone' WHERE id = %s", [signature.pk])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
def test_a_signed_record_table_refuses_truncate_on_postgresql(clearance):
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as c:
        c.execute("SET CONSTRAINTS ALL IMMEDIATE")
        c.execute("TRUNCATE medical_clearance CASCADE")


def test_every_runbook_entry_table_is_covered(db):
    """A new kind of runbook entry (another model pointing at Runbook) must be added to
    kapflow.audit.immutable or named here with the reason it may change after signing."""
    may_change_after_signing = {
        # Who was told of an in-session alert and when they saw it: a notification's state,
        # not part of the signed record (kapflow.dosing.alerts marks it seen later).
        "dosing_sessionalert",
    }
    covered = {rule.table for rule in immutable.RULES}
    entries = {
        model._meta.db_table
        for model in apps.get_app_config("dosing").get_models()
        if any(getattr(f, "related_model", None) is Runbook for f in model._meta.concrete_fields)
    }
    assert entries - covered - may_change_after_signing == set()


def test_the_pathway_and_integration_records_never_change(avery, tess, priya):
    """Signed by saving: a consultation, a preparation session, a screening and an integration
    record refuse UPDATE and DELETE; a later view is a new record."""
    from kapflow.integration.models import IntegrationRecord
    from kapflow.pathway.models import Consultation, PreparationSession

    consultation = Consultation.objects.create(
        client=avery, clinician=tess, why_kap="w", history="h", previous_treatment="p",
        supports="s", expectations="e", goals="g", decision="proceed",
    )  # fmt: skip
    preparation = PreparationSession.objects.create(
        client=avery, clinician=tess, topics=["fears"], intentions="i"
    )
    screening = Screening.objects.create(client=avery, answers={}, age=35)
    record = IntegrationRecord.objects.create(client=avery, clinician=tess, themes="Grief.")
    for table, column, pk in [
        ("pathway_consultation", "decision = 'not_a_fit'", consultation.pk),
        ("pathway_preparationsession", "intentions = 'other'", preparation.pk),
        ("medical_screening", "age = 36", screening.pk),
        ("integration_integrationrecord", "themes = 'Nothing.'", record.pk),
    ]:
        refused(f"UPDATE {table} SET {column} WHERE id = %s", [pk])
        refused(f"DELETE FROM {table} WHERE id = %s", [pk])


def test_a_gate_override_may_be_withdrawn_once_and_nothing_else(avery, tess, priya):
    from kapflow.pathway.models import GateOverride

    override = GateOverride.objects.create(
        client=avery, gate="screening", prescriber=priya, reason="Reviewed by phone."
    )
    refused("UPDATE pathway_gateoverride SET reason = 'Other' WHERE id = %s", [override.pk])
    sql(
        "UPDATE pathway_gateoverride SET withdrawn_at = %s, withdrawn_by_id = %s WHERE id = %s",
        [NOW, priya.pk, override.pk],
    )
    refused("UPDATE pathway_gateoverride SET withdrawn_at = NULL WHERE id = %s", [override.pk])
    refused("DELETE FROM pathway_gateoverride WHERE id = %s", [override.pk])


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the trigger texts compared are SQLite's")
def test_the_triggers_are_put_back_where_missing_or_changed_and_left_where_in_place(runbook, tess):
    """After every flush the triggers are installed again (kapflow.audit.db.install_triggers):
    only those missing, or whose text is not what the table's columns now call for, are
    written; the rest are left as they are."""
    from django.test.utils import CaptureQueriesContext

    from kapflow.audit.db import install_triggers

    def trigger_sql(name):
        with connection.cursor() as c:
            c.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s", [name])
            row = c.fetchone()
        return row and row[0]

    def creates(queries):
        return [
            q["sql"].split()[2]
            for q in queries.captured_queries
            if q["sql"].lstrip().startswith("CREATE TRIGGER")
        ]

    rule = next(r for r in immutable.RULES if r.table == "dosing_runbook")
    update, delete = immutable.trigger_names(rule, "sqlite")
    with CaptureQueriesContext(connection) as untouched:
        install_triggers(connection)
    # The audit log's own three are CREATE ... IF NOT EXISTS; no signed-record trigger is written.
    assert update not in creates(untouched) and delete not in creates(untouched)
    expected = trigger_sql(update)

    sql(f"DROP TRIGGER {update}")
    sql(f"DROP TRIGGER {delete}")
    sql(f"CREATE TRIGGER {delete} BEFORE DELETE ON dosing_runbook FOR EACH ROW WHEN 0 BEGIN SELECT 1; END")
    with CaptureQueriesContext(connection) as mended:
        install_triggers(connection)
    assert {update, delete} <= set(creates(mended))
    assert trigger_sql(update) == expected
    _sign(runbook, tess)
    refused("DELETE FROM dosing_runbook WHERE id = %s", [runbook.pk])
