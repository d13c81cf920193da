"""The practice export (docs/export.md): one ZIP archive of every table, every stored file and the
audit log's verification, streamed as it is written, for the practice admin alone."""

import datetime
import hashlib
import io
import json
import stat
import zipfile
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.apps import apps
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kapflow.audit.management.commands.audit_verify import verify
from kapflow.audit.services import audit_record
from kapflow.measures.models import Response
from kapflow.ops import export
from kapflow.practice.models import Practice
from kapflow.visits.models import CalendarFeed
from tests import factories
from tests.matrix_documents import make_document

DOWNLOAD = "ops_export:practice_export_download"
PASSWORD = "a long and unguessable passphrase 42"
ANSWERED = datetime.datetime(2026, 12, 4, 20, 40, 40, 123456, tzinfo=datetime.UTC)


def _archive(**kwargs) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(export.stream(**kwargs))))


def _rows(archive: zipfile.ZipFile, table: str) -> list[dict]:
    return [json.loads(line) for line in archive.read(f"tables/{table}.jsonl").splitlines()]


@pytest.fixture
def no_confirmation(settings):
    """The fresh confirmation has its own test below; the others go straight to the download."""
    settings.ACCOUNT_REAUTHENTICATION_REQUIRED = False


@pytest.fixture
def practice(avery, olive, tess):
    """A small practice: two clients, an answered questionnaire with a JSON answer, a filed
    document, and a clock reading with microseconds."""
    Response.objects.create(
        client=avery,
        instrument="phq9",
        version="1",
        answers={"q1": 2, "note": "ça va", "nested": [1.5, None, True]},
        total=3,
        band="Minimal",
        completed_at=ANSWERED,
    )
    make_document(avery, tess, content=b"%PDF-1.4 the panel's own bytes\n%%EOF\n")
    return Practice.load()


def test_it_holds_every_kapflow_table_with_its_rows(practice):
    archive = _archive()
    assert archive.testzip() is None
    kapflow_tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_config.name.startswith("kapflow.")
    }
    schema = json.loads(archive.read("schema.json"))
    assert kapflow_tables <= {table["name"] for table in schema["tables"]}
    manifest = json.loads(archive.read("manifest.json"))
    counted = {member["table"]: member["rows"] for member in manifest["members"] if "table" in member}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.db_table in counted:
            rows = _rows(archive, model._meta.db_table)
            assert len(rows) == counted[model._meta.db_table] == model._base_manager.count(), model
    assert counted["clients_client"] == 2
    # The allauth table of the practice's data is there; Django's sessions are not.
    assert "tables/account_emailaddress.jsonl" in archive.namelist()
    assert "tables/django_session.jsonl" not in archive.namelist()
    names = archive.namelist()
    assert names[:2] == ["README.txt", "schema.json"]
    assert names[-2:] == ["audit/verification.json", "manifest.json"]


def test_it_describes_every_column(practice):
    schema = json.loads(_archive().read("schema.json"))
    [responses] = [table for table in schema["tables"] if table["name"] == "measures_response"]
    columns = {column["name"]: column for column in responses["columns"]}
    assert columns["client_id"]["foreign_key"] == {
        "table": "clients_client",
        "model": "clients.Client",
        "column": "id",
    }
    assert columns["answers"]["type"] == "JSONField"
    [client] = [table for table in schema["tables"] if table["name"] == "clients_client"]
    assert client["description"] and not client["description"].startswith("Client(")
    stage = next(column for column in client["columns"] if column["name"] == "stage")
    assert {"value", "label"} <= stage["choices"][0].keys()
    assert all({"name", "type", "nullable", "description"} <= column.keys() for column in client["columns"])
    left_out = {row["model"] for row in schema["excluded_tables"]}
    assert {"sessions.Session", "usersessions.UserSession"} <= left_out
    assert {(row["model"], row["column"]) for row in schema["excluded_columns"]} >= {
        ("accounts.User", "password"),
        ("mfa.Authenticator", "data"),
    }


def test_every_other_table_was_decided_on():
    """A new library's tables are left out until someone decides they hold the practice's data."""
    for model in apps.get_models(include_auto_created=True):
        label = model._meta.label
        if not model._meta.app_config.name.startswith("kapflow."):
            assert label in export.THIRD_PARTY_INCLUDED or label in export.EXCLUDED_TABLES, label


def test_it_keeps_datetimes_decimals_and_json_exactly(practice):
    practice.typical_im_min_mg_per_kg = Decimal("0.25")
    practice.save()
    archive = _archive()

    [row] = _rows(archive, "measures_response")
    assert row["completed_at"] == "2026-12-04T20:40:40.123456Z"
    assert datetime.datetime.fromisoformat(row["completed_at"]) == ANSWERED
    assert row["answers"] == {"q1": 2, "note": "ça va", "nested": [1.5, None, True]}
    [settings_row] = _rows(archive, "practice_practice")
    field = Practice._meta.get_field("typical_im_min_mg_per_kg")
    assert settings_row["typical_im_min_mg_per_kg"] == format(
        Decimal("0.25").quantize(Decimal(10) ** -field.decimal_places), "f"
    )
    assert Decimal(settings_row["typical_im_min_mg_per_kg"]) == Decimal("0.25")


