"""How long the controlled-substance pages take with a ledger of a group practice's size, against
a bare signed-in request measured in the same run.

    .venv/bin/python bench/controlled.py [--database sqlite|postgres] [--lots 6] [--entries 20000]
                                         [--repeat 10] [--pdf-entries 1000] [--json FILE]

Builds a practice (bench/practice.py; by default the quick demo, which is enough to hang a ledger
on: the ledger's size is what is measured), then adds `--lots` vial lots of `--entries` entries
each, spread evenly over the practice's retention period up to an hour ago: a receipt first and
one every 50 entries, doses given in the demo's medication sessions (about 78 %, each with its
own administration record, as the runbook posts them) and witnessed wastes (20 %). They are
written in bulk with the sequence and balance `entry_post` would give them (its row lock is not
what is measured here).

Then, signed in as a prescriber (who keeps the stock), it requests each page `--repeat` times
through Django's test client (the whole request, middleware to template, DEBUG off), each timed
right after a bare request (bench/pages.py's keep-alive): the stock page and a lot's ledger page
when those pages exist (kapflow.controlled.urls, `controlled:stock` and `controlled:lot`), the
ledger report (every lot, and one lot) and its CSV (read to the end: the whole retention period)
and PDF (one lot, over the last days that hold about `--pdf-entries` entries), the dispensing
record, its CSV and its PDF (the last days that hold about `--pdf-entries` doses). Printed per
page: p50, p95, p95 as a multiple of the bare request's p95, the size of the answer and the
queries of one request.

Nothing here fails on timing: the figures are for comparing runs on one machine."""

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pages  # noqa: E402  (bench/pages.py: the bare request and the percentile)
import practice  # noqa: E402  (bench/practice.py, beside this file)

BATCH = 5000
# The share of entries that are doses: all but the receipts (1 in 50) and the wastes (2 in 10).
DOSE_SHARE = 0.78


def _day_start(day: datetime.date) -> datetime.datetime:
    from django.utils import timezone

    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    practice.add_arguments(parser)
    parser.set_defaults(size="quick", clients=0)
    parser.add_argument("--lots", type=int, default=6, help="lots in the ledger (default 6)")
    parser.add_argument("--entries", type=int, default=20000, help="entries per lot (default 20,000)")
    parser.add_argument("--repeat", type=int, default=10, help="timed requests per page (default 10)")
    parser.add_argument(
        "--pdf-entries", type=int, default=1000, help="about how many entries the PDFs hold (default 1,000)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file, as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print it")
    args = parser.parse_args(argv)
    if args.lots < 1 or args.entries < 2 or args.repeat < 1 or args.pdf_entries < 1:
        parser.error("--lots, --repeat and --pdf-entries must be at least 1, --entries at least 2")
    return args


