"""How long the busiest pages take, and how many queries they run, with a large practice.

    .venv/bin/python bench/pages.py [--clients 5000] [--repeat 30] [--keep]

Builds a throwaway SQLite database in a temporary directory (never var/), migrates it, loads
the demo practice with --clients extra clients, then requests each page --repeat times through
Django's test client and prints the median and 95th-percentile time and the queries per
request. Set DATABASE_URL to measure another database, e.g. PostgreSQL: the script then
migrates and writes the demo practice there, and says so before it starts.

The figures are for comparing one change with another on the same machine; the script never
fails because a page is slow. It does fail when a page does not answer 200.
"""

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=5000, help="extra clients to load (default 5000)")
    parser.add_argument("--repeat", type=int, default=30, help="requests per page (default 30)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and print it")
    args = parser.parse_args(argv)
    if args.clients < 0 or args.repeat < 1:
        parser.error("--clients must be 0 or more and --repeat at least 1")
    return args


def prepare_environment() -> Path:
    """Point kapflow at a temporary directory before Django reads its settings, so that the
    SQLite database and the task queue's file are created there and nowhere else."""
    var_dir = Path(tempfile.mkdtemp(prefix="kapflow-bench-"))
    (var_dir / "static").mkdir()  # STATIC_ROOT, which WhiteNoise warns about when missing
    os.environ["KAPFLOW_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapflow.settings")
    if os.environ.get("DATABASE_URL"):
        import dj_database_url

        db = dj_database_url.parse(os.environ["DATABASE_URL"])
        engine = db["ENGINE"].rsplit(".", 1)[-1]
        where = f"{engine} database {db.get('NAME')!r} on {db.get('HOST') or 'localhost'}"
        print(
            f"WARNING: DATABASE_URL is set, so the benchmark migrates and writes the demo practice and "
            f"its extra clients into the {where}. Unset DATABASE_URL to use a throwaway SQLite file.",
            file=sys.stderr,
        )
    sys.path.insert(0, str(ROOT))
    return var_dir


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def main(argv=None) -> int:
    args = parse_args(argv)
    var_dir = prepare_environment()

    import django

    django.setup()

    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext

    from kapflow.clients.models import Client
    from kapflow.dosing.models import Runbook
    from kapflow.practice.demo import load_demo
    from kapflow.visits.models import Visit

    # Production-like request handling: no SQL logging, no template debug information (set
    # before migrate, whose system checks build the template engine). 'testserver' is the host
    # name of Django's test client.
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    status = 0
    try:
        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        migrated = time.perf_counter() - started

        started = time.perf_counter()
        result = load_demo(extra_clients=args.clients)
        loaded = time.perf_counter() - started
        staff = result["staff"]
        therapist, coordinator, admin = staff["therapist"], staff["coordinator"], staff["admin"]

        # Staff must have an authenticator (MFA_REQUIRED stays on, as in production).
        for user in (therapist, coordinator, admin):
            if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                TOTP.activate(user, generate_totp_secret())

        # Search terms from one of the therapist's clients, so that every search finds someone
        # for both of them.
        theirs = Client.objects.filter(care_team__user=therapist).order_by("pk")
        sample = theirs[theirs.count() // 2]
        # A chart with something in every section: a minor with a guardian and a provider.
        busiest = (
            theirs.filter(guardians__isnull=False, outside_providers__isnull=False).first() or theirs.first()
        )
        name = sample.last_name
        phone = sample.phone_digits[-7:]
        born = f"{sample.date_of_birth:%m/%d/%Y}"

        # Issue 4 and 5 pages: today's medication session (as its clinician), a signed one, the
        # progress charts of a client with a course behind them, and the demo's portal client.
        today_visit = Visit.objects.filter(kind=Visit.Kind.MEDICATION, status=Visit.Status.CHECKED_IN).first()
        portal_client = Client.objects.filter(portal_user__isnull=False).select_related("portal_user").first()
        session_clinician = today_visit.clinician if today_visit else therapist
        # The latest signed session of that clinician's (another's client would answer 404).
        signed = (
            Runbook.objects.filter(signed_at__isnull=False, visit__clinician=session_clinician)
            .select_related("visit")
            .order_by("signed_at", "pk")
            .last()
        )
        for user in (session_clinician,):
            if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
                TOTP.activate(user, generate_totp_secret())

        browsers = {}
        people = [("therapist", therapist), ("coordinator", coordinator), ("admin", admin)]
        people.append(("clinician", session_clinician))
        if portal_client is not None:
            people.append(("client", portal_client.portal_user))
        for who, user in people:
            browsers[who] = HttpClient()
            browsers[who].force_login(user)
            browsers[who].get("/")  # the session's one-off authenticator check

        pages = [
            ("caseload", "therapist", "/clients/"),
            ("caseload", "coordinator", "/clients/"),
            (f"search name {name!r}", "therapist", f"/clients/?q={name}"),
            (f"search name {name!r}", "coordinator", f"/clients/?q={name}"),
            (f"search phone {phone}", "coordinator", f"/clients/?q={phone}"),
            (f"search born {born}", "coordinator", f"/clients/?q={born}"),
            ("caseload page 20", "therapist", "/clients/?page=20"),
            ("caseload page 20", "coordinator", "/clients/?page=20"),
            (f"chart K-{busiest.pk:05d}", "therapist", f"/clients/{busiest.pk}/"),
            (f"chart K-{busiest.pk:05d}", "coordinator", f"/clients/{busiest.pk}/"),
            ("dashboard", "therapist", "/"),
            ("dashboard", "coordinator", "/"),
            ("inquiries inbox", "coordinator", "/inquiries/"),
            ("audit log", "admin", "/audit/"),
            ("calendar week", "therapist", "/calendar/"),
            ("outcome report", "admin", "/outcomes/"),
            ("reminders", "admin", "/reminders/"),
        ]
        if today_visit is not None:
            base = f"/clients/{today_visit.client_id}"
            pages.append(("runbook, checked in", "clinician", f"{base}/visits/{today_visit.pk}/runbook/"))
        if signed is not None:
            base = f"/clients/{signed.visit.client_id}"
            pages.append(("runbook, signed", "clinician", f"{base}/visits/{signed.visit_id}/runbook/"))
            pages.append(("progress charts", "clinician", f"{base}/measures/progress/"))
        if portal_client is not None:
            pages.append(("portal home", "client", f"/portal/{portal_client.pk}/"))
            pages.append(("portal journal", "client", f"/portal/{portal_client.pk}/journal/"))

        vendor = connection.vendor
        total = Client.objects.count()
        print(
            f"\nkapflow page benchmark: {vendor}, {total} clients "
            f"({args.clients} extra), {args.repeat} requests per page, Django {django.get_version()}, "
            f"Python {sys.version.split()[0]}"
        )
        print(f"migrate {migrated:.1f} s; load_demo(extra_clients={args.clients}) {loaded:.1f} s\n")
        header = f"{'page':<28} {'as':<12} {'median ms':>10} {'p95 ms':>8} {'queries':>8}"
        print(header)
        print("-" * len(header))
        for label, who, url in pages:
            http = browsers[who]
            with CaptureQueriesContext(connection) as captured:
                response = http.get(url)
            queries = len(captured.captured_queries)
            if response.status_code != 200:
                print(f"{label:<28} {who:<12} answered {response.status_code}, not 200")
                status = 1
                continue
            timings = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                http.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            print(
                f"{label:<28} {who:<12} {statistics.median(timings):>10.1f} "
                f"{percentile(timings, 0.95):>8.1f} {queries:>8}"
            )
        print(
            "\nTimes are the whole request through Django's test client (middleware, view, "
            "template), without a web server.\nQueries per request include the session, the user "
            "and the audit row; they must not grow with --clients."
        )
    finally:
        connections.close_all()
        if args.keep:
            print(f"\nKept {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