def test_it_includes_the_stored_files_byte_for_byte_and_names_the_missing(practice, avery, tess):
    document = avery.documents.get()
    gone = make_document(avery, tess, title="Lost", content=b"%PDF-1.4 gone\n")
    default_storage.delete(gone.file.name)
    archive = _archive()
    with default_storage.open(document.file.name, "rb") as stored:
        assert archive.read(f"files/{document.file.name}") == stored.read()
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["missing_files"] == [
        {"table": "documents_chartdocument", "row": gone.pk, "column": "file", "name": gone.file.name}
    ]


def test_it_never_holds_a_password_hash_or_an_authenticator_secret(practice, ada):
    ada.set_password(PASSWORD)
    ada.save()
    EmailAddress.objects.create(user=ada, email=ada.email, verified=True, primary=True)
    RecoveryCodes.activate(ada)
    feed = CalendarFeed.objects.create(user=ada, token="feed-key-" + "k" * 40)
    secrets = [ada.password, feed.token]
    for authenticator in Authenticator.objects.filter(user=ada):
        secrets += [
            value for value in authenticator.data.values() if isinstance(value, str) and len(value) > 8
        ]
    assert len(secrets) >= 4  # the hash, the feed key, the TOTP secret, the recovery codes' seed
    raw = b"".join(export.stream())
    archive = zipfile.ZipFile(io.BytesIO(raw))
    everything = raw + b"".join(archive.read(name) for name in archive.namelist())
    for secret in secrets:
        assert secret.encode() not in everything
    [user] = [row for row in _rows(archive, "accounts_user") if row["id"] == ada.pk]
    assert "password" not in user and user["email"] == ada.email
    assert {row["user_id"] for row in _rows(archive, "mfa_authenticator")} >= {ada.pk}
    assert "data" not in _rows(archive, "mfa_authenticator")[0]


def test_the_audit_verification_is_audit_verifys_and_recomputes_by_hand(practice, ada, avery):
    audit_record(
        actor=ada, action="kapflow.practice.settings.updated", obj=practice, detail={"changed": ["name"]}
    )
    audit_record(
        actor=ada, action="kapflow.clients.client.viewed", client=avery, obj=avery, detail={"é": [1, 2]}
    )
    archive = _archive()
    verification = json.loads(archive.read("audit/verification.json"))
    verdict = verify()
    assert verification["whole"] and verification["rows"] == verdict.rows > 0
    assert (verification["head_seq"], verification["head_hash"]) == (verdict.head_seq, verdict.head_hash)
    assert (verification["exported_head_seq"], verification["exported_head_hash"]) == (
        verdict.head_seq,
        verdict.head_hash,
    )
    # What verification.json says to do, done without kapflow's code.
    previous = verification["genesis_prev_hash"]
    for row in _rows(archive, "audit_auditevent"):
        record = {name: row[name] for name in verification["hashed_fields"]}
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
            "ascii"
        )
        assert hashlib.sha256(canonical).hexdigest() == row["row_hash"]
        assert row["prev_hash"] == previous
        previous = row["row_hash"]
    assert previous == verdict.head_hash


def test_the_manifest_hashes_every_member(practice):
    archive = _archive()
    manifest = json.loads(archive.read("manifest.json"))
    listed = {member["name"]: member for member in manifest["members"]}
    assert set(listed) == set(archive.namelist()) - {"manifest.json"}
    for name, member in listed.items():
        data = archive.read(name)
        assert (len(data), hashlib.sha256(data).hexdigest()) == (member["bytes"], member["sha256"]), name


def test_it_reads_a_table_in_bounded_batches(practice, avery):
    for total in range(7):
        Response.objects.create(
            client=avery, instrument="gad7", version="1", answers={}, total=total, band="Minimal"
        )
    assert Response.objects.count() == 8
    with CaptureQueriesContext(connection) as queries:
        archive = _archive(batch=3)
    reads = [query["sql"] for query in queries if 'FROM "measures_response"' in query["sql"]]
    # 3 + 3 + 2 rows: three queries, each asking for at most a batch.
    assert len(reads) == 3 and all("LIMIT 3" in sql for sql in reads)
    assert [row["total"] for row in _rows(archive, "measures_response")][1:] == list(range(7))