def build_ledger(*, lots: int, entries: int) -> dict:
    """`lots` vial lots of `entries` entries each, written in bulk, oldest first; returns what
    was made (the lots, the prescriber who keeps the stock, the span of dates)."""
    from django.utils import timezone

    from kapflow.accounts.models import User
    from kapflow.controlled.models import Entry, Lot
    from kapflow.dosing.models import Administration, Runbook
    from kapflow.practice.models import Practice

    keeper = (
        User.objects.filter(is_active=True, is_prescriber=True, outside_practice=False).order_by("pk").first()
    )
    witness = (
        User.objects.filter(is_active=True, is_therapist=True).exclude(pk=keeper.pk).order_by("pk").first()
    )
    runbooks = list(
        Runbook.objects.filter(visit__client__medication_orders__isnull=False)
        .values_list("pk", "visit__client_id", "visit__client__medication_orders__pk")
        .order_by("pk")[:500]
    )
    if not runbooks:
        raise SystemExit("The practice has no medication session with an order to hang the doses on.")
    years = Practice.load().controlled_retention_years
    end = timezone.now() - datetime.timedelta(hours=1)
    start = end - datetime.timedelta(days=365 * years - 1)
    step = (end - start) / entries
    made = []
    for n in range(lots):
        lot = Lot.objects.create(
            drug="ketamine",
            product="Ketamine HCl injection, 10 mL multi-dose vial",
            form="vial",
            strength_mg=Decimal("50"),
            container_quantity=Decimal("10"),
            ndc="0409-2053-10",
            lot_number=f"BENCH-{n + 1:02d}-{int(time.time()) % 100000}",
            expires_on=timezone.localdate() + datetime.timedelta(days=700),
            created_by=keeper,
        )
        made.append(lot)
        balance = Decimal("0")
        pending_entries, pending_doses = [], []

        for sequence in range(1, entries + 1):
            occurred = start + step * sequence
            fields = {}
            if sequence % 50 == 1:
                kind, quantity = "receipt", Decimal("100")
                fields = {
                    "party_name": "Henry Schein",
                    "party_address": "135 Duryea Rd, Melville NY 11747",
                    "party_dea_number": "RH0123456",
                    "document_reference": f"INV-{n}-{sequence}",
                    "containers": 10,
                }
            elif sequence % 10 in (3, 7):
                kind, quantity = "waste", Decimal("-0.2")
                fields = {
                    "witness": witness,
                    "witness_confirmed_at": occurred,
                    "reason": "Left in the syringe",
                }
            else:
                kind, quantity = "administration", Decimal("-1.5")
            if kind == "administration":
                runbook_id, client_id, order_id = runbooks[sequence % len(runbooks)]
                dose = Administration(
                    runbook_id=runbook_id,
                    order_id=order_id,
                    given_at=occurred,
                    route="intramuscular",
                    dose_mg=-quantity * lot.strength_mg,
                    lot_number=lot.lot_number,
                    lot=lot,
                    given_by=keeper,
                    recorded_by=keeper,
                    is_booster=True,
                )
                pending_doses.append(dose)
                fields = {"administration": dose, "client_id": client_id}
            balance += quantity
            pending_entries.append(
                Entry(
                    lot=lot,
                    sequence=sequence,
                    kind=kind,
                    quantity=quantity,
                    balance_after=balance,
                    occurred_at=occurred,
                    person=keeper,
                    recorded_by=keeper,
                    recorded_at=occurred,
                    **fields,
                )
            )
            if len(pending_entries) >= BATCH:
                _flush(pending_doses, pending_entries)
        _flush(pending_doses, pending_entries)
    return {"lots": made, "keeper": keeper, "start": start, "end": end}


def _flush(doses: list, entries: list) -> None:
    """Write a batch: the doses first, so that their entries can name them."""
    from kapflow.controlled.models import Entry
    from kapflow.dosing.models import Administration

    Administration.objects.bulk_create(doses)
    Entry.objects.bulk_create(entries)
    doses.clear()
    entries.clear()


