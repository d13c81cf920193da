"""The audit log's hash chain: each row carries the hash of the row before it, so a row rewritten,
removed or slipped in anywhere but the end breaks the chain where it happened, even when whoever
did it owned the database and had dropped the triggers (`manage.py audit_verify` walks it).

The canonical form, written out so that an outside auditor can recompute every hash without
kapflow's code (docs/security/audit.md says the same):

* a JSON object with exactly these keys: action, actor_id, actor_label, at, client_id, detail,
  ip_address, object_id, object_type, prev_hash, request_id, seq;
* keys sorted, separators "," and ":" (no spaces), non-ASCII characters escaped as \\uXXXX, so the
  bytes are plain ASCII;
* `at` as UTC in ISO 8601 with microseconds and a "Z": 2026-12-04T12:40:40.123456Z;
* actor_id and client_id as integers or null; ip_address as Python's `ipaddress` writes it
  (IPv6 compressed) or null; `detail` as the stored JSON value (its keys sorted too);
* row_hash = lowercase hex SHA-256 of those bytes. The first row's prev_hash is 64 zeros, and
  each later row's prev_hash is the row_hash of the row before it; seq counts 1, 2, 3…
"""

import datetime
import hashlib
import ipaddress
import json
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64
# The fields that go into a row's hash, by column name (the migration passes raw values).
HASHED = (
    "action",
    "actor_id",
    "actor_label",
    "at",
    "client_id",
    "detail",
    "ip_address",
    "object_id",
    "object_type",
    "prev_hash",
    "request_id",
    "seq",
)
# PostgreSQL: the key of the transaction-level advisory lock that serialises appends (any
# constant will do as long as nothing else uses it; these are the bytes of "kapflow\0").
APPEND_LOCK_KEY = 0x6B6170666C6F7700


def utc_iso(value: datetime.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normal_ip(value: str | None) -> str | None:
    """The address as `ipaddress` writes it: PostgreSQL's inet and SQLite's text may differ in
    how they spell an IPv6 address, the hash must not."""
    return str(ipaddress.ip_address(value)) if value else None


def normal_detail(detail: Any) -> Any:
    """The detail as the database will give it back (tuples become lists, keys strings)."""
    return json.loads(json.dumps(detail if detail is not None else {}))


def canonical(values: Mapping[str, Any]) -> bytes:
    record = {
        "action": values["action"],
        "actor_id": values["actor_id"],
        "actor_label": values["actor_label"],
        "at": utc_iso(values["at"]),
        "client_id": values["client_id"],
        "detail": normal_detail(values["detail"]),
        "ip_address": normal_ip(values["ip_address"]),
        "object_id": values["object_id"],
        "object_type": values["object_type"],
        "prev_hash": values["prev_hash"],
        "request_id": values["request_id"],
        "seq": values["seq"],
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def row_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()
