"""A long history on one page: its newest rows, and a link that shows them all.

A client of a few years has a hundred visits, notes and questionnaires, and a chart page that
lists every one of them grows with the client (issue 12: every list bounded). The pages that list
a client's history show the newest `limit` rows, say how many there are in all, and link to the
same page with `?<param>=all`, which lists every row; the link back shows the newest again. The
count is asked only when there are more rows than the page shows, so a short history costs the
one query it always did, and a long one a second (tests/test_capped_lists.py)."""

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import HttpRequest

SHOW_ALL = "all"


@dataclass(frozen=True)
class Capped:
    rows: list
    # Every row there is: len(rows) unless some are not shown.
    total: int
    limit: int
    showing_all: bool
    # The same page, listing every row / the first `limit`, back at the list's heading.
    all_url: str
    first_url: str

    @property
    def longer_than_limit(self) -> bool:
        return self.total > self.limit

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)


def capped(
    request: HttpRequest, rows, *, param: str, limit: int, anchor: str = "", show_all: bool = False
) -> Capped:
    """`rows` (a queryset or a list, in the page's order, newest first) as the page lists them:
    the first `limit`, or all of them when the query string says `<param>=all` or the caller
    says `show_all` (a form in the list came back with what was typed, wherever it sat)."""
    query = request.GET.copy()
    query[param] = SHOW_ALL
    all_url = f"?{query.urlencode()}{'#' + anchor if anchor else ''}"
    query.pop(param)
    first_url = f"?{query.urlencode()}{'#' + anchor if anchor else ''}"
    showing_all = show_all or request.GET.get(param) == SHOW_ALL
    if showing_all:
        listed = list(rows)
        total = len(listed)
    else:
        # One row past the limit tells whether there are more without counting them.
        listed = list(rows[: limit + 1])
        if len(listed) > limit:
            listed = listed[:limit]
            total = rows.count() if isinstance(rows, QuerySet) else len(rows)
        else:
            total = len(listed)
    return Capped(
        rows=listed,
        total=total,
        limit=limit,
        showing_all=showing_all,
        all_url=all_url,
        first_url=first_url,
    )
