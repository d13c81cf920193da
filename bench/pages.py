"""How long every page a clinician or admin uses takes at group-practice size, against a bare
signed-in request measured in the same run.

    .venv/bin/python bench/pages.py [--database sqlite|postgres] [--size group|quick]
                                    [--repeat 20] [--reuse [DIR]] [--only TEXT] [--json FILE] [--check]

Builds the practice from scratch (bench/practice.py: a throwaway SQLite file by default, or a
PostgreSQL database of the benchmark's own with --database postgres), signs in the staff who use
each page, and requests each page --repeat times through Django's test client: the whole request
(middleware, view, template) in this process, with DEBUG off, no web server.

The bare view is the idle dialog's keep-alive (POST /keepalive/, an existing endpoint; no view
was added for the benchmark): a signed-in request through every middleware (session, user, CSRF,
two-factor and idle checks) whose view only answers 204. Each page's
95th percentile is printed as a multiple of the bare view's.

Targets (issue 12): every page's p95 within 10x the bare view's, the outcome report within
0.5 s, no page over 200 KB of HTML. Pages past a target are flagged; with --check the run then
exits 1. It always exits 1 when a page does not answer 200.
"""

import argparse
import datetime
import functools
import gc
import json
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import practice  # noqa: E402  (bench/practice.py, beside this file)
from fragments import fragments_on_load  # noqa: E402  (bench/fragments.py)

RATIO_TARGET = 10
OUTCOME_TARGET_MS = 500
HTML_TARGET_KB = 200


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    practice.add_arguments(parser)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--only", help="measure only the pages whose label contains this text")
    parser.add_argument("--json", type=Path, help="also write the figures to this file, as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a page misses a target")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    parser.add_argument(
        "--slow",
        type=float,
        metavar="MS",
        help="also list each page's database queries that take MS ms or more (the best of three "
        "requests each): the ones that grow with the practice show up here first",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also profile one request of each page with pyinstrument (the bench extra) into DIR",
    )
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave start-up's objects in the garbage collector's sight, as kapflow/wsgi.py did "
        "before 6 December 2026 (kapflow.lib.heap), to compare",
    )
    args = parser.parse_args(argv)
    if args.clients < 0 or args.repeat < 1:
        parser.error("--clients must be 0 or more and --repeat at least 1")
    return args


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class Page:
    def __init__(self, label, who, url, *, headers=None, outcome=False):
        self.label, self.who, self.url = label, who, url
        self.headers = headers or {}
        self.outcome = outcome


