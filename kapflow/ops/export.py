"""The practice's export: everything the practice owns in one ZIP archive, written as a stream of
bytes so that a practice of any size exports without its data ever being held in memory
(docs/export.md).

The archive is made for someone who does not have kapflow: every table as JSON lines with the raw
column values, a schema that says what each table and column means, every stored file, the audit
log's verification and a manifest of SHA-256 hashes. Rows are read a batch at a time by keyset
pagination (pk > the last pk seen), files a chunk at a time, and the bytes are handed on as soon
as a few hundred kilobytes have gathered; what stays in memory while it runs is one batch, one
chunk and the ZIP's directory (one small entry per member, written at the end as the format
requires).

kapflow.ops sits below the clinical apps: their tables are reached through the app registry
(`django.apps.apps.get_models()`), never by importing them."""

import base64
import dataclasses
import datetime
import decimal
import hashlib
import inspect
import json
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from django.apps import apps
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.duration import duration_iso_string

from kapflow.audit import chain
from kapflow.audit.management.commands.audit_verify import verify

FORMAT_VERSION = 1
# Rows read per query: one batch is all of a table that is ever in memory.
BATCH = 2000
# Bytes read from a stored file at a time.
FILE_CHUNK = 1024 * 1024
# The stream hands on what has gathered once it reaches this many bytes: large enough that a
# download is not thousands of tiny writes, small enough to stay a constant, modest buffer.
FLUSH_AT = 256 * 1024
# A table's lines are handed to the ZIP member in pieces of about this many bytes.
WRITE_AT = 64 * 1024

# Tables of other apps that hold the practice's own data, and why each is included.
THIRD_PARTY_INCLUDED = {
    "account.EmailAddress": "each account's email addresses and whether they were confirmed",
    "mfa.Authenticator": "which second factors each account has, when added and last used "
    "(the secret itself is left out, see the excluded columns)",
}
# Tables left out, and why. Any other table that is not kapflow's is left out too (it holds no
# data of the practice) and listed with UNKNOWN_TABLE as its reason.
EXCLUDED_TABLES = {
    "sessions.Session": "signed-in sessions: each key lets whoever holds it act as the person signed in",
    "usersessions.UserSession": "the record of each signed-in session (its session key, address and "
    "browser): the keys are secrets and the rest is a record of sessions, not of the practice",
    "account.EmailConfirmation": "pending confirmations of email addresses: each key confirms an address",
    "auth.Permission": "Django's own bookkeeping, made again by manage.py migrate; kapflow's roles are "
    "flags on the user, not permissions",
    "auth.Group": "Django's own bookkeeping; kapflow's roles are flags on the user, not groups",
    "auth.Group_permissions": "Django's own bookkeeping; kapflow's roles are flags on the user, not groups",
    "contenttypes.ContentType": "Django's own bookkeeping, made again by manage.py migrate",
}
UNKNOWN_TABLE = "a table of a library, not known to hold any of the practice's data"
# Columns left out of tables that are otherwise exported, and why.
EXCLUDED_COLUMNS = {
    ("accounts.User", "password"): "the password hash: enough to try guessing the password offline, and "
    "of no use anywhere else",
    ("mfa.Authenticator", "data"): "the authenticator's secret and its recovery codes: either lets "
    "whoever holds it pass the second step of signing in",
    ("visits.CalendarFeed", "token"): "the key in a clinician's private calendar feed address: whoever "
    "holds it reads that calendar",
}


@dataclasses.dataclass(frozen=True)
class Table:
    model: type[models.Model]
    fields: tuple[models.Field, ...]  # the exported columns, in the table's order

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def member(self) -> str:
        return f"tables/{self.name}.jsonl"

    @property
    def file_fields(self) -> tuple[models.FileField, ...]:
        return tuple(field for field in self.fields if isinstance(field, models.FileField))


def _is_kapflow(model: type[models.Model]) -> bool:
    return model._meta.app_config.name.startswith("kapflow.")


def _stored(model: type[models.Model]) -> bool:
    return model._meta.managed and not model._meta.proxy


