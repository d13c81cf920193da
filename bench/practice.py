"""The practice the benchmarks measure: where its database lives, how it is built, and the staff
accounts the benchmarks sign in as. Shared by bench/pages.py and bench/load.py.

Everything here runs before or right after django.setup(): `prepare` sets the environment Django
reads its settings from (a temporary folder for the SQLite file and the task queue, never var/;
or a PostgreSQL database of the benchmark's own), and `build` migrates and loads the practice.

A plain run builds from scratch. With `reuse`, a practice built completely by an earlier run is
used again as it is (a SQLite folder with a stamp file, or a PostgreSQL database whose comment
says the benchmark built it), which saves the minutes the group practice takes to load.
"""

import dataclasses
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/kapflow_bench"
# The comment on a PostgreSQL database the benchmark made; only such a database (or an empty
# one) is ever dropped.
BENCH_MARK = "kapflow bench practice"
STAMP = "built.json"
BENCH_PASSWORD = "kapflow-bench-password-2026"


@dataclasses.dataclass
class Where:
    vendor: str  # "sqlite" or "postgresql"
    var_dir: Path  # KAPFLOW_VAR_DIR: the SQLite file (if any) and the task queue's file
    database_url: str | None
    reused: bool = False
    temporary: bool = False  # var_dir is ours to delete at the end

    def describe(self) -> str:
        if self.vendor == "sqlite":
            return f"SQLite file in {self.var_dir}"
        name = _url_parts(self.database_url)["dbname"]
        return f"PostgreSQL database {name!r}"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        help="sqlite (the default) or postgres; postgres uses DATABASE_URL when it names a PostgreSQL "
        f"database, else {DEFAULT_POSTGRES_URL}",
    )
    parser.add_argument(
        "--size",
        choices=("group", "small", "quick"),
        default="group",
        help="group: the group practice (24 clinicians, two years; the default); small: the same "
        "generator at the size its tests use (a quick try of the benchmark itself); quick: the quick "
        "demo plus --clients",
    )
    parser.add_argument(
        "--clients", type=int, default=5000, help="with --size quick: extra clients to load (default 5000)"
    )
    parser.add_argument(
        "--audit-rows",
        type=int,
        help="audit rows to add over the practice's two years, as its staff's reading would have "
        "written them (default 1,000,000 with --size group, none otherwise)",
    )
    parser.add_argument(
        "--reuse",
        nargs="?",
        const="",
        metavar="DIR",
        help="use a practice an earlier run built with --reuse (SQLite: in DIR, default a folder "
        "under the system's temporary folder; PostgreSQL: the database itself), building it the "
        "first time. Without it every run builds from scratch.",
    )


def chosen_vendor(args) -> str:
    if args.database:
        return args.database
    url = os.environ.get("DATABASE_URL", "")
    return "postgres" if url.startswith(("postgres://", "postgresql://")) else "sqlite"


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_POSTGRES_URL


# The machine's Redis, a database of its own (the tests count down from 15).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"


