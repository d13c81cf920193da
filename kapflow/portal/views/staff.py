"""The staff side of the portal, from the client's chart: inviting the client or a guardian, and
the therapist's switch for showing progress on the portal."""

from django.contrib import messages
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from kapflow.accounts.access import staff_view
from kapflow.accounts.models import Role
from kapflow.clients.access import Need, client_chart_for, client_for
from kapflow.journal.selectors import therapist_clients
from kapflow.lib.dates import long_date
from kapflow.portal import services


@require_POST
@staff_view()
def invite(request, client_id):
    """Staff who may see the client (their clinicians, the coordinator, the admin) send the
    invitation; `who` is "client" or "guardian:<id>"."""
    client = client_chart_for(request, client_id, action="kapflow.portal.invitation.opened")
    who = request.POST.get("who", "")
    guardian = None
    if who.startswith("guardian:"):
        guardian = next((g for g in client.guardians.all() if f"guardian:{g.pk}" == who), None)
        if guardian is None:
            messages.error(
                request, "Nothing was sent: that guardian is no longer on the chart. Reload the page."
            )
            return redirect("clients:chart", client.pk)
    elif who != "client":
        messages.error(request, "Nothing was sent: choose who to invite from the Portal card.")
        return redirect("clients:chart", client.pk)
    try:
        invitation = services.invitation_send(request=request, client=client, guardian=guardian)
    except services.CannotInvite as refusal:
        messages.error(request, f"Nothing was sent. {refusal}")
    else:
        expires = timezone.localtime(invitation.expires_at)
        messages.success(
            request,
            f"Invitation sent to {invitation.email}. The link works once, until {long_date(expires)} at "
            f"{expires:%H:%M}; any earlier link for the same person no longer works.",
        )
    return redirect("clients:chart", client.pk)


def _person(request, client):
    """(found, guardian) for the POST's `who`: "client" or "guardian:<id>" of this client."""
    who = request.POST.get("who", "")
    if who == "client":
        return True, None
    guardian = next((g for g in client.guardians.all() if f"guardian:{g.pk}" == who), None)
    return guardian is not None, guardian


@require_POST
@staff_view()
def end_access(request, client_id):
    """Staff who may see the client end a person's portal access (a guardian who no longer has
    the right, a lost phone, a client who asks): at once, and they can be invited again later."""
    client = client_chart_for(request, client_id, action="kapflow.portal.access.opened")
    found, guardian = _person(request, client)
    if not found:
        messages.error(
            request, "Nothing was changed: that person is no longer on the chart. Reload the page."
        )
        return redirect("clients:chart", client.pk)
    user = services.portal_access_end(request=request, client=client, guardian=guardian)
    name = guardian.name if guardian else (client.preferred_name or client.first_name)
    if user is None:
        messages.info(request, f"{name} had no portal access; any open invitation no longer works.")
    else:
        messages.success(
            request,
            f"{name}'s portal access has ended: they were signed out everywhere, and the link to the "
            "record is gone. You can invite them again from this card.",
        )
    return redirect("clients:chart", client.pk)


@require_POST
@staff_view(Role.THERAPIST)
def progress_toggle(request, client_id):
    """The client's therapist decides whether the client sees their scores on the portal."""
    # The client's own therapists (on the care team), not every clinician an open caseload lets
    # see the chart: the same people who read the journal entries the client shares.
    client = client_for(
        request,
        client_id,
        action="kapflow.portal.progress.opened",
        need=Need.CLINICAL,
        queryset=therapist_clients(request.user),
    )
    show = request.POST.get("show")
    if show not in ("on", "off"):
        messages.error(request, "Nothing was changed: use the buttons on the Portal card.")
        return redirect("clients:chart", client.pk)
    services.progress_visibility_set(request=request, client=client, show=show == "on")
    name = client.preferred_name or client.first_name
    messages.success(
        request,
        f"{name} now sees their progress on the portal."
        if show == "on"
        else f"{name}'s progress is no longer shown on the portal.",
    )
    return redirect("clients:chart", client.pk)