def tables() -> list[Table]:
    """Every table the archive holds, ordered by name: every kapflow table (the many-to-many
    tables Django makes included) and the third-party tables of THIRD_PARTY_INCLUDED, each
    without the columns of EXCLUDED_COLUMNS."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        if not _stored(model) or not (_is_kapflow(model) or model._meta.label in THIRD_PARTY_INCLUDED):
            continue
        fields = tuple(
            field
            for field in model._meta.concrete_fields
            if (model._meta.label, field.name) not in EXCLUDED_COLUMNS
        )
        found.append(Table(model, fields))
    return sorted(found, key=lambda table: table.name)


def excluded_tables() -> list[dict]:
    """The stored tables the archive leaves out, each with its reason."""
    left_out = []
    for model in apps.get_models(include_auto_created=True):
        label = model._meta.label
        if _stored(model) and not _is_kapflow(model) and label not in THIRD_PARTY_INCLUDED:
            left_out.append(
                {
                    "table": model._meta.db_table,
                    "model": label,
                    "why": EXCLUDED_TABLES.get(label, UNKNOWN_TABLE),
                }
            )
    return sorted(left_out, key=lambda row: row["table"])


def excluded_columns() -> list[dict]:
    return [
        {"table": apps.get_model(label)._meta.db_table, "model": label, "column": name, "why": why}
        for (label, name), why in sorted(EXCLUDED_COLUMNS.items())
    ]


def row_counts(chosen: Iterable[Table] | None = None) -> dict[str, int]:
    """The number of rows of each table, in one query (a UNION ALL of counts): for the page's
    estimate and the audit row, without reading a row."""
    chosen = list(tables() if chosen is None else chosen)
    if not chosen:
        return {}
    quote = connection.ops.quote_name
    # The names come from the model registry, quoted by the backend; the labels are parameters.
    sql = " UNION ALL ".join(f"SELECT %s, COUNT(*) FROM {quote(table.name)}" for table in chosen)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [table.name for table in chosen])
        return dict(cursor.fetchall())


# --- The schema --------------------------------------------------------------------------------


def _description(model: type[models.Model]) -> str:
    """The model's docstring, or its verbose name where it has none (Django then writes a
    docstring of its own, "Name(field, field, ...)", which says nothing)."""
    doc = inspect.cleandoc(model.__doc__ or "")
    if not doc or doc.startswith(f"{model.__name__}("):
        through = model._meta.auto_created
        if through:
            return f"which rows of one table go with which of another ({model._meta.verbose_name})"
        return str(model._meta.verbose_name)
    return " ".join(doc.split())


def _column(field: models.Field) -> dict:
    words = str(field.verbose_name)
    if field.help_text:
        words = f"{words}: {field.help_text}"
    column = {
        "name": field.column,
        "field": field.name,
        "type": field.get_internal_type(),
        "nullable": field.null,
        "primary_key": field.primary_key,
        "description": " ".join(words.split()),
    }
    if field.choices:
        column["choices"] = [
            {"value": value, "label": str(label)}
            for value, label in field.flatchoices
            if value not in (None, "") or label != "---------"
        ]
    if field.is_relation and field.related_model is not None:
        target = field.target_field
        column["foreign_key"] = {
            "table": field.related_model._meta.db_table,
            "model": field.related_model._meta.label,
            "column": target.column,
        }
    if isinstance(field, models.DecimalField):
        column["decimal_places"] = field.decimal_places
    return column


def schema() -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "values": {
            "datetime": "ISO 8601 in UTC with microseconds and a Z: 2026-12-04T12:40:40.123456Z",
            "date": "ISO 8601: 2026-12-04",
            "time": "ISO 8601: 14:30:00",
            "duration": "ISO 8601 duration: P0DT00H20M00S",
            "decimal": 'a string with the stored digits exactly: "70.50"',
            "json": "the stored JSON value itself (object, list, string, number, true/false, null)",
            "file": "the file's storage name; the file itself is in the archive at files/<name>",
            "binary": "base64",
            "null": "null",
        },
        "tables": [
            {
                "name": table.name,
                "model": table.label,
                "description": _description(table.model),
                "file": table.member,
                "columns": [_column(field) for field in table.fields],
            }
            for table in tables()
        ],
        "excluded_tables": excluded_tables(),
        "excluded_columns": excluded_columns(),
    }


# --- Rows --------------------------------------------------------------------------------------


def _value(value: Any, field: models.Field | None) -> Any:
    """A column's value as JSON: raw, exact, and the same whatever the database."""
    if value is None or isinstance(field, models.JSONField):
        return value
    if isinstance(value, datetime.datetime):
        return chain.utc_iso(value) if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _converter(field: models.Field):
    """What turns this column's values into JSON (`_value`, chosen once per column rather than
    asked of every value: at 500,000 rows the question was a third of the export's time), or
    None where the value is JSON already (numbers, text, booleans, JSON columns)."""
    if isinstance(field, models.JSONField):
        return None
    if isinstance(
        field,
        models.DateField
        | models.TimeField
        | models.DurationField
        | models.DecimalField
        | models.UUIDField
        | models.BinaryField,
    ):
        return lambda value: _value(value, field)
    return None


