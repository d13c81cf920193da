"""CSV downloads that open cleanly in a spreadsheet (docs/design.md, "Downloads").

- UTF-8 with a byte-order mark, so that Excel reads "–", "≥" and accented names as written
  rather than in the machine's legacy code page.
- Numbers are written as numbers (ints and floats, a plain "." and no thousands separator); a
  missing number is an empty cell, never a dash or a word.
- Dates are ISO 8601 (2026-04-01), which every spreadsheet reads as a date whatever its locale.
- A text cell that a spreadsheet would take for a formula (one starting with =, +, -, @, or a
  tab or carriage return) gets a leading apostrophe (OWASP, "CSV injection"). Numbers are
  never touched, so −11.2 stays a negative number.
"""

import csv
import datetime
from collections.abc import Iterable

from django.http import HttpResponse, StreamingHttpResponse

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | datetime.date | None


def cell(value: Cell) -> str | int | float:
    """One value as the CSV holds it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise TypeError("say a yes/no in words, not as a bool")
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime.datetime):
        raise TypeError("give a moment's date or its ISO text: a spreadsheet has no time zone")
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_response(filename: str, rows: Iterable[Iterable[Cell]]) -> HttpResponse:
    """An attachment named `filename`, with the BOM and each cell through cell()."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write(BOM)
    csv.writer(response).writerows([cell(value) for value in row] for row in rows)
    return response


class _Echo:
    """csv.writer's file: hands each line back instead of keeping it."""

    def write(self, value: str) -> str:
        return value


def csv_stream(filename: str, rows: Iterable[Iterable[Cell]]) -> StreamingHttpResponse:
    """As csv_response, streamed a line at a time: for downloads too long to hold in memory
    whole (the controlled-substance ledger over years)."""
    writer = csv.writer(_Echo())

    def lines():
        yield BOM
        for row in rows:
            yield writer.writerow([cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
