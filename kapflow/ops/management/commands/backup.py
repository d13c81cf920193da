"""`manage.py backup [--output DIR]`: one archive of the database, the task queue and the stored
files, consistent while kapflow runs (kapflow.ops.backup; docs/backup.md)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kapflow.audit.management.commands.audit_verify import _link
from kapflow.ops.backup import BackupError, backup_create, default_folder


class Command(BaseCommand):
    help = "Write a backup archive of the database, the task queue and the stored files."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--output",
            metavar="DIR",
            type=Path,
            help=f"the folder to write the archive into (made owner-only); default {default_folder()}",
        )
        parser.add_argument(
            "--audit-after",
            metavar="SEQ:HASH",
            help="when months of the audit log were archived out of the database: the link of the "
            "last archived row, as for `audit_verify --after`",
        )

    def handle(self, *args, output: Path | None = None, audit_after: str | None = None, **options) -> None:
        try:
            path = backup_create(folder=output, audit_after=_link(audit_after) if audit_after else None)
        except BackupError as error:
            raise CommandError(f"Backup failed: {error}") from None
        self.stdout.write(f"Backup written: {path} ({path.stat().st_size:,} bytes)")
