"""Fifty clinicians at once: gunicorn on PostgreSQL with the group practice, driven by locust.

    .venv/bin/python bench/load.py [--users 50] [--spawn-rate 1] [--run-time 2m] [--think 5-15]
                                   [--workers 3] [--threads 4] [--size group] [--reuse] [--profile]

Builds the group practice in a PostgreSQL database of the benchmark's own (DATABASE_URL when it
names one, else postgres://postgres@127.0.0.1:5432/kapflow_bench; see bench/practice.py), gives
--users clinicians a password and an authenticator (the practice's own clinicians first; when
there are fewer than --users, "Bench Clinician" accounts that share a clinician's care teams make
up the number), then starts gunicorn with production settings (DEBUG off, a secret key, allowed
hosts, two-factor sign-in required, static files from the manifest; only KAPFLOW_SECURE=0,
because it answers plain HTTP on 127.0.0.1) and runs locust headless against it for --run-time
(bench/locustfile.py: each clinician signs in through the sign-in form, all from 127.0.0.1 like
an office at 9:00, then works a day with --think seconds between clicks).

Prints the requests, errors and p50/p95/p99 per endpoint and overall (with and without the
sign-in steps) from every request's own time, and whether the target (no errors, p99 <= 250 ms)
was met. REDIS_URL, when set, is the cache the gunicorn workers share (sign-in throttles), as in
production. With --profile every request slower than 250 ms is profiled with pyinstrument and the
slowest are summarised (bench/gunicorn_profile.py), which costs time of its own: profile runs
are for finding what is slow, not for the figures.
"""

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import practice  # noqa: E402  (bench/practice.py, beside this file)

HERE = Path(__file__).resolve().parent
P99_TARGET_MS = 250


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    practice.add_arguments(parser)
    parser.add_argument("--users", type=int, default=50, help="simulated clinicians (default 50)")
    parser.add_argument(
        "--spawn-rate",
        type=float,
        default=1,
        help="clinicians starting per second (1: an office arriving over a minute; 10 is the burst)",
    )
    parser.add_argument("--run-time", default="2m", help="how long the day lasts, locust style (2m)")
    parser.add_argument("--think", default="5-15", help="seconds between one clinician's clicks (5-15)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes (3)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (4)")
    parser.add_argument("--port", type=int, default=8765, help="gunicorn's port on 127.0.0.1 (8765)")
    parser.add_argument("--profile", action="store_true", help="profile requests over 250 ms (pyinstrument)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file, as JSON")
    args = parser.parse_args(argv)
    if args.users < 1 or args.workers < 1 or args.threads < 1:
        parser.error("--users, --workers and --threads must be at least 1")
    args.database = "postgres"
    return args


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(-(-fraction * len(ordered) // 1)) - 1)]


def accounts(count: int) -> list[dict]:
    """The clinicians who take part, each with a password, an authenticator secret and what
    they will open (their own clients' pages)."""
    import datetime

    from django.utils import timezone

    from kapflow.accounts.models import User
    from kapflow.clients.models import CareTeamMember, Client
    from kapflow.dosing.models import Runbook
    from kapflow.integration.models import IntegrationRecord
    from kapflow.visits.models import Visit

    clinicians = list(User.objects.clinicians().exclude(email__startswith="bench-").order_by("pk"))
    people = [(user, user) for user in clinicians[:count]]
    for n in range(count - len(people)):
        base = clinicians[n % len(clinicians)]
        email = f"bench-{n + 1}@bench.kapflow.test"
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email,
            None,
            full_name=f"Bench Clinician {n + 1}",
            is_therapist=base.is_therapist,
            is_prescriber=base.is_prescriber,
        )
        role = CareTeamMember.Role.THERAPIST if base.is_therapist else CareTeamMember.Role.PRESCRIBER
        have = set(CareTeamMember.objects.filter(user=user).values_list("client_id", flat=True))
        CareTeamMember.objects.bulk_create(
            [
                CareTeamMember(client_id=client_id, user=user, role=role)
                for client_id in CareTeamMember.objects.filter(user=base).values_list("client_id", flat=True)
                if client_id not in have
            ]
        )
        people.append((user, base))

    now = timezone.now()
    result = []
    for user, base in people:
        user.set_password(practice.BENCH_PASSWORD)
        user.save(update_fields=["password"])
        secret = practice.enrol(user)
        theirs = Client.objects.filter(care_team__user=base).order_by("?")
        clients = list(theirs.values_list("pk", "last_name")[:40])
        ids = [pk for pk, _name in clients]
        records = IntegrationRecord.objects.filter(client_id__in=ids).order_by("-pk")[:20]
        signed = (
            Runbook.objects.filter(visit__client__in=theirs, signed_at__isnull=False)
            .select_related("visit")
            .order_by("-signed_at")[:20]
        )
        upcoming = Visit.objects.filter(
            client__in=theirs,
            kind=Visit.Kind.MEDICATION,
            status=Visit.Status.SCHEDULED,
            starts_at__gte=now,
            starts_at__lt=now + datetime.timedelta(days=7),
        ).order_by("starts_at")[:5]
        result.append(
            {
                "email": user.email,
                "password": practice.BENCH_PASSWORD,
                "secret": secret,
                "calendar_of": base.pk,
                "clients": ids,
                "search": sorted({name for _pk, name in clients[:5]}),
                "records": [f"/clients/{r.client_id}/integration/records/{r.pk}/" for r in records],
                "signed": [f"/clients/{b.visit.client_id}/visits/{b.visit_id}/runbook/" for b in signed],
                "live": [f"/clients/{v.client_id}/visits/{v.pk}/runbook/" for v in upcoming],
            }
        )
    return result


def production_environment(where, port: int) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kapflow.settings",
        "PYTHONPATH": str(practice.ROOT),
        "KAPFLOW_VAR_DIR": str(where.var_dir),
        "DATABASE_URL": where.database_url,
        "KAPFLOW_DEBUG": "0",
        "KAPFLOW_SECRET_KEY": secrets.token_urlsafe(50),
        "KAPFLOW_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "KAPFLOW_SITE_URL": f"http://127.0.0.1:{port}",
        # Plain HTTP on the loopback: in production TLS ends at the proxy in front.
        "KAPFLOW_SECURE": "0",
        "KAPFLOW_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "KAPFLOW_LOG_LEVEL": "WARNING",
    }
    env.pop("KAPFLOW_MFA_REQUIRED", None)  # two-factor sign-in stays required
    return env


