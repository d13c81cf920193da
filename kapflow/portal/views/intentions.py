"""The client's intention for a coming medication session, on the portal (docs/intentions.md).
The client's alone: a guardian, like anyone else, gets 404 (PortalNeed.OWN), since an intention
is clinical content (docs/access.md)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from kapflow.dosing.models import Runbook
from kapflow.notes import intentions
from kapflow.notes.intention_forms import IntentionForm
from kapflow.portal import selectors
from kapflow.portal.access import PortalNeed, portal_client_for, portal_view


def portal_label(visit) -> str:
    """ "Your intention for your session on Tue 8 Dec" """
    when = timezone.localtime(visit.starts_at)
    return f"Your intention for your session on {when:%a} {when.day} {when:%b}"


PORTAL_HELP = (
    "What you hope for from this session, in your own words. Your therapist reads it before the "
    "session and you talk about it at the start. You can change it until the session begins."
)


def may_enter(visit) -> bool:
    """Whether the client may still enter an intention for `visit` on the portal: until the
    session begins, and never once its record is signed (the service checks again)."""
    if visit.ends_at <= timezone.now() or not intentions.open_for(visit, intentions.Source.PORTAL):
        return False
    return not Runbook.objects.filter(visit=visit, signed_at__isnull=False).exists()


@require_http_methods(["GET", "POST"])
@portal_view
def intention(request, client_id, visit_id):
    """The intention for one of the client's medication sessions: the one in force, and the
    box to enter it (a new entry; the earlier one is kept)."""
    client = portal_client_for(
        request, client_id, action="kapflow.portal.intention.opened", need=PortalNeed.OWN
    )
    visit = selectors.portal_visit(client, visit_id)
    if visit is None or not visit.is_medication:
        raise Http404("No such session.")
    current = intentions.latest_intention(visit)
    # The page's heading names the session; the box asks for the client's own words.
    form = IntentionForm(request.POST or None, label="In your own words", help_text=PORTAL_HELP)
    open_now = may_enter(visit)
    if request.method == "POST":
        if form.is_valid():
            try:
                intentions.intention_enter(
                    request=request,
                    visit=visit,
                    text=form.cleaned_data["text"],
                    source=intentions.Source.PORTAL,
                )
            except ValidationError as error:
                form.add_error("text", " ".join(error.messages))
            else:
                messages.success(request, "Saved. Your therapist will read it before your session.")
                return redirect("portal:intention", client.pk, visit.pk)
        messages.error(request, "Your intention was not saved: see below. What you typed is kept.")
    return render(
        request,
        "portal/intention.html",
        {
            "client": client,
            "guardian_view": False,
            "may_sign_consents": True,
            "nav": "home",
            "visit": visit,
            "current": current,
            "form": form,
            "open_now": open_now or form.is_bound,
            "label": portal_label(visit),
        },
    )
