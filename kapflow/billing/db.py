"""What the billing page finds without reading the practice's whole history, kept by the
database (docs/billing.md, "Kept by the database").

Three columns, each set by a trigger as rows are written, never by code (kapflow.lib.kept):

- `Invoice.owed_cents`: the invoice's charges less what was paid and written off, plus what was
  refunded, in whole cents. An invoice line written adds its charge; a payment or a write-off
  takes its amount off; a refund puts its amount back. The invoice's CHECK constraint refuses a
  value below zero, so an entry that would overpay is refused by the database as well as by
  `entry_record`.
- `Charge.invoiced`: set when an invoice line for the charge is written.
- `Visit.charged`: set when a charge for the visit is written.

Charges, invoice lines and entries are never changed or deleted once written
(kapflow.audit.immutable), so their INSERTs are the only changes there are, whoever makes them
(the services, the demo's bulk loads). On PostgreSQL the invoice's and the charge's guards let
only a trigger change their kept column.

Installed by the billing app's migration and again after every `migrate` and flush
(kapflow.billing.apps). On SQLite they are also dropped before every `migrate`: the schema
editor rebuilds a table by copying it, dropping it and renaming the copy, and SQLite refuses the
rename while a trigger on another table names the table dropped ("error in trigger
billing_owed_line: no such table"). No migration writes charges, invoice lines or entries
meanwhile.
"""

LINE_TRIGGER = "billing_owed_line"
ENTRY_TRIGGER = "billing_owed_entry"
CHARGE_TRIGGER = "billing_charged_visit"

# The signed change an entry makes to what is owed, in cents, for a row named `row`.
_ENTRY_CENTS = (
    "(CASE WHEN {row}.kind = 'refund' THEN 1 ELSE -1 END) * CAST(ROUND({row}.amount * 100) AS INTEGER)"
)

_SQLITE = [
    f"DROP TRIGGER IF EXISTS {LINE_TRIGGER}",
    f"""CREATE TRIGGER {LINE_TRIGGER} AFTER INSERT ON billing_invoiceline FOR EACH ROW
        BEGIN
            UPDATE billing_invoice
               SET owed_cents = owed_cents
                   + (SELECT CAST(ROUND(amount * 100) AS INTEGER)
                        FROM billing_charge WHERE id = NEW.charge_id)
             WHERE id = NEW.invoice_id;
            UPDATE billing_charge SET invoiced = 1 WHERE id = NEW.charge_id;
        END""",  # noqa: S608 (constants only)
    f"DROP TRIGGER IF EXISTS {ENTRY_TRIGGER}",
    f"""CREATE TRIGGER {ENTRY_TRIGGER} AFTER INSERT ON billing_entry FOR EACH ROW
        BEGIN
            UPDATE billing_invoice SET owed_cents = owed_cents + {_ENTRY_CENTS.format(row="NEW")}
             WHERE id = NEW.invoice_id;
        END""",  # noqa: S608 (constants only)
    f"DROP TRIGGER IF EXISTS {CHARGE_TRIGGER}",
    f"""CREATE TRIGGER {CHARGE_TRIGGER} AFTER INSERT ON billing_charge FOR EACH ROW
        BEGIN
            UPDATE visits_visit SET charged = 1 WHERE id = NEW.visit_id AND charged = 0;
        END""",  # noqa: S608 (constants only)
]


def _after_each_insert(name: str, table: str) -> list[str]:
    """PostgreSQL: the trigger `name` runs its function `name`() once per INSERT statement on
    `table`, over the rows it wrote (`written`)."""
    return [
        f"DROP TRIGGER IF EXISTS {name} ON {table}",
        f"""CREATE TRIGGER {name} AFTER INSERT ON {table}
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION {name}()""",
    ]