def test_the_page_shows_what_the_export_holds(practice, login, ada):
    response = login(ada).get(reverse("ops_export:page"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "measures_response" in body and "django_session" in body and "Download the archive" in body
    assert "Avery" not in body  # counts only, no client's data
    assert reverse("ops_export:page") in login(ada).get(reverse("practice_settings")).content.decode()


def test_the_download_streams_before_it_reads_the_last_table(practice, login, ada, no_confirmation):
    last = export.tables()[-1].name
    with CaptureQueriesContext(connection) as queries:
        response = login(ada).post(reverse(DOWNLOAD))
        assert response.streaming and response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        assert response["Content-Disposition"].startswith('attachment; filename="kapflow-export-')
        assert response["Content-Disposition"].endswith('Z.zip"')
        chunks = iter(response.streaming_content)
        first = next(chunks)
        before_first = len(queries)
        rest = b"".join(chunks)
    assert first.startswith(b"PK\x03\x04")
    read_last = [
        i
        for i, query in enumerate(queries)
        if f'FROM "{last}"' in query["sql"] and "COUNT" not in query["sql"]
    ]
    assert read_last and read_last[0] >= before_first
    assert zipfile.ZipFile(io.BytesIO(first + rest)).testzip() is None


def test_the_download_is_audited_with_counts_and_no_client_data(
    practice, login, ada, audit_rows, no_confirmation
):
    response = login(ada).post(reverse(DOWNLOAD))
    b"".join(response.streaming_content)
    [row] = audit_rows("kapflow.ops.export.downloaded")
    assert row.actor == ada and row.client is None and row.detail["via"] == "page"
    assert row.detail["row_counts"]["clients_client"] == 2
    assert row.detail["rows"] == sum(row.detail["row_counts"].values())
    assert "Avery" not in json.dumps(row.detail)


@pytest.mark.parametrize("who", ["tess", "priya", "cora", "cleo"])
def test_everyone_but_the_practice_admin_is_refused(practice, login, who, request, audit_rows):
    http = login(request.getfixturevalue(who))
    assert http.get(reverse("ops_export:page")).status_code == 403
    assert http.post(reverse(DOWNLOAD)).status_code == 403
    assert audit_rows("kapflow.ops.export.downloaded") == []


def test_a_visitor_is_sent_to_sign_in_and_a_get_is_refused(practice, login, client, ada, no_confirmation):
    assert "/accounts/login/" in client.post(reverse(DOWNLOAD))["Location"]
    assert login(ada).get(reverse(DOWNLOAD)).status_code == 405


def test_the_download_asks_for_a_fresh_confirmation_first(practice, client, audit_rows, settings):
    settings.MFA_TOTP_TOLERANCE = 1
    admin = factories.make_user(
        "Ada Admin", roles=("is_practice_admin",), mfa=False, email="admin@example.org"
    )
    secret = factories.enrol_totp(admin)
    client.force_login(admin)

    response = client.post(reverse(DOWNLOAD))
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_reauthenticate"))
    assert audit_rows("kapflow.ops.export.downloaded") == []

    code = factories.totp_code(secret, timezone.now() + datetime.timedelta(seconds=30))
    response = client.post(response["Location"], {"code": code})
    # allauth carries on with the download that was asked for.
    assert response.streaming
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).testzip() is None
    assert len(audit_rows("kapflow.ops.export.downloaded")) == 1
    # Confirmed once, the next download goes straight through.
    assert client.post(reverse(DOWNLOAD)).streaming


def test_a_post_without_its_csrf_token_is_refused_not_kept_for_after_the_confirmation(
    practice, ada, audit_rows
):
    """The confirmation is asked after the CSRF check: a forged POST is refused at once, never
    parked in the session to be replayed (unchecked) once the admin has confirmed who they are."""
    http = HttpClient(enforce_csrf_checks=True)
    http.force_login(ada)
    response = http.post(reverse(DOWNLOAD))
    assert response.status_code == 403
    assert "account_reauthentication_state" not in http.session
    assert audit_rows("kapflow.ops.export.downloaded") == []


def test_the_command_writes_the_archive_for_its_owner_alone(practice, tmp_path, audit_rows):
    path = tmp_path / "export.zip"
    out = io.StringIO()
    call_command("export_practice", output=str(path), stdout=out)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    archive = zipfile.ZipFile(path)
    assert archive.testzip() is None and "manifest.json" in archive.namelist()
    assert "Wrote" in out.getvalue()
    [row] = audit_rows("kapflow.ops.export.downloaded")
    assert row.actor is None and row.detail["via"] == "command"


def test_the_command_refuses_to_overwrite_a_file(practice, tmp_path):
    path = tmp_path / "export.zip"
    path.write_bytes(b"keep me")
    with pytest.raises(Exception, match="already exists"):
        call_command("export_practice", output=str(path))
    assert path.read_bytes() == b"keep me"


def test_it_writes_a_value_its_column_did_not_lead_it_to_expect_rather_than_failing():
    """Values are converted by what their column is (chosen once per column, for speed); a value
    of another kind, from a field of some other app's making, is still written, exactly."""

    class Unknown:
        def __str__(self) -> str:
            return "as text"

    line = export._json({"amount": Decimal("1.10"), "day": datetime.date(2026, 12, 5), "odd": Unknown()})
    assert json.loads(line) == {"amount": "1.10", "day": "2026-12-05", "odd": "as text"}
