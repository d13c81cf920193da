"""The staff welcome page's line in the access matrix (tests/test_access_matrix.py).

The invitation link's page is public by design: the key in the link is what admits the person.
With a key that is not valid (as here) everyone, signed in or not, gets the same "this link no
longer works" page and nothing else (tests/test_mfa_hardening.py tries real and forged keys)."""

from tests.access_rules import public_page

MATRIX = {
    "accounts:staff_welcome": ("get", public_page, lambda w, c: {"uidb36": "zz", "key": "not-a-key"}),
}


def build(world):
    """Nothing to build: the link is made up."""
