"""`manage.py backup` and `manage.py restore` (issue 16; docs/backup.md), on whichever database
the suite runs on.

The backup is taken from the test database while another thread keeps committing clients and
their audit rows, and restored by `python manage.py restore` in a subprocess into a scratch
installation (a SQLite file, or a PostgreSQL database made for the test), as a practice would."""

import datetime
import errno
import hashlib
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from huey.contrib.djhuey import HUEY
from huey.storage import RedisStorage, SqliteStorage

from kapflow.audit.db import drop_triggers, install_triggers
from kapflow.audit.services import audit_record
from kapflow.clients.models import Client
from kapflow.ops import backup
from tests import factories

# Backups open their own transaction, so these tests commit for real (and are emptied by a flush).
committing = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
PAUSE = 0.5  # seconds the snapshot is held open, so that the writer commits while it is


@pytest.fixture(scope="module", autouse=True)
def _audit_triggers_back_at_the_end(django_db_setup, django_db_blocker):
    """The append-only triggers, back on once this module's last flush has run."""
    yield
    with django_db_blocker.unblock():
        install_triggers(connection)
        connection.close()


@pytest.fixture(autouse=True)
def _audit_triggers_lifted_for_the_flush(request):
    """These tests commit, so Django empties the database with `flush` after each; the audit table
    refuses that. The triggers are on while the test runs and lifted just before the flush (as in
    tests/test_concurrency.py). Tests without the database need none of this."""
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    request.getfixturevalue("transactional_db")
    install_triggers(connection)
    yield
    drop_triggers(connection)


@pytest.fixture
def queue(tmp_path, monkeypatch):
    """The real embedded queue (a SQLite file of its own), instead of the suite's in-memory one."""
    storage = SqliteStorage("kapflow", filename=str(tmp_path / "tasks.sqlite3"))
    monkeypatch.setattr(HUEY, "_immediate", False)
    monkeypatch.setattr(HUEY, "storage", storage)
    return storage


@pytest.fixture
def media(tmp_path, settings):
    folder = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(folder)}},
    }
    return folder