def choose_pages(today: datetime.date) -> tuple[dict, list[Page], dict]:
    """The people, the pages each uses, and what was picked (for the report)."""
    from django.db.models import Count, Q
    from django.urls import NoReverseMatch, get_resolver, reverse
    from django.utils import timezone

    from kapflow.accounts.models import User
    from kapflow.clients.models import Client
    from kapflow.dosing.models import Runbook
    from kapflow.integration.models import IntegrationRecord
    from kapflow.visits.models import Visit

    monday = today - datetime.timedelta(days=today.weekday())
    since = timezone.make_aware(datetime.datetime.combine(monday, datetime.time()))
    until = since + datetime.timedelta(days=7)
    staff = User.objects.filter(is_active=True)
    therapist = practice.busiest(staff.filter(is_therapist=True), since=since, until=until).first()
    prescriber = (
        staff.filter(is_prescriber=True)
        .annotate(n=Count("care_teams", distinct=True))
        .order_by("-n", "pk")
        .first()
    )
    coordinator = staff.filter(is_coordinator=True).order_by("is_therapist", "is_prescriber", "pk").first()
    admin = staff.filter(is_practice_admin=True).order_by("is_therapist", "is_prescriber", "pk").first()
    people = {"therapist": therapist, "prescriber": prescriber, "coordinator": coordinator, "admin": admin}
    picked = {role: f"{user.full_name} (#{user.pk})" for role, user in people.items() if user}

    theirs = Client.objects.filter(care_team__user=therapist)
    chart = theirs.annotate(n=Count("visits", distinct=True)).order_by("-n", "pk").first()
    sample = theirs.order_by("pk")[theirs.count() // 2]
    picked["busy client"] = f"K-{chart.pk:05d} ({chart.n} visits)"
    pages = [
        Page("dashboard, therapist", "therapist", "/"),
        Page("dashboard, prescriber", "prescriber", "/"),
        Page("dashboard, coordinator", "coordinator", "/"),
        Page("dashboard, admin", "admin", "/"),
        Page("caseload, therapist", "therapist", "/clients/"),
        Page("caseload, practice", "coordinator", "/clients/"),
        Page("caseload page 20", "coordinator", "/clients/?page=20"),
        Page("search by name", "coordinator", f"/clients/?q={sample.last_name}"),
        Page("search by phone", "coordinator", f"/clients/?q={sample.phone_digits[-7:]}"),
        Page("search by birth date", "coordinator", f"/clients/?q={sample.date_of_birth:%m/%d/%Y}"),
        Page("search, therapist", "therapist", f"/clients/?q={sample.last_name}"),
    ]
    base = f"/clients/{chart.pk}"
    pages += [
        Page("chart of a busy client", "therapist", f"{base}/"),
        Page("chart: visits", "therapist", f"{base}/visits/"),
        Page("chart: pathway", "therapist", f"{base}/pathway/"),
        Page("chart: measures", "therapist", f"{base}/measures/"),
        Page("chart: progress charts", "therapist", f"{base}/measures/progress/"),
        Page("chart: integration", "therapist", f"{base}/integration/"),
        Page("chart: medical", "prescriber", f"/clients/{_prescribers_client(prescriber).pk}/medical/"),
        Page("chart: consent", "therapist", f"{base}/consent/"),
        Page("chart: shared journal", "therapist", f"{base}/journal/"),
    ]
    record = (
        IntegrationRecord.objects.filter(client__care_team__user=therapist)
        .order_by("-pk")
        .only("pk", "client_id")
        .first()
    )
    if record is not None:
        url = f"/clients/{record.client_id}/integration/records/{record.pk}/"
        pages.append(Page("integration note", "therapist", url))

    # Runbooks: the latest signed one, and one of today's sessions (under way if any is).
    signed = (
        Runbook.objects.filter(signed_at__isnull=False, signed_at__lte=timezone.now())
        .select_related("visit")
        .order_by("-signed_at", "-pk")
        .first()
    )
    if signed is not None:
        people["signer"] = signed.visit.clinician
        url = f"/clients/{signed.visit.client_id}/visits/{signed.visit_id}/runbook/"
        pages.append(Page("runbook, signed", "signer", url))
    todays = Visit.objects.filter(
        kind=Visit.Kind.MEDICATION, starts_at__gte=since + datetime.timedelta(days=today.weekday())
    ).filter(starts_at__lt=since + datetime.timedelta(days=today.weekday() + 1))
    live = (
        todays.filter(status__in=[Visit.Status.CHECKED_IN, Visit.Status.IN_PROGRESS])
        .order_by("starts_at")
        .first()
        or todays.filter(status=Visit.Status.SCHEDULED).order_by("starts_at").first()
        or Visit.objects.filter(
            kind=Visit.Kind.MEDICATION, status=Visit.Status.SCHEDULED, starts_at__gte=timezone.now()
        )
        .order_by("starts_at")
        .first()
    )
    if live is not None:
        people["session clinician"] = live.clinician
        url = f"/clients/{live.client_id}/visits/{live.pk}/runbook/"
        picked["live runbook"] = f"visit {live.pk}, {live.get_status_display().lower()}"
        pages.append(Page("runbook, live", "session clinician", url))
        poll = {"HTTP_HX_REQUEST": "true", "HTTP_X_KAPFLOW_POLL": "1"}
        pages.append(Page("runbook, live refresh (poll)", "session clinician", f"{url}live/", headers=poll))

    # The calendar's pages, as the URL configuration has them today (week, day, and any month or
    # practice view added since): the busiest therapist's own, and the whole practice's.
    names = [
        name
        for name, forms in get_resolver("kapflow.visits.calendar_urls").reverse_dict.items()
        if isinstance(name, str)
        and not forms[0][0][1]
        and not name.startswith(("feed", "room"))
        and "badge" not in name  # what the calendar fetches as it loads: measured with it
    ]
    for name in sorted(names, key=lambda n: ({"week": 0, "day": 1, "month": 2}.get(n, 3), n)):
        try:
            url = reverse(f"calendar:{name}")
        except NoReverseMatch:
            continue
        pages.append(Page(f"calendar {name}, busiest therapist", "therapist", f"{url}?who={therapist.pk}"))
        pages.append(Page(f"calendar {name}, practice", "coordinator", f"{url}?who=practice"))

    pages += [
        Page("inquiries inbox", "coordinator", "/inquiries/"),
        Page("reminders", "admin", "/reminders/"),
        Page("outcome report", "admin", "/outcomes/", outcome=True),
        Page("outcome report CSV", "admin", "/outcomes/report.csv", outcome=True),
        Page("billing: what is owed", "coordinator", "/billing/"),
        Page("billing: estimates due", "coordinator", "/billing/estimates/"),
        Page("billing: fee schedule", "admin", "/billing/fees/"),
        Page("income by month", "coordinator", "/outcomes/income/"),
        Page("income by month CSV", "admin", "/outcomes/income/income.csv"),
        Page("audit log", "admin", "/audit/"),
        Page("audit log, one client", "admin", f"/audit/?client={chart.pk}"),
        Page("audit log, one person", "admin", f"/audit/?actor={therapist.pk}"),
        # A real action's code (the runbook's reads, among the commonest rows): the filter takes
        # only a code the log holds, and a page with a filter it refused is not this page.
        Page("audit log, action", "admin", "/audit/?action=kapflow.dosing.runbook.viewed"),
        Page("settings", "admin", "/settings/"),
        Page("staff", "admin", "/staff/"),
        Page("consent documents", "admin", "/consent-documents/"),
        Page("rooms", "admin", "/calendar/rooms/"),
    ]
    # The client with the most invoices: their account, their latest invoice, superbills, estimates.
    from django.db.models import Count

    from kapflow.billing.models import Invoice

    billed = Invoice.objects.values("client_id").annotate(n=Count("pk")).order_by("-n", "client_id").first()
    if billed is not None:
        client_id = billed["client_id"]
        latest = Invoice.objects.filter(client_id=client_id).order_by("-number").first()
        pages += [
            Page("billing: a client's account", "coordinator", f"/clients/{client_id}/billing/"),
            Page("billing: an invoice", "coordinator", f"/clients/{client_id}/billing/invoices/{latest.pk}/"),
            Page("billing: superbills", "coordinator", f"/clients/{client_id}/billing/superbills/"),
            Page("billing: estimates", "coordinator", f"/clients/{client_id}/billing/estimates/"),
        ]
    visible = Visit.objects.filter(Q(clinician=therapist)).order_by("-starts_at").first()
    if visible is not None:
        pages.append(Page("visit", "therapist", f"/clients/{visible.client_id}/visits/{visible.pk}/"))
    return people, pages, picked


def _prescribers_client(prescriber):
    from django.db.models import Count

    from kapflow.clients.models import Client

    return (
        Client.objects.filter(care_team__user=prescriber)
        .annotate(n=Count("screenings", distinct=True))
        .order_by("-n", "pk")
        .first()
    )


class Bare:
    """The bare signed-in request, timed once before every timed page request, so that it shares
    whatever else the machine is doing at that moment with the pages it is compared with."""

    url = "/keepalive/"

    def __init__(self, http):
        self.http = http
        self.timings: list[float] = []
        if http.post(self.url).status_code != 204:
            raise SystemExit(f"The bare request (POST {self.url}) did not answer 204.")

    def sample(self) -> None:
        started = time.perf_counter()
        self.http.post(self.url)
        self.timings.append((time.perf_counter() - started) * 1000)


def measure(http, url, headers, repeat, bare: Bare) -> tuple[list[float], object]:
    timings = []
    response = None
    for _ in range(repeat):
        bare.sample()
        started = time.perf_counter()
        response = http.get(url, **headers)
        timings.append((time.perf_counter() - started) * 1000)
    return timings, response


def slow_queries(request, threshold_ms: float) -> list[tuple[float, str]]:
    """The queries of a request that take `threshold_ms` or more, each the best of three
    requests (a query is slow every time; noise is slow once), slowest first."""
    from django.db import connection

    best: dict[int, tuple[float, str]] = {}
    for _ in range(3):
        times: list[tuple[float, str]] = []
        with connection.execute_wrapper(functools.partial(_timed_query, times)):
            request()
        for index, (ms, sql) in enumerate(times):
            best[index] = (min(ms, best.get(index, (ms, sql))[0]), sql)
    return sorted(((round(ms, 1), sql) for ms, sql in best.values() if ms >= threshold_ms), reverse=True)


def _timed_query(times, execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        times.append(((time.perf_counter() - started) * 1000, sql))


class CollectorWatch:
    """How often Python's cyclic garbage collector ran while the pages were timed, and for how
    long: a full collection walks every object the process holds (kapflow.lib.heap)."""

    def __init__(self):
        self.started: dict[int, float] = {}
        self.runs, self.ms = [0, 0, 0], [0.0, 0.0, 0.0]
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict) -> None:
        generation = info["generation"]
        if phase == "start":
            self.started[generation] = time.perf_counter()
        elif generation in self.started:
            self.runs[generation] += 1
            self.ms[generation] += (time.perf_counter() - self.started.pop(generation)) * 1000

    def stop(self) -> None:
        gc.callbacks.remove(self._seen)

    def figures(self) -> dict:
        return {
            "full_runs": self.runs[2],
            "full_ms": round(self.ms[2], 1),
            "younger_runs": sum(self.runs[:2]),
            "younger_ms": round(sum(self.ms[:2]), 1),
        }

    def describe(self) -> str:
        f = self.figures()
        return (
            f"{f['full_runs']} full collections ({f['full_ms']:,.0f} ms in all), "
            f"{f['younger_runs']:,} of the younger generations ({f['younger_ms']:,.0f} ms)"
        )


def profile(folder: Path, label: str, request) -> None:
    """One more request under pyinstrument; its call tree goes to DIR/<page>.txt."""
    from pyinstrument import Profiler

    folder.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    request()
    profiler.stop()
    name = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    (folder / f"{name}.txt").write_text(profiler.output_text(unicode=False, color=False))


def main(argv=None) -> int:
    args = parse_args(argv)
    where = practice.prepare(args)

    import django

    django.setup()

    from django.conf import settings
    from django.db import connection
    from django.test import Client as Browser
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    # Production-like request handling: no SQL logging, no template debug information (set
    # before migrate, whose system checks build the template engine). 'testserver' is the host
    # name of Django's test client.
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    status = 0
    results = []
    try:
        print(f"Building the practice ({args.size}) in the {where.describe()}…", file=sys.stderr, flush=True)
        built = practice.build(where, args)
        if connection.vendor == "postgresql":
            # A practice's database has planner statistics (autovacuum gathers them as rows
            # arrive); one just loaded in bulk may not have them yet, and without them the
            # planner guesses (36 care-team rows a clinician where there are 800).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        counts = practice.practice_counts()
        today = timezone.localdate()
        people, pages, picked = choose_pages(today)
        if args.only:
            pages = [page for page in pages if args.only.lower() in page.label.lower()]

        browsers = {}
        for who, user in people.items():
            if user is None:
                continue
            if user.pk not in browsers:
                practice.enrol(user)  # two-factor sign-in stays required, as in production
                browser = Browser(raise_request_exception=False)
                browser.force_login(user)
                browser.get("/")  # the session's one-off authenticator check
                browsers[user.pk] = browser
            browsers[who] = browsers[user.pk]

        if not args.no_freeze:
            # As every web process does once it has started (kapflow/wsgi.py).
            from kapflow.lib.heap import freeze_startup_objects

            freeze_startup_objects()
        load_before = os.getloadavg()[0]
        collections = CollectorWatch()
        bare = Bare(browsers["therapist"])
        for _ in range(args.repeat):  # warm up
            bare.sample()
        bare.timings.clear()
        problems = []

        def timed(label, who, http, url, headers, *, outcome=False, fragment=False):
            """Time one page; returns its row (without the ratio, which needs the whole run's bare
            p95) and the fragments it fetches as it loads."""
            print(f"  {label}…", file=sys.stderr, flush=True)
            response = http.get(url, **headers)
            if response.status_code != 200:
                problems.append(f"{label} ({who}): {url} answered {response.status_code}, not 200")
                return None, []
            if b'id="form-errors"' in response.content:
                # A page that refused what its address asked shows something else than the page.
                problems.append(f"{label} ({who}): {url} answered with a form's errors")
                return None, []
            timings, response = measure(http, url, headers, args.repeat, bare)
            with CaptureQueriesContext(connection) as captured:
                response = http.get(url, **headers)
            queries = len(captured.captured_queries)  # before another request empties the log
            if args.profile:
                profile(args.profile, label, lambda: http.get(url, **headers))
            slow = slow_queries(lambda: http.get(url, **headers), args.slow) if args.slow else []
            html = response.get("Content-Type", "").startswith("text/html") and not fragment
            size_kb = len(response.content) / 1024
            loads = fragments_on_load(response.content.decode(errors="replace")) if html else []
            row = {
                "page": label,
                "as": who,
                "url": url,
                "p50_ms": round(statistics.median(timings), 1),
                "p95_ms": round(percentile(timings, 0.95), 1),
                "kb": round(size_kb, 1),
                "html": html,
                "outcome": outcome,
                "queries": queries,
                "requests_on_load": len(loads),
                "slow_queries": slow,
            }
            return row, loads

        for page in pages:
            http = browsers.get(page.who)
            if http is None:
                problems.append(f"{page.label}: nobody in the practice is the {page.who}")
                continue
            row, loads = timed(page.label, page.who, http, page.url, page.headers, outcome=page.outcome)
            if row is None:
                continue
            results.append(row)
            # What the page fetches as it loads is part of opening it: measure the first of each.
            for url in list(dict.fromkeys(loads))[:2]:
                name = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
                label = f"  + {name} (fragment)"
                row, _ = timed(label, page.who, http, url, {"HTTP_HX_REQUEST": "true"}, fragment=True)
                if row is not None:
                    results.append(row)

        if not bare.timings:  # no page matched --only
            bare.sample()
        bare_p50, bare_p95 = statistics.median(bare.timings), percentile(bare.timings, 0.95)
        for row in results:
            row["ratio"] = round(row["p95_ms"] / bare_p95, 1)
            row["over"] = over = []
            if row["p95_ms"] > RATIO_TARGET * bare_p95:
                over.append(f">{RATIO_TARGET}x bare")
            if row["outcome"] and row["p95_ms"] > OUTCOME_TARGET_MS:
                over.append(f">{OUTCOME_TARGET_MS} ms")
            if row["html"] and row["kb"] > HTML_TARGET_KB:
                over.append(f">{HTML_TARGET_KB} KB")
            if row["requests_on_load"] > 1:
                over.append(f"{row['requests_on_load']} requests as it loads")

        print(
            f"\nkapflow page benchmark: {connection.vendor}, {args.size} practice, "
            f"{args.repeat} requests per page, Django {django.get_version()}, Python {sys.version.split()[0]}"
        )
        print("practice: " + ", ".join(f"{value:,} {name}" for name, value in counts.items()))
        if built.get("reused"):
            print(f"reused the practice built earlier in the {where.describe()}")
        else:
            print(
                f"{built['what']}: migrate {built['migrate_s']:.0f} s, load {built['load_s']:.0f} s"
                + (f", audit rows {built['audit_s']:.0f} s" if "audit_s" in built else "")
            )
        print("picked: " + "; ".join(f"{key} {value}" for key, value in picked.items()))
        print(
            f"machine: {os.cpu_count()} cores, load average {load_before:.1f} when the timing began and "
            f"{os.getloadavg()[0]:.1f} at its end (anything else running slows the bare request too)"
        )
        frozen = "left in its sight (--no-freeze)" if args.no_freeze else "set aside, as kapflow/wsgi.py does"
        print(f"start-up's objects and the garbage collector: {frozen}")
        header = (
            f"{'page':<38} {'as':<18} {'p50 ms':>7} {'p95 ms':>7} {'x bare':>7} {'KB':>6} {'queries':>7}"
            f" {'+req':>4}  over target"
        )
        print()
        print(header)
        print("-" * len(header))
        print(
            f"{'bare signed-in request (keep-alive)':<38} {'therapist':<18} "
            f"{bare_p50:>7.1f} {bare_p95:>7.1f} "
            f"{1:>7.1f} {0:>6} {'':>7} {'':>4}"
        )
        for row in results:
            print(
                f"{row['page'][:38]:<38} {row['as'][:18]:<18} {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} "
                f"{row['ratio']:>7.1f} {row['kb']:>6.0f} {row['queries']:>7} "
                f"{row['requests_on_load'] or '':>4}  {', '.join(row['over'])}"
            )
        for problem in problems:
            print(f"NOT MEASURED: {problem}")
        if args.slow:
            print(f"\nQueries of {args.slow:g} ms or more (the best of three requests each):")
            for row in results:
                for ms, sql in row["slow_queries"]:
                    print(f"  {row['page'].strip()[:30]:<30} {ms:>7.1f} ms  {sql[:110]}")
        missed = [row for row in results if row["over"]]
        collections.stop()
        print(f"\nThe garbage collector while timing: {collections.describe()}.")
        print(
            f"\nBare request: p50 {bare_p50:.2f} ms, p95 {bare_p95:.2f} ms over {len(bare.timings)} "
            "requests, one before each timed page request."
            f" Pages over a target: {len(missed)} of {len(results)}."
        )
        print(
            "Times are whole requests through Django's test client (middleware, view, template) with DEBUG "
            "off, no web server; compare runs on one machine only.\n'x bare' is the page's p95 over the "
            "bare request's p95; '+req' counts the fragments the page fetches as it loads (each measured "
            "below it); queries are per request, session and audit row included."
        )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "database": connection.vendor,
                        "size": args.size,
                        "repeat": args.repeat,
                        "practice": counts,
                        "bare_p50_ms": round(bare_p50, 2),
                        "bare_p95_ms": round(bare_p95, 2),
                        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                        "garbage_collector": collections.figures(),
                        "pages": results,
                        "not_measured": problems,
                    },
                    indent=1,
                )
            )
        if problems or (args.check and missed):
            status = 1
    finally:
        practice.finish(where, keep=args.keep)
        if args.keep and where.temporary:
            print(f"\nKept {where.var_dir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
