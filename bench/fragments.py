"""What a page fetches as it loads, as a browser would: every element with `hx-get` whose
`hx-trigger` fires on load (`load`, `revealed`, `intersect`), such as the calendar's and the
dashboard's readiness badges and the chart's Letters card. Used by the page benchmark, which
times each on its own row, and by the load test, which fetches them after their page."""

import re

_TAG = re.compile(r"<[a-z][^>]*\bhx-get=\"([^\"]+)\"[^>]*>", re.IGNORECASE)
_TRIGGER = re.compile(r"\bhx-trigger=\"([^\"]*)\"", re.IGNORECASE)
_ON_LOAD = re.compile(r"\b(load|revealed|intersect)\b")


def fragments_on_load(html: str) -> list[str]:
    """The URLs the page's HTML fetches as it loads, in the page's order."""
    urls = []
    for match in _TAG.finditer(html):
        trigger = _TRIGGER.search(match.group(0))
        if trigger and _ON_LOAD.search(trigger.group(1)):
            urls.append(match.group(1).replace("&amp;", "&"))
    return urls
