"""A copy of everything the practice keeps, taken while kapflow runs, and its return into an empty
installation (`manage.py backup`, `manage.py restore`; docs/backup.md).

One archive (a plain tar file, owner-only) holds:

* the database, read in one snapshot: on SQLite through the online backup API from inside a read
  transaction (writers go on in the WAL; what they had committed before the snapshot is in the
  copy, however much of it still sits in the -wal file); on PostgreSQL through `pg_dump -Fc`
  given the snapshot exported by a REPEATABLE READ transaction;
* the facts the restore checks the copy against, read inside that same snapshot: the applied
  migrations, the row count of every table and the audit chain's head (`audit_verify.verify`);
* the task queue: huey's SQLite file through the same backup API, or huey's Redis keys as Redis
  serialises them (DUMP, read in one MULTI);
* the stored files under the file storage's folder, read after the snapshot, so that every file
  a copied row names was written before it (a file is saved before its row commits);
* `manifest.json`, last, with the SHA-256 of every other member.

A restore checks the whole archive before it changes anything, refuses anything but an empty
database, queue and file folder, loads, and then checks the result against the manifest."""

import base64
import contextlib
import dataclasses
import datetime
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from huey.storage import RedisStorage, SqliteStorage

from kapflow.audit.management.commands.audit_verify import verify
from kapflow.lib.private_files import FILE_MODE, private_dir, private_sqlite_file

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
QUEUE_MEMBERS = {"sqlite": "queue.sqlite3", "redis": "queue.redis.json"}
FILES_PREFIX = "files/"
CHUNK = 1024 * 1024
# How long a copy of a SQLite file waits for another process's write lock before giving up
# (the same patience as kapflow's own connections, settings.py).
SQLITE_TIMEOUT = 20


class BackupError(Exception):
    """Something that stops a backup or a restore; the message says what and what to do."""


def default_folder() -> Path:
    """Where `manage.py backup` writes without --output: var/backups beside the SQLite files."""
    return Path(settings.VAR_DIR) / "backups"


def kapflow_version() -> str:
    try:
        return importlib.metadata.version("kapflow")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --- Reading the facts -----------------------------------------------------------------------


