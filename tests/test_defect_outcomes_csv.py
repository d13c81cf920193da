"""Issue 13, defect 11: the outcomes CSV did not open cleanly in a spreadsheet. It now starts with
the UTF-8 byte-order mark, holds plain numbers in its value column (an empty cell for a missing
one), ISO dates, and no text cell a spreadsheet would run as a formula."""

import csv
import datetime
import io
import re

from django.urls import reverse

from kapflow.lib.spreadsheet import cell
from kapflow.outcomes import published
from kapflow.outcomes.report import TOO_FEW
from tests.test_outcomes import QUERY, practice  # noqa: F401  (the hand-worked practice)

PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def download(http) -> tuple[bytes, list[dict]]:
    response = http.get(reverse("outcomes:report_csv"), QUERY)
    assert response.status_code == 200
    return response.content, list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_it_starts_with_the_utf8_byte_order_mark(practice, tess, login):  # noqa: F811
    content, _lines = download(login(tess))
    assert content.startswith(b"\xef\xbb\xbf")
    assert "PHQ-9 (0–27)" in content.decode("utf-8-sig")  # the en dash survives as written


def test_every_value_is_a_plain_number_or_empty(practice, tess, login):  # noqa: F811
    _content, lines = download(login(tess))
    assert lines
    for line in lines:
        value = line["value"]
        assert value == "" or PLAIN_NUMBER.fullmatch(value), line
        for text in ("%", ",", "—", "−", "(", TOO_FEW):
            assert text not in value, line
        if value:
            float(value)
    by = {(line["table"], line["row"], line["measure"]): line for line in lines}
    sessions = by[("Sessions and adverse events", "All clients treated", "Medication sessions")]
    assert (sessions["value"], sessions["unit"]) == ("13", "sessions")
    assert int(sessions["value"]) == 13
    # Four PHQ-9 pairs: too few to say, so empty with the reason beside it.
    change = by[("PHQ-9 (0–27)", "All clients treated", "Mean change")]
    assert (change["value"], change["note"]) == ("", TOO_FEW)
    # Published figures: no thousands separator, no "%" and an ASCII minus.
    hull = ("PHQ-9 (0–27)", "Hull et al. 2022, published")
    assert by[(*hull, "n")]["value"] == "1247"
    assert (
        by[(*hull, "Response (≥ 50 % fall)")]["value"],
        by[(*hull, "Response (≥ 50 % fall)")]["unit"],
    ) == (
        "62.8",
        "%",
    )
    dore = by[("PHQ-9 (0–27)", "Dore et al. 2019, published (BDI)", "Mean change")]
    assert (dore["value"], dore["unit"]) == ("-11.2", "BDI points")
    # PCL-5 has no remission threshold: empty, and the note says why.
    assert by[("PCL-5 (0–80)", "All clients treated", "Remission")]["note"] in (
        TOO_FEW,
        "no threshold set for this instrument",
    )


def test_the_dates_are_iso(practice, tess, login):  # noqa: F811
    _content, lines = download(login(tess))
    for line in lines:
        assert datetime.date.fromisoformat(line["from"]) == datetime.date(2026, 4, 1)
        assert datetime.date.fromisoformat(line["to"]) == datetime.date(2026, 6, 30)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", line["from"]) and re.fullmatch(
            r"\d{4}-\d{2}-\d{2}", line["to"]
        )


def test_a_text_cell_that_looks_like_a_formula_is_defused(practice, tess, login, monkeypatch):  # noqa: F811
    hostile = published.FIGURES[0].__class__(
        source='=HYPERLINK("http://x","y")',
        citation="",
        population="-2+3",
        n=12,
        beside="phq9",
        instrument="@SUM(1)",
        figures={"mean_change": -1.5},
    )
    monkeypatch.setattr(published, "FIGURES", (hostile,))
    _content, lines = download(login(tess))
    rows = [line for line in lines if line["row"].startswith("'=HYPERLINK")]
    assert rows and all(line["table"] == "PHQ-9 (0–27)" for line in rows)
    change = next(line for line in rows if line["measure"] == "Mean change")
    assert change["unit"] == "'@SUM(1) points"
    assert change["value"] == "-1.5"  # a number is never prefixed
    for line in lines:
        for key in ("table", "row", "measure", "unit", "note"):
            assert not line[key].startswith(("=", "+", "-", "@")), line


def test_the_cell_rules():
    assert cell(None) == ""
    assert cell(3) == 3 and cell(-2.5) == -2.5
    assert cell(datetime.date(2026, 4, 1)) == "2026-04-01"
    for text in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx"):
        assert cell(text) == "'" + text
    assert cell("Route: sublingual") == "Route: sublingual"
