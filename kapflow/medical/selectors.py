import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.lib.gates import GateResult
from kapflow.medical import gates
from kapflow.medical.models import Clearance, MedicationOrder, Screening


@dataclass
class MedicalSummary:
    gates: list[GateResult]
    screening: Screening | None
    unresolved: set[str]
    clearance: Clearance | None
    active_orders: list[MedicationOrder]
    screenings: list[Screening] = field(default_factory=list)
    clearances: list[Clearance] = field(default_factory=list)
    orders: list[MedicationOrder] = field(default_factory=list)
    today: datetime.date | None = None

    @property
    def blocked(self) -> bool:
        return not all(result.passed for result in self.gates)


def medical_summary(client: Client, *, practice, history: bool = False, today=None) -> MedicalSummary:
    """What the chart card (and, with `history`, the medical page) shows: the three medical
    gates, the latest screening and its open exclusions, the current clearance and the orders in
    force. A fixed number of queries: about six for the card, three more with the history."""
    today = today or timezone.localdate()
    latest = gates.latest_screening(client)
    orders = list(
        MedicationOrder.objects.filter(client=client).select_related("prescriber", "discontinued_by")
        if history
        else MedicationOrder.objects.filter(client=client).active(today).select_related("prescriber")
    )
    summary = MedicalSummary(
        gates=[
            gates.screening_gate(client, today=today, practice=practice),
            gates.clearance_gate(client, today=today),
            gates.order_gate(client, today=today),
        ],
        screening=latest,
        unresolved={flag.key for flag in gates.unresolved_exclusions(latest)} if latest else set(),
        clearance=gates.current_clearance(client),
        active_orders=[order for order in orders if order.is_active(today)],
        today=today,
    )
    if history:
        summary.screenings = list(
            Screening.objects.filter(client=client).select_related("entered_by").latest_first()
        )
        summary.clearances = list(
            Clearance.objects.filter(client=client).select_related("prescriber", "revoked_by").latest_first()
        )
        summary.orders = orders
    return summary