def database_facts(*, audit_after: tuple[int, str] | None = None) -> dict[str, Any]:
    """The applied migrations, every table's row count and the audit chain's head, as the current
    connection sees them (inside the backup's snapshot, or after a restore). `audit_after` is the
    link of the last audit row archived out of the database, if months were (audit_verify)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        tables = sorted(connection.introspection.table_names(cursor))
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 (names from the catalogue)
            counts[table] = cursor.fetchone()[0]
        migrations: list[str] = []
        if "django_migrations" in counts:
            cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
            migrations = [f"{app}.{name}" for app, name in cursor.fetchall()]
    verdict = verify(after=audit_after)
    return {
        "migrations": migrations,
        "tables": counts,
        "audit": {
            "rows": verdict.rows,
            "head_seq": verdict.head_seq,
            "head_hash": verdict.head_hash,
            "problem": str(verdict.problem) if verdict.problem else None,
            "after": list(audit_after) if audit_after else None,
        },
    }


@contextlib.contextmanager
def _snapshot() -> Iterator[str | None]:
    """One consistent view of the database for everything read inside the block. SQLite: a
    DEFERRED read transaction on kapflow's own connection (its first read fixes what it sees;
    writers carry on in the WAL). PostgreSQL: a REPEATABLE READ, READ ONLY transaction whose
    snapshot is exported for pg_dump; yields its name."""
    if not connection.get_autocommit() or connection.in_atomic_block:
        raise BackupError("a backup must start outside any transaction: it opens its own.")
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        # Django leaves the driver's isolation_level at None under autocommit, so this BEGIN is
        # ours alone; the ORM's reads in the block run inside it.
        raw.execute("BEGIN DEFERRED")
        try:
            raw.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot starts here
            yield None
        finally:
            raw.execute("ROLLBACK")
    elif connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            yield cursor.fetchone()[0]
    else:
        raise BackupError(f"kapflow backs up SQLite and PostgreSQL, not {connection.vendor}.")


# --- PostgreSQL tools ------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} was not found on PATH: install PostgreSQL's client tools (the same major "
            "version as the server, or newer)."
        )
    return path


def _pg_connection_args() -> tuple[list[str], dict[str, str]]:
    """The connection from settings as command-line options, and the password and TLS options as
    environment variables (a password on a command line is visible to every account on the
    machine, through ps)."""
    db = connection.settings_dict
    args = ["--no-password", "--dbname", db["NAME"]]
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    options = db.get("OPTIONS") or {}
    for option, variable in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
    ):
        if options.get(option):
            env[variable] = str(options[option])
    return args, env


def _run_pg(command: list[str], *, env: dict[str, str], stdout=None) -> None:
    out = stdout or subprocess.PIPE
    done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.PIPE, check=False)  # noqa: S603 (our own list)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise BackupError(f"{Path(command[0]).name} failed (status {done.returncode}): {message}")


# --- The queue -------------------------------------------------------------------------------


def _queue_storage():
    from huey.contrib.djhuey import HUEY

    return HUEY.storage


def _queue_kind(storage) -> str:
    if isinstance(storage, SqliteStorage):
        return "sqlite"
    if isinstance(storage, RedisStorage):
        return "redis"
    return "none"


def _redis_keys(storage) -> list[str]:
    return [storage.queue_key, storage.schedule_key, storage.result_key, storage.counter_key]


def _redis_dump(storage) -> bytes:
    """huey's keys as Redis serialises them, read together in one MULTI."""
    keys = _redis_keys(storage)
    with storage.conn.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.dump(key)
            pipe.pttl(key)
        answers = pipe.execute()
    entries = {}
    for key, value, ttl in zip(keys, answers[::2], answers[1::2], strict=True):
        if value is not None:
            entries[key] = {"value": base64.b64encode(value).decode("ascii"), "pttl": max(ttl, 0)}
    return json.dumps({"name": storage.name, "keys": entries}, sort_keys=True, indent=1).encode()


def _redis_load(storage, data: bytes) -> None:
    entries = json.loads(data)["keys"]
    with storage.conn.pipeline(transaction=True) as pipe:
        for key, entry in entries.items():
            pipe.restore(key, entry["pttl"], base64.b64decode(entry["value"]))
        pipe.execute()


def _sqlite_rows(path: Path) -> dict[str, int]:
    """Row counts of every table of a SQLite file (huey's queue)."""
    with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_TIMEOUT)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608


def _sqlite_copy(source: sqlite3.Connection, target_path: Path) -> None:
    """Copy a SQLite database into a new file of the owner's only, as one self-contained file
    (rollback journal, so no -wal file belongs with it)."""
    private_sqlite_file(target_path)
    with contextlib.closing(sqlite3.connect(target_path)) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")


# --- Files -----------------------------------------------------------------------------------


def _files_root() -> tuple[Path | None, str]:
    """The stored files' folder, or None and the storage's class when the files are kept
    elsewhere (object storage keeps its own copies: docs/backup.md)."""
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        return Path(storage.location), ""
    return None, f"{type(storage).__module__}.{type(storage).__name__}"


def _stored_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(path for path in root.rglob("*") if path.is_file() and not path.is_symlink())


