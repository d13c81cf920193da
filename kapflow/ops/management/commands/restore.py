"""`manage.py restore ARCHIVE`: checks a backup archive, refuses unless the configured database,
queue and file folder are empty, loads it and checks the result against its manifest
(kapflow.ops.backup; docs/backup.md). Exit status 1 with the reason on any failure."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kapflow.ops.backup import BackupError, restore


class Command(BaseCommand):
    help = "Restore a backup archive into an empty installation, then verify it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("archive", type=Path, help="the .tar file `manage.py backup` wrote")

    def handle(self, *args, archive: Path, **options) -> None:
        try:
            manifest = restore(archive=archive, say=self.stdout.write)
        except BackupError as error:
            raise CommandError(str(error)) from None
        audit = manifest["audit"]
        self.stdout.write(
            f"Restored and verified: {sum(manifest['tables'].values())} rows in {len(manifest['tables'])} "
            f"tables, {len(manifest['migrations'])} migrations, audit chain whole to position "
            f"{audit['head_seq']} ({audit['head_hash']})."
        )
        if manifest["database"]["vendor"] == "postgresql":
            self.stdout.write(
                "Grants were not restored: run `manage.py audit_grant_runtime_role <role>` for the "
                "role the web processes and workers connect as."
            )
