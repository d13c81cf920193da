"""The invited outside prescriber in the access matrix (tests/test_access_matrix.py): Oscar, on
Avery's care team as prescriber, is requested on every URL of the matrix, and his answers are
tests/access_rules.py's outside_prescriber(). He adds no URL of his own (that open_caseload
widens nothing for him: tests/test_outside_prescriber_account.py)."""

from kapflow.clients.models import CareTeamMember
from tests import factories

MATRIX: dict = {}


def build(world):
    oscar = factories.make_user(
        "Oscar Outside", roles=("is_prescriber", "outside_practice"), email="oscar@example.org"
    )
    CareTeamMember.objects.create(client=world["avery"], user=oscar, role=CareTeamMember.Role.PRESCRIBER)
    world["oscar"] = oscar