class _Hashing:
    """A file object that hashes what is read through it: the archive's member and its recorded
    hash come from the same bytes, even if the file changes meanwhile."""

    def __init__(self, stream) -> None:
        self.stream, self.digest = stream, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.digest.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, path: Path) -> str:
    info = tarfile.TarInfo(name)
    with open(path, "rb") as stream:
        info.size = os.fstat(stream.fileno()).st_size
        info.mtime = int(os.fstat(stream.fileno()).st_mtime)
        info.mode = FILE_MODE
        reader = _Hashing(stream)
        tar.addfile(info, reader)
    return reader.digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> str:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), FILE_MODE
    info.mtime = int(datetime.datetime.now(datetime.UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(data).hexdigest()


# --- Backup ----------------------------------------------------------------------------------


def backup_create(*, folder: Path | None = None, audit_after: tuple[int, str] | None = None) -> Path:
    """Write one archive of the database, the queue and the stored files into `folder` (made the
    owner's only) and return its path. The archive appears under its final name only once it is
    complete. An audit log that does not verify is copied as it is (the copy is still the
    practice's data), and then reported as a BackupError naming the archive."""
    folder = Path(folder or default_folder())
    private_dir(folder)
    now = datetime.datetime.now(datetime.UTC)
    final = folder / f"kapflow-backup-{now:%Y%m%dT%H%M%SZ}.tar"
    if final.exists():
        raise BackupError(f"{final} exists already; wait a second and try again.")
    storage = _queue_storage()
    queue_kind = _queue_kind(storage)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))  # mkdtemp makes it 0700
    partial = folder / f".{final.name}.partial"
    try:
        facts = _write_archive(
            final=final,
            partial=partial,
            staging=staging,
            now=now,
            storage=storage,
            queue_kind=queue_kind,
            audit_after=audit_after,
        )
    except (OSError, sqlite3.Error) as error:
        # A full disk, a folder that cannot be written, a file that vanished while it was read:
        # nothing is left under the archive's name (the finally below), and the operator is told
        # which folder it was.
        reason = getattr(error, "strerror", None) or str(error)
        raise BackupError(
            f"writing the archive into {folder} failed: {reason}. No archive was left."
        ) from error
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    if facts["audit"]["problem"]:
        raise BackupError(
            f"the archive {final} was written, but the audit log it holds is not whole: "
            f"{facts['audit']['problem']}. Investigate with `manage.py audit_verify`."
        )
    return final


def _write_archive(
    *,
    final: Path,
    partial: Path,
    staging: Path,
    now: datetime.datetime,
    storage,
    queue_kind: str,
    audit_after: tuple[int, str] | None,
) -> dict[str, Any]:
    """backup_create's work: the snapshot copied into `staging`, the archive written to `partial`
    and renamed to `final` once synced. Returns the facts read in the snapshot."""
    vendor = connection.vendor
    database_path = staging / DATABASE_MEMBERS.get(vendor, "database")
    with _snapshot() as snapshot:
        facts = database_facts(audit_after=audit_after)
        if vendor == "sqlite":
            _sqlite_copy(connection.connection, database_path)
        else:
            args, env = _pg_connection_args()
            with open(os.open(database_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE), "wb") as out:
                _run_pg(
                    [_pg_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", *args],
                    env=env,
                    stdout=out,
                )

    queue_path = staging / QUEUE_MEMBERS.get(queue_kind, "queue")
    if queue_kind == "sqlite":
        with contextlib.closing(sqlite3.connect(storage.filename, timeout=SQLITE_TIMEOUT)) as source:
            _sqlite_copy(source, queue_path)

    members: dict[str, str] = {}
    root, elsewhere = _files_root()
    files = _stored_files(root) if root is not None else []
    fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    with open(fd, "wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        members[database_path.name] = _add(tar, database_path.name, database_path)
        if queue_kind == "sqlite":
            members[queue_path.name] = _add(tar, queue_path.name, queue_path)
        elif queue_kind == "redis":
            name = QUEUE_MEMBERS["redis"]
            members[name] = _add_bytes(tar, name, _redis_dump(storage))
        for path in files:
            name = FILES_PREFIX + path.relative_to(root).as_posix()
            members[name] = _add(tar, name, path)
        manifest = {
            "format": FORMAT,
            "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "kapflow_version": kapflow_version(),
            "database": {"vendor": vendor, "member": database_path.name},
            **facts,
            "queue": {"kind": queue_kind, "name": getattr(storage, "name", "")},
            "files": {"count": len(files), "kept_elsewhere_by": elsewhere},
            "members": members,
        }
        _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        tar.close()  # the end-of-archive blocks, before the file is synced to disk
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, final)
    return facts


# --- Restore ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Checked:
    """An archive whose every member matched its manifest; the database and queue extracted."""

    manifest: dict[str, Any]
    database: Path
    queue: Path | None


def _safe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and name == path.as_posix()


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
        manifest = json.loads(tar.extractfile(member).read())
    except (KeyError, AttributeError, ValueError) as error:
        raise BackupError(
            f"no readable {MANIFEST} ({error}): this is not a kapflow backup, or a copy of one cut "
            "short (the manifest is its last member)."
        ) from None
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"archive format {manifest.get('format')!r}: this kapflow reads format {FORMAT}. "
            f"Restore it with kapflow {manifest.get('kapflow_version', '?')}."
        )
    return manifest


