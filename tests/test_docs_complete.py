"""The repository's own docs hold every fact the code relies on (issue 13, item 5).

Four things would let them drift: a link to a page that is not in the repository, a reference to
one of the design documents kapflow started from (kept outside the repository, so a reader cannot
follow it), a citation of a part of a docs/ page that the page no longer has, and a practice
default whose number or source in docs/clinical.md is no longer the model's."""

import re
from decimal import Decimal
from pathlib import Path

import pytest

from kapflow.practice.models import Practice

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLINICAL = DOCS / "clinical.md"

# The design documents outside the repository. docs/clinical.md, docs/design.md and
# docs/regulatory.md are spelt in lower case, so the upper-case names only ever mean the outside
# ones.
OUTSIDE = re.compile(r"\b(?:CLINICAL|DESIGN|REGULATORY|STYLE)\.md\b|\.\./shared\b|/work/shared\b")

# [text](target) and [label]: target, outside fenced code blocks.
INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)

SOURCE_SUFFIXES = {".py", ".html", ".txt", ".md", ".css", ".js", ".toml", ".cfg", ".ini"}

NUMBER = re.compile(r"\d+(?:\.\d+)?")

# Words of a field's help text ("Source: …") that name where its default comes from. Whatever the
# help text names, the setting's row in docs/clinical.md names too.
SOURCE_NAMES = (
    "seed 000",
    "seed 001",
    "seed 002",
    "Spravato",
    "REMS",
    "practice default",
    "Journey Clinical",
    "Mindbloom",
    "Wolfson",
    "Krupitsky",
    "APA",
)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def link_targets(text: str) -> list[str]:
    text = FENCE.sub("", text)
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


@pytest.mark.parametrize("page", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_it_links_only_to_files_in_the_repository(page):
    missing = []
    for target in link_targets(page.read_text()):
        if EXTERNAL.match(target):
            continue
        path = target.split("#", 1)[0]
        resolved = (page.parent / path).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to files not in the repository: {missing}"


def test_the_link_checker_finds_links():
    text = (
        "See [the page](docs/a.md#part), [x](https://example.org), and\n\n"
        "[ref]: ../b.md\n```\n[no](c.md)\n```"
    )
    assert link_targets(text) == ["docs/a.md#part", "https://example.org", "../b.md"]


def source_files() -> list[Path]:
    files = [ROOT / "README.md", *DOCS.rglob("*")]
    files += [path for path in (ROOT / "kapflow").rglob("*") if "__pycache__" not in path.parts]
    return sorted(path for path in files if path.is_file() and path.suffix in SOURCE_SUFFIXES)


def test_it_never_sends_a_reader_to_a_document_outside_the_repository():
    found = []
    for path in source_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "Point these at docs/ instead:\n" + "\n".join(found)


# `docs/clinical.md`, "Doses" or docs/clinical.md ("Doses"): a page and a part of it.
CITATION = re.compile(r'`?(docs/[\w/.-]+\.md)`?(?:,\s*|\s*\()"([^"]+)"')


def citations() -> list[tuple[str, str, str]]:
    found = []
    for path in source_files():
        text = " ".join(path.read_text(errors="replace").split())
        found += [(str(path.relative_to(ROOT)), page, part) for page, part in CITATION.findall(text)]
    return found


def test_every_citation_of_a_part_of_a_docs_page_finds_it():
    """A comment citing `docs/clinical.md, "Doses"` leads a reader to a page that has that part."""
    lost = []
    for where, page, part in citations():
        target = ROOT / page
        text = " ".join(target.read_text().split()).lower() if target.exists() else ""
        if " ".join(part.split()).lower() not in text:
            lost.append(f"{where}: {page}, {part!r}")
    assert citations(), "the citation pattern found nothing; is it still right?"
    assert not lost, "Cited parts of docs/ pages that are not there:\n" + "\n".join(lost)


def test_the_outside_pattern_spares_the_docs_own_pages():
    assert OUTSIDE.search("see CLINICAL.md") and OUTSIDE.search("../shared/seeds")
    assert not OUTSIDE.search("see docs/clinical.md and docs/design.md")


# --- Every practice default, with its number and its source, in docs/clinical.md ------------------


def settings_table() -> dict[str, dict[str, str]]:
    """docs/clinical.md's table of settings, by field name: {"default": …, "source": …}."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    for line in CLINICAL.read_text().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = [cell.lower() for cell in cells]
            continue
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            continue
        if {"field", "default", "source"} <= set(header) and len(cells) == len(header):
            row = dict(zip(header, cells, strict=True))
            rows[row["field"].strip("`")] = row
    return rows


def defaults() -> list[tuple[str, object, str]]:
    """(field name, default, help text) for each Practice setting with a number or a switch for a
    default. Text defaults (the practice's name, the inquiry page's words, crisis resources) are
    wording rather than clinical numbers, except a list of hours."""
    found = []
    for field in Practice._meta.concrete_fields:
        if not field.has_default() or callable(field.default):
            continue
        value = field.default
        if isinstance(value, str) and not re.fullmatch(r"[\d ,.]+", value):
            continue
        found.append((field.name, value, str(field.help_text)))
    return found


def names(source: str, text: str) -> bool:
    return re.search(rf"\b{re.escape(source)}\b", text, re.IGNORECASE) is not None


def numbers_in(text: str) -> set[Decimal]:
    return {Decimal(number) for number in NUMBER.findall(text)}


def test_the_model_has_settings_to_check():
    names = {name for name, _, _ in defaults()}
    assert {"bp_caution_systolic", "integration_window_hours", "journal_prompt_hours"} <= names
    assert {"typical_im_min_mg_per_kg", "virtual_sublingual_allowed"} <= names
    assert "name" not in names and "on_call_prescriber" not in names


@pytest.mark.parametrize("name, default, help_text", defaults(), ids=[name for name, _, _ in defaults()])
def test_every_practice_default_is_in_clinical_md_with_its_number_and_source(name, default, help_text):
    row = settings_table().get(name)
    assert row is not None, f"docs/clinical.md's settings table has no row for `{name}`"
    if isinstance(default, bool):
        assert row["default"].lower() == ("on" if default else "off"), (name, row["default"])
    else:
        wanted = numbers_in(str(default))
        assert wanted and wanted <= numbers_in(row["default"]), (
            f"`{name}` defaults to {default} but docs/clinical.md says {row['default']!r}"
        )
    assert row["source"], f"`{name}` has no source in docs/clinical.md"
    for source in SOURCE_NAMES:
        if names(source, help_text):
            assert names(source, row["source"]), (
                f"`{name}`'s help text cites {source!r}; docs/clinical.md's source is {row['source']!r}"
            )


def test_the_settings_table_names_only_fields_that_exist():
    fields = {field.name for field in Practice._meta.concrete_fields}
    assert set(settings_table()) <= fields