def rows(table: Table, *, batch: int = BATCH) -> Iterator[dict]:
    """The table's rows in primary key order, one query per `batch` rows (keyset pagination:
    each query starts after the last primary key seen, so each is an index range scan and only
    one batch is ever in memory). The base manager: a custom default manager must not hide rows."""
    names = [field.attname for field in table.fields]
    columns = [field.column for field in table.fields]
    converters = [_converter(field) for field in table.fields]
    pk_at = names.index(table.model._meta.pk.attname)
    queryset = table.model._base_manager.order_by("pk").values_list(*names)
    page = list(queryset[:batch])
    while page:
        for values in page:
            yield {
                column: value if convert is None or value is None else convert(value)
                for column, value, convert in zip(columns, values, converters, strict=True)
            }
        if len(page) < batch:
            return
        page = list(queryset.filter(pk__gt=page[-1][pk_at])[:batch])


def _file_names(table: Table, *, batch: int) -> Iterator[tuple[Any, str, models.FileField]]:
    """(pk, storage name) of every stored file the table's rows name, keyset-paged as rows."""
    for field in table.file_fields:
        queryset = (
            table.model._base_manager.exclude(**{field.attname: ""})
            .exclude(**{f"{field.attname}__isnull": True})
            .order_by("pk")
            .values_list("pk", field.attname)
        )
        page = list(queryset[:batch])
        while page:
            yield from ((pk, name, field) for pk, name in page)
            if len(page) < batch:
                break
            page = list(queryset.filter(pk__gt=page[-1][0])[:batch])


# --- The archive -------------------------------------------------------------------------------


class _Sink:
    """Where zipfile writes. It has no `tell` or `seek`, so zipfile writes a stream (each
    member's sizes in a descriptor after its data); the generator takes what has gathered."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class _Member:
    """One member being written: its bytes go to the ZIP and through SHA-256 as they pass."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.name = name
        self.handle = archive.open(_info(name), "w", force_zip64=True)
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self) -> dict:
        self.handle.close()
        return {"name": self.name, "bytes": self.size, "sha256": self.digest.hexdigest()}


def _info(name: str) -> zipfile.ZipInfo:
    """A member's entry: compressed, dated now (UTC), readable by its owner alone once unpacked."""
    now = timezone.now().astimezone(datetime.UTC)
    info = zipfile.ZipInfo(name, date_time=(now.year, now.month, now.day, now.hour, now.minute, now.second))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    return info


def _unexpected(value: Any) -> Any:
    """A value of a kind `_converter` did not expect from its column (a field of a third-party
    app's own making): written as `_value` writes it, or as text, never refused."""
    converted = _value(value, None)
    return str(value) if converted is value else converted


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_unexpected).encode()


