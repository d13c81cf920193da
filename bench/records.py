"""How long the copies of the record take at group-practice size: a client's FHIR bundle and
readable PDF, the practice export and the backup, against a bare signed-in request measured in
the same run.

    .venv/bin/python bench/records.py [--database sqlite|postgres] [--size group|small|quick]
                                      [--repeat 5] [--reuse [DIR]] [--no-trace] [--json FILE]

Builds (or, with --reuse, finds) the practice as bench/pages.py does (bench/practice.py), then:

- for the client with the most records (visits, vitals readings and questionnaire responses
  together) and for the median client: `bundle_json` (kapflow.records.fhir) and `record_pdf` of
  `record_summary` (kapflow.records.pdf), each --repeat times, with the bare request timed five
  times before each call; p50, p95, p95 as a multiple of the bare request's p95, queries of one call and
  the size in bytes;
- the practice export (kapflow.ops.export: the row counts and the archive's stream, as its view
  and `manage.py export_practice` produce it; the bytes are counted and dropped, as a network
  would take them): wall time, MB/s, size, the peak resident memory of the process while it ran,
  then once more under tracemalloc for the peak of Python's own allocations (tracemalloc slows
  every allocation, so that pass is not the one timed);
- the backup (kapflow.ops.backup.backup_create, what `manage.py backup` runs) into a temporary
  folder: wall time and the archive's size (the archive is deleted afterwards).

The bare request is the one bench/pages.py uses (POST /keepalive/, signed in as a therapist).
Nothing here fails on timing: the figures are for comparing runs on one machine.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pages  # noqa: E402  (bench/pages.py: the bare request and the percentile)
import practice  # noqa: E402  (bench/practice.py, beside this file)

MB = 1024 * 1024
# Bare requests timed before each timed call: the copies are few and slow, so each is paired
# with several bare requests, for a bare p95 drawn from more than a handful.
BARE_EACH = 5


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    practice.add_arguments(parser)
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per copy and client (default 5)")
    parser.add_argument(
        "--no-trace", action="store_true", help="skip the export's second pass under tracemalloc"
    )
    parser.add_argument("--no-export", action="store_true", help="skip the practice export")
    parser.add_argument("--no-backup", action="store_true", help="skip the backup")
    parser.add_argument("--json", type=Path, help="also write the figures to this file, as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    args = parser.parse_args(argv)
    if args.clients < 0 or args.repeat < 1:
        parser.error("--clients must be 0 or more and --repeat at least 1")
    return args


def records_by_client() -> dict[int, int]:
    """Each client's visits, vitals readings and questionnaire responses, counted together: three
    grouped counts, whatever the size of the practice."""
    from django.db.models import Count

    from kapflow.clients.models import Client
    from kapflow.dosing.models import VitalsReading
    from kapflow.measures.models import Response
    from kapflow.visits.models import Visit

    totals = dict.fromkeys(Client.objects.values_list("pk", flat=True), 0)
    for rows in (
        Visit.objects.values_list("client_id").annotate(n=Count("pk")),
        Response.objects.values_list("client_id").annotate(n=Count("pk")),
        VitalsReading.objects.values_list("runbook__visit__client_id").annotate(n=Count("pk")),
    ):
        for client_id, count in rows.order_by():
            totals[client_id] = totals.get(client_id, 0) + count
    return totals


def record_parts(client_id: int) -> dict[str, int]:
    from kapflow.dosing.models import VitalsReading
    from kapflow.measures.models import Response
    from kapflow.visits.models import Visit

    return {
        "visits": Visit.objects.filter(client_id=client_id).count(),
        "vitals": VitalsReading.objects.filter(runbook__visit__client_id=client_id).count(),
        "responses": Response.objects.filter(client_id=client_id).count(),
    }


def time_copy(make, repeat: int, bare) -> dict:
    """Call `make` once untimed (the first call fills caches a practice's server has warm), then
    `repeat` times each after BARE_EACH bare requests, then once more counting its queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make()
    timings = []
    for _ in range(repeat):
        for _ in range(BARE_EACH):
            bare.sample()
        started = time.perf_counter()
        make()
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        content = make()
    return {
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(pages.percentile(timings, 0.95), 1),
        "queries": len(captured.captured_queries),
        "bytes": len(content),
    }


class PeakRss:
    """The highest resident set size of this process while the block runs: the kernel's high-water
    mark (VmHWM) reset at the start where Linux allows it (/proc/self/clear_refs), and sampled
    every 50 ms besides, in case it does not."""

    def __init__(self):
        self.peak_kb = 0
        self.reset = False
        self._stop = threading.Event()

    @staticmethod
    def _status(field: str) -> int:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, self._status("VmRSS"))

    def __enter__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.start_kb = self._status("VmRSS")
        self.peak_kb = self.start_kb
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self._status("VmRSS"))
        if self.reset:
            self.peak_kb = max(self.peak_kb, self._status("VmHWM"))


