import contextlib
import json
from collections.abc import Iterator, Sequence

from django.conf import settings
from django.db import connections, models, transaction
from django.utils import timezone

from kapflow.audit import chain


class AuditEventQuerySet(models.QuerySet):
    def for_review(self):
        """Newest first, in the order of the audit page's key (at, id): every filter of the page
        has an index that gives the rows in this order (Meta.indexes)."""
        return (
            self.select_related("actor", "client")
            # Of the actor and the client, only what a row's sentence names (their names): a
            # page is a hundred rows, and the rest of two accounts' and charts' columns, read
            # and converted for each, was most of the page's read.
            .only(*REVIEWED_FIELDS)
            .order_by("-at", "-pk")
        )

    def bulk_create(self, objs, *args, **kwargs):
        """Rows added in bulk (the benchmarks, the demo) are chained like any other."""
        objs = list(objs)
        with _appending(objs, self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            _name_clients(created, self.db)
            return created


@contextlib.contextmanager
def _appending(objs: Sequence["AuditEvent"], using: str) -> Iterator[None]:
    """Fills in each new row's place in the hash chain (kapflow.audit.chain); the caller inserts
    the rows inside this block, in order.

    The append is serialised, so that no two rows chain off the same previous one. On SQLite
    every transaction is IMMEDIATE (settings.py): the block below, or the transaction it is part
    of, took the database's write lock before the last row is read. On PostgreSQL an advisory
    lock held to the end of the transaction does it: a second writer waits here until the first
    has committed, then reads the row it added. The lock is taken before the rows' ids are drawn
    from the sequence, so the chain's order is also the ids' order. Inside a transaction already
    (a service's atomic block) no savepoint is needed: the lock is the enclosing transaction's."""
    connection = connections[using]
    with contextlib.nullcontext() if connection.in_atomic_block else transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [chain.APPEND_LOCK_KEY])
        # One indexed read: the last row by primary key.
        last = AuditEvent.objects.using(using).order_by("-pk").values_list("seq", "row_hash").first()
        seq, prev_hash = (last[0] or 0, last[1] or chain.GENESIS) if last else (0, chain.GENESIS)
        for obj in objs:
            seq += 1
            obj.detail = chain.normal_detail(obj.detail)
            obj.ip_address = chain.normal_ip(obj.ip_address)
            obj.seq, obj.prev_hash = seq, prev_hash
            obj.row_hash = prev_hash = chain.row_hash({name: getattr(obj, name) for name in chain.HASHED})
        yield


