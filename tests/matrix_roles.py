"""The pages of issue 11's item 7 (roles cannot be stretched) in the access matrix
(tests/test_access_matrix.py)."""

from tests.access_rules import clinician_page


def build(world) -> None:
    """The page needs nothing beyond the matrix's own world."""


MATRIX = {
    # A clinician's change of stage by hand, with its reason: the client's therapist or
    # prescriber only; the coordinator and the admin are refused, a clinician outside the
    # client's care gets 404.
    "clients:stage": ("get", clinician_page, lambda w, c: {"client_id": c.pk}),
}
