"""The clients an audit row names in its detail ("clients": [ids]), one row each in
`audit_auditeventclient`, so that the audit page's client filter finds the dashboard, calendar and
list reads that showed a client (kapflow.audit.models.AuditEventClient).

The rows written before this migration are indexed here. Only the actions that name clients in
their detail are read, through the (action, at, id) index, a batch at a time: the rest of the log
is not scanned. The audit table itself is not touched, so its triggers and hash chain stay."""

from django.db import migrations, models

# Every action that writes `"clients": [...]` in its detail (the test
# tests/test_audit_sentences.py checks this list against the code that writes them).
NAMING_CLIENTS = [
    "kapflow.billing.estimates_due.viewed",
    "kapflow.billing.overview.viewed",
    "kapflow.controlled.lot.viewed",
    "kapflow.controlled.report.downloaded",
    "kapflow.controlled.report.viewed",
    "kapflow.dashboard.list_viewed",
    "kapflow.dashboard.viewed",
    "kapflow.dosing.rems.list_viewed",
    "kapflow.visits.calendar.viewed",
    "kapflow.visits.readiness.viewed",
]
BATCH = 2000


def index_named_clients(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditEventClient = apps.get_model("audit", "AuditEventClient")
    db = schema_editor.connection.alias
    rows = (
        AuditEvent.objects.using(db)
        .filter(action__in=NAMING_CLIENTS)
        .values_list("pk", "at", "detail")
        .order_by()
    )
    batch = []
    for pk, at, detail in rows.iterator(chunk_size=BATCH):
        values = detail.get("clients") if isinstance(detail, dict) else None
        if not isinstance(values, list):
            continue
        for client_id in sorted(
            {v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0}
        ):
            batch.append(AuditEventClient(event_id=pk, client_id=client_id, at=at))
        if len(batch) >= BATCH:
            AuditEventClient.objects.using(db).bulk_create(batch)
            batch = []
    if batch:
        AuditEventClient.objects.using(db).bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_indexes_for_keyset_paging"),
        ("clients", "0004_access_grants"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEventClient",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField()),
                (
                    "client",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.DO_NOTHING,
                        related_name="+",
                        to="clients.client",
                    ),
                ),
                (
                    "event",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=models.deletion.DO_NOTHING,
                        related_name="named_clients",
                        to="audit.auditevent",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["client", "-at", "-event"], name="audit_named_client_at_idx")
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("event", "client"), name="audit_named_client_once")
                ],
            },
        ),
        migrations.RunPython(index_named_clients, migrations.RunPython.noop),
    ]
