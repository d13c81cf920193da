"""One thing the portal asks of a client (a form to fill, a consent to sign). The apps that ask
something make these (consent/portal.py, measures/portal.py, journal/portal.py), and the portal,
a layer above them, lists them together (kapflow.portal.todo): the value lives here, below both,
so that no clinical app imports the portal."""

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class Todo:
    kind: str  # "consent", "measure", ...
    title: str  # what the client is asked to do, in their words: "Sign: Informed consent"
    url: str
    due_at: datetime.datetime | None = None
    detail: str = ""
