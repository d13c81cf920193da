"""`manage.py export_practice --output FILE`: the practice's export (kapflow.ops.export,
docs/export.md) written to a file that only its owner may read, as the page's download is."""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kapflow.audit.services import audit_record
from kapflow.ops import export
from kapflow.practice.models import Practice


class Command(BaseCommand):
    help = "Write everything the practice keeps to one ZIP archive (docs/export.md)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--output", required=True, metavar="FILE", help="the archive to write (must not exist)"
        )

    def handle(self, *args, output: str, **options) -> None:
        path = Path(output)
        practice = Practice.load()
        try:
            # Created for its owner alone (0600) and never over an existing file.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} already exists: give a new file name.") from None
        except OSError as error:
            raise CommandError(f"Cannot create {path}: {error.strerror}.") from None
        os.fchmod(descriptor, 0o600)  # whatever the umask
        counts = export.row_counts()
        audit_record(
            action="kapflow.ops.export.downloaded",
            obj=practice,
            detail={
                "via": "command",
                "tables": len(counts),
                "rows": sum(counts.values()),
                "row_counts": counts,
            },
        )
        written = 0
        try:
            with os.fdopen(descriptor, "wb") as archive:
                for chunk in export.stream(practice_name=practice.name):
                    archive.write(chunk)
                    written += len(chunk)
        except BaseException:
            path.unlink(missing_ok=True)  # no half-written archive left looking like a whole one
            raise
        self.stdout.write(
            f"Wrote {path}: {written:,} bytes, {sum(counts.values()):,} rows in {len(counts)} tables."
        )