def prepare(args) -> Where:
    """Set the environment kapflow's settings read, before Django starts."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.settings")
    sys.path.insert(0, str(ROOT))
    if chosen_vendor(args) == "postgres":
        url = postgres_url()
        os.environ["DATABASE_URL"] = url
        var_dir = Path(tempfile.mkdtemp(prefix="kapflow-bench-"))
        where = Where("postgresql", var_dir, url, temporary=True)
        where.reused = _prepare_postgres(url, size=args.size, reuse=args.reuse is not None)
    else:
        os.environ.pop("DATABASE_URL", None)
        if args.reuse is not None:
            var_dir = Path(args.reuse or Path(tempfile.gettempdir()) / f"kapflow-bench-{args.size}-sqlite")
            var_dir.mkdir(parents=True, exist_ok=True)
            stamp = _read_stamp(var_dir / STAMP)
            reused = stamp.get("size") == args.size and (var_dir / "kapflow.sqlite3").exists()
            if not reused:
                for name in ("kapflow.sqlite3", "kapflow.sqlite3-wal", "kapflow.sqlite3-shm", STAMP):
                    (var_dir / name).unlink(missing_ok=True)
            where = Where("sqlite", var_dir, None, reused=reused)
        else:
            where = Where("sqlite", Path(tempfile.mkdtemp(prefix="kapflow-bench-")), None, temporary=True)
    # A practice with more than one process shares a cache (REDIS_URL), and the pages are measured
    # as they run there: the outcome report, for one, is kept only in a shared cache.
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    (where.var_dir / "static").mkdir(exist_ok=True)  # STATIC_ROOT, which WhiteNoise warns about when missing
    os.environ["KAPFLOW_VAR_DIR"] = str(where.var_dir)
    return where


def finish(where: Where, *, keep: bool = False) -> None:
    from django.db import connections

    connections.close_all()
    if where.temporary and not keep:
        shutil.rmtree(where.var_dir, ignore_errors=True)


def _read_stamp(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _url_parts(url: str) -> dict:
    import dj_database_url

    db = dj_database_url.parse(url)
    parts = {"dbname": db["NAME"], "user": db.get("USER") or None, "host": db.get("HOST") or None}
    parts["password"] = db.get("PASSWORD") or None
    parts["port"] = db.get("PORT") or None
    return {key: value for key, value in parts.items() if value}


def _admin_connection(url: str):
    import psycopg

    parts = _url_parts(url)
    parts["dbname"] = "postgres"
    return psycopg.connect(**parts, autocommit=True)


def _prepare_postgres(url: str, *, size: str, reuse: bool) -> bool:
    """Make the benchmark's PostgreSQL database ready to build into, or find it built. Returns
    whether the practice in it is reused. Drops only a database the benchmark made (its comment)
    or one with no tables; any other is left alone and the run stops."""
    import psycopg
    from psycopg import sql

    name = _url_parts(url)["dbname"]
    with _admin_connection(url) as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if row is not None:
            comment = row[0] or ""
            if reuse and comment.startswith(f"{BENCH_MARK}: {size},"):
                return True
            if not comment.startswith(BENCH_MARK):
                with psycopg.connect(**_url_parts(url)) as conn:
                    tables = conn.execute(
                        "SELECT count(*) FROM pg_tables "
                        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                    ).fetchone()[0]
                if tables:
                    raise SystemExit(
                        f"The PostgreSQL database {name!r} has tables and was not made by the benchmark: "
                        "it will not drop it. Name another in DATABASE_URL, or drop it yourself."
                    )
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(f"{BENCH_MARK} (being built)")
            )
        )
    return False


def _mark_built(where: Where, size: str, summary: dict) -> None:
    stamp = {"size": size, "built_at": datetime.datetime.now(datetime.UTC).isoformat(), **summary}
    if where.vendor == "sqlite":
        (where.var_dir / STAMP).write_text(json.dumps(stamp))
        return
    from psycopg import sql

    name = _url_parts(where.database_url)["dbname"]
    with _admin_connection(where.database_url) as admin:
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(f"{BENCH_MARK}: {size}, {json.dumps(stamp)}")
            )
        )


def build(where: Where, args) -> dict:
    """Migrate and load the practice, unless it is reused. Returns what was done and how long it
    took, for the report."""
    from django.core.management import call_command

    if where.reused:
        return {"reused": True}
    timings = {}
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    timings["migrate_s"] = time.perf_counter() - started
    started = time.perf_counter()
    if args.size in ("group", "small"):
        from kapflow.demo import group

        group.load_group_practice(group.GROUP if args.size == "group" else group.SMALL)
        what = "the group practice" if args.size == "group" else "the group practice at its small size"
    else:
        from kapflow.demo.quick import load_demo

        load_demo(extra_clients=args.clients)
        what = f"the quick demo with {args.clients} extra clients"
    timings["load_s"] = time.perf_counter() - started
    rows = args.audit_rows if args.audit_rows is not None else (1_000_000 if args.size == "group" else 0)
    if rows:
        started = time.perf_counter()
        add_audit_history(rows)
        timings["audit_s"] = time.perf_counter() - started
        what += f" and {rows:,} audit rows"
    summary = {"what": what, **timings}
    _mark_built(where, args.size, summary)
    return summary


# What a practice's audit log is mostly made of (each page that shows client data writes one
# row), roughly in the proportions a working day would write them.
AUDIT_ACTIONS = [
    ("kapflow.clients.chart.viewed", 30),
    ("kapflow.dashboard.viewed", 20),
    ("kapflow.visits.calendar.viewed", 12),
    ("kapflow.clients.caseload.viewed", 8),
    ("kapflow.dosing.runbook.viewed", 6),
    ("kapflow.dosing.runbook.opened", 3),
    ("kapflow.integration.overview.viewed", 4),
    ("kapflow.integration.record.viewed", 3),
    ("kapflow.measures.responses.viewed", 3),
    ("kapflow.measures.progress.viewed", 2),
    ("kapflow.pathway.overview.viewed", 3),
    ("kapflow.medical.summary.viewed", 2),
    ("kapflow.visits.visit.viewed", 2),
    ("kapflow.dosing.vitals.recorded", 1),
    ("kapflow.dosing.note.recorded", 1),
]
NO_CLIENT = {"kapflow.dashboard.viewed", "kapflow.visits.calendar.viewed", "kapflow.clients.caseload.viewed"}


def add_audit_history(count: int, *, seed: int = 12) -> None:
    """`count` audit rows spread evenly over the last two years, oldest first, written in bulk
    through the audit log's own bulk insert (which chains them like any other row), so that the
    audit page and every audited write meet a log of a practice's size."""
    import random

    from django.db.models import Q
    from django.utils import timezone

    from kapflow.accounts.models import User
    from kapflow.audit.models import AuditEvent
    from kapflow.clients.models import Client

    rng = random.Random(seed)  # noqa: S311 (made-up benchmark data)
    roles = Q(is_therapist=True) | Q(is_prescriber=True) | Q(is_coordinator=True) | Q(is_practice_admin=True)
    staff = list(User.objects.filter(roles, is_active=True).values_list("pk", "email"))
    staff = [person for person in staff if not person[1].startswith("bench-")] or staff
    clients = list(Client.objects.values_list("pk", flat=True))
    names, weights = zip(*AUDIT_ACTIONS, strict=True)
    start = timezone.now() - datetime.timedelta(days=730)
    step = datetime.timedelta(days=730) / count
    batch = []
    for n in range(count):
        action = rng.choices(names, weights)[0]
        actor, email = rng.choice(staff)
        batch.append(
            AuditEvent(
                at=start + step * n,
                actor_id=actor,
                actor_label=email,
                action=action,
                client_id=None if action in NO_CLIENT else rng.choice(clients),
                ip_address=f"198.51.100.{rng.randint(1, 254)}",
                request_id=f"{rng.getrandbits(64):016x}",
            )
        )
        if len(batch) == 5000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    if batch:
        AuditEvent.objects.bulk_create(batch)