def run_export(practice_name: str, *, trace: bool) -> dict:
    """The export end to end: row counts, then every byte of the archive's stream, dropped."""
    from kapflow.ops import export

    if trace:
        tracemalloc.start()
    size = pieces = 0
    with PeakRss() as rss:
        started = time.perf_counter()
        counts = export.row_counts()
        for chunk in export.stream(practice_name=practice_name):
            size += len(chunk)
            pieces += 1
        seconds = time.perf_counter() - started
    figures = {
        "seconds": round(seconds, 2),
        "bytes": size,
        "pieces": pieces,
        "rows": sum(counts.values()),
        "mb_per_s": round(size / MB / seconds, 2),
        "rss_start_mb": round(rss.start_kb / 1024, 1),
        "rss_peak_mb": round(rss.peak_kb / 1024, 1),
    }
    if trace:
        figures["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / MB, 1)
        tracemalloc.stop()
    return figures


def run_backup() -> dict:
    from kapflow.ops.backup import backup_create

    with tempfile.TemporaryDirectory(prefix="kapflow-bench-backup-") as folder:
        started = time.perf_counter()
        archive = backup_create(folder=Path(folder) / "backups")
        seconds = time.perf_counter() - started
        return {"seconds": round(seconds, 2), "bytes": archive.stat().st_size}


def main(argv=None) -> int:
    args = parse_args(argv)
    where = practice.prepare(args)

    import django

    django.setup()

    from django.conf import settings
    from django.db import connection
    from django.test import Client as Browser
    from django.utils import timezone

    from kapflow.accounts.models import User
    from kapflow.clients.models import Client
    from kapflow.practice.models import Practice
    from kapflow.records.fhir import bundle_json
    from kapflow.records.pdf import record_pdf
    from kapflow.records.summary import record_summary

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    figures: dict = {}
    try:
        print(f"Building the practice ({args.size}) in the {where.describe()}…", file=sys.stderr, flush=True)
        built = practice.build(where, args)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # planner statistics, as bench/pages.py explains
                cursor.execute("ANALYZE")
        counts = practice.practice_counts()

        therapist = User.objects.filter(is_active=True, is_therapist=True).order_by("pk").first()
        practice.enrol(therapist)  # two-factor sign-in stays required, as in production
        browser = Browser(raise_request_exception=False)
        browser.force_login(therapist)
        browser.get("/")  # the session's one-off authenticator check
        bare = pages.Bare(browser)
        for _ in range(20):  # warm up
            bare.sample()
        bare.timings.clear()
        load_before = os.getloadavg()[0]

        totals = records_by_client()
        ordered = sorted(totals, key=lambda pk: (totals[pk], pk))
        chosen = {"most records": ordered[-1], "median client": ordered[len(ordered) // 2]}
        copies = []
        for which, pk in chosen.items():
            client = Client.objects.get(pk=pk)
            parts = record_parts(pk)
            recipient = f"{client.first_name} {client.last_name}"
            for kind, make in (
                ("FHIR bundle", lambda client=client: bundle_json(client)),
                (
                    "PDF",
                    lambda client=client, recipient=recipient: record_pdf(
                        record_summary(client, now=timezone.now()), delivered_to=recipient
                    ),
                ),
            ):
                print(f"  {kind}, {which}…", file=sys.stderr, flush=True)
                row = {
                    "copy": kind,
                    "client": which,
                    "client_id": pk,
                    **parts,
                    **time_copy(make, args.repeat, bare),
                }
                copies.append(row)
        bare_p50, bare_p95 = statistics.median(bare.timings), pages.percentile(bare.timings, 0.95)
        for row in copies:
            row["ratio"] = round(row["p95_ms"] / bare_p95, 1)
        figures.update(
            database=connection.vendor,
            size=args.size,
            repeat=args.repeat,
            practice=counts,
            bare_p50_ms=round(bare_p50, 2),
            bare_p95_ms=round(bare_p95, 2),
            copies=copies,
        )

        name = Practice.load().name
        if not args.no_export:
            print("  the practice export…", file=sys.stderr, flush=True)
            figures["export"] = run_export(name, trace=False)
            figures["export"]["ratio"] = round(figures["export"]["seconds"] * 1000 / bare_p95)
            if not args.no_trace:
                print("  the practice export under tracemalloc…", file=sys.stderr, flush=True)
                figures["export_traced"] = run_export(name, trace=True)
        if not args.no_backup:
            print("  the backup…", file=sys.stderr, flush=True)
            figures["backup"] = run_backup()
            figures["backup"]["ratio"] = round(figures["backup"]["seconds"] * 1000 / bare_p95)
        figures["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]

        report(figures, built, where)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1))
    finally:
        practice.finish(where, keep=args.keep)
        if args.keep and where.temporary:
            print(f"\nKept {where.var_dir}")
    return 0


def report(figures: dict, built: dict, where) -> None:
    import django

    print(
        f"\nkapflow records benchmark: {figures['database']}, {figures['size']} practice, "
        f"{figures['repeat']} calls per copy, Django {django.get_version()}, Python {sys.version.split()[0]}"
    )
    print("practice: " + ", ".join(f"{value:,} {name}" for name, value in figures["practice"].items()))
    if built.get("reused"):
        print(f"reused the practice built earlier in the {where.describe()}")
    else:
        print(
            f"{built['what']}: migrate {built['migrate_s']:.0f} s, load {built['load_s']:.0f} s"
            + (f", audit rows {built['audit_s']:.0f} s" if "audit_s" in built else "")
        )
    first, last = figures["load_average"]
    print(f"machine: {os.cpu_count()} cores, load average {first:.1f} at the start and {last:.1f} at the end")
    header = (
        f"{'copy':<12} {'client':<14} {'visits':>6} {'vitals':>6} {'resp.':>6} {'p50 ms':>8} {'p95 ms':>8}"
        f" {'x bare':>8} {'queries':>7} {'KB':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    print(
        f"{'bare request':<12} {'':<14} {'':>6} {'':>6} {'':>6} {figures['bare_p50_ms']:>8.2f} "
        f"{figures['bare_p95_ms']:>8.2f} {1:>8.1f}"
    )
    for row in figures["copies"]:
        print(
            f"{row['copy']:<12} {row['client']:<14} "
            f"{row['visits']:>6} {row['vitals']:>6} {row['responses']:>6} "
            f"{row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['ratio']:>8.1f} {row['queries']:>7} "
            f"{row['bytes'] / 1024:>8.0f}"
        )
    if "export" in figures:
        export = figures["export"]
        print(
            f"\nexport: {export['seconds']:.1f} s ({export['ratio']:,}x the bare request's p95), "
            f"{export['bytes'] / MB:,.1f} MB of ZIP, {export['mb_per_s']:.2f} MB/s, {export['rows']:,} rows, "
            f"{export['pieces']:,} pieces; resident memory {export['rss_start_mb']:.0f} MB at the start, "
            f"peak {export['rss_peak_mb']:.0f} MB"
        )
    if "export_traced" in figures:
        traced = figures["export_traced"]
        print(
            f"export under tracemalloc: peak of Python's allocations {traced['tracemalloc_peak_mb']:.1f} MB "
            f"({traced['seconds']:.1f} s, slowed by the tracing)"
        )
    if "backup" in figures:
        backup = figures["backup"]
        print(
            f"backup: {backup['seconds']:.1f} s ({backup['ratio']:,}x the bare request's p95), "
            f"archive {backup['bytes'] / MB:,.1f} MB"
        )
    print(
        "\nCopies are timed as calls in this process (no request, no disclosure written); 'x bare' is "
        f"the p95 over the bare request's p95, the bare request timed {BARE_EACH} times before each call."
    )


if __name__ == "__main__":
    sys.exit(main())