def port_free(port: int) -> None:
    """Stop unless nothing listens on the port yet: a server already there (a `make run` left
    open) would answer for gunicorn, and the figures would be that server's."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"Something already listens on 127.0.0.1:{port}: stop it, or choose --port.")


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own loopback server)
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"gunicorn did not answer {url} within {seconds:.0f} s")
        time.sleep(0.5)


def summarise(samples: list[list]) -> tuple[list[dict], list[dict]]:
    """Rows per endpoint (slowest p99 first) and the overall rows: every request, every request
    but the sign-in steps, and the requests sent after the last clinician had signed in."""

    def row(name, items):
        times = [sample[1] for sample in items]
        return {
            "endpoint": name,
            "requests": len(items),
            "errors": sum(1 for sample in items if sample[2]),
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 0.95), 1),
            "p99_ms": round(percentile(times, 0.99), 1),
            "max_ms": round(max(times), 1),
        }

    by_name: dict[str, list] = {}
    for sample in samples:
        by_name.setdefault(sample[0], []).append(sample)
    rows = sorted((row(name, items) for name, items in by_name.items()), key=lambda r: -r["p99_ms"])
    signing_in = [sample for sample in samples if sample[0].startswith("sign in")]
    working = [sample for sample in samples if not sample[0].startswith("sign in")]
    all_in = max((sample[3] + sample[1] / 1000 for sample in signing_in), default=0)
    settled = [sample for sample in working if sample[3] > all_in]
    overall = [row("overall", samples), row("without the sign-in steps", working)]
    if settled:
        overall.append(row("after the last sign-in", settled))
    return rows, overall


def errors(samples: list[list]) -> list[str]:
    counted: dict[tuple, int] = {}
    for name, _ms, error, _at in samples:
        if error:
            counted[(name, error)] = counted.get((name, error), 0) + 1
    return [f"  {count} x {name}: {error}" for (name, error), count in sorted(counted.items())]


def main(argv=None) -> int:
    args = parse_args(argv)
    where = practice.prepare(args)

    import django

    django.setup()

    from django.db import connections

    gunicorn = None
    try:
        print(f"Building the practice ({args.size}) in the {where.describe()}…", file=sys.stderr, flush=True)
        built = practice.build(where, args)
        counts = practice.practice_counts()
        people = accounts(args.users)
        connections.close_all()
        work = Path(tempfile.mkdtemp(prefix="kapflow-load-"))
        accounts_file = work / "accounts.json"
        accounts_file.write_text(json.dumps(people))
        accounts_file.chmod(0o600)

        env = production_environment(where, args.port)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=practice.ROOT,
            env=env,
            check=True,
        )
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "kapflow.wsgi:application",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--worker-class",
            "gthread" if args.threads > 1 else "sync",
            "--timeout",
            "60",
        ]
        if args.profile:
            env["BENCH_PROFILE_DIR"] = str(work / "profiles")
            command += ["--config", str(HERE / "gunicorn_profile.py")]
        port_free(args.port)
        server_log = open(work / "gunicorn.log", "ab")  # noqa: SIM115 (closed with the server)
        gunicorn = subprocess.Popen(command, cwd=practice.ROOT, env=env, stdout=server_log, stderr=server_log)
        wait_for(f"http://127.0.0.1:{args.port}/accounts/login/", 90)

        locust_env = {
            **os.environ,
            "BENCH_ACCOUNTS": str(accounts_file),
            "BENCH_THINK": args.think,
            "BENCH_SAMPLES": str(work / "samples.json"),
        }
        started = time.monotonic()
        locust_log = open(work / "locust.log", "ab")  # noqa: SIM115
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(HERE / "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                args.run_time,
                "--host",
                f"http://127.0.0.1:{args.port}",
                "--csv",
                str(work / "locust"),
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--stop-timeout",
                "5",
            ],
            env=locust_env,
            check=False,
            stdout=locust_log,
            stderr=locust_log,
        )
        elapsed = time.monotonic() - started
        locust_log.close()
        samples = json.loads((work / "samples.json").read_text())
        rows, overall = summarise(samples)

        print(
            f"\nkapflow load test: {args.users} clinicians for {args.run_time} "
            f"({elapsed:.0f} s with start-up), "
            f"{args.think} s between clicks, gunicorn {args.workers} workers x {args.threads} threads "
            f"({'gthread' if args.threads > 1 else 'sync'}) on PostgreSQL, {os.cpu_count()} cores"
        )
        print("practice: " + ", ".join(f"{value:,} {name}" for name, value in counts.items()))
        print(f"machine load average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} cores)")
        if not built.get("reused"):
            print(
                f"{built['what']}: migrate {built['migrate_s']:.0f} s, load {built['load_s']:.0f} s"
                + (f", audit rows {built['audit_s']:.0f} s" if "audit_s" in built else "")
            )
        signed_in = sum(1 for sample in samples if sample[0] == "sign in: code" and not sample[2])
        extra = sum(1 for person in people if person["email"].startswith("bench-"))
        print(
            f"accounts: {len(people) - extra} of the practice's clinicians"
            + (f" and {extra} bench clinicians sharing their care teams" if extra else "")
            + "; each signs in once through the sign-in form and the code form, all from 127.0.0.1"
        )
        print(f"signed in: {signed_in} of {args.users} (one who cannot sign in goes home)")
        header = (
            f"{'endpoint':<32} {'requests':>8} {'errors':>6} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        )
        print()
        print(header)
        print("-" * len(header))
        for item in [*rows, None, *overall]:
            if item is None:
                print("-" * len(header))
                continue
            print(
                f"{item['endpoint'][:32]:<32} {item['requests']:>8} {item['errors']:>6} "
                f"{item['p50_ms']:>7.0f} {item['p95_ms']:>7.0f} {item['p99_ms']:>7.0f} {item['max_ms']:>7.0f}"
            )
        rate = overall[0]["requests"] / elapsed
        met = {item["endpoint"]: item["errors"] == 0 and item["p99_ms"] <= P99_TARGET_MS for item in overall}
        print(
            f"\n{rate:.1f} requests a second. Target (0 errors, p99 <= {P99_TARGET_MS} ms): "
            + "; ".join(f"{name}: {'met' if ok else 'missed'}" for name, ok in met.items())
            + "."
        )
        if overall[0]["errors"]:
            print("Errors:\n" + "\n".join(errors(samples)) + f"\nServer log: {work / 'gunicorn.log'}")
        if args.profile:
            from gunicorn_profile import summary

            print(summary(work / "profiles"))
        print(f"\nRaw figures and logs: {work}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "users": args.users,
                        "run_time": args.run_time,
                        "think": args.think,
                        "workers": args.workers,
                        "threads": args.threads,
                        "practice": counts,
                        "endpoints": rows,
                        "overall": overall,
                        "errors": errors(samples),
                        "requests_per_second": round(rate, 1),
                        "signed_in": signed_in,
                    },
                    indent=1,
                )
            )
        return 0 if met["overall"] else 1
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            try:
                gunicorn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
        practice.finish(where)


if __name__ == "__main__":
    sys.exit(main())
