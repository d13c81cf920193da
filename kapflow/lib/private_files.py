"""The SQLite files hold every client's record: readable by the account that runs kapflow only.

SQLite creates a database with the process's umask (usually 0644: readable by every account on
the machine), and gives its -wal, -shm and -journal files the permissions of the database file
itself (its unix VFS copies them, see findCreateFileMode in sqlite3.c). So it is enough to create
the folder 0700 and each database file 0600 before SQLite first opens it, and to tighten the
modes of files an older kapflow left behind."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def _refused(path: Path, error: OSError) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"KAPFLOW_VAR_DIR: kapflow could not make {path} readable by its owner only ({error}). "
        "Run kapflow as the account that owns that folder and its files."
    )


def private_dir(path: Path) -> None:
    """Create `path` (and its parents) if missing, and make it the owner's only."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)
    except OSError as error:
        raise _refused(path, error) from None


def private_sqlite_file(path: Path) -> None:
    """Create the database file `path` empty (SQLite takes an empty file as an empty database)
    with FILE_MODE, and bring it and its companion files to FILE_MODE if they exist."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        for suffix in SQLITE_COMPANIONS:
            companion = Path(f"{path}{suffix}")
            if companion.exists():
                os.chmod(companion, FILE_MODE)
    except OSError as error:
        raise _refused(path, error) from None
