"""Numbers and dates read from the query string, which anyone can write.

Python's own parsers are generous in ways a query string must not be: int() accepts "١٢" (Arabic-
Indic digits), "²" passes str.isdigit() and then fails int(), a value with thousands of digits
overflows SQLite's 64-bit integers, and date.fromisoformat() accepts 9999-12-31, the day before
which "next week" no longer exists. Every view reads its numeric and date parameters through
these helpers, so that a hostile value falls back to the page's default instead of answering 500.
"""

import datetime
import re

from django.http import HttpRequest

# ASCII digits only: \d would match every Unicode decimal digit.
# Nineteen digits hold every bigint (2**63 - 1 is 9223372036854775807); the range check after
# int() turns away the nineteen-digit numbers past it, and the regex anything longer, before
# int() is asked to read thousands of digits.
_INTEGER = re.compile(r"-?[0-9]{1,19}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# Dates a page may be asked about: far beyond any practice's records, and far enough from the
# calendar's edges (year 1, year 9999) that moving by a day, a week, a month or a year around
# them is always a valid date.
EARLIEST_DATE = datetime.date(1900, 1, 1)
LATEST_DATE = datetime.date(2200, 12, 31)

# The largest value a bigint column (and SQLite's integer) holds.
MAX_ID = 2**63 - 1


def parse_int(raw: str | None, *, minimum: int, maximum: int) -> int | None:
    """`raw` as a whole number between `minimum` and `maximum`, written in ASCII digits (an
    optional minus sign, at most 19 digits); None for anything else."""
    if raw is None:
        return None
    raw = raw.strip()
    if not _INTEGER.fullmatch(raw):
        return None
    value = int(raw)
    return value if minimum <= value <= maximum else None


def parse_date(
    raw: str | None, *, earliest: datetime.date = EARLIEST_DATE, latest: datetime.date = LATEST_DATE
) -> datetime.date | None:
    """`raw` as a YYYY-MM-DD date (ASCII digits) between `earliest` and `latest`; None for
    anything else."""
    if raw is None:
        return None
    raw = raw.strip()
    if not _ISO_DATE.fullmatch(raw):
        return None
    try:
        value = datetime.date.fromisoformat(raw)
    except ValueError:
        return None
    return value if earliest <= value <= latest else None


def int_param(
    request: HttpRequest, name: str, default: int | None, *, minimum: int = 1, maximum: int = MAX_ID
) -> int | None:
    """The query parameter `name` as a whole number in [minimum, maximum], or `default` when it
    is missing or is not one (a link to a page number or a record is a convenience: a bad one
    shows the page's default rather than an error)."""
    value = parse_int(request.GET.get(name), minimum=minimum, maximum=maximum)
    return default if value is None else value


def date_param(
    request: HttpRequest,
    name: str,
    default: datetime.date,
    *,
    earliest: datetime.date = EARLIEST_DATE,
    latest: datetime.date = LATEST_DATE,
) -> datetime.date:
    """The query parameter `name` as a date in [earliest, latest], or `default` when it is
    missing or is not one."""
    value = parse_date(request.GET.get(name), earliest=earliest, latest=latest)
    return default if value is None else value
