"""What every runbook view shares: who may ask, the scoped client and its medication visit, and
the refusals shown as messages. Any staff role may ask; only the client's clinicians are
answered (Need.CLINICAL)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import Need, client_for
from kapflow.dosing.services.runbook import RunbookRefused
from kapflow.visits.models import Visit

# The audit row of a rendering of the runbook page: its opening, and the page again after a
# write. Its live panel's polls are covered by it (kapflow/dosing/views/live.py).
VIEWED_ACTION = "kapflow.dosing.runbook.viewed"

# Any staff role may ask; only the client's clinicians are answered (Need.CLINICAL): a
# coordinator or an admin gets 404, as for a client outside their care.
runbook_view = staff_view()
# The prescriber's reviews of adverse events and discharge overrides.
prescriber_view = staff_view(Role.PRESCRIBER)


def _medication_visit(client, visit_id) -> Visit:
    return get_object_or_404(
        client.visits.select_related("clinician"), pk=visit_id, kind=Visit.Kind.MEDICATION
    )


def _target(request, client_id, visit_id, *, action: str):
    client = client_for(request, client_id, need=Need.CLINICAL, action=action)
    return client, _medication_visit(client, visit_id)


def _refused(request, refused: RunbookRefused) -> None:
    for problem in refused.problems:
        messages.error(request, problem)
