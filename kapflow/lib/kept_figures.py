"""Figures worked out once from the records, then read from Django's cache until one of the
records they are drawn from changes: the outcome report (kapflow.outcomes.cached) and the
practice's income by month (kapflow.outcomes.income) are each a `KeptFigures`.

Working such figures out reads a practice's whole period (tens of milliseconds at a group
practice's size), yet they change only when their records do. Past records can still change (a
late-signed runbook, a questionnaire entered late, a payment recorded for last month), so figures
are not trusted for a time: they are kept under a key that changes whenever any input may have
changed, and a changed key means the figures are worked out afresh (an hour's expiry only bounds
what a missed change could cost, below). The key holds:

- the inputs' token: a random value in the cache, replaced whenever a row of any of the figures'
  input models is saved or deleted, in any process (the cache is shared by every web process:
  settings require Redis for more than one). It is replaced at the save itself and again once
  the transaction commits, so figures worked out while the change was being committed are kept
  only under the token that the commit replaced. A token the cache has lost (evicted, restarted)
  is a new one, never an old one. The token also covers a transaction that took a lower id but
  committed after a higher one was read (PostgreSQL hands out ids before commit): its commit
  replaces the token;
- the newest row of each input model: a row added without save() (a bulk load) changes it,
  though no signal is sent. Rows changed without save() or delete() (QuerySet.update(), SQL) are
  not seen: outside the demo loaders kapflow changes these models only through them, and a
  restored backup should start with a cleared cache. (The amounts the database keeps on each
  invoice, kapflow.billing.db, change only as a line or entry is inserted, which is seen);
- what the caller names (the period, say), the database, and the source of the modules the
  figures and their labels come from, so that a shared cache never serves figures of another
  database or of an earlier version.

What the cache may never do:

- **Stop a record being saved.** The token is replaced from the save and delete signals of the
  input models; a cache that is down must not fail a dose, a signature or a payment. A failed
  replacement is logged, and the cache is then not trusted (nothing is read from it or kept in
  it) for the rest of this process's life, so that a token the cache kept while it was
  unreachable cannot bring back figures from before the change.
- **Keep figures of changes that were rolled back.** Figures worked out inside a transaction (an
  atomic block) may include that transaction's own uncommitted changes; they are never kept.
- **Serve one process figures another process's change made stale.** Only a cache shared by
  every process (Redis: REDIS_URL) is used; with the process-local default (LocMemCache: a
  laptop, `make run`, whose worker is a second process) every request works the figures out.

Access is the caller's: the views check who may see the figures, and write their audit row, on
every request, cached or not.
"""

import hashlib
import logging
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save

# Not what keeps figures current (the key does that), but a bound on how long a change the cache
# missed could go unseen: a process that could not reach the cache to replace the token while
# another process still could (a network fault between them) leaves that process's figures
# standing, for an hour at most.
KEEP_SECONDS = 60 * 60

logger = logging.getLogger(__name__)


def _in_transaction() -> bool:
    return connection.in_atomic_block


class KeptFigures:
    """Figures named `name`, drawn from the rows of `inputs` (models) by code in `sources`
    (module names). Call `connect_signals()` once the apps are ready (an AppConfig.ready)."""

    def __init__(self, name: str, *, inputs: tuple, sources: tuple[str, ...]):
        self.name = name
        self.inputs = inputs
        self.sources = sources
        self.token_key = f"kapflow:{name}:inputs-token"
        self.untrusted = False  # set when replacing the token failed: see the module's docstring
        self._source_version = None

    # --- Told of changes -------------------------------------------------------------------

    def inputs_changed(self, **_kwargs) -> None:
        """Replace the inputs' token: every figure kept so far is for inputs that may be gone.
        Never raises: it runs inside the saving of clinical and billing records."""
        try:
            cache.set(self.token_key, uuid.uuid4().hex, None)
        except Exception:
            self.untrusted = True
            logger.exception("The cache of %s was not told of a change; it is no longer used.", self.name)

    def _saved_or_deleted(self, sender, using=None, **_kwargs) -> None:
        self.inputs_changed()
        # Again once the change is committed: figures worked out between the two (from the data
        # before the commit) were kept under the token this replaces.
        transaction.on_commit(self.inputs_changed, using=using)

    def connect_signals(self) -> None:
        for model in self.inputs:
            for signal, event in ((post_save, "saved"), (post_delete, "deleted")):
                signal.connect(
                    self._saved_or_deleted,
                    sender=model,
                    weak=False,
                    dispatch_uid=f"{self.name}:{model.__name__}:{event}",
                )

    # --- The key ---------------------------------------------------------------------------

    def token(self) -> str:
        token = cache.get(self.token_key)
        if token is None:
            # Lost or never set: a new token, so that nothing kept under an older one is read.
            fresh = uuid.uuid4().hex
            token = fresh if cache.add(self.token_key, fresh, None) else cache.get(self.token_key, fresh)
        return token

    def newest_rows(self) -> tuple:
        """The newest id of each input model (the end of its primary key), in one query."""
        parts, params = [], []
        for model in self.inputs:
            sql, model_params = model._base_manager.order_by("-pk").values("pk")[:1].query.sql_with_params()
            parts.append(f"({sql})")
            params.extend(model_params)
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(parts), params)
            return tuple(cursor.fetchone())

    def source_version(self) -> str:
        if self._source_version is None:
            digest = hashlib.sha256()
            for module in self.sources:
                __import__(module)
                digest.update(Path(sys.modules[module].__file__).read_bytes())
            self._source_version = digest.hexdigest()[:16]
        return self._source_version

    def key(self, *parts: str) -> str:
        """The cache key of the figures for `parts` (the caller's: a period) as the inputs stand."""
        words = [
            self.source_version(),
            connection.vendor,
            str(connection.settings_dict["NAME"]),
            *parts,
            self.token(),
            *(str(pk) for pk in self.newest_rows()),
        ]
        return f"kapflow:{self.name}:" + hashlib.sha256(" ".join(words).encode()).hexdigest()

    # --- Reading -----------------------------------------------------------------------------

    def usable(self) -> bool:
        """Whether figures may be read from and kept in the cache (the module's docstring)."""
        return not self.untrusted and isinstance(caches["default"], RedisCache)

    def get(self, parts: tuple[str, ...], work_out: Callable[[], object]):
        """work_out(), from the cache when none of the inputs changed since it was last worked
        out for `parts`."""
        if not self.usable():
            return work_out()
        try:
            key = self.key(*parts)
            figures = cache.get(key)
        except Exception:
            logger.exception("The cache of %s could not be read; the figures are worked out.", self.name)
            return work_out()
        if figures is None:
            figures = work_out()
            if not _in_transaction():  # else they may hold this transaction's uncommitted changes
                try:
                    cache.set(key, figures, KEEP_SECONDS)
                except Exception:
                    logger.exception("The figures of %s could not be kept in the cache.", self.name)
        return figures
