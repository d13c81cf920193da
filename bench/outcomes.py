"""How long the practice outcome report takes, and how many queries it runs, for a practice with
a few thousand treated clients.

    .venv/bin/python bench/outcomes.py [--clients 2000] [--repeat 10] [--keep]

Builds a throwaway SQLite database in a temporary directory (as bench/pages.py does; with
DATABASE_URL set it writes there instead, and warns), loads the demo practice with --clients
extra clients, gives every extra client a course within the last year (a baseline PHQ-9 and
GAD-7, 4 to 8 completed medication sessions with a first dose and now and then an adverse event,
a PHQ-9 and GAD-7 after each session), then requests /outcomes/ and its CSV --repeat times as
the demo admin and prints the median and 95th-percentile time and the queries per request. It
fails only when a page does not answer 200.
"""

import argparse
import datetime
import random
import shutil
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pages import percentile, prepare_environment  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000, help="extra clients, each with a course (2000)")
    parser.add_argument("--repeat", type=int, default=10, help="requests per page (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and print it")
    args = parser.parse_args(argv)
    if args.clients < 0 or args.repeat < 1:
        parser.error("--clients must be 0 or more and --repeat at least 1")
    return args


def add_courses(clients, staff, *, seed: int = 7) -> int:
    """A course in the last year for each client, in bulk. Returns the sessions created."""
    from django.utils import timezone

    from kapflow.dosing.models import Administration, AdverseEvent, Runbook
    from kapflow.measures.instruments import GAD7, PHQ9
    from kapflow.measures.models import Response
    from kapflow.medical.models import MedicationOrder
    from kapflow.visits.models import Room, Visit

    rng = random.Random(seed)  # noqa: S311  (made-up benchmark data)
    now = timezone.now()
    therapist, prescriber = staff["therapist"], staff["prescriber"]
    room = Room.objects.get_or_create(name="Garden Room")[0]
    plans = []
    for client in clients:
        start = now - datetime.timedelta(days=rng.randint(60, 330))
        intranasal = rng.random() < 0.25
        plans.append((client, start, intranasal, rng.randint(4, 8), rng.random() < 0.3))
    orders = MedicationOrder.objects.bulk_create(
        [
            MedicationOrder(
                client=client,
                prescriber=prescriber,
                drug="esketamine" if intranasal else "ketamine",
                route="intranasal" if intranasal else "sublingual",
                dose_min=Decimal(56 if intranasal else 200),
                dose_max=Decimal(84 if intranasal else 300),
                sessions_authorised=8,
                starts_on=start.date(),
                ends_on=(start + datetime.timedelta(days=120)).date(),
            )
            for client, start, intranasal, _count, _virtual in plans
        ],
        batch_size=500,
    )
    visits, responses = [], []
    for client, start, _intranasal, count, virtual in plans:
        phq, gad = rng.randint(12, 24), rng.randint(10, 20)
        responses += [
            Response(client=client, instrument=PHQ9.key, version="1", answers={}, total=phq,
                     band=PHQ9.band_for(phq).label, context="baseline", completed_at=start),
            Response(client=client, instrument=GAD7.key, version="1", answers={}, total=gad,
                     band=GAD7.band_for(gad).label, context="baseline", completed_at=start),
        ]  # fmt: skip
        for n in range(count):
            starts = start + datetime.timedelta(days=3 + 14 * n)
            visits.append(
                Visit(
                    client=client,
                    kind="medication",
                    starts_at=starts,
                    ends_at=starts + datetime.timedelta(minutes=150),
                    modality="virtual" if virtual else "in_person",
                    room=None if virtual else room,
                    status="completed",
                    clinician=therapist,
                    created_by=therapist,
                )
            )
            phq = max(0, min(27, phq - rng.randint(-2, 4)))
            gad = max(0, min(21, gad - rng.randint(-2, 3)))
            after = starts + datetime.timedelta(days=6)
            responses += [
                Response(client=client, instrument=PHQ9.key, version="1", answers={}, total=phq,
                         band=PHQ9.band_for(phq).label, context="weekly", completed_at=after),
                Response(client=client, instrument=GAD7.key, version="1", answers={}, total=gad,
                         band=GAD7.band_for(gad).label, context="weekly", completed_at=after),
            ]  # fmt: skip
    visits = Visit.objects.bulk_create(visits, batch_size=500)
    Response.objects.bulk_create(responses, batch_size=1000)
    runbooks = Runbook.objects.bulk_create([Runbook(visit=visit) for visit in visits], batch_size=500)
    order_of = {order.client_id: order for order in orders}
    Administration.objects.bulk_create(
        [
            Administration(
                runbook=runbook,
                order=order_of[runbook.visit.client_id],
                given_at=runbook.visit.starts_at + datetime.timedelta(minutes=25),
                route=order_of[runbook.visit.client_id].route,
                dose_mg=order_of[runbook.visit.client_id].dose_min,
                lot_number="BENCH",
                given_by=prescriber,
                recorded_by=prescriber,
            )
            for runbook in runbooks
        ],
        batch_size=500,
    )
    AdverseEvent.objects.bulk_create(
        [
            AdverseEvent(
                runbook=runbook,
                noted_at=runbook.visit.starts_at + datetime.timedelta(minutes=50),
                kind="nausea",
                severity=rng.choice(["mild", "mild", "mild", "moderate", "severe"]),
                action_taken="Watched.",
                recorded_by=therapist,
            )
            for runbook in runbooks
            if rng.random() < 0.15
        ],
        batch_size=500,
    )
    return len(visits)