class Scratch:
    """An empty installation for the restore: its own database, var folder and file folder."""

    def __init__(self, folder: Path, url: str, *, sqlite_path: Path | None = None) -> None:
        self.folder, self.url, self.sqlite_path = folder, url, sqlite_path
        self.var, self.media = folder / "var", folder / "media"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "DATABASE_URL": self.url, "KAPFLOW_VAR_DIR": str(self.var)}
        env["KAPFLOW_MEDIA_DIR"] = str(self.media)
        env.pop("REDIS_URL", None)
        return subprocess.run(  # noqa: S603 (our own command)
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def query(self, sql: str) -> list[tuple]:
        if self.sqlite_path is not None:
            with sqlite3.connect(self.sqlite_path) as db:
                return db.execute(sql).fetchall()
        with psycopg.connect(self.url) as db:
            return db.execute(sql).fetchall()


def _postgres_url(name: str) -> str:
    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


@pytest.fixture
def scratch(tmp_path):
    """Scratch installations, as many as the test asks for; PostgreSQL databases dropped after."""
    made: list[str] = []

    def make() -> Scratch:
        folder = tmp_path / f"scratch{len(made)}"
        folder.mkdir()
        if connection.vendor == "sqlite":
            made.append("")
            path = folder / "restored.sqlite3"
            return Scratch(folder, f"sqlite:///{path}", sqlite_path=path)
        name = f"restore_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with connection.creation._nodb_cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return Scratch(folder, _postgres_url(name))

    yield make
    for name in filter(None, made):
        with connection.creation._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rewritten(archive: Path, folder: Path, change: Callable[[str, bytes], bytes]) -> Path:
    """A copy of the archive with each member's bytes passed through `change`."""
    folder.mkdir()
    copy = folder / archive.name
    with tarfile.open(archive) as source, tarfile.open(copy, "w") as target:
        for member in source.getmembers():
            data = change(member.name, source.extractfile(member).read())
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    return copy


def _manifest_changed(update: Callable[[dict], None]) -> Callable[[str, bytes], bytes]:
    def change(name: str, data: bytes) -> bytes:
        if name != backup.MANIFEST:
            return data
        manifest = json.loads(data)
        update(manifest)
        return json.dumps(manifest).encode()

    return change


class Writer(threading.Thread):
    """Commits a client and its audit row, again and again, on its own connection; `acknowledged`
    holds the id of every client whose transaction has committed."""

    def __init__(self, actor) -> None:
        super().__init__()
        self.actor, self.acknowledged, self.stop, self.error = actor, [], threading.Event(), None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                with transaction.atomic():
                    client = factories.make_client(first_name="Writer")
                    audit_record(
                        actor=self.actor, action="kapflow.clients.client.created", client=client, obj=client
                    )
                self.acknowledged.append(client.pk)
                time.sleep(0.005)
        except Exception as error:  # noqa: BLE001 (the test reports it)
            self.error = error
        finally:
            connection.close()


def _held_open(monkeypatch) -> None:
    """Keep the snapshot open a moment after the facts are read, so the writer commits meanwhile."""
    original = backup.database_facts

    def read_then_pause(**kwargs):
        facts = original(**kwargs)
        time.sleep(PAUSE)
        return facts

    monkeypatch.setattr(backup, "database_facts", read_then_pause)


@committing
def test_it_restores_every_write_acknowledged_before_a_backup_taken_while_writing(
    tmp_path, queue, media, scratch, monkeypatch
):
    tess = factories.make_user("Tess Therapist")
    (media / "documents" / "2026").mkdir(parents=True)
    (media / "documents" / "2026" / "scan.pdf").write_bytes(b"%PDF-1.7 a scanned consent form")
    queue.enqueue(b"a reminder waiting for the worker")
    queue.add_to_schedule(b"a retry at nine", datetime.datetime(2026, 3, 10, 9, 0))

    writer = Writer(tess)
    writer.start()
    try:
        while len(writer.acknowledged) < 5 and writer.is_alive():
            time.sleep(0.01)
        before = list(writer.acknowledged)
        _held_open(monkeypatch)
        archive = backup.backup_create(folder=tmp_path / "backups")
        during = len(writer.acknowledged) - len(before)
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert writer.error is None, writer.error
    assert during > 0, "the writer was held up by the backup"

    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert stat.S_IMODE(archive.parent.stat().st_mode) == 0o700

    target = scratch()
    done = target.run("restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert "Restored and verified" in done.stdout

    restored = {pk for (pk,) in target.query(f"SELECT id FROM {Client._meta.db_table}")}
    assert set(before) <= restored
    audited = target.query(
        "SELECT COUNT(DISTINCT client_id) FROM audit_auditevent"
        " WHERE action = 'kapflow.clients.client.created'"
    )
    assert audited[0][0] == len(restored)
    verified = target.run("audit_verify")
    assert verified.returncode == 0, verified.stderr

    restored_file = target.media / "documents" / "2026" / "scan.pdf"
    assert restored_file.read_bytes() == b"%PDF-1.7 a scanned consent form"
    assert stat.S_IMODE(restored_file.stat().st_mode) == 0o600
    restored_queue = SqliteStorage("kapflow", filename=str(target.var / "tasks.sqlite3"))
    assert restored_queue.enqueued_items() == [b"a reminder waiting for the worker"]
    assert restored_queue.scheduled_items() == [b"a retry at nine"]

    # The same archive with a manifest that claims more than its database holds: loaded, then
    # the check after loading fails.
    def claims_more(manifest: dict) -> None:
        manifest["audit"]["head_seq"] += 1
        manifest["tables"][Client._meta.db_table] += 1

    wrong = _rewritten(archive, tmp_path / "wrong", _manifest_changed(claims_more))
    done = scratch().run("restore", str(wrong))
    assert done.returncode == 1
    assert "The restored data does not match the archive" in done.stderr
    head = target.query("SELECT MAX(seq) FROM audit_auditevent")[0][0]
    assert f"the audit chain ends at position {head} " in done.stderr
    assert f"row counts differ from the manifest's in 1 table(s): {Client._meta.db_table}" in done.stderr


@committing
def test_it_checks_the_archive_and_the_database_before_it_changes_anything(tmp_path, queue, media):
    """Changed or smuggled members, an archive of the other database, and a database that is not
    empty (the test's own) are each refused, and the test's rows are still there."""
    factories.make_client()
    media.mkdir()
    (media / "letter.pdf").write_bytes(b"%PDF signed letter")
    archive = backup.backup_create(folder=tmp_path / "backups")

    def forged(name: str, data: bytes) -> bytes:
        return b"%PDF another letter" if name == "files/letter.pdf" else data

    tampered = _rewritten(archive, tmp_path / "tampered", forged)
    with pytest.raises(CommandError, match="files/letter.pdf does not match the SHA-256"):
        call_command("restore", str(tampered))

    smuggled = tmp_path / "smuggled.tar"
    with tarfile.open(archive) as source, tarfile.open(smuggled, "w") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member))
        extra = tarfile.TarInfo("files/extra.pdf")
        extra.size = 3
        target.addfile(extra, io.BytesIO(b"pdf"))
    with pytest.raises(CommandError, match="which its manifest does not list"):
        call_command("restore", str(smuggled))

    other = {"sqlite": "postgresql", "postgresql": "sqlite"}[connection.vendor]
    moved = _rewritten(
        archive, tmp_path / "moved", _manifest_changed(lambda m: m["database"].update(vendor=other))
    )
    with pytest.raises(CommandError, match=f"holds a {other} database, but this kapflow is configured for"):
        call_command("restore", str(moved))

    with pytest.raises(CommandError, match=r"configured database .* is not empty: it has \d+ table"):
        call_command("restore", str(archive))
    assert Client.objects.count() == 1
    assert (media / "letter.pdf").read_bytes() == b"%PDF signed letter"

    # An audit log that does not verify: the archive is still written, and the backup fails.
    client = Client.objects.get()
    audit_record(action="kapflow.clients.client.viewed", client=client, obj=client)
    drop_triggers(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'kapflow.clients.client.created'")
    with pytest.raises(
        backup.BackupError, match="was written, but the audit log it holds is not whole: .*mismatch"
    ):
        backup.backup_create(folder=tmp_path / "broken")
    assert len(list((tmp_path / "broken").glob("kapflow-backup-*.tar"))) == 1


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the Redis queue needs REDIS_URL")
def test_it_carries_the_redis_queue_in_its_order():
    storage = RedisStorage(f"kapflow-test-{uuid.uuid4().hex}", url=os.environ["REDIS_URL"])
    try:
        for task in (b"first", b"second", b"third"):
            storage.enqueue(task)
        storage.add_to_schedule(b"later", datetime.datetime(2026, 3, 10, 9, 0))
        dumped = backup._redis_dump(storage)
        storage.flush_all()
        backup._redis_load(storage, dumped)
        assert [storage.dequeue() for _ in range(3)] == [b"first", b"second", b"third"]
        assert storage.scheduled_items() == [b"later"]
    finally:
        storage.flush_all()


def _handmade(path: Path, *extra: tarfile.TarInfo, database: bytes = b"SQLite format 3\0") -> Path:
    """An archive made by hand: a database member, `extra` members (each listed in the manifest
    with the hash of no bytes), and a manifest that names them all."""
    members = {"database.sqlite3": hashlib.sha256(database).hexdigest()}
    members |= {info.name: hashlib.sha256(b"").hexdigest() for info in extra}
    manifest = {
        "format": backup.FORMAT,
        "database": {"vendor": "sqlite", "member": "database.sqlite3"},
        "queue": {"kind": "none"},
        "members": members,
    }
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("database.sqlite3")
        info.size = len(database)
        tar.addfile(info, io.BytesIO(database))
        for info in extra:
            tar.addfile(info, io.BytesIO(b""))
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo(backup.MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def _entry(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    "member",
    [
        _entry("files/../../escaped.pdf"),
        _entry("/tmp/absolute.pdf"),
        _entry("files/link.pdf", tarfile.SYMTYPE, "/etc/passwd"),
        _entry("files/hard.pdf", tarfile.LNKTYPE, "database.sqlite3"),
        _entry("files/fifo", tarfile.FIFOTYPE),
    ],
    ids=["dot-dot", "absolute", "symlink", "hard link", "fifo"],
)
def test_it_refuses_links_and_names_that_climb_out_before_writing_anything(tmp_path, member):
    archive = _handmade(tmp_path / "evil.tar", member)
    staging = tmp_path / "staging" / "inner"
    staging.mkdir(parents=True)
    with pytest.raises(backup.BackupError, match="not a plain file under a relative name"):
        backup.archive_check(archive, staging=staging)
    assert not (tmp_path / "escaped.pdf").exists() and not Path("/tmp/absolute.pdf").exists()
    outside = [path for path in tmp_path.rglob("*") if staging not in path.parents]
    assert sorted(path.name for path in outside) == ["evil.tar", "inner", "staging"]


def test_it_refuses_a_manifest_that_names_a_database_it_does_not_hash(tmp_path):
    """Else the restore would load an empty database in place of the one the manifest names."""
    archive = _rewritten(
        _handmade(tmp_path / "ok.tar"),
        tmp_path / "other",
        _manifest_changed(lambda m: m["database"].update(member="elsewhere.sqlite3")),
    )
    with pytest.raises(backup.BackupError, match="names elsewhere.sqlite3 but does not list its SHA-256"):
        backup.archive_check(archive, staging=tmp_path)


def test_it_says_an_archive_cut_short_is_damaged_instead_of_failing_with_a_traceback(tmp_path):
    whole = _handmade(tmp_path / "whole.tar", database=bytes(range(256)) * 40).read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole[: len(whole) // 3])  # a copy that stopped inside the database member
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(backup.BackupError, match="The archive is damaged or cut short"):
        backup.archive_check(cut, staging=staging)


@committing
def test_it_leaves_no_archive_and_says_why_when_the_disk_is_full(tmp_path, queue, media, monkeypatch):
    factories.make_client()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(backup, "_add", full)
    folder = tmp_path / "backups"
    with pytest.raises(
        CommandError, match=f"Backup failed: writing the archive into {folder} failed: No space"
    ):
        call_command("backup", output=folder)
    assert list(folder.iterdir()) == []


@committing
def test_it_tells_the_operator_how_to_start_again_when_loading_stops_half_way(
    tmp_path, queue, media, scratch
):
    factories.make_client()
    media.mkdir()
    (media / "letter.pdf").write_bytes(b"%PDF signed letter")
    archive = backup.backup_create(folder=tmp_path / "backups")
    target = scratch()
    target.media.write_bytes(b"a file where the file folder should be")

    done = target.run("restore", str(archive))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert "Loading stopped half way" in done.stderr
    assert "The installation now holds part of the archive. Before trying again:" in done.stderr
    assert f"empty the file folder {target.media}" in done.stderr
    assert target.query(f"SELECT COUNT(*) FROM {Client._meta.db_table}") == [(1,)]


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the Redis queue needs REDIS_URL")
@committing
def test_it_carries_a_redis_queue_through_the_archive_and_restores_only_into_an_empty_one(
    tmp_path, media, monkeypatch
):
    storage = RedisStorage(f"kapflow-test-{uuid.uuid4().hex}", url=os.environ["REDIS_URL"])
    monkeypatch.setattr(HUEY, "_immediate", False)
    monkeypatch.setattr(HUEY, "storage", storage)
    try:
        storage.enqueue(b"a reminder waiting for the worker")
        archive = backup.backup_create(folder=tmp_path / "backups")
        staging = tmp_path / "staging"
        staging.mkdir()
        checked = backup.archive_check(archive, staging=staging)
        assert checked.manifest["queue"] == {"kind": "redis", "name": storage.name}
        assert any("the Redis task queue is not empty" in line for line in backup._refusals(checked.manifest))
        storage.flush_all()
        backup._load_queue(checked)
        assert storage.dequeue() == b"a reminder waiting for the worker"
    finally:
        storage.flush_all()
