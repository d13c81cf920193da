"""The staff side of the journal: the entries a client has shared, for the client's therapists
only (docs/clinical.md: the therapist sees the entries the client shared; prescribers, coordinators
and admins do not). Read-only; each read is audited with the entries shown."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import Need, client_for
from kapflow.journal import services
from kapflow.journal.selectors import shared_entries, therapist_clients
from kapflow.lib.capped import capped

# The page shows this many shared entries, newest first, then "Show all".
ENTRIES_SHOWN = 20


@require_GET
@staff_view(Role.THERAPIST)
def shared_list(request, client_id):
    client = client_for(
        request,
        client_id,
        action="kapflow.journal.shared.viewed",
        need=Need.CLINICAL,
        queryset=therapist_clients(request.user),
    )
    entries = capped(
        request, shared_entries(client), param="entries", limit=ENTRIES_SHOWN, anchor="journal-h"
    )
    # Only the entries on the page are recorded as read.
    services.shared_entries_read(request=request, client=client, entries=entries.rows)
    return render(request, "journal/shared_list.html", {"client": client, "entries": entries})