def archive_check(archive: Path, *, staging: Path) -> Checked:
    """Check every member against the manifest's SHA-256 (none missing, none extra, none
    changed) and extract the database and queue into `staging`. Nothing else is touched."""
    try:
        tar = tarfile.open(archive, mode="r:")  # noqa: SIM115 (closed by the `with` below)
    except (OSError, tarfile.TarError) as error:
        raise BackupError(f"cannot read {archive}: {error}") from None
    try:
        with tar:
            return _checked(tar, staging=staging)
    except tarfile.TarError as error:
        # A copy that did not finish, or bytes changed in storage: tarfile finds no next header
        # where one should be. Said plainly rather than as a traceback.
        raise BackupError(
            f"cannot read {archive}: {error}. The archive is damaged or cut short (a copy that did "
            "not finish?). Nothing was restored."
        ) from None


def _checked(tar: tarfile.TarFile, *, staging: Path) -> Checked:
    """archive_check's reading of an open archive."""
    manifest = _read_manifest(tar)
    expected: dict[str, str] = manifest["members"]
    seen: set[str] = set()
    extract = {manifest["database"]["member"]: staging / "database"}
    queue_member = QUEUE_MEMBERS.get(manifest["queue"]["kind"])
    if queue_member:
        extract[queue_member] = staging / "queue"
    unlisted = sorted(set(extract) - set(expected))
    if unlisted:
        # Else an empty database (or queue) would be "loaded" in place of the one it names.
        raise BackupError(f"the manifest names {', '.join(unlisted)} but does not list its SHA-256.")
    for member in tar.getmembers():
        if member.name == MANIFEST:
            continue
        if member.name not in expected:
            raise BackupError(f"the archive holds {member.name!r}, which its manifest does not list.")
        if not member.isfile() or not _safe_name(member.name):
            # Nothing is ever extracted by the archive's own names and modes: only plain
            # files, under relative names that stay inside the folder they are restored to.
            raise BackupError(
                f"the archive holds {member.name!r}, which is not a plain file under a relative "
                "name (a link, a device, an absolute path or a ..): refused."
            )
        if member.name in seen:
            raise BackupError(f"the archive holds {member.name!r} twice.")
        seen.add(member.name)
        digest = hashlib.sha256()
        target = extract.get(member.name)
        with contextlib.ExitStack() as stack:
            source = tar.extractfile(member)
            out = None
            if target is not None:
                out = stack.enter_context(
                    open(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE), "wb")
                )
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
        if digest.hexdigest() != expected[member.name]:
            raise BackupError(
                f"{member.name} does not match the SHA-256 its manifest records: the archive was "
                "damaged or changed after it was written. Nothing was restored."
            )
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(
            f"the archive lacks {len(missing)} member(s) its manifest lists: {', '.join(missing[:5])}"
        )
    return Checked(manifest, extract[manifest["database"]["member"]], extract.get(queue_member or ""))


def _unknown_migrations(manifest: dict[str, Any]) -> list[str]:
    on_disk = {
        f"{app}.{name}" for app, name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    }
    return sorted(set(manifest["migrations"]) - on_disk)