def _pretty(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode() + b"\n"


def stream(*, practice_name: str = "", batch: int = BATCH) -> Iterator[bytes]:
    """The archive's bytes, in pieces of about FLUSH_AT bytes. On PostgreSQL, when not already
    inside a transaction, every read sees one snapshot (REPEATABLE READ, READ ONLY), so the tables,
    files and audit verification all describe the same moment; SQLite reads as it goes."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield from _stream(practice_name=practice_name, batch=batch)
    else:
        yield from _stream(practice_name=practice_name, batch=batch)


def _stream(*, practice_name: str, batch: int) -> Iterator[bytes]:
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
    started = timezone.now()
    written: list[dict] = []
    missing: list[dict] = []

    def whole(name: str, data: bytes) -> None:
        member = _Member(archive, name)
        member.write(data)
        written.append(member.close())

    whole("README.txt", readme(practice_name=practice_name, at=started).encode())
    whole("schema.json", _pretty(schema()))
    yield sink.take()

    exported_head = None
    for table in tables():
        member = _Member(archive, table.member)
        count = 0
        # Lines go to the compressor and the hash in pieces of about WRITE_AT bytes, not one by
        # one: each write is a call into zlib and SHA-256 with its own cost.
        lines: list[bytes] = []
        gathered = 0
        for row in rows(table, batch=batch):
            line = _json(row) + b"\n"
            lines.append(line)
            gathered += len(line)
            count += 1
            if table.label == "audit.AuditEvent":
                exported_head = (row["seq"], row["row_hash"])
            if gathered >= WRITE_AT:
                member.write(b"".join(lines))
                lines.clear()
                gathered = 0
                if len(sink.buffer) >= FLUSH_AT:
                    yield sink.take()
        if lines:
            member.write(b"".join(lines))
        written.append({**member.close(), "table": table.name, "rows": count})

    for table in tables():
        for pk, name, field in _file_names(table, batch=batch):
            path = f"files/{name}"
            if path in archive.NameToInfo:
                continue  # two rows name the same stored file: it is in the archive once
            try:
                stored = field.storage.open(name, "rb")
            except OSError:
                missing.append({"table": table.name, "row": pk, "column": field.column, "name": name})
                continue
            member = _Member(archive, path)
            with stored:
                while chunk := stored.read(FILE_CHUNK):
                    member.write(chunk)
                    if len(sink.buffer) >= FLUSH_AT:
                        yield sink.take()
            written.append({**member.close(), "file_of": {"table": table.name, "row": pk}})
            if len(sink.buffer) >= FLUSH_AT:
                yield sink.take()

    whole("audit/verification.json", _pretty(verification(exported_head=exported_head)))
    yield sink.take()

    manifest = {
        "format_version": FORMAT_VERSION,
        "practice": practice_name,
        "started_at": chain.utc_iso(started),
        "finished_at": chain.utc_iso(timezone.now()),
        "members": written,
        "missing_files": missing,
    }
    archive.writestr(_info("manifest.json"), _pretty(manifest))
    archive.close()
    yield sink.take()


def verification(*, exported_head: tuple[int, str] | None) -> dict:
    """The audit log's hash chain as `manage.py audit_verify` judges it, with what a reader
    needs to check the exported log by hand."""
    verdict = verify()
    return {
        "whole": verdict.problem is None,
        "problem": str(verdict.problem) if verdict.problem else None,
        "rows": verdict.rows,
        "head_seq": verdict.head_seq,
        "head_hash": verdict.head_hash,
        "exported_head_seq": exported_head[0] if exported_head else 0,
        "exported_head_hash": exported_head[1] if exported_head else chain.GENESIS,
        "table": "tables/audit_auditevent.jsonl",
        "genesis_prev_hash": chain.GENESIS,
        "hashed_fields": list(chain.HASHED),
        "how_to_recompute": [
            "Read tables/audit_auditevent.jsonl in order of id.",
            "For each row, build a JSON object with exactly the hashed_fields, taken from the row "
            "(the columns actor_id and client_id are the numbers or null, as exported).",
            "'at' is the row's time in UTC as 2026-12-04T12:40:40.123456Z, as exported; "
            "'ip_address' as Python's ipaddress module writes it (IPv6 compressed) or null; "
            "'detail' is the row's JSON value.",
            "Serialise with keys sorted, separators ',' and ':' and no spaces, every non-ASCII "
            "character escaped as \\uXXXX (Python: json.dumps(obj, sort_keys=True, "
            "separators=(',', ':'), ensure_ascii=True)).",
            "row_hash is the lowercase hex SHA-256 of those bytes; it must equal the row's "
            "row_hash, and the row's prev_hash must equal the row_hash of the row before "
            "(genesis_prev_hash for seq 1); seq counts 1, 2, 3 without gaps.",
            "The last exported row's seq and row_hash are exported_head_seq and "
            "exported_head_hash; head_seq and head_hash are where the chain ended when it was "
            "verified in the database (later than the exported head only if rows were written "
            "while the export ran, on SQLite).",
        ],
    }


def readme(*, practice_name: str, at: datetime.datetime) -> str:
    left_out = "\n".join(f"  - {row['table']} ({row['model']}): {row['why']}" for row in excluded_tables())
    columns = "\n".join(f"  - {row['table']}.{row['column']}: {row['why']}" for row in excluded_columns())
    return f"""Export of {practice_name or "the practice"}'s records from kapflow
Made {chain.utc_iso(at)} (UTC). Archive format version {FORMAT_VERSION}.

This archive holds everything the practice keeps in kapflow: every table, every stored file
(letters' PDFs, documents filed on charts) and the audit log with what is needed to check that
it is whole. It holds protected health information: keep it as you keep the practice's records.

What is where
  README.txt                this file
  schema.json               every table: what it holds, each column's name, type, whether it
                            may be empty, what it means, its choices and what it refers to
  tables/<table>.jsonl      one line per row, a JSON object of the row's columns, in order of
                            its primary key
  files/<name>              the stored files; a row's file column holds <name>
  audit/verification.json   the audit log's hash chain: whether it was whole, its last
                            position and hash, and how to recompute every row's hash
  manifest.json             every member's size and SHA-256 and every table's row count
                            (written last; files a row names but that could not be read are
                            listed under missing_files)

Values
  Times are ISO 8601 in UTC ("2026-12-04T12:40:40.123456Z"), dates "2026-12-04", decimals are
  strings with the digits as stored ("70.50"), JSON columns are JSON, empty values are null.
  A column that refers to another table says which in schema.json ("foreign_key").

Reading it
  Any ZIP tool opens the archive. Each .jsonl file is read a line at a time: in Python,
  `for line in open(path): row = json.loads(line)`; in a spreadsheet, convert it first (for
  example with `jq -r` or pandas.read_json(path, lines=True)).
  Check a member against manifest.json with `sha256sum`.

Left out, and why
{left_out}
Columns left out of tables that are otherwise here
{columns}
"""
