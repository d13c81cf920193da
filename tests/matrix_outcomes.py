"""The progress page and the practice outcome report in the access matrix
(tests/test_access_matrix.py)."""

from tests.access_rules import FORBIDDEN, LOGIN, OK, clinical_page


def outcomes_page(role, target):
    """The practice outcome report: aggregates only, no client named. The practice admin and
    every clinician (therapists, prescribers) may read it; the coordinator sees no clinical
    content, and clients and guardians are not staff: refused."""
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "tess", "colin", "priya") else FORBIDDEN


MATRIX = {
    "measures:progress": ("get", clinical_page, lambda w, c: {"client_id": c.pk}),
    "outcomes:report": ("get", outcomes_page, None),
    "outcomes:report_csv": ("get", outcomes_page, None),
}


def build(world):
    """Nothing to add: both pages answer with an empty history."""
