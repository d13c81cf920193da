"""The dashboard's lists, whole and paged ("Show all"), in the access matrix
(tests/test_access_matrix.py). Each list is for the roles whose card it is on the dashboard:
urgent alerts, course reviews to sign and maintenance sessions due for clinicians; overdue
integrations and action items for therapists; in-session alerts not yet seen, clearances and
orders waiting, adverse events and discharge overrides to review for prescribers; arrivals for
the coordinator. Anyone else on the staff is refused (403); each list holds only the clients the
person may see."""

from tests.access_rules import FORBIDDEN, LOGIN, OK


def _for(*roles):
    def rule(role, target):
        if role == "anon":
            return LOGIN
        return OK if role in roles else FORBIDDEN

    rule.__name__ = f"dashboard_list_for_{'_'.join(roles)}"
    return rule


clinicians = _for("tess", "colin", "priya")
therapists = _for("tess", "colin")
prescribers = _for("priya")
coordinators = _for("cora")

MATRIX = {
    "queue_alerts": ("get", clinicians, None),
    "queue_reviews": ("get", clinicians, None),
    "queue_maintenance": ("get", clinicians, None),
    "queue_integrations": ("get", therapists, None),
    "queue_action_items": ("get", therapists, None),
    "queue_session_alerts": ("get", prescribers, None),
    "queue_clearances": ("get", prescribers, None),
    "queue_orders": ("get", prescribers, None),
    "queue_events": ("get", prescribers, None),
    "queue_overrides": ("get", prescribers, None),
    "queue_arrivals": ("get", coordinators, None),
}


def build(world):
    """Nothing beyond the matrix's own world: its clients, alerts and visits fill the lists."""