class AuditEvent(models.Model):
    """One read or write of client data, or one change to who may see it.

    Rows are only ever inserted: database triggers (see `kapflow.audit.db`) refuse UPDATE and
    DELETE on this table, whoever asks. Values that were changed are not copied here, only the
    names of the fields, so the log does not become a second copy of the record."""

    at = models.DateTimeField(default=timezone.now)
    # No index of its own on either foreign key: the (actor, at, id) and (client, at, id)
    # indexes below start with it, and serve the lookups on it alone as well.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    # The actor's email at the time: a later change of address must not rewrite history.
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=100)
    client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    # The hash chain (kapflow.audit.chain): this row's place in the chain, the previous row's
    # hash and this row's own, over the canonical form of the fields above and these two.
    # Null/empty only while the migration that computes them for older rows has not run.
    seq = models.BigIntegerField(null=True, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    row_hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        # Each index and the queries it serves (docs/security/audit.md, "Indexes", has the
        # measurements). The audit page pages by the key (at, id), newest first, so each of its
        # filters has an index that ends in at, id: a page is one index range read, however
        # large the log. The primary key serves the rest: the chain's last row as a row is
        # appended (`_appending`) and `audit_verify`'s walk in id order.
        indexes = [
            # The page unfiltered, and filtered by date alone.
            models.Index(fields=["-at", "-id"], name="audit_at_id_idx"),
            # "Everything that happened to this client" (and a date range within it); also the
            # database's own check that no audit row names a client being deleted (PROTECT).
            models.Index(fields=["client", "-at", "-id"], name="audit_client_at_id_idx"),
            # "Everything this person did"; and PROTECT's check for a user being deleted.
            models.Index(fields=["actor", "-at", "-id"], name="audit_actor_at_id_idx"),
            # One action: the page's action filter, the list of actions it offers (one probe of
            # this index per distinct action), and the portal's count of wrong passwords typed
            # on an invitation (kapflow.portal.services.invitation_password_refused).
            models.Index(fields=["action", "-at", "-id"], name="audit_action_at_id_idx"),
        ]
        constraints = [
            # Two writers can never both take the same place in the chain: the append is
            # serialised (`_appending`), and this refuses the second if it were not.
            models.UniqueConstraint(
                fields=["seq"], condition=models.Q(seq__isnull=False), name="audit_seq_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label or 'system'} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            # The database refuses it too (kapflow.audit.db); this says why sooner.
            raise ValueError("audit rows are never changed")
        using = kwargs.get("using") or "default"
        with _appending([self], using):
            super().save(*args, **kwargs)
            _name_clients([self], using)


# What the audit page reads of each row (every column) and of its actor and client.
REVIEWED_FIELDS = (
    *(field.name for field in AuditEvent._meta.concrete_fields),
    "actor__id",
    "actor__full_name",
    "client__id",
    "client__first_name",
    "client__last_name",
)


def named_client_ids(detail) -> list[int]:
    """The clients a row names in its detail (`"clients": [ids]`) rather than in `client`: the
    dashboard, its lists, the calendar and its readiness panel each name many in one row."""
    values = detail.get("clients") if isinstance(detail, dict) else None
    if not isinstance(values, list):
        return []
    return sorted({v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0})


def _name_clients(events: Sequence[AuditEvent], using: str) -> None:
    """Writes each row's AuditEventClient rows, in the transaction that inserts the row.

    One INSERT per row, of all its clients at once, rather than through bulk_create: a calendar
    or dashboard row names up to hundreds of clients, and making each a model instance and
    compiling it into SQL cost more than the rest of the audited request (7 ms for a practice's
    month on the calendar). The ids go in as one array (SQLite: a JSON array read by json_each;
    PostgreSQL: a bigint[] unnested); any other database gets one row of values each. `at` is
    prepared for the database by the field itself."""
    connection = connections[using]
    meta = AuditEventClient._meta
    at_field = meta.get_field("at")
    named = [
        (event.pk, client_ids, at_field.get_db_prep_save(event.at, connection))
        for event in events
        if event.pk is not None and (client_ids := named_client_ids(event.detail))
    ]
    if not named:
        return
    if connection.vendor == "sqlite":
        rows = "SELECT %s, value, %s FROM json_each(%s)"
        values = [(pk, at, json.dumps(client_ids)) for pk, client_ids, at in named]
    elif connection.vendor == "postgresql":
        rows = "SELECT %s, client_id, %s FROM unnest(%s::bigint[]) AS client_id"
        values = [(pk, at, client_ids) for pk, client_ids, at in named]
    else:
        rows = "VALUES (%s, %s, %s)"
        values = [(pk, client_id, at) for pk, client_ids, at in named for client_id in client_ids]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in ("event", "client", "at"))
    with connection.cursor() as cursor:
        # Names from the model's own meta, quoted; every value is a parameter.
        cursor.executemany(f"INSERT INTO {quote(meta.db_table)} ({columns}) {rows}", values)  # noqa: S608


class AuditEventClient(models.Model):
    """A client named in an audit row's detail (`"clients": [...]`), one row each, so that the
    audit page's client filter finds the dashboard, calendar and list reads that showed this
    client as it finds the rows whose `client` it is: by one ordered range of an index.

    Nothing here is new evidence: it is an index of what the row's detail (covered by the hash
    chain) already says, written in the same transaction as the row, and can be rebuilt from it
    (migration 0005 does, for the rows written before it). It has no foreign key constraints, so
    that it neither holds up anything else nor blocks the archiving of a month of rows
    (docs/security/audit.md): a row whose event was archived is dropped by the join."""

    event = models.ForeignKey(
        AuditEvent,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="named_clients",
    )
    client = models.ForeignKey(
        "clients.Client", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    # The event's own `at`, copied: the page's key (at, id) read from this table's index alone.
    at = models.DateTimeField()

    class Meta:
        indexes = [
            # The page's client filter, the second half: this client's multi-client reads, newest
            # first, in the page's key order (kapflow.audit.selectors.log_page).
            models.Index(fields=["client", "-at", "-event"], name="audit_named_client_at_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["event", "client"], name="audit_named_client_once"),
        ]

    def __str__(self) -> str:
        return f"audit row {self.event_id} names client {self.client_id}"