def practice_counts() -> dict:
    from kapflow.accounts.models import User
    from kapflow.clients.models import Client
    from kapflow.visits.models import Visit

    counts = {
        "clients": Client.objects.count(),
        "clinicians": User.objects.clinicians().count(),
        "visits": Visit.objects.count(),
    }
    from kapflow.audit.models import AuditEvent
    from kapflow.dosing.models import VitalsReading
    from kapflow.measures.models import Response

    counts["vitals"] = VitalsReading.objects.count()

    counts["responses"] = Response.objects.count()
    counts["audit rows"] = AuditEvent.objects.count()
    return counts


def enrol(user, secret: str | None = None) -> str:
    """Give a staff account a TOTP authenticator the benchmark knows the secret of (two-factor
    sign-in stays required, as in production). Returns the secret."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
    secret = secret or generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def busiest(users, *, since: datetime.datetime, until: datetime.datetime):
    """The users ordered by the visits they lead between `since` and `until`, busiest first."""
    from django.db.models import Count, Q

    from kapflow.visits.models import Visit

    window = Q(visits__starts_at__gte=since, visits__starts_at__lt=until) & ~Q(
        visits__status=Visit.Status.CANCELLED
    )
    return users.annotate(n=Count("visits", filter=window)).order_by("-n", "pk")
