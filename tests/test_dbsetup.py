"""The test database's template is kept from run to run (tests/dbsetup.py): these tests prove it
is built again whenever what it is built from changes, and that clearing old templates leaves
the copies other runs are using."""

from pathlib import Path

import pytest
from django.db import connection

import kapflow
from tests import dbsetup

KAPFLOW = Path(kapflow.__file__).parent


def test_the_fingerprint_covers_every_apps_migrations_and_the_code_a_migrate_runs():
    import django

    named = dbsetup.schema_files()
    files = set(named.values())
    # Named without the checkout's or the virtualenv's place: two checkouts of one commit (a CI
    # clone beside a working copy) share one template rather than each removing the other's.
    assert "audit:migrations/0001_initial.py" in named and "kapflow:lib/triggers.py" in named
    assert not any(str(KAPFLOW.parent) in name or "site-packages" in name for name in named)
    django_root = Path(django.__file__).parent
    assert {
        KAPFLOW / "audit" / "migrations" / "0001_initial.py",
        KAPFLOW / "consent" / "migrations" / "0002_default_documents.py",
        django_root / "contrib" / "auth" / "migrations" / "0001_initial.py",
        KAPFLOW / "audit" / "db.py",  # the signed records' triggers, put back after every migrate
        KAPFLOW / "billing" / "db.py",
        KAPFLOW / "lib" / "triggers.py",
        KAPFLOW / "audit" / "chain.py",  # a migration chains the rows written before it
        KAPFLOW / "consent" / "apps.py",  # the starting documents, after every migrate
        KAPFLOW / "visits" / "models.py",
        KAPFLOW / "settings.py",
    } <= files
    # Every kapflow app's migrations, not only the ones named above.
    assert all(path in files for path in KAPFLOW.glob("*/migrations/0001_initial.py")), (
        "an app's migrations are left out of the fingerprint"
    )


def test_a_change_to_any_of_those_files_changes_the_fingerprint(monkeypatch):
    before = dbsetup.schema_fingerprint(connection)
    assert dbsetup.schema_fingerprint(connection) == before  # the same files, the same template
    changed = KAPFLOW / "visits" / "migrations" / "0001_initial.py"
    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: read(path) + (b"#" if path == changed else b""))
    assert dbsetup.schema_fingerprint(connection) != before


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite templates are files")
def test_clearing_old_templates_leaves_the_copies_runs_are_using(tmp_path, monkeypatch):
    monkeypatch.setattr(dbsetup, "_folder", lambda: tmp_path)
    template = tmp_path / "test_kapflow_template_0123456789abcdef.sqlite3"
    copy = tmp_path / "test_kapflow_template_0123456789abcdef_f00d_gw1.sqlite3"
    marker = dbsetup._ready_marker("0123456789abcdef")
    for path in (template, copy):
        path.touch()
    marker.write_text("f00d")  # the run that built it
    assert dbsetup._built_by(connection, "0123456789abcdef") == "f00d"
    dbsetup._remove_templates(connection)
    assert not template.exists() and not marker.exists() and copy.exists()
    assert dbsetup._built_by(connection, "0123456789abcdef") is None