def main(argv=None) -> int:
    args = parse_args(argv)
    var_dir = prepare_environment()

    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext

    from kapflow.clients.models import Client
    from kapflow.outcomes.forms import default_period
    from kapflow.outcomes.report import build_report
    from kapflow.practice.demo import load_demo

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    status = 0
    try:
        call_command("migrate", verbosity=0, interactive=False)
        started = time.perf_counter()
        load_demo()  # the demo practice first, so that only the extra clients get a course here
        before = Client.objects.count()
        result = load_demo(extra_clients=args.clients)
        extra = list(Client.objects.order_by("pk")[before:])
        sessions = add_courses(extra, result["staff"])
        loaded = time.perf_counter() - started

        start, end = default_period()
        with CaptureQueriesContext(connection) as captured:
            report = build_report(start=start, end=end)
        report_queries = len(captured.captured_queries)
        timings = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            build_report(start=start, end=end)
            timings.append((time.perf_counter() - began) * 1000)
        print(
            f"\nkapflow outcome report benchmark: {connection.vendor}, {Client.objects.count()} clients, "
            f"{report.overall.clients} treated in {start} to {end}, {report.overall.sessions} medication "
            f"sessions ({sessions} added), Django {django.get_version()}"
        )
        print(f"load_demo + courses {loaded:.1f} s\n")
        header = f"{'what':<28} {'median ms':>10} {'p95 ms':>8} {'queries':>8}"
        print(header)
        print("-" * len(header))
        print(
            f"{'build_report()':<28} {statistics.median(timings):>10.1f} {percentile(timings, 0.95):>8.1f} "
            f"{report_queries:>8}"
        )
        from allauth.mfa.models import Authenticator
        from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

        admin = result["staff"]["admin"]  # staff need an authenticator (MFA stays on, as in production)
        if not Authenticator.objects.filter(user=admin, type=Authenticator.Type.TOTP).exists():
            TOTP.activate(admin, generate_totp_secret())
        http = HttpClient()
        http.force_login(admin)
        http.get("/")
        for label, url in (("/outcomes/", "/outcomes/"), ("/outcomes/report.csv", "/outcomes/report.csv")):
            with CaptureQueriesContext(connection) as captured:
                response = http.get(url)
            queries = len(captured.captured_queries)  # before the next request clears the log
            if response.status_code != 200:
                print(f"{label:<28} answered {response.status_code}, not 200")
                status = 1
                continue
            timings = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                http.get(url)
                timings.append((time.perf_counter() - began) * 1000)
            print(
                f"{label:<28} {statistics.median(timings):>10.1f} "
                f"{percentile(timings, 0.95):>8.1f} {queries:>8}"
            )
        print("\nQueries per request include the session, the user and the audit row; they do not grow.")
    finally:
        connections.close_all()
        if args.keep:
            print(f"\nKept {var_dir}")
        else:
            shutil.rmtree(var_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
