"""Database triggers an app keeps in place across every `migrate` and flush (the audit log's and
the signed records' in kapflow.audit.db, the billing page's kept columns in kapflow.billing.db).

- After every migrate, and every flush, which sends the same signal (`post_migrate`): put back.
  Django's SQLite schema editor rebuilds a table (copy, drop, rename) for many changes, and the
  rebuilt table has lost its triggers.
- Before every migrate on SQLite (`pre_migrate`): lifted. A trigger on one table may name
  another (an entry names its runbook, an invoice line its invoice), and SQLite refuses to rename
  a rebuilt copy of that other table into place while such a trigger names it ("error in
  trigger …: no such table").
"""

from collections.abc import Callable

from django.db import connections
from django.db.models.signals import post_migrate, pre_migrate


def keep_across_migrate(config, *, install: Callable, drop: Callable) -> None:
    """From the app `config`'s ready(): `install(connection)` after every migrate and flush of
    that app, `drop(connection)` before every migrate of it on SQLite."""

    def put_back(sender, using: str = "default", **kwargs) -> None:
        install(connections[using])

    def lift(sender, using: str = "default", **kwargs) -> None:
        if connections[using].vendor == "sqlite":
            drop(connections[using])

    post_migrate.connect(put_back, sender=config, weak=False, dispatch_uid=f"kapflow.{config.label}.triggers")
    pre_migrate.connect(lift, sender=config, weak=False, dispatch_uid=f"kapflow.{config.label}.lift_triggers")
