"""`manage.py audit_grant_runtime_role <role>` (PostgreSQL): lets the role that the web and worker
processes connect as read and write every table, but only read and add to the audit log.

Run it as the database owner (the role that runs `migrate`), after `migrate`. The runtime role
then cannot UPDATE, DELETE or TRUNCATE audit rows even with the triggers dropped, and cannot drop
them, because it owns nothing: the refusal comes from PostgreSQL's permissions, the triggers and
the hash chain are further layers. docs/security/audit.md walks through the set-up."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from kapflow.audit.db import TABLE
from kapflow.audit.models import AuditEventClient


def grant_statements(role: str, *, schema: str) -> list[str]:
    quote = connection.ops.quote_name
    r, s = quote(role), quote(schema)
    audit, named = (f"{s}.{quote(table)}" for table in (TABLE, AuditEventClient._meta.db_table))
    return [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        # The audit log, and the index of the clients its rows name: read and add, nothing else.
        f"REVOKE ALL ON {audit} FROM {r}",
        f"GRANT SELECT, INSERT ON {audit} TO {r}",
        f"REVOKE ALL ON {named} FROM {r}",
        f"GRANT SELECT, INSERT ON {named} TO {r}",
        # Tables and sequences that later migrations create (as this owner) get the same grants;
        # the audit table exists already, so its narrower grant stands.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ]


class Command(BaseCommand):
    help = (
        "PostgreSQL: grant the runtime database role read/write on every table but only SELECT and "
        "INSERT on the audit log. Run as the owner, after migrate. Prints the SQL it runs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("role", help="the role the web and worker processes connect as")
        parser.add_argument("--dry-run", action="store_true", help="print the SQL without running it")

    def handle(self, *args, role: str, dry_run: bool = False, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "audit_grant_runtime_role is for PostgreSQL: with SQLite, the one process that "
                "opens the file has all of it, and the triggers and hash chain are what protect the log."
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, current_schema(), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)",
                [role],
            )
            owner, schema, exists = cursor.fetchone()
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
            superuser = (cursor.fetchone() or (False,))[0]
        if not exists:
            raise CommandError(
                f"There is no role {role!r}: create it first (CREATE ROLE {role} LOGIN PASSWORD '…')."
            )
        if role == owner or superuser:
            raise CommandError(
                f"{role!r} owns the tables or is a superuser: it could change the audit log whatever "
                "is granted. The runtime role must be a separate, ordinary role."
            )
        statements = grant_statements(role, schema=schema)
        with transaction.atomic():
            for statement in statements:
                self.stdout.write(statement + ";")
                if not dry_run:
                    with connection.cursor() as cursor:
                        cursor.execute(statement)
        if not dry_run:
            self.stdout.write(
                f"Granted. Point the web and worker processes' DATABASE_URL at {role}; "
                f"keep {owner} for migrate."
            )