def timed(http, url: str, repeat: int, bare) -> dict:
    """One untimed request, `repeat` timed ones (each after a bare request, the whole answer read,
    streamed or not), and one more counting its queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get():
        response = http.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return response, body

    response, body = get()
    if response.status_code != 200:
        return {"status": response.status_code}
    timings = []
    for _ in range(repeat):
        bare.sample()
        started = time.perf_counter()
        get()
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        get()
    return {
        "status": 200,
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(pages.percentile(timings, 0.95), 1),
        "kb": round(len(body) / 1024, 1),
        "queries": len(captured.captured_queries),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    where = practice.prepare(args)

    import django

    django.setup()

    from django.conf import settings
    from django.db import connection
    from django.test import Client as Browser
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    from kapflow.controlled.models import Entry

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    figures: dict = {}
    try:
        print(f"Building the practice ({args.size}) in the {where.describe()}…", file=sys.stderr, flush=True)
        built = practice.build(where, args)
        print(f"Adding {args.lots} lots of {args.entries:,} entries…", file=sys.stderr, flush=True)
        started = time.perf_counter()
        ledger = build_ledger(lots=args.lots, entries=args.entries)
        ledger_s = time.perf_counter() - started
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # planner statistics, as bench/pages.py explains
                cursor.execute("ANALYZE")

        keeper = ledger["keeper"]
        practice.enrol(keeper)  # two-factor sign-in stays required, as in production
        browser = Browser(raise_request_exception=False)
        browser.force_login(keeper)
        browser.get("/")  # the session's one-off authenticator check
        bare = pages.Bare(browser)
        for _ in range(20):  # warm up
            bare.sample()
        bare.timings.clear()
        load_before = os.getloadavg()[0]

        lot = ledger["lots"][0]

        # The last days that hold about --pdf-entries entries of one lot (the ledger's PDF) and
        # about --pdf-entries doses of every lot (the dispensing record's).
        def last_days(share: float) -> tuple[datetime.date, str]:
            span = (ledger["end"] - ledger["start"]) * min(1, share)
            first = timezone.localdate(ledger["end"] - span) + datetime.timedelta(days=1)
            return first, f"date_from={first.isoformat()}&date_to={timezone.localdate().isoformat()}"

        pdf_from, pdf_query = last_days(args.pdf_entries / args.entries)
        doses_from, doses_query = last_days(args.pdf_entries / (args.entries * args.lots * DOSE_SHARE))
        wanted = [
            ("stock page", "controlled:stock", {}, ""),
            ("a lot's ledger page", "controlled:lot", {"lot_id": lot.pk}, ""),
            ("report page, every lot", "controlled_reports:ledger", {}, ""),
            ("report page, one lot", "controlled_reports:ledger", {}, f"?lot={lot.pk}"),
            ("report page, one lot, page 100", "controlled_reports:ledger", {}, f"?lot={lot.pk}&page=100"),
            ("ledger CSV, every lot", "controlled_reports:ledger_csv", {}, ""),
            ("ledger PDF, one lot", "controlled_reports:ledger_pdf", {}, f"?lot={lot.pk}&{pdf_query}"),
            ("dispensing record page", "controlled_reports:dispensing", {}, ""),
            ("dispensing record CSV", "controlled_reports:dispensing_csv", {}, ""),
            ("dispensing record PDF", "controlled_reports:dispensing_pdf", {}, f"?{doses_query}"),
        ]
        rows, skipped = [], []
        for label, name, kwargs, query in wanted:
            try:
                url = reverse(name, kwargs=kwargs or None) + query
            except NoReverseMatch:
                skipped.append(f"{label}: no URL named {name}")
                continue
            print(f"  {label}…", file=sys.stderr, flush=True)
            row = {"page": label, "url": url, **timed(browser, url, args.repeat, bare)}
            if row["status"] != 200:
                skipped.append(f"{label}: {url} answered {row['status']}")
                continue
            rows.append(row)
        bare_p50, bare_p95 = statistics.median(bare.timings), pages.percentile(bare.timings, 0.95)
        for row in rows:
            row["ratio"] = round(row["p95_ms"] / bare_p95, 1)
        figures.update(
            database=connection.vendor,
            lots=args.lots,
            entries_per_lot=args.entries,
            entries=Entry.objects.count(),
            doses=Entry.objects.filter(kind="administration").count(),
            pdf_entries=Entry.objects.filter(lot=lot, occurred_at__gte=_day_start(pdf_from)).count(),
            pdf_doses=Entry.objects.filter(
                kind="administration", occurred_at__gte=_day_start(doses_from)
            ).count(),
            repeat=args.repeat,
            bare_p50_ms=round(bare_p50, 2),
            bare_p95_ms=round(bare_p95, 2),
            ledger_build_s=round(ledger_s, 1),
            load_average=[round(load_before, 1), round(os.getloadavg()[0], 1)],
            pages=rows,
            not_measured=skipped,
        )
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
        f"\nkapflow controlled-substance benchmark: {figures['database']}, {figures['lots']} lots of "
        f"{figures['entries_per_lot']:,} entries ({figures['entries']:,} in the ledger, {figures['doses']:,} "
        f"doses), {figures['repeat']} requests per page, Django {django.get_version()}, "
        f"Python {sys.version.split()[0]}"
    )
    if built.get("reused"):
        print(f"reused the practice built earlier in the {where.describe()}")
    else:
        print(f"{built['what']}: migrate {built['migrate_s']:.0f} s, load {built['load_s']:.0f} s")
    print(
        f"ledger written in bulk in {figures['ledger_build_s']:.0f} s; "
        f"the ledger's PDF holds {figures['pdf_entries']:,} entries of one lot, the dispensing record's "
        f"{figures['pdf_doses']:,} doses"
    )
    first, last = figures["load_average"]
    print(f"machine: {os.cpu_count()} cores, load average {first:.1f} at the start and {last:.1f} at the end")
    header = f"{'page':<34} {'p50 ms':>8} {'p95 ms':>8} {'x bare':>8} {'KB':>8} {'queries':>7}"
    print()
    print(header)
    print("-" * len(header))
    print(
        f"{'bare signed-in request':<34} {figures['bare_p50_ms']:>8.2f} "
        f"{figures['bare_p95_ms']:>8.2f} {1:>8.1f}"
    )
    for row in figures["pages"]:
        print(
            f"{row['page']:<34} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['ratio']:>8.1f} "
            f"{row['kb']:>8.0f} {row['queries']:>7}"
        )
    for problem in figures["not_measured"]:
        print(f"NOT MEASURED: {problem}")
    print(
        "\nWhole requests through Django's test client (middleware, view, template; a CSV read to its "
        "end) with DEBUG off; 'x bare' is the page's p95 over the bare request's p95, the bare request "
        "timed once before each timed request."
    )


if __name__ == "__main__":
    sys.exit(main())
