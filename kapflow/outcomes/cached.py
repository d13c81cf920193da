"""The outcome report as the pages serve it: worked out once, then read from Django's cache until
one of its inputs changes.

Working a quarter's report out reads every course of the quarter and each client's scores (tens
of milliseconds at a group practice's size), yet the figures change only when the records they
are drawn from do. An ended quarter's records can still change (a late-signed runbook, a
corrected visit, a questionnaire entered late), so a report is not trusted for a time: it is kept
under a key that changes whenever any input may have changed, and a changed key is a report
worked out afresh (an hour's expiry only bounds what a missed change could cost, below). The key holds:

- the inputs' token: a random value in the cache, replaced whenever a row of any model the report
  reads (INPUT_MODELS) is saved or deleted, in any process (the cache is shared by every web
  process: settings require Redis for more than one). It is replaced at the save itself and again
  once the transaction commits, so a report worked out while the change was being committed is
  kept only under the token that the commit replaced. A token the cache has lost (evicted,
  restarted) is a new one, never an old one;
- the newest row of each input model: a row added without save() (a bulk load) changes it,
  though no signal is sent. Rows changed without save() or delete() (QuerySet.update(), SQL) are
  not seen: outside the demo loaders, kapflow changes these models only through them, and a
  restored backup should start with a cleared cache;
- the period, the database, and the source of the modules the figures and labels come from, so
  that a shared cache never serves a report of another database or of an earlier version.

The cached value is the Report the page and the CSV are both made from: aggregates, with no
client's identity (the small-cell rule is applied to it as before, when its tables are made).
Access is unchanged: the views check who may see the report, and write their audit row, on every
request, cached or not.

What the cache may never do:

- **Stop a record being saved.** The token is replaced from the save and delete signals of
  clinical records; a cache that is down must not fail a dose, a signature or a questionnaire. A
  failed replacement is logged, and the cache is then not trusted (no report is read from it or
  kept in it) for the rest of this process's life, so that a token the cache kept while it was
  unreachable cannot bring back a report from before the change.
- **Keep a report of changes that were rolled back.** A report worked out inside a transaction
  (an atomic block) may include that transaction's own uncommitted changes; it is never kept.
- **Serve one process a report another process's change made stale.** Only a cache shared by
  every process (Redis: REDIS_URL) is used; with the process-local default (LocMemCache: a
  laptop, `make run`, whose worker is a second process) every request works the report out.
"""

import datetime
import hashlib
import logging
import sys
import uuid
from pathlib import Path

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection, transaction
from django.db.models import Subquery
from django.db.models.signals import post_delete, post_save

from kapflow.dosing.models import Administration, AdverseEvent, Runbook
from kapflow.measures.models import Response
from kapflow.outcomes.report import Report, build_report, period_bounds
from kapflow.visits.models import Visit

# Every model whose rows the report reads (kapflow.outcomes.report.build_report).
INPUT_MODELS = (Visit, Runbook, Administration, AdverseEvent, Response)
# The modules whose code the figures and their labels come from.
SOURCE_MODULES = (
    "kapflow.outcomes.report",
    "kapflow.measures.instruments",
    "kapflow.measures.scoring",
    "kapflow.medical.models",
    "kapflow.visits.models",
    "kapflow.dosing.models",
)
TOKEN_KEY = "kapflow:outcomes:inputs-token"
# Not what keeps a report current (the key does that), but a bound on how long a change the
# cache missed could go unseen: a process that could not reach the cache to replace the token
# while another process still could (a network fault between them) leaves that process's
# reports standing, for an hour at most.
KEEP_SECONDS = 60 * 60

logger = logging.getLogger(__name__)
# Set when replacing the token failed: from then on this process neither reads nor keeps reports.
_untrusted = False


def _source_version() -> str:
    digest = hashlib.sha256()
    for name in SOURCE_MODULES:
        __import__(name)
        digest.update(Path(sys.modules[name].__file__).read_bytes())
    return digest.hexdigest()[:16]


_SOURCE_VERSION = _source_version()


def inputs_changed(**_kwargs) -> None:
    """Replace the inputs' token: every report cached so far is for inputs that may be gone.
    Never raises: it runs inside the saving of clinical records."""
    global _untrusted
    try:
        cache.set(TOKEN_KEY, uuid.uuid4().hex, None)
    except Exception:
        _untrusted = True
        logger.exception("The outcome report's cache could not be told of a change; it is no longer used.")


def _input_saved_or_deleted(sender, using=None, **_kwargs) -> None:
    inputs_changed()
    # Again once the change is committed: a report worked out between the two (from the data
    # before the commit) was kept under the token this replaces.
    transaction.on_commit(inputs_changed, using=using)


def connect_signals() -> None:
    for model in INPUT_MODELS:
        for signal, name in ((post_save, "saved"), (post_delete, "deleted")):
            signal.connect(
                _input_saved_or_deleted, sender=model, dispatch_uid=f"outcomes:{model.__name__}:{name}"
            )


def _token() -> str:
    token = cache.get(TOKEN_KEY)
    if token is None:
        # Lost or never set: a new token, so that no report cached under an older one is read.
        fresh = uuid.uuid4().hex
        token = fresh if cache.add(TOKEN_KEY, fresh, None) else cache.get(TOKEN_KEY, fresh)
    return token


def _newest_rows() -> tuple:
    """The newest id of each input model, in one query (each is the end of its primary key)."""
    newest = {
        model.__name__: Subquery(model.objects.order_by("-pk").values("pk")[:1]) for model in INPUT_MODELS[1:]
    }
    row = Visit.objects.order_by("-pk").annotate(**newest).values_list("pk", *newest).first()
    # No visit at all: no course, so the report is empty whatever the other tables hold.
    return row or ()


def _key(since: datetime.datetime, until: datetime.datetime) -> str:
    database = connection.settings_dict["NAME"]
    parts = [
        _SOURCE_VERSION,
        connection.vendor,
        str(database),
        since.isoformat(),
        until.isoformat(),
        _token(),
    ]
    parts += [str(pk) for pk in _newest_rows()]
    return "kapflow:outcomes:report:" + hashlib.sha256(" ".join(parts).encode()).hexdigest()


def _in_transaction() -> bool:
    return connection.in_atomic_block


def _usable() -> bool:
    """Whether reports may be read from and kept in the cache (this module's docstring)."""
    return not _untrusted and isinstance(caches["default"], RedisCache)


def report_for(*, start: datetime.date, end: datetime.date) -> Report:
    """build_report(start=start, end=end), from the cache when none of its inputs changed since it
    was worked out (this module's docstring)."""
    if not _usable():
        return build_report(start=start, end=end)
    since, until = period_bounds(start, end)
    try:
        key = _key(since, until)
        report = cache.get(key)
    except Exception:
        logger.exception("The outcome report's cache could not be read; the report is worked out afresh.")
        return build_report(start=start, end=end)
    if report is None:
        report = build_report(start=start, end=end)
        if not _in_transaction():  # else it may hold this transaction's uncommitted changes
            try:
                cache.set(key, report, KEEP_SECONDS)
            except Exception:
                logger.exception("The outcome report could not be kept in the cache.")
    return report
