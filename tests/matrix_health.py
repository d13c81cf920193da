"""The health endpoint's line in the access matrix (tests/test_access_matrix.py).

/healthz is public by design: a load balancer calls it without an account. It answers everyone
the same way and names nothing of any client (tests/test_health.py)."""

from tests.access_rules import public_page

MATRIX = {
    "healthz": ("get", public_page, None),
}


def build(world):
    """Nothing to build: the checks read no client."""
