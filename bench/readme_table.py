"""The README's page table from two runs of bench/pages.py: one on SQLite and one on PostgreSQL,
each written with `--json`. Prints the table in Markdown (the size and the queries are the
SQLite run's), a ratio over ten times the bare request in bold, and how many rows are over on
each database.

    .venv/bin/python bench/readme_table.py sqlite.json postgres.json
"""

import argparse
import json

TARGET = 10


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 5 else f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _over(page: dict) -> bool:
    """Whether the page is over ten times the bare request, as the benchmark decided it (on the
    unrounded times: a ratio printed 10.0 may be over)."""
    return f">{TARGET}x bare" in page["over"]


def _ratio(page: dict) -> str:
    text = f"{page['ratio']:.1f}"
    return f"**{text}**" if _over(page) else text


def _label(page: str) -> str:
    """A fragment's row ("  + badges (fragment)") is shown under its page, as the benchmark
    prints it."""
    return f"  ↳ {page.strip()[2:]}" if page.startswith("  + ") else page


def _keyed(pages: list[dict]):
    """Each page with what names it in either run: its label, and a fragment's page too (the
    same fragment is fetched by several pages)."""
    parent = ""
    for page in pages:
        if not page["page"].startswith("  + "):
            parent = page["page"]
        yield (parent, page["page"]), page


def table(sqlite: dict, postgres: dict) -> str:
    rows = [
        "| page | as | SQLite p95 ms | × bare | PostgreSQL p95 ms | × bare | KB | queries |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        f"| bare signed-in request (keep-alive) | therapist | {_ms(sqlite['bare_p95_ms'])} | 1 "
        f"| {_ms(postgres['bare_p95_ms'])} | 1 | | |",
    ]
    other = dict(_keyed(postgres["pages"]))
    for key, page in _keyed(sqlite["pages"]):
        there = other.get(key)
        pg_ms, pg_ratio = (_ms(there["p95_ms"]), _ratio(there)) if there else ("", "")
        rows.append(
            f"| {_label(page['page'])} | {page['as']} | {_ms(page['p95_ms'])} | {_ratio(page)} "
            f"| {pg_ms} | {pg_ratio} | {page['kb']:.0f} | {page['queries']} |"
        )
    over = [sum(1 for page in run["pages"] if _over(page)) for run in (sqlite, postgres)]
    counted = [len(run["pages"]) for run in (sqlite, postgres)]
    rows.append("")
    rows.append(
        f"Over ten times the bare request: {over[0]} of {counted[0]} rows on SQLite, "
        f"{over[1]} of {counted[1]} on PostgreSQL."
    )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sqlite", help="bench/pages.py --json of a SQLite run")
    parser.add_argument("postgres", help="bench/pages.py --json of a PostgreSQL run")
    args = parser.parse_args()
    with open(args.sqlite) as sqlite, open(args.postgres) as postgres:
        print(table(json.load(sqlite), json.load(postgres)))


if __name__ == "__main__":
    main()
