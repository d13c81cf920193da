"""The practice's income by month in the access matrix (tests/test_access_matrix.py): the
people who keep the practice's money, the coordinator and the practice admin
(kapflow.billing.access.can_bill), open it; clinicians are refused (they see no accounts), and
so are clients and guardians; a visitor is sent to sign in. The page names no client."""

from tests.access_rules import FORBIDDEN, LOGIN, OK


def income_page(role, target):
    if role == "anon":
        return LOGIN
    return OK if role in ("ada", "cora") else FORBIDDEN


MATRIX = {
    "income:income": ("get", income_page, None),
    "income:income_csv": ("get", income_page, None),
}


def build(world):
    """Nothing to add: both pages answer with an empty ledger."""
