"""The outcome report as the pages serve it: worked out once, then read from Django's cache until
one of its inputs changes.

Working a quarter's report out reads every course of the quarter and each client's scores (tens
of milliseconds at a group practice's size), yet the figures change only when the records they
are drawn from do. An ended quarter's records can still change (a late-signed runbook, a
corrected visit, a questionnaire entered late), so a report is never kept for a time: it is kept
under a key that changes whenever any input may have changed, and a changed key is a report
worked out afresh. The key holds:

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
"""

import datetime
import hashlib
import sys
import uuid
from pathlib import Path

from django.core.cache import cache
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
# Only so that reports no one asks for again give their space back; never what keeps one current.
KEEP_SECONDS = 7 * 24 * 60 * 60


def _source_version() -> str:
    digest = hashlib.sha256()
    for name in SOURCE_MODULES:
        __import__(name)
        digest.update(Path(sys.modules[name].__file__).read_bytes())
    return digest.hexdigest()[:16]


_SOURCE_VERSION = _source_version()


def inputs_changed(**_kwargs) -> None:
    """Replace the inputs' token: every report cached so far is for inputs that may be gone."""
    cache.set(TOKEN_KEY, uuid.uuid4().hex, None)


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


def report_for(*, start: datetime.date, end: datetime.date) -> Report:
    """build_report(start=start, end=end), from the cache when none of its inputs changed since it
    was worked out (this module's docstring)."""
    since, until = period_bounds(start, end)
    key = _key(since, until)
    report = cache.get(key)
    if report is None:
        report = build_report(start=start, end=end)
        cache.set(key, report, KEEP_SECONDS)
    return report