def _refusals(manifest: dict[str, Any]) -> list[str]:
    """Why the archive may not go into this installation: the wrong database or queue, a newer
    kapflow, or anything already in the database, the queue or the file folder."""
    problems = []
    vendor = manifest["database"]["vendor"]
    if vendor != connection.vendor:
        problems.append(
            f"the archive holds a {vendor} database, but this kapflow is configured for "
            f"{connection.vendor} (DATABASE_URL). Restore it into a {vendor} database."
        )
        return problems
    unknown = _unknown_migrations(manifest)
    if unknown:
        problems.append(
            f"the archive was made by a kapflow with {len(unknown)} migration(s) this code does not "
            f"have ({', '.join(unknown[:3])}…): restore it with kapflow {manifest['kapflow_version']}."
        )
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        rows = 0
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows += cursor.fetchone()[0]
    if tables:
        problems.append(
            f"the configured database ({connection.settings_dict['NAME']}) is not empty: it has "
            f"{len(tables)} table(s) holding {rows} row(s) (e.g. {', '.join(sorted(tables)[:3])}). "
            "Restore only into a new, empty database."
        )
    storage = _queue_storage()
    kind, wanted = _queue_kind(storage), manifest["queue"]["kind"]
    if wanted != "none" and kind != wanted:
        problems.append(
            f"the archive holds a {wanted} task queue, but this kapflow's queue is {kind} (REDIS_URL)."
        )
    elif kind == "sqlite" and wanted == "sqlite":
        queued = sum(_sqlite_rows(Path(storage.filename)).values())
        if queued:
            problems.append(f"the task queue {storage.filename} is not empty: {queued} row(s).")
    elif kind == "redis" and wanted == "redis":
        present = [key for key in _redis_keys(storage) if storage.conn.exists(key)]
        if present:
            problems.append(f"the Redis task queue is not empty: {', '.join(present)} exist.")
    root, _ = _files_root()
    if root is not None and manifest["files"]["count"]:
        present_files = _stored_files(root)
        if present_files:
            problems.append(f"the file folder {root} is not empty: {len(present_files)} file(s).")
    return problems


def _load_database(checked: Checked) -> None:
    if connection.vendor == "sqlite":
        target = Path(connection.settings_dict["NAME"])
        connection.close()
        private_sqlite_file(target)
        with (
            contextlib.closing(sqlite3.connect(checked.database)) as source,
            contextlib.closing(sqlite3.connect(target, timeout=SQLITE_TIMEOUT)) as destination,
        ):
            source.backup(destination)
    else:
        args, env = _pg_connection_args()
        command = [
            _pg_tool("pg_restore"),
            "--no-owner",
            # Grants name roles of the old server; audit_grant_runtime_role gives them again.
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            *args,
            str(checked.database),
        ]
        _run_pg(command, env=env)


def _load_queue(checked: Checked) -> None:
    storage = _queue_storage()
    if checked.queue is None:
        return
    if _queue_kind(storage) == "sqlite":
        with (
            contextlib.closing(sqlite3.connect(checked.queue)) as source,
            contextlib.closing(sqlite3.connect(storage.filename, timeout=SQLITE_TIMEOUT)) as destination,
        ):
            source.backup(destination)
    else:
        _redis_load(storage, checked.queue.read_bytes())


def _load_files(archive: Path, manifest: dict[str, Any]) -> int:
    root, _ = _files_root()
    if root is None or not manifest["files"]["count"]:
        return 0
    private_dir(root)
    written = 0
    with tarfile.open(archive, mode="r:") as tar:
        for member in tar.getmembers():
            if not member.name.startswith(FILES_PREFIX):
                continue
            target = root.joinpath(*PurePosixPath(member.name[len(FILES_PREFIX) :]).parts)
            if root.resolve() not in target.resolve().parents:
                raise BackupError(f"{member.name} would land outside {root}.")
            private_dir(target.parent)
            digest = hashlib.sha256()
            source = tar.extractfile(member)
            with open(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE), "wb") as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != manifest["members"][member.name]:
                raise BackupError(f"{member.name} changed while it was being restored.")
            written += 1
    return written


