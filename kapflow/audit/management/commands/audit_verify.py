"""`manage.py audit_verify`: walks the audit log's hash chain (kapflow.audit.chain) in id order
and says whether it is whole. Exit status 0 and "N rows verified" when it is; otherwise status 1
and the first bad row: its id, its time and what is wrong with it."""

import dataclasses

from django.core.management.base import BaseCommand, CommandError

from kapflow.audit import chain
from kapflow.audit.models import AuditEvent

# Rows read per query: the walk keeps one batch in memory, whatever the size of the log.
BATCH = 2000


@dataclasses.dataclass(frozen=True)
class Problem:
    pk: int
    at: str
    what: str

    def __str__(self) -> str:
        return f"audit row {self.pk} ({self.at}): {self.what}"


@dataclasses.dataclass(frozen=True)
class Verdict:
    rows: int
    head_seq: int
    head_hash: str
    problem: Problem | None


def verify(*, batch: int = BATCH, after: tuple[int, str] | None = None) -> Verdict:
    """Walk the whole chain and stop at the first row that breaks it. Keyset pagination (id >
    the last id seen) keeps every query an index range scan and memory constant.

    `after` = (seq, row_hash) of the last row of months archived out of this database
    (docs/security/audit.md, "Archiving by month"): the first row left must follow it, as it
    followed that row before the archive was detached. Without it the first row must be the
    chain's first (seq 1, prev_hash all zeros)."""
    fields = ["pk", *chain.HASHED, "row_hash"]
    prev_seq, prev_hash = after if after is not None else (0, chain.GENESIS)
    last_pk, rows = 0, 0
    while True:
        page = list(AuditEvent.objects.filter(pk__gt=last_pk).order_by("pk").values(*fields)[:batch])
        if not page:
            return Verdict(rows, prev_seq, prev_hash, None)
        for row in page:
            what = _what_is_wrong(row, prev_seq=prev_seq, prev_hash=prev_hash)
            if what:
                return Verdict(rows, prev_seq, prev_hash, Problem(row["pk"], chain.utc_iso(row["at"]), what))
            prev_hash, prev_seq, rows = row["row_hash"], row["seq"], rows + 1
        last_pk = page[-1]["pk"]


def _what_is_wrong(row: dict, *, prev_seq: int, prev_hash: str) -> str:
    if row["seq"] is None or not row["row_hash"]:
        return "not chained (no place in the chain or no hash)"
    if row["seq"] != prev_seq + 1:
        return (
            f"gap: chain position {row['seq']} follows {prev_seq}"
            f" ({'rows are missing before it' if row['seq'] > prev_seq + 1 else 'a position is repeated'})"
        )
    if row["prev_hash"] != prev_hash:
        return "broken link: its prev_hash is not the hash of the row before it"
    if chain.row_hash(row) != row["row_hash"]:
        return "hash mismatch: the row was changed after it was written"
    return ""


def _link(value: str) -> tuple[int, str]:
    seq, _, digest = value.strip().partition(":")
    digest = digest.strip().lower()
    if not (seq.strip().isascii() and seq.strip().isdigit() and len(digest) == 64):
        raise CommandError(f"--after takes SEQ:HASH, the chain position and 64-character hash: {value!r}")
    return int(seq), digest


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exit status 1 naming the first bad row."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--after",
            metavar="SEQ:HASH",
            help="the chain position and hash of the last archived row (the archive's manifest "
            "has them): the walk starts with the row that follows it",
        )
        parser.add_argument(
            "--head",
            help="the hash of the last row as noted earlier (a copy kept outside the database): "
            "the command also checks that this hash is still in the chain",
        )

    def handle(self, *args, head: str | None = None, after: str | None = None, **options) -> None:
        verdict = verify(after=_link(after) if after else None)
        if verdict.problem is not None:
            raise CommandError(
                f"The audit log is not whole: {verdict.problem} ({verdict.rows} rows before it verified)."
            )
        if head and not AuditEvent.objects.filter(row_hash=head.strip().lower()).exists():
            raise CommandError(
                f"The audit log's chain is whole but does not contain the hash {head}: it was rebuilt "
                "or cut short since that hash was noted."
            )
        self.stdout.write(
            f"{verdict.rows} rows verified. Last row: position {verdict.head_seq}, hash {verdict.head_hash}"
        )
