import datetime
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from kapflow.clients.models import Client
from kapflow.documents.models import ChartDocument
from kapflow.documents.selectors import documents_for_filing
from kapflow.lib.gates import GateResult
from kapflow.medical import gates, outside
from kapflow.medical.models import Clearance, MedicationOrder, Screening


@dataclass
class MedicalSummary:
    gates: list[GateResult]
    screening: Screening | None
    unresolved: set[str]
    clearance: Clearance | None
    active_orders: list[MedicationOrder]
    screenings: list[Screening]
    clearances: list[Clearance]
    orders: list[MedicationOrder]
    today: datetime.date

    @property
    def blocked(self) -> bool:
        return not all(result.passed for result in self.gates)


def medical_summary(client: Client, *, practice, today=None) -> MedicalSummary:
    """What the medical page shows: the three medical gates, every screening, clearance and
    order (the latest first, in the order gates.latest_screening and gates.current_clearance
    read them), the latest screening's open exclusions, the current clearance and the orders in
    force. Three queries: the orders with their sessions dosed, the screenings and the
    clearances, which the gates and the latest screening's open exclusions are given rather
    than read again."""
    today = today or timezone.localdate()
    orders = list(
        MedicationOrder.objects.filter(client=client)
        .select_related("prescriber", "discontinued_by")
        .with_dosed_sessions()
    )
    screenings = list(Screening.objects.filter(client=client).select_related("entered_by").latest_first())
    clearances = list(
        Clearance.objects.filter(client=client)
        .select_related("prescriber", "revoked_by", "filed_by")
        .latest_first()
    )
    latest = screenings[0] if screenings else None
    clearance = clearances[0] if clearances else None
    return MedicalSummary(
        gates=[
            gates.screening_gate(
                client, today=today, practice=practice, latest=latest, clearances=clearances
            ),
            gates.clearance_gate(client, today=today, clearance=clearance),
            gates.order_gate(client, today=today, orders=orders),
        ],
        screening=latest,
        unresolved=(
            {flag.key for flag in gates.unresolved_exclusions(latest, clearances=clearances)}
            if latest
            else set()
        ),
        clearance=clearance,
        active_orders=[order for order in orders if order.is_active(today)],
        screenings=screenings,
        clearances=clearances,
        orders=orders,
        today=today,
    )


def outside_prescribers(client: Client) -> QuerySet:
    """The client's outside providers who may prescribe (kapflow.medical.outside.PRESCRIBING_KINDS)."""
    return client.outside_providers.filter(kind__in=outside.PRESCRIBING_KINDS).order_by("name", "pk")


def documents_to_transcribe(client: Client, kind: str) -> QuerySet:
    """The client's filed documents of `kind` (a clearance letter, a prescription) not yet
    transcribed (kapflow.documents.selectors.documents_for_filing): a document is transcribed once."""
    transcribed = Clearance if kind == ChartDocument.Kind.CLEARANCE else MedicationOrder
    return documents_for_filing(client, [kind]).exclude(
        pk__in=transcribed.objects.filter(document__isnull=False).values("document")
    )


def prescriber_is_outside(client: Client) -> Clearance | None:
    """The client's latest clearance when it was transcribed from an outside prescriber's letter
    (the client's prescriber is then outside and has no account), else None. One query."""
    latest = Clearance.objects.filter(client=client).select_related("outside_provider").latest_first().first()
    return latest if latest is not None and latest.is_outside else None