def _unapplied() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def restored_problems(manifest: dict[str, Any]) -> list[str]:
    """Compare what is now in the database with what the manifest recorded at backup time."""
    connection.close()
    after = manifest["audit"].get("after")
    facts = database_facts(audit_after=tuple(after) if after else None)
    problems = []
    if facts["migrations"] != manifest["migrations"]:
        problems.append("the applied migrations differ from the manifest's.")
    unapplied = _unapplied()
    if unapplied:
        problems.append(
            f"this code has {len(unapplied)} migration(s) the restored database lacks "
            f"({', '.join(unapplied[:3])}): the archive came from kapflow {manifest['kapflow_version']}. "
            "Run `manage.py migrate`, then `manage.py audit_verify`."
        )
    audit, expected = facts["audit"], manifest["audit"]
    if audit["problem"]:
        problems.append(f"the audit log does not verify: {audit['problem']}.")
    if (audit["head_seq"], audit["head_hash"]) != (expected["head_seq"], expected["head_hash"]):
        problems.append(
            f"the audit chain ends at position {audit['head_seq']} ({audit['head_hash'][:12]}…), the "
            f"manifest recorded {expected['head_seq']} ({expected['head_hash'][:12]}…)."
        )
    if facts["tables"] != manifest["tables"]:
        differ = sorted(
            table
            for table in set(facts["tables"]) | set(manifest["tables"])
            if facts["tables"].get(table) != manifest["tables"].get(table)
        )
        problems.append(
            f"row counts differ from the manifest's in {len(differ)} table(s): {', '.join(differ[:5])}."
        )
    return problems


def _start_again() -> str:
    """What an operator does after a restore that stopped once the database was loaded: a restore
    goes only into an empty installation, so this one must be emptied first."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        database = f"delete {name} and its {name}-wal and {name}-shm files"
    else:
        database = f"drop the database {name} and create it again, empty (dropdb, createdb)"
    root, _ = _files_root()
    folder = f", empty the file folder {root}" if root is not None else ""
    return (
        f"The installation now holds part of the archive. Before trying again: {database}"
        f"{folder} and empty the task queue; then fix the cause above and run restore again."
    )


def restore(*, archive: Path, say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Check `archive`, refuse a non-empty installation, load the database, the queue and the
    files, and check the result. Raises BackupError naming the first thing that failed; returns
    the manifest when everything matched."""
    archive = Path(archive)
    if connection.vendor == "sqlite":
        # Created the owner's only before the first connection would create it with the umask.
        connection.close()
        private_sqlite_file(Path(connection.settings_dict["NAME"]))
    staging = Path(tempfile.mkdtemp(prefix="kapflow-restore-"))
    try:
        checked = archive_check(archive, staging=staging)
        manifest = checked.manifest
        say(
            f"Archive checked: {len(manifest['members'])} members match their SHA-256 "
            f"(taken {manifest['created_at']})."
        )
        problems = _refusals(manifest)
        if problems:
            raise BackupError("Refused, nothing was changed:\n- " + "\n- ".join(problems))
        # pg_restore --single-transaction, or SQLite's backup in one step: a failure here leaves
        # the database as empty as it was, and the message of _run_pg or sqlite3 says why.
        _load_database(checked)
        say(f"Database loaded ({manifest['database']['vendor']}).")
        try:
            _load_queue(checked)
            files = _load_files(archive, manifest)
        except Exception as error:
            raise BackupError(f"Loading stopped half way: {error}\n{_start_again()}") from error
        say(f"Task queue ({manifest['queue']['kind']}) and {files} stored file(s) restored.")
        problems = restored_problems(manifest)
        if problems:
            raise BackupError("The restored data does not match the archive:\n- " + "\n- ".join(problems))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