# PostgreSQL: once per statement, over the rows it wrote (a bulk insert of a thousand lines is
# one UPDATE of each table, not a thousand).
_POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION {LINE_TRIGGER}() RETURNS trigger AS $$
        BEGIN
            UPDATE billing_invoice AS invoice
               SET owed_cents = invoice.owed_cents + added.cents
              FROM (SELECT line.invoice_id, SUM(ROUND(charge.amount * 100))::integer AS cents
                      FROM written AS line JOIN billing_charge AS charge ON charge.id = line.charge_id
                     GROUP BY line.invoice_id) AS added
             WHERE invoice.id = added.invoice_id;
            UPDATE billing_charge SET invoiced = TRUE WHERE id IN (SELECT charge_id FROM written);
            RETURN NULL;
        END; $$ LANGUAGE plpgsql""",  # noqa: S608 (constants only)
    *_after_each_insert(LINE_TRIGGER, "billing_invoiceline"),
    f"""CREATE OR REPLACE FUNCTION {ENTRY_TRIGGER}() RETURNS trigger AS $$
        BEGIN
            UPDATE billing_invoice AS invoice
               SET owed_cents = invoice.owed_cents + moved.cents
              FROM (SELECT entry.invoice_id, SUM({_ENTRY_CENTS.format(row="entry")})::integer AS cents
                      FROM written AS entry GROUP BY entry.invoice_id) AS moved
             WHERE invoice.id = moved.invoice_id;
            RETURN NULL;
        END; $$ LANGUAGE plpgsql""",  # noqa: S608 (constants only)
    *_after_each_insert(ENTRY_TRIGGER, "billing_entry"),
    f"""CREATE OR REPLACE FUNCTION {CHARGE_TRIGGER}() RETURNS trigger AS $$
        BEGIN
            UPDATE visits_visit SET charged = TRUE
             WHERE id IN (SELECT visit_id FROM written) AND NOT charged;
            RETURN NULL;
        END; $$ LANGUAGE plpgsql""",  # noqa: S608 (constants only)
    *_after_each_insert(CHARGE_TRIGGER, "billing_charge"),
]

# Every kept column worked out afresh from the rows (the migration that added them).
RECOUNT = [
    f"""UPDATE billing_invoice SET owed_cents =
        COALESCE((SELECT SUM(CAST(ROUND(charge.amount * 100) AS INTEGER))
                    FROM billing_invoiceline AS line
                    JOIN billing_charge AS charge ON charge.id = line.charge_id
                   WHERE line.invoice_id = billing_invoice.id), 0)
      + COALESCE((SELECT SUM({_ENTRY_CENTS.format(row="entry")})
                    FROM billing_entry AS entry WHERE entry.invoice_id = billing_invoice.id), 0)""",  # noqa: S608 (constants only)
    """UPDATE billing_charge
          SET invoiced = EXISTS (SELECT 1 FROM billing_invoiceline WHERE charge_id = billing_charge.id)""",
    """UPDATE visits_visit SET charged = TRUE
        WHERE EXISTS (SELECT 1 FROM billing_charge WHERE visit_id = visits_visit.id)""",
]

# The tables whose guards (kapflow.audit.immutable) the recount lifts for its statements.
_GUARDED = ("billing_invoice", "billing_charge")


def trigger_names() -> dict[str, str]:
    """Each trigger by the table it is on (the tests check they exist after migrate)."""
    return {
        "billing_invoiceline": LINE_TRIGGER,
        "billing_entry": ENTRY_TRIGGER,
        "billing_charge": CHARGE_TRIGGER,
    }


def install_triggers(connection) -> None:
    """The three triggers, once the tables they use exist. Idempotent."""
    needed = {*trigger_names(), "billing_invoice", "visits_visit"}
    if not needed <= set(connection.introspection.table_names()):
        return
    statements = _SQLITE if connection.vendor == "sqlite" else _POSTGRES
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def drop_triggers(connection) -> None:
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table, name in trigger_names().items():
            if connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            elif table in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")


def recount(connection) -> None:
    """Work out every kept column again from the rows. On PostgreSQL the invoice's and the
    charge's guards let only a trigger change them, so they are lifted for these statements and
    put back (in the caller's transaction: a migration's)."""
    from kapflow.audit import immutable
    from kapflow.audit.db import install_triggers as install_guards

    lift = immutable.sqlite_drop if connection.vendor == "sqlite" else immutable.postgres_drop
    with connection.cursor() as cursor:
        for rule in immutable.RULES:
            for statement in lift(rule) if rule.table in _GUARDED else ():
                cursor.execute(statement)
        for statement in RECOUNT:
            cursor.execute(statement)
    install_guards(connection)
